"""`generate` with the embedded local teacher: the server's lifecycle seen through a whole run.

The fast tests replace only llama.cpp's command line with the mock teacher running as a child
process; everything else (port, readiness, the openai client, death detection, resume) is real.
The slow test runs the packaged 0.5B model through llama.cpp for real.
"""

import json
import sys
from pathlib import Path

import pytest

import selfinstruct.teacher.llama_server as local_server
from selfinstruct.cli import app
from tests.conftest import SEEDS

MOCK = Path(__file__).with_name("mock_teacher.py")


def _fake_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def _use_mock_server(monkeypatch: pytest.MonkeyPatch, die_after: int | None) -> None:
    def command(spec):
        cmd = [sys.executable, str(MOCK), "--port", str(spec.port)]
        return cmd + (["--die-after", str(die_after)] if die_after is not None else [])

    monkeypatch.setattr(local_server, "llama_server_command", command)


def _args(tmp_path: Path, out: Path, budget: int, *extra: str) -> list[str]:
    return ["generate", "--seeds", str(SEEDS), "--budget", str(budget), "--out", str(out),
            "--local-model", str(_fake_gguf(tmp_path)), "--retry-wait", "0.01", *extra]  # fmt: skip


def _instructions(out: Path) -> list[str]:
    return list(dict.fromkeys(r["instruction"] for r in json.loads((out / "alpaca_data.json").read_text())))


def test_auto_uses_the_local_teacher_without_endpoint_settings(runner, tmp_path, monkeypatch):
    _use_mock_server(monkeypatch, die_after=None)
    out = tmp_path / "run"
    result = runner.invoke(app, _args(tmp_path, out, 4))
    assert result.exit_code == 0, result.output
    assert "teacher: local llama.cpp, user file" in result.output
    assert len(_instructions(out)) == 4
    assert (out / "teacher.log").exists()


def test_a_server_that_dies_mid_run_is_reported_and_the_run_resumes(runner, tmp_path, monkeypatch):
    _use_mock_server(monkeypatch, die_after=14)
    out = tmp_path / "run"
    result = runner.invoke(app, _args(tmp_path, out, 20, "--teacher", "local"))
    assert result.exit_code == 3, result.output
    assert "local llama.cpp server exited" in result.output
    assert "Traceback" not in result.output
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    kept = {r["id"]: r["instruction"] for r in journal if r["kind"] == "candidate" and r["status"] == "kept"}
    finished = [kept[r["id"]] for r in journal if r["kind"] == "completed" and r["instances"]]
    assert finished

    _use_mock_server(monkeypatch, die_after=None)
    result = runner.invoke(app, _args(tmp_path, out, 20, "--teacher", "local"))
    assert result.exit_code == 0, result.output
    assert set(finished) <= set(_instructions(out)) and len(_instructions(out)) == 20


@pytest.mark.slow
def test_packaged_small_model_end_to_end(runner, tmp_path):
    """The real thing: llama.cpp serving the packaged Qwen2.5-Coder 0.5B, three instructions."""
    out = tmp_path / "run"
    args = ["generate", "--seeds", str(SEEDS), "--budget", "3", "--out", str(out), "--teacher", "local",
            "--local-model", "qwen2.5-coder-0.5b", "--num-instructions-per-request", "10", "--max-instances", "2"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "alpaca_data.json").read_text())
    assert len({r["instruction"] for r in rows}) == 3
    assert all(set(r) == {"instruction", "input", "output"} and all(isinstance(v, str) for v in r.values()) for r in rows)
    assert all(r["output"].strip() for r in rows)
