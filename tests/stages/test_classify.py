"""Reading yes/no classification verdicts from the answers small models give."""

import json

import pytest


from selfinstruct.stages.classify import build_classify_prompt, parse_verdicts, read_yes_no, verdict_schema
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
    assert prompt[-1].role == "user" and prompt[-1].content == "1. Is 7 prime?\n2. Write a haiku about rain."
    # The fixed part (rules and worked rounds) comes first, so a server can reuse its cached prefix.
    assert prompt[0].role == "system" and [m.role for m in prompt[1:-1]] == ["user", "assistant"] * 3
    assert '"<number>. Yes" or "<number>. No"' in prompt[0].content


def test_structured_prompt_shows_worked_rounds_as_the_json_it_asks_for():
    prompt = build_classify_prompt(Templates(), ["Is 7 prime?", "Write a haiku about rain."], structured=True)
    answers = [json.loads(m.content) for m in prompt if m.role == "assistant"]
    assert answers[0]["1"] == "Yes" and answers[0]["4"] == "No" and all(len(a) == 10 for a in answers)
    assert "<number>. Yes" not in prompt[0].content
    schema = verdict_schema(2)
    assert schema["required"] == ["1", "2"] and schema["properties"]["1"]["enum"] == ["Yes", "No"]


def test_a_json_answer_is_read_first():
    assert parse_verdicts('{"1": "No", "2": "Yes"}', 2) == [False, True]
    assert parse_verdicts('{"2": "Yes", "9": "No"}', 2) == [None, True]


@pytest.mark.parametrize("instruction", [
    "Can you explain what a neural network is in simple terms?",
    "Implement a Python function that returns the frequency of each word.",
    "Why is it important to practice mindfulness?",
])  # fmt: skip
def test_the_rules_name_the_tasks_small_models_misjudged(instruction):
    """Explanations, code and why-questions are named as not classification, with a worked example of each."""
    prompt = build_classify_prompt(Templates(), [instruction])
    rules = prompt[0].content
    assert all(kind in rules for kind in ("explanations", "code", 'reasons ("why ...")'))
    shown = "\n".join(m.content for m in prompt[1:-1])
    assert "explain" in shown.lower() and "Write a function" in shown and "Why is" in shown
