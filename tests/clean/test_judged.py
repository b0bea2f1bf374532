"""`clean` with a judge: the verifiers' checks that ask a model (answer kind; short answers asked again) ask the gate's judge."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.clean.conftest import judge_args, read_jsonl, write
from tests.mock_teacher import MockTeacher

ROWS = [
    {"instruction": "Generate a list of 10 random numbers.", "input": "",
     "output": "```python\nimport random\nprint([random.randint(1, 100) for _ in range(10)])\n```", "id": "code for numbers"},
    {"instruction": "Write a Python function that reverses a string.", "input": "",
     "output": "```python\ndef reverse(s):\n    return s[::-1]\n\nprint(reverse('abc'))\n```", "id": "code asked for"},
    {"instruction": "Classify the sentiment of the review.", "input": "The food was cold and late.", "output": "Positive", "id": "short answer"},
    {"instruction": "Explain why the sky looks blue during the day.", "input": "",
     "output": "Air molecules scatter short blue wavelengths of sunlight more than red ones.", "id": "plain"},
]  # fmt: skip


def stages(mock: MockTeacher) -> list[str]:
    return [r["stage"] for r in mock.requests]


def test_the_answer_kind_judge_is_asked_with_the_gate(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ROWS)
    result = runner.invoke(app, ["clean", str(data), "--out", str(tmp_path / "clean.json"), *judge_args(mock_teacher)])
    assert result.exit_code == 0, result.output
    dropped = {d["row"]["id"]: d for d in read_jsonl(tmp_path / "clean.dropped.jsonl")}
    assert list(dropped) == ["code for numbers"] and dropped["code for numbers"]["reasons"] == ["wrong_kind"]
    assert "code for a task that asks for the result itself (the judge's P(asks for code) 0.10)" == dropped["code for numbers"]["details"]["wrong_kind"]
    assert stages(mock_teacher).count("answer_kind") == 1 and "consistency" not in stages(mock_teacher)  # consistency is opt-in
    summary = json.loads((tmp_path / "clean.clean" / "summary.json").read_text())
    assert summary["verifiers"]["judged"].startswith("judge=mock-teacher")
    # Asked once: a rerun decides from the journal.
    asked = len(mock_teacher.requests)
    assert runner.invoke(app, ["clean", str(data), "--out", str(tmp_path / "clean.json"), *judge_args(mock_teacher)]).exit_code == 0
    assert len(mock_teacher.requests) == asked


def test_short_answers_asked_again_with_consistency(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ROWS)
    result = runner.invoke(app, ["clean", str(data), "--out", str(tmp_path / "clean.json"), "--consistency", "2", *judge_args(mock_teacher)])
    assert result.exit_code == 0, result.output
    dropped = {d["row"]["id"]: d["reasons"] for d in read_jsonl(tmp_path / "clean.dropped.jsonl")}
    assert dropped == {"code for numbers": ["wrong_kind"], "short answer": ["inconsistent"]}  # the mock answers "Mock answer"
    assert stages(mock_teacher).count("consistency") == 2


def test_without_a_judge_nothing_is_asked(runner: CliRunner, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ROWS)
    result = runner.invoke(app, ["clean", str(data), "--out", str(tmp_path / "clean.json"), "--no-gate"])
    assert result.exit_code == 0, result.output
    assert read_jsonl(tmp_path / "clean.dropped.jsonl") == []


def test_the_dry_run_counts_the_judge_checks(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ROWS)
    result = runner.invoke(app, ["clean", str(data), "--out", str(tmp_path / "o.json"), "--dry-run", "--consistency", "2", *judge_args(mock_teacher)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # One answer-kind question (code for a list of numbers), and 2 answers to the one short answer.
    assert re.search(r"judge checks\W+3\b", text), text
    assert "1 answer-kind questions, 2 answers to 1" in text and "(--consistency 2)" in text, text
    assert mock_teacher.requests == []
