"""reviews.jsonl: the verdicts, edits and notes a person gave rows in `selfinstruct review`, what they do to the data,
and the figure they give: rows reviewed, the share marked right, and its 95% Wilson score interval.

    path = reviews_path(Path("outputs/run-1"))          # outputs/run-1/reviews.jsonl
    log = ReviewLog.read(path)
    review, changed = log.lookup(17, row_digest(row))   # RowReview or None; changed: reviewed, then the row changed
    writer = ReviewWriter(path); writer.record(17, digest, verdict="wrong")
    applied = apply_reviews([row_digest(r) for r in rows], log)   # what export --drop-rejected and finetune do
    figure = review_figure(log, digests, listed, sampled=True)       # figure.line(): "41 of 48 reviewed rows right: 85.4% ..."

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

The figure leaves out skipped rows and rows changed since they were reviewed: a skip is no verdict,
and a verdict on other content says nothing of this one. With a sample the rows were drawn
uniformly, so the share estimates the whole dataset's and the line says so; when the rows are read
in order, the share describes only the rows read so far.

Here, below the commands, because `review` writes these files and `export`, `report` and `finetune`
read them: none of them imports another for it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from selfinstruct.recipes import RECIPES, recipe_of_run
from selfinstruct.safe_files import JsonlAppender, JsonlReader

REVIEWS = "reviews.jsonl"
VERDICTS = ("right", "wrong", "skip")
Verdict = Literal["right", "wrong", "skip"]
# A run's product, as `review RUN` and `finetune --data RUN` read it: conversations for the conversation recipe.
PRODUCTS = tuple(dict.fromkeys(recipe.PRODUCTS[0] for recipe in RECIPES.values()))  # the files a review covers


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "journal.jsonl").is_file() or any((path / name).is_file() for name in PRODUCTS))


def run_product(run: Path) -> Path:
    """The data file a run's review covers: the first of its recipe's PRODUCTS (alpaca_data.json if the recipe is not known)."""
    name = None
    try:
        name = json.loads((run / "config.json").read_text(encoding="utf-8")).get("recipe")
    except (OSError, ValueError, AttributeError):
        pass
    recipe = recipe_of_run(name)
    return run / (recipe.PRODUCTS[0] if recipe is not None else "alpaca_data.json")


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
        reader = JsonlReader(path, damaged="not a review line this version reads")
        for event in reader:
            try:
                log.apply(event)
            except (ValueError, TypeError, KeyError):
                raise reader.error() from None
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


# --- the figure ------------------------------------------------------------------------

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (Wilson 1927; Agresti & Coull 1998).

    Written out here because it is five lines and the libraries that have it (statsmodels'
    proportion_confint, scipy's BinomTestResult.proportion_ci) would each be a large dependency for
    this one formula. Unlike the normal approximation it stays inside [0, 1] and is honest at
    0 or n successes and at small n. n = 0 gives the uninformative (0, 1).
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


class ReviewFigure(BaseModel):
    """The summary panel's numbers, also printed by `review --summary` and recorded by report and the dataset card."""

    rows: int  # rows in the dataset
    in_review: int  # rows listed for review: the sample, or every row
    sampled: bool
    seed: int | None = None
    reviewed: int  # rows with a verdict of right or wrong on their current content
    right: int
    wrong: int
    skipped: int
    changed: int  # reviewed, then the row's content changed: shown as changed, counted nowhere
    edited: int
    notes: int
    share: float | None
    low: float | None
    high: float | None

    @property
    def scope(self) -> str:
        """What the share stands for."""
        if self.sampled:
            return f"an estimate for all {self.rows:,} rows, from a uniform sample of {self.in_review:,} (seed {self.seed})"
        if self.reviewed >= self.rows:
            return "every row reviewed: this is the dataset's own share"
        return f"the rows reviewed so far, in order, of {self.rows:,}: not a random sample, so not an estimate for the rest"

    def line(self) -> str:
        """One line: the figure, its interval and what it stands for."""
        if not self.reviewed:
            head = f"no rows reviewed yet (of {self.in_review:,} in the review)"
        else:
            head = (f"{self.right} of {self.reviewed} reviewed rows right: {self.share:.1%} "
                    f"(95% Wilson interval {self.low:.1%}-{self.high:.1%}); {self.scope}")  # fmt: skip
        extras = [f"{n} {what}" for n, what in ((self.skipped, "skipped"), (self.edited, "edited"), (self.notes, "with notes"),
                                                 (self.changed, "changed since reviewed")) if n]  # fmt: skip
        return head + (f" [{', '.join(extras)}]" if extras else "")


def review_figure(log: ReviewLog, digests: list[str], listed: Sequence[int], sampled: bool) -> ReviewFigure:
    """The figure over the rows listed for review (the sample, or every row), from the log's reviews of their current content."""
    right = wrong = skipped = changed = edited = notes = 0
    members = listed if isinstance(listed, range) else set(listed)
    for i, review in log.reviews.items():  # the reviewed rows only: a page of a 50K-row review costs no more than of a 50-row one
        if i not in members or i >= len(digests):
            continue
        if review.hash != digests[i]:
            changed += 1
            continue
        right += review.verdict == "right"
        wrong += review.verdict == "wrong"
        skipped += review.verdict == "skip"
        edited += review.output is not None
        notes += review.note is not None
    reviewed = right + wrong
    low, high = wilson_interval(right, reviewed) if reviewed else (None, None)
    return ReviewFigure(
        rows=len(digests), in_review=len(listed), sampled=sampled, seed=log.sample_seed if sampled else None,
        reviewed=reviewed, right=right, wrong=wrong, skipped=skipped, changed=changed, edited=edited, notes=notes,
        share=right / reviewed if reviewed else None, low=low, high=high,
    )  # fmt: skip


class DatasetReview(BaseModel):
    """A dataset's reviews as export, report and finetune see them: the figure, and what applying them does."""

    path: str
    figure: ReviewFigure
    keep: list[int]
    edits: dict[int, str]
    dropped: int
    edited: int
    stale: int

    def card_line(self) -> str:
        return self.figure.line() + (f"; {self.stale} reviews are of rows changed since and are not used" if self.stale else "")


def dataset_review(source: Path, digests: list[str]) -> DatasetReview | None:
    """The reviews of a run or data file (None when it has none), over the listed rows: its sample, or every row."""
    path = reviews_path(source)
    if not path.is_file():
        return None
    log = ReviewLog.read(path)
    listed = [i for i in log.sample if i < len(digests)] if log.sample else range(len(digests))
    applied = apply_reviews(digests, log)
    return DatasetReview(path=str(path), figure=review_figure(log, digests, listed, bool(log.sample)), keep=applied.keep,
                         edits=applied.edits, dropped=applied.dropped, edited=applied.edited, stale=applied.stale)  # fmt: skip
