"""Recipes: how a run turns seed tasks into rows, one module each, each readable top to bottom.

    self_instruct.py  propose -> filter -> classify -> instances (the default; Self-Instruct)
    alpaca.py         one pass: complete tasks (instruction, input, output) -> filter (Stanford Alpaca)
    conversation.py   openers -> assistant and user-simulator turns -> ShareGPT / messages (UltraChat, Vicuna)
    grounded/         user's documents/annotations -> Q/A per response type -> grounding checks (LLaVA)

Every recipe module provides every member of the Recipe protocol (base.py: its prompt templates
and decoding, the run's hooks, the product and what report, export, review and status need to
know). The engine (generate/) and the commands read a recipe only through it and name none.

Adding a recipe is a new module here, its tests, and one line in RECIPES.
"""

from __future__ import annotations

from selfinstruct.recipes import alpaca, conversation, self_instruct
from selfinstruct.recipes.base import Recipe
from selfinstruct.recipes.grounded import recipe as grounded

RECIPES: dict[str, Recipe] = {
    "self-instruct": self_instruct,
    "alpaca": alpaca,
    "conversation": conversation,
    "grounded": grounded,
}


DEFAULT = "self-instruct"


def recipe_of_run(name: object) -> Recipe | None:
    """The recipe a run's config.json names; a run from before --recipe existed (no name) is a self-instruct
    run, and None is a name this version does not know."""
    if name is None:
        return RECIPES[DEFAULT]
    return RECIPES.get(name) if isinstance(name, str) else None


def budget_unit(recipe: str | None) -> str:
    """What a recipe's --budget counts, in words ("instructions" for a run whose recipe is not known)."""
    known = recipe_of_run(recipe)
    return known.BUDGET_UNIT if known is not None else "instructions"


def all_templates() -> dict[str, tuple[str, ...]]:
    """Every recipe's templates with their required placeholders (each recipe declares its own)."""
    required: dict[str, tuple[str, ...]] = {}
    for recipe in RECIPES.values():
        required.update(recipe.TEMPLATES)
    return required
