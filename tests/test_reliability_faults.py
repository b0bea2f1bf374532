"""Faults from the teacher: every kind the mock can inject, 30% random faults, and 100% failure.

The real `openai` client talks to the mock over HTTP, so timeouts, dropped connections and bad
bodies go through the same code as in production. The request log is the witness: one line per
attempt, grouped by request id.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.conftest import mock_args
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import check_dataset, done_instructions, read_journal, read_requests

RETRYABLE = ["429", "429-retry-after", "500", "502", "503", "timeout", "drop", "bad-json", "empty-choices"]
ANSWERED = ["length", "content-filter"]  # a 200 with a usable body: kept, not retried
# How each retryable fault reads in the request log's `error` field.
LOGGED_AS = {
    "429": "HTTP 429",
    "429-retry-after": "HTTP 429",
    "500": "HTTP 500",
    "502": "HTTP 502",
    "503": "HTTP 503",
    "timeout": "request timed out",
    "drop": "connection dropped",
    "bad-json": "response body is not valid JSON",
    "empty-choices": "response has no choices",
}
FAST = ("--retry-wait", "0.01", "--timeout", "1")


def _by_request(log: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    attempts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for rec in log:
        attempts[rec["request"]].append(rec)
    return attempts


def _logged_kind(rec: dict[str, Any]) -> str:
    if rec["ok"]:
        return {"length": "length", "content_filter": "content-filter"}.get(rec.get("finish_reason"), "ok")
    if rec.get("retry_after_s") is not None:
        return "429-retry-after"
    return next(kind for kind, text in LOGGED_AS.items() if kind != "429-retry-after" and text in rec["error"])


@pytest.mark.parametrize("fault", RETRYABLE + ANSWERED)
def test_each_fault_kind_is_survived_and_logged(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, fault: str) -> None:
    """One fault on the first request (a proposal): retried once, or answered and handled, and the run completes."""
    mock_teacher.schedule = [fault]
    mock_teacher.timeout_sleep = 1.5
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 3, "--concurrency", "1", *FAST))
    assert result.exit_code == 0, result.output
    check_dataset(out, 3)
    log = read_requests(out)
    first = [r for r in log if r["request"] == 1]
    if fault in RETRYABLE:
        assert [r["attempt"] for r in first] == [1, 2] and [r["ok"] for r in first] == [False, True]
        assert LOGGED_AS[fault] in first[0]["error"]
        assert _logged_kind(first[0]) == fault
        assert sum(not r["ok"] for r in log) == 1
    else:
        assert [r["attempt"] for r in first] == [1] and first[0]["ok"]
        reason = {"length": "length", "content-filter": "content_filter"}[fault]
        assert first[0]["finish_reason"] == reason
        proposal = next(r for r in read_journal(out) if r["kind"] == "proposed" and r["request"] == 0)
        assert proposal["finish_reason"] == reason
        if fault == "length":  # the truncated list loses only its last, possibly cut, item
            assert 0 < proposal["parsed"] < 20
        else:
            assert proposal["parsed"] == 0
    if fault == "timeout":
        assert 0.9 <= first[0]["latency_s"] < 1.5
    if fault == "429-retry-after":
        assert first[0]["retry_after_s"] == pytest.approx(0.05)


def test_retry_after_is_honoured_over_backoff(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    """With a 30 s backoff scale, a 429 saying Retry-After: 0.05 is retried at once, not after the backoff."""
    mock_teacher.schedule = ["429-retry-after"]
    out = tmp_path / "run"
    started = time.monotonic()
    result = runner.invoke(app, mock_args(mock_teacher, out, 2, "--concurrency", "1", "--retry-wait", "30"))
    assert result.exit_code == 0, result.output
    first = [r for r in read_requests(out) if r["request"] == 1]
    assert [r["attempt"] for r in first] == [1, 2]
    assert first[1]["ts"] - first[0]["ts"] < 2.0
    assert time.monotonic() - started < 20


def test_thirty_percent_faults_still_give_a_clean_budget_50_run(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    """30% of requests fail at random, in every way the mock knows; the run ends as a clean run would."""
    mock_teacher.fault_rate = 0.3
    mock_teacher.fault_kinds = RETRYABLE + ANSWERED
    mock_teacher.timeout_sleep = 1.5
    max_attempts = 10
    out = tmp_path / "run"
    result = runner.invoke(
        app, mock_args(mock_teacher, out, 50, "--concurrency", "4", "--max-attempts", str(max_attempts), *FAST)
    )
    assert result.exit_code == 0, result.output

    # The same guarantees as a clean run.
    check_dataset(out, 50)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["instructions"] == 50

    # Enough faults happened to mean something, of many kinds.
    injected = mock_teacher.faults
    assert sum(injected[k] for k in RETRYABLE) >= 10 and len(injected) >= 5, injected

    # The log shows each retry: per request, attempts 1..k, every one but the last failed, k within the bound.
    log = read_requests(out)
    for request, attempts in _by_request(log).items():
        numbers = [a["attempt"] for a in attempts]
        assert numbers == list(range(1, len(numbers) + 1)), (request, numbers)
        assert len(numbers) <= max_attempts
        assert all(not a["ok"] for a in attempts[:-1]), attempts
    assert max(r["attempt"] for r in log) <= max_attempts
    assert summary["retries"] == sum(1 for r in log if r["attempt"] > 1)

    # Retries match the faults the mock injected, kind by kind. Requests still in flight when the
    # budget was met are cancelled unlogged, so the log may miss at most that many.
    unlogged = len(mock_teacher.requests) - len(log)
    assert 0 <= unlogged <= 4
    logged = Counter(_logged_kind(r) for r in log)
    for kind in RETRYABLE + ANSWERED:
        assert injected[kind] - unlogged <= logged[kind] <= injected[kind], (kind, injected, logged)
    failed = sum(1 for r in log if not r["ok"])
    assert sum(injected[k] for k in RETRYABLE) - unlogged <= failed <= sum(injected[k] for k in RETRYABLE)
    assert sum(1 for r in log if r["attempt"] > 1) == failed - sum(1 for a in _by_request(log).values() if not a[-1]["ok"])


def test_persistent_failure_stops_after_the_bound_and_keeps_the_work(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    """After some progress every request fails: one clear line naming the last error, exit 3, nothing lost."""
    def break_after_progress(record: dict[str, Any]) -> None:
        if len(mock_teacher.requests) == 25:
            mock_teacher.fault_kinds = ["503"]
            mock_teacher.fault_rate = 1.0

    mock_teacher.on_request = break_after_progress
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, 40, "--concurrency", "2", "--max-attempts", "3", *FAST)
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: the teacher failed 3 times in a row, giving up; last error: HTTP 503: The server had an error."]
    assert "Traceback" not in result.output, result.output

    # Bounded: no request tried more than 3 times, and the one that gave up tried exactly 3 times.
    log = read_requests(out)
    attempts = _by_request(log)
    assert max(len(a) for a in attempts.values()) == 3
    assert any(len(a) == 3 and not a[-1]["ok"] for a in attempts.values())
    assert len(mock_teacher.requests) - 25 <= 3 * 2 + 2  # at most the two requests in flight, each bounded

    # Nothing presented as complete; what was finished is on disk and survives the rerun.
    assert not (out / "alpaca_data.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"].startswith("stopped: the teacher failed 3 times")
    before = done_instructions(out)
    assert before

    mock_teacher.on_request = None
    mock_teacher.fault_rate = 0.0
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = check_dataset(out, 40)
    assert before <= {r["instruction"] for r in rows}


def test_total_failure_from_the_start_names_the_last_error(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    """Every request fails in mixed ways from the first one: bounded attempts, a one-line error, exit 3."""
    mock_teacher.fault_rate = 1.0
    mock_teacher.fault_kinds = [k for k in RETRYABLE if k != "timeout"]
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 5, "--concurrency", "1", "--max-attempts", "4", *FAST))
    assert result.exit_code == 3, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "giving up; last error:" in errors[0], result.output
    log = read_requests(out)
    assert [r["attempt"] for r in log] == [1, 2, 3, 4] and not any(r["ok"] for r in log)
    assert log[-1]["error"] in errors[0]
    assert len(mock_teacher.requests) == 4
    assert not (out / "alpaca_data.json").exists()
