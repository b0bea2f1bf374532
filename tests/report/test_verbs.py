"""The dependency parser behind the verb-noun chart: the pinned model is verified, and parses give Self-Instruct's pairs."""

from __future__ import annotations

import pytest

pytest.importorskip("spacy")

from selfinstruct.errors import UserError  # noqa: E402
from selfinstruct.report import verbs  # noqa: E402
from selfinstruct.report.diversity import verb_noun_chart  # noqa: E402


def test_model_files_and_meta_match_the_pins() -> None:
    verbs.verify_model()


def test_a_changed_model_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(verbs.MODEL_FILES, "parser/model", "0" * 64)
    with pytest.raises(UserError, match="parser/model does not match"):
        verbs.verify_model()


def test_changed_published_figures_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(verbs.UPSTREAM_META, "performance.dep_uas", 0.5)
    with pytest.raises(UserError, match="dep_uas"):
        verbs.verify_model()


def test_root_verb_and_direct_object() -> None:
    pairs = verbs.verb_noun_pairs([
        "Write a poem about the sea.", "Generate a list of five fruits.", "Give me three reasons to exercise.",
        "Classify the sentiment of the following tweet.", "What is the capital of France?", "Explain why the sky is blue.",
        "Suggest some names for a new coffee shop.\nUse puns.",
    ])  # fmt: skip
    assert pairs == [("write", "poem"), ("generate", "list"), ("give", "reason"), ("classify", "sentiment"), None, None, ("suggest", "name")]


def test_chart_keeps_top_verbs_and_their_top_objects() -> None:
    texts = [f"Write a {noun} about cats." for noun in ("poem", "poem", "story", "song", "haiku", "limerick")] + ["Find the sum of 2 and 3."]
    chart = verb_noun_chart(texts)
    assert chart.with_structure == 7 and chart.distinct_verbs == 2
    assert chart.top[0].verb == "write" and chart.top[0].count == 6
    assert chart.top[0].objects[0] == ("poem", 2) and len(chart.top[0].objects) == 4
