"""A clean run killed (SIGKILL) in the middle resumes from its journal: nothing journaled is asked again, and the result is a whole run's."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.clean.conftest import ALPACA, judge_args, write
from tests.conftest import ROOT
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import cli_command, run_cli, subprocess_env


def _scored_lines(work: Path) -> int:
    path = work / "journal.jsonl"
    return sum(1 for line in path.read_text().splitlines() if '"kind":"scored"' in line) if path.exists() else 0


def _score_requests(mock: MockTeacher) -> int:
    return sum(1 for r in mock.requests if r["stage"] == "quality" and "Reply with the score alone" in r["body"]["messages"][-1]["content"])


def test_killed_mid_gate_then_resumed(mock_teacher: MockTeacher, tmp_path: Path) -> None:
    rows = [{**ALPACA[0], "instruction": f"Explain {topic} to a child.", "id": topic}
            for topic in ["tides", "rainbows", "volcanoes", "magnets", "seasons", "clouds", "echoes", "shadows"]]  # fmt: skip
    data = write(tmp_path / "data.json", rows)
    args = ["clean", str(data), "--out", str(tmp_path / "o.json"), "--no-verifiers", "--no-dedup", "--judge-concurrency", "1", *judge_args(mock_teacher)]
    mock_teacher.latency = 0.3
    proc = subprocess.Popen(cli_command(*args), cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _scored_lines(tmp_path / "o.clean") < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run journaled no score"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "o.json").exists()  # nothing is written until every row is decided
    journaled = _scored_lines(tmp_path / "o.clean")
    asked = _score_requests(mock_teacher)
    assert journaled < len(rows)

    mock_teacher.latency = 0.0
    result = run_cli(args)
    assert result.returncode == 0, result.stderr
    # The rerun asks only what the journal lacks (a request in flight at the kill is asked again).
    assert _score_requests(mock_teacher) - asked == len(rows) - journaled
    kept = json.loads((tmp_path / "o.json").read_text())
    assert [r["id"] for r in kept] == [r["id"] for r in rows]
    scores = [json.loads(line) for line in (tmp_path / "o.scores.jsonl").read_text().splitlines()]
    assert all(s["score"] is not None for s in scores)
