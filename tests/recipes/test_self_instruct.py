"""Recipe self-instruct through the stage driver with an in-process fake teacher: what it asks, journals and keeps."""

from __future__ import annotations

from selfinstruct.recipes import RECIPES
from tests.conftest import FakeTeacher, drive

PROPOSAL = """1. Explain how a bicycle gear system works to a new rider.
2. Draw a picture of a lighthouse at dusk.
3. Classify the movie review as positive or negative.
4. Explain how a bicycle gear system works to a new rider.
5. Suggest three names for a bakery that sells sourdough bread.
6. Summarize this."""

INPUT_FIRST = """Example 1
Input: A rider on a steep hill.
Output: Shift to a lower gear so each pedal stroke moves the wheel less and takes less force.
"""
NAMES = """Example 1
Output: Crumb & Crust, The Rising Loaf, Wild Yeast Bakery
"""
OUTPUT_FIRST = """Class label: Positive
Input: A warm, funny film with a cast that clearly loved making it.
Class label: Negative
Input: Two hours of noise and a plot that never arrives.
"""



def test_self_instruct_filters_classifies_and_finishes_only_the_budget(tmp_path):
    teacher = FakeTeacher({
        "propose": [PROPOSAL],
        "classify": ["1. No\n2. Yes\n3. No"],
        "instances": [INPUT_FIRST, OUTPUT_FIRST, NAMES],
    })  # fmt: skip
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=3)
    state = pipeline.state
    assert pipeline.done == 3
    assert [teacher.count(s) for s in ("propose", "classify", "instances")] == [1, 1, 3]
    assert dict(state.rejected) == {"keyword:draw": 1, "near_duplicate": 1, "too_short": 1}
    kept = [c.instruction for c in state.kept.values()]
    assert kept == [
        "Explain how a bicycle gear system works to a new rider.",
        "Classify the movie review as positive or negative.",
        "Suggest three names for a bakery that sells sourdough bread.",
    ]
    # The classification task was asked output-first; the others input-first.
    instance_prompts = [p for stage, p, _ in teacher.asked if stage == "instances"]
    assert sum("Class label" in p[0].content for p in instance_prompts) == 1
    # Worked examples come as chat turns before the real task, which is the last user turn.
    assert all(p[-1].role == "user" and p[-1].content.startswith("Task: ") for p in instance_prompts)
    assert all(any(m.role == "assistant" for m in p) for p in instance_prompts)
    review = next(cid for cid, c in state.kept.items() if c.instruction.startswith("Classify"))
    assert state.classified[review].is_classification
    assert [i.output for i in state.completed[review].instances] == ["Positive", "Negative"]
    assert pipeline.machine == kept  # kept instructions become machine examples for later proposals
    rows = RECIPES["self-instruct"].rows(state, pipeline.cfg, pipeline.seeds)
    assert {r["instruction"] for r in rows} == set(kept)


def test_unreadable_verdicts_are_asked_again_one_at_a_time(tmp_path):
    teacher = FakeTeacher({
        "propose": [PROPOSAL],
        "classify": ["I think these are fine.", "No", "Yes, it is.", "no"],
        "instances": [INPUT_FIRST, OUTPUT_FIRST, NAMES],
    })  # fmt: skip
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=3)
    assert teacher.count("classify") == 4  # one batch, then each of the three alone
    verdicts = sorted(c.is_classification for c in pipeline.state.classified.values())
    assert verdicts == [False, False, True]


def test_a_label_borrowed_from_the_worked_example_is_dropped_and_the_task_asked_input_first(tmp_path):
    """A small teacher answered "Explain what a neural network is" with the example's sentiment labels."""
    teacher = FakeTeacher({
        "propose": ["1. Can you explain what a neural network is in simple terms?"],
        "classify": ["1. Yes"],  # wrongly: it is an explanation
        "instances": [
            "Class label: Positive\nInput: I love this product.\nClass label: Negative\nInput: It broke in a day.",
            "Example 1\nInput: <noinput>\nOutput: A neural network is a program made of many small connected units "
            "that learn patterns from examples by adjusting the strength of their connections.",
        ],
    })  # fmt: skip
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=1)
    (completed,) = pipeline.state.completed.values()
    assert [i.output for i in completed.instances][0].startswith("A neural network is a program")
    first_try_prompt = teacher.asked[2][1]
    assert "Class label" in first_try_prompt[0].content  # output-first was tried, and its labels were borrowed
    assert teacher.count("instances") == 2


def test_constrained_answers_are_asked_with_a_schema_and_read_as_json(tmp_path):
    teacher = FakeTeacher({
        "propose": [PROPOSAL],
        "classify": ['{"1": "No", "2": "Yes", "3": "No"}'],
        "instances": [
            '{"examples": [{"input": "A rider on a steep hill.", "output": "Shift to a lower gear to climb with less force."}]}',
            '{"examples": [{"label": "Positive", "input": "A warm, funny film."}, {"label": "Negative", "input": "Two hours of noise."}]}',
            '{"examples": [{"input": "", "output": "Crumb & Crust"}, {"input": "", "output": "The Rising Loaf"}, {"input": "", "out',
        ],
    })  # fmt: skip
    teacher.structured = "json_object"
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=3)
    assert pipeline.done == 3 and teacher.count("classify") == 1
    for stage, prompt, decoding in teacher.asked:
        if stage == "propose":
            assert decoding.json_schema is None  # the numbered list stays text
        else:
            assert decoding.json_schema is not None and decoding.json_schema["type"] == "object"
            # The worked examples' answers are shown in the same JSON the schema asks for.
            assert all(m.content.startswith("{") for m in prompt if m.role == "assistant")
            assert "Use exactly this format" not in prompt[0].content
    outputs = {c.instruction: [i.output for i in pipeline.state.completed[cid].instances] for cid, c in pipeline.state.kept.items()}
    assert outputs["Classify the movie review as positive or negative."] == ["Positive", "Negative"]
    assert outputs["Suggest three names for a bakery that sells sourdough bread."] == ["Crumb & Crust", "The Rising Loaf"]


def test_an_output_first_answer_with_one_label_is_asked_again_input_first(tmp_path):
    """"What does hello mean in Spanish?" judged a label task came back as the lone label "Greeting"."""
    teacher = FakeTeacher({
        "propose": ['1. What is the meaning of the word "hello" in Spanish?'],
        "classify": ["1. one label from a fixed set"],
        "instances": ["Class label: Greeting\nInput: <noinput>", "Example 1\nInput: <noinput>\nOutput: Hola."],
    })  # fmt: skip
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=1)
    (completed,) = pipeline.state.completed.values()
    assert [i.output for i in completed.instances] == ["Hola."]
    assert completed.dropped == [{"input": "", "output": "Greeting", "reason": "single_label"}]
    assert teacher.count("instances") == 2
