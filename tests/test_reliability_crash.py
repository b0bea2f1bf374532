"""Crashes: SIGKILL and SIGINT at random points of a real `selfinstruct generate` process, an exception
injected right after a journal append, a torn journal line, and a second process on the same directory.

After each crash the same command is run again; the final dataset must hold every instruction the
journal had finished before the crash, no duplicate, valid JSON, and exactly the budget.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.run import FAULT_AFTER_APPENDS_ENV
from tests.conftest import ROOT, mock_args
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import (
    check_dataset,
    cli_command,
    done_instructions,
    read_journal,
    run_cli,
    subprocess_env,
)

BUDGET = 30
RNG_SEED = 20240611


def _journal_lines(out: Path) -> int:
    path = out / "journal.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and children inherit that; give the
    # process under test the default disposition, as a terminal user's Ctrl-C would find it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_command(*args), cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip


def _wait_for_lines(proc: subprocess.Popen[str], out: Path, lines: int, limit: float = 60) -> bool:
    """Wait until the journal has `lines` lines; False if the process finished first."""
    deadline = time.monotonic() + limit
    while _journal_lines(out) < lines:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "run made no progress"
        time.sleep(0.005)
    return True


def _slow_mock(mock: MockTeacher) -> None:
    # Slow enough that a kill lands mid-run, fast enough that a whole run takes a few seconds.
    mock.latency = 0.1


def _finish_and_check(args: list[str], out: Path, accepted: set[str]) -> None:
    result = run_cli(args)
    assert result.returncode == 0, result.stderr
    rows = check_dataset(out, BUDGET)
    assert accepted <= {r["instruction"] for r in rows}, "an instruction finished before a crash is missing"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "sigint"])
def test_killed_at_random_points_then_resumed(mock_teacher: MockTeacher, tmp_path: Path, sig: signal.Signals) -> None:
    """Three kills at seeded random points (by journal progress plus a random delay), then a clean rerun."""
    _slow_mock(mock_teacher)
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, BUDGET, "--concurrency", "4")
    rng = random.Random(f"{RNG_SEED}:{sig.name}")
    accepted: set[str] = set()
    kills = 0
    for _ in range(3):
        proc = _start(args)
        # A full run writes ~100 journal lines; each kill lands a random few lines further on.
        reached = _wait_for_lines(proc, out, _journal_lines(out) + rng.randint(2, 20))
        time.sleep(rng.uniform(0, 0.2))
        if not reached or proc.poll() is not None:  # it finished first: nothing left to kill
            proc.communicate()
            break
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
        if proc.returncode == 0 or (out / "alpaca_data.json").exists():
            # The run met its budget in the instant before the signal landed: a finished run, not a crash.
            check_dataset(out, BUDGET)
            break
        kills += 1
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
        else:
            assert proc.returncode == 130, stderr
            assert "interrupted" in stderr and "Traceback" not in stderr
            assert json.loads((out / "summary.json").read_text())["status"] == "stopped: interrupted"
        assert not (out / "alpaca_data.json").exists(), "a stopped run must not present a dataset"
        now = done_instructions(out)
        assert accepted <= now, "a rerun lost journaled work"
        accepted = now
    assert kills >= 2 and accepted, "the kills did not land mid-run"
    _finish_and_check(args, out, accepted)


def test_exception_injected_after_a_journal_append(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash between a journal append and whatever would have followed it; three times at random, then resume."""
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, BUDGET, "--concurrency", "4")
    rng = random.Random(RNG_SEED)
    accepted: set[str] = set()
    crashes = 0
    for _ in range(3):
        appends = rng.randint(20, 45)  # a full run writes ~110 lines: crashes land early, midway and late
        before = _journal_lines(out)
        monkeypatch.setenv(FAULT_AFTER_APPENDS_ENV, str(appends))
        result = runner.invoke(app, args)
        if result.exit_code == 0:  # the run finished before the crash point
            break
        crashes += 1
        assert "injected crash" in str(result.exception)
        # The crash came right after the n-th append of this session, which is whole on disk.
        assert _journal_lines(out) == before + appends
        assert read_journal(out)[-1]["kind"] in ("candidate", "classified", "completed", "proposed")
        assert not (out / "alpaca_data.json").exists()
        now = done_instructions(out)
        assert accepted <= now
        accepted = now
    monkeypatch.delenv(FAULT_AFTER_APPENDS_ENV)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = check_dataset(out, BUDGET)
    assert crashes >= 2 and accepted and accepted <= {r["instruction"] for r in rows}


@pytest.mark.parametrize("recipe", ["self-instruct", "alpaca"])
def test_crash_between_a_proposals_candidates_and_its_last_line(
    mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recipe: str
) -> None:
    """The first proposal journals its 20 candidates (self-instruct) or first task's candidate line (alpaca),
    then the process dies: the resumed run must not reuse the request's ids, nor lose the kept task."""
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, 25, "--concurrency", "1", "--recipe", recipe)  # needs a second proposal
    monkeypatch.setenv(FAULT_AFTER_APPENDS_ENV, "20" if recipe == "self-instruct" else "1")
    assert runner.invoke(app, args).exit_code != 0
    journal = read_journal(out)
    assert journal[-1]["kind"] == "candidate" and journal[-1]["request"] == 0
    assert not any(r["kind"] == "proposed" for r in journal)
    monkeypatch.delenv(FAULT_AFTER_APPENDS_ENV)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ids = [r["id"] for r in read_journal(out) if r["kind"] == "candidate"]
    assert len(ids) == len(set(ids)), "a resumed run reused candidate ids"
    rows = check_dataset(out, 25)
    first = journal[0]
    if first["status"] == "kept":
        assert first["instruction"] in {r["instruction"] for r in rows}
    if recipe == "alpaca":  # the half-journaled task is finished from its own instance, not sent to other stages
        assert {r["stage"] for r in mock_teacher.requests} == {"propose"}


def test_torn_last_lines_are_dropped_with_a_warning(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A half-written last line (kill -9 mid-write) in the journal and the request log: dropped, warned, resumed."""
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, BUDGET, "--concurrency", "2")
    monkeypatch.setenv(FAULT_AFTER_APPENDS_ENV, "40")
    assert runner.invoke(app, args).exit_code != 0
    monkeypatch.delenv(FAULT_AFTER_APPENDS_ENV)
    accepted = done_instructions(out)
    whole = (out / "journal.jsonl").read_bytes()
    torn = b'{"kind": "candidate", "id": "r99999.00", "instruction": "Half a rec'
    (out / "journal.jsonl").write_bytes(whole + torn)
    with (out / "requests.jsonl").open("ab") as fh:
        fh.write(b'{"ts": 1, "stage": "propo')

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "torn line" in result.output and str(out / "journal.jsonl") in result.output.replace("\n", "")
    assert b"r99999.00" not in (out / "journal.jsonl").read_bytes()
    assert (out / "journal.jsonl").read_bytes().startswith(whole)
    for name in ("journal.jsonl", "requests.jsonl"):  # every line whole again
        for line in (out / name).read_text().splitlines():
            json.loads(line)
    rows = check_dataset(out, BUDGET)
    assert accepted <= {r["instruction"] for r in rows}


def test_a_second_process_on_the_same_run_directory_is_refused(mock_teacher: MockTeacher, tmp_path: Path) -> None:
    """While one process works in a directory, another is refused with one clear line; a dead holder frees it."""
    mock_teacher.latency = 0.5
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, 5, "--concurrency", "1")
    first = _start(args)
    try:
        deadline = time.monotonic() + 60
        while not ((out / ".lock").exists() and (out / ".lock").read_text().strip()):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        second = run_cli(args)
        assert second.returncode == 2
        assert second.stderr.strip() == f"error: {out} is in use by another selfinstruct process (pid {first.pid}); wait for it or use another --out"
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    # The kernel drops the lock with the process: no stale lock file to clean up by hand.
    mock_teacher.latency = 0.0
    assert run_cli(args).returncode == 0
    assert os.path.exists(out / "alpaca_data.json")
