"""The array forms of the bounds and the fast tokenizer must equal their one-at-a-time originals exactly."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfinstruct.rouge.score import Bounds, LengthTables, rouge_token_bytes, rouge_tokens

THRESHOLDS = [0.0, 1e-12, 0.05, 0.3, 0.5, 0.69, 0.7, 0.71, 0.85, 0.9, 0.999, 1.0]


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_length_tables_equal_bounds_for_every_length(threshold: float) -> None:
    longest = 700
    tables = LengthTables.build(threshold, longest)
    bounds = Bounds(threshold)
    for n in range(1, longest + 1):
        lo, hi, _ = bounds.for_length(n)
        assert (tables.shortest[n], tables.longest[n], tables.prefix[n]) == (lo, min(hi, longest), bounds.prefix_length(n)), n
    for m in range(0, 2 * longest + 2, 7):
        for n in (1, 2, 3, 50, 333):
            if m + n < len(tables.need):
                assert tables.need[m + n] == bounds.min_lcs(m, n)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(threshold=st.floats(0.0, 1.0), longest=st.integers(1, 300))
def test_length_tables_equal_bounds_at_any_threshold(threshold: float, longest: int) -> None:
    tables = LengthTables.build(threshold, longest)
    bounds = Bounds(threshold)
    for n in range(1, longest + 1):
        lo, hi, _ = bounds.for_length(n)
        assert (tables.shortest[n], tables.longest[n], tables.prefix[n]) == (lo, min(hi, longest), bounds.prefix_length(n))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.text(alphabet="aZ09 _-K\u212aİı\u0130ǅß\ud800\x00.\n", max_size=40))
def test_token_bytes_are_rouge_tokens(text: str) -> None:
    assert [token.decode("ascii") for token in rouge_token_bytes(text)] == rouge_tokens(text)
