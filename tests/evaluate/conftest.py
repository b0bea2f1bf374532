"""Fixtures for eval tests: a small task file, answer files that differ in quality, and CLI arguments for the mock judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mock_teacher import MockTeacher

KEY = "sk-test-judge-123456"


def make_tasks(n: int = 8) -> list[dict]:
    tasks = []
    for i in range(n):
        task = {"id": f"task_{i}", "motivation_app": "Notes", "instruction": f"Explain idea number {i} to a new colleague.",
                "instances": [{"input": f"Idea {i} is about topic {i}." if i % 2 else "", "output": f"Idea {i} means that every step {i} is checked twice before release."}]}  # fmt: skip
        tasks.append(task)
    return tasks


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def answers(tasks: list[dict], truncate: int | None = None) -> list[dict]:
    """Correct answers (the references), or the same cut to their first `truncate` words."""
    rows = []
    for task in tasks:
        inst = task["instances"][0]
        text = inst["output"] if truncate is None else " ".join(inst["output"].split()[:truncate])
        rows.append({"instruction": task["instruction"], "input": inst["input"], "response": text})
    return rows


@pytest.fixture
def eval_files(tmp_path: Path) -> dict[str, Path]:
    tasks = make_tasks()
    return {
        "tasks": write_jsonl(tmp_path / "tasks.jsonl", tasks),
        "good": write_jsonl(tmp_path / "good.jsonl", answers(tasks)),
        "bad": write_jsonl(tmp_path / "bad.jsonl", answers(tasks, truncate=3)),
    }


def judge_args(mock: MockTeacher, *extra: str) -> list[str]:
    return ["--judge-base-url", mock.url, "--judge-api-key", KEY, "--judge-model", "mock-judge", "--judge-timeout", "5",
            "--judge-retry-wait", "0.01", *extra]  # fmt: skip


def eval_args(files: dict[str, Path], out: Path, mock: MockTeacher, a: str = "good", b: str = "bad", *extra: str) -> list[str]:
    return ["eval", "--tasks", str(files["tasks"]), "--a", str(files.get(a, a)), "--b", str(files.get(b, b)), "--out", str(out),
            *judge_args(mock), *extra]  # fmt: skip


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
