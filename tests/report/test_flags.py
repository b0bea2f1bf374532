"""Every quality flag on rows that should raise it and rows that should not, and the arithmetic checker's verdicts."""

from __future__ import annotations

import pytest

from selfinstruct.report.flags import DETECTORS, build_flags, flag_row
from selfinstruct.report.source import Row
from selfinstruct.stages.verifiers.arithmetic import check_arithmetic, evaluate
from tests.report.runs import CLEAN_ROWS, FLAGGED_ROWS


@pytest.mark.parametrize(("name", "row"), FLAGGED_ROWS, ids=[n for n, _ in FLAGGED_ROWS])
def test_each_flag_fires_alone_on_its_row(name: str, row: dict) -> None:
    assert [f.name for f in flag_row(Row(**row))] == [name]


@pytest.mark.parametrize("row", CLEAN_ROWS)
def test_clean_rows_raise_no_flag(row: dict) -> None:
    assert flag_row(Row(**row)) == []


POSITIVE = {
    "merged_instruction": [
        ("Name a fruit.", "", "Apple\n\nTask 1"), ("Name a fruit.", "", "Apple\n### Instruction:\nName a car."),
        ("Write a haiku. 2. Write a limerick about cats.", "", "..."), ("Name a fruit.", "", "Apple\nInstruction: name a car"),
    ],
    "input_placeholder": [("Summarise.", "No input", "x y"), ("Summarise.", "[insert text here]", "x y"), ("Fix <input>.", "", "x")],
    "empty_or_echo_output": [("Say hi.", "", ""), ("Say hi.", "", "  none "), ("Repeat.", "Hello there", "hello there!"), ("Say hi.", "", "Say hi")],
    "media_reference": [("Caption this image.", "", "x"), ("Transcribe the audio.", "", "x"), ("Summarise the attached file.", "", "x"),
                        ("Describe it.", "cat.jpg", "x")],
    "url_only_input": [("Summarise.", "www.example.org/a", "x"), ("Summarise.", " https://a.b/c , https://d.e ", "x")],
    "control_characters": [("Say\x07 hi.", "", "x"), ("Say hi.", "a\x1bb", "x")],
    "unbalanced_code_fence": [("Code.", "", "```\na\n```\n```"), ("Code.", "~~~", "x")],
    "wrong_arithmetic": [("Calculate.", "15 * 4", "64"), ("Convert 5 kilometers to miles.", "", "That is 8 miles."), ("What is 20% of 150?", "", "35")],
}  # fmt: skip
NEGATIVE = {
    "merged_instruction": [("List steps.", "", "1. Boil water\n2. Add tea"), ("Explain task management.", "", "Tasks matter."),
                           ("Explain version 2.0 changes.", "", "x"),
                           # ShareGPT rows 464 and 3715: a comment in code, not a template header
                           ("Add comments.", "", "```bash\nif [ -d x ]; then\n  # Output a message\n  echo hi\nfi\n```"),
                           ("Make a test task for a Node.js developer.", "", "Task: Build a CRUD app with Express.")],  # row 473
    "input_placeholder": [("Summarise.", "The input layer of a network.", "x"), ("Summarise.", "", "x")],
    "empty_or_echo_output": [("Fix the grammar.", "he go home", "He goes home."), ("Say hi.", "", "Hi!")],
    "media_reference": [("Write a Python function that reads a CSV file.", "", "x"), ("Describe a sunset.", "", "x")],
    "url_only_input": [("Explain.", "See https://a.b for details on X.", "x"), ("Explain.", "", "x")],
    "control_characters": [("Say hi.", "tab\there", "line\nbreak\r\n")],
    "unbalanced_code_fence": [("Code.", "", "```\na\n```"), ("Code.", "", "use `x`")],
    "wrong_arithmetic": [("Calculate.", "15 * 4", "60"), ("Write 3-5 sentences.", "", "One. Two."), ("Solve 2x + 3 = 7.", "", "x = 9")],
}  # fmt: skip


@pytest.mark.parametrize("name", list(DETECTORS))
def test_flag_positive_and_negative_cases(name: str) -> None:
    detect = DETECTORS[name]
    for instruction, inp, out in POSITIVE[name]:
        assert detect(Row(instruction=instruction, input=inp, output=out)) is not None, (name, instruction, inp, out)
    for instruction, inp, out in NEGATIVE[name]:
        assert detect(Row(instruction=instruction, input=inp, output=out)) is None, (name, instruction, inp, out)


@pytest.mark.parametrize(
    ("instruction", "inp", "output", "status", "expected"),
    [
        ("What is 23 + 19?", "", "The answer is 42.", "correct", 42),
        ("What is 23 + 19?", "", "23 + 19 = 41", "wrong", 42),
        ("Compute (3 + 5) * 2.", "", "16", "correct", 16),
        ("What is 10 divided by 4?", "", "2.5", "correct", 2.5),
        ("What is 10 / 3?", "", "About 3.33", "correct", 10 / 3),
        ("What is 10 / 3?", "", "3.5", "wrong", 10 / 3),
        ("What's 1,000 + 1?", "", "1,001", "correct", 1001),
        ("Compute 2^10.", "", "1024", "correct", 1024),
        ("What is 20% of 150?", "", "30", "correct", 30),
        ("Convert 100 degrees Fahrenheit to Celsius.", "", "37.78 °C", "correct", 37.7778),
        ("How many feet are in 2 miles?", "", "There are 10,560 feet.", "correct", 10560),
        ("Convert 5 kilometers to miles.", "", "5 kilometers is 8 miles.", "wrong", 3.10686),
        ("What is 7 times 8?", "", "Seven times eight is fifty-six.", "uncheckable", 56),
        ("Write a poem about 3 cats.", "", "Three cats 4 ever.", "uncheckable", None),
        ("Convert 10 dollars to euros.", "", "9 euros", "uncheckable", None),
        ("What is 1/0?", "", "infinity", "uncheckable", None),
        ("Compute 9^99999.", "", "1", "uncheckable", None),
        ("What is 2021-05-03 plus a week?", "", "2021-05-10", "uncheckable", None),
    ],
)
def test_arithmetic_checker(instruction: str, inp: str, output: str, status: str, expected: float | None) -> None:
    check = check_arithmetic(instruction, inp, output)
    assert check.status == status, check
    if expected is not None:
        assert check.expected == pytest.approx(expected, rel=1e-4)


def test_evaluator_is_arithmetic_only() -> None:
    assert evaluate("2 * (3 + 4)") == 14
    for hostile in ("__import__('os')", "().__class__", "open('x')", "a + 1", "2 ** 10000", "9" * 200 + " + 1"):
        assert evaluate(hostile) is None, hostile


def test_flags_section_counts_and_examples() -> None:
    rows = [Row(**row) for _, row in FLAGGED_ROWS] + [Row(**row) for row in CLEAN_ROWS]
    section = build_flags(rows)
    assert section.flagged_rows == len(FLAGGED_ROWS)
    assert {f.name: f.count for f in section.flags} == {name: 1 for name, _ in FLAGGED_ROWS}
    assert section.arithmetic.correct == 1 and section.arithmetic.wrong == 1
