"""`generate --dry-run` counts the verifiers' requests: short answers asked again (--consistency) and the answer-kind judge."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.generate.estimate import estimate_run
from selfinstruct.generate.settings import GenerateConfig
from tests.conftest import mock_args
from tests.mock_teacher import MockTeacher

SEEDS = Path(__file__).parents[2] / "seed_tasks" / "seed_tasks.jsonl"


def stages(tmp_path: Path, **settings: object) -> dict[str, int]:
    est = estimate_run(GenerateConfig(seeds=SEEDS, budget=50, out=tmp_path / "run", model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1", **settings))
    return {s.stage: s.requests for s in est.stages}


def test_the_verifiers_requests_are_counted_where_they_are_asked(tmp_path: Path) -> None:
    on = stages(tmp_path)
    assert on["consistency"] > 0 and "answer kind" in on
    assert stages(tmp_path, consistency=4)["consistency"] == 2 * on["consistency"]
    assert "consistency" not in stages(tmp_path, consistency=0) and "answer kind" in stages(tmp_path, consistency=0)
    assert {"consistency", "answer kind"}.isdisjoint(stages(tmp_path, verifiers=False))
    assert {"consistency", "answer kind"}.isdisjoint(stages(tmp_path, batch=True))  # online only
    assert {"consistency", "answer kind"}.isdisjoint(stages(tmp_path, recipe="conversation"))  # not a recipe the verifiers check


def test_the_consistency_estimate_is_within_2x_of_a_run(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, 50, "--concurrency", "4")
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0 and "consistency" in dry.output and "answer kind" in dry.output, dry.output
    estimated = stages(tmp_path)["consistency"]
    assert runner.invoke(app, args).exit_code == 0
    asked = sum(1 for r in mock_teacher.requests if r["stage"] == "consistency")
    assert 0.5 <= estimated / asked <= 2.0, (estimated, asked)
