"""The turns of a generated conversation: the two roles' prompts, the stop marker, and the turn filters.

    messages = assistant_prompt(templates, history)          # the teacher answers as the assistant
    messages = simulator_prompt(templates, history, follow_up(cid, n, attempt))  # the user's next message
    reason, score = turn_problem(text, finish_reason, "user", history, "rouge")

The assistant sees the conversation as real chat turns under its system prompt; the user
simulator sees it as a transcript in one message (a small model keeps the roles apart far better
that way than when the roles are swapped) and answers with the next user message, or with
STOP_MARKER when the conversation has reached its natural end. Each simulator request names one
kind of follow-up (FOLLOW_UPS, rotated per conversation and turn) instead of a menu to pick from, so
chats vary and a user turn asked for again asks for something else. Both templates put their fixed
text first and the conversation last.

A turn is dropped when it is empty, cut off by the token limit, a refusal (every opener passed the
instruction filters, so it is a harmless request), a copy of the turn before it (ROUGE-L F > 0.7,
either role: a small simulator repeats the assistant's line and the assistant repeats it back;
the first answer is exempt, since an opener may hold a text to edit and return), or, for a user
turn, a restatement of an earlier user message (ROUGE-L F > 0.9), a message in the assistant's voice
(offering help, asking what the user would like), one that names the roles ("the assistant said")
instead of speaking to the assistant, one too short to ask anything ("Sure!"), or one that asks,
requests or objects to nothing (the simulator answering its own question).
A dropped user turn is asked for again, with the next kind of follow-up, up to SIMULATOR_TRIES times.
"""

from __future__ import annotations

import re
import zlib
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
SIMULATOR_TRIES = 3  # requests for one user turn before a dropped one ends the conversation
MIN_USER_WORDS = 3  # "Sure!", "Thanks." or "Why?" ask the assistant for nothing it can answer well

# What the simulator is asked to write, each completing "... in which the user {follow_up}".
FOLLOW_UPS = (
    "wants one specific point of that answer explained in more depth",
    "asks a new, related question that the answer leads to",
    "wants a shorter or simpler version of the answer, or one with an example",
    "doubts one claim in the answer and asks whether it is right",
    "mentions a detail of their own situation and asks how the answer applies to it",
)

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
# The assistant's part a simulator goes on to write: "Assistant:", "AI:", "The assistant would respond:".
_ASSISTANT_PART = re.compile(
    r"\n\s*(?:\*\*)?(?:the\s+)?(?:assistant|ai)(?:'s\s+\w+|\s+(?:would\s+|might\s+)?(?:respond|reply|answer|say)s?)?(?:\*\*)?\s*:",
    re.IGNORECASE,
)
# The assistant's lines in a simulated user's mouth: offering help, asking what the user wants.
_ASSISTANT_VOICE = re.compile(
    r"\b(?:how\s+(?:can|may|could)\s+i\s+(?:help|assist)|(?:can|could|may)\s+i\s+(?:help|assist)\s+you|"
    r"(?:what\s+)?(?:else\s+)?(?:can|could|may)\s+i\s+(?:help|assist|do\s+for)\s+you|"
    r"i(?:'d|\s+would|'m|\s+am)\s+(?:be\s+)?(?:happy|glad)\s+to\s+\w+|happy\s+to\s+help|"
    r"(?:would|do)\s+you\s+(?:like|want)\s+(?:me\s+)?to|you(?:'d|\s+would)\s+like\s+(?:me\s+)?to|(?:is\s+there\s+)?anything\s+else\s+(?:i\s+can|you\s+(?:would|need|want))|"
    r"do\s+you\s+have\s+any\s+(?:other\s+|more\s+|further\s+)?questions|feel\s+free\s+to\s+ask|"
    r"let\s+me\s+know\s+(?:if|what|how)|(?:the|a|which)\s+task\s+you\s+would\s+like)",
    re.IGNORECASE,
)
# A user speaks to the assistant as "you": one who names the roles is narrating the chat, not taking part in it.
_NAMES_ROLES = re.compile(r"\bthe\s+(?:ai\s+)?(?:assistant|user)\b|\bassistant's\b", re.IGNORECASE)
# An answer's opening ("Certainly! ...") is no user's.
_ASSISTANT_OPENING = re.compile(r"^\W*(?:(?:certainly|of\s+course|absolutely|sure)\s*[!.,]|here(?:'s|\s+is|\s+are)\b)", re.IGNORECASE)
# A user message asks, requests or objects: a question mark or a word of asking. One with neither is a statement,
# most often the simulator answering its own question ("The sentence is grammatically correct, as ...").
_REQUEST = re.compile(
    r"\?|\b(?:please|can|could|would|will|should|tell|explain|show|give|make|write|rewrite|redo|add|list|try|"
    r"describe|check|help|suggest|recommend|want|need|wonder|curious|confused|wrong|mistake|incorrect|disagree)\b",
    re.IGNORECASE,
)
# A user message that goes on with another "User:" message (a transcript, not one message) is cut there.
_USER_PART = re.compile(r"\n\s*(?:\*\*)?(?:user|human)(?:\*\*)?\s*:", re.IGNORECASE)
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


def follow_up(cid: str, n: int, attempt: int = 0) -> str:
    """The kind of follow-up asked for at message n of conversation cid: the kinds in turn, from a start
    the id picks (so chats differ), and the next kind for each new attempt at the same turn."""
    return FOLLOW_UPS[(zlib.crc32(cid.encode()) + n // 2 + attempt) % len(FOLLOW_UPS)]


def simulator_prompt(templates: Templates, history: list[ChatMessage], follow_up: str = FOLLOW_UPS[0]) -> list[Message]:
    """The user-simulator role: its instructions, then the conversation so far as one transcript and the kind
    of follow-up wanted."""
    return templates.messages(SIMULATOR_TEMPLATE, stop_marker=STOP_MARKER, transcript=transcript(history), follow_up=follow_up)


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
    which small models do instead of writing a message; None when there is none. A line that is a whole short
    line of the prompt ("The conversation so far:") counts; a piece of a longer one needs five words."""
    instructions = prompt[0].content if prompt and prompt[0].role == "system" else ""
    request = prompt[-1].content if prompt else ""
    # The request's heading above the transcript and its last paragraph below it; the transcript is not ours.
    head, tail = request.split("\n\n", 1)[0], request.rsplit("\n\n", 1)[-1]
    known = {_words(line) for line in f"{instructions}\n{head}\n{tail}".splitlines()} - {""}
    for line in text.splitlines():
        words = _words(line)
        n = len(words.split())
        if (n >= 5 and any(words in k for k in known)) or (n >= 2 and words in known):
            return line.strip()
    return None


def clean_user_turn(text: str) -> str:
    """The simulator's reply as a user message: a leading "User:" label, wrapping quotes and any
    assistant reply it went on to write (small models play both sides) removed."""
    text = _ASSISTANT_PART.split(text.strip(), maxsplit=1)[0]
    text = _ROLE_LABEL.sub("", text.strip()).strip()
    text = _USER_PART.split(text, maxsplit=1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def clean_assistant_turn(text: str) -> str:
    """The assistant's reply without a leading "Assistant:" label."""
    return _ASSISTANT_LABEL.sub("", text.strip()).strip()


def in_assistant_voice(text: str) -> bool:
    """A simulated user message that speaks as the assistant: it offers help or asks what the user wants
    ("Sure, what would you like to know?"), as a small model playing the user slides into doing."""
    return bool(_ASSISTANT_VOICE.search(text) or _ASSISTANT_OPENING.match(text))


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
        if len(re.findall(r"\w+", text)) < MIN_USER_WORDS:
            return "too_short", None
        if in_assistant_voice(text):
            return "assistant_voice", None
        if _NAMES_ROLES.search(text):
            return "names_roles", None
        # Any earlier user message, or the instruction above an opener's input, asked again.
        earlier = [part for m in history if m.role == "user" for part in {m.content, m.content.split("\n\n", 1)[0]}]
        score = max((similarity(text, e, tokenizer) for e in earlier), default=0.0)
        if score > RESTATEMENT_THRESHOLD:
            return "restatement", round(score, 4)
        if not _REQUEST.search(text):
            return "no_request", None
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
