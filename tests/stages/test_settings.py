"""The stages read a generate run's settings through StageSettings (stages/settings.py), never the class a layer above."""

from __future__ import annotations

import typing
from pathlib import Path

from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.stages.settings import StageSettings
from tests.conftest import SEEDS


def test_generate_settings_have_every_field_the_stages_read_with_the_same_type() -> None:
    fields = typing.get_type_hints(StageSettings)
    assert {"budget", "consistency", "min_quality", "teacher", "batch_api"} <= set(fields)
    for name, hint in fields.items():
        assert GenerateConfig.model_fields[name].annotation == hint, name
    cfg = GenerateConfig(seeds=SEEDS, budget=7, out=Path("unused"), max_proposals=4)
    assert isinstance(cfg, StageSettings)
    assert cfg.proposal_cap == 4  # the one member that is a property, not a field


def test_a_settings_object_without_the_proposal_cap_is_not_stage_settings() -> None:
    cfg = GenerateConfig(seeds=SEEDS, budget=7, out=Path("unused"))
    fields = {name: getattr(cfg, name) for name in typing.get_type_hints(StageSettings)}
    assert not isinstance(typing.cast(object, type("Partial", (), fields)()), StageSettings)
