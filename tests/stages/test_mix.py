"""The task mix: the kinds of the shipped seeds, what a proposed task is taken for, the allowances, and a run's mix."""

from __future__ import annotations

import json
import random
from pathlib import Path

from selfinstruct.cli import app
from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.recipes import self_instruct
from selfinstruct.recipes.self_instruct import proposal_prompt
from selfinstruct.records import Instance, read_seed_tasks
from selfinstruct.stages.mix import (
    GAVE_WAY,
    INPUT_NOTE,
    MixPlan,
    predicted,
    seed_mix,
    task_kind,
    without_inline_material,
)
from selfinstruct.templates import Templates
from tests.conftest import SEEDS, mock_args

SHIPPED = Path(__file__).parents[2] / "seed_tasks" / "seed_tasks.jsonl"


def test_the_shipped_seeds_mix() -> None:
    mix = seed_mix(read_seed_tasks(SHIPPED))
    assert mix.total == 197 and mix.kinds == {"code": 19, "classification": 35, "with_input": 40, "open": 103} and mix.with_input == 71


def test_kinds_of_tasks() -> None:
    assert task_kind("Generate a list of 10 random numbers.", [Instance(output="```python\nimport random\nprint(1)\n```")], False) == "code"
    assert task_kind("Explain recursion to a child.", [Instance(output="It is ...")], False) == "code"  # about programming
    assert task_kind("Classify the review as positive or negative.", [Instance(input="Great!", output="Positive")], True) == "classification"
    assert task_kind("Summarize the text.", [Instance(input="Cats sleep a lot.", output="Cats sleep.")], False) == "with_input"
    assert task_kind("Write a poem about rain.", [Instance(output="Rain falls.")], False) == "open"
    assert [predicted(i) for i in ("Write a Python function that adds two numbers.", "Summarize the following article.",
                                   "Classify each animal as a mammal or a bird.", "Why is the sky blue?")] == ["code", "input", "input", "other"]  # fmt: skip
    # Proposed by the packaged 1.5B when asked for tasks on an input: they point at it, with words after.
    assert predicted("Translate this sentence into French.") == predicted("Is this review positive or negative?") == "input"


def test_material_written_into_an_instruction_is_cut_off() -> None:
    """Proposed by the packaged 1.5B in a demo run, each finished without an input of its own."""
    assert without_inline_material('Translate this paragraph into French: "The sky is blue today."') == "Translate this paragraph into French."
    assert without_inline_material("Convert this list into a numbered list: [apple, banana, cherry].") == "Convert this list into a numbered list."
    assert without_inline_material('Is this review positive or negative: "Great food!"') == "Is this review positive or negative?"
    assert without_inline_material('Write a poem titled "Rain".') == 'Write a poem titled "Rain".'  # points at no material
    plan = MixPlan(read_seed_tasks(SHIPPED), budget=20)
    plan.count("Translate this paragraph into French.")
    plan.settle("Translate this paragraph into French.", has_input=False)  # finished without one after all
    assert (plan.kept["input"], plan.kept["other"]) == (0, 1)


def test_allowances_follow_the_seeds_and_the_budget() -> None:
    plan = MixPlan(read_seed_tasks(SHIPPED), budget=20)
    # Code: 9.6% + 10 points of 20 is 3.9 tasks; no input: 20 less 36.0% - 10 points of 20 (5.2, so 6) kept for tasks with one.
    assert (plan.code_allowance, plan.no_input_allowance) == (3, 14)
    for _ in range(3):
        assert plan.admit("Write a Python function that reverses a string.") is None
        plan.count("Write a Python function that reverses a string.")
    assert plan.admit("Implement a stack in Java.").startswith("code: 3 of 3 kept")
    for _ in range(11):
        plan.count("Why is the sky blue?")
    assert plan.admit("How do tides work?").startswith("no input: 14 of 14 kept")
    assert plan.admit("Summarize the following article.") is None
    plan.count("How do tides work?", -1)  # an instruction that finished with nothing frees its place
    assert plan.admit("How do tides work?") is None


def test_a_task_taken_for_one_without_an_input_that_came_with_one_counts_as_with() -> None:
    """As summary.json's mix counts it: the bench's mock wrote inputs for 72% of its open tasks while the plan held them all
    as without, and rejected 5,491 proposals as 'no input' full."""
    plan = MixPlan(read_seed_tasks(SHIPPED), budget=20)
    for _ in range(14):
        plan.count("Why is the sky blue?")
    assert plan.admit("How do tides work?") is not None
    plan.settle("Why is the sky blue?", has_input=True)
    assert (plan.kept["other"], plan.kept["input"]) == (13, 1) and plan.admit("How do tides work?") is None


def _full_plan() -> MixPlan:
    """Budget 200 whose tasks without an input are full (147 of 147: 26.04% of 200 is kept for tasks with one), each judged and admitted."""
    plan = MixPlan(read_seed_tasks(SHIPPED), budget=200)
    assert plan.no_input_allowance == 147
    for i in range(plan.no_input_allowance):
        assert plan.judge(f"Why is the sky blue on day {i}?") is None
        plan.count("Why is the sky blue?")
    return plan


def test_the_mix_gives_way_when_the_teacher_keeps_proposing_a_full_kind() -> None:
    plan = _full_plan()
    verdicts = [plan.judge(f"How do tides work on day {i}?") for i in range(300)]
    rejected = [v for v in verdicts if v is not None]
    # 89 of the last 100 judged full is still steering; the 90th gives way, and it and everything after pass.
    assert len(rejected) == 89 and verdicts[:89] == rejected and all(v.startswith("no input: 147 of 147") for v in rejected)
    assert plan.gave_way is not None and plan.gave_way.startswith("90 of the last 100 proposed tasks were of a full kind (the last: no input: 147 of 147")
    assert plan.admit("How do tides work?") is not None  # the allowance is still full; only the judging gave way
    note = plan.note()
    assert note == GAVE_WAY + plan.gave_way and plan.note() is None  # on one kept instruction only
    resumed = MixPlan(read_seed_tasks(SHIPPED), budget=200)
    resumed.recall("code: 3 of 3 kept")
    resumed.recall(None)
    assert resumed.gave_way is None
    resumed.recall(note)
    assert resumed.gave_way == plan.gave_way and resumed.note() is None and resumed.judge("How do tides work?") is None


def test_a_teacher_that_proposes_the_needed_kind_stays_steered() -> None:
    """One task with an input in five proposed (the tests' mock proposes about that many classification tasks): the mix
    rejects the others for as long as the run goes on, and keeps every one it needs."""
    plan = _full_plan()
    for i in range(1000):
        if i % 5 == 4:
            assert plan.judge(f"Summarize the following article, number {i}.") is None
            plan.count("Summarize the following article.")
        else:
            assert plan.judge(f"How do tides work on day {i}?") is not None
    assert plan.gave_way is None and plan.kept["input"] == 200


def test_proposals_show_seeds_stratified_by_kind() -> None:
    seeds = read_seed_tasks(SHIPPED)
    plan = MixPlan(seeds, budget=20)
    kind_of = {s.instruction: task_kind(s.instruction, s.instances, s.is_classification) for s in seeds}
    shown = [kind_of[t] for r in range(300) for t in plan.sample_seeds(random.Random(r), 8)]
    share = {k: shown.count(k) / len(shown) for k in ("code", "classification", "with_input", "open")}
    assert abs(share["code"] - 19 / 197) < 0.03 and abs(share["open"] - 103 / 197) < 0.03
    for _ in range(3):
        plan.count("Write a Python function that reverses a string.")
    # Code is full, and nothing kept has an input yet: no code seeds, and the kinds with an input weigh double.
    shown = [kind_of[t] for r in range(300) for t in plan.sample_seeds(random.Random(r), 8)]
    assert "code" not in shown and shown.count("with_input") / len(shown) > 1.5 * 40 / 197


def test_proposals_ask_for_tasks_on_an_input_while_the_run_needs_them(tmp_path) -> None:
    seeds = read_seed_tasks(SHIPPED)
    cfg = GenerateConfig(seeds=SHIPPED, budget=20, out=tmp_path / "run")
    templates = Templates(None, self_instruct.TEMPLATES, "English")
    plan = MixPlan(seeds, budget=20)
    with_input = {s.instruction for s in seeds if any(i.input for i in s.instances) or s.is_classification}
    assert [plan.focus_input(r) for r in range(4)] == [False, True, False, True]  # every other request
    focused = proposal_prompt(cfg, templates, seeds, [], 1, plan)
    assert INPUT_NOTE in focused
    examples = focused.split(INPUT_NOTE, 1)[1].split("List of", 1)[0]
    listed = [line.split(". ", 1)[1] for line in examples.splitlines() if ". " in line]
    assert len(listed) == 8 and all(" ".join(t.split()) in {" ".join(w.split()) for w in with_input} for t in listed)
    for _ in range(14):
        plan.count("Why is the sky blue?")
    assert plan.focus_input(2)  # no-input tasks are full: every request
    for _ in range(6):
        plan.count("Summarize the following article.")
    assert not plan.focus_input(3) and INPUT_NOTE not in proposal_prompt(cfg, templates, seeds, [], 3, plan)


def test_a_run_keeps_its_mix_and_reports_it_beside_the_seeds(runner, mock_teacher, tmp_path) -> None:
    """The mock proposes open tasks and about one classification task in five: past the no-input allowance only tasks with an input are kept."""
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 12))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    mix = summary["mix"]
    assert mix["run"]["total"] == 12 and mix["seeds"]["total"] == len(read_seed_tasks(SEEDS))
    assert mix["input_share"] >= mix["input_share_seeds"] - 0.10 and mix["code_share"] <= mix["code_share_seeds"] + 0.10
    rejected = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines() if '"mix_full"' in line]
    assert rejected and all(r["detail"].startswith("no input:") for r in rejected)
    assert "task mix" in result.output and "seeds' mix" in result.output
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    page = (out / "report.html").read_text()
    assert "Task mix, this run: code 0 (0%)" in page and "Seeds: code 19 (10%), classification 35 (18%)" in page
    assert "Self-consistency (short answers asked again):" in page
    off = tmp_path / "off"
    assert runner.invoke(app, mock_args(mock_teacher, off, 12, "--no-seed-mix")).exit_code == 0
    assert "mix_full" not in (off / "journal.jsonl").read_text()


def _open_tasks(prompt: str, n: int) -> str:
    """A teacher that proposes only open tasks (no input, no code, no classification), varied enough for ROUGE-L."""
    rng = random.Random(prompt)
    syllables = "ba be bi bo da de di do fa fe ka ke ki ko la le li lo ma me mi mo na ne ni no pa pe ra re ri sa se ta te to va vo".split()

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(3))

    verbs = ("Explain", "Describe", "Compare", "Suggest", "Outline", "Evaluate", "Recommend", "Plan")
    return "\n".join(f"{i}. {rng.choice(verbs)} the {word()} {word()} of {word()} {word()} for {word()} {word()}." for i in range(1, n + 1))


def test_a_teacher_that_keeps_proposing_a_full_kind_does_not_stop_the_run(runner, mock_teacher, tmp_path) -> None:
    """Open tasks only, answered without an input: past the no-input allowance (147 of budget 200) every proposal is of a
    full kind. The mix gives way after 89 rejections, says so in the journal and the table, and the run finishes; a
    resumed run stays given way. (Steering until half the proposal cap, 27 requests, stopped this run as stalled:
    10 requests in a row kept nothing.)"""
    mock_teacher._propose = _open_tasks  # type: ignore[method-assign]
    mock_teacher._input_first = lambda prompt: "Example 1\nInput: <noinput>\nOutput: " + f"A careful answer to '{mock_teacher._task(prompt)[:60]}', step by step."  # type: ignore[method-assign]
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 200))
    assert result.exit_code == 0, result.output
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    rejected = [r for r in journal if r.get("reason") == "mix_full"]
    assert 0 < len(rejected) <= 89
    noted = [r for r in journal if r["kind"] == "candidate" and (r.get("detail") or "").startswith(GAVE_WAY)]
    assert len(noted) == 1 and noted[0]["status"] == "kept" and "proposed tasks were of a full kind" in noted[0]["detail"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mix"]["gave_way"] == noted[0]["detail"].removeprefix(GAVE_WAY)
    assert summary["proposal_requests"] < 27 and "mix gave way" in result.output
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    assert "The mix gave way: " + summary["mix"]["gave_way"].replace("'", "&#39;") in (out / "report.html").read_text()
    more = runner.invoke(app, mock_args(mock_teacher, out, 260))
    assert more.exit_code == 0, more.output
    assert (out / "journal.jsonl").read_text().count('"mix_full"') == len(rejected)
