"""The rows `clean` reads and writes: Alpaca, ShareGPT or messages records, conversations repaired as finetune repairs them.

    table = read_rows(Path("sharegpt.json"), "auto")       # a run directory stands for its product
    table.rows[3].exchanges     # [Exchange(instruction=user turn, input, output, context=earlier turns)]
    table.rows[3].repairs       # Counter({"leading_assistant_turns_dropped": 1}) (finetune/repair.py)
    write_rows(Path("clean.json"), table, kept)             # the kept rows, in DATA's row format

An Alpaca row is one exchange (instruction, input, output, and a reference answer where the row has
one); a conversation has one per user turn answered by the assistant, each with the turns before it
as its context. A record that cannot be read is a UserError naming file:line; a row with nothing left
to check (a conversation with no answered user turn, a role no one knows, an empty instruction)
is read, and dropped with its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.finetune.repair import describe_repairs, repair_conversation
from selfinstruct.finetune.sources import DataFormat, detect_row_format, read_turns
from selfinstruct.readers import detect_format, read_records
from selfinstruct.records import ChatMessage

SHAREGPT_NAMES = {"system": "system", "user": "human", "assistant": "gpt"}


@dataclass
class Exchange:
    """One request and its answer: what the verifiers and the gate check."""

    instruction: str
    input: str
    output: str
    context: str = ""  # a conversation's earlier turns (the gate shows them as the input)
    reference: str | None = None


@dataclass
class CleanRow:
    """One input row: where it is, what it holds, and why it goes (reason -> detail, in the order found)."""

    index: int
    where: str
    value: Any
    exchanges: list[Exchange]
    dedup_text: str
    messages: list[ChatMessage] | None = None  # a conversation, repaired
    repairs: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, str] = field(default_factory=dict)
    score: float | None = None

    @property
    def kept(self) -> bool:
        return not self.reasons

    def drop(self, reason: str, detail: str) -> None:
        self.reasons.setdefault(reason, detail)


@dataclass
class RowTable:
    """A data file's rows and what they are."""

    path: Path
    format: DataFormat
    layout: str  # json (a list) or jsonl
    rows: list[CleanRow]
    total: int  # rows in the file (more than len(rows) under --limit)

    @property
    def repairs(self) -> Counter[str]:
        return sum((r.repairs for r in self.rows), Counter())


def data_path(path: Path) -> Path:
    """A run directory stands for its product (alpaca_data.json, or conversations.json for a conversation run)."""
    from selfinstruct.reviews import is_run_dir, run_product

    return run_product(path) if is_run_dir(path) else path


def read_rows(path: Path, fmt: str = "auto", limit: int | None = None, reference_field: str = "reference") -> RowTable:
    """Every row of the file (the first `limit`), checked and, for conversations, repaired."""
    path = data_path(path)
    data = read_records(path, "data file", fmt="jsonl" if detect_format(path) == "jsonl" else "json")
    if not data.values:
        raise UserError(f"{path}: no rows (the {'list' if data.format == 'json' else 'file'} is empty)")
    row_format: DataFormat = detect_row_format(data.values[0], data.where(0)) if fmt == "auto" else fmt  # type: ignore[assignment]
    rows = []
    for index, value in enumerate(data.values[:limit]):
        where = data.where(index)
        rows.append(_alpaca_row(index, where, value, reference_field) if row_format == "alpaca" else _chat_row(index, where, value, row_format))
    return RowTable(path=path, format=row_format, layout=data.format, rows=rows, total=len(data.values))


def _alpaca_row(index: int, where: str, value: Any, reference_field: str) -> CleanRow:
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected an object with instruction, input, output; got {type(value).__name__}")
    for key in ("instruction", "output"):
        if not isinstance(value.get(key), str):
            problem = "missing" if key not in value else f"not a string ({type(value[key]).__name__})"
            raise UserError(f"{where}: field {key!r} is {problem}")
    for key in ("input", reference_field):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise UserError(f"{where}: field {key!r} is not a string ({type(value[key]).__name__})")
    reference = (value.get(reference_field) or "").strip() or None
    exchange = Exchange(instruction=value["instruction"], input=value.get("input") or "", output=value["output"], reference=reference)
    row = CleanRow(index=index, where=where, value=value, exchanges=[exchange], dedup_text=value["instruction"])
    if not value["instruction"].strip():
        row.drop("empty_instruction", "the instruction is empty")
    return row


def _chat_row(index: int, where: str, value: Any, fmt: DataFormat) -> CleanRow:
    messages = read_turns(value, fmt, where, lenient=True)
    if messages is None:
        row = CleanRow(index=index, where=where, value=value, exchanges=[], dedup_text="")
        row.drop("unknown_role", "a turn's role is not system, user or assistant (FastChat drops such conversations too)")
        return row
    repaired, repairs = repair_conversation(messages)
    exchanges = conversation_exchanges(repaired)
    first = f"{exchanges[0].instruction}\n\n{exchanges[0].output}" if exchanges else ""
    row = CleanRow(index=index, where=where, value=value, exchanges=exchanges, dedup_text=first, messages=repaired, repairs=repairs)
    if not repaired:
        repaired_text = f" after the repairs ({describe_repairs(repairs, 0)})" if repairs else ""
        row.drop("nothing_to_train_on", f"no user turn answered by the assistant{repaired_text}: {len(messages)} turn(s) in all")
    return row


def conversation_exchanges(messages: list[ChatMessage]) -> list[Exchange]:
    """Each user turn with the assistant's answer, and the turns before it (a system message included) as context."""
    exchanges = []
    for t in range(len(messages) - 1):
        user, answer = messages[t], messages[t + 1]
        if user.role == "user" and answer.role == "assistant":
            context = "\n\n".join(f"{m.role}: {m.content.strip()}" for m in messages[:t])
            exchanges.append(Exchange(instruction=user.content, input="", output=answer.content, context=context))
    return exchanges


def output_record(row: CleanRow, fmt: DataFormat) -> Any:
    """The row as OUT holds it: an Alpaca record as read; a conversation with its repaired turns, its other keys kept."""
    if fmt == "alpaca" or row.messages is None:
        return row.value
    if fmt == "sharegpt":
        turns = [{"from": SHAREGPT_NAMES[m.role], "value": m.content} for m in row.messages]
        return {**row.value, "conversations": turns}
    return {**row.value, "messages": [{"role": m.role, "content": m.content} for m in row.messages]}


def write_rows(path: Path, table: RowTable, rows: list[CleanRow]) -> None:
    """The rows in DATA's row format: JSON Lines for a .jsonl/.ndjson name, else an indented JSON list (replaced atomically)."""
    from selfinstruct.dedup import write_dataset

    layout = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "json"
    write_dataset(path, layout, [output_record(r, table.format) for r in rows])


def reference_texts(path: Path) -> list[str]:
    """What rows are compared with in a --against file: instructions (seed tasks, Alpaca), a conversation's first request and answer, or lines of text."""
    path = data_path(path)
    data = read_records(path, "reference file")
    if data.format == "text":
        return list(data.values)
    texts = []
    for where, value in data.located():
        if isinstance(value, dict) and isinstance(value.get("instruction"), str):
            texts.append(value["instruction"])
            continue
        fmt = "sharegpt" if isinstance(value, dict) and "conversations" in value else "messages" if isinstance(value, dict) and "messages" in value else None
        if fmt is None:
            raise UserError(f"{where}: expected a record with an instruction, conversations (ShareGPT) or messages")
        repaired, _ = repair_conversation(read_turns(value, fmt, where, lenient=True) or [])
        exchanges = conversation_exchanges(repaired)
        if exchanges:
            texts.append(f"{exchanges[0].instruction}\n\n{exchanges[0].output}")  # as a conversation row is compared
    return texts
