"""The Recipe protocol: every hook and constant a recipe module provides, in one place.

A recipe is a module (recipes/self_instruct.py, alpaca.py, conversation.py, grounded/recipe.py)
that defines every member below; recipes/__init__.py's RECIPES maps a --recipe name to it, and
tests/recipes/test_base.py checks each one against this protocol. The generate engine (generate/),
report, export, review and status read a recipe only through these members, so none of them names
a recipe, and a new recipe is a new module plus one line in RECIPES (docs/ARCHITECTURE.md).

A member that does not apply to a recipe is still defined, as None (or the documented neutral
value), so that no caller asks whether it exists.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    from selfinstruct.generate.pipeline import Pipeline
    from selfinstruct.generate.settings import GenerateConfig
    from selfinstruct.records import SeedTask
    from selfinstruct.run import RunDir, RunState
    from selfinstruct.stages.estimate import StageEstimate
    from selfinstruct.templates import Templates


# The help panel of the options every recipe shares, and of a recipe's own where it has no panel of its own.
RECIPE = "Recipe"


@runtime_checkable
class Recipe(Protocol):
    """What one recipe provides to the engine and to the commands that read its runs."""

    HELP: str
    """What it makes, in a sentence or two: `generate --help` lists each recipe's under --recipe."""

    # --- what it asks ---------------------------------------------------------------------------
    TEMPLATES: dict[str, tuple[str, ...]]
    """The prompt templates it renders (prompts/<name>.txt), each with its required placeholders."""
    DECODING: dict[str, float]
    """Its proposal requests' default decoding (temperature, top_p, presence_penalty)."""
    EXAMPLES: tuple[int, int]
    """Seed tasks and machine-written tasks shown per proposal request."""
    TOKENS_PER_ITEM: int
    """Room per proposed item in a proposal's max_tokens."""

    # --- what --budget counts and how the driver paces it ---------------------------------------
    BUDGET_UNIT: str
    """What --budget counts, in words ("instructions", "conversations", "examples"); messages use it."""
    NEEDS_SEEDS: bool
    """Whether the recipe reads --seeds (grounded reads --context instead)."""
    ITEMS_PER_REQUEST: int | None
    """Items one proposal request yields, for the default attempt cap; None: --num-instructions-per-request."""
    PROPOSAL_SHARE: float
    """Share of the teacher's slots proposals may hold (the rest finish work); 0.5 unless proposals are the work."""
    ESTIMATE_ASSUMES: str | None
    """The dry run's assumptions in words; None: the filters' keep rate and the finish rate."""

    # --- what report, export, review and status need to know ------------------------------------
    PRODUCTS: tuple[str, ...]
    """The files write_product leaves in the run directory; the first is the one a review covers."""
    INSTRUCTION_ROWS: bool
    """Whether the run's rows are instruction rows (instruction, input, output) that report and export read."""
    CLASSIFIES: bool
    """Whether kept instructions go through the classification stage (the report's funnel shows the step)."""
    ASKED_IN_INPUT: bool
    """Whether a row's question is its input (grounded) rather than its instruction, to match rows to the journal."""

    # --- its options ---------------------------------------------------------------------------
    OPTIONS: type[BaseModel] | None
    """Its own options class, which generate's settings (GenerateConfig) extend; None if it has none."""

    def identity(self, cfg: GenerateConfig) -> dict[str, object]:
        """The settings beyond the recipe and --num-instructions-per-request that a resumed directory must
        match, because they fix what request n asks (may be empty)."""
        ...

    # --- the run ---------------------------------------------------------------------------------
    def check_inputs(self, cfg: GenerateConfig) -> None:
        """Read the recipe's own inputs up front, so bad input fails before the run starts (may do nothing)."""
        ...

    def prepare(self, driver: Pipeline) -> None:
        """Before any request: journal what the files give, finish what a resumed run left half done."""
        ...

    def propose(self, driver: Pipeline, request: int) -> Coroutine[Any, Any, None]:
        """One proposal request: render, ask, parse, filter, journal."""
        ...

    def finish_batch(self, cfg: GenerateConfig) -> int:
        """How many kept items one `finish` call takes."""
        ...

    def finish(self, driver: Pipeline, ids: list[str]) -> Coroutine[Any, Any, None]:
        """The stages after filtering, for `ids`; journals one Completed per id."""
        ...

    gated_instances: Callable[[GenerateConfig], int] | None
    """Instances the quality gate scores for a budget (the dry run's count); None: the gate and the
    verifiers do not apply to this recipe's rows."""

    # --- the product -----------------------------------------------------------------------------
    def rows(self, state: RunState, cfg: GenerateConfig, seeds: list[SeedTask]) -> list[dict[str, Any]]:
        """The product's rows, from the journal replayed into `state`."""
        ...

    def write_product(self, run: RunDir, rows: list[dict[str, Any]]) -> None:
        """Write PRODUCTS from `rows` (atomically; a finished run only)."""
        ...

    def summary(self, state: RunState, cfg: GenerateConfig) -> dict[str, Any]:
        """The recipe's own counts for summary.json (may be empty)."""
        ...

    def product_message(self, summary: dict[str, Any], run_dir: Path) -> str:
        """The line `generate` prints when a run completes: what was written, where."""
        ...

    def estimate(self, cfg: GenerateConfig, templates: Templates, seeds: list[SeedTask], structured: bool) -> list[StageEstimate]:
        """The dry run's requests and tokens for the recipe's own stages (the gate is added by the engine)."""
        ...


def no_summary(state: RunState, cfg: GenerateConfig) -> dict[str, Any]:
    """The summary hook of a recipe with no counts of its own."""
    return {}


def no_inputs(cfg: GenerateConfig) -> None:
    """The check_inputs hook of a recipe with no inputs beyond the seeds (read by the engine)."""


def no_identity(cfg: GenerateConfig) -> dict[str, object]:
    """The identity hook of a recipe whose requests are fixed by the recipe and the request size alone."""
    return {}
