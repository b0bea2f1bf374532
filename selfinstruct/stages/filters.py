"""Stage 2: decide which proposed instructions and generated instances to keep, and say why not.

Cheap checks run first; the ROUGE-L near-duplicate check (F > 0.7 against seeds and everything
kept so far) runs last, and a kept instruction joins the pool at once so duplicates inside one
batch are caught too.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import NamedTuple

import regex

from selfinstruct.errors import UserError
from selfinstruct.records import Instance, normalize_ws
from selfinstruct.rouge import RougeIndex, unicode_tokens

# Things a text-only model cannot honour (Self-Instruct's list), matched as whole words.
BANNED_KEYWORDS = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
    "map", "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip
_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}]")
_BANNED = re.compile(r"\b(" + "|".join(re.escape(k) for k in BANNED_KEYWORDS) + r")\b", re.IGNORECASE)


class Verdict(NamedTuple):
    """Why an instruction was rejected (None when kept), with the closest match for duplicates."""

    reason: str | None
    most_similar: str | None = None
    score: float | None = None


def keyword_pattern(keywords: list[str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive matcher for a keyword list (generate --keywords FILE)."""
    return re.compile(r"\b(" + "|".join(re.escape(k) for k in keywords) + r")\b", re.IGNORECASE)


def read_keywords(path: Path) -> re.Pattern[str]:
    """The --keywords file: one keyword or phrase a line; blank lines and lines starting with # are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--keywords {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    keywords = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keywords:
        raise UserError(f"--keywords {path}: no keywords in it (one a line)")
    return keyword_pattern(keywords)


def cheap_reason(instruction: str, allow_non_ascii: bool = False, banned_words: re.Pattern[str] | None = None) -> str | None:
    """The first cheap rule the instruction breaks, as a short reason code, or None.

    `banned_words` replaces the built-in English keyword list (generate --keywords FILE). With
    `allow_non_ascii` (non-English runs), text in a script written without spaces (Japanese, Chinese,
    Thai) counts each of its characters as a word, as the unicode ROUGE-L tokenizer does.
    """
    words = len(instruction.split())
    if allow_non_ascii and _UNSPACED.search(instruction):
        words = len(unicode_tokens(instruction))
    if words <= 3:
        return "too_short"
    if words > 150:
        return "too_long"
    banned = (banned_words or _BANNED).search(instruction)
    if banned:
        return f"keyword:{banned.group(1).lower()}"
    if instruction.lower().startswith("write a program"):
        return "write_a_program"
    if instruction[0] in string.punctuation:
        return "starts_with_punctuation"
    if not allow_non_ascii and not instruction[0].isascii():
        return "non_ascii_start"
    return None


def filter_instruction(instruction: str, pool: RougeIndex, allow_non_ascii: bool = False, banned_words: re.Pattern[str] | None = None) -> Verdict:
    """Apply every instruction filter in order; a kept instruction is added to the pool."""
    reason = cheap_reason(instruction, allow_non_ascii, banned_words)
    if reason:
        return Verdict(reason)
    check = pool.check_and_add(instruction)
    if check.is_duplicate:
        return Verdict("near_duplicate", check.most_similar, round(check.score, 4))
    return Verdict(None)


def copies_demonstration(inst: Instance, demonstrations: str) -> bool:
    """Whether an instance repeats the prompt's worked example (small teachers do) rather than answering the task.

    A copied input gives it away; a bare output only when it is long enough not to be a common
    label such as "Positive" that a real answer may share with the example.
    """
    inp, out = inst.input.strip().strip("\"'"), inst.output.strip().strip("\"'")
    if inp:
        return inp in demonstrations and out in demonstrations
    return len(out) >= 20 and out in demonstrations


# Words that say nothing about a task's subject: sharing only these does not tie two tasks together.
_GENERIC = frozenset(
    "classify classification decide determine whether given following label labels identify which tell "
    "answer input text task each either this that with from into about your".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _GENERIC}


def foreign_labels(instruction: str, demonstrations: list[tuple[str, list[str]]]) -> set[str]:
    """Labels of worked examples (task, labels) whose task has nothing in common with `instruction`.

    An output-first answer that uses one of them borrowed it from the example ("Positive" as the
    answer to "Explain what a neural network is") instead of taking it from its own task. A label
    the instruction itself mentions is never foreign.
    """
    words = _content_words(instruction)
    lowered = instruction.lower()
    foreign: set[str] = set()
    for task, labels in demonstrations:
        if words & _content_words(" ".join([task, *labels])):
            continue
        foreign |= {label.strip().lower() for label in labels if label.strip().lower() not in lowered}
    return foreign


_ANSWER_WORDS = frozenset({"yes", "no", "true", "false", "correct", "incorrect"})


def states_its_label(inp: str, label: str) -> bool:
    """Whether an output-first input opens by answering the task with its own label.

    "Yes, it is possible to fly from New York to London without changing planes." labelled Yes, and
    "A class is a blueprint for objects." labelled Class (for "What is the difference between a class
    and an object?"): the teacher wrote one statement per label for a question that has one right
    answer, so half of such rows are wrong by construction. An input that only contains the label,
    as the options of a "which of these" task do, is not one.
    """
    label = label.strip().strip(".!\"'").lower()
    text = inp.strip().strip("\"'").lower()
    if not label or not text:
        return False
    opening = rf"(?:(?:a|an|the)\s+)?{re.escape(label)}"
    if label in _ANSWER_WORDS and re.match(opening + r"\s*[,.!:;]", text):
        return True
    return re.match(opening + r"\s+(?:is|are|was|were|means|refers)\b", text) is not None


# A task that asks for its input said another way: an output that is the input again (give or take the closing
# punctuation, quotes and spaces) did not do it ("Rewrite ... more concise": "The quick brown fox ... dog" -> "... dog.").
_REWRITES = re.compile(
    r"\b(?:rewrite|re-write|rephrase|paraphrase|reword|shorten|simplify|condense|make\s+(?:it|this|the\s+\w+)\s+(?:more|less))\b",
    re.IGNORECASE,
)


def _trimmed(text: str) -> str:
    return normalize_ws(text.strip().strip("\"'“”‘’").rstrip(".!?;, "))


def filter_instances(
    instances: list[Instance], demonstrations: str = "", foreign: set[str] = frozenset(), output_first: bool = False,
    instruction: str = "",
) -> tuple[list[Instance], list[dict], str | None]:  # fmt: skip
    """Drop bad instances; returns (kept, dropped with reasons, task-level rejection reason or None).

    Outputs that are empty, equal to their input (for a task that asks to rewrite it, also give or take the closing
    punctuation, quotes and spaces: `instruction`), or end with ":" (an unfinished answer) go, and so
    do exact repeats, copies of the prompt's worked examples and labels borrowed from them (`foreign`,
    see foreign_labels). With `output_first`, so does an input that states its own label as the
    answer (states_its_label). One non-empty input with two different outputs means the task is
    ill-defined, so the whole task goes (as in Self-Instruct; tasks without input may have several answers).
    """
    kept: list[Instance] = []
    dropped: list[dict] = []
    outputs_by_input: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for inst in instances:
        inp, out = inst.input.strip(), inst.output.strip()
        reason = None
        if not out:
            reason = "empty_output"
        elif out == inp or (inp and _REWRITES.search(instruction) and _trimmed(out) == _trimmed(inp)):
            reason = "output_equals_input"
        elif out.endswith(":"):
            reason = "output_ends_with_colon"
        elif demonstrations and copies_demonstration(Instance(input=inp, output=out), demonstrations):
            reason = "copied_demonstration"
        elif out.lower().rstrip(".") in foreign:
            reason = "borrowed_label"
        elif output_first and states_its_label(inp, out):
            reason = "input_states_label"
        if reason:
            dropped.append({"input": inp, "output": out, "reason": reason})
            continue
        if (inp, out) in seen:
            dropped.append({"input": inp, "output": out, "reason": "repeated_instance"})
            continue
        # A task without input may have several good answers; only a real input must map to one output.
        if inp and outputs_by_input.setdefault(inp, out) != out:
            return [], dropped, "conflicting_outputs"
        seen.add((inp, out))
        kept.append(Instance(input=inp, output=out))
    if not kept:
        return [], dropped, "no_valid_instances"
    return kept, dropped, None
