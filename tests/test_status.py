"""`selfinstruct status`: the last session's line names what the run's budget counts."""

import json

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app


@pytest.mark.parametrize(("recipe", "unit"), [
    ("self-instruct", "instructions"), ("alpaca", "instructions"), ("grounded", "examples"), ("conversation", "conversations"), (None, "instructions"),
])  # fmt: skip
def test_the_summary_line_names_the_budget_unit_of_the_runs_recipe(tmp_path, recipe, unit):
    (tmp_path / "config.json").write_text(json.dumps({"recipe": recipe} if recipe else {}))
    (tmp_path / "summary.json").write_text(json.dumps({"status": "complete", "instructions": 7, "budget": 10, "usd": 0.0}))
    result = CliRunner().invoke(app, ["status", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"last session: complete; 7 of 10 {unit}, $0.0000 spent" in result.output


def test_an_unreadable_config_falls_back_to_instructions(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "summary.json").write_text(json.dumps({"status": "complete", "instructions": 1, "budget": 2}))
    result = CliRunner().invoke(app, ["status", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "1 of 2 instructions" in result.output
