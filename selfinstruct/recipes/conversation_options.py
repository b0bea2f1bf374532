"""The conversation recipe's own options (`--turns`, `--from`), in the Recipe panel of `generate --help`.

GenerateConfig extends ConversationOptions, so these are read as cfg.turns and cfg.openers_from; the
recipe's hooks name them through ConversationSettings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from selfinstruct.recipes.base import RECIPE, RecipeSettings
from selfinstruct.settings import _Config, setting


class ConversationOptions(_Config):
    """How many user turns a conversation has, and an earlier run whose instructions open more of them."""

    turns: int = setting(
        3, "conversation: user turns per conversation, each answered by the assistant; the simulator may end one earlier with its stop marker.", panel=RECIPE, ge=1, le=10)
    openers_from: Path | None = setting(
        None, "conversation: also open conversations with the instructions an earlier run kept: its run directory or an alpaca_data.json (JSON or JSONL).", panel=RECIPE, flag="--from", metavar="PATH")


@runtime_checkable
class ConversationSettings(RecipeSettings, Protocol):
    """What the conversation recipe's hooks read: the settings every recipe reads, and ConversationOptions' fields."""

    turns: int
    openers_from: Path | None
