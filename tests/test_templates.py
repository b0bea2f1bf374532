"""Prompt templates: shipped set loads, overrides are validated before any request is sent."""

import shutil

import pytest

from selfinstruct.errors import UserError
from selfinstruct.templates import Templates, all_templates, default_prompts_dir


def test_shipped_templates_load():
    templates = Templates()
    assert set(templates.text) == set(all_templates())


def test_render_substitutes_once(tmp_path):
    templates = Templates()
    text = templates.render("instances_input_first", instruction="Echo {max_instances} literally.", max_instances=3)
    assert "Echo {max_instances} literally." in text


def test_missing_template(tmp_path):
    shutil.copytree(default_prompts_dir(), tmp_path / "p")
    (tmp_path / "p" / "classify.txt").unlink()
    with pytest.raises(UserError, match="classify.txt"):
        Templates(tmp_path / "p")


def test_missing_placeholder(tmp_path):
    shutil.copytree(default_prompts_dir(), tmp_path / "p")
    (tmp_path / "p" / "classify.txt").write_text("No placeholder here.")
    with pytest.raises(UserError, match=r"\{tasks\}"):
        Templates(tmp_path / "p")


def test_missing_directory(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Templates(tmp_path / "absent")
