"""The seed reader: the original format loads, and every kind of bad file gets file:line and a reason."""

import json

import pytest

from selfinstruct.errors import UserError
from selfinstruct.records import normalize_input, read_seed_tasks
from tests.conftest import COMPAT_SEEDS, SEEDS


def test_project_seeds_load():
    tasks = read_seed_tasks(SEEDS)
    assert len(tasks) >= 150


@pytest.mark.skipif(not COMPAT_SEEDS.exists(), reason="compatibility file is only beside the repository")
def test_original_self_instruct_format_loads():
    tasks = read_seed_tasks(COMPAT_SEEDS)
    assert len(tasks) == 175
    assert sum(t.is_classification for t in tasks) > 0
    assert all(t.instances and t.instances[0].output for t in tasks)


def _write(tmp_path, lines):
    path = tmp_path / "seeds.jsonl"
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    return path


GOOD = json.dumps({"id": "a", "instruction": "Say hello politely.", "instances": [{"input": "", "output": "Hello!"}]})


@pytest.mark.parametrize(
    "lines,message",
    [
        ([GOOD, "{not json"], ":2: invalid JSON"),
        ([GOOD, json.dumps({"id": "b", "instances": []})], ":2: missing field 'instruction'"),
        ([json.dumps({"id": "b", "instruction": "  ", "instances": []})], ":1: field 'instruction' is empty"),
        ([json.dumps({"id": "b", "instruction": "Do it.", "instances": "x"})], ":1: field 'instances' must be a list"),
        ([GOOD, GOOD], ":2: duplicate id 'a' (first on line 1)"),
        ([GOOD, b"\xff\xfe bad bytes"], ":2: not UTF-8 text"),
        (["[1, 2]"], ":1: expected a JSON object"),
        ([json.dumps({"id": "b", "instruction": "Do it.", "instances": [{"input": "x"}]})], ":1: missing field 'instances.0.output'"),
    ],
)
def test_bad_lines_are_named(tmp_path, lines, message):
    path = _write(tmp_path, lines)
    with pytest.raises(UserError) as err:
        read_seed_tasks(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(UserError, match="no seed tasks"):
        read_seed_tasks(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_seed_tasks(tmp_path / "nope.jsonl")


def test_inputs_are_normalised(tmp_path):
    path = _write(tmp_path, [json.dumps({"id": "x", "instruction": "Name a fruit now.", "instances": [{"input": "<noinput>", "output": "Apple"}]})])
    assert read_seed_tasks(path)[0].instances[0].input == ""


@pytest.mark.parametrize("marker", ["<noinput>", "No input", "no input.", "N/A", "n/a", "<No Input>", "None", "  ", "[no input]", "No input needed"])
def test_no_input_markers(marker):
    assert normalize_input(marker) == ""


@pytest.mark.parametrize("text", ["No, thanks.", "Nonetheless it works", "NASA", "The input is none of your business"])
def test_real_inputs_survive(text):
    assert normalize_input(text) == text
