"""Stage 3: ask whether each kept instruction is a classification task (finite label set).

Self-Instruct asked one instruction at a time, "Is it classification? Yes/No", after ~30
demonstrations at temperature 0. A small model answering Yes/No for a batch copies the pattern
of the worked answers and calls explanations and code "classification". So we ask what kind of
answer each task wants (ANSWER_KINDS: one label from a fixed set, a number, code, an
explanation, ...), a choice a small model makes far more reliably, and a task is classification
exactly when its kind is the first. Several instructions go in one request, after three worked
rounds of ten given as chat turns. Where the endpoint takes a JSON schema the answer is
constrained to {"1": "<kind>", ...}, one key per task, so every verdict is readable; elsewhere
"<n>. <kind>" lines (or plain Yes/No, from older templates) are read, and an unreadable one is
asked again alone. A label verdict for a task whose opening asks for an explanation, a comparison
or code (`open_task`) is overruled by the recipe: no label can answer it.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from selfinstruct.teacher.client import Message
from selfinstruct.templates import Templates

# The kinds of answer prompts/classify.txt names, spelled as there; the first means classification.
LABEL_KIND = "one label from a fixed set"
ANSWER_KINDS = (LABEL_KIND, "a number", "a short fact", "code", "an explanation", "a list", "a piece of writing", "a rewritten text")


def build_classify_prompt(templates: Templates, instructions: list[str], structured: bool = False) -> list[Message]:
    """Worked rounds first (cacheable), then the numbered tasks to judge; JSON answers when `structured`."""
    tasks = "\n".join(f"{i}. {' '.join(t.split())}" for i, t in enumerate(instructions, 1))
    messages = templates.messages("classify", text_format=not structured, tasks=tasks)
    if structured:
        messages = [_as_json_turn(m) if m.role == "assistant" else m for m in messages]
    return messages


def verdict_schema(count: int) -> dict[str, Any]:
    """One answer kind for each of tasks 1..count, and nothing else."""
    keys = [str(i) for i in range(1, count + 1)]
    return {
        "type": "object",
        "properties": {k: {"type": "string", "enum": list(ANSWER_KINDS)} for k in keys},
        "required": keys,
        "additionalProperties": False,
    }


def _as_json_turn(turn: Message) -> Message:
    """A worked round's "<n>. <kind>" lines as the JSON object a constrained answer holds."""
    return _json_turn(turn.content)


@functools.lru_cache(maxsize=16)
def _json_turn(content: str) -> Message:
    # The worked rounds repeat in every request: converted once and shared (see templates.fixed_turn).
    obj = {}
    for line in content.splitlines():
        match = _NUMBERED.match(line)
        if match:
            obj[match.group(1)] = match.group(2).strip()
    return Message(role="assistant", content=json.dumps(obj))


# Openings of tasks that ask for an explanation, a comparison or code, never for one label. A 1.5B teacher still
# called a third of the "Is it possible ...?" and "What is the difference ...?" tasks of a run classification,
# against the rules and the worked rounds; its labels for them ("Yes"/"No", "Class"/"Object") then came
# with inputs that state the answer. None of the 36 classification seeds opens this way.
_OPEN_TASK = re.compile(
    r"^\s*(?:(?:can|could) you (?:please )?(?:explain|describe)|explain|describe|discuss|why\b|is it possible"
    r"|what(?: is|'s| are) the (?:main |key )?differences? between|what (?:is|are) the (?:purpose|role|benefits?|advantages?) of|what are some\b|how (?:can|do|does|should|would) (?:i|you|we|one)\b(?! (?:classify|label|categori[sz]e|rate))"
    r"|how to\b|(?:write|implement|create) (?:a |an )?(?:python |javascript |sql )?(?:function|program|script|class|query))",
    re.IGNORECASE,
)


def open_task(instruction: str) -> bool:
    """Whether the task's opening asks for an explanation, a comparison or code, so no label can answer it."""
    return bool(_OPEN_TASK.match(instruction))


_NUMBERED = re.compile(r"^\s*(?:\*\*)?(?:task\s*)?(\d+)\s*[.):\-]?\s*(?:\*\*)?\s*(.*)$", re.IGNORECASE)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_PREFIX = re.compile(r"^.*?(is it classification\??|classification\??\s*:|answer\s*:)", re.IGNORECASE)


def read_yes_no(text: str) -> bool | None:
    """Read one verdict: an answer kind ("a number", "one label from a fixed set"), or "Yes.", "yes, it is",
    "No", "Is it classification? No" and the like."""
    text = _PREFIX.sub("", text.strip(), count=1).strip().strip("*").strip()
    lowered = text.lower().strip('"').rstrip(".")
    for kind in ANSWER_KINDS:
        if lowered.startswith(kind):
            return kind == LABEL_KIND
    match = _YES_NO.search(text[:40])
    if not match:
        return None
    return match.group(1).lower() == "yes"


def parse_verdicts(text: str, count: int) -> list[bool | None]:
    """Verdicts for tasks 1..count, None where the response has no readable answer for one.

    A JSON object {"1": "<kind>", ...} (a constrained answer) is read first; then "<n>. <kind>" lines.
    """
    verdicts: list[bool | None] = [None] * count
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        for key, value in obj.items():
            if str(key).isdigit() and 0 < int(key) <= count and isinstance(value, (str, bool)):
                verdicts[int(key) - 1] = value if isinstance(value, bool) else read_yes_no(value)
        return verdicts
    numbered = False
    for line in text.replace("\r\n", "\n").split("\n"):
        match = _NUMBERED.match(line)
        if not match:
            continue
        index = int(match.group(1)) - 1
        if 0 <= index < count and verdicts[index] is None:
            answer = read_yes_no(match.group(2))
            if answer is not None:
                verdicts[index] = answer
                numbered = True
    if count == 1 and not numbered:
        verdicts[0] = read_yes_no(text)
    return verdicts
