"""Proposal parsing on what real small models return, and reproducible example sampling."""

import random

from selfinstruct.recipes import all_templates
from selfinstruct.records import Instance, SeedTask
from selfinstruct.stages.propose import (
    build_alpaca_prompt,
    build_propose_prompt,
    parse_alpaca_tasks,
    parse_numbered_list,
    sample_examples,
)
from selfinstruct.templates import Templates


def test_plain_numbered_list():
    text = "1. Explain photosynthesis to a child.\n2. List three uses of vinegar.\n3. Suggest a name for a cat."
    assert parse_numbered_list(text, truncated=False) == [
        "Explain photosynthesis to a child.",
        "List three uses of vinegar.",
        "Suggest a name for a cat.",
    ]


def test_renumbered_and_skipped_items_are_all_kept():
    text = "9. First task here please.\n10. Second task here please.\n14. Third task here please.\n3. Fourth task here please."
    assert len(parse_numbered_list(text, truncated=False)) == 4


def test_nested_numbering_prefix_is_stripped():
    text = "1. 1.5. Describe the water cycle in detail.\n2. 2) Name two prime numbers above fifty."
    assert parse_numbered_list(text, truncated=False) == [
        "Describe the water cycle in detail.",
        "Name two prime numbers above fifty.",
    ]


def test_chatter_before_and_after_the_list_is_ignored():
    text = (
        "Sure! Here are some new tasks for you:\n\n"
        "1. Give a synonym for the word happy.\n"
        "2. Explain what inflation means.\n\n"
        "Let me know if you need more tasks!"
    )
    assert parse_numbered_list(text, truncated=False) == ["Give a synonym for the word happy.", "Explain what inflation means."]


def test_wrapped_lines_join_their_item():
    text = "1. Write a short story about a lighthouse keeper\n   who discovers a message in a bottle.\n2. Explain gravity to a child."
    items = parse_numbered_list(text, truncated=False)
    assert items[0] == "Write a short story about a lighthouse keeper who discovers a message in a bottle."
    assert len(items) == 2


def test_truncated_response_loses_only_its_last_item():
    text = "1. Explain how vaccines work.\n2. Suggest a weekend plan for a family.\n3. Describe the taste of a mango to someo"
    assert parse_numbered_list(text, truncated=True) == ["Explain how vaccines work.", "Suggest a weekend plan for a family."]
    assert len(parse_numbered_list(text, truncated=False)) == 3


def test_labels_quotes_markdown_and_task_prefixes():
    text = '**1.** "Summarize the plot of Hamlet."\nTask 2: Instruction: Translate good morning into French.\n- Name a mammal that lays eggs.'
    assert parse_numbered_list(text, truncated=False) == [
        "Summarize the plot of Hamlet.",
        "Translate good morning into French.",
        "Name a mammal that lays eggs.",
    ]


def test_a_kind_of_task_named_before_the_instruction_is_stripped():
    """Seen from the packaged 0.5B teacher: each instruction under a label naming its kind, or quoted after "Instructions:"."""
    text = (
        '1. Instructions: "Who wrote Pride and Prejudice? "\n2. Classification task: Classify the text into science or history.\n'
        "3. Information extraction task: Extract every date from the text.\n4. Math task: Add the two numbers.\n"
        "5. Describe the task: why does ice float?"
    )
    assert parse_numbered_list(text, truncated=False) == [
        "Who wrote Pride and Prejudice?",
        "Classify the text into science or history.",
        "Extract every date from the text.",
        "Add the two numbers.",
        "Describe the task: why does ice float?",  # "the task": part of the instruction, not a label
    ]


def test_numbers_inside_an_instruction_are_kept():
    assert parse_numbered_list("1. What is 2.5 times 4?", truncated=False) == ["What is 2.5 times 4?"]


def test_no_list_gives_nothing():
    assert parse_numbered_list("I cannot help with that request.", truncated=False) == []


def test_sampling_is_reproducible_and_mixes_machine_tasks():
    seeds = [f"seed {i}" for i in range(50)]
    machine = [f"machine {i}" for i in range(10)]
    a = sample_examples(random.Random("42:3"), seeds, machine, 6, 2)
    b = sample_examples(random.Random("42:3"), seeds, machine, 6, 2)
    assert a == b and len(a) == 8
    assert sum(x.startswith("machine") for x in a) == 2


def test_sampling_fills_with_seeds_before_machine_tasks_exist():
    picked = sample_examples(random.Random(1), [f"seed {i}" for i in range(20)], [], 6, 2)
    assert len(picked) == 8 and all(x.startswith("seed") for x in picked)


def test_prompt_puts_fixed_text_first():
    templates = Templates(None, all_templates())
    a = build_propose_prompt(templates, ["Do A thing now.", "Do B thing now."], 20)
    b = build_propose_prompt(templates, ["Do C thing now.", "Do D thing now."], 20)
    common = 0
    while a[common] == b[common]:
        common += 1
    assert common > len(a) * 0.7, "the varying examples should come last"
    assert "1. Do A thing now." in a and "20" in a


def test_alpaca_parsing_with_noinput_and_truncation():
    text = (
        "###\n1. Instruction: Give three tips for staying healthy.\n1. Input:\n<noinput>\n1. Output:\n"
        "Eat well.\nSleep enough.\nExercise.\n"
        "###\n2. Instruction: Classify the sentiment of the review.\n2. Input:\nThe food was cold.\n2. Output:\nNegative\n"
        "###\n3. Instruction: Summarize the text.\n3. Input:\nA long te"
    )
    pairs = parse_alpaca_tasks(text, truncated=True)
    assert [p[0] for p in pairs] == ["Give three tips for staying healthy.", "Classify the sentiment of the review."]
    assert pairs[0][1] == Instance(input="", output="Eat well.\nSleep enough.\nExercise.")
    assert pairs[1][1] == Instance(input="The food was cold.", output="Negative")


def test_alpaca_prompt_shows_input_and_output():
    seed = SeedTask(id="s", instruction="Add the numbers.", instances=[Instance(input="2, 3", output="5")])
    prompt = build_alpaca_prompt(Templates(None, all_templates()), [seed], 20)
    assert "1. Instruction: Add the numbers.\n1. Input:\n2, 3\n1. Output:\n5" in prompt
