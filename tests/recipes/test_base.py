"""Every registered recipe provides the whole Recipe protocol (recipes/base.py), so no caller asks whether a member exists."""

from __future__ import annotations

import types

import pytest

from selfinstruct.recipes import RECIPES, budget_unit, recipe_of_run
from selfinstruct.recipes.base import Recipe


@pytest.mark.parametrize("name", list(RECIPES))
def test_each_recipe_provides_every_member(name: str) -> None:
    assert isinstance(RECIPES[name], Recipe)
    recipe = RECIPES[name]
    assert recipe.PRODUCTS and all(isinstance(p, str) for p in recipe.PRODUCTS)
    assert recipe.BUDGET_UNIT and 0 < recipe.PROPOSAL_SHARE <= 1
    assert set(recipe.TEMPLATES) and all(isinstance(v, tuple) for v in recipe.TEMPLATES.values())


def test_a_module_missing_a_member_is_not_a_recipe() -> None:
    partial = types.ModuleType("partial")
    for member in ("TEMPLATES", "DECODING", "EXAMPLES", "TOKENS_PER_ITEM", "prepare", "propose", "finish", "rows"):
        setattr(partial, member, getattr(RECIPES["alpaca"], member))
    assert not isinstance(partial, Recipe)


def test_a_run_without_a_recipe_is_a_self_instruct_run_and_an_unknown_one_is_none() -> None:
    assert recipe_of_run(None) is RECIPES["self-instruct"]
    assert recipe_of_run("no-such-recipe") is None
    assert budget_unit("no-such-recipe") == "instructions"
    assert budget_unit("conversation") == "conversations"


def test_generate_settings_extend_every_recipe_options_class() -> None:
    from selfinstruct.generate.settings import GenerateConfig

    for recipe in RECIPES.values():
        if recipe.OPTIONS is not None:
            assert issubclass(GenerateConfig, recipe.OPTIONS)
            assert set(recipe.OPTIONS.model_fields) <= set(GenerateConfig.model_fields)
