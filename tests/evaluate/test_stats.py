"""Win rate and its bootstrap interval, checked against cases worked out by hand."""

import numpy as np
import pytest

from selfinstruct.evaluate.stats import RESAMPLES, SEED, bootstrap_ci, summarize


def test_hand_checked_two_tasks():
    """Scores [1, 0]: a resample has mean 0, 0.5 or 1 with chance 1/4, 1/2, 1/4, so the 2.5/97.5 percentiles are 0 and 1."""
    low, high = bootstrap_ci([1.0, 0.0])
    assert (low, high) == (0.0, 1.0)


def test_hand_checked_against_a_loop():
    """The vectorised resampling equals the textbook loop: same seed, same picks, same percentiles."""
    scores = [1, 1, 0.5, 0, 1, 0, 1, 0.5, 1, 1]
    rng = np.random.default_rng(SEED)
    picks = rng.integers(0, len(scores), size=(RESAMPLES, len(scores)))
    means = sorted(sum(scores[i] for i in row) / len(scores) for row in picks)
    expected = (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))
    assert bootstrap_ci(scores) == pytest.approx(expected)


def test_sixty_percent_of_120_reads_about_sixty_plus_minus_nine():
    result = summarize(["a"] * 72 + ["b"] * 48, [True] * 120)
    assert result.win_rate == pytest.approx(0.6)
    # Normal approximation: 1.96 * sqrt(0.6 * 0.4 / 120) = 0.088.
    assert result.ci_low == pytest.approx(0.6 - 0.088, abs=0.015)
    assert result.ci_high == pytest.approx(0.6 + 0.088, abs=0.015)


def test_ties_count_half_and_the_interval_is_reproducible():
    outcomes = ["a", "tie", "b", "tie"]
    result = summarize(outcomes, [True, False, True, False])
    assert (result.wins, result.ties, result.losses) == (1, 2, 1)
    assert result.win_rate == 0.5 and result.position_consistency == 0.5
    assert summarize(outcomes, [True] * 4).ci_low == result.ci_low


def test_no_pairs():
    result = summarize([], [])
    assert result.n == 0 and result.win_rate is None and result.ci_low is None
