"""Settings of `report`: the single source of its options' defaults and help text."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict

from selfinstruct.settings import _Config, setting


class ReportConfig(_Config):
    """Settings of `report`: what to look at, which seeds to compare with, and where the page goes."""

    model_config = ConfigDict(json_schema_extra={"config_example": "seeds: seed_tasks/seed_tasks.jsonl"})

    source: Path = setting(
        help="A run directory, or an Alpaca JSON/JSONL dataset (then the run-only sections, funnel and cost, are left out).", argument=True, metavar="SOURCE")
    seeds: Path | None = setting(
        None, "Seed tasks (JSONL) for the ROUGE-L-to-seed histogram. Default: the run's own seed file; none for a plain dataset.", metavar="FILE")
    out: Path | None = setting(
        None, "Directory for report.html and report.json. Default: the run directory, or beside a dataset file as NAME.report.html.", metavar="DIR")
