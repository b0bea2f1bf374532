"""Precomputed answers as a contestant: read a JSON / JSONL file and match its rows to the tasks.

    matched = match_answers(read_answer_rows(path, side="a"), tasks)
    matched.answers["task_7"]      # the response text
    matched.missing, matched.extra # tasks with no answer; rows that match no task

Rows may be written by this tool (`answers_a.jsonl`: instruction, input, response) or by
others: the instruction under `instruction` or `prompt`, the optional `input`, and the answer
under `response`, `output`, `completion` or `answer` (or `target` when nothing else holds one).
A row matches a task on instruction + input after whitespace normalisation; a `prompt` that
holds the instruction and input run together matches too. Nothing is dropped silently: tasks
without an answer and rows without a task are counted and reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from selfinstruct.errors import UserError
from selfinstruct.evaluate.tasks import read_json_rows
from selfinstruct.records import EvalTask, normalize_input, normalize_ws, task_key

ANSWER_KEYS = ("response", "output", "completion", "answer", "target")
INSTRUCTION_KEYS = ("instruction", "prompt")


class AnswerRow(BaseModel):
    """One precomputed answer, with where it came from for error messages."""

    where: str
    instruction: str
    input: str
    response: str


class MatchedAnswers(BaseModel):
    """A file's answers by task id, and what did not match either way."""

    answers: dict[str, str]
    missing: list[str]  # task ids the file has no answer for
    extra: int  # rows that match no task
    conflicting: list[str] = []  # task ids answered twice, differently (the first answer is used)


def _field(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    for key in keys:
        if key in obj and obj[key] is not None:
            return key, obj[key]
    return None, None


def read_answer_rows(path: Path, side: str) -> list[AnswerRow]:
    """Every row of an answers file; a row without an instruction or an answer is an error naming it."""
    rows = []
    for where, obj in read_json_rows(path, "answers file"):
        if not isinstance(obj, dict):
            raise UserError(f"--{side} {where}: expected a JSON object, got {type(obj).__name__}")
        key, instruction = _field(obj, INSTRUCTION_KEYS)
        if key is None:
            raise UserError(f"--{side} {where}: no 'instruction' or 'prompt' field")
        answer_key, response = _field(obj, ANSWER_KEYS)
        if answer_key is None:
            raise UserError(f"--{side} {where}: no answer field (one of {', '.join(ANSWER_KEYS)})")
        for name, value in ((key, instruction), (answer_key, response), ("input", obj.get("input", ""))):
            if value is not None and not isinstance(value, str):
                raise UserError(f"--{side} {where}: field '{name}' must be a string, got {type(value).__name__}")
        rows.append(AnswerRow(where=where, instruction=instruction, input=normalize_input(obj.get("input") or ""), response=response))
    if not rows:
        raise UserError(f"--{side} {path}: no answers (the file is empty)")
    return rows


def match_answers(rows: list[AnswerRow], tasks: list[EvalTask]) -> MatchedAnswers:
    """Answers by task id: exact key first, then a prompt equal to instruction and input run together."""
    by_key = {t.key: t for t in tasks}
    by_joined = {normalize_ws(f"{t.instruction} {t.input}"): t for t in tasks}
    answers: dict[str, str] = {}
    conflicting: list[str] = []
    extra = 0
    for row in rows:
        task = by_key.get(task_key(row.instruction, row.input))
        if task is None and not row.input:
            task = by_joined.get(normalize_ws(row.instruction))
        if task is None:
            extra += 1
            continue
        if task.id in answers:
            if normalize_ws(answers[task.id]) != normalize_ws(row.response) and task.id not in conflicting:
                conflicting.append(task.id)
            continue
        answers[task.id] = row.response
    missing = [t.id for t in tasks if t.id not in answers]
    return MatchedAnswers(answers=answers, missing=missing, extra=extra, conflicting=conflicting)
