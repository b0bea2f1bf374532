"""The rows `selfinstruct review` shows, and what is known about each: flags, the gate's note, the chunk, its siblings.

    data = load_rows(Path("outputs/run-1"))      # a run: its product, with the journal's context per row
    data = load_rows(Path("my_data.json"))       # an Alpaca, ShareGPT or messages file
    data.rows[17].digest, data.context(17)       # content hash; RowContext(flags, gate, chunk, siblings, ended)

A run's rows are its product (alpaca_data.json; conversations.json for a conversation run; what
the journal has finished while the product is not written yet), the same rows `report`, `export`
and `finetune --data RUN` read, in the same order: a row is named by its position there. Context
is looked up per row when a page is drawn, never for all rows at once, so 50K rows start as fast as 50.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.readers import read_records
from selfinstruct.recipes import recipe_of_run
from selfinstruct.reviews import REVIEWS, chat_digest, is_run_dir, reviews_path, row_digest, run_product
from selfinstruct.safe_files import JsonlReader

CLIP = 600  # characters of a sibling's text shown


@dataclass
class ReviewRow:
    """One row as the reviewer sees it: Alpaca fields, or a conversation's (role, text) turns."""

    digest: str
    instruction: str = ""
    input: str = ""
    output: str = ""
    messages: list[tuple[str, str]] | None = None
    key: str | None = None  # the journal id it came from (and, for an Alpaca row, the instance number)
    instance: int | None = None


@dataclass
class RowContext:
    """What the run knows about a row besides its text."""

    flags: list[dict[str, str]] = field(default_factory=list)
    gate: dict[str, Any] | None = None  # the quality gate's score and reason
    chunk: dict[str, Any] | None = None  # grounded: the context it was written from
    siblings: list[dict[str, Any]] = field(default_factory=list)  # instances of the same instruction the run dropped, and why
    ended: str | None = None  # a conversation: why it stopped


@dataclass
class ReviewData:
    """A source's rows, where its reviews go, and the run's journal records behind the rows (None for a plain file)."""

    source: Path
    data_path: Path
    reviews: Path
    rows: list[ReviewRow]
    conversation: bool
    candidates: dict[str, Any] = field(default_factory=dict)
    completed: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def digests(self) -> list[str]:
        """Every row's content hash, in order (made once: each request looks rows up in it)."""
        return [r.digest for r in self.rows]

    def context(self, i: int) -> RowContext:
        """Flags (Alpaca rows), the gate's note, the grounding chunk and the dropped siblings of row i."""
        row = self.rows[i]
        ctx = RowContext()
        if row.messages is None:
            from selfinstruct.report.flags import flag_row
            from selfinstruct.report.source import Row

            ctx.flags = [f.model_dump() for f in flag_row(Row(instruction=row.instruction, input=row.input, output=row.output))]
        completed = self.completed.get(row.key or "")
        candidate = self.candidates.get(row.key or "")
        if completed is not None:
            if row.instance is not None and row.instance < len(completed.quality):
                note = completed.quality[row.instance]
                ctx.gate = {"score": note.score, "reason": note.reason}
            ctx.siblings = [_sibling(d) for d in completed.dropped]
            ctx.ended = completed.ended
        if candidate is not None and candidate.source:
            ctx.chunk = {k: v for k, v in candidate.source.items() if k != "context"}
        return ctx


def _sibling(dropped: dict[str, Any]) -> dict[str, Any]:
    text = str(dropped.get("output", dropped.get("answer", "")))
    asked = str(dropped.get("input", dropped.get("question", "")))
    return {"reason": dropped.get("reason"), "score": dropped.get("score"), "input": asked[:CLIP], "output": text[:CLIP]}


def load_rows(source: Path) -> ReviewData:
    """A run directory or a data file; anything else is one UserError."""
    if not source.exists():
        raise UserError(f"{source}: not found; give a run directory or a dataset file (Alpaca, ShareGPT or messages JSON/JSONL)")
    if source.is_dir():
        if not is_run_dir(source):
            raise UserError(f"{source}: not a run directory (no journal.jsonl, alpaca_data.json or conversations.json in it)")
        return _load_run(source)
    if source.suffix.lower() not in (".json", ".jsonl"):
        raise UserError(f"{source}: not a dataset (expected a run directory, .json or .jsonl)")
    if reviews_path(source).name == REVIEWS:  # a run's own product: reviewed as the run, with its context
        return _load_run(source.parent)
    return _load_file(source, source, reviews_path(source))


def _load_file(source: Path, path: Path, reviews: Path) -> ReviewData:
    from selfinstruct.finetune.sources import detect_row_format, read_source

    records = read_records(path, "dataset", fmt="jsonl" if path.suffix.lower() == ".jsonl" else "json")
    if not records.values:
        raise UserError(f"{path}: no rows (the dataset is empty)")
    if detect_row_format(records.values[0], records.where(0)) == "alpaca":
        if not all(_is_alpaca(value) for value in records.values):
            from selfinstruct.report.source import read_dataset

            read_dataset(path)  # the report's reader names the first bad row and why, in one line
        rows = [ReviewRow(digest=row_digest(v["instruction"], v.get("input") or "", v["output"]), instruction=v["instruction"],
                          input=v.get("input") or "", output=v["output"]) for v in records.values]  # fmt: skip
        return ReviewData(source=source, data_path=path, reviews=reviews, rows=rows, conversation=False)
    rows = []
    for value, row in zip(records.values, read_source(path, reviewed=False).rows):
        turns = [(m.role, m.content) for m in row.messages]
        key = value.get("id") if isinstance(value, dict) and isinstance(value.get("id"), str) else None
        rows.append(ReviewRow(digest=chat_digest(turns), messages=turns, key=key))
    return ReviewData(source=source, data_path=path, reviews=reviews, rows=rows, conversation=True)


def _is_alpaca(value: Any) -> bool:
    """An Alpaca row as `report` and `export` read it: instruction and output text, input text or missing."""
    return (isinstance(value, dict) and isinstance(value.get("instruction"), str) and isinstance(value.get("output"), str)
            and (value.get("input") is None or isinstance(value["input"], str)))  # fmt: skip


def _load_run(run: Path) -> ReviewData:
    product = run_product(run)
    if product.name == "conversations.json":
        if not product.is_file():
            raise UserError(f"{run}: the conversation run has not written {product.name} yet; review it when it has")
        data = _load_file(run, product, run / REVIEWS)
        data.completed = _completed_lines(run / "journal.jsonl")
        return data
    from selfinstruct.report.source import load_source

    loaded = load_source(run)
    runs = loaded.run
    assert runs is not None
    recipe = recipe_of_run(runs.config.get("recipe"))
    asked_in_input = recipe is not None and recipe.ASKED_IN_INPUT
    where: dict[tuple[str, str], tuple[str, int]] = {}
    for cid in runs.done_ids():
        for k, inst in enumerate(runs.completed[cid].instances):
            asked = inst.input if asked_in_input else runs.kept[cid].instruction
            where.setdefault((asked, inst.output), (cid, k))
    rows = []
    for r in loaded.rows:
        key, instance = where.get((r.instruction, r.output), (r.instruction_id, None))
        rows.append(ReviewRow(digest=row_digest(r.instruction, r.input, r.output), instruction=r.instruction, input=r.input,
                              output=r.output, key=key, instance=instance))  # fmt: skip
    if not rows:
        raise UserError(f"{run}: no rows yet (nothing finished in the journal)")
    return ReviewData(source=run, data_path=product, reviews=run / REVIEWS, rows=rows, conversation=False,
                      candidates=runs.kept, completed=runs.completed)  # fmt: skip


def _completed_lines(journal: Path) -> dict[str, Any]:
    """A conversation run's `completed` records by id (the report's reader refuses conversation journals)."""
    from selfinstruct.records import Completed

    out: dict[str, Any] = {}
    reader = JsonlReader(journal, damaged="unreadable line; the run directory is damaged")
    for obj in reader:
        if obj.get("kind") == "completed":
            try:
                out[obj["id"]] = Completed.model_validate(obj)
            except (ValueError, KeyError):
                raise reader.error() from None
    return out
