"""The review's figure: rows reviewed, the share marked right, and its 95% Wilson score interval.

    figure = review_figure(log, digests, shown=rows_in_review, sampled=True)
    figure.line()   # "41 of 48 reviewed rows right: 85.4% (95% Wilson interval 72.8%-92.8%); an estimate for all 1,234 rows ..."

Skipped rows and rows changed since they were reviewed are not counted: a skip is no verdict, and
a verdict on other content says nothing of this one. With a sample (`review --sample N`), the rows
were drawn uniformly, so the share estimates the whole dataset's and the line says so; when the
rows are read in order, the share describes only the rows read so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from selfinstruct.review.verdicts import ReviewLog, apply_reviews, reviews_path

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
