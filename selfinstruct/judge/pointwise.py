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

A reference answer, where there is one, is what the output is checked against (the reference
template). Where there is none and the output is short (a label, a number, a name), the judge first
answers the instruction itself (prompts/judge_self_answer.txt, greedy, at most 64 tokens) and, if
that answer finished, checks the output against it: a small judge that rates "Abraham Lincoln" 3.6
as the first US president on its own rates it 2.9 beside its own "George Washington". Long outputs
are scored without one, since a cut-off answer of the judge's own is no reference.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from selfinstruct.judge.probabilities import LogprobSupport, expected_score, option_probabilities
from selfinstruct.prompt_files import load_template
from selfinstruct.teacher.client import Decoding, Message, Teacher

TEMPLATE = "judge_quality.txt"
NO_INPUT = "(none)"
SCORE_TEMPLATE = "judge_quality_score.txt"
REFERENCE_TEMPLATE = "judge_quality_score_reference.txt"  # the same, checked against a reference answer
SELF_ANSWER_TEMPLATE = "judge_self_answer.txt"  # the judge answers a short-answer instruction itself, as its reference
SHORT_OUTPUT_WORDS = 40  # outputs this short (labels, numbers, names, one-line facts) are checked against the judge's own answer
SELF_ANSWER_TOKENS = 64  # an own answer longer than this is cut off, and not used
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
    reference: Literal["given", "own"] | None = None  # what the output was checked against: a reference, the judge's own answer


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


def _key(instruction: str, input: str) -> tuple[str, str]:
    """Instruction and input with whitespace and case folded, for looking up a known answer."""
    return " ".join(instruction.split()).casefold(), " ".join(input.split()).casefold()


def _line(text: str | None, limit: int = 80) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _load(directory: Path | None, name: str, placeholders: tuple[str, ...] = PLACEHOLDERS) -> str:
    return load_template(directory, name, placeholders, what="quality judge prompt template")


class QualityJudge:
    """Scores instances with one Teacher; the prompt is loaded once."""

    def __init__(self, teacher: Teacher, prompts_dir: Path | None = None, max_tokens: int = 96, method: Literal["probability", "text"] = "probability",
                 own_reference: bool = True, references: dict[tuple[str, str], str] | None = None) -> None:  # fmt: skip
        directory = prompts_dir
        self.template = _load(directory, TEMPLATE)
        self.score_template = _load(directory, SCORE_TEMPLATE)
        self.reference_template = _load(directory, REFERENCE_TEMPLATE, (*PLACEHOLDERS, "reference"))
        self.self_answer_template = _load(directory, SELF_ANSWER_TEMPLATE, ("instruction", "input")) if own_reference else ""
        self.teacher = teacher
        self.method = method
        self.own_reference = own_reference
        # Known answers by (instruction, input), e.g. the seed tasks' instances: a row asking the same is checked against it.
        self.references = {_key(i, x): out for (i, x), out in (references or {}).items() if out.strip()}
        self._own: dict[tuple[str, str], asyncio.Future[str | None]] = {}
        self.self_answer_decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=SELF_ANSWER_TOKENS, top_logprobs=1)
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

    def self_answer_prompt(self, instruction: str, input: str) -> str:
        """The prompt that asks the judge for its own short answer to the instruction."""
        values = {"instruction": instruction.strip(), "input": input.strip() or NO_INPUT}
        return re.sub(r"\{(instruction|input)\}", lambda m: values[m.group(1)], self.self_answer_template)

    async def own_answer(self, instruction: str, input: str) -> str | None:
        """The judge's own greedy answer, asked once per instruction and input; None when it ran past SELF_ANSWER_TOKENS."""
        key = _key(instruction, input)
        if key not in self._own:
            async def ask() -> str | None:
                # It asks for log-probabilities too, so on an endpoint that sends none it is the probe, not a wasted request.
                prompt = self.self_answer_prompt(instruction, input)
                done = await self.support.ask(lambda: self.teacher.complete(prompt, self.self_answer_decoding, stage=STAGE))
                return None if done is None or done.truncated or not done.text.strip() else done.text.strip()

            self._own[key] = asyncio.ensure_future(ask())
            self._own[key].add_done_callback(lambda f, k=key: self._own.pop(k) if f.cancelled() or f.exception() is not None else None)
        return await asyncio.shield(self._own[key])

    async def reference_for(self, instruction: str, input: str, output: str, reference: str | None) -> tuple[str | None, Literal["given", "own"] | None]:
        """The answer to check `output` against: the one given, a known one for this instruction, or for a short output the judge's own."""
        if reference and reference.strip():
            return reference, "given"
        known = self.references.get(_key(instruction, input))
        if known:
            return known, "given"
        if self.own_reference and len(output.split()) <= SHORT_OUTPUT_WORDS and output.strip():
            own = await self.own_answer(instruction, input)
            if own:
                return own, "own"
        return None, None

    async def score(self, instruction: str, input: str, output: str, reference: str | None = None) -> QualityScore:
        """The output's score; with a reference (probability scores only) its correctness is checked against it."""
        if self.method == "probability":
            reference, source = await self.reference_for(instruction, input, output, reference)
            prompt = self.score_prompt(instruction, input, output, reference)
            done = None if self.support.supported is False else await self.support.ask(lambda: self.teacher.complete(prompt, self.digit_decoding, stage=STAGE))
            if done is not None:
                probs = option_probabilities(done.top_logprobs, DIGITS)
                if probs is None:
                    return QualityScore(score=None, reason="unreadable: no score among the likely tokens; kept without a score", raw=done.text)
                expected = expected_score(probs)
                spread = ", ".join(f"{k}: {p:.2f}" for k, p in probs.p.items() if p >= 0.05)
                against = {"given": "; against the reference answer", "own": f"; against the judge's own answer: {_line(reference)}", None: ""}[source]
                return QualityScore(score=round(expected), expected=round(expected, 3), reason=f"expected score {expected:.2f} ({spread}){against}",
                                    raw=done.text, reference=source)  # fmt: skip
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
