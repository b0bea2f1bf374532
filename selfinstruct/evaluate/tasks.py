"""Evaluation tasks: read a task file in either supported format, and the key answers are matched on.

    tasks = read_tasks(Path("eval_tasks/eval_tasks.jsonl"))   # or alpaca_data.json / .jsonl
    tasks[0].instruction, tasks[0].input, tasks[0].reference
    task_key(tasks[0].instruction, tasks[0].input)            # whitespace-normalised match key

Two formats are read:
- the Self-Instruct user-oriented format, one object a line:
  {"id", "instruction", "instances": [{"input", "output"}], "motivation_app"?}; every instance
  becomes one task (ids get "#2", "#3", ... after the first instance);
- Alpaca rows, {"instruction", "input"?, "output"?}, as a JSON list or one object a line.

The shipped set (eval_tasks/eval_tasks.jsonl) is the default. It is written for this project and
is never training data. Bad lines are UserErrors naming file:line; an empty file is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from selfinstruct.errors import UserError
from selfinstruct.readers import read_records
from selfinstruct.records import EvalTask, normalize_input

DEFAULT_TASKS_NAME = "eval_tasks.jsonl"


class TaskSet(BaseModel):
    """The tasks of one file, with what was skipped while reading it."""

    path: Path
    tasks: list[EvalTask]
    duplicates: list[str] = []  # ids of tasks whose instruction + input repeat an earlier task's


def default_tasks_path() -> Path:
    """The shipped set: inside the installed wheel, or the repository's eval_tasks/ in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "eval_tasks" / DEFAULT_TASKS_NAME
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "eval_tasks" / DEFAULT_TASKS_NAME


def read_json_rows(path: Path, what: str) -> list[tuple[str, Any]]:
    """(where, object) pairs from a JSON list or JSON Lines (any extension but .json is read as JSONL)."""
    fmt = "json" if path.suffix.lower() == ".json" else "jsonl"
    return read_records(path, what, fmt).located()


def _text(obj: dict[str, Any], key: str, where: str, required: bool) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise UserError(f"{where}: missing field '{key}'")
        return ""
    if not isinstance(value, str):
        raise UserError(f"{where}: field '{key}' must be a string, got {type(value).__name__}")
    return value


def _tasks_of(where: str, obj: Any, number: int) -> list[EvalTask]:
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    instruction = _text(obj, "instruction", where, required=True)
    if not instruction.strip():
        raise UserError(f"{where}: field 'instruction' is empty")
    base_id = str(obj.get("id", f"task_{number}"))
    app = obj.get("motivation_app") if isinstance(obj.get("motivation_app"), str) else None
    if "instances" not in obj:
        output = _text(obj, "output", where, required=False)
        return [EvalTask(id=base_id, instruction=instruction, input=normalize_input(_text(obj, "input", where, False)),
                         reference=output or None, motivation_app=app)]  # fmt: skip
    instances = obj["instances"]
    if not isinstance(instances, list) or not instances:
        raise UserError(f"{where}: field 'instances' must be a non-empty list of {{input, output}}")
    tasks = []
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict):
            raise UserError(f"{where}: instance {i} must be an object with input and output")
        output = _text(inst, "output", f"{where}: instance {i}", required=False)
        tasks.append(EvalTask(
            id=base_id if i == 0 else f"{base_id}#{i + 1}", instruction=instruction,
            input=normalize_input(_text(inst, "input", f"{where}: instance {i}", False)),
            reference=output or None, motivation_app=app,
        ))  # fmt: skip
    return tasks


def read_tasks(path: Path) -> TaskSet:
    """Every task of a task file, in file order; a repeated instruction + input is kept once."""
    rows = read_json_rows(path, "task file")
    tasks: list[EvalTask] = []
    seen_keys: set[str] = set()
    seen_ids: dict[str, str] = {}
    duplicates: list[str] = []
    for number, (where, obj) in enumerate(rows):
        for task in _tasks_of(where, obj, number):
            if task.id in seen_ids:
                raise UserError(f"{where}: duplicate id '{task.id}' (first at {seen_ids[task.id]})")
            seen_ids[task.id] = where
            if task.key in seen_keys:
                duplicates.append(task.id)
                continue
            seen_keys.add(task.key)
            tasks.append(task)
    if not tasks:
        raise UserError(f"{path}: no tasks (the file is empty)")
    return TaskSet(path=path, tasks=tasks, duplicates=duplicates)
