"""What the stages read of a generate run's settings, as a protocol (docs/ARCHITECTURE.md, layers).

The settings class itself (generate/settings.py's GenerateConfig) sits two layers up, because it
extends each recipe's options class; the stages name only the fields they read, and GenerateConfig
has every one of them (tests/stages/test_settings.py checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from selfinstruct.endpoint_settings import BatchSettings, TeacherSettings


@runtime_checkable
class StageSettings(Protocol):
    """The generate settings a stage reads: the budget, the proposal request's shape, the checks and the teacher."""

    budget: int
    seeds: Path | None
    prompts: Path | None
    include_seeds: bool
    # a proposal request
    num_instructions_per_request: int
    num_seed_examples: int | None
    num_machine_examples: int | None
    temperature: float | None
    top_p: float | None
    presence_penalty: float | None
    max_tokens: int | None
    # the checks
    consistency: int
    quality_judge: bool | None
    min_quality: float
    # the teacher
    teacher: TeacherSettings
    batch_api: BatchSettings

    @property
    def proposal_cap(self) -> int:
        """Most proposal requests the run may make."""
        ...
