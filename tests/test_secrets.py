"""Secrets: the API key never reaches a file in the run directory, a log, the terminal or an error message,
and credentials embedded in the base URL are redacted wherever the URL is recorded.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.endpoint_settings import redact_url
from tests.conftest import SEEDS
from tests.mock_teacher import MockTeacher

KEY = "sk-proj-SECRETkey0123456789abcdef"
URL_PASSWORD = "hunter2-url-password"
URL_TOKEN = "tok-in-query-9876543210"


def _everything_written(out: Path) -> dict[str, bytes]:
    """Every file under the run directory, hidden ones (lock, temp files) included."""
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _assert_clean(out: Path, *texts: str, secrets: tuple[str, ...] = (KEY,)) -> None:
    files = _everything_written(out)
    assert files, "the run wrote nothing to check"
    for secret in secrets:
        for name, data in files.items():
            assert secret.encode() not in data, f"{secret!r} leaked into {name}"
        for text in texts:
            assert secret not in text, f"{secret!r} leaked into the terminal output"


def _args(out: Path, base_url: str, *extra: str) -> list[str]:
    return ["generate", "--seeds", str(SEEDS), "--budget", "3", "--out", str(out), "--base-url", base_url,
            "--model", "mock-teacher", "--retry-wait", "0.01", "--timeout", "5", *extra]  # fmt: skip


@pytest.mark.parametrize("via", ["flag", "env"])
def test_key_never_written_on_a_successful_run(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str) -> None:
    mock_teacher.api_key = KEY
    out = tmp_path / "run"
    extra = ["--api-key", KEY] if via == "flag" else []
    if via == "env":
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
    result = runner.invoke(app, _args(out, mock_teacher.url, *extra))
    assert result.exit_code == 0, result.output
    assert all(r["auth"] == f"Bearer {KEY}" for r in mock_teacher.requests)  # the key was really used
    _assert_clean(out, result.output)
    config = json.loads((out / "config.json").read_text())
    assert "api_key" not in config and config["base_url"] == mock_teacher.url


def test_key_never_shown_when_the_server_echoes_it(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    """A 401 whose body repeats the key (as some servers do) still leaves no trace of it anywhere."""
    mock_teacher.api_key = "sk-the-right-key-000000"
    out = tmp_path / "run"
    result = runner.invoke(app, _args(out, mock_teacher.url, "--api-key", KEY))
    assert result.exit_code == 2
    assert "HTTP 401" in result.output
    log = (out / "requests.jsonl").read_text()
    assert "Incorrect API key provided: ***" in log  # the echo was there, and was scrubbed
    _assert_clean(out, result.output, str(result.exception or ""))


def test_key_never_shown_when_retries_run_out(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    mock_teacher.fault_rate = 1.0
    mock_teacher.fault_kinds = ["500", "drop", "bad-json"]
    out = tmp_path / "run"
    result = runner.invoke(app, _args(out, mock_teacher.url, "--api-key", KEY, "--max-attempts", "3"))
    assert result.exit_code == 3
    _assert_clean(out, result.output)


def test_credentials_in_the_base_url_are_redacted(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    """user:password@ in the URL authenticates the requests but is recorded only as ***."""
    url = mock_teacher.url.replace("http://", f"http://alice:{URL_PASSWORD}@")
    out = tmp_path / "run"
    result = runner.invoke(app, _args(out, url, "--api-key", KEY))
    assert result.exit_code == 0, result.output
    _assert_clean(out, result.output, secrets=(KEY, URL_PASSWORD))
    config = json.loads((out / "config.json").read_text())
    assert config["base_url"] == mock_teacher.url.replace("http://", "http://***@")
    assert "***@127.0.0.1" in result.output  # the teacher line still says where requests go
    # The URL's credentials are what authenticates, as basic auth in place of the key.
    assert {r["auth"] for r in mock_teacher.requests} == {"Basic " + base64.b64encode(f"alice:{URL_PASSWORD}".encode()).decode()}


def test_credentials_in_the_base_url_stay_out_of_error_messages(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    mock_teacher.models = {"another-model"}  # 404: the message names the endpoint URL
    url = mock_teacher.url.replace("http://", f"http://alice:{URL_PASSWORD}@")
    out = tmp_path / "run"
    result = runner.invoke(app, _args(out, url, "--api-key", KEY))
    assert result.exit_code == 2
    assert "not found at http://***@127.0.0.1" in result.output
    _assert_clean(out, result.output, secrets=(KEY, URL_PASSWORD))


def test_redact_url() -> None:
    assert redact_url(f"https://bob:{URL_PASSWORD}@example.com/v1") == "https://***@example.com/v1"
    assert redact_url(f"https://example.com/v1?api-key={URL_TOKEN}&x=1") == "https://example.com/v1?api-key=***&x=1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url(None) is None
