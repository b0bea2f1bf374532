"""The last stage: turn a run's finished instructions into alpaca_data.json rows, and write them.

Rows are exactly {instruction, input, output}; the seeds' own instances come first when asked
for, then the first `budget` finished instructions in the order they were kept. The recipes whose
product is alpaca_data.json alone (self-instruct, alpaca) use these as their product hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfinstruct.records import AlpacaExample, SeedTask

if TYPE_CHECKING:
    from selfinstruct.run import RunDir, RunState
    from selfinstruct.stages.settings import StageSettings

DATA = "alpaca_data.json"


def alpaca_rows(state: RunState, cfg: StageSettings, seeds: list[SeedTask]) -> list[dict[str, str]]:
    """alpaca_data.json rows: (seeds if asked, then) the first `budget` finished instructions, one row per instance."""
    rows: list[dict[str, str]] = []
    if cfg.include_seeds:
        for seed in seeds:
            rows += [AlpacaExample(instruction=seed.instruction, input=i.input, output=i.output).model_dump() for i in seed.instances]
    for cid in state.done_ids()[: cfg.budget]:
        instruction = state.kept[cid].instruction
        rows += [AlpacaExample(instruction=instruction, input=i.input, output=i.output).model_dump() for i in state.completed[cid].instances]
    return rows


def write_alpaca_data(run: RunDir, rows: list[dict[str, Any]]) -> None:
    """The product: alpaca_data.json, written whole."""
    run.write_json(DATA, rows)


def alpaca_message(summary: dict[str, Any], run_dir: Path) -> str:
    """What `generate` prints when an instruction run completes."""
    return f"wrote {summary['examples']} examples for {summary['instructions']} instructions to {run_dir / DATA}"
