"""`generate --language`: every prompt asks for that language, the ASCII-first filter is off, and the unicode
ROUGE-L tokenizer catches near-duplicates that rouge_score's tokenizer cannot see; English is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.cli import app
from selfinstruct.recipes import RECIPES, all_templates
from selfinstruct.templates import LANGUAGE_NOTE, Templates
from tests.conftest import mock_args
from tests.reliability_checks import read_journal


def _rejections(out: Path) -> dict[str, int]:
    return json.loads((out / "summary.json").read_text())["rejected"]


@pytest.mark.parametrize("language", ["German", "Japanese"])
def test_a_foreign_run_keeps_non_ascii_starts_and_catches_near_duplicates(mock_teacher, runner, tmp_path, language):
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 6, "--language", language))
    assert result.exit_code == 0, result.output
    assert f"language {language}: near-duplicates are found with the unicode tokenizer" in result.output
    proposals = [r for r in mock_teacher.requests if r["stage"] == "propose"]
    assert all(f"Write each instruction in {language}," in r["body"]["messages"][-1]["content"] for r in proposals)
    # The other templates get the language note in their system turn.
    instances = [r for r in mock_teacher.requests if r["stage"] == "instances"]
    assert instances and all(LANGUAGE_NOTE.format(language=language) in r["body"]["messages"][0]["content"] for r in instances)
    rejected = _rejections(out)
    assert rejected.get("near_duplicate", 0) >= 3 and "non_ascii_start" not in rejected and "too_short" not in rejected
    kept = [c["instruction"] for c in read_journal(out) if c["kind"] == "candidate" and c["status"] == "kept"]
    assert kept and all(not text.isascii() for text in kept if language == "Japanese")
    config = json.loads((out / "config.json").read_text())
    assert config["language"] == language and config["rouge_tokenizer"] == "unicode" and config["allow_non_ascii"] is True


def test_japanese_near_duplicates_pass_unseen_with_rouge_scores_tokenizer(mock_teacher, runner, tmp_path):
    """The control: the same answers with --rouge-tokenizer rouge tokenize to nothing, so no duplicate is caught."""
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 6, "--language", "Japanese", "--rouge-tokenizer", "rouge"))
    assert result.exit_code == 0, result.output
    assert "near_duplicate" not in _rejections(out)
    assert "found with the rouge tokenizer" in result.output


def test_english_prompts_are_the_files_exactly(tmp_path):
    """With the default English nothing is added: every template renders to its file's text."""
    templates = Templates(None, all_templates())
    assert not templates.foreign
    for name in templates.required:
        values = {key: f"<{key}>" for key in templates.required[name]}
        rendered = templates.render(name, **values)
        expected = templates.text[name]
        for key, value in {**values, "language": "English"}.items():
            expected = expected.replace("{" + key + "}", value)
        assert rendered == expected.rstrip() + "\n", name
        assert "Write everything you write" not in "".join(m.content for m in templates.messages(name, **values))
    german = Templates(None, all_templates(), language="German")
    assert "in German, in one or two sentences" in german.render("propose_instructions", num_instructions=3, examples="1. x")
    system = german.messages("conversation_assistant")[0]
    assert system.role == "system" and system.content.endswith(LANGUAGE_NOTE.format(language="German"))
    assert any(LANGUAGE_NOTE.format(language="German") in m.content for m in german.messages("classify", tasks="1. x"))
    assert set(RECIPES)  # every recipe's templates were covered above


def test_keywords_file_replaces_the_english_keyword_list(mock_teacher, runner, tmp_path):
    words = tmp_path / "keywords.txt"
    words.write_text("# German keywords\nBild\nZeichne\n", encoding="utf-8")
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 4, "--keywords", str(words)))
    assert result.exit_code == 0, result.output
    rejected = _rejections(out)
    # The mock's "Draw a picture ..." is no longer a keyword reject under the German list.
    assert not any(reason.startswith("keyword:") for reason in rejected)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    bad = runner.invoke(app, mock_args(mock_teacher, tmp_path / "run2", 4, "--keywords", str(empty)))
    assert bad.exit_code == 2 and "no keywords in it" in bad.output and not (tmp_path / "run2").exists()


def test_keyword_pattern_matches_whole_words():
    from selfinstruct.stages.filters import cheap_reason, keyword_pattern

    german = keyword_pattern(["Bild", "zeichne"])
    assert cheap_reason("Beschreibe das Bild in drei Sätzen bitte.", True, german) == "keyword:bild"
    assert cheap_reason("Beschreibe die Bildung in drei Sätzen bitte.", True, german) is None
    assert cheap_reason("Draw a picture of a happy family please.", False, german) is None
