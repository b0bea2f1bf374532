"""Shared fixtures: the mock OpenAI-compatible teacher, a clean environment, and CLI helpers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from tests.mock_teacher import MockTeacher

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seed_tasks" / "seed_tasks.jsonl"
COMPAT_SEEDS = ROOT.parent / "shared" / "compat" / "self_instruct_seed_tasks.jsonl"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, endpoints or caches, and nothing reaches a hub."""
    for name in list(os.environ):
        if name.startswith("OPENAI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("SELFINSTRUCT_DEBUG", raising=False)


@pytest.fixture
def mock_teacher() -> Iterator[MockTeacher]:
    server = MockTeacher().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def mock_args(mock: MockTeacher, out: Path, budget: int, *extra: str) -> list[str]:
    """Command-line arguments for a fast generate run against the mock teacher."""
    return [
        "generate", "--seeds", str(SEEDS), "--budget", str(budget), "--out", str(out),
        "--base-url", mock.url, "--api-key", "sk-test-secret-123", "--model", "mock-teacher",
        "--timeout", "5", *extra,
    ]  # fmt: skip
