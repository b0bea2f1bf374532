"""Text as the review page shows it: prose as written, code as code.

    code_segments("Use this:\\n```python\\nprint(1)\\n```")
    # [Segment("text", "", "Use this:"), Segment("code", "python", "print(1)")]

The fences are found by markdown-it-py's CommonMark parser (``` and ~~~, any length, inside
lists and quotes, an unclosed fence running to the end), not by a regular expression. Small
teachers often write code without a fence, so a paragraph outside fences is shown as code too when
it starts like code (def, class, import, #include, function, SELECT, ...) or most of its lines are
indented, and a paragraph of prose whose later lines start like code is split there: a heuristic,
which only changes the font. Everything is shown exactly as written, since a
reviewer judges the raw text a student will learn.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

_CODE_START = re.compile(
    r"^\s*(?:def |class |async def |import |from \S+ import |@\w+|#include|#!/|function |const |let |var |public |private |"
    r"fn |func |package |using |(?:SELECT|INSERT|UPDATE|DELETE|CREATE|WITH) |<\?php|<!DOCTYPE|<html|\$ )"
)
_PARAGRAPHS = re.compile(r"(\n[ \t]*\n)")


class Segment(NamedTuple):
    kind: str  # "text" or "code"
    lang: str
    text: str


@lru_cache(maxsize=1)
def _parser():  # type: ignore[no-untyped-def]
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def code_segments(text: str) -> list[Segment]:
    """Split text into prose and fenced code blocks, in order; text with no fence is one segment."""
    if "```" not in text and "~~~" not in text:
        return _unfenced(text)
    lines = text.split("\n")
    out: list[Segment] = []
    pos = 0
    for token in _parser().parse(text):
        if token.type != "fence" or not token.map:
            continue
        start, end = token.map
        if start < pos:
            continue
        if start > pos:
            out += _unfenced("\n".join(lines[pos:start]))
        out.append(Segment("code", token.info.strip().split(" ")[0], token.content.removesuffix("\n")))
        pos = end
    if pos < len(lines):
        rest = "\n".join(lines[pos:])
        if rest.strip() or not out:
            out += _unfenced(rest)
    return out


def looks_like_code(paragraph: str) -> bool:
    """A paragraph that starts like code, or whose lines are mostly indented (two lines at least)."""
    lines = [line for line in paragraph.split("\n") if line.strip()]
    if len(lines) < 2:
        return False
    if _CODE_START.match(lines[0]):
        return True
    return sum(line[:1] in (" ", "\t") for line in lines) * 2 > len(lines)


def _split_code_tails(paragraphs: list[str], gaps: list[str]) -> tuple[list[str], list[str]]:
    """Split "Here is the code:\\nimport random\\n..." into its prose and its code: at the first later line that starts like code."""
    out_paragraphs, out_gaps = [], []
    for k, paragraph in enumerate(paragraphs):
        lines = paragraph.split("\n")
        cut = next((j for j in range(1, len(lines) - 1) if _CODE_START.match(lines[j])), None)
        if cut is not None and not looks_like_code(paragraph) and looks_like_code("\n".join(lines[cut:])):
            out_paragraphs += ["\n".join(lines[:cut]), "\n".join(lines[cut:])]
            out_gaps.append("\n")
        else:
            out_paragraphs.append(paragraph)
        if k < len(gaps):
            out_gaps.append(gaps[k])
    return out_paragraphs, out_gaps


def _unfenced(text: str) -> list[Segment]:
    """Text outside fences, each paragraph as prose or as code; an indented paragraph right after code continues it."""
    if not text:
        return []
    parts = _PARAGRAPHS.split(text)
    paragraphs, gaps = parts[0::2], parts[1::2]
    paragraphs, gaps = _split_code_tails(paragraphs, gaps)
    kinds: list[str] = []
    for paragraph in paragraphs:
        continues = bool(kinds) and kinds[-1] == "code" and paragraph[:1] in (" ", "\t") and bool(paragraph.strip())
        kinds.append("code" if continues or looks_like_code(paragraph) else "text")
    out: list[Segment] = []

    def add(kind: str, piece: str) -> None:
        if out and out[-1].kind == kind:
            out[-1] = Segment(kind, "", out[-1].text + piece)
        elif piece:
            out.append(Segment(kind, "", piece))

    for k, paragraph in enumerate(paragraphs):
        if k and kinds[k - 1] == kinds[k]:
            add(kinds[k], gaps[k - 1])  # a blank line inside prose or code stays; one between the two is the blocks' margin
        add(kinds[k], paragraph)
    return out
