"""Real models: a packaged llama.cpp model as the judge and as a contestant, and as the quality gate.

Slow (each starts llama.cpp's server on a packaged GGUF); they run in CI. Sized to a couple of minutes
together on 2 CPU cores.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from selfinstruct.cli import app
from selfinstruct.endpoint_settings import TeacherSettings
from selfinstruct.evaluate.tasks import default_tasks_path, read_tasks
from selfinstruct.judge.pointwise import QualityJudge, keep
from selfinstruct.teacher.endpoint import open_teacher, resolve_endpoint
from tests.evaluate.conftest import jsonl, judge_args, write_jsonl

pytestmark = pytest.mark.slow
JUDGE = "qwen2.5-coder-1.5b"  # the default local judge
SMALL = "qwen2.5-coder-0.5b"


def _packaged_or_skip(key: str) -> None:
    from selfinstruct.teacher.packaged import PACKAGED_MODELS, installed_chunks

    try:
        installed_chunks(PACKAGED_MODELS[key])
    except Exception as exc:  # noqa: BLE001 - not installed here: nothing to test against
        pytest.skip(f"packaged model {key} not installed: {exc}")


def _answer_files(tmp_path, tasks):
    correct = [{"instruction": t.instruction, "input": t.input, "response": t.reference} for t in tasks]
    cut = [{**row, "response": " ".join(row["response"].split()[:4])} for row in correct]
    return write_jsonl(tmp_path / "correct.jsonl", correct), write_jsonl(tmp_path / "truncated.jsonl", cut)


def test_the_packaged_judge_names_the_better_answers(runner, tmp_path):
    """Complete reference answers against the same answers cut to four words: the local judge prefers the complete ones."""
    _packaged_or_skip(JUDGE)
    tasks = read_tasks(default_tasks_path()).tasks[:6]
    correct, cut = _answer_files(tmp_path, tasks)
    out = tmp_path / "ev"
    result = runner.invoke(app, ["eval", "--a", str(correct), "--b", str(cut), "--limit", "6", "--out", str(out),
                                 "--judge-teacher", "local", "--judge-local-model", JUDGE])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    r = summary["result"]
    # On these 6 tasks the verdicts depend on the server's batch layout: with 4 slots it names the complete
    # answers; with 1 slot (the default on 2 cores) it found 1 win, 4 ties and 1 loss.
    assert r["n"] == 6 and r["wins"] > r["losses"] and r["win_rate"] > 0.5, r
    assert summary["judge"]["local"] and summary["usd"] == 0
    judgements = [j for v in jsonl(out / "verdicts.jsonl") for j in v["judgements"]]
    assert len(judgements) == 12 and all(j["explanation"] for j in judgements)
    assert sum(j["reason"] == "unreadable" for j in judgements) <= 2


def test_a_gguf_contestant_answers_through_the_embedded_server(runner, mock_teacher, tmp_path):
    """A packaged GGUF answers with its chat template via llama.cpp; the mock judges, so only the answers are slow."""
    _packaged_or_skip(SMALL)
    tasks = read_tasks(default_tasks_path()).tasks[:3]
    _, cut = _answer_files(tmp_path, tasks)
    task_file = write_jsonl(tmp_path / "tasks.jsonl", [{"id": t.id, "instruction": t.instruction, "instances": [{"input": t.input, "output": t.reference}]} for t in tasks])
    out = tmp_path / "ev"
    args = ["eval", "--tasks", str(task_file), "--a", SMALL, "--b", str(cut), "--template", "chat", "--max-new-tokens", "48",
            "--out", str(out), *judge_args(mock_teacher)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    answers = jsonl(out / "answers_a.jsonl")
    assert len(answers) == 3 and all(a["response"].strip() for a in answers)
    requests = jsonl(out / "requests.jsonl")
    assert sum(r["stage"] == "answer" for r in requests) == 3
    assert all(r["completion_tokens"] <= 48 for r in requests if r["stage"] == "answer")
    assert (out / "contestant_a.log").exists()


BAD_AND_GOOD = [
    ("Can you explain what a neural network is in simple terms?", "", "Neutral",
     "A neural network is a computer program loosely inspired by the brain. It is made of layers of simple units that pass numbers to each other, and it learns from many examples by adjusting those connections until its answers are mostly right, for example recognising cats in photos."),
    ("Who was the first president of the United States?", "", "Abraham Lincoln",
     "George Washington was the first president of the United States, serving from 1789 to 1797."),
    ("Write a detailed report on the impact of climate change.", "", "Positive",
     "Climate change is raising average temperatures, which brings more frequent heatwaves, heavier rainfall in some regions and longer droughts in others. Rising seas threaten coastal cities, warmer oceans bleach coral reefs, and shifting seasons affect crops and wildlife. Adapting will require cutting emissions and protecting vulnerable communities."),
]  # fmt: skip


def test_the_quality_gate_with_the_packaged_judge_rejects_what_small_teachers_wrote(tmp_path):
    """A label given as the answer to an explanation (seen in real runs) scores below 3; good answers pass."""
    _packaged_or_skip(JUDGE)

    async def scores():
        endpoint = resolve_endpoint(TeacherSettings(teacher="local", local_model=JUDGE))
        with open_teacher(endpoint, server_log=tmp_path / "judge.log") as teacher:
            gate = QualityJudge(teacher)
            try:
                return [(await gate.score(i, x, bad), await gate.score(i, x, good)) for i, x, bad, good in BAD_AND_GOOD]
            finally:
                await teacher.aclose()

    for (instruction, _, bad_output, _), (bad, good) in zip(BAD_AND_GOOD, asyncio.run(scores())):
        # A sentiment label as the answer to an explanation (46 of 61 rows of an early demo) is what even a
        # small judge must reject, and so is "Positive" as a climate report. The wrong fact is caught only
        # beside the judge's own short answer: alone, the 1.5B rated "Abraham Lincoln" 3.64 (Washington 3.91).
        assert not keep(bad), (instruction, bad)
        assert keep(good), (instruction, good)
        assert bad.reason and bad.score is not None
        assert (bad.reference == "own") is (bad_output == "Abraham Lincoln"), bad  # the two labels' own answers ran long
