"""Reading yes/no classification verdicts from the answers small models give."""

import json

import pytest

from selfinstruct.recipes import all_templates
from selfinstruct.stages.classify import (
    ANSWER_KINDS,
    build_classify_prompt,
    open_task,
    parse_verdicts,
    read_yes_no,
    verdict_schema,
)
from selfinstruct.templates import Templates
from tests.conftest import SEEDS


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
    prompt = build_classify_prompt(Templates(None, all_templates()), ["Is 7 prime?", "Write a haiku about rain."])
    assert prompt[-1].role == "user" and prompt[-1].content == "1. Is 7 prime?\n2. Write a haiku about rain."
    # The fixed part (rules and worked rounds) comes first, so a server can reuse its cached prefix.
    assert prompt[0].role == "system" and [m.role for m in prompt[1:-1]] == ["user", "assistant"] * 3
    assert '"<number>. <kind>"' in prompt[0].content
    # Every kind the verdicts are read from is named in the rules, spelled as the code reads it.
    assert all(f'"{kind}"' in prompt[0].content for kind in ANSWER_KINDS)


def test_structured_prompt_shows_worked_rounds_as_the_json_it_asks_for():
    prompt = build_classify_prompt(Templates(None, all_templates()), ["Is 7 prime?", "Write a haiku about rain."], structured=True)
    answers = [json.loads(m.content) for m in prompt if m.role == "assistant"]
    assert answers[0]["1"] == "one label from a fixed set" and answers[0]["3"] == "an explanation"
    assert all(len(a) == 10 and set(a.values()) <= set(ANSWER_KINDS) for a in answers)
    # The worked answers do not alternate: a small model must not be able to continue a pattern.
    flags = [v == ANSWER_KINDS[0] for a in answers for v in a.values()]
    assert any(flags[i] == flags[i + 1] for i in range(len(flags) - 1))
    assert "<number>. <kind>" not in prompt[0].content
    schema = verdict_schema(2)
    assert schema["required"] == ["1", "2"] and schema["properties"]["1"]["enum"] == list(ANSWER_KINDS)


def test_a_json_answer_is_read_first():
    assert parse_verdicts('{"1": "an explanation", "2": "one label from a fixed set"}', 2) == [False, True]
    assert parse_verdicts('{"1": "No", "2": "Yes"}', 2) == [False, True]
    assert parse_verdicts('{"2": "code", "9": "a number"}', 2) == [None, False]


def test_answer_kinds_are_read_from_text_lines():
    assert parse_verdicts("1. a number\n2. one label from a fixed set\n3. Code.\n4. Yes", 4) == [False, True, False, True]


@pytest.mark.parametrize("instruction", [
    "Can you explain what a neural network is in simple terms?",
    "Implement a Python function that returns the frequency of each word.",
    "Why is it important to practice mindfulness?",
])  # fmt: skip
def test_the_rules_name_the_tasks_small_models_misjudged(instruction):
    """Explanations, code and why-questions are named as not classification, with a worked example of each."""
    prompt = build_classify_prompt(Templates(None, all_templates()), [instruction])
    rules = prompt[0].content
    assert all(kind in rules for kind in ('"an explanation"', '"code"', "why question"))
    shown = "\n".join(m.content for m in prompt[1:-1])
    assert "explain" in shown.lower() and "Write a function" in shown and "Why is" in shown


def test_questions_about_the_world_are_shown_as_facts_or_explanations_not_labels():
    """A question with one right answer ("Who ...?", "Is it possible ...?", "What is the difference ...?") is worked
    through as a short fact or an explanation, and a task that names labels but asks how to assign them is no label task."""
    prompt = build_classify_prompt(Templates(None, all_templates()), ["Which planet is closest to the Sun?"], structured=True)
    worked = {}
    for ask, answer in zip(prompt[1:-1:2], prompt[2:-1:2]):
        tasks = dict(line.split(". ", 1) for line in ask.content.splitlines())
        worked.update({tasks[k]: v for k, v in json.loads(answer.content).items()})
    facts = [t for t, kind in worked.items() if kind == "a short fact"]
    assert facts and all(t.startswith(("Who ", "What ")) for t in facts)
    for task, kind in worked.items():
        if task.startswith(("Is it possible", "What is the difference", "How can I tell")):
            assert kind == "an explanation", task
    # Labels are a minority of the worked answers, as they are of real tasks.
    assert sum(kind == ANSWER_KINDS[0] for kind in worked.values()) <= len(worked) // 3
    assert parse_verdicts('{"1": "a short fact"}', 1) == [False]


@pytest.mark.parametrize(("instruction", "open_"), [
    ("Is it possible to travel from New York to London without changing planes?", True),
    ("What is the difference between a class and an object in Python?", True),
    ("Can you explain the difference between an algorithm and a data structure?", True),
    ("How can I use NLP to analyze the sentiment of customer reviews?", True),
    ("Explain the difference between synchronous and asynchronous programming.", True),
    ("Write a function that checks whether a string is a palindrome.", True),
    ("What is the purpose of the OSI model in computer networking?", True),
    ("What are some common mistakes people make when ordering takeout food?", True),
    ("How would you classify this animal: mammal, bird or fish?", False),
    ("Is the given number prime?", False),
    ("Which planet is closest to the Sun?", False),
])  # fmt: skip
def test_open_tasks_are_told_by_their_opening(instruction, open_):
    assert open_task(instruction) is open_


def test_no_classification_seed_opens_as_an_open_task():
    seeds = [json.loads(line) for line in SEEDS.read_text().splitlines()]
    labels = [s["instruction"] for s in seeds if s["is_classification"]]
    assert len(labels) == 36 and not [t for t in labels if open_task(t)]
