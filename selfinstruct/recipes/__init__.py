"""Recipes: how a run turns seed tasks into rows, one module each, each readable top to bottom.

    self_instruct.py  propose -> filter -> classify -> instances (the default; Self-Instruct)
    alpaca.py         one pass: complete tasks (instruction, input, output) -> filter (Stanford Alpaca)
    conversation.py   openers -> assistant and user-simulator turns -> ShareGPT / messages (UltraChat, Vicuna)
    grounded.py       user's documents/annotations -> Q/A per response type -> grounding checks (LLaVA)

Every recipe module provides the same names, which the driver (pipeline.py), the dry-run
estimator (estimate.py) and `generate` call without knowing which recipe they hold:

    TEMPLATES                        the prompt templates it renders, with their required placeholders
    DECODING, EXAMPLES, TOKENS_PER_ITEM   its proposal defaults (decoding, examples shown, answer size)
    prepare(driver)                  before any request: finish what a resumed run left half done
    async propose(driver, request)   one proposal request: render, ask, parse, filter, journal
    finish_batch(cfg)                how many kept instructions one `finish` call takes
    async finish(driver, ids)        the stages after filtering; journals one Completed per id
    rows(state, cfg, seeds)          the product: alpaca_data.json rows
    estimate(cfg, templates, seeds)  the dry run's per-stage requests and tokens

and, optionally (a recipe whose product is not alpaca_data.json):

    write_product(run, rows)         write the product files instead of alpaca_data.json
    summary(state, cfg)              extra counts for summary.json
    check_inputs(cfg)                read the recipe's own inputs up front (bad input fails before the run starts)
    NEEDS_SEEDS = False              the recipe does not read --seeds
    ITEMS_PER_REQUEST                items one proposal request yields, for the default attempt cap
    PROPOSAL_SHARE                   share of the teacher's slots proposals may hold (default 0.5)
    BUDGET_UNIT, ESTIMATE_ASSUMES    what --budget counts, and the dry run's assumptions, in words

Adding a recipe is a new module here, its tests, and one line in RECIPES.
"""

from __future__ import annotations

from types import ModuleType

from selfinstruct.recipes import alpaca, conversation, self_instruct
from selfinstruct.recipes.grounded import recipe as grounded

RECIPES: dict[str, ModuleType] = {
    "self-instruct": self_instruct,
    "alpaca": alpaca,
    "conversation": conversation,
    "grounded": grounded,
}


def budget_unit(recipe: str | None) -> str:
    """What a recipe's --budget counts, in words ("instructions" unless the recipe says otherwise)."""
    return getattr(RECIPES.get(recipe or ""), "BUDGET_UNIT", "instructions")
