"""Typed rows that flow through the pipeline, and the seed-file reader that validates them.

    tasks = read_seed_tasks(Path("seed_tasks/seed_tasks.jsonl"))

Seeds use the original Self-Instruct / Alpaca format, one JSON object a line:
    {"id", "name", "instruction", "instances": [{"input", "output"}], "is_classification"}
The file is read by readers.py; this module says what a valid seed is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from selfinstruct.errors import UserError
from selfinstruct.readers import iter_jsonl, require_object

# A seed file is small; a line longer than this is garbage, and reading it whole could exhaust memory.
MAX_SEED_LINE_BYTES = 1 << 20

# Markers models and datasets use for "this task has no input"; all become "".
_NO_INPUT = re.compile(
    r"^\s*[<\[(]?\s*(no[\s_-]*input|noinput|none|n/?a|null|empty|no input (is )?(needed|required))\s*[>\])]?\s*\.?\s*$",
    re.IGNORECASE,
)


def normalize_input(text: str | None) -> str:
    """Map '<noinput>', 'No input', 'N/A' and friends to the empty string; strip the rest."""
    if text is None:
        return ""
    text = text.strip()
    return "" if _NO_INPUT.match(text) else text


class Instance(BaseModel):
    """One input/output example of a task; input is "" when the task needs none."""

    model_config = ConfigDict(extra="ignore")
    input: str = ""
    output: str


class SeedTask(BaseModel):
    """A hand-written task from the seed file."""

    model_config = ConfigDict(extra="ignore")
    id: str
    name: str = ""
    instruction: str = Field(min_length=1)
    instances: list[Instance]
    is_classification: bool = False


class AlpacaExample(BaseModel):
    """One row of alpaca_data.json: exactly these three string fields."""

    model_config = ConfigDict(extra="forbid")
    instruction: str
    input: str
    output: str


Status = Literal["kept", "rejected"]


class Candidate(BaseModel):
    """A proposed instruction and its fate at the filter stage; one journal line each."""

    kind: Literal["candidate"] = "candidate"
    id: str
    instruction: str
    status: Status
    reason: str | None = None
    most_similar: str | None = None
    score: float | None = None
    # One line on why, where the reason alone does not say it (a verifier's: "ZeroDivisionError: ... (line 3)").
    detail: str | None = None
    request: int
    # Alpaca recipe: the instance arrives with the instruction. Grounded: the question/answer pairs (input, output).
    instances: list[Instance] = Field(default_factory=list)
    # Recipe grounded: the context chunk it was written from (file, offset/page or id, its text) and the response type.
    source: dict[str, Any] | None = None


class Classified(BaseModel):
    """The classification verdict for a kept instruction."""

    kind: Literal["classified"] = "classified"
    id: str
    is_classification: bool
    answer: str


class QualityNote(BaseModel):
    """The quality judge's verdict on one kept instance: its 1-5 score (None: unreadable) and one line why.

    score defaults to None because the journal leaves None fields out: a required one made the line unreadable on replay.
    """

    score: int | None = None
    reason: str
    expected: float | None = None  # a probability score (sum of k * p(k)); None for a text score
    reference: Literal["given", "own"] | None = None  # checked against a known answer, or the judge's own short answer


class ChatMessage(BaseModel):
    """One message of a generated conversation (recipe conversation)."""

    role: Literal["system", "user", "assistant"]
    content: str


class Completed(BaseModel):
    """The instance stage's outcome for a kept instruction: valid instances, or why there are none.

    Recipe conversation: the finished conversation (opener first, ending with an assistant turn)
    instead of instances, or an empty one with the reason it was dropped.
    """

    kind: Literal["completed"] = "completed"
    id: str
    instances: list[Instance]
    dropped: list[dict] = Field(default_factory=list)
    reason: str | None = None
    # The start of the teacher's answer when nothing usable came of it, so the journal shows why.
    raw: str | None = None
    # With generate --quality-judge: one note per kept instance, in the same order.
    quality: list[QualityNote] = Field(default_factory=list)
    # With the verifiers on: what they checked in the kept instances and passed, or left alone ("python_ran": 2).
    checks: dict[str, int] = Field(default_factory=dict)
    conversation: list[ChatMessage] | None = None
    # Why a kept conversation ended: turn_limit, stop_marker, or dropped_turn:<reason>.
    ended: str | None = None
    # The instances as answered, journaled before checks that ask the teacher again: a run stopped during them
    # resumes with these checks instead of paying for the instances twice. A later line for the id replaces it.
    unchecked: bool | None = None

    @property
    def finished(self) -> bool:
        """Whether this item counts towards the budget: it has instances (checked), or a conversation."""
        return bool(self.instances or self.conversation) and not self.unchecked


class Turn(BaseModel):
    """One turn of a conversation as it arrived from the teacher, journaled at once (recipe conversation).

    `n` counts the messages after the opener (1: the first answer, 2: the next user message, ...).
    The simulator's stop marker, a dropped answer or a user turn dropped SIMULATOR_TRIES times
    (stages/converse.py) ends its conversation; a user turn dropped fewer times is asked for again.
    """

    kind: Literal["turn"] = "turn"
    id: str
    n: int
    role: Literal["user", "assistant"]
    content: str
    status: Literal["kept", "dropped", "stop"] = "kept"
    reason: str | None = None
    score: float | None = None
    finish_reason: str | None = None


class Proposed(BaseModel):
    """A finished proposal request, so a resumed run knows how many it has paid for."""

    kind: Literal["proposed"] = "proposed"
    request: int
    parsed: int
    finish_reason: str | None = None


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "line"
    if first["type"] == "missing":
        return f"missing field '{where}'"
    if first["type"] == "string_too_short":
        return f"field '{where}' is empty"
    return f"field '{where}': {first['msg'].lower()}"


def read_seed_tasks(path: Path) -> list[SeedTask]:
    """Read and validate a seed file; any bad line is a UserError naming the file and line number."""
    tasks: list[SeedTask] = []
    seen: dict[str, int] = {}
    for lineno, value in iter_jsonl(path, "seed file", max_line_bytes=MAX_SEED_LINE_BYTES):
        obj = require_object(value, f"{path}:{lineno}")
        if "instances" in obj and not isinstance(obj["instances"], list):
            raise UserError(f"{path}:{lineno}: field 'instances' must be a list")
        if isinstance(obj.get("instruction"), str) and not obj["instruction"].strip():
            raise UserError(f"{path}:{lineno}: field 'instruction' is empty")
        obj.setdefault("id", f"seed_line_{lineno}")
        obj["id"] = str(obj["id"])
        try:
            task = SeedTask.model_validate(obj)
        except ValidationError as exc:
            raise UserError(f"{path}:{lineno}: {_describe(exc)}") from None
        if task.id in seen:
            raise UserError(f"{path}:{lineno}: duplicate id '{task.id}' (first on line {seen[task.id]})")
        seen[task.id] = lineno
        task.instances = [Instance(input=normalize_input(i.input), output=i.output) for i in task.instances]
        tasks.append(task)
    if not tasks:
        raise UserError(f"{path}: no seed tasks (the file is empty)")
    return tasks


# --- eval: a task both contestants answer (evaluate/tasks.py reads them; the judge compares answers to them)


class EvalTask(BaseModel):
    """One thing both contestants answer: an instruction, an optional input, maybe a reference answer."""

    id: str
    instruction: str
    input: str = ""
    reference: str | None = None
    motivation_app: str | None = None

    @property
    def key(self) -> str:
        return task_key(self.instruction, self.input)


def normalize_ws(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends."""
    return " ".join(text.split())


def task_key(instruction: str, input: str = "") -> str:
    """The match key for a task: instruction and input after whitespace normalisation."""
    return normalize_ws(instruction) + "\x1f" + normalize_ws(normalize_input(input))
