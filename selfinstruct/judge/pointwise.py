"""The judge as a quality gate: score one generated instance 1-5 for correctness, relevance and completeness.

    gate = QualityJudge(teacher)                       # any Teacher: the judge settings' endpoint
    scored = await gate.score(instruction, input, output)
    scored.expected, scored.score, scored.reason       # sum k*p(k) over 1..5, its rounding, and one line why
    keep(scored, min_quality=3)

The judge sees the instruction, the input and the output, fixed text first. By default it is asked
for the digit alone (prompts/judge_quality_score.txt) and the score is G-Eval's expected rating:
the sum of k * p(k) over the digits 1-5 at that position, read from top_logprobs, so a judge torn
between 2 and 5 scores 3.5 instead of whichever digit it happened to sample. An endpoint that sends
no log-probabilities gets the text form for the rest of the run (prompts/judge_quality.txt): it
replies with a reason line and a score line; where the endpoint takes a JSON schema
(the embedded llama.cpp model does) the reply is constrained to {"reason", "score"}, which small
models then cannot get wrong. An unreadable reply is asked again once; if it is still unreadable
the instance is kept (a gate must not drop data because the judge failed) and the reason says so.
`generate --quality-judge` calls this for each finished instruction's instances before they are
emitted, and journals the score and reason of each.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from selfinstruct.errors import UserError
from selfinstruct.judge.probabilities import LogprobSupport, expected_score, option_probabilities
from selfinstruct.teacher.client import Decoding, Message, Teacher
from selfinstruct.templates import default_prompts_dir

TEMPLATE = "judge_quality.txt"
NO_INPUT = "(none)"
SCORE_TEMPLATE = "judge_quality_score.txt"
REFERENCE_TEMPLATE = "judge_quality_score_reference.txt"  # the same, checked against a reference answer
DIGITS = {str(k): (str(k),) for k in range(1, 6)}
TOP_LOGPROBS = 10
PLACEHOLDERS = ("instruction", "input", "output")
DEFAULT_MIN_QUALITY = 3.5  # the balanced-accuracy optimum on the shipped calibration set (README, Judge calibration)
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
    expected: float | None = None  # probability scores: sum of k * p(k); decides instead of `score`


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


def keep(scored: QualityScore, min_quality: float = DEFAULT_MIN_QUALITY) -> bool:
    """Whether an instance passes the gate: scored (expected score, else the digit) at least `min_quality`, or not
    readably scored at all."""
    if scored.expected is not None:
        return scored.expected >= min_quality
    return scored.score is None or scored.score >= min_quality


def _load(directory: Path, name: str, placeholders: tuple[str, ...] = PLACEHOLDERS) -> str:
    path = directory / name
    if not path.is_file():
        raise UserError(f"{path}: quality judge prompt template missing")
    text = path.read_text(encoding="utf-8")
    for placeholder in placeholders:
        if "{" + placeholder + "}" not in text:
            raise UserError(f"{path}: quality judge prompt template lacks the placeholder {{{placeholder}}}")
    return text.rstrip() + "\n"


class QualityJudge:
    """Scores instances with one Teacher; the prompt is loaded once."""

    def __init__(self, teacher: Teacher, prompts_dir: Path | None = None, max_tokens: int = 96, method: Literal["probability", "text"] = "probability") -> None:
        directory = prompts_dir or default_prompts_dir()
        self.template = _load(directory, TEMPLATE)
        self.score_template = _load(directory, SCORE_TEMPLATE)
        self.reference_template = _load(directory, REFERENCE_TEMPLATE, (*PLACEHOLDERS, "reference"))
        self.teacher = teacher
        self.method = method
        self.fell_back = False  # the endpoint sent no log-probabilities: text scores from then on
        self.support = LogprobSupport()
        self.decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=max_tokens, json_schema=SCHEMA)
        self.digit_decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=3, top_logprobs=TOP_LOGPROBS)

    def prompt(self, instruction: str, input: str, output: str, template: str | None = None, reference: str | None = None) -> str:
        values = {"instruction": instruction.strip(), "input": input.strip() or NO_INPUT, "output": output.strip() or "(empty)",
                  "reference": (reference or "").strip()}  # fmt: skip
        names = (*PLACEHOLDERS, "reference") if reference else PLACEHOLDERS
        # One pass, so an output containing "{reference}" is never substituted again.
        pattern = re.compile("|".join(re.escape("{" + n + "}") for n in names))
        return pattern.sub(lambda m: values[m.group(0)[1:-1]], template or self.template)

    def score_prompt(self, instruction: str, input: str, output: str, reference: str | None = None) -> str:
        """The digit-only prompt, checked against `reference` when one is given."""
        if reference:
            return self.prompt(instruction, input, output, self.reference_template, reference)
        return self.prompt(instruction, input, output, self.score_template)

    async def score(self, instruction: str, input: str, output: str, reference: str | None = None) -> QualityScore:
        """The output's score; with a `reference` (probability scores only) its correctness is checked against it."""
        if self.method == "probability":
            prompt = self.score_prompt(instruction, input, output, reference)
            done = await self.support.ask(lambda: self.teacher.complete(prompt, self.digit_decoding, stage=STAGE))
            if done is not None:
                probs = option_probabilities(done.top_logprobs, DIGITS)
                if probs is None:
                    return QualityScore(score=None, reason="unreadable: no score among the likely tokens; kept without a score", raw=done.text)
                expected = expected_score(probs)
                spread = ", ".join(f"{k}: {p:.2f}" for k, p in probs.p.items() if p >= 0.05)
                return QualityScore(score=round(expected), expected=round(expected, 3), reason=f"expected score {expected:.2f} ({spread})", raw=done.text)
            self.method, self.fell_back = "text", True
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
