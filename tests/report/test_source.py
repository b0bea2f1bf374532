"""What the report reads from a run directory: which kept instructions are done when a run stopped during its checks."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from selfinstruct.records import Candidate, Completed, Instance
from selfinstruct.report.source import load_source
from selfinstruct.run import JOURNAL, journal_line


def write_journal(run: Path, *records: BaseModel) -> None:
    run.mkdir(exist_ok=True)
    (run / JOURNAL).write_text("".join(journal_line(r) + "\n" for r in records), encoding="utf-8")


def test_instances_journaled_unchecked_are_not_done(tmp_path: Path) -> None:
    """A stop during the checks that ask the teacher leaves a completed line marked unchecked: the resumed run checks
    those instances again and may drop them, so the report must not count or show them yet."""
    run = tmp_path / "run"
    kept = [Candidate(id=f"r00000.0{i}", instruction=f"Classify review {i}.", status="kept", request=0) for i in range(2)]
    answered = [Completed(id=c.id, instances=[Instance(input="Great!", output="Positive")], unchecked=True) for c in kept]
    write_journal(run, *kept, *answered)
    source = load_source(run)
    assert source.run is not None and source.run.done_ids() == [] and source.rows == []
    checked = Completed(id=kept[1].id, instances=[Instance(input="Great!", output="Positive")], checks={"consistency_checked": 1})
    write_journal(run, *kept, *answered, checked)
    source = load_source(run)
    assert source.run is not None and source.run.done_ids() == [kept[1].id]
    assert [(r.instruction, r.output) for r in source.rows] == [("Classify review 1.", "Positive")]
