"""Stage 3: ask whether each kept instruction is a classification task (finite label set).

Self-Instruct asked one instruction at a time after ~30 yes/no demonstrations at temperature 0.
We batch several instructions per request as a numbered list and read back "<n>. Yes/No"; an
answer that cannot be read is asked again alone rather than guessed.
"""

from __future__ import annotations

import re

from selfinstruct.templates import Templates


def build_classify_prompt(templates: Templates, instructions: list[str]) -> str:
    """Demonstrations first (cacheable), then the numbered tasks to judge."""
    tasks = "\n".join(f"{i}. {' '.join(t.split())}" for i, t in enumerate(instructions, 1))
    return templates.render("classify", tasks=tasks)


_NUMBERED = re.compile(r"^\s*(?:\*\*)?(?:task\s*)?(\d+)\s*[.):\-]?\s*(?:\*\*)?\s*(.*)$", re.IGNORECASE)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_PREFIX = re.compile(r"^.*?(is it classification\??|classification\??\s*:|answer\s*:)", re.IGNORECASE)


def read_yes_no(text: str) -> bool | None:
    """Read one verdict from "Yes.", "yes, it is", "No", "Is it classification? No" and the like."""
    text = _PREFIX.sub("", text.strip(), count=1).strip().strip("*").strip()
    match = _YES_NO.search(text[:40])
    if not match:
        return None
    return match.group(1).lower() == "yes"


def parse_verdicts(text: str, count: int) -> list[bool | None]:
    """Verdicts for tasks 1..count, None where the response has no readable answer for one."""
    verdicts: list[bool | None] = [None] * count
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
