"""Self-consistency: which answers are asked again, when two answers agree, and drops through the mock teacher over HTTP."""

from __future__ import annotations

import asyncio

import pytest

from selfinstruct.records import Instance
from selfinstruct.stages.verifiers import Verifier
from selfinstruct.stages.verifiers.consistency import Consistency, agree, short_answer
from selfinstruct.teacher.client import Teacher
from selfinstruct.teacher.spend import SpendTracker


@pytest.mark.parametrize(
    ("kept", "other", "same"),
    [
        ("Positive", "positive.", True),
        ("Paris", "The answer is Paris, France", True),
        ("328", "The sum is 328.", True),
        ("3.14", "3.14159", True),  # the same number to the precision the kept answer gives
        ("1,024", "1024", True),
        ("Yes", "Yes, it is.", True),
        ("The Pacific Ocean", "Pacific", True),
        ("Positive", "Negative", False),
        ("286", "328", False),
        ("Yes", "No", False),
        ("1969", "1983", False),
        ("George Washington", "Abraham Lincoln", False),
        ("Paris", "", False),
    ],
)
def test_when_two_answers_agree(kept: str, other: str, same: bool) -> None:
    assert agree(kept, other) is same


@pytest.mark.parametrize(
    ("instruction", "output", "is_label", "asked"),
    [
        ("Classify the review as positive or negative.", "Positive", True, True),
        ("What is the capital of Australia?", "Canberra", False, True),
        ("In which year did the Berlin Wall fall?", "1989", False, True),
        ("What is the capital of Australia?", "Canberra is the capital; Sydney is larger, and many guess it.", False, False),
        ("Suggest a name for a bakery.", "Rise & Shine", False, False),  # one of many right answers
        ("Write a title for this essay.", "On Rain", False, False),
        ("Translate 'cat' into French.", "chat", False, False),
        ("What does this print?", "```python\nprint(1)\n```", False, False),
        ("List three colours.", "red\nblue\ngreen", False, False),
    ],
)
def test_which_answers_are_asked_again(instruction: str, output: str, is_label: bool, asked: bool) -> None:
    assert short_answer(instruction, Instance(output=output), is_label) is asked


def _verify(mock, instruction: str, instances: list[Instance], labels: list[str] | None, k: int = 2):  # noqa: ANN001, ANN202
    async def run():  # noqa: ANN202
        teacher = Teacher(model="mock-teacher", base_url=mock.url, api_key="sk-test-123456", timeout_s=5, spend=SpendTracker((0.0, 0.0)))
        try:
            verifier = Verifier(run_code=False, consistency=Consistency(teacher, k=k, temperature=0.7))
            return await verifier.verify(instruction, instances, labels)
        finally:
            await teacher.aclose()

    return asyncio.run(run())


def test_a_label_the_teacher_does_not_repeat_is_dropped(mock_teacher) -> None:
    """The mock answers a label asked again with the label its input names, so a mislabelled instance disagrees twice."""
    instruction = "Classify the review about tide pools as positive or negative."
    right = Instance(input="A review about tide pools that is clearly positive.", output="Positive")
    wrong = Instance(input="A review about tide pools that is clearly negative.", output="Positive")
    kept, dropped, checks = _verify(mock_teacher, instruction, [right, wrong], ["Negative", "Positive"])
    assert kept == [right]
    assert [(d["reason"], d["consistency_agreed"], d["consistency_answers"]) for d in dropped] == [("inconsistent", 0, 2)]
    assert dropped[0]["detail"].startswith("0 of 2 new answers agreed with 'Positive'")
    assert checks == {"consistency_checked": 1, "consistency_agreed": 2, "consistency_answers": 2}
    asked = [r for r in mock_teacher.requests if r["stage"] == "consistency"]
    assert len(asked) == 4 and all(r["body"]["temperature"] == 0.7 for r in asked)
    assert "one of: Negative, Positive" in asked[0]["body"]["messages"][-1]["content"]


def test_one_agreeing_answer_of_two_keeps_the_instance(mock_teacher) -> None:
    answers = iter(["Canberra", "Sydney"])
    mock_teacher.short_answer = lambda instruction, given: next(answers)
    kept, dropped, checks = _verify(mock_teacher, "What is the capital of Australia?", [Instance(output="Canberra")], None)
    assert kept and not dropped and checks["consistency_agreed"] == 1
    mock_teacher.short_answer = lambda instruction, given: "Sydney"
    kept, dropped, _ = _verify(mock_teacher, "What is the capital of Australia?", [Instance(output="Canberra")], None, k=3)
    assert not kept and dropped[0]["reason"] == "inconsistent"
    # Long answers and open requests send nothing.
    before = len(mock_teacher.requests)
    _verify(mock_teacher, "Suggest a name for a bakery.", [Instance(output="Rise & Shine")], None)
    assert len(mock_teacher.requests) == before
