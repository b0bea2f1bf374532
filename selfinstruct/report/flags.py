"""Quality flags: the error classes AlpacaDataCleaned found in Alpaca's 52K rows, checked on each row.

    row_flags = flag_row(row)             # [Flag(name="empty_or_echo_output", field="output", detail="N/A"), ...]
    section = build_flags(source.rows)    # counts and examples per flag, for the report
    kept = [r for r, f in zip(rows, flag_rows(rows)) if not f]   # what `export --drop-flagged` keeps

Each detector is a small function of one row that returns why it fired, or None. They are meant
to be precise rather than exhaustive: a flag should be worth a look every time it fires.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from pydantic import BaseModel

from selfinstruct.records import normalize_input
from selfinstruct.report.source import Row
from selfinstruct.stages.verifiers.arithmetic import check_arithmetic

EXAMPLES_PER_FLAG = 5
FIELDS = ("instruction", "input", "output")

TITLES = {
    "merged_instruction": "Merged instructions (a second task or a template header inside a row)",
    "input_placeholder": "Input placeholders that survived",
    "empty_or_echo_output": "Empty, \"N/A\" or echo outputs",
    "media_reference": "References to images, audio or files",
    "url_only_input": "A URL as the only input",
    "control_characters": "Control characters",
    "unbalanced_code_fence": "Unbalanced code fences",
    "wrong_arithmetic": "Wrong arithmetic (checked with a safe evaluator)",
}


class Flag(BaseModel):
    """One flag raised on one row: which, in which field, and why."""

    name: str
    field: str
    detail: str


# --- detectors --------------------------------------------------------------------------

# A leaked next task: a template header, or a "Task N" / "Instruction:" line the teacher went on to write.
_LEAKED_HEADER = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*(?:instruction|task|response|input|output)\b|"
    r"(?:task|instruction)[ \t]*\d*[ \t]*:|task[ \t]+\d+[ \t]*[:.]?[ \t]*$)",
    re.IGNORECASE | re.MULTILINE,
)
# A second numbered task inside an instruction: "... 2. Write a ..." on a new line or after a sentence.
_SECOND_NUMBERED = re.compile(r"(?:\n|[.!?][ \t]+)[ \t]*(?:[2-9]|1\d)[.)][ \t]+[A-Z]")
_PLACEHOLDER = re.compile(
    r"<\s*no[\s_-]*input\s*>|\bnoinput\b|<\s*(?:input|insert[^>]{0,40}|placeholder|text|sentence)\s*>|"
    r"\[\s*(?:input|insert[^\]]{0,40}|placeholder)\s*\]|\{\{?\s*input\s*\}?\}",
    re.IGNORECASE,
)
_MEDIA_WORDS = re.compile(
    r"\b(?:images?|pictures?|photos?|photographs?|videos?|audio|recordings?|sound\s+clips?|podcasts?|screenshots?|"
    r"attachments?|attached|uploaded)\b",
    re.IGNORECASE,
)
_FILE_REFERENCE = re.compile(
    r"\b(?:this|the\s+(?:following|given|provided|attached|above|below))\s+(?:file|document|pdf|spreadsheet|chart|graph|diagram)s?\b|"
    r"^\S+\.(?:jpe?g|png|gif|bmp|svg|webp|mp3|wav|ogg|flac|mp4|mov|avi|pdf|docx?|xlsx?|pptx?|zip)$",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
_PUNCT = re.compile(r"[\W_]+")


def _normal(text: str) -> str:
    return _PUNCT.sub(" ", text.lower()).strip()


# A fenced code block: a "# Output the mean squared error" line in it is a comment, not a template header.
_CODE_BLOCK = re.compile(r"^[ \t]*(```|~~~).*?(?:^[ \t]*\1|\Z)", re.MULTILINE | re.DOTALL)


def merged_instruction(row: Row) -> Flag | None:
    for field in FIELDS:
        match = _LEAKED_HEADER.search(_CODE_BLOCK.sub("", getattr(row, field)))
        asked = match and field == "output" and re.search(r"\b(?:task|instruction)s?\b", row.instruction, re.IGNORECASE)
        if match and asked and re.match(r"\s*(?:task|instruction)", match.group(0), re.IGNORECASE):
            continue  # "Make a test task for a Node.js developer" answered "Task: Build ...": the task asked for
        if match:
            return Flag(name="merged_instruction", field=field, detail=f"leaked line {match.group(0).strip()!r}")
    match = _SECOND_NUMBERED.search(row.instruction)
    if match:
        return Flag(name="merged_instruction", field="instruction", detail=f"a second numbered task {match.group(0).strip()!r}")
    return None


def input_placeholder(row: Row) -> Flag | None:
    if row.input.strip() and not normalize_input(row.input):
        return Flag(name="input_placeholder", field="input", detail=f"input is only {row.input.strip()!r}")
    for field in ("input", "instruction"):
        match = _PLACEHOLDER.search(getattr(row, field))
        if match:
            return Flag(name="input_placeholder", field=field, detail=f"placeholder {match.group(0)!r}")
    return None


def empty_or_echo_output(row: Row) -> Flag | None:
    out = row.output.strip()
    if not out:
        return Flag(name="empty_or_echo_output", field="output", detail="empty output")
    if not normalize_input(out):
        return Flag(name="empty_or_echo_output", field="output", detail=f"output is only {out!r}")
    normal = _normal(out)
    if not normal:
        return Flag(name="empty_or_echo_output", field="output", detail="output has no words")
    if row.input.strip() and normal == _normal(row.input):
        return Flag(name="empty_or_echo_output", field="output", detail="output restates the input")
    if normal == _normal(row.instruction):
        return Flag(name="empty_or_echo_output", field="output", detail="output restates the instruction")
    return None


def media_reference(row: Row) -> Flag | None:
    for field in ("instruction", "input"):
        text = getattr(row, field)
        match = _MEDIA_WORDS.search(text) or _FILE_REFERENCE.search(text.strip())
        if match:
            return Flag(name="media_reference", field=field, detail=f"mentions {match.group(0)!r}")
    return None


def url_only_input(row: Row) -> Flag | None:
    text = row.input.strip()
    if text and not _URL.sub("", text).strip(" \t\n,;"):
        return Flag(name="url_only_input", field="input", detail=f"input is only {text[:80]!r}")
    return None


def control_characters(row: Row) -> Flag | None:
    for field in FIELDS:
        bad = sorted({ch for ch in getattr(row, field) if unicodedata.category(ch) == "Cc" and ch not in "\n\t\r"})
        if bad:
            return Flag(name="control_characters", field=field, detail=", ".join(f"U+{ord(ch):04X}" for ch in bad))
    return None


def unbalanced_code_fence(row: Row) -> Flag | None:
    for field in FIELDS:
        fences = len(_FENCE.findall(getattr(row, field)))
        if fences % 2:
            return Flag(name="unbalanced_code_fence", field=field, detail=f"{fences} fence lines")
    return None


def wrong_arithmetic(row: Row) -> Flag | None:
    check = check_arithmetic(row.instruction, row.input, row.output)
    if check.status != "wrong":
        return None
    return Flag(name="wrong_arithmetic", field="output", detail=f"{check.question} = {check.expected:g}, the output says {check.answer:g}")


DETECTORS: dict[str, Callable[[Row], Flag | None]] = {
    "merged_instruction": merged_instruction,
    "input_placeholder": input_placeholder,
    "empty_or_echo_output": empty_or_echo_output,
    "media_reference": media_reference,
    "url_only_input": url_only_input,
    "control_characters": control_characters,
    "unbalanced_code_fence": unbalanced_code_fence,
    "wrong_arithmetic": wrong_arithmetic,
}


def flag_row(row: Row) -> list[Flag]:
    return [flag for detect in DETECTORS.values() if (flag := detect(row)) is not None]


def flag_rows(rows: list[Row]) -> list[list[Flag]]:
    return [flag_row(row) for row in rows]


# --- the report section -----------------------------------------------------------------


class FlagExample(BaseModel):
    row: int
    instruction_id: str | None
    field: str
    detail: str
    instruction: str
    input: str
    output: str


class FlagCount(BaseModel):
    name: str
    title: str
    count: int
    examples: list[FlagExample]


class ArithmeticTally(BaseModel):
    """How many rows the arithmetic checker could judge, and its verdicts."""

    checked: int
    correct: int
    wrong: int
    uncheckable: int


class Flags(BaseModel):
    """The quality-flags section: per-flag counts with examples, and rows with any flag."""

    rows: int
    flagged_rows: int
    flags: list[FlagCount]
    arithmetic: ArithmeticTally


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def build_flags(rows: list[Row], per_row: list[list[Flag]] | None = None) -> Flags:
    per_row = per_row if per_row is not None else flag_rows(rows)
    sections = {name: FlagCount(name=name, title=TITLES[name], count=0, examples=[]) for name in DETECTORS}
    for index, (row, flags) in enumerate(zip(rows, per_row)):
        for flag in flags:
            section = sections[flag.name]
            section.count += 1
            if len(section.examples) < EXAMPLES_PER_FLAG:
                section.examples.append(FlagExample(
                    row=index, instruction_id=row.instruction_id, field=flag.field, detail=flag.detail,
                    instruction=_clip(row.instruction), input=_clip(row.input), output=_clip(row.output),
                ))  # fmt: skip
    verdicts = [check_arithmetic(r.instruction, r.input, r.output).status for r in rows]
    tally = ArithmeticTally(
        checked=sum(1 for v in verdicts if v != "uncheckable"),
        correct=verdicts.count("correct"),
        wrong=verdicts.count("wrong"),
        uncheckable=verdicts.count("uncheckable"),
    )
    return Flags(rows=len(rows), flagged_rows=sum(1 for f in per_row if f), flags=list(sections.values()), arithmetic=tally)
