"""Settings of `export`: the single source of its options' defaults and help text."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict

from selfinstruct.settings import _Config, setting

ExportFormat = Literal["alpaca", "messages", "sharegpt", "hf", "sqlite"]


class ExportConfig(_Config):
    """Settings of `export`: which data, in which format, written where (a directory with a dataset card)."""

    model_config = ConfigDict(json_schema_extra={"config_example": "format: messages"})

    source: Path = setting(help="A run directory or an Alpaca JSON/JSONL dataset.", argument=True, metavar="SOURCE")
    format: ExportFormat = setting(
        help="alpaca: JSON list of instruction/input/output. messages: JSONL chat (OpenAI fine-tuning, TRL SFTTrainer). "
        "sharegpt: conversations (Vicuna, LLaMA-Factory, Axolotl). hf: datasets save_to_disk + Parquet, train/validation. "
        "sqlite: tables, foreign keys and full-text search for Datasette.")
    out: Path = setting(help="Directory to write: the data files and README.md (the dataset card).", metavar="DIR")
    force: bool = setting(False, "Replace OUT if it already exists.")
    drop_flagged: bool = setting(False, "Leave out rows with any quality flag (see `selfinstruct report`); the card records how many.")
    drop_rejected: bool = setting(
        False, "Leave out rows marked wrong in `selfinstruct review` and use its edited outputs (a review of a row changed since is not used); the card records how many.")
    val_size: float = setting(
        0.05, "hf: fraction of rows in the validation split, chosen with --seed (the rows finetune holds out with the same values).", ge=0, le=0.5)
    seed: int = setting(42, "hf: seed for choosing the validation rows.")
    seeds: Path | None = setting(None, "Seed file to name and hash in the card when the run's own path no longer exists.", metavar="FILE")
