"""Local answers with transformers: load a contestant's model once, then generate in batches.

    model, tokenizer = load_contestant(contestant)
    for batch in batched_answers(model, tokenizer, prompts, max_new_tokens=256, batch_size=8):
        ...   # [(index, Generated), ...] as each batch finishes, so the caller can journal it

Prompts are left-padded into batches of similar length (sorted by token count, so little
compute goes to padding) and decoded greedily by default; each answer stops at EOS or at
`max_new_tokens`. Prompts rendered from an Alpaca-style template are tokenized exactly as
finetune tokenized them in training (special tokens added, special-token text in the prompt kept
as text); a chat template's text already holds its special tokens, so nothing is added.
bench/eval.py measures batched against one-at-a-time generation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from selfinstruct.errors import SelfInstructError, UserError
from selfinstruct.evaluate.contestants import PACKAGED_STUDENT, Contestant
from selfinstruct.evaluate.tasks import EvalTask
from selfinstruct.finetune.data import PromptTemplate


class Generated(BaseModel):
    """One locally generated answer."""

    text: str
    finish_reason: str  # "stop" (EOS) or "length" (max_new_tokens)
    prompt_tokens: int
    completion_tokens: int


def user_message(task: EvalTask) -> str:
    """The task as one chat turn: the instruction, then the input after a blank line."""
    return task.instruction.strip() if not task.input.strip() else f"{task.instruction.strip()}\n\n{task.input.strip()}"


def render_prompt(task: EvalTask, template: PromptTemplate | None, tokenizer: Any, spec: str = "") -> str:
    """The text the model continues: its Alpaca-style template, or its own chat template."""
    if template is not None:
        return template.render(task.instruction, task.input)
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"--template chat: {spec} has no chat template in its tokenizer; use --template alpaca")
    return tokenizer.apply_chat_template([{"role": "user", "content": user_message(task)}], tokenize=False, add_generation_prompt=True)


def load_contestant(contestant: Contestant, precision: str = "auto") -> tuple[Any, Any]:
    """The contestant's model (eval mode, on the GPU when there is one) and tokenizer; UserError if it cannot load.

    precision "auto" is bf16 where the hardware computes it natively (as finetune decides), else
    fp32: measured here on a CPU with AVX512-BF16, Gemma 3 270M generated 2-3.6x faster in bf16.
    """
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise UserError(f"--{contestant.side} {contestant.spec}: local generation needs the finetune extra: pip install 'selfinstruct[finetune]'") from None
    try:
        return _load(contestant, precision)
    except SelfInstructError as exc:
        raise UserError(f"--{contestant.side} {contestant.spec}: cannot be loaded: {exc}") from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"--{contestant.side} {contestant.spec}: cannot be loaded: {first}") from None


def _load(contestant: Contestant, precision: str) -> tuple[Any, Any]:
    import torch

    from selfinstruct.finetune.base import (
        BaseModelRef,
        load_model,
        load_tokenizer,
        prefer_offline,
        quiet_libraries,
        resolve_base_model,
    )
    from selfinstruct.finetune.train import choose_precision

    dtype = torch.bfloat16 if choose_precision(precision) == "bf16" else torch.float32
    if contestant.finetune_dir:
        from selfinstruct.finetune.ask import load_tuned

        assert contestant.path is not None
        model, tokenizer = load_tuned(contestant.path)
        return model.to(dtype), tokenizer
    prefer_offline(contestant.spec)
    quiet_libraries()
    if contestant.path is not None:
        ref = BaseModelRef(spec=contestant.spec, path=str(contestant.path), kind="directory")
    else:
        ref = resolve_base_model(PACKAGED_STUDENT if contestant.spec == PACKAGED_STUDENT else contestant.spec)
    tokenizer = load_tokenizer(ref)
    model = load_model(ref, dtype)
    if torch.cuda.is_available():
        model = model.to("cuda")
    model.eval()
    return model, tokenizer


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """EOS ids to stop at: the tokenizer's, plus any the model's generation config adds (e.g. end-of-turn)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return sorted(ids)


def encode(tokenizer: Any, prompt: str, chat: bool) -> list[int]:
    """Token ids of a prompt, exactly as training saw it (no trailing EOS, special-token text kept as text)."""
    if chat:
        return list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    ids = list(tokenizer(prompt, add_special_tokens=True, split_special_tokens=True)["input_ids"])
    if ids and ids[-1] == tokenizer.eos_token_id:
        ids = ids[:-1]  # some tokenizers append EOS to every text; training stripped it from the prompt too
    return ids


def generate_batch(
    model: Any, tokenizer: Any, encoded: list[list[int]], max_new_tokens: int, temperature: float = 0.0, template: PromptTemplate | None = None
) -> list[Generated]:
    """Answers for one batch of encoded prompts, left-padded to the longest; with the Alpaca `template`
    they were rendered from, an answer also ends where the model starts writing one of its headers."""
    import torch
    from transformers import GenerationConfig

    stop = _stop_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop[0]
    width = max(len(ids) for ids in encoded)
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded], device=model.device)
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=model.device)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=temperature > 0, temperature=temperature if temperature > 0 else None,
        top_p=None, top_k=None, eos_token_id=stop, pad_token_id=pad, stop_strings=template.headers() if template else None,
    )  # fmt: skip
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config, tokenizer=tokenizer)
    results = []
    for row, ids in zip(out[:, width:].tolist(), encoded):
        end = next((i for i, tok in enumerate(row) if tok in stop), None)
        new = row if end is None else row[:end]
        while new and new[-1] == pad:  # a row stopped at a header is padded to the batch's length
            new = new[:-1]
        text, at_header = tokenizer.decode(new, skip_special_tokens=True).strip(), False
        if template is not None:
            text, at_header = template.cut(text)
        results.append(Generated(
            text=text, finish_reason="stop" if end is not None or at_header else "length",
            prompt_tokens=len(ids), completion_tokens=len(new) + (end is not None),
        ))  # fmt: skip
    return results


def batched_answers(
    model: Any, tokenizer: Any, prompts: list[str], *, template: PromptTemplate | None, max_new_tokens: int, batch_size: int,
    temperature: float = 0.0,
) -> Iterator[list[tuple[int, Generated]]]:
    """Generate for every prompt (rendered from `template`, or a chat template when None), batch by batch,
    longest prompts first; yields (prompt index, answer) pairs."""
    chat = template is None
    encoded = [encode(tokenizer, p, chat) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        answers = generate_batch(model, tokenizer, [encoded[i] for i in chunk], max_new_tokens, temperature, template)
        yield list(zip(chunk, answers))
