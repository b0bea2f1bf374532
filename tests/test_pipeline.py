"""The stage driver with an in-process fake teacher: scheduling, caps, and recipes as plain modules."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace

import pytest
from rich.console import Console

from selfinstruct.errors import CapReached
from selfinstruct.generate.pipeline import WORK_PER_SLOT, YOUNG_COLLECTION_EVERY, Pipeline, quiet_collector
from selfinstruct.generate.progress import RunProgress
from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.records import Completed, Proposed, read_seed_tasks
from selfinstruct.run import RunDir
from selfinstruct.stages.filters import Verdict
from selfinstruct.templates import Templates
from tests.conftest import SEEDS, FakeTeacher, drive


def test_a_teacher_that_keeps_nothing_stops_with_a_clear_cap(tmp_path):
    teacher = FakeTeacher({"propose": ["1. Summarize this."] * 10})
    with pytest.raises(CapReached, match="kept no new instruction"):
        drive(tmp_path, "self-instruct", teacher, budget=1)
    assert teacher.count("propose") == 10


def test_proposal_cap_stops_the_run(tmp_path):
    teacher = FakeTeacher({"propose": ["1. Summarize this."] * 3})
    with pytest.raises(CapReached, match="attempt cap reached: 3 proposal requests"):
        drive(tmp_path, "self-instruct", teacher, budget=1, max_proposals=3)


def _drive_toy(tmp_path, propose, finish, budget: int) -> Pipeline:  # noqa: ANN001 - the recipe's two coroutines
    """Run a recipe made of `propose` and `finish` (batches of 2) with a fake teacher of 2 slots; returns the driver."""
    # The driver's part of the Recipe protocol (recipes/base.py): its hooks and how it paces proposals.
    toy = SimpleNamespace(TEMPLATES={}, prepare=lambda driver: None, propose=propose, finish=finish, finish_batch=lambda cfg: 2,
                          ITEMS_PER_REQUEST=None, PROPOSAL_SHARE=0.5)  # fmt: skip
    cfg = GenerateConfig(seeds=SEEDS, budget=budget, out=tmp_path / "run")
    run = RunDir(cfg.out)
    run.open()
    try:
        pipeline = Pipeline(cfg, toy, run, run.load_state(), read_seed_tasks(SEEDS), Templates(None, {}), FakeTeacher({}, concurrency=2))
        with RunProgress(Console(quiet=True), budget, 0, enabled=False) as progress:
            asyncio.run(pipeline.run(progress))
    finally:
        run.close()
    return pipeline


def test_the_driver_runs_any_module_with_the_recipe_names(tmp_path):
    """A recipe is a module with the documented names: the driver needs nothing else to run it."""
    finished: list[list[str]] = []

    async def propose(driver: Pipeline, request: int) -> None:
        text = f"Name one thing that request number {request} of this test asks for."
        driver.record_candidate(request, 0, text, Verdict(None))
        driver.record(Proposed(request=request, parsed=1))

    async def finish(driver: Pipeline, ids: list[str]) -> None:
        finished.append(ids)
        for cid in ids:
            driver.record(Completed(id=cid, instances=[{"input": "", "output": "A thing."}]))

    pipeline = _drive_toy(tmp_path, propose, finish, budget=3)
    assert pipeline.done == 3
    assert all(len(batch) <= 2 for batch in finished) and sum(len(b) for b in finished) == 3
    assert pipeline.in_progress == 0 and not pipeline.queue


def test_instructions_in_progress_stay_within_the_teachers_slots_whatever_the_budget(tmp_path):
    """Memory flat in the budget: a backlog of kept instructions waits in the queue, not as work holding prompts."""
    most = 0

    async def propose(driver: Pipeline, request: int) -> None:
        for j in range(20):
            driver.record_candidate(request, j, f"Name thing {j} that request number {request} of this test asks for.", Verdict(None))
        driver.record(Proposed(request=request, parsed=20))

    async def finish(driver: Pipeline, ids: list[str]) -> None:
        nonlocal most
        most = max(most, driver.in_progress)
        await asyncio.sleep(0.001)
        for cid in ids:
            driver.record(Completed(id=cid, instances=[{"input": "", "output": "A thing."}]))

    pipeline = _drive_toy(tmp_path, propose, finish, budget=100)
    assert pipeline.done == 100
    assert most == WORK_PER_SLOT * 2  # reached, never passed: 2 slots


def test_the_collector_is_as_it_was_after_a_run_that_stops_or_fails(tmp_path):
    before = gc.get_threshold()
    teacher = FakeTeacher({"propose": ["1. Summarize this."] * 3})
    with pytest.raises(CapReached):
        drive(tmp_path, "self-instruct", teacher, budget=1, max_proposals=3)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def _frozen(obj: object) -> bool:
    """Whether a tracked object sits in the permanent generation. Asked of the object itself: the freeze count
    also falls when frozen objects elsewhere die by reference counting (in CI, 2 did during one block)."""
    assert gc.is_tracked(obj)
    return id(obj) not in {id(o) for o in gc.get_objects()}


def test_a_nested_quiet_block_freezes_what_was_built_since_and_the_outer_one_restores():
    before = gc.get_threshold()
    early = [0]
    with quiet_collector():
        built = [[i] for i in range(1000)]  # a session's setup: seeds, a resumed run's state
        assert _frozen(early) and not _frozen(built) and not any(map(_frozen, built[:10]))
        with quiet_collector():
            assert _frozen(built) and all(map(_frozen, built[:10]))
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY and _frozen(built)  # still the outer block's
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_keeps_its_collector_settings():
    mine = [0]
    gc.freeze()
    try:
        before, since = gc.get_threshold(), [1]
        with quiet_collector():
            assert gc.get_threshold() == before
        assert _frozen(mine) and not _frozen(since)  # neither unfrozen nor frozen again
    finally:
        gc.unfreeze()
    with quiet_collector():
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY and gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
