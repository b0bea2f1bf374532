"""The pairwise judge: prompt, verdict parsing, and the both-orders rule.

    judge = PairJudge(teacher, JudgePrompts.load(), reference=False)
    first = await judge.judge(task, answer_a, answer_b, order="ab")    # A shown first
    second = await judge.judge(task, answer_b, answer_a, order="ba")   # positions swapped
    final, consistent = combine(first.winner, second.winner)

The judge explains in a few sentences, then ends with "Verdict: A|B|tie". Small models do not
always follow that, so `parse_verdict` reads the forms they really write ("**Verdict:** Answer
B", "[[A]]", a bare "B" on the last line, "Answer A is better"). A reply it cannot read is asked
again once, as a follow-up turn that wants only the verdict; a second miss is a tie with reason
`unreadable`. Each order's verdict is turned into a winner by contestant ("a", "b" or "tie"); a
pair whose two orders disagree is a tie (MT-bench's fix for position bias).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from selfinstruct.errors import UserError
from selfinstruct.evaluate.stats import Outcome
from selfinstruct.evaluate.tasks import EvalTask, normalize_ws
from selfinstruct.teacher.client import Completion, Decoding, Message, Teacher
from selfinstruct.templates import default_prompts_dir

Verdict = Literal["A", "B", "tie"]
Order = Literal["ab", "ba"]
TEMPLATES = {"plain": "judge_pairwise.txt", "reference": "judge_pairwise_reference.txt"}
PLACEHOLDERS = {"plain": ("instruction", "input", "answer_a", "answer_b"), "reference": ("instruction", "input", "reference", "answer_a", "answer_b")}
FOLLOW_UP = 'Reply with only your verdict: one line "Verdict: X", where X is A, B or tie.'
NO_INPUT = "(none)"
EMPTY_ANSWER = "(empty answer)"


class JudgePrompts(BaseModel):
    """The two judge templates (without and with a reference answer), read from prompts/."""

    plain: str
    reference: str

    @classmethod
    def load(cls, directory: Path | None = None) -> JudgePrompts:
        directory = directory or default_prompts_dir()
        texts = {}
        for key, name in TEMPLATES.items():
            path = directory / name
            if not path.is_file():
                raise UserError(f"{path}: judge prompt template missing")
            text = path.read_text(encoding="utf-8")
            for placeholder in PLACEHOLDERS[key]:
                if "{" + placeholder + "}" not in text:
                    raise UserError(f"{path}: judge prompt template lacks the placeholder {{{placeholder}}}")
            texts[key] = text.rstrip() + "\n"
        return cls(**texts)

    def render(self, task: EvalTask, answer_a: str, answer_b: str, reference: bool) -> str:
        """The judge prompt for one order; the reference is shown only when asked for and present."""
        use_reference = reference and bool(task.reference)
        values = {
            "instruction": task.instruction.strip(),
            "input": task.input.strip() or NO_INPUT,
            "reference": (task.reference or "").strip(),
            "answer_a": answer_a.strip() or EMPTY_ANSWER,
            "answer_b": answer_b.strip() or EMPTY_ANSWER,
        }
        names = PLACEHOLDERS["reference" if use_reference else "plain"]
        # One pass, so an answer containing "{answer_b}" is never substituted again.
        pattern = re.compile("|".join(re.escape("{" + n + "}") for n in names))
        text = self.reference if use_reference else self.plain
        return pattern.sub(lambda m: values[m.group(0)[1:-1]], text)


# --- reading verdicts ------------------------------------------------------------------

_MARKUP = re.compile(r"[*_`#>\"“”']")
_TIE_WORDS = r"tie|tied|draw|equal|equally|both|neither|same|even"
# "Verdict: A", "Final verdict - Answer B", "verdict is tie", "Verdict: [[A]]".
_VERDICT = re.compile(
    r"(?:final\s+)?(?:verdict|decision|winner|better\s+answer|final\s+answer)\s*(?:is|was)?\s*[:=\-–—]?\s*(?:that\s+)?\[*\(?\s*"
    r"(?:(?:answer|response|assistant|option)\s+)?(?P<side>(?:an?[ \t]+)?(?:" + _TIE_WORDS + r")\b|[AB](?![\w']))",
    re.IGNORECASE,
)
_ALONE = re.compile(r"[ \t]*(?:[.!)\]]|$)", re.MULTILINE)
_BRACKETS = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_BARE_LINE = re.compile(r"^\s*(?:(?:answer|response|assistant|option)\s+)?(A|B|tie)\s*[.!]?\s*$", re.IGNORECASE)
# "Answer A is better", "Answer B serves the user better": a side, then praise in the same sentence.
_NAMED = re.compile(r"\b(?i:answer|response|assistant)\s+(?P<side>[AB])\b(?P<rest>[^.\n]{0,60})")
_PRAISE = re.compile(r"\b(?:better|superior|preferable|wins|winner)\b", re.IGNORECASE)
_HEDGE = re.compile(r"\b(?:not|n't|less|worse|equally|also|neither)\b|n't\b", re.IGNORECASE)
_PREFER = re.compile(r"\b(?i:prefer)\s+(?i:answer\s+|response\s+|assistant\s+)?(?P<side>[AB])\b")
_TIE_PHRASE = re.compile(
    r"\b(?:it'?s\s+a\s+tie|both\s+answers\s+are\s+(?:equally|similarly)|neither\s+answer\s+is\s+better|answers\s+are\s+equally)\b",
    re.IGNORECASE,
)
# A reply that copies the format line ("Verdict: A", "Verdict: B" or "Verdict: tie") names every option.
_COPIED_FORMAT = re.compile(r"verdict:\s*A\W+(?:or\s+)?\W*verdict:\s*B\W+(?:or\s+)?\W*verdict:\s*tie", re.IGNORECASE)


def _side(word: str) -> Verdict:
    if word in ("A", "a"):
        return "A"
    if word in ("B", "b"):
        return "B"
    return "tie"


def parse_verdict(text: str) -> Verdict | None:
    """The verdict a judge gave, or None when it cannot be read with confidence."""
    clean = _MARKUP.sub("", text)
    if _COPIED_FORMAT.search(clean):
        clean = _COPIED_FORMAT.sub(" ", clean)
    found = [_side(m.group(1).upper() if m.group(1).upper() != "C" else "tie") for m in _BRACKETS.finditer(clean)]
    if found:
        return found[-1]
    # A lower-case letter names an answer only when nothing follows it ("verdict: b."), not in "verdict: a good one".
    verdicts = [
        m.group("side") for m in _VERDICT.finditer(clean)
        if m.group("side") not in ("a", "b") or _ALONE.match(clean, m.end())
    ]  # fmt: skip
    if verdicts:
        return _side(verdicts[-1])
    lines = [ln for ln in clean.splitlines() if ln.strip()]
    if lines:
        bare = _BARE_LINE.match(lines[-1])
        if bare and (bare.group(1) in ("A", "B") or bare.group(1).lower() == "tie"):
            return _side(bare.group(1))
    sides = {m.group("side") for m in _PREFER.finditer(clean)}
    sides |= {m.group("side") for m in _NAMED.finditer(clean) if _PRAISE.search(m.group("rest")) and not _HEDGE.search(m.group("rest"))}
    tie = bool(_TIE_PHRASE.search(clean))
    if len(sides) == 1 and not tie:
        return _side(sides.pop())
    if tie and not sides:
        return "tie"
    return None


def winner_of(verdict: Verdict, order: Order) -> Outcome:
    """The contestant a positional verdict names: in order "ba", Answer A is contestant b's."""
    if verdict == "tie":
        return "tie"
    first, second = ("a", "b") if order == "ab" else ("b", "a")
    return first if verdict == "A" else second  # type: ignore[return-value]


def combine(first: Outcome, second: Outcome) -> tuple[Outcome, bool]:
    """The pair's final outcome and whether both orders agreed; disagreement is a tie."""
    if first == second:
        return first, True
    return "tie", False


# --- asking ----------------------------------------------------------------------------


class Judgement(BaseModel):
    """One order of one pair, as journaled: what the judge said and what it was read as."""

    kind: Literal["judgement"] = "judgement"
    prompt_sha: str
    task: str
    order: Order
    verdict: Verdict
    winner: Outcome
    reason: str | None = None  # "unreadable" or "identical"
    explanation: str = ""
    follow_up: str | None = None  # the reply to the verdict-only follow-up, when one was needed
    judge: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


def prompt_sha(model: str, prompt: str) -> str:
    """Identity of a judge request: the same prompt to the same judge is never paid for twice."""
    return hashlib.sha256(f"{model}\x1f{prompt}".encode()).hexdigest()[:32]


class PairJudge:
    """Asks the judge about one order of one pair, re-asking once when the verdict is unreadable."""

    def __init__(self, teacher: Teacher | None, prompts: JudgePrompts, *, reference: bool, max_tokens: int = 320, model: str = "") -> None:
        """`model` names the judge in journal keys (the endpoint's model); `teacher` may be set later, once it is open."""
        self.teacher = teacher
        self.prompts = prompts
        self.reference = reference
        self.decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
        self.model = model or (teacher.model if teacher else "")

    @staticmethod
    def trivial(first: str, second: str) -> bool:
        """Identical answers (up to whitespace) tie without asking anyone."""
        return normalize_ws(first) == normalize_ws(second)

    def prompt(self, task: EvalTask, first: str, second: str) -> str:
        return self.prompts.render(task, first, second, self.reference)

    def sha(self, task: EvalTask, first: str, second: str) -> str:
        return prompt_sha(self.model, self.prompt(task, first, second))

    async def judge(self, task: EvalTask, first: str, second: str, order: Order) -> Judgement:
        """Judge `first` (shown as Answer A) against `second` (Answer B)."""
        prompt = self.prompt(task, first, second)
        sha = prompt_sha(self.model, prompt)
        if self.trivial(first, second):
            return Judgement(prompt_sha=sha, task=task.id, order=order, verdict="tie", winner="tie", reason="identical", judge=self.model)
        assert self.teacher is not None
        done = await self.teacher.complete(prompt, self.decoding, stage="judge")
        tokens = [done.prompt_tokens, done.completion_tokens]
        verdict = parse_verdict(done.text)
        follow_up = None
        if verdict is None:
            again = await self._follow_up(prompt, done)
            follow_up = again.text
            tokens = [tokens[0] + again.prompt_tokens, tokens[1] + again.completion_tokens]
            verdict = parse_verdict(again.text)
        reason = None
        if verdict is None:
            verdict, reason = "tie", "unreadable"
        return Judgement(
            prompt_sha=sha, task=task.id, order=order, verdict=verdict, winner=winner_of(verdict, order), reason=reason,
            explanation=done.text.strip(), follow_up=follow_up, judge=self.model, prompt_tokens=tokens[0], completion_tokens=tokens[1],
        )  # fmt: skip

    async def _follow_up(self, prompt: str, done: Completion) -> Completion:
        assert self.teacher is not None
        turns = [Message(role="user", content=prompt), Message(role="assistant", content=done.text), Message(role="user", content=FOLLOW_UP)]
        return await self.teacher.complete(turns, Decoding(temperature=0.0, top_p=1.0, max_tokens=16), stage="judge")
