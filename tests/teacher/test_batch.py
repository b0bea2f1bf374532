"""`generate --batch` against the mock's /v1/files and /v1/batches, through the real `openai` client.

Covers: a run across stages, splitting, a SIGKILL between submit and results then a rerun that
submits nothing twice, an expired batch, a failed one, partial errors, a cancelled batch and its
resume, caps reserved per batch, the same dataset as an online run, --dry-run and `status`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.conftest import ROOT, mock_args
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import check_dataset, cli_command, read_requests, run_cli, subprocess_env

FAST = ("--batch", "--batch-poll", "0.02", "--batch-min-requests", "40")


def batch_args(mock: MockTeacher, out: Path, budget: int, *extra: str) -> list[str]:
    return mock_args(mock, out, budget, *FAST, *extra)


def _journal(out: Path) -> list[dict]:
    path = out / "batches.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _submitted_requests(mock: MockTeacher) -> Counter[str]:
    """How often each request (custom_id without its attempt number) was put in a batch."""
    return Counter(line["custom_id"].rsplit(".", 1)[0] for line in mock.batches.input_lines())


def _check_books(mock: MockTeacher, out: Path) -> None:
    """Every line the mock answered is logged once, and nothing was asked online."""
    logged = [r for r in read_requests(out) if r.get("batch")]
    assert len({(r["batch"], r["custom_id"]) for r in logged}) == len(logged), "a batch line was logged twice"
    assert sum(1 for r in logged if r["ok"]) == mock.batches.lines_served()
    assert not [r for r in mock.requests if not r.get("batch")], "batch mode sent an online request"


def test_budget_200_across_stages_at_batch_prices(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, batch_args(mock_teacher, out, 200, "--price-input", "0.4", "--price-output", "1.6"))
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "alpaca_data.json").read_text())
    assert len({r["instruction"] for r in rows}) == 200
    stages = Counter(line["custom_id"].split(".")[0] for line in mock_teacher.batches.input_lines())
    # The checks that ask the teacher again (self-consistency, the answer-kind judge) are online only.
    assert set(stages) == {"propose", "classify", "instances"}, stages
    assert len(mock_teacher.batches.batches) >= 3
    assert all(b["status"] == "completed" for b in mock_teacher.batches.batches.values())
    assert max(_submitted_requests(mock_teacher).values()) == 1, "a request was submitted twice"
    _check_books(mock_teacher, out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pricing"] == "batch" and summary["price_per_m"] == [0.2, 0.8]
    logged = [r for r in read_requests(out) if r["ok"]]
    tokens_in, tokens_out = sum(r["prompt_tokens"] for r in logged), sum(r["completion_tokens"] for r in logged)
    assert summary["usd"] == pytest.approx((tokens_in * 0.2 + tokens_out * 0.8) / 1e6, rel=1e-4)
    assert summary["tokens"] == {"prompt": tokens_in, "completion": tokens_out}
    # The line's stage and record are readable in each custom_id: propose.r00003.<digest>.1
    first = mock_teacher.batches.input_lines()[0]
    assert first["custom_id"].startswith("propose.r00") and first["url"] == "/v1/chat/completions"


def test_a_stage_larger_than_the_limit_is_split(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, batch_args(mock_teacher, out, 20, "--batch-max-requests", "4"))
    assert result.exit_code == 0, result.output
    sizes = [b["request_counts"]["total"] for b in mock_teacher.batches.batches.values()]
    assert max(sizes) <= 4 and len(sizes) >= 5, sizes
    # And by size: a file over the byte limit is cut in two.
    from selfinstruct.teacher import batch

    monkeypatch.setattr(batch, "MAX_FILE_BYTES", 3000)
    mock_teacher.batches.batches.clear()
    result = runner.invoke(app, batch_args(mock_teacher, tmp_path / "run2", 10))
    assert result.exit_code == 0, result.output
    files = [mock_teacher.batches.contents[b["input_file_id"]] for b in mock_teacher.batches.batches.values()]
    assert len(files) >= 3 and all(len(f) <= 3000 or f.count(b"\n") == 1 for f in files)


def test_the_next_stage_goes_out_while_a_slow_batch_of_this_one_is_still_out(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    mock_teacher.batches.delays = [0.0, 1.5]  # the proposals are split in two; the second part is slow
    out = tmp_path / "run"
    result = runner.invoke(app, batch_args(mock_teacher, out, 40, "--batch-max-requests", "2", "--batch-min-requests", "3"))
    assert result.exit_code == 0, result.output
    events = _journal(out)
    slow = [r["batch"] for r in events if r["kind"] == "batch"][1]
    slow_done = next(i for i, r in enumerate(events) if r["kind"] == "status" and r["batch"] == slow and r["status"] == "completed")
    first_classify = next(i for i, r in enumerate(events) if r["kind"] == "batch" and any(
        line["custom_id"].startswith("classify.") for line in map(json.loads, (out / r["input"]).read_text().splitlines())))
    assert first_classify < slow_done, "the classify batch waited for the slow proposal batch"
    # A threshold that is never reached does not hold a run up once nothing else is out.
    result = runner.invoke(app, mock_args(mock_teacher, tmp_path / "run2", 10, "--batch", "--batch-poll", "0.02"))
    assert result.exit_code == 0, result.output


def test_sigkill_between_submit_and_results_then_rerun_submits_nothing_again(mock_teacher: MockTeacher, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = batch_args(mock_teacher, out, 30)
    mock_teacher.batches.delay = 30.0  # the batch stays in progress while the process dies
    proc = subprocess.Popen(cli_command(*args), cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(r["kind"] == "batch" for r in _journal(out)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no batch was submitted"
        time.sleep(0.02)
    time.sleep(0.2)  # a few polls while it is in progress
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = len(mock_teacher.batches.batches)
    status = run_cli(["status", str(out)])
    assert status.returncode == 0 and "in_progress" in status.stdout and "so far" in status.stdout, status.stdout
    mock_teacher.batches.delay = 0.3
    result = run_cli(args)
    assert result.returncode == 0, result.stderr
    check_dataset(out, 30)
    assert max(_submitted_requests(mock_teacher).values()) == 1, "the rerun submitted a request again"
    assert len(mock_teacher.batches.batches) > before
    _check_books(mock_teacher, out)
    # The spend is whole: every line the provider answered is counted once; a batch is collected, never lost in a crash.
    summary = json.loads((out / "summary.json").read_text())
    served = [r["usage"] for r in mock_teacher.requests if r.get("batch")]
    assert summary["tokens"] == {"prompt": sum(u["prompt_tokens"] for u in served), "completion": sum(u["completion_tokens"] for u in served)}
    assert summary["lost_in_crash"]["attempts"] == 0 and not (out / "holds.jsonl").exists()
    status = run_cli(["status", str(out)])
    assert "completed" in status.stdout and "still to collect" not in status.stdout, status.stdout


def test_a_batch_created_just_before_a_crash_is_found_not_resubmitted(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selfinstruct.teacher.batch_journal import BatchJournal

    real = BatchJournal.batch_created

    def crash(self: BatchJournal, entry: object) -> None:
        raise RuntimeError("killed after the batch was created, before its id was written down")

    monkeypatch.setattr(BatchJournal, "batch_created", crash)
    out = tmp_path / "run"
    args = batch_args(mock_teacher, out, 20)
    assert runner.invoke(app, args).exit_code != 0
    assert len(mock_teacher.batches.batches) == 1 and not any(r["kind"] == "batch" for r in _journal(out))
    monkeypatch.setattr(BatchJournal, "batch_created", real)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert max(_submitted_requests(mock_teacher).values()) == 1, "the batch the crash hid was submitted again"
    check_dataset(out, 20)
    _check_books(mock_teacher, out)


def test_an_expired_batch_is_resubmitted_once(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    mock_teacher.batches.expire = 1
    mock_teacher.batches.expire_done = 0.5
    out = tmp_path / "run"
    result = runner.invoke(app, batch_args(mock_teacher, out, 20))
    assert result.exit_code == 0, result.output
    statuses = [b["status"] for b in mock_teacher.batches.batches.values()]
    assert statuses[0] == "expired" and statuses.count("expired") == 1
    first = mock_teacher.batches.batches[next(iter(mock_teacher.batches.batches))]
    expired_ids = {json.loads(x)["custom_id"] for x in mock_teacher.batches.contents[first["input_file_id"]].splitlines()}
    answered = {json.loads(x)["custom_id"] for x in mock_teacher.batches.contents[first["output_file_id"]].splitlines()}
    resent = [line["custom_id"] for line in mock_teacher.batches.input_lines() if line["custom_id"].endswith(".2")]
    assert 0 < len(answered) < len(expired_ids)
    assert {c.rsplit(".", 1)[0] for c in resent} == {c.rsplit(".", 1)[0] for c in expired_ids - answered}, "exactly the unanswered ones go again"
    assert max(_submitted_requests(mock_teacher).values()) == 2
    check_dataset(out, 20)
    _check_books(mock_teacher, out)
    assert json.loads((out / "summary.json").read_text())["batches"][0]["status"] == "expired"


def test_partial_errors_are_resubmitted_and_bounded_by_max_attempts(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    mock_teacher.batches.error_every = 4
    out = tmp_path / "run"
    result = runner.invoke(app, batch_args(mock_teacher, out, 20))
    assert result.exit_code == 0, result.output
    check_dataset(out, 20)
    assert any(line["custom_id"].endswith(".2") for line in mock_teacher.batches.input_lines())
    errors = [r for r in read_requests(out) if not r["ok"]]
    assert errors and all("500" in r["error"] for r in errors)
    _check_books(mock_teacher, out)
    # A batch that fails validation every time: its requests are tried --max-attempts times, then the run stops.
    mock_teacher.batches.fail_validation = 10
    result = runner.invoke(app, batch_args(mock_teacher, tmp_path / "run2", 5, "--max-attempts", "2"))
    assert result.exit_code == 3, result.output
    assert "failed 2 times" in result.output and "validation failed" in result.output and "Traceback" not in result.output


def test_a_cancelled_batch_stops_the_run_and_a_rerun_resumes(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    mock_teacher.batches.cancel = 1
    mock_teacher.batches.expire_done = 0.4  # what it finished before the cancel is kept
    out = tmp_path / "run"
    args = batch_args(mock_teacher, out, 20)
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    assert "cancelled" in result.output and "rerun to resume" in result.output
    assert json.loads((out / "summary.json").read_text())["status"].startswith("stopped:")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    check_dataset(out, 20)
    served = Counter(r["custom_id"].rsplit(".", 1)[0] for r in mock_teacher.requests if r.get("batch"))
    assert max(served.values()) == 1, "a request answered before the cancel was paid for again"
    _check_books(mock_teacher, out)


def test_caps_reserve_the_whole_batch_before_it_is_sent(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cap = 0.01
    args = batch_args(mock_teacher, out, 200, "--price-input", "2", "--price-output", "8", "--max-usd", str(cap))
    result = runner.invoke(app, args)
    assert result.exit_code == 4, result.output
    assert "spend cap reached" in result.output
    served = [r for r in mock_teacher.requests if r.get("batch")]
    assert served, "nothing was sent"
    # What the provider would bill: every line it answered, at batch prices (half of 2 / 8).
    logged = {r["custom_id"]: r for r in read_requests(out) if r.get("ok")}
    billed = sum(logged[r["custom_id"]]["usd"] for r in served)
    summary = json.loads((out / "summary.json").read_text())
    assert billed <= cap and summary["usd"] == pytest.approx(billed, abs=1e-6)


def test_same_dataset_as_an_online_run(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    # Like machine examples, the task mix shapes each proposal prompt from what was kept so far (its seed weights and
    # input focus), which a batch of prompts built together cannot see, so both are off here (with the mix on the
    # products differed from row 51 on); self-consistency is online only, so the online side runs without it too.
    same = ("--num-machine-examples", "0", "--seed", "7", "--consistency", "0", "--no-seed-mix")
    online = runner.invoke(app, mock_args(mock_teacher, tmp_path / "online", 25, "--concurrency", "1", "--concurrency-fixed", *same))
    assert online.exit_code == 0, online.output
    batch = runner.invoke(app, batch_args(mock_teacher, tmp_path / "batch", 25, *same))
    assert batch.exit_code == 0, batch.output
    rows_online = json.loads((tmp_path / "online" / "alpaca_data.json").read_text())
    rows_batch = json.loads((tmp_path / "batch" / "alpaca_data.json").read_text())
    assert rows_batch == rows_online


def test_dry_run_estimates_at_batch_prices(runner: CliRunner, tmp_path: Path) -> None:
    base = ["generate", "--seeds", str(ROOT / "seed_tasks" / "seed_tasks.jsonl"), "--budget", "1000", "--api-key", "sk-x", "--dry-run"]
    # A batch run asks none of the verifiers' requests (online only, each another round trip): the online run to halve is one without them.
    online = runner.invoke(app, [*base, "--no-verifiers"])
    batch = runner.invoke(app, [*base, "--batch"])
    assert online.exit_code == 0 and batch.exit_code == 0, batch.output

    def cost(text: str) -> float:
        return float(text.split("estimated cost $", 1)[1].split(",", 1)[0])

    assert "$0.075 in / $0.3 out" in batch.output and "Batch API price" in batch.output
    assert cost(batch.output) == pytest.approx(cost(online.output) / 2, rel=1e-3)
    explicit = runner.invoke(app, [*base, "--batch", "--batch-price-input", "0.1", "--batch-price-output", "0.1"])
    assert "$0.1 in / $0.1 out" in explicit.output


def test_an_online_rerun_of_a_directory_with_batches_out_is_refused(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "batches.jsonl").write_text(json.dumps({
        "kind": "batch", "batch": "batch_9", "file": "file-1", "input": "batches/0001-input.jsonl", "requests": 3,
        "reserved_tokens": 10, "reserved_usd": 0.0, "ts": time.time()}) + "\n")  # fmt: skip
    result = runner.invoke(app, mock_args(mock_teacher, out, 5))
    assert result.exit_code == 2 and "rerun with --batch" in result.output
    assert mock_teacher.requests == []


def test_batch_mode_needs_an_endpoint(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--seeds", str(ROOT / "seed_tasks" / "seed_tasks.jsonl"), "--budget", "3", "--out", str(tmp_path / "r"), "--batch"])
    assert result.exit_code == 2 and "--batch needs a Batch API endpoint" in result.output


def test_status_of_something_that_is_not_a_run(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 2 and "not a generate run directory" in result.output
