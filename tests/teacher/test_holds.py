"""Spend a crash cannot hide: each attempt's worst case is journaled before it is sent (holds.jsonl) and
settled by its line in requests.jsonl; what a SIGKILL leaves unsettled counts as spent on resume.

The end-to-end test kills real `selfinstruct generate` processes at concurrency 64 (the real `openai`
client over HTTP against the mock teacher) and compares what the mock computed, counted server-side,
with what the run reports as spent and with the cap.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from selfinstruct.run import HOLDS, REQUESTS
from selfinstruct.teacher.holds import HoldJournal, lost_in_crash
from selfinstruct.teacher.spend import PRICES_PER_M
from tests.conftest import ROOT, mock_args
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import check_dataset, cli_command, read_requests, run_cli, subprocess_env

MINI_IN, MINI_OUT = PRICES_PER_M["gpt-4o-mini"]


def test_holds_continue_their_ids_and_the_request_log_settles_them(tmp_path: Path) -> None:
    journal = HoldJournal(tmp_path)
    first = [journal.open("propose", 100, 50, 0.001) for _ in range(3)]
    journal.close()
    assert first == [1, 2, 3]
    # A request line naming a hold settles it, whatever its outcome; the others were lost.
    (tmp_path / REQUESTS).write_text(
        json.dumps({"hold": 1, "ok": True, "prompt_tokens": 90, "completion_tokens": 10}) + "\n" + json.dumps({"hold": 3, "ok": False}) + "\n"
    )
    assert [(h.id, h.prompt_tokens, h.max_tokens, h.usd) for h in lost_in_crash(tmp_path)] == [(2, 100, 50, 0.001)]
    # A resumed session numbers on; a torn last line (a kill mid-write) is not a hold.
    with (tmp_path / HOLDS).open("a") as fh:
        fh.write('{"hold":4,"stage":"pro')
    assert HoldJournal(tmp_path).open("classify", 1, 1, 0.0) == 4
    assert [h.id for h in lost_in_crash(tmp_path)] == [2]


def _served(mock: MockTeacher) -> tuple[int, int, int, float]:
    """What the mock computed (so a provider would bill): requests, prompt and completion tokens, dollars."""
    with mock.lock:
        usage = [r["usage"] for r in mock.requests if "usage" in r]
    prompt = sum(u["prompt_tokens"] for u in usage)
    completion = sum(u["completion_tokens"] for u in usage)
    return len(usage), prompt, completion, (prompt * MINI_IN + completion * MINI_OUT) / 1e6


def _settle(mock: MockTeacher) -> None:
    """Wait until the mock has finished every request it accepted (a killed client's ones run to the end)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with mock.lock:
            pending = sum(1 for r in mock.requests if "usage" not in r and r.get("fault") is None)
        if not pending:
            return
        time.sleep(0.05)


def test_sigkills_at_concurrency_64_cannot_hide_spend(mock_teacher: MockTeacher, tmp_path: Path) -> None:
    """Three SIGKILLs with 64 requests in flight, then a run to the cap: everything the mock served is covered
    by the reported spend, which stays under --max-usd; the lost attempts show in the summary."""
    mock_teacher.latency = 0.3
    out = tmp_path / "run"
    # Room for three kills' worst cases (64 holds each, about $0.03) and the runs' own spend, so the third run is
    # still going when it is killed; the last run may end at the cap or at the budget.
    cap = 0.16
    args = mock_args(mock_teacher, out, 400, "--concurrency", "64", "--concurrency-fixed", "--max-usd", str(cap))
    args[args.index("mock-teacher")] = "gpt-4o-mini"
    rng = random.Random(20260515)
    kills = 0
    for _ in range(3):
        before = len(mock_teacher.requests)
        proc = subprocess.Popen(cli_command(*args), cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        target = before + rng.randint(80, 200)
        deadline = time.monotonic() + 120
        while len(mock_teacher.requests) < target and proc.poll() is None:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        kills += 1
    _settle(mock_teacher)
    served_before = len(mock_teacher.requests)
    logged_before = len(read_requests(out))
    assert served_before > logged_before, "the kills lost nothing in flight; the test proves nothing"

    result = run_cli(args, timeout=300)
    _settle(mock_teacher)
    summary = json.loads((out / "summary.json").read_text())
    served, prompt, completion, usd = _served(mock_teacher)
    lost = summary["lost_in_crash"]
    print(
        f"\n{kills} SIGKILLs at concurrency 64: mock served {served} requests ({prompt:,} + {completion:,} tokens, ${usd:.5f}); "
        f"requests.jsonl holds {len(read_requests(out))} attempts; lost in a crash {lost['attempts']} attempts "
        f"(${lost['usd']:.5f} at their worst case); reported ${summary['usd']:.5f} "
        f"({summary['tokens']['prompt']:,} + {summary['tokens']['completion']:,} tokens); cap ${cap}; final status: {summary['status']}"
    )
    assert lost["attempts"] > 0 and lost["attempts"] <= 64 * kills
    assert "in flight when an earlier session crashed" in result.stderr
    # Every request the mock computed is covered: by its logged usage, or by its hold's worst case.
    assert served <= len(read_requests(out)) + lost["attempts"]
    assert prompt + completion <= summary["tokens"]["prompt"] + summary["tokens"]["completion"]
    assert usd <= summary["usd"] + 1e-9
    assert summary["usd"] <= cap
    if result.returncode == 0:
        check_dataset(out, 400)
    else:
        assert result.returncode == 4 and summary["status"].startswith("stopped: spend cap reached"), result.stderr


def test_lost_attempts_count_against_the_cap_on_resume(mock_teacher: MockTeacher, tmp_path: Path) -> None:
    """Holds left by a crash are spent: a cap they already fill stops the resumed run before it sends anything."""
    out = tmp_path / "run"
    out.mkdir()
    journal = HoldJournal(out)
    for _ in range(4):
        journal.open("propose", 1000, 1000, (1000 * MINI_IN + 1000 * MINI_OUT) / 1e6)
    journal.close()
    args = mock_args(mock_teacher, out, 5, "--max-usd", "0.003")
    args[args.index("mock-teacher")] = "gpt-4o-mini"
    result = run_cli(args)
    assert result.returncode == 4, result.stderr
    assert "4 requests were in flight when an earlier session crashed" in result.stderr
    assert "spend cap reached: $0.0030 spent" in result.stderr
    assert mock_teacher.requests == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lost_in_crash"] == {"attempts": 4, "prompt_tokens": 4000, "completion_tokens": 4000, "usd": 0.003}
    assert summary["usd"] == pytest.approx(0.003)
