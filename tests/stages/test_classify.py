"""Reading yes/no classification verdicts from the answers small models give."""

import pytest

from selfinstruct.stages.classify import build_classify_prompt, parse_verdicts, read_yes_no
from selfinstruct.templates import Templates


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Yes", True),
        ("Yes.", True),
        ("yes, it is", True),
        ("YES - it has fixed labels", True),
        ("No", False),
        ("No.", False),
        ("no, it asks for free text", False),
        ("Is it classification? No", False),
        ("Is it classification? Yes.", True),
        ("**Yes**", True),
        ("Answer: no", False),
        ("Maybe", None),
        ("", None),
    ],
)
def test_read_yes_no(text, expected):
    assert read_yes_no(text) is expected


def test_numbered_batch_with_chatter_and_gaps():
    text = "Here are my answers:\n1. Yes\n2. No.\n4) yes, it is\nThanks!"
    assert parse_verdicts(text, 4) == [True, False, None, True]


def test_single_unnumbered_answer():
    assert parse_verdicts("Yes.", 1) == [True]
    assert parse_verdicts("No, it is not.", 1) == [False]


def test_out_of_range_numbers_are_ignored():
    assert parse_verdicts("1. No\n7. Yes", 2) == [False, None]


def test_prompt_lists_tasks_last():
    prompt = build_classify_prompt(Templates(), ["Is 7 prime?", "Write a haiku about rain."])
    assert prompt.rstrip().endswith("1. Is 7 prime?\n2. Write a haiku about rain.\n\nAnswers:")
