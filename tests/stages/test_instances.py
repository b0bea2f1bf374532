"""Parsing input-first and output-first instance responses, including messy ones."""

import json

import pytest

from selfinstruct.recipes import all_templates
from selfinstruct.records import Instance
from selfinstruct.stages.instances import (
    build_instances_prompt,
    demonstration_text,
    instances_schema,
    parse_input_first,
    parse_output_first,
    read_instances,
    worked_labels,
)
from selfinstruct.templates import Templates


def test_input_first_examples():
    text = "Example 1\nInput: 3 + 4\nOutput: 7\nExample 2\nInput: 10 - 2\nOutput: 8"
    assert parse_input_first(text, False) == [Instance(input="3 + 4", output="7"), Instance(input="10 - 2", output="8")]


def test_input_first_noinput_multiline_and_markdown():
    text = "**Example 1:**\nInput: <noinput>\nOutput: Line one.\nLine two.\n\n**Example 2:**\nInput: N/A\nOutput: Another answer."
    assert parse_input_first(text, False) == [
        Instance(input="", output="Line one.\nLine two."),
        Instance(input="", output="Another answer."),
    ]


def test_input_first_without_example_headers():
    text = "Input: red\nOutput: A warm color.\nInput: blue\nOutput: A cool color."
    assert parse_input_first(text, False) == [Instance(input="red", output="A warm color."), Instance(input="blue", output="A cool color.")]


def test_input_first_output_only():
    assert parse_input_first("Output: Bread & Butter Bakery", False) == [Instance(input="", output="Bread & Butter Bakery")]


def test_input_first_truncated_drops_last():
    text = "Example 1\nInput: a\nOutput: b\nExample 2\nInput: c\nOutput: d is cut"
    assert parse_input_first(text, True) == [Instance(input="a", output="b")]


def test_input_first_stops_at_an_invented_next_task():
    text = "Example 1\nInput: x\nOutput: y\n\nTask: Something else entirely.\nExample 1\nInput: p\nOutput: q"
    assert parse_input_first(text, False) == [Instance(input="x", output="y")]


def test_output_first_labels_become_outputs():
    text = "Class label: Positive\nInput: I love it.\nClass label: Negative\nInput: It broke.\n"
    assert parse_output_first(text, False) == [Instance(input="I love it.", output="Positive"), Instance(input="It broke.", output="Negative")]


def test_output_first_label_without_input_is_skipped():
    assert parse_output_first("Class label: Spam\nClass label: Not spam\nInput: Lunch at noon?", False) == [
        Instance(input="Lunch at noon?", output="Not spam")
    ]


def test_prompt_choice_by_classification():
    templates = Templates(None, all_templates())
    clf, gen = build_instances_prompt(templates, "Is it spam?", True, 5), build_instances_prompt(templates, "Name a dog.", False, 5)
    assert "Class label:" in clf[0].content and "Class label:" not in "".join(m.content for m in gen)
    assert clf[-1].content == "Task: Is it spam?" and gen[-1].content == "Task: Name a dog."
    # Worked examples are user/assistant turns before the real task.
    assert [m.role for m in gen] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert "Task: Is it spam?" not in demonstration_text(clf) and "Class label: Positive" in demonstration_text(clf)


def test_structured_prompts_show_their_examples_as_json():
    clf = build_instances_prompt(Templates(None, all_templates()), "Is it spam?", True, 5, structured=True)
    first = json.loads(clf[2].content)
    assert first["examples"][0] == {"label": "Positive", "input": "The blender is quiet, powerful and easy to clean. Best purchase this year."}
    gen = build_instances_prompt(Templates(None, all_templates()), "Name a dog.", False, 5, structured=True)
    assert json.loads(gen[2].content)["examples"][0] == {"input": "25 degrees Celsius", "output": "77 degrees Fahrenheit"}
    assert json.loads(gen[4].content)["examples"][0]["input"] == ""  # <noinput> becomes an empty input
    assert instances_schema(True)["properties"]["examples"]["items"]["required"] == ["label", "input"]


def test_json_answers_are_read_into_instances_and_a_cut_off_one_keeps_its_complete_examples():
    text = '{"examples": [{"input": "2 + 2", "output": "4"}, {"input": "3 + 5", "output": "8"}, {"input": "7 +'
    assert read_instances(text, False, True) == [Instance(input="2 + 2", output="4"), Instance(input="3 + 5", output="8")]
    labeled = '{"examples": [{"label": "Spam", "input": "Win now!"}, {"label": "Not spam", "input": "<noinput>"}]}'
    assert read_instances(labeled, True, False) == [Instance(input="Win now!", output="Spam"), Instance(input="", output="Not spam")]
    assert read_instances("Example 1\nInput: a\nOutput: b", False, False) == [Instance(input="a", output="b")]  # text still read


def test_worked_labels_name_each_example_task_and_its_labels():
    pairs = worked_labels(build_instances_prompt(Templates(None, all_templates()), "Is it spam?", True, 5))
    assert pairs[0] == ("Classify the sentiment of the product review as positive or negative.", ["Positive", "Negative"])
    assert [labels for _, labels in pairs[1:]] == [["Even", "Odd"], ["French", "Spanish", "English"]]


def test_an_echo_of_the_task_before_the_examples_is_skipped():
    text = "Task: Convert Celsius to Fahrenheit.\nExample 1\nInput: 0 C\nOutput: 32 F"
    assert parse_input_first(text, False) == [Instance(input="0 C", output="32 F")]


def test_output_first_answered_in_input_output_form_is_still_read():
    text = "Input: Win a free cruise now!!!\nOutput: Spam\nInput: Lunch at noon?\nOutput: Not spam"
    assert parse_output_first(text, False) == [
        Instance(input="Win a free cruise now!!!", output="Spam"),
        Instance(input="Lunch at noon?", output="Not spam"),
    ]


@pytest.mark.parametrize("leak", ["Task 2", "Task 2:", "### Task", "## Instruction", "Instruction: Convert 5 km to miles.",
                                  "Task 1\nInput: x\nOutput: y"])  # fmt: skip
def test_the_parser_stops_at_a_leaked_next_task(leak):
    """Seen on a real 0.5B run: an output ending in "\\n\\nTask 1" and the start of another task."""
    text = f"Example 1\nInput: 3 + 4\nOutput: 7\n\n{leak}\nInput: 2 + 2\nOutput: 4"
    assert parse_input_first(text, False) == [Instance(input="3 + 4", output="7")]
    labeled = f"Class label: Odd\nInput: 7\nClass label: Even\nInput: 4\n\n{leak}"
    assert parse_output_first(labeled, False) == [Instance(input="7", output="Odd"), Instance(input="4", output="Even")]


def test_the_parser_stops_at_an_example_past_the_ones_asked_for():
    text = "Example 1\nInput: a\nOutput: b\nExample 2\nInput: c\nOutput: d\nExample 3\nInput: e\nOutput: f"
    assert read_instances(text, False, False, limit=2) == [Instance(input="a", output="b"), Instance(input="c", output="d")]
    assert len(read_instances(text, False, False)) == 3


def test_task_words_inside_an_answer_are_kept():
    text = "Example 1\nInput: <noinput>\nOutput: Task lists help.\nTask lists help you plan the week."
    assert parse_input_first(text, False) == [Instance(input="", output="Task lists help.\nTask lists help you plan the week.")]
