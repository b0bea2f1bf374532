"""The data `finetune` reads: one or more files in Alpaca, ShareGPT or messages format, mixed with weights.

    sources = [read_source(Path("conversations.json"), 1.0), read_source(Path("alpaca_data.json"), 0.5)]
    rows = mix(sources, seed=42)              # rows of every source, sampled or repeated by its weight
    rows, dropped = dedup_first_turns(rows)   # --mix-dedup: near-duplicate opening user turns go

Formats (detected from the first record, or forced with --format):
    alpaca    a JSON list (or JSONL) of {"instruction", "input", "output"}
    sharegpt  {"id", "conversations": [{"from": "system"|"human"|"gpt", "value"}]}, JSON list or JSONL
    messages  {"messages": [{"role": "system"|"user"|"assistant", "content"}]}, JSONL or JSON list

Every row becomes a Row: its chat messages (an optional system message, then user and assistant
turns alternating, ending with the assistant) and, for an Alpaca row, the row itself, so an
all-Alpaca run keeps the Alpaca prompt. A trailing user turn has no answer to learn and is left
out; anything else malformed is a UserError naming the file, the line and the turn, except that
finetune reads with `repair`: conversations are repaired as FastChat does (repair.py), counted.

Mixing (Koala): a weight below 1 keeps that share of a source's rows, sampled with the seed; a
weight above 1 repeats every row int(weight) times and samples the fractional part on top. Row
counts round half up: 5 rows at 0.5 give 3.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from selfinstruct.errors import UserError
from selfinstruct.finetune.repair import REPAIRS, describe_repairs, repair_conversation
from selfinstruct.model_files import file_sha256
from selfinstruct.readers import detect_format, read_records
from selfinstruct.records import AlpacaExample, ChatMessage

DataFormat = Literal["alpaca", "sharegpt", "messages"]
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bard": "assistant", "bing": "assistant", "model": "assistant", "system": "system",
}  # fmt: skip


class Row(BaseModel):
    """One training row: its chat messages, the Alpaca row it came from (if it did), and where it is."""

    messages: list[ChatMessage]
    alpaca: AlpacaExample | None = None
    where: str
    key: tuple[int, int] = (0, 0)  # (source, row): repeats of a row share it, so a split never divides them


@dataclass
class Source:
    """One --data file: what it held and how much of it the mix used."""

    path: Path
    weight: float
    format: DataFormat
    sha256: str
    rows: list[Row]
    used: int = 0
    dropped_as_duplicates: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "format": self.format, "rows_read": len(self.rows),
                "rows_used": self.used, "weight": self.weight, "dropped_as_duplicates": self.dropped_as_duplicates, **self.extra}  # fmt: skip


def parse_data_spec(spec: str) -> tuple[Path, float]:
    """FILE or FILE:WEIGHT -> (path, weight); a path that itself ends in ":<number>" can be written FILE:1.

    A run directory stands for its product: alpaca_data.json, or conversations.json for a conversation run.
    """
    head, sep, tail = spec.rpartition(":")
    if sep and head:
        try:
            weight = float(tail)
        except ValueError:
            return _run_product(Path(spec)), 1.0
        if not math.isfinite(weight) or weight <= 0:
            raise UserError(f"--data {spec}: the weight must be a number above 0 (0.5 samples half the rows, 2 repeats them)")
        return _run_product(Path(head)), weight
    return _run_product(Path(spec)), 1.0


def _run_product(path: Path) -> Path:
    from selfinstruct.reviews import is_run_dir, run_product

    return run_product(path) if is_run_dir(path) else path


def read_source(path: Path, weight: float = 1.0, fmt: DataFormat | None = None, index: int = 0, repair: bool = False, reviewed: bool = True) -> Source:
    """Read and check one data file; the format is detected from its first record unless given.

    `reviewed`: rows marked wrong in `selfinstruct review` are left out and its edits used (False: the
    file as it is, which is what the review itself shows).

    `repair` (finetune): conversations are repaired as FastChat does (repair.py) instead of refused, one
    left with nothing to train on is dropped, and only a file left with nothing at all is an error; the
    counts go to the source's `repairs`. Without it, a row that is not clean turn-taking is a UserError.
    """
    data = read_records(path, "data file", fmt="jsonl" if detect_format(path) == "jsonl" else "json")
    if not data.values:
        raise UserError(f"{path}: no examples (the {'list' if data.format == 'json' else 'file'} is empty)")
    fmt = fmt or detect_row_format(data.values[0], data.where(0))
    rows = []
    repairs: Counter[str] = Counter()
    dropped: list[str] = []
    for i, value in enumerate(data.values):
        where = data.where(i)
        row = _read_row(value, fmt, where, repairs if repair and fmt != "alpaca" else None)
        if row is None:
            dropped.append(where)
            continue
        row.key = (index, i)
        rows.append(row)
    if not rows:
        raise UserError(f"{path}: nothing to train on: no conversation has a user turn answered by the assistant ({describe_repairs(repairs, len(dropped))})")
    rows, reviews = apply_data_reviews(path, rows) if reviewed else (rows, None)
    extra: dict[str, Any] = {"reviews": reviews} if reviews else {}
    if repair and fmt != "alpaca":
        extra["repairs"] = {name: repairs[name] for name in REPAIRS if repairs[name]}
        extra["conversations_dropped"] = len(dropped)
        if dropped:
            extra["dropped_conversations"] = dropped[:10]  # where the first ones are, to look at
    return Source(path=path, weight=weight, format=fmt, sha256=file_sha256(path), rows=rows, extra=extra)


def apply_data_reviews(path: Path, rows: list[Row]) -> tuple[list[Row], dict[str, Any] | None]:
    """Rows marked wrong in `selfinstruct review` left out and edited outputs used, when the data has reviews (reviews.jsonl)."""
    from selfinstruct.reviews import ReviewLog, apply_reviews, chat_digest, reviews_path, row_digest

    reviews = reviews_path(path)
    if not reviews.is_file():
        return rows, None
    digests = [row_digest(r.alpaca.instruction, r.alpaca.input, r.alpaca.output) if r.alpaca else chat_digest([(m.role, m.content) for m in r.messages])
               for r in rows]  # fmt: skip
    applied = apply_reviews(digests, ReviewLog.read(reviews))
    kept = []
    for i in applied.keep:
        row = rows[i]
        if i in applied.edits:
            edit = applied.edits[i]
            last = max(j for j, m in enumerate(row.messages) if m.role == "assistant")
            messages = [m if j != last else ChatMessage(role="assistant", content=edit) for j, m in enumerate(row.messages)]
            alpaca = row.alpaca.model_copy(update={"output": edit}) if row.alpaca else None
            row = row.model_copy(update={"messages": messages, "alpaca": alpaca})
        kept.append(row)
    if not kept:
        raise UserError(f"{path}: every row is marked wrong in {reviews}; nothing is left to train on")
    return kept, applied.describe(reviews)


def detect_row_format(value: Any, where: str) -> DataFormat:
    if isinstance(value, dict):
        if "conversations" in value:
            return "sharegpt"
        if "messages" in value:
            return "messages"
        if "instruction" in value:
            return "alpaca"
    raise UserError(
        f"{where}: cannot tell the data format: expected instruction/input/output (alpaca), "
        "conversations (ShareGPT) or messages; or pass --format"
    )


def _read_row(value: Any, fmt: DataFormat, where: str, repairs: Counter[str] | None = None) -> Row | None:
    """One row as a Row; with `repairs` (a conversation to repair), None when nothing trainable is left."""
    from selfinstruct.finetune.data import _row_problem
    from selfinstruct.stages.converse import opener_text

    if fmt == "alpaca":
        problem = _row_problem(value)
        if problem:
            raise UserError(f"{where}: {problem}")
        row = AlpacaExample(instruction=value["instruction"], input=value.get("input") or "", output=value["output"])
        messages = [ChatMessage(role="user", content=opener_text(row.instruction, row.input)), ChatMessage(role="assistant", content=row.output)]
        return Row(messages=messages, alpaca=row, where=where)
    messages = read_turns(value, fmt, where, lenient=repairs is not None)
    if messages is None:
        return None  # FastChat drops a conversation with a role it does not know; so do we
    if repairs is not None:
        repaired, counts = repair_conversation(messages)
        repairs.update(counts)
        return Row(messages=repaired, where=where) if repaired else None
    return Row(messages=check_conversation(messages, where), where=where)


def read_turns(value: Any, fmt: DataFormat, where: str, lenient: bool = False) -> list[ChatMessage] | None:
    """A ShareGPT or messages record's turns as chat messages, unrepaired; a malformed record is a UserError at `where`.

    `lenient` (data to be repaired): a missing text is an empty turn, and a role that is not system, user or
    assistant gives None instead of an error.
    """
    key, role_key, text_key = ("conversations", "from", "value") if fmt == "sharegpt" else ("messages", "role", "content")
    if not isinstance(value, dict) or not isinstance(value.get(key), list):
        raise UserError(f"{where}: expected an object with a list {key!r} ({fmt} format)")
    messages = []
    for t, turn in enumerate(value[key]):
        if not isinstance(turn, dict):
            raise UserError(f"{where}: turn {t} is not an object")
        raw_role, text = turn.get(role_key), turn.get(text_key)
        role = SHAREGPT_ROLES.get(str(raw_role).lower()) if fmt == "sharegpt" else raw_role
        if role not in ("system", "user", "assistant"):
            if lenient:
                return None
            raise UserError(f"{where}: turn {t} has {role_key} {raw_role!r}; expected system, user or assistant")
        if not isinstance(text, str):
            if lenient and text is None:
                text = ""  # a missing text is an empty turn, for the repairs to drop
            else:
                raise UserError(f"{where}: turn {t}: {text_key!r} must be a string")
        messages.append(ChatMessage(role=role, content=text))
    return messages


def check_conversation(messages: list[ChatMessage], where: str) -> list[ChatMessage]:
    """An optional system message, then user/assistant alternating; a trailing user turn is left out."""
    body = messages[1:] if messages and messages[0].role == "system" else messages
    for t, message in enumerate(body):
        expected = "user" if t % 2 == 0 else "assistant"
        if message.role != expected:
            offset = len(messages) - len(body)
            raise UserError(f"{where}: turn {t + offset} is {message.role!r} where {expected!r} was expected (turns must alternate, user first)")
        if not message.content.strip():
            raise UserError(f"{where}: turn {t + len(messages) - len(body)} ({message.role}) is empty")
    if body and body[-1].role == "user":
        messages = messages[:-1]
        body = body[:-1]
    if not body:
        raise UserError(f"{where}: no assistant turn, so nothing to learn")
    return messages


def mix(sources: list[Source], seed: int) -> list[Row]:
    """Every source's rows, sampled (weight < 1) or repeated (weight > 1) with the seed; sets each source's `used`."""
    mixed: list[Row] = []
    for i, source in enumerate(sources):
        rng = random.Random(f"{seed}:{i}")
        rows = source.rows
        whole, fraction = divmod(source.weight, 1.0)
        picked = rows * int(whole)
        extra = int(len(rows) * fraction + 0.5)
        if extra:
            chosen = sorted(rng.sample(range(len(rows)), min(extra, len(rows))))
            picked += [rows[j] for j in chosen]
        source.used = len(picked)
        mixed += picked
    return mixed


def dedup_first_turns(rows: list[Row], sources: list[Source], threshold: float = 0.7) -> tuple[list[Row], int]:
    """Drop rows whose first user turn is a near-duplicate (ROUGE-L F > threshold, the exact engine) of an earlier row's.

    Repeats of one row (a weight above 1) are the same row, not duplicates of each other.
    """
    from selfinstruct.rouge import RougeIndex

    index = RougeIndex(threshold=threshold)
    kept: list[Row] = []
    verdicts: dict[tuple[int, int], bool] = {}
    for row in rows:
        if row.key not in verdicts:
            first = next(m.content for m in row.messages if m.role == "user")
            verdicts[row.key] = not index.check_and_add(first).is_duplicate
            if not verdicts[row.key]:
                sources[row.key[0]].dropped_as_duplicates += 1
        if verdicts[row.key]:
            kept.append(row)
        else:
            sources[row.key[0]].used -= 1
    return kept, len(rows) - len(kept)
