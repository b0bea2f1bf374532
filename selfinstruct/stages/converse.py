"""The turns of a generated conversation: the two roles' prompts, the stop marker, and the turn filters.

    messages = assistant_prompt(templates, history)          # the teacher answers as the assistant
    messages = simulator_prompt(templates, history)          # the teacher writes the user's next message
    reason, score = turn_problem(text, finish_reason, "user", history, "rouge")

The assistant sees the conversation as real chat turns under its system prompt; the user
simulator sees it as a transcript in one message (a small model keeps the roles apart far better
that way than when the roles are swapped) and answers with the next user message, or with
STOP_MARKER when the conversation has reached its natural end. Both templates put their fixed
text first and the conversation last.

A turn is dropped when it is empty, cut off by the token limit, a refusal (every opener passed the
instruction filters, so it is a harmless request), a copy of the turn before it (ROUGE-L F > 0.7,
either role: a small simulator repeats the assistant's line and the assistant repeats it back;
the first answer is exempt, since an opener may hold a text to edit and return), or, for a user
turn, a restatement of the previous user turn (ROUGE-L F > 0.9).
"""

from __future__ import annotations

import re
from pathlib import Path

from selfinstruct.errors import UserError
from selfinstruct.readers import detect_format, read_records, require_object
from selfinstruct.records import ChatMessage, Instance
from selfinstruct.rouge import RougeIndex
from selfinstruct.teacher.client import Message
from selfinstruct.templates import Templates

ASSISTANT_TEMPLATE = "conversation_assistant"
SIMULATOR_TEMPLATE = "conversation_user"
STOP_MARKER = "[[END]]"
RESTATEMENT_THRESHOLD = 0.9
COPY_THRESHOLD = 0.7  # the near-duplicate threshold of the instruction filter

# Stock refusals, at the start of a reply (a helpful answer may say "I can't" later on).
_REFUSAL = re.compile(
    r"^\W*(?:i'?m\s+(?:sorry|afraid)|i\s+am\s+(?:sorry|afraid|unable|not able)|sorry,|i\s+apologi[sz]e|"
    r"i\s+(?:cannot|can'?t|can\s+not|won'?t|will\s+not)\s+(?:help|assist|provide|answer|do|comply|fulfil|write|create|complete)|"
    r"as\s+an\s+ai(?:\s+language\s+model)?,?\s+i\s+(?:cannot|can'?t|am\s+(?:not|unable))|"
    r"unfortunately,?\s+i\s+(?:cannot|can'?t|am\s+unable))",
    re.IGNORECASE,
)
# "I'm sorry to hear that..." or "Sorry, I meant..." are not refusals: a refusal says it will not do something.
_REFUSAL_BODY = re.compile(
    r"\b(?:can'?t|cannot|can\s+not|unable|won'?t|will\s+not|not\s+able|not\s+comfortable|not\s+appropriate)\b", re.IGNORECASE
)
_ASSISTANT_LABEL = re.compile(r"^\s*(?:\*\*)?(?:assistant|ai)(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
_ASSISTANT_PART = re.compile(r"\n\s*(?:\*\*)?(?:assistant|ai)(?:\*\*)?\s*:", re.IGNORECASE)
_ROLE_LABEL = re.compile(r"^\s*(?:\*\*)?(?:user|human|you)(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)


def opener_text(instruction: str, input: str = "") -> str:
    """The first user message: the instruction, and its input below it when it has one."""
    instruction, input = instruction.strip(), input.strip()
    return f"{instruction}\n\n{input}" if input else instruction


def opener_of(instruction: str, instances: list[Instance]) -> str:
    """A kept candidate's opening message: its first instance's input travels with the instruction."""
    return opener_text(instruction, instances[0].input if instances else "")


def assistant_prompt(templates: Templates, history: list[ChatMessage]) -> list[Message]:
    """The assistant role: its system prompt, then the conversation so far as chat turns (ending with the user)."""
    system = templates.messages(ASSISTANT_TEMPLATE)
    return [*system, *(Message(role=m.role, content=m.content) for m in history)]


def transcript(history: list[ChatMessage]) -> str:
    return "\n\n".join(f"{'User' if m.role == 'user' else 'Assistant'}: {m.content.strip()}" for m in history)


def simulator_prompt(templates: Templates, history: list[ChatMessage]) -> list[Message]:
    """The user-simulator role: its instructions, then the conversation so far as one transcript."""
    return templates.messages(SIMULATOR_TEMPLATE, stop_marker=STOP_MARKER, transcript=transcript(history))


def is_stop(text: str) -> bool:
    """Whether the simulator ended the conversation: its reply is the stop marker (spacing, case and
    punctuation aside). A message that merely mentions the marker, e.g. a small model echoing its
    instructions, is not a stop; echo_of_prompt catches that one."""
    squashed = re.sub(r"\s+", "", text).upper()
    if STOP_MARKER not in squashed:
        return False
    return not re.sub(r"\W+", "", squashed.replace(STOP_MARKER, ""))


def strip_marker(text: str) -> str:
    """A user message without the stop marker a simulator appended to it ("Thanks, one more thing... [[END]]")."""
    return re.sub(r"\[\[\s*end\s*\]\]", "", text, flags=re.IGNORECASE).strip()


def _words(line: str) -> str:
    return " ".join(re.findall(r"\w+", line.lower()))


def echo_of_prompt(text: str, prompt: list[Message]) -> str | None:
    """A line of the simulator's reply that copies a line of its own instructions (not of the transcript),
    which small models do instead of writing a message; None when there is none."""
    instructions = prompt[0].content if prompt and prompt[0].role == "system" else ""
    tail = prompt[-1].content.rsplit("\n\n", 1)[-1] if prompt else ""  # the request after the transcript
    known = {_words(line) for line in f"{instructions}\n{tail}".splitlines()}
    for line in text.splitlines():
        words = _words(line)
        if len(words.split()) >= 5 and any(words in k for k in known if k):
            return line.strip()
    return None


def clean_user_turn(text: str) -> str:
    """The simulator's reply as a user message: a leading "User:" label, wrapping quotes and any
    assistant reply it went on to write (small models play both sides) removed."""
    text = _ASSISTANT_PART.split(text.strip(), maxsplit=1)[0]
    text = _ROLE_LABEL.sub("", text.strip()).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def clean_assistant_turn(text: str) -> str:
    """The assistant's reply without a leading "Assistant:" label."""
    return _ASSISTANT_LABEL.sub("", text.strip()).strip()


def is_refusal(text: str) -> bool:
    """A stock refusal at the start of the reply ("I'm sorry, but I can't help with that")."""
    head = text.strip()[:200]
    return bool(_REFUSAL.match(head)) and bool(_REFUSAL_BODY.search(head))


def similarity(a: str, b: str, tokenizer: str = "rouge") -> float:
    """ROUGE-L F of two texts, with the run's tokenizer (rouge_score's float form)."""
    index = RougeIndex(threshold=RESTATEMENT_THRESHOLD, tokenizer=tokenizer)  # type: ignore[arg-type]
    index.add(b)
    return index.best_match(a)[1]


def turn_problem(
    text: str, finish_reason: str | None, role: str, history: list[ChatMessage], tokenizer: str = "rouge"
) -> tuple[str | None, float | None]:
    """Why a new turn is dropped (None when it is kept), and the ROUGE-L score for a restatement."""
    if finish_reason == "content_filter":
        return "content_filter", None
    if not text.strip():
        return "empty", None
    if finish_reason == "length":
        return "cut_off", None
    if is_refusal(text):
        return "refusal", None
    # The opener's answer may rightly return most of its text (fix the typos in ...); later turns may not.
    if len(history) >= 2:
        score = similarity(text, history[-1].content, tokenizer)
        if score > COPY_THRESHOLD:
            return "copies_previous_turn", round(score, 4)
    if role == "user":
        previous = next((m.content for m in reversed(history) if m.role == "user"), None)
        if previous is not None:
            score = similarity(text, previous, tokenizer)
            if score > RESTATEMENT_THRESHOLD:
                return "restatement", round(score, 4)
    return None, None


def read_openers(source: Path) -> list[tuple[str, str]]:
    """(instruction, input) of each distinct instruction an earlier run kept: RUN_DIR/alpaca_data.json or such a file.

    A run's rows repeat an instruction once per instance; the first row's input comes with it.
    """
    path = source / "alpaca_data.json" if source.is_dir() else source
    if source.is_dir() and not path.is_file():
        raise UserError(f"--from {source}: no alpaca_data.json in it (has that run met its budget?)")
    data = read_records(path, "--from file", fmt="jsonl" if detect_format(path) == "jsonl" else "json")
    openers: dict[str, str] = {}
    for where, row in data.located():
        row = require_object(row, where)
        instruction, input = row.get("instruction"), row.get("input") or ""
        if not isinstance(instruction, str) or not instruction.strip():
            raise UserError(f"{where}: needs a non-empty string 'instruction'")
        if not isinstance(input, str):
            raise UserError(f"{where}: 'input' must be a string, got {type(input).__name__}")
        openers.setdefault(" ".join(instruction.split()), input.strip())
    if not openers:
        raise UserError(f"--from {path}: no instructions in it")
    return list(openers.items())
