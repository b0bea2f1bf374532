"""`selfinstruct generate` end to end through the CLI against the mock teacher over real HTTP."""

import gc
import json
import re
import shutil
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

import selfinstruct.generate.command as generate_module
from selfinstruct.cli import app
from selfinstruct.generate.command import generate
from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.records import read_seed_tasks
from selfinstruct.stages.filters import cheap_reason
from selfinstruct.templates import default_prompts_dir
from tests.conftest import SEEDS, mock_args

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _data(out: Path) -> list[dict]:
    return json.loads((out / "alpaca_data.json").read_text())


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _instructions(out: Path) -> list[str]:
    return list(dict.fromkeys(row["instruction"] for row in _data(out)))


@pytest.mark.parametrize("budget", [1, 7, 33])
def test_budget_is_exact_and_schema_holds(runner, mock_teacher, tmp_path, budget):
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, budget, "--concurrency", "4"))
    assert result.exit_code == 0, result.output
    rows = _data(out)
    assert len(_instructions(out)) == budget
    for row in rows:
        assert set(row) == {"instruction", "input", "output"}
        assert all(isinstance(v, str) for v in row.values())
        assert row["output"].strip() and row["input"].lower() not in ("<noinput>", "no input", "n/a")
    assert len({(r["instruction"], r["input"], r["output"]) for r in rows}) == len(rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["instructions"] == budget and summary["examples"] == len(rows) and summary["status"] == "complete"
    assert str(out) in result.output


def test_the_session_is_frozen_before_its_setup(mock_teacher, tmp_path, monkeypatch):
    """The imports' objects are frozen before a session is set up: setting up alone used to trigger a full
    collection of them (45-56 ms of CPU per run)."""
    cfg = GenerateConfig(seeds=SEEDS, budget=3, out=tmp_path / "run", base_url=[mock_teacher.url], model="mock-teacher",
                         api_key="sk-test-secret-123", timeout=5)  # fmt: skip
    frozen_at: list[int] = []
    read = generate_module.read_seed_tasks

    def read_noting_the_freeze(path: Path) -> list:
        frozen_at.append(gc.get_freeze_count())
        return read(path)

    monkeypatch.setattr(generate_module, "read_seed_tasks", read_noting_the_freeze)
    assert generate(cfg)["status"] == "complete"
    assert frozen_at and frozen_at[0] > 0
    assert gc.get_freeze_count() == 0


def test_filters_hold_on_the_output(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 40, "--concurrency", "4")).exit_code == 0
    instructions = _instructions(out)
    seeds = [t.instruction for t in read_seed_tasks(SEEDS)]
    for i, a in enumerate(instructions):
        assert cheap_reason(a) is None
        for b in instructions[:i] + seeds:
            assert SCORER.score(b, a)["rougeL"].fmeasure <= 0.7, (a, b)


def test_journal_request_log_config_and_summary(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 12)).exit_code == 0
    journal = _jsonl(out / "journal.jsonl")
    candidates = [r for r in journal if r["kind"] == "candidate"]
    classified = {r["id"]: r for r in journal if r["kind"] == "classified"}
    assert {r["status"] for r in candidates} == {"kept", "rejected"}
    for cand in candidates:
        if cand["status"] == "rejected":
            assert cand["reason"]
            if cand["reason"] == "near_duplicate":
                assert cand["most_similar"] and cand["score"] > 0.7
    reasons = {c["reason"] for c in candidates if c["status"] == "rejected"}
    assert {"near_duplicate", "too_short", "write_a_program"} <= reasons and any(r.startswith("keyword:") for r in reasons)
    finished = {r["id"] for r in journal if r["kind"] == "completed" and r["instances"]}
    assert finished <= set(classified)
    assert any(c["is_classification"] for c in classified.values())
    requests = _jsonl(out / "requests.jsonl")
    assert requests and all({"model", "latency_s", "stage"} <= set(r) for r in requests)
    assert all("prompt_tokens" in r and "finish_reason" in r for r in requests if r["ok"])
    config = json.loads((out / "config.json").read_text())
    assert config["budget"] == 12 and config["recipe"] == "self-instruct" and "api_key" not in config
    for path in out.iterdir():
        assert "sk-test-secret-123" not in path.read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["proposal_requests"] >= 1 and summary["rejected"] and summary["tokens"]["prompt"] > 0
    assert summary["classification"]["yes"] + summary["classification"]["no"] >= 12


def test_classification_tasks_go_output_first(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 30)).exit_code == 0
    asked = [r["body"]["messages"] for r in mock_teacher.requests if r["stage"] == "instances"]
    clf = [m for m in asked if m[-1]["content"].rsplit("Task:", 1)[-1].strip().startswith("Classify")]
    # The output-first prompt: its instructions (the system turn) ask for class labels, then inputs.
    assert clf and all(m[0]["role"] == "system" and "Class label:" in m[0]["content"] for m in clf)
    assert all("Class label:" not in m[0]["content"] for m in asked if m not in clf)
    rows = [r for r in _data(out) if r["instruction"].startswith("Classify")]
    assert rows and all(r["output"].lower() in r["instruction"].lower() for r in rows)


def test_rerun_of_a_finished_run_sends_nothing(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 10)).exit_code == 0
    before, sent = _data(out), mock_teacher.count()
    result = runner.invoke(app, mock_args(mock_teacher, out, 10))
    assert result.exit_code == 0, result.output
    assert mock_teacher.count() == sent
    assert _data(out) == before


def test_resume_after_interruption_loses_and_repeats_nothing(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    # After 12 requests the endpoint starts failing for good: the run stops part-way.
    def breaker(record):
        if len(mock_teacher.requests) == 12:
            mock_teacher.schedule = ["500"] * 1000

    mock_teacher.on_request = breaker
    result = runner.invoke(app, mock_args(mock_teacher, out, 25, "--max-attempts", "2"))
    assert result.exit_code == 3, result.output
    assert "HTTP 500" in result.output and "Traceback" not in result.output
    assert not (out / "alpaca_data.json").exists()
    assert json.loads((out / "summary.json").read_text())["status"].startswith("stopped")
    journal = _jsonl(out / "journal.jsonl")
    finished_before = [r["id"] for r in journal if r["kind"] == "completed" and r["instances"]]
    kept_before = {r["id"]: r["instruction"] for r in journal if r["kind"] == "candidate" and r["status"] == "kept"}
    assert 0 < len(finished_before) < 25

    mock_teacher.on_request = None
    mock_teacher.schedule = []
    answered_before = len([r for r in mock_teacher.requests if r["fault"] is None])
    result = runner.invoke(app, mock_args(mock_teacher, out, 25))
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output
    instructions = _instructions(out)
    assert len(instructions) == 25 == len(set(instructions))
    assert {kept_before[i] for i in finished_before} <= set(instructions)
    # no instruction had its instances requested twice
    answered = [r for r in mock_teacher.requests if r["fault"] is None and r["stage"] == "instances"]
    tasks = [r["body"]["messages"][-1]["content"].rsplit("Task:", 1)[-1] for r in answered]
    assert len(tasks) == len(set(tasks))
    assert len(mock_teacher.requests) > answered_before


def test_alpaca_recipe_is_one_pass(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 15, "--recipe", "alpaca"))
    assert result.exit_code == 0, result.output
    assert len(_instructions(out)) == 15 and len(_data(out)) == 15
    assert {r["stage"] for r in mock_teacher.requests} == {"propose"}
    prompt = mock_teacher.requests[0]["body"]["messages"][-1]["content"]
    assert prompt.count("Instruction:") == 3 + 1  # three seed examples plus the format description


def test_completions_api(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 5, "--api", "completions")).exit_code == 0
    assert {r["api"] for r in mock_teacher.requests} == {"completions"}
    assert len(_instructions(out)) == 5


def test_a_repeating_teacher_hits_the_attempt_cap(runner, mock_teacher, tmp_path):
    mock_teacher.repeat = True
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 20, "--max-proposals", "6"))
    assert result.exit_code == 4, result.output
    assert "attempt cap" in result.output and "--max-proposals" in result.output
    assert mock_teacher.count("propose") == 6
    assert not (out / "alpaca_data.json").exists()
    assert (out / "journal.jsonl").stat().st_size > 0


def test_include_seeds(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 3, "--include-seeds")).exit_code == 0
    seeds = read_seed_tasks(SEEDS)
    assert len(_data(out)) >= sum(len(s.instances) for s in seeds) + 3


def test_prompts_override(runner, mock_teacher, tmp_path):
    prompts = tmp_path / "prompts"
    shutil.copytree(default_prompts_dir(), prompts)
    path = prompts / "propose_instructions.txt"
    path.write_text("Our company's own preamble.\n" + path.read_text())
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 3, "--prompts", str(prompts))).exit_code == 0
    propose = [r for r in mock_teacher.requests if r["stage"] == "propose"]
    assert propose[0]["body"]["messages"][-1]["content"].startswith("Our company's own preamble.")


def test_a_different_recipe_on_the_same_directory_is_refused(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 2)).exit_code == 0
    result = runner.invoke(app, mock_args(mock_teacher, out, 2, "--recipe", "alpaca"))
    assert result.exit_code == 2 and "recipe" in result.output


def test_a_bigger_budget_extends_the_run(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 5)).exit_code == 0
    first = _instructions(out)
    assert runner.invoke(app, mock_args(mock_teacher, out, 12)).exit_code == 0
    assert _instructions(out)[:5] == first and len(_instructions(out)) == 12


def test_the_summary_counts_the_requests_of_every_session(runner, mock_teacher, tmp_path):
    """requests and retries cover every session, as total_wall_seconds and the tokens do, not only the last one."""
    out = tmp_path / "run"
    mock_teacher.schedule = ["500"]  # one retry in the first session
    assert runner.invoke(app, mock_args(mock_teacher, out, 5)).exit_code == 0
    first = json.loads((out / "summary.json").read_text())
    assert runner.invoke(app, mock_args(mock_teacher, out, 12)).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    log = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    assert first["retries"] == 1 and first["requests"] < summary["requests"] == len(log) == len(mock_teacher.requests)
    assert summary["retries"] == 1 and summary["total_wall_seconds"] > summary["wall_seconds"]


def test_help_explains_every_option(runner):
    result = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"})  # rich reads the width from COLUMNS
    assert result.exit_code == 0
    for option in ["--seeds", "--budget", "--out", "--model", "--base-url", "--api", "--recipe", "--concurrency",
                   "--seed", "--prompts", "--num-instructions-per-request", "--max-instances", "--teacher", "--max-usd"]:
        assert option in result.output


def test_classification_tasks_fall_back_to_input_first_when_output_first_fails(runner, mock_teacher, tmp_path):
    mock_teacher.ignore_output_first = True
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 30)).exit_code == 0
    journal = _jsonl(out / "journal.jsonl")
    clf = {r["id"] for r in journal if r["kind"] == "classified" and r["is_classification"]}
    done = {r["id"] for r in journal if r["kind"] == "completed" and r["instances"]}
    assert clf and clf <= done
    instance_prompts = [r["body"]["messages"][-1]["content"] for r in mock_teacher.requests if r["stage"] == "instances"]
    assert len(instance_prompts) == len(done) + len(clf)  # one extra, input-first request per classification task


def test_unicode_tokenizer_catches_non_latin_duplicates():
    from selfinstruct.rouge import RougeIndex
    from selfinstruct.stages.filters import filter_instruction

    text = "Объясните, как работает фотосинтез у растений."
    default, unicode = RougeIndex(), RougeIndex(tokenizer="unicode")
    for pool in (default, unicode):
        pool.add(text)
    # rouge_score sees no tokens in Cyrillic, so only the opt-in tokenizer calls this a duplicate
    assert filter_instruction(text, default, allow_non_ascii=True).reason is None
    assert filter_instruction(text, unicode, allow_non_ascii=True).reason == "near_duplicate"


def test_rouge_tokenizer_option_reaches_the_run(runner, mock_teacher, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, mock_args(mock_teacher, out, 3, "--rouge-tokenizer", "unicode")).exit_code == 0
    assert json.loads((out / "config.json").read_text())["rouge_tokenizer"] == "unicode"
    bad = runner.invoke(app, mock_args(mock_teacher, tmp_path / "r2", 3, "--rouge-tokenizer", "bogus"))
    assert bad.exit_code == 2 and "--rouge-tokenizer" in bad.output


def test_the_verifiers_are_on_by_default_and_counted_in_the_summary(runner, mock_teacher, tmp_path):
    on, off = tmp_path / "on", tmp_path / "off"
    result = runner.invoke(app, mock_args(mock_teacher, on, 6))
    assert result.exit_code == 0 and re.search(r"verifiers dropped\s+│\s+none", result.output)
    summary = json.loads((on / "summary.json").read_text())
    # The mock's prose answers hold no code, sum or missing input: the verifiers run and drop none of them. Its labels
    # are short answers, asked again twice each (--consistency 2), and it repeats them.
    verifiers = summary["verifiers"]
    assert {k: verifiers[k] for k in ("on", "run_code", "dropped")} == {"on": True, "run_code": True, "dropped": {}}
    labels = verifiers["consistency"]["checked"]
    assert labels and verifiers["consistency"] == {"checked": labels, "dropped": 0, "answers": 2 * labels, "agreed": 2 * labels, "agreement_rate": 1.0}
    assert verifiers["checks"] == {"consistency_checked": labels, "consistency_answers": 2 * labels, "consistency_agreed": 2 * labels}
    assert re.search(rf"self-consistency\s+│\s+{2 * labels} of {2 * labels} new answers agreed \(100%\); 0 of {labels}", result.output)
    assert runner.invoke(app, mock_args(mock_teacher, off, 6, "--no-verifiers", "--no-run-code")).exit_code == 0
    assert json.loads((off / "summary.json").read_text())["verifiers"] == {"on": False}
    assert json.loads((off / "config.json").read_text())["run_code"] is False


def test_messages_name_what_the_budget_counts(runner, mock_teacher, tmp_path):
    """A conversation run's budget counts conversations, and its resume message says so."""
    out = tmp_path / "run"
    args = ("--recipe", "conversation", "--turns", "1")
    assert runner.invoke(app, mock_args(mock_teacher, out, 2, *args)).exit_code == 0
    result = runner.invoke(app, mock_args(mock_teacher, out, 3, *args))
    assert result.exit_code == 0, result.output
    assert "resuming: 2 of 3 conversations already finished" in result.output
