"""The Recipe protocol: every hook and constant a recipe module provides, in one place.

A recipe is a module (recipes/self_instruct.py, alpaca.py, conversation.py, grounded/recipe.py)
that defines every member below; recipes/__init__.py's RECIPES maps a --recipe name to it, and
tests/recipes/test_base.py checks each one against this protocol. The generate engine (generate/),
report, export, review and status read a recipe only through these members, so none of them names
a recipe, and a new recipe is a new module plus one line in RECIPES (docs/ARCHITECTURE.md).

The engine sits a layer above the recipes, so a recipe sees it only through the two protocols here:
`Driver`, what the running session (generate/pipeline.py's Pipeline) offers a hook, and
`RecipeSettings`, what a hook reads of the run's settings (generate/settings.py's GenerateConfig). A
recipe with options of its own reads them through its own protocol on top (ConversationSettings,
GroundedSettings, beside its options class). tests/recipes/test_base.py checks that the engine's
classes provide every member.

A member that does not apply to a recipe is still defined, as None (or the documented neutral
value), so that no caller asks whether it exists.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from selfinstruct.stages.settings import StageSettings

if TYPE_CHECKING:
    import re

    from selfinstruct.judge.pointwise import QualityJudge
    from selfinstruct.records import Candidate, Classified, Completed, Instance, Proposed, SeedTask
    from selfinstruct.rouge import RougeIndex
    from selfinstruct.run import RunDir, RunState
    from selfinstruct.stages.estimate import StageEstimate
    from selfinstruct.stages.filters import Verdict
    from selfinstruct.stages.verifiers import Verifier
    from selfinstruct.teacher.seam import TeacherSeam
    from selfinstruct.templates import Templates


# The help panel of the options every recipe shares, and of a recipe's own where it has no panel of its own.
RECIPE = "Recipe"


@runtime_checkable
class RecipeSettings(StageSettings, Protocol):
    """The generate settings a recipe's hooks read: the stages' own, and the filters' and finishing stages'."""

    seed: int
    seed_mix: bool
    max_instances: int
    classify_batch: int
    allow_non_ascii: bool
    rouge_threshold: float
    rouge_tokenizer: Literal["rouge", "unicode"] | None


@runtime_checkable
class Driver(Protocol):
    """The running generate session, as a recipe's prepare, propose and finish hooks see it."""

    cfg: RecipeSettings
    state: RunState
    """The journal replayed: candidates, classifications, completed instructions, counts."""
    rundir: RunDir
    seeds: list[SeedTask]
    templates: Templates
    teacher: TeacherSeam
    quality: QualityJudge | None
    """The quality gate's judge, when the gate is on."""
    verifier: Verifier | None
    """The checks without a judge (stages/verifiers), unless --no-verifiers."""
    pool: RougeIndex
    """Seeds and kept instructions, for the near-duplicate filter."""
    banned_words: re.Pattern[str] | None
    """--keywords' pattern; None: the built-in English list."""
    machine: list[str]
    """Machine-written instructions a proposal may show as examples."""
    queue: deque[str]
    """Kept instructions waiting to be finished, in order."""
    early: dict[str, asyncio.Future[None]]
    """Queued instructions a recipe has started work on ahead of their turn, and that work."""
    recipe_session: Any
    """What a recipe keeps for one session, set by its prepare hook (the task mix's plan; grounded's contexts)."""

    def record(self, record: Candidate | Classified | Completed | Proposed) -> None:
        """Journal a record and apply it to the run state."""
        ...

    def record_candidate(
        self, request: int, j: int, instruction: str, verdict: Verdict, instances: list[Instance] | None = None, enqueue: bool = True,
        detail: str | None = None,
    ) -> str:
        """Journal item j of proposal `request` with the filters' verdict; a kept one is queued. Returns its id."""
        ...

    def lookahead(self, n: int, wanted: Callable[[str], bool]) -> list[str]:
        """Up to n queued instructions that `wanted` accepts, left in the queue."""
        ...

    @property
    def done(self) -> int:
        """Finished items so far."""
        ...


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

    def identity(self, cfg: RecipeSettings) -> dict[str, object]:
        """The settings beyond the recipe and --num-instructions-per-request that a resumed directory must
        match, because they fix what request n asks (may be empty)."""
        ...

    # --- the run ---------------------------------------------------------------------------------
    def check_inputs(self, cfg: RecipeSettings) -> None:
        """Read the recipe's own inputs up front, so bad input fails before the run starts (may do nothing)."""
        ...

    def prepare(self, driver: Driver) -> None:
        """Before any request: journal what the files give, finish what a resumed run left half done."""
        ...

    def propose(self, driver: Driver, request: int) -> Coroutine[Any, Any, None]:
        """One proposal request: render, ask, parse, filter, journal."""
        ...

    def finish_batch(self, cfg: RecipeSettings) -> int:
        """How many kept items one `finish` call takes."""
        ...

    def finish(self, driver: Driver, ids: list[str]) -> Coroutine[Any, Any, None]:
        """The stages after filtering, for `ids`; journals one Completed per id."""
        ...

    gated_instances: Callable[[RecipeSettings], int] | None
    """Instances the quality gate scores for a budget (the dry run's count); None: the gate and the
    verifiers do not apply to this recipe's rows."""

    # --- the product -----------------------------------------------------------------------------
    def rows(self, state: RunState, cfg: RecipeSettings, seeds: list[SeedTask]) -> list[dict[str, Any]]:
        """The product's rows, from the journal replayed into `state`."""
        ...

    def write_product(self, run: RunDir, rows: list[dict[str, Any]]) -> None:
        """Write PRODUCTS from `rows` (atomically; a finished run only)."""
        ...

    def summary(self, state: RunState, cfg: RecipeSettings) -> dict[str, Any]:
        """The recipe's own counts for summary.json (may be empty)."""
        ...

    def product_message(self, summary: dict[str, Any], run_dir: Path) -> str:
        """The line `generate` prints when a run completes: what was written, where."""
        ...

    def estimate(self, cfg: RecipeSettings, templates: Templates, seeds: list[SeedTask], structured: bool) -> list[StageEstimate]:
        """The dry run's requests and tokens for the recipe's own stages (the gate is added by the engine)."""
        ...


def no_summary(state: RunState, cfg: RecipeSettings) -> dict[str, Any]:
    """The summary hook of a recipe with no counts of its own."""
    return {}


def no_inputs(cfg: RecipeSettings) -> None:
    """The check_inputs hook of a recipe with no inputs beyond the seeds (read by the engine)."""


def no_identity(cfg: RecipeSettings) -> dict[str, object]:
    """The identity hook of a recipe whose requests are fixed by the recipe and the request size alone."""
    return {}
