"""Instruction and instance filters: each rule, its boundary, and the ROUGE-L threshold exactly."""

import pytest
from rouge_score import rouge_scorer

from selfinstruct.records import Instance
from selfinstruct.rouge import RougeIndex
from selfinstruct.stages.filters import (
    cheap_reason,
    filter_instances,
    filter_instruction,
    foreign_labels,
    states_its_label,
)


@pytest.mark.parametrize(
    "text,reason",
    [
        ("Explain this now", "too_short"),
        ("Explain this right now", None),
        (" ".join(["word"] * 150), None),
        (" ".join(["word"] * 151), "too_long"),
        ("Describe the image in detail please.", "keyword:image"),
        ("Summarize these FILES for me please.", "keyword:files"),
        ("Please go to the store and report back.", "keyword:go to"),
        ("Plot the data over time for me.", "keyword:plot"),
        ("Explain the mapping between keys and values.", None),  # "map" only as a whole word
        ("Describe the imagery in the poem briefly.", None),
        ("Write a program that prints prime numbers.", "write_a_program"),
        ("write a program to add two numbers together", "write_a_program"),
        ('"Quoted" instruction that starts with punctuation.', "starts_with_punctuation"),
        ("Écris une phrase sur la mer, s'il te plaît.", "non_ascii_start"),
    ],
)
def test_cheap_rules(text, reason):
    assert cheap_reason(text) == reason


def test_non_ascii_start_allowed_when_asked():
    assert cheap_reason("Écris une phrase sur la mer.", allow_non_ascii=True) is None


def test_keywords_beat_duplicates_and_kept_ones_join_the_pool():
    pool = RougeIndex()
    pool.add("Explain how rainbows form in the sky after rain.")
    assert filter_instruction("Explain how rainbows form in the sky after rain.", pool).reason == "near_duplicate"
    first = filter_instruction("Suggest five names for a friendly robot dog.", pool)
    assert first.reason is None
    # a duplicate inside the same batch is caught because kept instructions join at once
    second = filter_instruction("Suggest five names for a friendly robot cat.", pool)
    assert second.reason == "near_duplicate"
    assert second.most_similar == "Suggest five names for a friendly robot dog."
    assert second.score == pytest.approx(0.875)


def _f(a, b):
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score(a, b)["rougeL"].fmeasure


def test_exactly_point_seven_is_kept():
    # LCS 7 of 10 and 10 tokens: F = 0.7 exactly (as the scorer computes it)
    kept = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    cand = "alpha beta gamma delta epsilon zeta eta one two three"
    assert _f(kept, cand) == 0.7
    pool = RougeIndex()
    pool.add(kept)
    assert filter_instruction(cand, pool).reason is None


def test_float_rounding_above_point_seven_is_a_duplicate():
    # LCS 7 between 9 and 11 tokens: algebraically 0.7, but the scorer says 0.7000000000000001
    kept = "a1 a2 a3 a4 a5 a6 a7 b1 b2"
    cand = "a1 a2 a3 a4 a5 a6 a7 c1 c2 c3 c4"
    assert _f(kept, cand) > 0.7
    pool = RougeIndex()
    pool.add(kept)
    assert filter_instruction(cand, pool).reason == "near_duplicate"


def test_instance_rules():
    kept, dropped, reason = filter_instances(
        [
            Instance(input="", output=""),
            Instance(input="same", output="same"),
            Instance(input="x", output="The answer is:"),
            Instance(input="2+2", output="4"),
            Instance(input="2+2", output="4"),
        ]
    )
    assert reason is None
    assert kept == [Instance(input="2+2", output="4")]
    assert [d["reason"] for d in dropped] == ["empty_output", "output_equals_input", "output_ends_with_colon", "repeated_instance"]


def test_a_rewrite_that_gives_its_input_back_is_dropped():
    """A make demo row: "Rewrite the following sentence to make it more concise and clear." answered with the input
    and a full stop. Other tasks may change only the closing punctuation or the case, and keep such outputs."""
    fox = "The quick brown fox jumps over the lazy dog"
    rewrite = "Rewrite the following sentence to make it more concise and clear."
    for out in (fox + ".", f'"{fox}"', fox + " "):
        _, dropped, _ = filter_instances([Instance(input=fox, output=out)], instruction=rewrite)
        assert [d["reason"] for d in dropped] == ["output_equals_input"], out
    for instruction, out in (("Add the missing full stop to this sentence.", fox + "."), (rewrite, fox.lower() + "."),
                             ("Paraphrase this sentence.", "A fast brown fox leaps over a lazy dog.")):  # fmt: skip
        kept, dropped, _ = filter_instances([Instance(input=fox, output=out)], instruction=instruction)
        assert kept and not dropped, (instruction, out)


def test_one_input_two_outputs_drops_the_task():
    kept, _, reason = filter_instances([Instance(input="3*3", output="9"), Instance(input="3*3", output="6")])
    assert kept == [] and reason == "conflicting_outputs"


def test_no_input_tasks_may_have_several_answers():
    kept, _, reason = filter_instances([Instance(input="", output="Rise & Crumb"), Instance(input="", output="Daily Loaf")])
    assert reason is None and len(kept) == 2


def test_nothing_valid_is_a_reason():
    assert filter_instances([Instance(input="", output=" ")])[2] == "no_valid_instances"


DEMO = "Task: Convert the temperature.\nExample 1\nInput: 25 degrees Celsius\nOutput: 77 degrees Fahrenheit\nClass label: Positive\n" \
       "Task: Suggest a bakery name.\nExample 1\nInput: <noinput>\nOutput: Rise & Crumb Sourdough House\n"


def test_instances_copied_from_the_prompt_examples_are_dropped():
    kept, dropped, reason = filter_instances(
        [
            Instance(input="25 degrees Celsius", output="77 degrees Fahrenheit"),
            Instance(input="", output="Rise & Crumb Sourdough House"),
            Instance(input="I loved every minute of it.", output="Positive"),  # a real answer may share a label
            Instance(input="How far is the moon?", output="About 384,400 km."),
        ],
        demonstrations=DEMO,
    )
    assert [d["reason"] for d in dropped] == ["copied_demonstration", "copied_demonstration"]
    assert [k.output for k in kept] == ["Positive", "About 384,400 km."]


def test_quoted_copies_are_caught_too():
    _, dropped, _ = filter_instances([Instance(input='"25 degrees Celsius"', output='"77 degrees Fahrenheit"')], demonstrations=DEMO)
    assert dropped[0]["reason"] == "copied_demonstration"


WORKED = [
    ("Classify the sentiment of the product review as positive or negative.", ["Positive", "Negative"]),
    ("Is the given number even or odd?", ["Even", "Odd"]),
]


def test_labels_of_an_unrelated_worked_example_are_foreign():
    assert foreign_labels("Can you explain what a neural network is in simple terms?", WORKED) == {"positive", "negative", "even", "odd"}
    # A task on the example's own subject may use its labels; a label the task names is never foreign.
    assert foreign_labels("Classify the sentiment of this tweet.", WORKED) == {"even", "odd"}
    assert foreign_labels("Is the review positive or mixed?", WORKED) == {"even", "odd"}
    assert "even" not in foreign_labels("Will the weather be even or stormy?", WORKED)


def test_a_borrowed_label_is_dropped_with_its_reason():
    instances = [Instance(input="I love it.", output="Positive"), Instance(input="It broke.", output="Negative.")]
    kept, dropped, reason = filter_instances(instances, "", {"positive", "negative"})
    assert kept == [] and reason == "no_valid_instances"
    assert [d["reason"] for d in dropped] == ["borrowed_label", "borrowed_label"]
    kept, _, reason = filter_instances(instances, "", set())
    assert len(kept) == 2 and reason is None


@pytest.mark.parametrize(("inp", "label", "states"), [
    # Seen in a demo run of the 1.5B: one statement per label, for questions with one right answer.
    ("Yes, it is possible to travel from New York to London without changing planes.", "Yes", True),
    ("No, it is not possible to create a program that generates a random number.", "No", True),
    ("A class is a blueprint for creating objects.", "Class", True),
    ("An object is an instance of a class.", "Object.", True),
    ("True. Water boils at 100 degrees Celsius at sea level.", "True", True),
    # Inputs that only contain their label, or open with a word that merely starts like it.
    ("table, run, quickly, blue, happily", "table", False),
    ("9, 5", "9", False),
    ("Yesterday the delivery was late again.", "Yes", False),
    ("No one answered my email for a week.", "No", False),
    ("The chemical symbol for silver is Ag.", "Ag", False),
    ("I love this phone, the battery lasts two days.", "Positive", False),
])  # fmt: skip
def test_an_input_that_states_its_own_label(inp, label, states):
    assert states_its_label(inp, label) is states


def test_output_first_instances_that_state_their_label_are_dropped_with_their_reason():
    instances = [
        Instance(input="Yes, it is possible to travel from New York to London without changing planes.", output="Yes"),
        Instance(input="No, it is not possible to travel from New York to London without changing planes.", output="No"),
    ]
    kept, dropped, reason = filter_instances(instances, output_first=True)
    assert kept == [] and reason == "no_valid_instances"
    assert [d["reason"] for d in dropped] == ["input_states_label", "input_states_label"]
    # Input-first instances are answers to their input, which may well open with "Yes,".
    kept, _, reason = filter_instances(instances)
    assert len(kept) == 2 and reason is None
