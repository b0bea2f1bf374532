"""Win rate with a 95% bootstrap interval over tasks, and the judge's position consistency.

    result = summarize(["a", "tie", "b", ...], consistent=[True, False, ...])
    result.win_rate, result.ci_low, result.ci_high, result.position_consistency

Each task scores 1 for a win by A, ½ for a tie, 0 for a loss; the win rate is their mean. The
interval resamples tasks with replacement (2,000 resamples, fixed seed, so the same verdicts
always print the same interval) and takes the 2.5th and 97.5th percentiles of the resampled
means. With n = 120 a true 60% reads as about 60 ± 9, which is why the interval is always shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from selfinstruct.judge.probabilities import Outcome

RESAMPLES = 2000
SEED = 20230524  # any fixed value: the interval must not change between two prints of the same run
SCORE: dict[str, float] = {"a": 1.0, "tie": 0.5, "b": 0.0}


class WinRate(BaseModel):
    """The headline numbers for contestant A against B."""

    n: int
    wins: int
    ties: int
    losses: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    position_consistency: float | None
    unreadable: int = 0
    position_consistency_raw: float | None = None  # probability verdicts: before the run's position prior was divided out


def bootstrap_ci(scores: Sequence[float], resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: resample the scores with replacement `resamples` times."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        raise ValueError("no scores to resample")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(resamples, values.size))
    means = values[picks].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def summarize(outcomes: Sequence[Outcome], consistent: Sequence[bool], unreadable: int = 0) -> WinRate:
    """Wins, ties, losses of A, its win rate with the bootstrap interval, and the share of consistent pairs."""
    n = len(outcomes)
    wins, ties = outcomes.count("a"), outcomes.count("tie")
    if n == 0:
        return WinRate(n=0, wins=0, ties=0, losses=0, win_rate=None, ci_low=None, ci_high=None, position_consistency=None, unreadable=unreadable)
    scores = [SCORE[o] for o in outcomes]
    low, high = bootstrap_ci(scores)
    return WinRate(
        n=n, wins=wins, ties=ties, losses=n - wins - ties,
        win_rate=sum(scores) / n, ci_low=low, ci_high=high,
        position_consistency=sum(consistent) / len(consistent) if consistent else None,
        unreadable=unreadable,
    )  # fmt: skip
