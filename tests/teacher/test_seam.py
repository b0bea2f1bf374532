"""Both teachers, and the tests' in-process fake, provide the whole seam with the same `complete` signature."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

from selfinstruct.endpoint_settings import BatchSettings
from selfinstruct.teacher.batch import BatchTeacher
from selfinstruct.teacher.client import Teacher
from selfinstruct.teacher.seam import TeacherSeam
from selfinstruct.teacher.spend import SpendTracker
from tests.conftest import FakeTeacher

# Every member the protocol names, attributes and methods alike.
MEMBERS = {name for name in dir(TeacherSeam) if not name.startswith("_")} | set(TeacherSeam.__annotations__)


def _teachers(tmp_path: Path) -> list[object]:
    online = Teacher(model="m", base_url="http://127.0.0.1:9/v1", api_key="sk-test", spend=SpendTracker((1.0, 2.0)))
    batch = BatchTeacher(model="m", base_url="http://127.0.0.1:9/v1", api_key="sk-test", api="chat", timeout_s=5.0, max_attempts=3,
                         spend=SpendTracker((0.5, 1.0)), log=lambda record: None, description="teacher: m (batch)",
                         structured=None, settings=BatchSettings(), run_dir=tmp_path)  # fmt: skip
    return [online, batch, FakeTeacher({})]


def test_every_teacher_offers_every_member_of_the_seam(tmp_path: Path) -> None:
    assert {"complete", "drain", "aclose", "report", "spend", "in_flight", "concurrency", "current_concurrency", "model"} <= MEMBERS
    for teacher in _teachers(tmp_path):
        assert isinstance(teacher, TeacherSeam)
        assert not [name for name in MEMBERS if not hasattr(teacher, name)], type(teacher).__name__
        assert list(inspect.signature(teacher.complete).parameters) == ["prompt", "decoding", "stage", "ahead"]
        assert isinstance(teacher.report(), dict)


def test_draining_a_teacher_with_nothing_sent_returns_at_once(tmp_path: Path) -> None:
    async def drain_all() -> None:
        for teacher in _teachers(tmp_path):
            await asyncio.wait_for(teacher.drain(), timeout=5)
            await teacher.aclose()

    asyncio.run(drain_all())
