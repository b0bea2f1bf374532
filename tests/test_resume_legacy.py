"""Run directories written by the first release (before recipes became modules) still resume.

tests/fixtures/legacy_runs/ holds two directories made by that release against the mock teacher
and stopped by an injected crash: a self-instruct run with kept, classified, finished and pending
instructions, and an alpaca run whose last task was journaled kept but not completed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from selfinstruct.cli import app
from tests.conftest import mock_args

LEGACY = Path(__file__).parent / "fixtures" / "legacy_runs"


def _journal(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("recipe", ["self-instruct", "alpaca"])
def test_legacy_run_directory_resumes(recipe, tmp_path, mock_teacher, runner):
    out = tmp_path / "run"
    shutil.copytree(LEGACY / recipe, out)
    before = _journal(out / "journal.jsonl")
    old_requests = len((out / "requests.jsonl").read_text().splitlines())
    finished_before = {r["id"] for r in before if r["kind"] == "completed" and r["instances"]}
    kept_before = {r["id"]: r["instruction"] for r in before if r["kind"] == "candidate" and r["status"] == "kept"}

    result = runner.invoke(app, mock_args(mock_teacher, out, 10, "--recipe", recipe))
    assert result.exit_code == 0, result.output

    after = _journal(out / "journal.jsonl")
    assert after[: len(before)] == before  # the journal is only appended to
    candidate_ids = [r["id"] for r in after if r["kind"] == "candidate"]
    assert len(candidate_ids) == len(set(candidate_ids))  # no candidate id reused
    # Nothing finished before is asked again: no second completed line for it.
    completed_twice = [r["id"] for r in after[len(before):] if r["kind"] == "completed" and r["id"] in finished_before]
    assert completed_twice == []
    rows = json.loads((out / "alpaca_data.json").read_text())
    instructions = {r["instruction"] for r in rows}
    assert len(instructions) == 10
    for cid in finished_before:
        assert kept_before[cid] in instructions  # work paid for by the old release is in the product
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["instructions"] == 10
    new_requests = _journal(out / "requests.jsonl")[old_requests:]
    assert new_requests, "the resumed run sent requests for the rest of the budget"
    if recipe == "alpaca":
        # The task journaled kept but not completed is finished from its own instance, with no request.
        pending = [cid for cid in kept_before if cid not in {r["id"] for r in before if r["kind"] == "completed"}]
        assert pending and all(kept_before[cid] in instructions for cid in pending)
