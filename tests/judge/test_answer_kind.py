"""The answer-kind check: which outputs the judge is asked about, its verdicts over HTTP, and the packaged judge's."""

from __future__ import annotations

import asyncio

import pytest

from selfinstruct.judge.answer_kind import MIN_P_CODE, AnswerKindJudge
from selfinstruct.records import Instance
from selfinstruct.stages.verifiers import Verifier
from selfinstruct.stages.verifiers.kind import suspect_kind
from selfinstruct.teacher.client import Teacher
from selfinstruct.teacher.spend import SpendTracker

CODE_FOR_NUMBERS = "```python\nimport random\nnumbers = [random.randint(1, 100) for _ in range(10)]\nprint(numbers)\n```"


@pytest.mark.parametrize(
    ("instruction", "output", "suspect"),
    [
        ("Generate a list of 10 random numbers.", CODE_FOR_NUMBERS, "code"),
        ("Generate a list of 10 random numbers.", "import random\nnumbers = [random.randint(1, 100) for _ in range(10)]\nprint(numbers)", "code"),
        ("Generate a list of 10 random numbers.", "23, 7, 91, 45, 12, 68, 3, 54, 80, 36", None),
        ("Write a Python function that reverses a string.", "def reverse(s):\n    return s[::-1]", None),
        ("Write a Python function that reverses a string.", "You reverse a string by slicing it with a step of -1.", "no_code"),
        ("How can I use regular expressions to extract email addresses?", "```python\nimport re\nre.findall(r'\\S+@\\S+', text)\n```", None),
        ("Write a SQL query that lists the users.", "SELECT * FROM users;", None),
    ],
)
def test_which_outputs_the_judge_is_asked_about(instruction: str, output: str, suspect: str | None) -> None:
    assert suspect_kind(instruction, "", output) == suspect


def _verify(mock, instruction: str, *outputs: str):  # noqa: ANN001, ANN202
    async def run():  # noqa: ANN202
        teacher = Teacher(model="mock-teacher", base_url=mock.url, api_key="sk-test-123456", timeout_s=5, spend=SpendTracker((0.0, 0.0)))
        try:
            verifier = Verifier(run_code=False, kind_judge=AnswerKindJudge(teacher))
            return await verifier.verify(instruction, [Instance(output=o) for o in outputs])
        finally:
            await teacher.aclose()

    return asyncio.run(run())


def test_code_for_a_list_of_numbers_is_dropped_by_the_judge(mock_teacher) -> None:
    kept, dropped, _ = _verify(mock_teacher, "Generate a list of 10 random numbers.", CODE_FOR_NUMBERS, "23, 7, 91, 45, 12, 68, 3, 54, 80, 36")
    assert [i.output for i in kept] == ["23, 7, 91, 45, 12, 68, 3, 54, 80, 36"]
    assert dropped[0]["reason"] == "wrong_kind" and "P(asks for code) 0.10" in dropped[0]["detail"]
    asked = [r for r in mock_teacher.requests if r["stage"] == "answer_kind"]
    assert len(asked) == 1 and asked[0]["body"]["max_tokens"] == 1 and asked[0]["body"]["top_logprobs"] == 10


def test_the_judge_keeps_what_it_says_was_asked_for(mock_teacher) -> None:
    mock_teacher.answer_kind = lambda instruction, given: True  # every task asks for code
    kept, dropped, checks = _verify(mock_teacher, "Print the numbers from 1 to 10, replacing multiples of 3 with Fizz.", CODE_FOR_NUMBERS, CODE_FOR_NUMBERS + "\n")
    assert len(kept) == 2 and not dropped and checks == {"python_parsed": 2, "kind_judged": 2}
    assert len([r for r in mock_teacher.requests if r["stage"] == "answer_kind"]) == 1  # one request for the task
    kept, dropped, _ = _verify(mock_teacher, "Write a Python function that reverses a string.", "You reverse a string by slicing it with a step of -1.")
    assert not kept and dropped[0]["reason"] == "wrong_kind"


def test_without_log_probabilities_the_judge_answers_in_text(mock_teacher) -> None:
    mock_teacher.no_logprobs = True
    kept, dropped, _ = _verify(mock_teacher, "Generate a list of 10 random numbers.", CODE_FOR_NUMBERS)
    assert not kept and "P(asks for code) 0.00" in dropped[0]["detail"]


# The instructions MIN_P_CODE was chosen on: (instruction, asks for code).
CHOSEN_ON = [
    ("Generate a list of 10 random numbers.", False), ("List five fruits that are high in vitamin C.", False),
    ("Write a haiku about autumn.", False), ("Sort these numbers in ascending order.", False),
    ("Generate a random password of 12 characters.", False), ("Calculate the factorial of 6.", False),
    ("Find the largest prime factor of 13195.", False), ("Count the vowels in the word 'encyclopedia'.", False),
    ("Convert 100 degrees Fahrenheit to Celsius.", False), ("Reverse the order of the words in this sentence.", False),
    ("Create a shopping list for a week of vegetarian meals.", False), ("Generate five names for a coffee shop.", False),
    ("Compute the average of 4, 8, 15, 16, 23 and 42.", False), ("Make a multiplication table for 7.", False),
    ("Check whether 97 is a prime number.", False),
    ("Show how to reverse a linked list.", True), ("How do I read a text file line by line in Go?", True),
    ("Print the numbers from 1 to 100, replacing multiples of 3 with Fizz.", True), ("Write a Python function that reverses a string.", True),
    ("Create a program that prints the first 10 Fibonacci numbers.", True), ("Build a small web page with a red button that shows an alert.", True),
]  # fmt: skip


@pytest.mark.slow
def test_the_packaged_judge_tells_a_request_for_code_from_one_for_a_result(tmp_path) -> None:
    """The packaged 1.5B on the 21 instructions MIN_P_CODE was chosen on (about 2 minutes on 2 busy cores)."""
    from selfinstruct.endpoint_settings import TeacherSettings
    from selfinstruct.teacher.endpoint import open_teacher, resolve_endpoint
    from tests.evaluate.test_slow import JUDGE, _packaged_or_skip

    _packaged_or_skip(JUDGE)

    async def verdicts() -> list[float | None]:
        endpoint = resolve_endpoint(TeacherSettings(teacher="local", local_model=JUDGE))
        with open_teacher(endpoint, server_log=tmp_path / "judge.log") as teacher:
            judge = AnswerKindJudge(teacher)
            try:
                return [(await judge.ask(instruction, "")).p_code for instruction, _ in CHOSEN_ON]
            finally:
                await teacher.aclose()

    scores = asyncio.run(verdicts())
    wrong = [(i, p) for (i, code), p in zip(CHOSEN_ON, scores) if p is None or (p >= MIN_P_CODE) is not code]
    assert wrong == [], wrong
