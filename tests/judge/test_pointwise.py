"""The quality gate: score parsing, and scoring instances through the mock judge over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from selfinstruct.judge.pointwise import QualityJudge, QualityScore, keep, parse_reason, parse_score
from selfinstruct.teacher.client import Teacher
from selfinstruct.teacher.spend import SpendTracker
from tests.mock_teacher import OWN_ANSWER_START


@pytest.mark.parametrize(("reply", "score"), [
    ("Reason: It gives a label, not an explanation.\nScore: 1", 1),
    ("**Score:** 4", 4),
    ("The score is 3.", 3),
    ("I would rate it 5/5.", 5),
    ('{"reason": "Wrong: Washington was the first president.", "score": 1}', 1),
    ("2", 2),
    ("Score: 10", None),
    ("Score: 3.5", None),
    ("It is fine.", None),
])  # fmt: skip
def test_parse_score(reply, score):
    assert parse_score(reply) == score


def test_parse_reason():
    assert parse_reason("Reason: Off topic.\nScore: 1") == "Off topic."
    assert parse_reason('{"reason": "Bare label.", "score": 1}') == "Bare label."


def test_keep():
    assert keep(QualityScore(score=3, reason=""), min_quality=3) and not keep(QualityScore(score=2, reason=""), min_quality=3)
    assert not keep(QualityScore(score=3, reason="")) and keep(QualityScore(score=4, reason=""))  # the default, 3.5
    assert keep(QualityScore(score=3, reason="", expected=3.5)) and not keep(QualityScore(score=3, reason="", expected=3.49))
    assert keep(QualityScore(score=None, reason="unreadable"))  # a failing judge never drops data
    assert not keep(QualityScore(score=4, reason=""), min_quality=5)


def _score(mock, *instance, method="text"):
    return _scores(mock, [instance], method)[0]


def _scores(mock, instances, method="probability", **options):
    async def run():
        teacher = Teacher(model="mock-judge", base_url=mock.url, api_key="sk-test-123456", timeout_s=5, spend=SpendTracker((0.0, 0.0)))
        judge = QualityJudge(teacher, method=method, **options)
        try:
            return [await judge.score(*instance) for instance in instances] + [judge]
        finally:
            await teacher.aclose()

    return asyncio.run(run())


def test_the_expected_score_is_read_from_the_digit_probabilities(mock_teacher):
    """The mock gives the digit it means 0.9 and 0.025 to each other digit: 1 -> 1.25, 4 -> 3.875."""
    bad, good, judge = _scores(mock_teacher, [("Can you explain what a neural network is in simple terms?", "", "Neutral"),
                                              ("Can you explain what a neural network is in simple terms?", "", "A program that learns from examples.")])
    assert bad.expected == pytest.approx(1.25) and bad.score == 1 and not keep(bad) and "expected score 1.25" in bad.reason
    assert good.expected == pytest.approx(3.875) and good.score == 4 and keep(good) and not keep(good, min_quality=3.9)
    # Both outputs are short: the judge first answered the instruction itself, once, and each was checked against that.
    own, *scored = [r["body"] for r in mock_teacher.requests]
    assert own["messages"][-1]["content"].startswith(OWN_ANSWER_START) and own["max_tokens"] == 64 and own["temperature"] == 0
    assert all(b["messages"][-1]["content"].count("[Reference answer]\nA mock answer.") == 1 for b in scored)
    body = scored[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 10 and body["max_tokens"] <= 3 and "response_format" not in body
    assert body["messages"][-1]["content"].rstrip().endswith("Reply with the score alone: one digit from 1 to 5.")
    assert len(scored) == 2 and not judge.fell_back and bad.reference == good.reference == "own"
    assert "against the judge's own answer: A mock answer." in bad.reason


def test_a_short_wrong_answer_is_caught_by_the_judges_own_answer(mock_teacher):
    """The gate that rated "Abraham Lincoln" 3.6 on its own rates it low beside its own "George Washington"."""
    mock_teacher.own_answer = lambda instruction, given: "George Washington" if "president" in instruction else None
    mock_teacher.quality_score = lambda instruction, given, output: 4  # alone, the judge passes everything
    mock_teacher.quality_against_reference = lambda reference, output: 4 if reference.split()[-1] in output else 2
    wrong, right, long, *_ = _scores(mock_teacher, [
        ("Who was the first president of the United States?", "", "Abraham Lincoln"),
        ("Who was the first president of the United States?", "", "George Washington, from 1789 to 1797."),
        ("Who was the first explorer to reach the South Pole?", "", "Roald Amundsen"),  # its own answer ran too long: unused
    ])  # fmt: skip
    assert not keep(wrong) and wrong.reference == "own" and "George Washington" in wrong.reason
    assert keep(right) and right.reference == "own" and keep(long) and long.reference is None
    own = [r for r in mock_teacher.requests if r["body"]["messages"][-1]["content"].startswith(OWN_ANSWER_START)]
    assert len(own) == 2  # one per instruction, shared by its outputs


def test_long_outputs_and_known_answers_need_no_own_answer(mock_teacher):
    mock_teacher.quality_against_reference = lambda reference, output: 5 if "Canberra" in output else 1
    essay = "Canberra was chosen as a compromise between Sydney and Melbourne. " * 8
    known = {("What is the capital of  Australia?", ""): "Canberra"}
    sydney, long, *_ = _scores(mock_teacher, [("what is the capital of Australia?", "", "Sydney"),
                                              ("Describe the history of Canberra.", "", essay)], references=known)
    assert not keep(sydney) and sydney.reference == "given" and "against the reference answer" in sydney.reason
    assert long.reference is None and keep(long)
    assert not any(r["body"]["messages"][-1]["content"].startswith(OWN_ANSWER_START) for r in mock_teacher.requests)
    off, *_ = _scores(mock_teacher, [("Name a colour.", "", "Red")], own_reference=False)
    assert off.reference is None


def test_an_endpoint_without_logprobs_gets_text_scores_from_then_on(mock_teacher):
    mock_teacher.no_logprobs = True
    bad, good, judge = _scores(mock_teacher, [("Can you explain what a neural network is in simple terms?", "", "Neutral"),
                                              ("Can you explain what a neural network is in simple terms?", "", "A program that learns from examples.")])
    assert (bad.score, bad.expected, good.score, good.expected) == (1, None, 4, None) and not keep(bad) and keep(good)
    assert judge.fell_back and judge.method == "text"
    # The first instance asked once for a digit, then as text; the second went straight to text.
    kinds = ["top_logprobs" in r["body"] for r in mock_teacher.requests]
    assert kinds == [True, False, False]


def test_no_digit_among_the_likely_tokens_keeps_the_instance_unscored(mock_teacher):
    mock_teacher.quality_score = lambda *_: 9  # a reply that is no digit from 1 to 5
    scored, _ = _scores(mock_teacher, [("Write a haiku.", "", "Leaves fall.")])
    assert scored.score is None and scored.expected is None and keep(scored) and scored.reason.startswith("unreadable")


def test_gate_through_the_mock_judge(mock_teacher):
    bad = _score(mock_teacher, "Can you explain what a neural network is in simple terms?", "", "Neutral")
    assert bad.score == 1 and not keep(bad) and "label" in bad.reason
    good = _score(mock_teacher, "Can you explain what a neural network is in simple terms?", "", "A program that learns patterns from examples.")
    assert good.score == 4 and keep(good)
    prompt = mock_teacher.requests[0]["body"]["messages"][-1]["content"]
    assert prompt.index("Score the output") < prompt.index("[Instruction]\nCan you explain")  # fixed text first
    assert mock_teacher.requests[0]["body"]["temperature"] == 0.0


def test_unreadable_is_asked_again_once_then_kept(mock_teacher):
    mock_teacher.quality_unreadable = True
    again = _score(mock_teacher, "Write a haiku.", "", "Leaves fall.")
    assert again.score == 2 and len(mock_teacher.requests) == 2
    mock_teacher.quality_unreadable_follow_up = True
    lost = _score(mock_teacher, "Write a haiku.", "", "Leaves fall.")
    assert lost.score is None and keep(lost) and lost.reason.startswith("unreadable") and len(mock_teacher.requests) == 4
