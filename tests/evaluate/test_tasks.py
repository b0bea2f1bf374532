"""Task files: both formats, file:line errors, and the shipped set's size, shape and distance from the seeds."""

import json
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from selfinstruct.errors import UserError
from selfinstruct.evaluate.tasks import default_tasks_path, read_tasks
from selfinstruct.records import task_key
from tests.conftest import SEEDS


def _write(path: Path, rows: list, jsonl: bool = True) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) if jsonl else json.dumps(rows), encoding="utf-8")
    return path


def test_self_instruct_format_one_task_per_instance(tmp_path):
    path = _write(tmp_path / "t.jsonl", [
        {"id": "user_oriented_task_0", "motivation_app": "Grammarly", "instruction": "Fix the grammar.",
         "instances": [{"input": "he go home", "output": "He goes home."}, {"input": "<noinput>", "output": "x"}]},
        {"id": "t1", "instruction": "Name a color.", "instances": [{"input": "", "output": "Blue."}]},
    ])  # fmt: skip
    tasks = read_tasks(path).tasks
    assert [t.id for t in tasks] == ["user_oriented_task_0", "user_oriented_task_0#2", "t1"]
    assert tasks[0].reference == "He goes home." and tasks[0].motivation_app == "Grammarly"
    assert tasks[1].input == ""  # <noinput> normalised


@pytest.mark.parametrize("jsonl", [True, False])
def test_alpaca_json_and_jsonl(tmp_path, jsonl):
    rows = [{"instruction": "Add 2 and 3.", "input": "", "output": "5"}, {"instruction": "Echo.", "input": "hi"}]
    tasks = read_tasks(_write(tmp_path / ("a.jsonl" if jsonl else "a.json"), rows, jsonl)).tasks
    assert [(t.instruction, t.input, t.reference) for t in tasks] == [("Add 2 and 3.", "", "5"), ("Echo.", "hi", None)]


def test_repeated_task_kept_once_and_reported(tmp_path):
    rows = [{"instruction": "Say  hi.", "input": ""}, {"instruction": "Say hi.", "input": " "}]
    task_set = read_tasks(_write(tmp_path / "a.jsonl", rows))
    assert len(task_set.tasks) == 1 and len(task_set.duplicates) == 1


@pytest.mark.parametrize(("text", "message"), [
    ('{"instruction": "ok"}\n{"instruction": ', "t.jsonl:2: invalid JSON"),
    ('{"instruction": "ok"}\n[1, 2]\n', "t.jsonl:2: expected a JSON object"),
    ('{"input": "x"}\n', "t.jsonl:1: missing field 'instruction'"),
    ('{"instruction": "  "}\n', "t.jsonl:1: field 'instruction' is empty"),
    ('{"instruction": "a", "instances": []}\n', "t.jsonl:1: field 'instances' must be a non-empty list"),
    ('{"id": 1, "instruction": "a"}\n{"id": 1, "instruction": "b"}\n', "t.jsonl:2: duplicate id '1'"),
    ("\n\n", "no tasks"),
])  # fmt: skip
def test_bad_task_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "t.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_tasks(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="task file not found"):
        read_tasks(tmp_path / "nope.jsonl")


def test_key_normalises_whitespace_only():
    assert task_key("Say\n hi.", "  a  b ") == task_key("Say hi.", "a b")
    assert task_key("Say hi.", "") != task_key("say hi.", "")


# --- the shipped set ---------------------------------------------------------------------


def test_shipped_set_shape():
    path = default_tasks_path()
    assert path.name == "eval_tasks.jsonl" and path.is_file()
    tasks = read_tasks(path).tasks
    assert len(tasks) >= 120
    with_input = sum(1 for t in tasks if t.input)
    assert 0.4 <= with_input / len(tasks) <= 0.6
    assert all(t.reference and len(t.reference.split()) >= 1 for t in tasks)
    assert all(t.motivation_app for t in tasks)
    assert len({t.key for t in tasks}) == len(tasks)


def test_no_shipped_task_is_a_near_duplicate_of_a_seed():
    """ROUGE-L F against every seed instruction stays at or below 0.7 (rouge_score, the reference scorer)."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    seeds = [json.loads(line)["instruction"] for line in SEEDS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for task in read_tasks(default_tasks_path()).tasks:
        worst = max(scorer.score(seed, task.instruction)["rougeL"].fmeasure for seed in seeds)
        assert worst <= 0.7, task.instruction
