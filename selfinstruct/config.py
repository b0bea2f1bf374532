"""Pydantic settings for each command: the single source of defaults, validated before any work starts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Config(BaseModel):
    """Base for command settings: unknown keys are mistakes, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- generate -------------------------------------------------------------------------

# --- finetune / ask -------------------------------------------------------------------
