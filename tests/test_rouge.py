"""The ROUGE-L index must make exactly rouge_score's decisions (see DESIGN, "ROUGE-L, exactly")."""

from __future__ import annotations

from rouge_score import rouge_scorer

from selfinstruct.rouge import RougeIndex

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference_f(kept: str, candidate: str) -> float:
    return SCORER.score(kept, candidate)["rougeL"].fmeasure


def test_float_form_decides_at_threshold() -> None:
    # LCS 7 between 9 and 11 tokens is 0.7 exactly, but the scorer's float expression says 0.7000000000000001.
    kept = "w1 w2 w3 w4 w5 w6 w7 w8 w9"
    candidate = "w1 w2 w3 w4 w5 w6 w7 x y z q"
    index = RougeIndex()
    index.add(kept)
    verdict = index.check(candidate)
    assert verdict.is_duplicate
    assert verdict.most_similar == kept
    assert verdict.score == reference_f(kept, candidate) > 0.7


def test_check_and_add_keeps_only_non_duplicates() -> None:
    index = RougeIndex()
    assert not index.check_and_add("Write a poem about the sea.").is_duplicate
    assert index.check_and_add("write a poem about the sea").is_duplicate
    assert len(index) == 1
