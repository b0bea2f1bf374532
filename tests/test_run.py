"""The journal's records survive a replay: RunDir.append leaves None fields out, so none may be required; the run
state holds records as their journal lines and reads them back equal."""

import types
import typing

from pydantic import BaseModel

from selfinstruct.records import Candidate, Classified, Completed, Instance, QualityNote
from selfinstruct.run import _RECORDS, RunDir, RunState


def _models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds, however nested (list[X], X | None, dict[str, X])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _nullable(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def test_no_journaled_field_that_can_be_none_is_required():
    seen: set[type[BaseModel]] = set()
    todo = list(_RECORDS.values())
    required_nullable = []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if field.is_required() and _nullable(field.annotation):
                required_nullable.append(f"{model.__name__}.{name}")
            todo += _models(field.annotation)
    assert len(seen) > len(_RECORDS)  # nested records (instances, quality notes) were walked too
    assert required_nullable == []


def test_the_run_state_reads_back_the_records_it_was_given_live_or_replayed(tmp_path):
    kept = Candidate(id="r00000.00", instruction="Übersetze „Guten Morgen“ ins Englische.", status="kept", request=0,
                     score=0.25, most_similar="Translate a greeting.", instances=[Instance(input="", output="Good morning.")])  # fmt: skip
    rejected = Candidate(id="r00000.01", instruction="Summarize this.", status="rejected", reason="too_short", request=0)
    verdict = Classified(id="r00000.00", is_classification=False, answer='{"answers": ["No"]}')
    done = Completed(id="r00000.00", instances=[Instance(input="", output="Good morning.")], quality=[QualityNote(reason="unreadable")])
    run = RunDir(tmp_path / "run")
    run.open()
    live = RunState()
    try:
        for record in (kept, rejected, verdict, done):
            live.apply(record, run.append(record))
    finally:
        run.close()
    replayed = RunDir(tmp_path / "run").load_state()
    for state in (live, replayed):
        assert list(state.kept) == ["r00000.00"] and state.kept["r00000.00"] == kept
        assert state.classified["r00000.00"] == verdict and state.completed["r00000.00"] == done
        assert list(state.completed.values()) == [done] and "r00000.01" not in state.kept
        assert state.done_ids() == ["r00000.00"] and state.pending_ids() == [] and state.rejected == {"too_short": 1}
        assert list(state.kept.containing("Guten Morgen")) == [kept] and list(state.kept.containing("Good night")) == []
    assert "Übersetze „Guten Morgen“" in (tmp_path / "run" / "journal.jsonl").read_text(encoding="utf-8")  # non-ASCII as is


def test_instances_journaled_before_their_checks_are_pending_until_checked():
    """A completed line marked unchecked (instances answered, checks that ask the teacher still to come) does not
    count towards the budget, and its instruction is finished again from it after a restart."""
    from selfinstruct.records import Candidate, Completed, Instance
    from selfinstruct.run import RunState

    state = RunState()
    state.apply(Candidate(id="r00000.00", instruction="Classify the review.", status="kept", request=0))
    state.apply(Completed(id="r00000.00", instances=[Instance(input="Great!", output="Positive")], unchecked=True))
    assert state.done_count == 0 and state.pending_ids() == ["r00000.00"]
    state.apply(Completed(id="r00000.00", instances=[Instance(input="Great!", output="Positive")]))
    assert state.done_count == 1 and state.pending_ids() == []
