"""Training data for `finetune`: read alpaca_data.json, render the Alpaca prompt, tokenize with response-only labels.

    examples = read_alpaca_data(Path("outputs/run/alpaca_data.json"))
    template = PromptTemplate.load()
    data = prepare_data(examples, template, tokenizer, max_length=512, val_size=0.05, seed=42)
    data.train[0]   # {"input_ids": [...], "labels": [-100, ..., id, ..., eos]}

Labels come from character offsets: a token is trained when it covers at least one character of
the response, so the prompt is masked exactly and no marker string is searched for. EOS is
appended and trained. A sample over `max_length` keeps its prompt and loses the end of its
response (and then its EOS, since the answer did not end there). A sample left with nothing to
learn is an error naming its rows, never a silent zero loss. No torch needed here.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from selfinstruct.errors import UserError
from selfinstruct.prompt_files import load_template
from selfinstruct.readers import detect_format, read_records
from selfinstruct.records import AlpacaExample

IGNORE_INDEX = -100
# The two variants of the Alpaca prompt, as files in prompts/.
TEMPLATE_FILES = {"with_input": "alpaca_train_input.txt", "no_input": "alpaca_train_no_input.txt"}
_FIELDS = ("instruction", "input", "output")
_PLACEHOLDER = re.compile(r"\{(instruction|input)\}")


class PromptTemplate(BaseModel):
    """The Alpaca prompt used in training, saved next to the model so `ask` formats prompts identically."""

    with_input: str
    no_input: str

    @classmethod
    def load(cls, directory: Path | None = None) -> PromptTemplate:
        """Read both variants from the shipped prompts/ (or another directory) and check their placeholders."""
        needed = {"with_input": ("instruction", "input"), "no_input": ("instruction",)}
        return cls(**{key: load_template(directory, name, needed[key]) for key, name in TEMPLATE_FILES.items()})

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> PromptTemplate:
        """The template a model was trained with, or the shipped one for a directory that has none."""
        path = model_dir / "prompt_template.json"
        if not path.is_file():
            return cls.load()
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            raise UserError(f"{path}: not a prompt template with with_input and no_input ({_first_error(exc)})") from None

    def render(self, instruction: str, input: str = "") -> str:
        """The prompt for one example; the response follows it directly."""
        template = self.with_input if input.strip() else self.no_input
        values = {"instruction": instruction, "input": input}
        # One pass, so an instruction that contains "{input}" is never substituted again.
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)

    def headers(self) -> list[str]:
        """The template's section headers ("### Instruction:", ...), each after a newline: a student that
        writes one has finished its answer and begun an example of its own, so generation stops there."""
        lines = {line.strip() for text in (self.with_input, self.no_input) for line in text.splitlines()}
        return sorted("\n" + line for line in lines if line.endswith(":") and len(line) <= 40 and not _PLACEHOLDER.search(line))

    def cut(self, answer: str) -> tuple[str, bool]:
        """The answer up to the first template header it writes, and whether one was cut."""
        ends = [i for i in (answer.find(h) for h in self.headers()) if i >= 0]
        return (answer[: min(ends)].strip(), True) if ends else (answer, False)


def _first_error(exc: OSError | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'file'}: {first['msg']}"
    return exc.strerror or str(exc)


def read_alpaca_data(path: Path) -> list[AlpacaExample]:
    """Read alpaca_data.json (a JSON list, or JSONL for .jsonl); the first bad row is a UserError naming it."""
    data = read_records(path, "data file", fmt="jsonl" if detect_format(path) == "jsonl" else "json")
    if not data.values:
        raise UserError(f"{path}: no examples (the {'list' if data.format == 'json' else 'file'} is empty)")
    examples = []
    for index, row in enumerate(data.values):
        problem = _row_problem(row)
        if problem:
            raise UserError(f"{data.where(index)}: {problem}")
        examples.append(AlpacaExample(instruction=row["instruction"], input=row.get("input") or "", output=row["output"]))
    return examples


def _row_problem(row: Any) -> str | None:
    """Why a row is not an Alpaca example, or None when it is one."""
    if not isinstance(row, dict):
        return f"expected an object with keys instruction, input, output; got {type(row).__name__}"
    unknown = sorted(set(row) - set(_FIELDS))
    if unknown:
        return f"unexpected key {unknown[0]!r} (rows have exactly instruction, input, output)"
    for key in ("instruction", "output"):
        if key not in row:
            return f"missing key {key!r}"
    for key in _FIELDS:
        value = row.get(key)
        if key == "input" and value is None:
            continue
        if not isinstance(value, str):
            return f"{key!r} must be a string, got {type(value).__name__}"
    if not row["instruction"].strip():
        return "'instruction' is empty"
    if not row["output"].strip():
        return "'output' is empty, so there is nothing to learn"
    return None


class DataStats(BaseModel):
    """Counts for the training summary: what went in, what was cut, how long samples are."""

    rows: int
    train: int
    validation: int
    truncated_train: int
    truncated_validation: int
    truncated_rows: list[int]
    max_length: int
    prompt_tokens: int
    response_tokens: int
    trained_tokens: int
    longest_sample: int
    mean_sample: float
    # Over-long rows (fit.py): inputs shortened from the middle, and rows dropped because the instruction alone fills max_length.
    truncated_inputs: int = 0
    dropped_rows: list[str] = []
    # Chat data (chat.py): the format, samples made, conversations split at turn boundaries, turns cut or dropped.
    format: str = "alpaca"
    samples: int | None = None
    split_conversations: int = 0
    cut_turns: int = 0
    dropped_turns: int = 0


class PreparedData(BaseModel):
    """Tokenized train and validation samples, ready for SFTTrainer as a pre-tokenized dataset."""

    train: list[dict[str, list[int]]]
    validation: list[dict[str, list[int]]]
    stats: DataStats


def encode_example(tokenizer: Any, prompt: str, response: str, max_length: int) -> tuple[dict[str, list[int]], bool]:
    """Token ids and labels for prompt + response + EOS, labels -100 on prompt tokens; and whether it was cut."""
    text = prompt + response
    # split_special_tokens: a response that contains the text "</s>" must not end the sample early.
    enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True, split_special_tokens=True)
    ids = list(enc["input_ids"])
    offsets = list(enc["offset_mapping"])
    eos = tokenizer.eos_token_id
    if ids and ids[-1] == eos:
        # Some tokenizers append EOS themselves; ours is added below, exactly once.
        ids, offsets = ids[:-1], offsets[:-1]
    boundary = len(prompt)
    labels = [tok if end > boundary else IGNORE_INDEX for tok, (_, end) in zip(ids, offsets)]
    ids.append(eos)
    labels.append(eos)
    truncated = len(ids) > max_length
    if truncated:
        ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels}, truncated


def split_indices(n: int, val_size: float, seed: int) -> tuple[list[int], list[int]]:
    """Shuffle row indices with a fixed seed and hold out a fraction for validation (at least one row)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    if val_size <= 0:
        return sorted(order), []
    n_val = max(1, round(n * val_size))
    if n - n_val < 1:
        raise UserError(f"--val-size {val_size}: {n} examples leave none for training; lower it or add data")
    return sorted(order[n_val:]), sorted(order[:n_val])


def prepare_data(
    examples: list[AlpacaExample],
    template: PromptTemplate,
    tokenizer: Any,
    max_length: int,
    val_size: float,
    seed: int,
    warn: Callable[[str], None] = lambda message: None,
) -> PreparedData:
    """Render, tokenize and split every example; fail on rows with no trainable token.

    An over-long row's input is shortened from the middle so its response keeps room (fit.py);
    a row whose instruction alone does not fit is dropped. Both are warned about and counted.
    """
    from selfinstruct.finetune.fit import fit_input

    if not getattr(tokenizer, "is_fast", False):
        raise UserError("the base model's tokenizer has no fast (Rust) version, which response masking needs for offsets")
    encoded, untrainable, truncated_rows, dropped_rows = [], [], [], []
    truncated_inputs = 0
    truncated_samples: set[int] = set()
    prompt_tokens = response_tokens = trained = 0
    for row, example in enumerate(examples):

        def prompt_length(inp: str, example: AlpacaExample = example) -> int:
            return len(tokenizer(template.render(example.instruction, inp), add_special_tokens=True, split_special_tokens=True)["input_ids"])

        inp, shortened = fit_input(tokenizer, example, prompt_length, max_length)
        if inp is None:
            warn(f"warning: row {row} (counting from 0): its instruction alone does not fit --max-length {max_length}; dropped")
            dropped_rows.append(f"row {row}")
            continue
        if shortened:
            warn(f"warning: row {row} (counting from 0): input shortened from the middle to fit --max-length {max_length}")
            truncated_inputs += 1
        prompt = template.render(example.instruction, inp)
        sample, truncated = encode_example(tokenizer, prompt, example.output, max_length)
        n_trained = sum(label != IGNORE_INDEX for label in sample["labels"])
        if n_trained == 0:
            untrainable.append(row)
        if truncated:
            truncated_rows.append(row)
            truncated_samples.add(len(encoded))
        trained += n_trained
        prompt_tokens += len(sample["labels"]) - n_trained
        response_tokens += n_trained
        encoded.append(sample)
    if not encoded or untrainable and len(untrainable) == len(encoded):
        _raise_untrainable(list(range(len(examples))), len(examples), max_length, tokenizer, examples, template)
    if untrainable:
        _raise_untrainable(untrainable, len(examples), max_length, tokenizer, examples, template)
    train_idx, val_idx = split_indices(len(encoded), val_size, seed)
    truncated = truncated_samples
    lengths = [len(s["input_ids"]) for s in encoded]
    stats = DataStats(
        truncated_inputs=truncated_inputs,
        dropped_rows=dropped_rows,
        rows=len(examples),
        train=len(train_idx),
        validation=len(val_idx),
        truncated_train=sum(i in truncated for i in train_idx),
        truncated_validation=sum(i in truncated for i in val_idx),
        truncated_rows=truncated_rows,
        max_length=max_length,
        prompt_tokens=prompt_tokens,
        response_tokens=response_tokens,
        trained_tokens=trained,
        longest_sample=max(lengths),
        mean_sample=round(sum(lengths) / len(lengths), 1),
    )
    return PreparedData(train=[encoded[i] for i in train_idx], validation=[encoded[i] for i in val_idx], stats=stats)


def _raise_untrainable(rows: list[int], total: int, max_length: int, tokenizer: Any, examples: list[AlpacaExample], template: PromptTemplate) -> None:
    if len(rows) == total:
        shortest = min(len(tokenizer(template.render(e.instruction, ""))["input_ids"]) for e in examples)
        raise UserError(
            f"--max-length {max_length} is too small for any response: every prompt fills it "
            f"(the shortest prompt is {shortest} tokens); raise --max-length"
        )
    shown = ", ".join(str(r) for r in rows[:20]) + (f" and {len(rows) - 20} more" if len(rows) > 20 else "")
    raise UserError(
        f"{len(rows)} of {total} samples have no trainable token within --max-length {max_length} "
        f"(the prompt alone fills it): rows {shown} (counting from 0); raise --max-length or remove them"
    )
