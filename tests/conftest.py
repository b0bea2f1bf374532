"""Shared fixtures: the mock OpenAI-compatible teacher, a clean environment, and CLI helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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


class FakeTeacher:
    """An in-process teacher for driver unit tests: answers each stage from a queue of canned texts.

    An answer is a text, or (text, finish_reason). Every request is recorded as (stage, prompt,
    decoding), so a test can check what was asked, in what order, and how often. Running out of
    answers for a stage fails the test with a message naming the stage.
    """

    def __init__(self, answers: dict[str, list], concurrency: int = 1) -> None:
        from collections import deque

        from selfinstruct.teacher.spend import SpendTracker

        self.answers = {stage: deque(texts) for stage, texts in answers.items()}
        self.asked: list[tuple[str, object, object]] = []
        self.spend = SpendTracker((0.0, 0.0), None, None)
        self.model = "fake"
        self.description = "teacher: in-process fake"
        self.concurrency = concurrency
        self.in_flight = 0
        self.requests = 0
        self.structured = None  # text formats, as an endpoint without JSON schemas
        self.retries = 0
        self.api = "chat"
        self.max_attempts = 1
        self.current_concurrency = None

    async def complete(self, prompt, decoding, stage, ahead=False):  # noqa: ANN001, ANN201 - mirrors TeacherSeam.complete
        from selfinstruct.teacher.wire import Completion

        self.asked.append((stage, prompt, decoding))
        self.requests += 1
        queue = self.answers.get(stage)
        if not queue:
            raise AssertionError(f"FakeTeacher: no canned answer left for stage {stage!r}")
        answer = queue.popleft()
        text, finish = answer if isinstance(answer, tuple) else (answer, "stop")
        return Completion(text=text, finish_reason=finish, prompt_tokens=10, completion_tokens=5, latency_s=0.0)

    def count(self, stage: str) -> int:
        return sum(1 for asked in self.asked if asked[0] == stage)

    async def drain(self) -> None:
        pass

    def report(self) -> dict:
        return {}

    async def aclose(self) -> None:
        pass


def drive(tmp_path: Path, recipe: str, teacher: FakeTeacher, budget: int, quality: bool = False, **settings: object):  # noqa: ANN201
    """Run a recipe through the stage driver with an in-process teacher (also the quality judge when
    `quality`); returns (driver, run directory)."""
    import asyncio

    from rich.console import Console

    from selfinstruct.generate.pipeline import Pipeline
    from selfinstruct.generate.progress import RunProgress
    from selfinstruct.generate.settings import GenerateConfig
    from selfinstruct.recipes import RECIPES
    from selfinstruct.records import read_seed_tasks
    from selfinstruct.run import RunDir
    from selfinstruct.templates import Templates

    # Labels asked again (--consistency) would need canned answers in every test of another stage; they are
    # asked of the mock server instead (tests/stages/test_consistency.py, test_generate.py).
    settings.setdefault("consistency", 0)
    settings.setdefault("seed_mix", False)  # canned proposal lists: a task the mix rejected would need another
    cfg = GenerateConfig(seeds=SEEDS, budget=budget, out=tmp_path / "run", recipe=recipe, **settings)
    module = RECIPES[recipe]
    run = RunDir(cfg.out)
    run.open()
    try:
        from selfinstruct.judge.pointwise import QualityJudge

        # The fake answers in text, one canned reply per request, so the gate reads text scores here; the digit
        # probabilities are read in tests/judge and in the runs against the mock server (test_generate_quality.py).
        judge = QualityJudge(teacher, method="text") if quality else None  # type: ignore[arg-type]
        pipeline = Pipeline(cfg, module, run, run.load_state(), read_seed_tasks(SEEDS), Templates(None, module.TEMPLATES, cfg.language), teacher, judge)
        with RunProgress(Console(quiet=True), budget, 0, enabled=False) as progress:
            asyncio.run(pipeline.run(progress))
    finally:
        run.close()
    return pipeline, run
