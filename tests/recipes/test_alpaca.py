"""Recipe alpaca through the stage driver with an in-process fake teacher: complete tasks in, filtered rows out."""

from __future__ import annotations

from selfinstruct.recipes import RECIPES
from tests.conftest import FakeTeacher, drive


def test_alpaca_tasks_arrive_complete_and_need_no_further_requests(tmp_path):
    answer = """###
1. Instruction: Convert 100 degrees Fahrenheit to Celsius.
1. Input:
<noinput>
1. Output:
100 degrees Fahrenheit is about 37.8 degrees Celsius.
###
2. Instruction: Give the plural of the word below.
2. Input:
mouse
2. Output:
mice
###
3. Instruction: Repeat the word below exactly as it is.
3. Input:
echo
3. Output:
echo"""
    teacher = FakeTeacher({"propose": [answer]})
    pipeline, run = drive(tmp_path, "alpaca", teacher, budget=2)
    assert teacher.count("propose") == 1 and len(teacher.asked) == 1
    assert pipeline.done == 2
    assert dict(pipeline.state.rejected) == {"no_valid_instances": 1}  # "echo" -> "echo" echoes its input
    rows = RECIPES["alpaca"].rows(pipeline.state, pipeline.cfg, pipeline.seeds)
    assert rows[0] == {"instruction": "Convert 100 degrees Fahrenheit to Celsius.", "input": "", "output": "100 degrees Fahrenheit is about 37.8 degrees Celsius."}
    assert rows[1] == {"instruction": "Give the plural of the word below.", "input": "mouse", "output": "mice"}


def test_with_the_quality_judge_a_kept_task_is_scored_before_it_is_complete(tmp_path):
    answer = """###
1. Instruction: Name the first president of the United States.
1. Input:
<noinput>
1. Output:
Abraham Lincoln
###
2. Instruction: Give the plural of the word below.
2. Input:
mouse
2. Output:
mice"""
    teacher = FakeTeacher({
        "propose": [answer],
        "quality": ["Reason: wrong, it was George Washington.\nScore: 1", "Reason: correct plural.\nScore: 5"],
    })  # fmt: skip
    pipeline, _ = drive(tmp_path, "alpaca", teacher, budget=1, quality=True)
    state = pipeline.state
    assert pipeline.done == 1 and teacher.count("quality") == 2
    president, plural = (state.completed[cid] for cid in state.kept)
    assert president.instances == [] and president.reason == "low_quality" and president.dropped[0]["score"] == 1
    rows = RECIPES["alpaca"].rows(state, pipeline.cfg, pipeline.seeds)
    assert rows == [{"instruction": "Give the plural of the word below.", "input": "mouse", "output": "mice"}]


def test_a_task_whose_instance_fails_a_verifier_is_rejected_before_rouge(tmp_path):
    answer = """###
1. Instruction: What is 15% of 80?
1. Input:
<noinput>
1. Output:
15% of 80 is 14.
###
2. Instruction: Write a Python line that prints the squares of 1 to 3.
2. Input:
<noinput>
2. Output:
```python
print([n * n for n in range(1, 4)])
```
###
3. Instruction: What is 15 percent of 80 dollars?
3. Input:
<noinput>
3. Output:
12 dollars."""
    teacher = FakeTeacher({"propose": [answer]})
    pipeline, run = drive(tmp_path, "alpaca", teacher, budget=2)
    state = pipeline.state
    assert pipeline.done == 2 and dict(state.rejected) == {"wrong_arithmetic": 1}
    rejected = [c for c in run.path.joinpath("journal.jsonl").read_text().splitlines() if '"rejected"' in c]
    assert '"detail":"15% of 80 = 12, the output says 14"' in rejected[0]
    # The wrong answer never joined the ROUGE-L pool, so the right one to a similar task was kept.
    assert [c.instruction for c in state.kept.values()][1] == "What is 15 percent of 80 dollars?"
    squares = next(iter(state.completed.values()))
    assert squares.checks == {"python_parsed": 1, "python_ran": 1}
