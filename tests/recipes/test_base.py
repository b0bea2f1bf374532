"""Every registered recipe provides the whole Recipe protocol (recipes/base.py), so no caller asks whether a member exists."""

from __future__ import annotations

import types
import typing
from pathlib import Path

import pytest

from selfinstruct.recipes import RECIPES, budget_unit, recipe_of_run
from selfinstruct.recipes.base import Driver, Recipe, RecipeSettings
from selfinstruct.recipes.conversation_options import ConversationSettings
from selfinstruct.recipes.grounded.options import GroundedSettings
from selfinstruct.stages.settings import StageSettings
from tests.conftest import SEEDS, FakeTeacher


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


def _protocol_fields(protocol: type) -> dict[str, object]:
    """A settings protocol's data members with their types (its own and those of the protocols it extends)."""
    return {name: hint for name, hint in typing.get_type_hints(protocol).items()}


@pytest.mark.parametrize("protocol", [RecipeSettings, ConversationSettings, GroundedSettings], ids=lambda p: p.__name__)
def test_generate_settings_have_every_field_a_recipe_reads_with_the_same_type(protocol: type) -> None:
    """Recipes see GenerateConfig (a layer above) only through these protocols: each field they name exists there, typed alike."""
    from selfinstruct.generate.settings import GenerateConfig

    fields = _protocol_fields(protocol)
    assert fields and set(fields) >= set(_protocol_fields(StageSettings))
    for name, hint in fields.items():
        assert GenerateConfig.model_fields[name].annotation == hint, name
    cfg = GenerateConfig(seeds=SEEDS, budget=3, out=Path("unused"))
    assert isinstance(cfg, protocol)


def test_a_settings_object_missing_a_field_is_not_recipe_settings() -> None:
    from selfinstruct.generate.settings import GenerateConfig

    cfg = GenerateConfig(seeds=SEEDS, budget=3, out=Path("unused"))
    partial = types.SimpleNamespace(**{name: getattr(cfg, name) for name in _protocol_fields(RecipeSettings) if name != "seed_mix"})
    assert not isinstance(partial, RecipeSettings)


def test_the_pipeline_offers_every_member_of_the_driver_protocol(tmp_path: Path) -> None:
    """The engine's Pipeline is what recipes receive as Driver: every member the protocol names is there."""
    from selfinstruct.generate.pipeline import Pipeline
    from selfinstruct.generate.settings import GenerateConfig
    from selfinstruct.records import read_seed_tasks
    from selfinstruct.run import RunDir
    from selfinstruct.templates import Templates

    cfg = GenerateConfig(seeds=SEEDS, budget=2, out=tmp_path / "run", recipe="alpaca")
    run = RunDir(cfg.out)
    run.open()
    try:
        recipe = RECIPES["alpaca"]
        driver = Pipeline(cfg, recipe, run, run.load_state(), read_seed_tasks(SEEDS), Templates(None, recipe.TEMPLATES), FakeTeacher({}))
        assert isinstance(driver, Driver)
        members = {name for name in vars(Driver) if not name.startswith("_")} | set(Driver.__annotations__)
        assert {"record", "record_candidate", "lookahead", "done", "state", "cfg", "recipe_session"} <= members
        for name in members:
            assert hasattr(driver, name), name
    finally:
        run.close()
