"""Chat training data for `finetune`: mixed rows -> chat-template samples with assistant-only labels, split.

    data = prepare_chat_data(rows, ChatEncoder(tokenizer, template), tokenizer, max_length=512, val_size=0.05, seed=42, warn=print)

Used when any --data file holds conversations (ShareGPT or messages); Alpaca rows in the mix become
one user turn (instruction, then input) and one assistant turn. The validation rows are chosen
among distinct rows before samples are made, so a conversation split in two, or a row repeated by
its weight, never sits on both sides. Over-long rows: an Alpaca row's input is shortened from the
middle (fit.py), a conversation is cut at turn boundaries (chat.py); both are warned about by row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.finetune.chat import IGNORE_INDEX, ChatEncoder, Fitted
from selfinstruct.finetune.data import DataStats, PreparedData, split_indices
from selfinstruct.finetune.fit import fit_input
from selfinstruct.finetune.sources import Row
from selfinstruct.records import ChatMessage
from selfinstruct.stages.converse import opener_text


def _fit_row(
    row: Row, encoder: ChatEncoder, tokenizer: Any, max_length: int, warn: Callable[[str], None], counts: dict[str, int], dropped: list[str]
) -> Fitted | None:
    messages = row.messages
    if row.alpaca is not None:
        example = row.alpaca

        def prompt_length(inp: str) -> int:
            user = [ChatMessage(role="user", content=opener_text(example.instruction, inp))]
            return len(tokenizer(encoder.render(user, add_generation_prompt=True), add_special_tokens=False)["input_ids"])

        inp, shortened = fit_input(tokenizer, example, prompt_length, max_length)
        if inp is None:
            warn(f"warning: {row.where}: its instruction alone does not fit --max-length {max_length}; dropped")
            dropped.append(row.where)
            return None
        if shortened:
            warn(f"warning: {row.where}: input shortened from the middle to fit --max-length {max_length}")
            counts["truncated_inputs"] += 1
            messages = [ChatMessage(role="user", content=opener_text(example.instruction, inp)), messages[-1]]
    fitted = encoder.fit(messages, max_length)
    if fitted.cut_turns:
        warn(f"warning: {row.where}: {fitted.cut_turns} assistant turn(s) longer than --max-length {max_length} cut short (no end-of-turn token learned there)")
    if fitted.dropped_turns:
        warn(f"warning: {row.where}: {fitted.dropped_turns} turn(s) dropped: the user's message alone fills --max-length {max_length}")
    if not fitted.samples:
        dropped.append(row.where)
    return fitted


def prepare_chat_data(
    rows: list[Row], encoder: ChatEncoder, tokenizer: Any, max_length: int, val_size: float, seed: int,
    warn: Callable[[str], None] = lambda message: None,
) -> PreparedData:  # fmt: skip
    """Samples for every row (repeats included), validation rows held out by distinct row."""
    counts = {"truncated_inputs": 0}
    dropped: list[str] = []
    fitted: dict[tuple[int, int], Fitted | None] = {}
    for row in rows:
        if row.key not in fitted:
            fitted[row.key] = _fit_row(row, encoder, tokenizer, max_length, warn, counts, dropped)
    usable = [key for key, f in fitted.items() if f is not None and f.samples]
    if not usable:
        raise UserError(f"--max-length {max_length} is too small: no row fits in it; raise --max-length")
    train_idx, val_idx = split_indices(len(usable), val_size, seed)
    val_keys = {usable[i] for i in val_idx}
    train: list[dict[str, list[int]]] = []
    validation: list[dict[str, list[int]]] = []
    cut_train = cut_val = 0
    held: set[tuple[int, int]] = set()
    for row in rows:
        f = fitted[row.key]
        if f is None or not f.samples:
            continue
        if row.key not in val_keys:
            train += f.samples
            cut_train += f.cut_turns
        elif row.key not in held:  # a validation row counts once, however often its weight repeats it
            held.add(row.key)
            validation += f.samples
            cut_val += f.cut_turns
    samples = train + validation
    for sample in samples:
        if not any(label != IGNORE_INDEX for label in sample["labels"]):
            raise UserError("a chat sample has no assistant token to train on; raise --max-length")
    trained = sum(sum(label != IGNORE_INDEX for label in s["labels"]) for s in samples)
    total = sum(len(s["labels"]) for s in samples)
    lengths = [len(s["input_ids"]) for s in samples]
    real = [f for f in fitted.values() if f is not None]
    stats = DataStats(
        rows=len(rows),
        train=len(train),
        validation=len(validation),
        truncated_train=cut_train,
        truncated_validation=cut_val,
        truncated_rows=[],
        max_length=max_length,
        prompt_tokens=total - trained,
        response_tokens=trained,
        trained_tokens=trained,
        longest_sample=max(lengths),
        mean_sample=round(sum(lengths) / len(lengths), 1),
        truncated_inputs=counts["truncated_inputs"],
        dropped_rows=dropped,
        format="chat",
        samples=len(samples),
        split_conversations=sum(f.split for f in real),
        cut_turns=sum(f.cut_turns for f in real),
        dropped_turns=sum(f.dropped_turns for f in real),
    )
    return PreparedData(train=train, validation=validation, stats=stats)

