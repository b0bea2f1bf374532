"""Stage 4: generate input/output instances for each kept instruction.

Classification tasks go output-first (list the labels, then an input for each) so the inputs do
not all land in one class; the rest go input-first (an input, then its output, or the output
directly when no input is needed). The worked examples are chat turns before the real task.
Where the endpoint takes a JSON schema the answer is {"examples": [...]} (read back into the same
Instance records); elsewhere the text parsers accept the small variations real models produce.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from selfinstruct.records import Instance, normalize_input
from selfinstruct.teacher.client import Message
from selfinstruct.templates import Templates


def build_instances_prompt(
    templates: Templates, instruction: str, is_classification: bool, max_instances: int, structured: bool = False
) -> list[Message]:
    """The output-first prompt for classification tasks, input-first for the rest; JSON example turns when `structured`."""
    name = "instances_output_first" if is_classification else "instances_input_first"
    messages = templates.messages(
        name, text_format=not structured, instruction=" ".join(instruction.split()), max_instances=max_instances
    )
    if structured:
        messages = [_as_json_turn(m, is_classification) if m.role == "assistant" else m for m in messages]
    return messages


def demonstration_text(messages: list[Message]) -> str:
    """Everything the prompt shows before the real task: what a copied example would come from."""
    return "\n".join(m.content for m in messages[:-1])


def worked_labels(messages: list[Message]) -> list[tuple[str, list[str]]]:
    """(task, labels) of an output-first prompt's worked examples, for the borrowed-label check."""
    return [(task, list(labels)) for task, labels in _worked_labels(tuple((m.role, m.content) for m in messages[:-1]))]


@functools.lru_cache(maxsize=64)
def _worked_labels(turns: tuple[tuple[str, str], ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    # The worked examples are the same in every request of a run: read once, not once per request.
    pairs = []
    for (ask_role, ask), (answer_role, answer) in zip(turns, turns[1:]):
        if ask_role == "user" and answer_role == "assistant":
            pairs.append((ask.split("Task:", 1)[-1].strip(), tuple(i.output for i in read_instances(answer, True, False))))
    return tuple(pairs)


def read_instances(text: str, is_classification: bool, truncated: bool, limit: int | None = None) -> list[Instance]:
    """An instance answer as Instance records: a constrained JSON answer, else the text format.

    `limit` is the number of examples asked for: an "Example N" header past it ends the answer.
    """
    from_json = parse_json_instances(text, is_classification)
    if from_json is not None:
        return from_json
    parse = parse_output_first if is_classification else parse_input_first
    return parse(text, truncated, limit)


# --- constrained answers -----------------------------------------------------------------


class _Example(BaseModel):
    input: str = ""
    output: str


class _Labeled(BaseModel):
    label: str
    input: str = ""


def instances_schema(is_classification: bool) -> dict[str, Any]:
    """The JSON an instance answer must be: {"examples": [{input, output}]} or [{label, input}] output-first."""
    fields = ["label", "input"] if is_classification else ["input", "output"]
    item = {
        "type": "object",
        "properties": {f: {"type": "string"} for f in fields},
        "required": fields,
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"examples": {"type": "array", "items": item}},
        "required": ["examples"],
        "additionalProperties": False,
    }


def _as_json_turn(turn: Message, is_classification: bool) -> Message:
    """A worked example's text answer as the JSON object a constrained answer holds."""
    return _json_turn(turn.content, is_classification)


@functools.lru_cache(maxsize=64)
def _json_turn(content: str, is_classification: bool) -> Message:
    # Worked examples repeat in every request: converted once and shared (see templates.fixed_turn).
    if is_classification:
        items = [{"label": i.output, "input": i.input} for i in parse_output_first(content, False)]
    else:
        items = [{"input": i.input, "output": i.output} for i in parse_input_first(content, False)]
    return Message(role="assistant", content=json.dumps({"examples": items}, ensure_ascii=False))


def _json_examples(text: str) -> list[dict] | None:
    """The example objects of a JSON answer; a cut-off answer keeps its complete ones. None: not JSON."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        obj = json.loads(stripped)
        items = obj.get("examples") if isinstance(obj, dict) else None
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    except ValueError:
        pass
    decoder, found, start = json.JSONDecoder(), [], stripped.find("[")
    pos = stripped.find("{", start + 1) if start >= 0 else -1
    while pos >= 0:
        try:
            item, end = decoder.raw_decode(stripped, pos)
        except ValueError:
            break
        if isinstance(item, dict):
            found.append(item)
        pos = stripped.find("{", end)
    return found


def parse_json_instances(text: str, is_classification: bool) -> list[Instance] | None:
    """Instances from a constrained JSON answer (labels become outputs), or None when it is not JSON."""
    items = _json_examples(text)
    if items is None:
        return None
    instances = []
    for item in items:
        try:
            if is_classification:
                labeled = _Labeled.model_validate(item)
                instances.append(Instance(input=normalize_input(labeled.input), output=labeled.label.strip()))
            else:
                example = _Example.model_validate(item)
                instances.append(Instance(input=normalize_input(example.input), output=example.output.strip()))
        except ValidationError:
            continue
    return instances


_EXAMPLE_HEADER = re.compile(r"^\s*[#*_ ]*example\s*(\d*)\s*[:.]?[*_ ]*$", re.IGNORECASE)
_IO_FIELD = re.compile(r"^\s*[*_]{0,2}(input|output)[*_]{0,2}\s*:[*_]{0,2}\s?", re.IGNORECASE)
_LABEL_FIELD = re.compile(r"^\s*[*_]{0,2}(class\s*label|label|input)[*_]{0,2}\s*:[*_]{0,2}\s?", re.IGNORECASE)
# A leaked next task: "Task:", "Task 2", "Task 2:", "### Task", "## Instruction", "Instruction:" on a line of its own.
_NEXT_TASK = re.compile(
    r"^\s*(?:#{1,6}\s*(?:task|instruction)\b|task\s*\d*\s*:|task\s+\d+\s*\.?\s*$|instruction\s*\d*\s*:)", re.IGNORECASE
)


def _fields(text: str, pattern: re.Pattern[str], split_on_header: bool, limit: int | None = None) -> list[list[tuple[str, str]]]:
    """Split a response into blocks of (field, value) pairs; a repeated field starts a new block."""
    blocks: list[list[tuple[str, str]]] = [[]]
    field: str | None = None
    lines: list[str] = []

    def close() -> None:
        if field is not None:
            blocks[-1].append((field, "\n".join(lines).strip()))

    for line in text.replace("\r\n", "\n").split("\n"):
        if _NEXT_TASK.match(line):
            if field is not None or any(blocks):
                break  # the model started inventing the next task of the demonstration
            continue  # an echo of the task before the examples
        header = _EXAMPLE_HEADER.match(line)
        if header and limit is not None and header.group(1) and int(header.group(1)) > limit:
            break  # "Example 6" after the examples asked for: the model has moved on to something else
        if split_on_header and header:
            close()
            field, lines = None, []
            blocks.append([])
            continue
        match = pattern.match(line)
        if match:
            close()
            name = re.sub(r"\s+", " ", match.group(1).lower())
            if any(f == name for f, _ in blocks[-1]):
                blocks.append([])
            field, lines = name, [line[match.end():]]
        elif field is not None:
            lines.append(line)
    close()
    return [b for b in blocks if b]


def parse_input_first(text: str, truncated: bool, limit: int | None = None) -> list[Instance]:
    """Read 'Example n / Input: … / Output: …' blocks; a missing input means the task takes none."""
    blocks = _fields(text, _IO_FIELD, split_on_header=True, limit=limit)
    if truncated and blocks:
        blocks.pop()
    instances = []
    for block in blocks:
        fields = dict(block)
        if "output" not in fields:
            continue
        instances.append(Instance(input=normalize_input(fields.get("input", "")), output=fields["output"]))
    return instances


def parse_output_first(text: str, truncated: bool, limit: int | None = None) -> list[Instance]:
    """Read 'Class label: … / Input: …' pairs into instances whose output is the label.

    Small models sometimes answer a classification prompt in the input/output format instead;
    when no label pair is found, that reading is used.
    """
    blocks = _fields(text, _LABEL_FIELD, split_on_header=False, limit=limit)
    if truncated and blocks:
        blocks.pop()
    instances = []
    for block in blocks:
        fields = {("label" if "label" in f else f): v for f, v in block}
        label = fields.get("label", "").strip()
        if not label or "input" not in fields:
            continue
        instances.append(Instance(input=normalize_input(fields["input"]), output=label))
    return instances or parse_input_first(text, truncated, limit)
