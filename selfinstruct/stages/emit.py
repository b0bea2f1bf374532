"""The last stage: turn a run's finished instructions into alpaca_data.json rows.

Rows are exactly {instruction, input, output}; the seeds' own instances come first when asked
for, then the first `budget` finished instructions in the order they were kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from selfinstruct.records import AlpacaExample, SeedTask

if TYPE_CHECKING:
    from selfinstruct.config import GenerateConfig
    from selfinstruct.run import RunState


def alpaca_rows(state: RunState, cfg: GenerateConfig, seeds: list[SeedTask]) -> list[dict[str, str]]:
    """alpaca_data.json rows: (seeds if asked, then) the first `budget` finished instructions, one row per instance."""
    rows: list[dict[str, str]] = []
    if cfg.include_seeds:
        for seed in seeds:
            rows += [AlpacaExample(instruction=seed.instruction, input=i.input, output=i.output).model_dump() for i in seed.instances]
    for cid in state.done_ids()[: cfg.budget]:
        instruction = state.kept[cid].instruction
        rows += [AlpacaExample(instruction=instruction, input=i.input, output=i.output).model_dump() for i in state.completed[cid].instances]
    return rows
