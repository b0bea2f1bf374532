"""Run directories for report and export tests, made by `selfinstruct generate` against the mock teacher."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.conftest import mock_args
from tests.mock_teacher import MockTeacher

# Rows that each raise exactly the named flag, and rows that raise none.
FLAGGED_ROWS = [
    ("merged_instruction", {"instruction": "Name a fruit.", "input": "", "output": "Apple.\n\nTask 2: Name a vegetable."}),
    ("input_placeholder", {"instruction": "Summarise the text.", "input": "<noinput>", "output": "There is nothing to summarise."}),
    ("empty_or_echo_output", {"instruction": "Give a synonym for happy.", "input": "", "output": "N/A"}),
    ("media_reference", {"instruction": "Describe what the attached photo shows.", "input": "", "output": "A beach at sunset."}),
    ("url_only_input", {"instruction": "Summarise this article.", "input": "https://example.com/news/1", "output": "It is about news."}),
    ("control_characters", {"instruction": "Say hello.", "input": "", "output": "Hel\x00lo"}),
    ("unbalanced_code_fence", {"instruction": "Show a Python hello world.", "input": "", "output": "```python\nprint('hi')"}),
    ("wrong_arithmetic", {"instruction": "What is 23 + 19?", "input": "", "output": "23 + 19 = 41"}),
]
CLEAN_ROWS = [
    {"instruction": "What is 23 + 19?", "input": "", "output": "The answer is 42."},
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    {"instruction": "List three primary colours.", "input": "", "output": "1. Red\n2. Blue\n3. Yellow"},
    {"instruction": "Show a Python hello world.", "input": "", "output": "```python\nprint('hi')\n```"},
]


def make_run(out: Path, budget: int, *extra: str) -> Path:
    mock = MockTeacher().start()
    try:
        result = CliRunner().invoke(app, mock_args(mock, out, budget, "--concurrency", "4", *extra))
    finally:
        mock.stop()
    assert result.exit_code == 0, result.output
    return out


def write_dataset(path: Path) -> Path:
    rows = [row for _, row in FLAGGED_ROWS] + CLEAN_ROWS
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return path


def journal(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines() if line.strip()]
