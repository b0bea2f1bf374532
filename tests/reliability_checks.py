"""Shared checks for the reliability tests: what a finished dataset must satisfy, and what the journal says.

`check_dataset` restates the product's guarantees independently of the code under test: the
near-duplicate rule is checked with the reference `rouge_score` scorer, not our index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from rouge_score import rouge_scorer

from selfinstruct.records import normalize_input, read_seed_tasks
from selfinstruct.stages.filters import cheap_reason
from tests.conftest import ROOT, SEEDS


def read_journal(run_dir: Path) -> list[dict[str, Any]]:
    """Every whole journal line; a torn last line (no newline) is ignored like the resume does."""
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    return records


def done_instructions(run_dir: Path) -> set[str]:
    """Instructions the journal holds as kept and finished with at least one valid instance."""
    kept: dict[str, str] = {}
    done: set[str] = set()
    for rec in read_journal(run_dir):
        if rec["kind"] == "candidate" and rec["status"] == "kept":
            kept[rec["id"]] = rec["instruction"]
        elif rec["kind"] == "completed" and rec.get("instances"):
            done.add(rec["id"])
    return {kept[i] for i in done}


def read_requests(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "requests.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []


def check_dataset(run_dir: Path, budget: int) -> list[dict[str, str]]:
    """alpaca_data.json is valid JSON with exactly `budget` distinct instructions, each row passing every filter."""
    rows = json.loads((run_dir / "alpaca_data.json").read_text(encoding="utf-8"))
    assert isinstance(rows, list) and rows
    by_instruction: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        assert set(row) == {"instruction", "input", "output"} and all(isinstance(v, str) for v in row.values()), row
        by_instruction[row["instruction"]].append((row["input"], row["output"]))
    assert len(by_instruction) == budget, f"{len(by_instruction)} distinct instructions, budget {budget}"
    assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows), "a row appears twice"
    for instruction, instances in by_instruction.items():
        assert cheap_reason(instruction) is None, instruction
        outputs: dict[str, str] = {}
        for inp, out in instances:
            assert out.strip() and out.strip() != inp.strip() and not out.strip().endswith(":"), (instruction, inp, out)
            assert normalize_input(inp) == inp, f"un-normalised input {inp!r}"
            if inp:
                assert outputs.setdefault(inp, out) == out, f"one input, two outputs: {instruction}"
    _assert_no_near_duplicates(list(by_instruction))
    return rows


def _assert_no_near_duplicates(instructions: list[str]) -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    seeds = [s.instruction for s in read_seed_tasks(SEEDS)]
    for i, text in enumerate(instructions):
        for other in seeds + instructions[:i]:
            score = scorer.score(other, text)["rougeL"].fmeasure
            assert score <= 0.7, f"near-duplicate ({score:.3f}): {text!r} ~ {other!r}"


def cli_command(*args: str) -> list[str]:
    """The real command line, in a fresh interpreter, as a user would run it."""
    return [sys.executable, "-m", "selfinstruct.cli", *args]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SELFINSTRUCT_"))}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="200", **extra)
    return env


def run_cli(args: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), cwd=ROOT, env=subprocess_env(**env), capture_output=True, text=True, timeout=timeout)
