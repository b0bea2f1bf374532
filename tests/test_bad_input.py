"""Bad input matrix: every user mistake gives one line, exit code 2, no traceback, and no dataset.

Seed files, arguments, prompt templates and the endpoint are each broken in turn. "No dataset"
means alpaca_data.json never appears: it is only written once a run has met its budget.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.records import MAX_SEED_LINE_BYTES
from selfinstruct.templates import default_prompts_dir
from tests.conftest import SEEDS
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import cli_command, subprocess_env

GOOD_SEED = {"id": "s1", "name": "n", "instruction": "Name a primary color.", "instances": [{"input": "", "output": "Red"}], "is_classification": False}  # fmt: skip


def _seed_line(**changes: object) -> str:
    return json.dumps({**GOOD_SEED, **changes})


def _assert_one_line_error(output: str, expected: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output, output
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, output
    assert expected in errors[0], (expected, errors[0])


def _no_dataset(out: Path) -> None:
    assert not (out / "alpaca_data.json").exists()
    summary = out / "summary.json"
    if summary.exists():
        assert json.loads(summary.read_text())["status"] != "complete"


# --- seed files ----------------------------------------------------------------------------

SeedMaker = Callable[[Path], None]

SEED_CASES: dict[str, tuple[SeedMaker, str]] = {
    "empty": (lambda p: p.write_bytes(b""), "no seed tasks (the file is empty)"),
    "blank-lines-only": (lambda p: p.write_text("\n  \n\n"), "no seed tasks"),
    "not-utf8": (lambda p: p.write_bytes(_seed_line().encode() + b"\n" + "{\"instruction\": \"caf\xe9\"}".encode("latin-1") + b"\n"), ":2: not UTF-8 text"),
    "invalid-json-line-3": (lambda p: p.write_text(_seed_line(id="a") + "\n" + _seed_line(id="b") + "\n{\"id\": \"c\", \n"), ":3: invalid JSON"),
    "not-an-object": (lambda p: p.write_text("[1, 2, 3]\n"), ":1: expected a JSON object, got list"),
    "missing-instruction": (lambda p: p.write_text(json.dumps({"id": "x", "instances": []}) + "\n"), ":1: missing field 'instruction'"),
    "missing-instances": (lambda p: p.write_text(json.dumps({"id": "x", "instruction": "Name a color."}) + "\n"), ":1: missing field 'instances'"),
    "missing-output": (lambda p: p.write_text(_seed_line(instances=[{"input": "x"}]) + "\n"), ":1: missing field 'instances.0.output'"),
    "empty-instruction": (lambda p: p.write_text(_seed_line(instruction="  ") + "\n"), ":1: field 'instruction' is empty"),
    "duplicate-ids": (lambda p: p.write_text(_seed_line(id="a") + "\n" + _seed_line(id="b") + "\n" + _seed_line(id="a") + "\n"), ":3: duplicate id 'a' (first on line 1)"),
    "is-a-directory": (lambda p: p.mkdir(), "is a directory"),
    "missing-file": (lambda p: None, "seed file not found"),
}


@pytest.mark.parametrize("case", list(SEED_CASES))
def test_bad_seed_files(runner: CliRunner, tmp_path: Path, case: str) -> None:
    make, expected = SEED_CASES[case]
    seeds = tmp_path / "seeds.jsonl"
    make(seeds)
    out = tmp_path / "run"
    result = runner.invoke(app, ["generate", "--seeds", str(seeds), "--budget", "5", "--out", str(out), "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2, result.output
    _assert_one_line_error(result.output, expected)
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1  # nothing but the error
    assert not out.exists()  # rejected before a run directory is made


def _garbage_gigabyte(path: Path, newlines: bool) -> None:
    """1 GiB that reads as garbage: 4 MiB of random bytes, then a sparse tail (no disk, no time)."""
    head = os.urandom(4 << 20)
    if not newlines:
        head = head.replace(b"\n", b"\x00")
    with path.open("wb") as fh:
        fh.write(head)
        fh.truncate(1 << 30)


@pytest.mark.parametrize("newlines", [False, True], ids=["one-endless-line", "random-lines"])
def test_a_gigabyte_of_garbage_fails_fast_in_bounded_memory(runner: CliRunner, tmp_path: Path, newlines: bool) -> None:
    seeds = tmp_path / "garbage.jsonl"
    _garbage_gigabyte(seeds, newlines)
    assert seeds.stat().st_size == 1 << 30
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = runner.invoke(app, ["generate", "--seeds", str(seeds), "--budget", "5", "--out", str(tmp_path / "run"), "--base-url", "http://127.0.0.1:9/v1"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 2, result.output
    _assert_one_line_error(result.output, ":1: ")
    if not newlines:
        assert "line is longer than 1 MiB" in result.output
    assert time.monotonic() - started < 10
    # At most one capped line is ever held: a few MiB of Python objects, nowhere near the 1 GiB file.
    assert peak < 8 * MAX_SEED_LINE_BYTES, peak


# --- arguments -----------------------------------------------------------------------------


def _out_below_a_file(tmp_path: Path) -> list[str]:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    return ["--out", str(blocker / "run")]


def _out_is_a_file(tmp_path: Path) -> list[str]:
    target = tmp_path / "run.json"
    target.write_text("{}")
    return ["--out", str(target)]


def _prompts_missing_a_template(tmp_path: Path) -> list[str]:
    prompts = tmp_path / "prompts"
    shutil.copytree(default_prompts_dir(), prompts)
    (prompts / "classify.txt").unlink()
    return ["--prompts", str(prompts)]


def _template_missing_a_placeholder(tmp_path: Path) -> list[str]:
    prompts = tmp_path / "prompts"
    shutil.copytree(default_prompts_dir(), prompts)
    path = prompts / "instances_input_first.txt"
    path.write_text(path.read_text().replace("{instruction}", "the task"))
    return ["--prompts", str(prompts)]


ARG_CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "budget-zero": (lambda p: ["--budget", "0"], "--budget: input should be greater than 0"),
    "budget-negative": (lambda p: ["--budget", "-3"], "--budget: input should be greater than 0"),
    "concurrency-zero": (lambda p: ["--concurrency", "0"], "--concurrency: input should be greater than or equal to 1"),
    "max-usd-negative": (lambda p: ["--max-usd", "-1"], "--max-usd: input should be greater than 0"),
    "out-below-a-file": (_out_below_a_file, "a parent of it is a file, not a directory"),
    "out-is-a-file": (_out_is_a_file, "exists and is not a directory"),
    "prompts-dir-missing": (lambda p: ["--prompts", str(p / "nowhere")], "prompts directory not found"),
    "prompts-missing-a-template": (_prompts_missing_a_template, "classify.txt: prompt template missing"),
    "template-missing-a-placeholder": (_template_missing_a_placeholder, "lacks the placeholder {instruction}"),
}


@pytest.mark.parametrize("case", list(ARG_CASES))
def test_bad_arguments(runner: CliRunner, tmp_path: Path, case: str) -> None:
    make, expected = ARG_CASES[case]
    extra = make(tmp_path)
    args = ["generate", "--seeds", str(SEEDS), "--budget", "5", "--out", str(tmp_path / "run"), "--base-url", "http://127.0.0.1:9/v1"]
    result = runner.invoke(app, args + extra)  # a repeated option: the later one wins
    assert result.exit_code == 2, result.output
    _assert_one_line_error(result.output, expected)
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert not (tmp_path / "run" / "alpaca_data.json").exists()


def _nobody() -> list[str] | None:
    """A prefix that runs a command as an unprivileged user, or None when this process cannot switch."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    probe = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "true"], capture_output=True)
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if probe.returncode == 0 else None


@pytest.mark.parametrize("where", ["out-itself", "out-parent"])
def test_read_only_out(mock_teacher: MockTeacher, tmp_path: Path, where: str) -> None:
    """A read-only --out, checked as an unprivileged user: root ignores permission bits, so as root the
    command runs under setpriv as `nobody` (a plain chmod would not stop root, and would prove nothing)."""
    prefix = _nobody()
    if prefix is None:
        pytest.skip("cannot drop privileges here")
    # pytest's tmp_path sits under a root-only (0700) folder; `nobody` must be able to reach the directory.
    top = Path(tempfile.mkdtemp(prefix="selfinstruct-ro-"))
    top.chmod(0o755)
    base = top / "ro"
    base.mkdir()
    out = base / "run" if where == "out-parent" else base
    base.chmod(0o555)
    try:
        args = ["generate", "--seeds", str(SEEDS), "--budget", "3", "--out", str(out), "--base-url", mock_teacher.url, "--model", "m"]
        env = subprocess_env(HOME=str(base))
        result = subprocess.run(prefix + cli_command(*args), env=env, capture_output=True, text=True, timeout=120, cwd="/")
    finally:
        base.chmod(0o755)
        shutil.rmtree(top)
    assert result.returncode == 2, result.stderr
    expected = "directory is not writable" if where == "out-itself" else "permission denied; choose a writable directory"
    _assert_one_line_error(result.stderr, f"--out {out}: {expected}")
    assert result.stderr.count("\n") == 1 and not result.stdout
    assert mock_teacher.requests == []
    _no_dataset(out)


# --- the endpoint ----------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("case", ["unreachable", "bad-key", "unknown-model"])
def test_endpoint_mistakes(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, case: str) -> None:
    url, key, model = mock_teacher.url, "sk-wrong-key-000", "mock-teacher"
    if case == "unreachable":
        url = f"http://127.0.0.1:{_closed_port()}/v1"
    elif case == "bad-key":
        mock_teacher.api_key = "sk-right-key-111"
    else:
        mock_teacher.models = {"mock-teacher"}
        model = "no-such-model"
    out = tmp_path / "run"
    args = ["generate", "--seeds", str(SEEDS), "--budget", "5", "--out", str(out), "--base-url", url,
            "--api-key", key, "--model", model, "--retry-wait", "0.01", "--timeout", "5"]  # fmt: skip
    started = time.monotonic()
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    expected = {
        "unreachable": f"cannot reach the teacher at {url}: could not connect",
        "bad-key": "the teacher rejected the API key (HTTP 401)",
        "unknown-model": "model 'no-such-model' not found at",
    }[case]
    _assert_one_line_error(result.output, expected)
    assert time.monotonic() - started < 15  # configuration mistakes are not retried for long
    _no_dataset(out)
    assert "stopped" in json.loads((out / "summary.json").read_text())["status"]
