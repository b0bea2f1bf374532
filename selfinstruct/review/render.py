"""Text as the review page shows it: prose as written, fenced code as code.

    code_segments("Use this:\\n```python\\nprint(1)\\n```")
    # [Segment("text", "", "Use this:"), Segment("code", "python", "print(1)")]

The fences are found by markdown-it-py's CommonMark parser (``` and ~~~, any length, inside
lists and quotes, an unclosed fence running to the end), not by a regular expression; everything
between them is shown exactly as written, since a reviewer judges the raw text a student will learn.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


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
        return [Segment("text", "", text)] if text else []
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
            out.append(Segment("text", "", "\n".join(lines[pos:start])))
        out.append(Segment("code", token.info.strip().split(" ")[0], token.content.removesuffix("\n")))
        pos = end
    if pos < len(lines):
        rest = "\n".join(lines[pos:])
        if rest.strip() or not out:
            out.append(Segment("text", "", rest))
    return out
