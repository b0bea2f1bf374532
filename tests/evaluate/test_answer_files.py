"""Precomputed answers: the keys other tools write, matching on normalised instruction + input, and what does not match."""

import json
from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.evaluate.answer_files import match_answers, read_answer_rows
from selfinstruct.evaluate.contestants import check_distinct, parse_contestant
from selfinstruct.evaluate.tasks import EvalTask

TASKS = [
    EvalTask(id="t1", instruction="Add the numbers.", input="2 and 3"),
    EvalTask(id="t2", instruction="Name a color.", input=""),
    EvalTask(id="t3", instruction="Summarize the text.", input="A long text."),
]


def _rows(tmp_path, rows, name="a.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in rows) if name.endswith(".jsonl") else json.dumps(rows))
    return read_answer_rows(path, "a")


def test_keys_other_tools_write(tmp_path):
    rows = _rows(tmp_path, [
        {"instruction": "Add the numbers.", "input": "2 and 3", "response": "5"},          # ours
        {"instruction": "Name  a\ncolor.", "output": "Red.", "generator": "x"},            # AlpacaEval style, messy whitespace
        {"prompt": "Summarize the text. A long text.", "target": "Short."},               # prompt holds instruction + input
    ])  # fmt: skip
    matched = match_answers(rows, TASKS)
    assert matched.answers == {"t1": "5", "t2": "Red.", "t3": "Short."}
    assert matched.missing == [] and matched.extra == 0


def test_missing_extra_and_conflicting(tmp_path):
    rows = _rows(tmp_path, [
        {"instruction": "Name a color.", "output": "Red."},
        {"instruction": "Name a color.", "output": "Blue."},
        {"instruction": "Not one of ours.", "output": "?"},
    ], name="a.json")  # fmt: skip
    matched = match_answers(rows, TASKS)
    assert matched.answers == {"t2": "Red."}
    assert matched.missing == ["t1", "t3"] and matched.extra == 1 and matched.conflicting == ["t2"]


def test_input_must_match_too(tmp_path):
    rows = _rows(tmp_path, [{"instruction": "Add the numbers.", "input": "4 and 5", "response": "9"}])
    assert match_answers(rows, TASKS).answers == {}


@pytest.mark.parametrize(("row", "message"), [
    ({"output": "x"}, "a.jsonl:1: no 'instruction' or 'prompt' field"),
    ({"instruction": "x"}, "a.jsonl:1: no answer field"),
    ({"instruction": "x", "response": 3}, "a.jsonl:1: field 'response' must be a string"),
    ([1], "a.jsonl:1: expected a JSON object"),
])  # fmt: skip
def test_bad_rows_name_the_line(tmp_path, row, message):
    with pytest.raises(UserError, match=message):
        _rows(tmp_path, [row])


def test_empty_answers_file(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    with pytest.raises(UserError, match="no answers"):
        read_answer_rows(tmp_path / "a.jsonl", "a")


def test_contestant_specs(tmp_path):
    (tmp_path / "answers.jsonl").write_text("{}")
    assert parse_contestant(str(tmp_path / "answers.jsonl"), "a").kind == "file"
    assert parse_contestant("openai:gpt-4o-mini", "a").model == "gpt-4o-mini"
    remote = parse_contestant("openai:llama3@http://127.0.0.1:8000/v1", "b")
    assert (remote.model, remote.base_url) == ("llama3", "http://127.0.0.1:8000/v1")
    assert parse_contestant("qwen2.5-coder-0.5b", "a").kind == "gguf"
    assert parse_contestant("gemma-3-270m", "a").kind == "transformers"
    assert parse_contestant("org/some-model", "a").source == "hub:org/some-model"
    fake_gguf = tmp_path / "m.gguf"
    fake_gguf.write_bytes(b"NOPE")
    with pytest.raises(UserError, match="not a GGUF file"):
        parse_contestant(str(fake_gguf), "a")
    with pytest.raises(UserError, match="same contestant"):
        check_distinct(parse_contestant("openai:m", "a"), parse_contestant("openai:m", "b"))
    check_distinct(parse_contestant("openai:m", "a"), parse_contestant("openai:m@http://h:1/v1", "b"))


def test_finetune_dir_uses_its_own_template(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "prompt_template.json").write_text(json.dumps({"with_input": "Q: {instruction}\n{input}\nA:", "no_input": "Q: {instruction}\nA:"}))
    contestant = parse_contestant(str(tmp_path), "a")
    assert contestant.finetune_dir and contestant.prompt_format(None) == "trained"
    assert contestant.prompt_format("chat") == "trained"  # --template only fills in for models without one
    assert contestant.template(None).render("Hi.") == "Q: Hi.\nA:"
    (tmp_path / "prompt_template.json").write_text("{}")
    with pytest.raises(UserError, match="not a valid prompt template"):
        parse_contestant(str(tmp_path), "a")


def test_a_finetune_dir_trained_on_conversations_is_prompted_with_its_chat_template(tmp_path):
    """finetune on conversations writes no prompt_template.json; its summary names the chat template instead."""
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "training_summary.json").write_text(json.dumps({"chat_template": "vicuna", "data": {"path": "conversations.json"}}))
    contestant = parse_contestant(str(tmp_path), "a")
    assert contestant.trained_on_chat and contestant.prompt_format(None) == "chat" and contestant.template(None) is None
    assert contestant.training_data == Path("conversations.json")
    (tmp_path / "training_summary.json").write_text(json.dumps({"chat_template": None}))
    with pytest.raises(UserError, match="--template alpaca"):  # an Alpaca-trained dir without its template: ask
        parse_contestant(str(tmp_path), "a").prompt_format(None)
