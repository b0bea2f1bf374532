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
    """A small teacher answered "Explain what a neural network is" with the example's sentiment labels.

    (Phrased so that its opening does not already mark it an open task, which would skip output-first.)"""
    teacher = FakeTeacher({
        "propose": ["1. In simple terms, what is a neural network?"],
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


def test_a_label_verdict_for_an_explanation_is_overruled_and_says_so(tmp_path):
    """"What is the difference between ...?" called a label task is asked input-first, and the journal says why."""
    teacher = FakeTeacher({
        "propose": ["1. What is the difference between a class and an object in Python?\n2. Classify the movie review as positive or negative."],
        "classify": ["1. one label from a fixed set\n2. one label from a fixed set"],
        "instances": [
            "Example 1\nInput: <noinput>\nOutput: A class is a blueprint; an object is one thing built from it.",
            "Class label: Positive\nInput: A warm, funny film.\nClass label: Negative\nInput: Two hours of noise.",
        ],
    })  # fmt: skip
    pipeline, run = drive(tmp_path, "self-instruct", teacher, budget=2)
    verdicts = {pipeline.state.kept[cid].instruction: v for cid, v in pipeline.state.classified.items()}
    explain = verdicts["What is the difference between a class and an object in Python?"]
    assert not explain.is_classification and explain.answer.startswith("open task, not a label: ")
    assert verdicts["Classify the movie review as positive or negative."].is_classification
    assert teacher.count("classify") == 1 and "open task, not a label" in (run.path / "journal.jsonl").read_text()


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


def test_the_quality_judge_drops_weak_instances_and_journals_every_score(tmp_path):
    """A sentiment label for "explain ..." scores 1 and goes; the instruction it empties is replaced by the next one."""
    teacher = FakeTeacher({
        "propose": ["1. Explain how a bicycle gear system works to a new rider.\n2. Suggest three names for a bakery that sells sourdough bread."],
        "classify": ["1. No\n2. No"],
        "instances": [
            "Example 1\nInput: <noinput>\nOutput: Neutral\nExample 2\nInput: A steep hill.\nOutput: Positive",
            NAMES,
        ],
        "quality": ["Reason: a bare label explains nothing.\nScore: 1", "Reason: a label again.\nScore: 2", "Reason: three good names.\nScore: 5"],
    })  # fmt: skip
    pipeline, run = drive(tmp_path, "self-instruct", teacher, budget=1, quality=True, min_quality=3)
    state = pipeline.state
    assert pipeline.done == 1 and teacher.count("quality") == 3
    gears, names = (state.completed[cid] for cid in state.kept)
    assert gears.instances == [] and gears.reason == "low_quality"
    assert [(d["output"], d["reason"], d["score"], d["judge_reason"]) for d in gears.dropped] == [
        ("Neutral", "low_quality", 1, "a bare label explains nothing."),
        ("Positive", "low_quality", 2, "a label again."),
    ]
    assert [i.output for i in names.instances] == ["Crumb & Crust, The Rising Loaf, Wild Yeast Bakery"]
    assert [(n.score, n.reason) for n in names.quality] == [(5, "three good names.")]
    # The journal holds the same, so a resumed run and `report` see every score.
    journal = (run.path / "journal.jsonl").read_text()
    assert journal.count('"low_quality"') == 3 and '"three good names."' in journal
    from selfinstruct.stages.quality_gate import gate_counts

    assert gate_counts(state) == {"scored": 3, "kept": 1, "dropped": 2, "unreadable_kept": 0, "instructions_emptied": 1,
                                  "against_reference": 0, "against_own_answer": 0}  # fmt: skip


def test_an_unreadable_quality_verdict_keeps_the_instance(tmp_path):
    teacher = FakeTeacher({
        "propose": ["1. Suggest three names for a bakery that sells sourdough bread."],
        "classify": ["1. No"],
        "instances": [NAMES],
        "quality": ["I like it a lot.", "Hmm."],
    })  # fmt: skip
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=1, quality=True)
    (completed,) = pipeline.state.completed.values()
    assert len(completed.instances) == 1 and completed.quality[0].score is None
    assert completed.quality[0].reason.startswith("unreadable")


def test_classification_requests_are_topped_up_from_the_queue(tmp_path):
    """With the budget gap at 1, a request still judges --classify-batch instructions, so replacements need none."""
    proposal = "\n".join(f"{i}. {t}" for i, t in enumerate([
        "Explain how a bicycle gear system works to a new rider.",
        "Suggest three names for a bakery that sells sourdough bread.",
        "Write a short thank-you note to a neighbour who watered the plants.",
        "List four ways to keep a kitchen sponge from smelling.",
        "Describe the water cycle for a ten-year-old.",
    ], 1))  # fmt: skip
    teacher = FakeTeacher({
        "propose": [proposal],
        "classify": ["1. No\n2. No\n3. No\n4. No\n5. No"],
        # The first two come back unusable (an echo of the prompt's own wording), the third is fine.
        "instances": ["Example 1\nInput: <noinput>\nOutput:", "Example 1\nInput: <noinput>\nOutput:", NAMES],
    })  # fmt: skip
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=1, classify_batch=5)
    assert pipeline.done == 1
    assert teacher.count("classify") == 1 and len(pipeline.state.classified) == 5
    assert teacher.count("instances") == 3


def test_a_short_queue_waits_for_the_proposals_on_their_way(tmp_path):
    """Proposals that keep 3 instructions each still give classification requests of --classify-batch."""
    tasks = [
        "Explain how a bicycle gear system works to a new rider.",
        "Suggest three names for a bakery that sells sourdough bread.",
        "Write a short thank-you note to a neighbour who watered the plants.",
        "List four ways to keep a kitchen sponge from smelling.",
        "Describe the water cycle for a ten-year-old.",
        "Give a packing list for a two-day hike in the rain.",
    ]
    proposals = ["\n".join(f"{i}. {t}" for i, t in enumerate(tasks[k : k + 3], 1)) for k in (0, 3)]
    teacher = FakeTeacher({
        "propose": proposals,
        "classify": ["1. No\n2. No\n3. No\n4. No\n5. No"],
        "instances": [INPUT_FIRST] * 5,
    })  # fmt: skip
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=5, classify_batch=5)
    assert pipeline.done == 5
    # Before: a request for the first proposal's 3, then one for the next 2.
    assert teacher.count("propose") == 2 and teacher.count("classify") == 1
    assert len(pipeline.state.classified) == 5


def test_the_verifiers_drop_wrong_instances_before_the_gate_and_journal_why(tmp_path):
    proposal = "1. Rewrite the following sentence in the passive voice.\n2. Write a Python function that returns the average of a list of numbers."
    code = """Example 1
Output: ```python
def average(xs):
    return sum(xs) / len(xs)

print(average([]))
```
Example 2
Output: ```python
def average(xs):
    return sum(xs) / len(xs) if xs else 0.0

print(average([2, 4]))
```
It prints:
```
3.0
```
"""
    passive = "Example 1\nOutput: The ball was thrown by the boy.\n"
    teacher = FakeTeacher({"propose": [proposal], "classify": ["1. No\n2. No"], "instances": [passive, code]})
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=1)
    state = pipeline.state
    sentence, average = (state.completed[cid] for cid in state.kept)
    assert [i.output.splitlines()[1] for i in average.instances] == ["def average(xs):"]
    assert [(d["reason"], d["detail"]) for d in average.dropped] == [("code_error", "ZeroDivisionError: division by zero (line 2)")]
    assert average.checks == {"python_parsed": 1, "python_ran": 1, "python_output_matched": 1}
    # Nothing to rewrite was given: the whole task goes, and is replaced like any other.
    assert sentence.instances == [] and sentence.reason == "needs_input" and sentence.dropped[0]["reason"] == "needs_input"
    assert pipeline.done == 1


def test_with_no_verifiers_nothing_is_checked(tmp_path):
    proposal = "1. Rewrite the following sentence in the passive voice."
    teacher = FakeTeacher({"propose": [proposal], "classify": ["1. No"], "instances": ["Example 1\nOutput: The ball was thrown.\n"]})
    pipeline, _ = drive(tmp_path, "self-instruct", teacher, budget=1, verifiers=False)
    assert pipeline.done == 1 and pipeline.verifier is None
