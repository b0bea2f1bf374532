"""The arithmetic verifier on sums of many terms: questions about a named run of numbers, and calculations an output states."""

from __future__ import annotations

import pytest

from selfinstruct.stages.verifiers.arithmetic import check_arithmetic
from selfinstruct.stages.verifiers.series import series_question

PRIMES_BELOW_50 = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]


def test_the_primes_sum_of_the_demo_is_wrong() -> None:
    # A row of an earlier make demo run: the true sum is 328.
    check = check_arithmetic(
        "Calculate the sum of all prime numbers less than 50.", "", "The sum of all prime numbers less than 50 is 2 + 3 + ... + 47 = 286"
    )
    assert (check.status, check.expected, check.answer) == ("wrong", 328, 286)
    written_out = " + ".join(map(str, PRIMES_BELOW_50))
    assert check_arithmetic("Calculate the sum of all prime numbers less than 50.", "", f"{written_out} = 328").status == "correct"
    # The same total with every term written out is wrong by its own terms, whatever the question.
    assert check_arithmetic("Add these up.", "", f"{written_out} = 286").status == "wrong"


@pytest.mark.parametrize(
    ("question", "values"),
    [
        ("Calculate the sum of all prime numbers less than 50.", [328]),
        ("What is the sum of all even numbers between 1 and 100?", [2450, 2550]),  # with or without 100
        ("Find the sum of the squares of the first 10 natural numbers.", [385]),
        ("How many prime numbers are there below 100?", [25]),
        ("Find the sum of all multiples of 3 or 5 below 1000.", [233168]),
        ("Compute the product of the first 5 odd numbers.", [945]),
        ("What is the sum of the first ten primes?", [129]),
        ("What is the average of the numbers from 1 to 10?", [5.5]),
        ("Calculate the sum of the first 100 natural numbers.", [5050]),
        ("Write a function that returns the sum of numbers in a list.", None),
        ("What is the sum of all primes below 10000000000?", None),  # too many to work out
    ],
)
def test_named_runs_of_numbers(question: str, values: list[float] | None) -> None:
    found = series_question(question)
    assert (found.values if found else None) == values


@pytest.mark.parametrize(
    ("output", "status"),
    [
        ("3 apples at $2 each: 3 * 2 = 6, plus 4 = 6 + 4 = 11.", "wrong"),
        ("1 + 2 + 3 + ... + 100 = 5000", "wrong"),  # evenly stepping terms: 5050
        ("1/2 = 0.6", "wrong"),
        ("1. 2 + 3 = 6", "wrong"),
        ("(98.6 - 32) * 5/9 = 38", "wrong"),
        ("Area = 5 x 4 = 24 square meters", "wrong"),
        ("1 + 2 + 3 + ... + 100 = 5050", "uncheckable"),
        ("2 + 3 + ... + 47 = 328", "uncheckable"),  # the terms before the dots do not say what they stand for
        ("3/4 = 75% and 1/2 = 0.5", "uncheckable"),
        ("x + 1 = 5 so x = 4", "uncheckable"),
        ("10 / 3 = 3 remainder 1", "uncheckable"),
        ("2 * (3 + 4) = 2 * 7 = 14", "uncheckable"),
        ("2 + 3 = 5 + 4 = 9", "uncheckable"),  # a running calculation carries its result on
        ("The ratio 16:9 = 1.78", "uncheckable"),
        ("C = (F - 32) * 5/9, so 212F = (212 - 32) * 5/9 = 100", "uncheckable"),
        ("(98.6 - 32) * 5/9 = 37", "uncheckable"),
        ("Total: $1,200 + $300 = $1,500", "uncheckable"),
        ("in binary 1 + 1 = 10", "uncheckable"),
        ("```python\nprint(2 + 2 == 5)\n```", "uncheckable"),
        ("The answer: 7 - 2 = 5.", "uncheckable"),
    ],
)
def test_calculations_the_output_states(output: str, status: str) -> None:
    assert check_arithmetic("Work it out.", "", output).status == status


def test_a_wrong_calculation_the_task_quotes_is_not_the_outputs() -> None:
    assert check_arithmetic("Is this right? 2 + 2 = 5", "", "No: 2 + 2 = 4, not 2 + 2 = 5.").status == "uncheckable"
    assert check_arithmetic("Find the mistake.", "2 + 2 = 5", "2 + 2 = 5 is wrong.").status == "uncheckable"
