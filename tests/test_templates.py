"""Prompt templates: shipped set loads, overrides are validated before any request is sent."""

import shutil

import pytest

from selfinstruct.errors import UserError
from selfinstruct.recipes import all_templates
from selfinstruct.templates import Templates, default_prompts_dir


def test_shipped_templates_load():
    templates = Templates(None, all_templates())
    assert set(templates.text) == set(all_templates())


def test_render_substitutes_once(tmp_path):
    templates = Templates(None, all_templates())
    text = templates.render("instances_input_first", instruction="Echo {max_instances} literally.", max_instances=3)
    assert "Echo {max_instances} literally." in text


def test_missing_template(tmp_path):
    shutil.copytree(default_prompts_dir(), tmp_path / "p")
    (tmp_path / "p" / "classify.txt").unlink()
    with pytest.raises(UserError, match="classify.txt"):
        Templates(tmp_path / "p", all_templates())


def test_missing_placeholder(tmp_path):
    shutil.copytree(default_prompts_dir(), tmp_path / "p")
    (tmp_path / "p" / "classify.txt").write_text("No placeholder here.")
    with pytest.raises(UserError, match=r"\{tasks\}"):
        Templates(tmp_path / "p", all_templates())


def test_missing_directory(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Templates(tmp_path / "absent", all_templates())


def test_the_turns_every_request_repeats_are_shared_and_the_last_is_each_requests_own():
    """Requests waiting for a slot hold their prompts: the fixed turns are one object for all of them."""
    from selfinstruct.stages.classify import build_classify_prompt
    from selfinstruct.stages.instances import build_instances_prompt

    templates = Templates(None, all_templates())
    for structured in (False, True):
        one = build_instances_prompt(templates, "Name a prime number.", False, 3, structured)
        two = build_instances_prompt(templates, "Name a primary colour.", False, 3, structured)
        assert len(one) > 2 and all(a is b for a, b in zip(one[:-1], two[:-1]))
        assert one[-1] is not two[-1] and "prime number" in one[-1].content and "colour" in two[-1].content
        first, second = build_classify_prompt(templates, ["Name a color."], structured), build_classify_prompt(templates, ["Is 7 odd?"], structured)
        assert all(a is b for a, b in zip(first[:-1], second[:-1])) and first[-1].content != second[-1].content
    german = Templates(None, all_templates(), language="German").messages("instances_input_first", instruction="Nenne eine Primzahl.", max_instances=3)
    assert "German" in german[0].content and german[0] is Templates(None, all_templates(), language="German").messages(
        "instances_input_first", instruction="Nenne eine Farbe.", max_instances=3)[0]  # fmt: skip
