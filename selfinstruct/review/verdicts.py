"""reviews.jsonl: the verdicts, edits and notes a person gave rows in `selfinstruct review`, and what they do to the data.

    path = reviews_path(Path("outputs/run-1"))          # outputs/run-1/reviews.jsonl
    log = ReviewLog.read(path)
    review, changed = log.lookup(17, row_digest(row))   # RowReview or None; changed: reviewed, then the row changed
    writer = ReviewWriter(path); writer.record(17, digest, verdict="wrong")
    applied = apply_reviews([row_digest(r) for r in rows], log)   # what export --drop-rejected and finetune do

Each line is one event, appended and flushed as it is written (safe_files.JsonlAppender):

    {"kind": "review", "ts": "2026-12-07T10:00:00Z", "row": 17, "hash": "3f2a...", "verdict": "wrong"}
    {"kind": "review", "ts": ..., "row": 17, "hash": "3f2a...", "output": "the corrected output"}
    {"kind": "review", "ts": ..., "row": 17, "hash": "3f2a...", "note": "the date is wrong"}
    {"kind": "sample", "ts": ..., "seed": 42, "rows": 52002, "add": [5, 9001, ...]}

A row is named by its position in the data (`row`) and the SHA-256 of its content (`hash`, the first
16 hex digits). A later line wins, field by field, so two tabs marking one row keep the later
verdict and touch nothing else. A review whose hash is not the row's current one was given to
content that has since changed: it is shown as changed and applied nowhere. An edit replaces the
output (for a conversation, its last assistant turn); `"output": null` takes an edit back.

A sample line adds rows to the review's sample (`review --sample N`): the sample only ever grows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from selfinstruct.errors import UserError
from selfinstruct.safe_files import JsonlAppender

REVIEWS = "reviews.jsonl"
VERDICTS = ("right", "wrong", "skip")
Verdict = Literal["right", "wrong", "skip"]
# A run's product, as `review RUN` and `finetune --data RUN` read it: conversations for the conversation recipe.
PRODUCTS = ("alpaca_data.json", "conversations.json")


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "journal.jsonl").is_file() or any((path / name).is_file() for name in PRODUCTS))


def run_product(run: Path) -> Path:
    """The data file a run's review covers: conversations.json for a conversation run, else alpaca_data.json."""
    recipe = None
    try:
        recipe = json.loads((run / "config.json").read_text(encoding="utf-8")).get("recipe")
    except (OSError, ValueError, AttributeError):
        pass
    return run / (PRODUCTS[1] if recipe == "conversation" else PRODUCTS[0])


def reviews_path(source: Path) -> Path:
    """Where a source's reviews live: RUN/reviews.jsonl for a run (or its product file), else NAME.reviews.jsonl beside the file."""
    if source.is_dir():
        return source / REVIEWS
    if is_run_dir(source.parent) and source.resolve() == run_product(source.parent).resolve():
        return source.parent / REVIEWS
    return source.with_name(f"{source.stem}.{REVIEWS}")


def row_digest(instruction: str, input: str, output: str) -> str:
    """The content hash of an Alpaca row: what the reviewer saw, so a changed row is never taken for the reviewed one."""
    return _digest("alpaca", instruction, input or "", output)


def chat_digest(messages: list[tuple[str, str]]) -> str:
    """The content hash of a conversation: its (role, text) turns, roles as system/user/assistant."""
    return _digest("chat", *(part for turn in messages for part in turn))


def _digest(*parts: str) -> str:
    # Each part prefixed with its length, so no two different rows run together into the same text.
    text = "".join(f"{len(part)}:{part}" for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class RowReview:
    """What the log says about one row's content: the latest verdict, edited output and note."""

    hash: str
    verdict: Verdict | None = None
    output: str | None = None
    note: str | None = None
    ts: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "verdict": self.verdict, "output": self.output, "note": self.note, "ts": self.ts}


@dataclass
class ReviewLog:
    """reviews.jsonl folded: one RowReview per row (the latest content reviewed), and the sample drawn so far."""

    path: Path
    reviews: dict[int, RowReview] = field(default_factory=dict)
    sample: list[int] = field(default_factory=list)
    sample_seed: int | None = None

    @classmethod
    def read(cls, path: Path) -> ReviewLog:
        """Fold the file; a torn last line (a crash mid-write) is skipped, any other bad line is one UserError."""
        log = cls(path)
        if not path.is_file():
            return log
        raw = path.read_bytes()
        lines = raw.decode("utf-8", errors="replace").split("\n")
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                log.apply(event)
            except (ValueError, TypeError, KeyError):
                if lineno == len(lines) and not raw.endswith(b"\n"):
                    continue
                raise UserError(f"{path}:{lineno}: not a review line this version reads") from None
        return log

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event in; raises ValueError/TypeError/KeyError on a malformed one."""
        if event["kind"] == "sample":
            seed = int(event["seed"])
            added = [int(i) for i in event["add"]]
            if self.sample_seed is None:
                self.sample_seed = seed
            seen = set(self.sample)
            self.sample += [i for i in added if i not in seen]
            return
        if event["kind"] != "review":
            raise ValueError(event["kind"])
        row, digest = int(event["row"]), str(event["hash"])
        current = self.reviews.get(row)
        if current is None or current.hash != digest:
            current = self.reviews[row] = RowReview(hash=digest)  # new content: what was said of the old does not carry over
        if "verdict" in event:
            verdict = event["verdict"]
            if verdict is not None and verdict not in VERDICTS:
                raise ValueError(verdict)
            current.verdict = verdict
        if "output" in event:
            current.output = None if event["output"] is None else str(event["output"])
        if "note" in event:
            note = event["note"]
            current.note = str(note) if note else None
        current.ts = event.get("ts", current.ts)

    def lookup(self, row: int, digest: str) -> tuple[RowReview | None, bool]:
        """(the review of this row's content or None, whether the row was reviewed and has changed since)."""
        review = self.reviews.get(row)
        if review is None:
            return None, False
        if review.hash != digest:
            return None, True
        return review, False


class ReviewWriter:
    """Appends events to reviews.jsonl (one flushed line each) and folds them into the log it serves from."""

    def __init__(self, log: ReviewLog) -> None:
        self.log = log
        self._out: JsonlAppender | None = None

    def _append(self, event: dict[str, Any]) -> None:
        if self._out is None:
            self.log.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = JsonlAppender(self.log.path)
        self._out.append(event)
        self.log.apply(event)

    def record(self, row: int, digest: str, **change: Any) -> RowReview:
        """One verdict, edit or note on a row's content; returns the row's review after it."""
        self._append({"kind": "review", "ts": now(), "row": row, "hash": digest, **change})
        return self.log.reviews[row]

    def add_to_sample(self, seed: int, rows: int, added: list[int]) -> None:
        self._append({"kind": "sample", "ts": now(), "seed": seed, "rows": rows, "add": added})

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


@dataclass
class Applied:
    """What a review does to a dataset: rows kept (in order), edited outputs by row, and the counts a card or summary states."""

    keep: list[int]
    edits: dict[int, str]
    dropped: int
    edited: int
    stale: int  # reviews of rows whose content has changed since: not applied

    def describe(self, path: Path) -> dict[str, Any]:
        return {"path": str(path), "dropped_wrong": self.dropped, "edited": self.edited, "stale_reviews": self.stale}


def apply_reviews(digests: list[str], log: ReviewLog) -> Applied:
    """Leave out rows marked wrong and take each edited output, for reviews of the rows' current content only."""
    keep: list[int] = []
    edits: dict[int, str] = {}
    dropped = stale = 0
    for i, digest in enumerate(digests):
        review, changed = log.lookup(i, digest)
        stale += changed
        if review is not None and review.verdict == "wrong":
            dropped += 1
            continue
        keep.append(i)
        if review is not None and review.output is not None:
            edits[i] = review.output
    stale += sum(1 for row in log.reviews if row >= len(digests))
    return Applied(keep=keep, edits=edits, dropped=dropped, edited=len(edits), stale=stale)
