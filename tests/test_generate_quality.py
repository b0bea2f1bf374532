"""`generate --quality-judge` end to end: the gate's judge over real HTTP (the mock teacher's quality mode)."""

import json
from pathlib import Path

from selfinstruct.cli import app
from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.stages.quality_gate import quality_gate_on
from selfinstruct.teacher.endpoint import resolve_endpoint
from tests.conftest import SEEDS, mock_args
from tests.mock_teacher import OWN_ANSWER_START, MockTeacher


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _own_answers(mock) -> int:
    """Requests in which the gate asked the judge for its own answer to a short-answer instruction."""
    return sum(1 for r in mock.requests if r["body"]["messages"][-1]["content"].startswith(OWN_ANSWER_START))


def _low_for_every_third(instruction: str, given: str, output: str) -> int:
    """A deterministic judge that finds about a third of the outputs weak."""
    return 2 if sum(map(ord, output)) % 3 == 0 else 4


def test_the_gate_drops_low_scores_before_they_are_emitted(runner, mock_teacher, tmp_path):
    mock_teacher.quality_score = _low_for_every_third
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 12, "--quality-judge", "--concurrency", "4"))
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "alpaca_data.json").read_text())
    assert len({r["instruction"] for r in rows}) == 12
    assert all(_low_for_every_third(r["instruction"], r["input"], r["output"]) >= 3 for r in rows)
    # An instruction's instances are journaled once before the checks that ask the teacher again (unchecked), then
    # with the gate's verdicts; the second line is the one a replay keeps.
    completed = [r for r in _jsonl(out / "journal.jsonl") if r["kind"] == "completed" and not r.get("unchecked")]
    low = [d for c in completed for d in c["dropped"] if d["reason"] == "low_quality"]
    assert low and all(d["score"] == 2 and d["judge_reason"] for d in low)
    assert all(len(c["quality"]) == len(c["instances"]) for c in completed)
    gate = json.loads((out / "summary.json").read_text())["quality_gate"]
    assert gate["on"] is True and gate["min_quality"] == 3.5 and gate["judge"] == "mock-teacher"
    assert gate["dropped"] == len(low) and gate["scored"] == gate["kept"] + gate["dropped"]
    # Each scored instance cost one request, and each short-answer instruction one more for the judge's own answer
    # (checked against); all are logged under the gate's stage with the rest of the run's spend.
    quality_requests = [r for r in _jsonl(out / "requests.jsonl") if r["stage"] == "quality"]
    assert len(quality_requests) == gate["scored"] + _own_answers(mock_teacher)
    assert gate["against_own_answer"] + gate["against_reference"] <= gate["scored"]


def test_a_run_whose_judge_could_not_be_read_resumes(runner, mock_teacher, tmp_path):
    """An unreadable verdict is journaled without a score; replaying that journal (a rerun, status) must still work."""
    mock_teacher.quality_unreadable = mock_teacher.quality_unreadable_follow_up = True
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, 3, "--quality-judge")
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    notes = [q for r in _jsonl(out / "journal.jsonl") if r["kind"] == "completed" for q in r["quality"]]
    assert notes and all("score" not in q and q["reason"].startswith("unreadable") for q in notes)
    rows = (out / "alpaca_data.json").read_text()
    sent = len(mock_teacher.requests)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(mock_teacher.requests) == sent and (out / "alpaca_data.json").read_text() == rows
    assert runner.invoke(app, ["status", str(out)]).exit_code == 0


def test_a_hosted_teacher_has_no_gate_unless_asked(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 3)).exit_code == 0
    assert json.loads((out / "summary.json").read_text())["quality_gate"] == {"on": False}
    assert not [r for r in _jsonl(out / "requests.jsonl") if r["stage"] == "quality"]


def test_the_embedded_teacher_has_the_gate_by_default():
    from selfinstruct.recipes import alpaca, conversation, self_instruct

    local = GenerateConfig(seeds=SEEDS, budget=1, teacher="local")
    hosted = GenerateConfig(seeds=SEEDS, budget=1, base_url="http://127.0.0.1:9/v1")
    assert quality_gate_on(local, resolve_endpoint(local.teacher), self_instruct)
    assert quality_gate_on(local, resolve_endpoint(local.teacher), alpaca)
    assert not quality_gate_on(hosted, resolve_endpoint(hosted.teacher), self_instruct)
    assert not quality_gate_on(local.model_copy(update={"quality_judge": False}), resolve_endpoint(local.teacher), self_instruct)
    # The gate scores instances; a conversation's turns are not, so its summary never says the gate was on.
    assert not quality_gate_on(local.model_copy(update={"quality_judge": True}), resolve_endpoint(local.teacher), conversation)


def test_judge_settings_send_the_gate_to_another_endpoint(runner, mock_teacher, tmp_path):
    judge = MockTeacher().start()
    try:
        judge.quality_score = _low_for_every_third
        out = tmp_path / "run"
        args = mock_args(mock_teacher, out, 4, "--quality-judge", "--judge-base-url", judge.url, "--judge-model", "mock-judge", "--judge-api-key", "sk-judge")
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "quality judge: mock-judge" in result.output
        assert mock_teacher.count("quality") == 0 and judge.count("quality") > 0
        assert judge.count() == judge.count("quality")
        summary = json.loads((out / "summary.json").read_text())
        assert summary["quality_gate"]["judge"] == "mock-judge" and summary["quality_gate"]["scored"] == judge.count("quality") - _own_answers(judge)
        # The key given for the judge is never written anywhere.
        assert "sk-judge" not in "".join(p.read_text() for p in out.iterdir() if p.is_file())
    finally:
        judge.stop()


def test_min_quality_is_checked_and_the_dry_run_counts_the_gate(runner, tmp_path):
    bad = runner.invoke(app, ["generate", "--seeds", str(SEEDS), "--budget", "3", "--min-quality", "6"])
    assert bad.exit_code == 2 and "--min-quality" in bad.output
    result = runner.invoke(app, ["generate", "--seeds", str(SEEDS), "--budget", "10", "--dry-run", "--teacher", "local"])
    assert result.exit_code == 0, result.output
    assert "quality" in result.output
    off = runner.invoke(app, ["generate", "--seeds", str(SEEDS), "--budget", "10", "--dry-run", "--teacher", "local", "--no-quality-judge"])
    assert "quality" not in off.output.split("total")[0].split("stage")[-1]


def test_a_row_that_asks_a_seeds_question_is_scored_against_the_seeds_answer(mock_teacher):
    """The seed tasks' instances are known answers: the gate checks a row with the same instruction and input against them."""
    import asyncio

    from selfinstruct.judge.pointwise import QualityJudge, keep
    from selfinstruct.records import read_seed_tasks
    from selfinstruct.stages.quality_gate import seed_answers
    from selfinstruct.teacher.client import Teacher
    from selfinstruct.teacher.spend import SpendTracker

    seed = next(s for s in read_seed_tasks(SEEDS) if s.instances[0].output.strip())
    instance = seed.instances[0]
    mock_teacher.quality_against_reference = lambda reference, output: 5 if output == reference else 1

    async def scores():
        teacher = Teacher(model="mock-judge", base_url=mock_teacher.url, api_key="sk-test-123456", timeout_s=5, spend=SpendTracker((0.0, 0.0)))
        judge = QualityJudge(teacher, references=seed_answers(read_seed_tasks(SEEDS)))
        try:
            return [await judge.score(seed.instruction, instance.input, out) for out in (instance.output, "Something else entirely.")]
        finally:
            await teacher.aclose()

    same, other = asyncio.run(scores())
    assert keep(same) and not keep(other) and same.reference == other.reference == "given"
    assert not any(r["body"]["messages"][-1]["content"].startswith(OWN_ANSWER_START) for r in mock_teacher.requests)
