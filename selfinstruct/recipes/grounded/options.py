"""The grounded recipe's own options (the "Grounded recipe" panel of `generate --help`).

GenerateConfig extends GroundedOptions, so these are read as cfg.context, cfg.types, ...; the
recipe's hooks name them through GroundedSettings, and its identity hook names those that a resumed
directory must match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from selfinstruct.errors import UserError
from selfinstruct.recipes.base import RecipeSettings
from selfinstruct.settings import _Config, setting

GROUNDED = "Grounded recipe"
RESPONSE_TYPES = ("conversation", "detail", "reasoning")


class GroundedOptions(_Config):
    """--context documents and annotations, how they are chunked, which response types, --verify."""

    context: list[Path] = setting(
        [], "grounded: a document or folder to write from (repeatable): .txt/.md (chunked at paragraphs and headings), .pdf (its text layer), "
        ".jsonl of ready contexts {\"id\", \"context\"} or of LLaVA/COCO image annotations {\"id\", \"image\", \"captions\", \"instances\": [{\"category\", \"bbox\"}]} (optional \"width\"/\"height\" to normalise pixel boxes).",
        panel=GROUNDED, metavar="PATH")
    chunk_tokens: int = setting(400, "grounded: most tokens in one chunk of a text, Markdown or PDF document.", panel=GROUNDED, ge=32, le=8000)
    chunk_overlap: int = setting(
        40, "grounded: tokens of whole paragraphs or sentences a chunk repeats from the end of the one before (none across a heading).", panel=GROUNDED, ge=0)
    types: list[str] = setting(
        help="grounded: response types written for each context (repeatable, or comma-separated): conversation (2-5 questions with definite answers), "
        "detail (a thorough description or summary), reasoning (a question needing step-by-step reasoning). Default: all three.", panel=GROUNDED,
        default_factory=lambda: list(RESPONSE_TYPES))
    verify: bool = setting(
        False, "grounded: after the cheap checks, ask the teacher as a judge whether every claim of each answer is supported by its context (one yes/no request per answer); drop the unsupported.", panel=GROUNDED)
    # None until validated: on (an on/off option with None shows both its flags).
    context_in_input: bool | None = setting(
        None, "grounded: put the context in alpaca_data.json's input (and above the first question in conversations.json). Default: on; --no-context-in-input leaves it out, for closed-book tuning on your documents.", panel=GROUNDED)

    @field_validator("types", mode="before")
    @classmethod
    def _comma_types(cls, value: Any) -> Any:
        """--types conversation,reasoning as well as --types conversation --types reasoning; each type once."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            value = list(dict.fromkeys(t.strip() for v in value for t in str(v).split(",") if t.strip()))
            unknown = [t for t in value if t not in RESPONSE_TYPES]
            if unknown:
                raise PydanticCustomError("unknown_type", f"{unknown[0]!r} is not one of {', '.join(map(repr, RESPONSE_TYPES))}.")
        return value

    @model_validator(mode="after")
    def _types_and_context_default(self) -> GroundedOptions:
        if not self.types:
            raise UserError("--types: name at least one of conversation, detail, reasoning")
        if self.context_in_input is None:
            object.__setattr__(self, "context_in_input", True)
        return self


@runtime_checkable
class GroundedSettings(RecipeSettings, Protocol):
    """What the grounded recipe's hooks read: the settings every recipe reads, and GroundedOptions' fields."""

    context: list[Path]
    chunk_tokens: int
    chunk_overlap: int
    types: list[str]
    verify: bool
    context_in_input: bool | None
