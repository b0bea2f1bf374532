"""The quality gate: score parsing, and scoring instances through the mock judge over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from selfinstruct.evaluate.quality import QualityJudge, QualityScore, keep, parse_reason, parse_score
from selfinstruct.teacher.client import Teacher
from selfinstruct.teacher.spend import SpendTracker


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
    assert keep(QualityScore(score=3, reason="")) and not keep(QualityScore(score=2, reason=""))
    assert keep(QualityScore(score=None, reason="unreadable"))  # a failing judge never drops data
    assert not keep(QualityScore(score=4, reason=""), min_quality=5)


def _score(mock, *instance):
    async def run():
        teacher = Teacher(model="mock-judge", base_url=mock.url, api_key="sk-test-123456", timeout_s=5, spend=SpendTracker((0.0, 0.0)))
        try:
            return await QualityJudge(teacher).score(*instance)
        finally:
            await teacher.aclose()

    return asyncio.run(run())


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
