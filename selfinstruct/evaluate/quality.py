"""The judge as a quality gate: score one generated instance 1-5 for correctness, relevance and completeness.

    gate = QualityJudge(teacher)                       # any Teacher: the judge settings' endpoint
    scored = await gate.score(instruction, input, output)
    scored.score, scored.reason                        # 1..5 (None when unreadable twice) and one line why
    keep(scored, min_quality=3)

The judge sees the instruction, the input and the output (prompts/judge_quality.txt, fixed text
first). It replies with a reason line and a score line; where the endpoint takes a JSON schema
(the embedded llama.cpp model does) the reply is constrained to {"reason", "score"}, which small
models then cannot get wrong. An unreadable reply is asked again once; if it is still unreadable
the instance is kept (a gate must not drop data because the judge failed) and the reason says so.
`generate --quality-judge` calls this for each finished instruction's instances before they are
emitted, and journals the score and reason of each.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from selfinstruct.errors import UserError
from selfinstruct.evaluate.judge import NO_INPUT
from selfinstruct.teacher.client import Decoding, Message, Teacher
from selfinstruct.templates import default_prompts_dir

TEMPLATE = "judge_quality.txt"
PLACEHOLDERS = ("instruction", "input", "output")
DEFAULT_MIN_QUALITY = 3
STAGE = "quality"  # the requests log's stage name for the gate's requests
SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["reason", "score"],
}
FOLLOW_UP = "Reply with only the score line: Score: N, where N is a number from 1 to 5."
_SCORE = re.compile(r"\bscore\W{0,4}(?:is\W{0,3}|of\W{0,3})?([1-5])(?!\d|\.\d)", re.IGNORECASE)
_OUT_OF_FIVE = re.compile(r"\b([1-5])\s*(?:/|out of)\s*5\b", re.IGNORECASE)
_REASON = re.compile(r"reason\W{0,4}(.+)", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#{}]")


class QualityScore(BaseModel):
    """What the gate decided about one instance."""

    score: int | None  # None: unreadable twice, and the instance is kept
    reason: str
    raw: str = ""


def parse_score(text: str) -> int | None:
    """The 1-5 score in a judge's reply ("Score: 4", "**Score:** 2", "score of 3", "4/5", a JSON object), or None."""
    clean = _MARKUP.sub("", text).replace('"', "")
    found = _SCORE.findall(clean) or _OUT_OF_FIVE.findall(clean)
    if found:
        return int(found[-1])
    lines = [ln.strip() for ln in clean.splitlines() if ln.strip()]
    if lines and re.fullmatch(r"[1-5]\.?", lines[-1]):
        return int(lines[-1][0])
    return None


def parse_reason(text: str) -> str:
    """The one-line reason: the "Reason:" line (or JSON field), else the reply's first line."""
    clean = _MARKUP.sub("", text).replace('"', "")
    match = _REASON.search(clean)
    if match:  # a JSON object puts the score after the reason on the same line
        line = re.split(r",?\s*score\W", match.group(1), flags=re.IGNORECASE)[0]
    else:
        line = next((ln for ln in clean.splitlines() if ln.strip()), "")
    return " ".join(line.split())[:300].rstrip(" ,")


def keep(scored: QualityScore, min_quality: int = DEFAULT_MIN_QUALITY) -> bool:
    """Whether an instance passes the gate: scored at least `min_quality`, or not readably scored at all."""
    return scored.score is None or scored.score >= min_quality


class QualityJudge:
    """Scores instances with one Teacher; the prompt is loaded once."""

    def __init__(self, teacher: Teacher, prompts_dir: Path | None = None, max_tokens: int = 96) -> None:
        path = (prompts_dir or default_prompts_dir()) / TEMPLATE
        if not path.is_file():
            raise UserError(f"{path}: quality judge prompt template missing")
        text = path.read_text(encoding="utf-8")
        for name in PLACEHOLDERS:
            if "{" + name + "}" not in text:
                raise UserError(f"{path}: quality judge prompt template lacks the placeholder {{{name}}}")
        self.template = text.rstrip() + "\n"
        self.teacher = teacher
        self.decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=max_tokens, json_schema=SCHEMA)

    def prompt(self, instruction: str, input: str, output: str) -> str:
        values = {"instruction": instruction.strip(), "input": input.strip() or NO_INPUT, "output": output.strip() or "(empty)"}
        pattern = re.compile("|".join(re.escape("{" + n + "}") for n in PLACEHOLDERS))
        return pattern.sub(lambda m: values[m.group(0)[1:-1]], self.template)

    async def score(self, instruction: str, input: str, output: str) -> QualityScore:
        prompt = self.prompt(instruction, input, output)
        done = await self.teacher.complete(prompt, self.decoding, stage=STAGE)
        score = parse_score(done.text)
        if score is not None:
            return QualityScore(score=score, reason=parse_reason(done.text), raw=done.text)
        turns = [Message(role="user", content=prompt), Message(role="assistant", content=done.text), Message(role="user", content=FOLLOW_UP)]
        again = await self.teacher.complete(turns, Decoding(temperature=0.0, top_p=1.0, max_tokens=12), stage=STAGE)
        score = parse_score(again.text)
        reason = parse_reason(done.text) if score is not None else "unreadable: kept without a score"
        return QualityScore(score=score, reason=reason, raw=done.text)
