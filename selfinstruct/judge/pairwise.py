"""The pairwise judge: prompts, verdicts read from probabilities (or, failing that, from text), both orders.

    judge = PairJudge(teacher, JudgePrompts.load(), reference=True)
    first = await judge.judge(task, answer_a, answer_b, order="ab")    # A shown first
    second = await judge.judge(task, answer_b, answer_a, order="ba")   # positions swapped
    final, consistent, score = combine_pair(first, second, margin=DEFAULT_MARGIN)

By default (method "probability") the judge is asked for one letter, A, B or C (a tie), and the
verdict is its probability of each letter at that position (top_logprobs; one generated token, so
several times cheaper on a CPU than an explanation). The pair's score is the mean over both orders
of the probability that contestant a wins (a tie counting half), so a judge's taste for the first
position cancels by construction; the pair is a win only past `margin` either side of 0.5.

Where the endpoint sends no log-probabilities, the judge falls back to text verdicts for the rest
of the run: it explains in a few sentences, then ends with "Verdict: A|B|tie". Small models do not
always follow that, so `parse_verdict` reads the forms they really write ("**Verdict:** Answer B",
"[[A]]", a bare "B" on the last line, "Answer A is better"). A reply it cannot read is asked again
once, as a follow-up turn that wants only the verdict; a second miss is a tie with reason
`unreadable`. A text pair whose two orders disagree is a tie (MT-bench's fix for position bias).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from selfinstruct.judge.graded import AnswerGrader
from selfinstruct.judge.pointwise import NO_INPUT
from selfinstruct.judge.probabilities import LogprobSupport, Outcome, option_probabilities
from selfinstruct.prompt_files import load_template
from selfinstruct.records import EvalTask, normalize_ws
from selfinstruct.teacher.client import Completion, Decoding, Message, Teacher

Verdict = Literal["A", "B", "tie"]
Order = Literal["ab", "ba"]
Method = Literal["probability", "text", "scores"]
TEMPLATES = {
    "plain": "judge_pairwise.txt", "reference": "judge_pairwise_reference.txt",
    "verdict": "judge_pairwise_verdict.txt", "verdict_reference": "judge_pairwise_verdict_reference.txt",
}  # fmt: skip
_PLAIN = ("instruction", "input", "answer_a", "answer_b")
_WITH_REFERENCE = ("instruction", "input", "reference", "answer_a", "answer_b")
PLACEHOLDERS = {"plain": _PLAIN, "reference": _WITH_REFERENCE, "verdict": _PLAIN, "verdict_reference": _WITH_REFERENCE}
# The verdict letters of the one-token prompt: C is a tie, as in MT-bench's [[C]].
LETTERS = {"A": ("A",), "B": ("B",), "C": ("C",)}
TOP_LOGPROBS = 10
# A pair is a win only when its score is this far from 0.5; chosen on the calibration set (README, "Judge calibration").
DEFAULT_MARGIN = 0.0
FOLLOW_UP = 'Reply with only your verdict: one line "Verdict: X", where X is A, B or tie.'
EMPTY_ANSWER = "(empty answer)"


class JudgePrompts(BaseModel):
    """The judge templates, read from prompts/: text verdicts and one-letter verdicts, each without and with a reference."""

    plain: str
    reference: str
    verdict: str
    verdict_reference: str

    @classmethod
    def load(cls, directory: Path | None = None) -> JudgePrompts:
        return cls(**{key: load_template(directory, name, PLACEHOLDERS[key], what="judge prompt template") for key, name in TEMPLATES.items()})

    def render(self, task: EvalTask, answer_a: str, answer_b: str, reference: bool, method: Method = "text") -> str:
        """The judge prompt for one order; the reference is shown only when asked for and present."""
        use_reference = reference and bool(task.reference)
        values = {
            "instruction": task.instruction.strip(),
            "input": task.input.strip() or NO_INPUT,
            "reference": (task.reference or "").strip(),
            "answer_a": answer_a.strip() or EMPTY_ANSWER,
            "answer_b": answer_b.strip() or EMPTY_ANSWER,
        }
        if method == "probability":
            key = "verdict_reference" if use_reference else "verdict"
        else:
            key = "reference" if use_reference else "plain"
        names = PLACEHOLDERS[key]
        # One pass, so an answer containing "{answer_b}" is never substituted again.
        pattern = re.compile("|".join(re.escape("{" + n + "}") for n in names))
        text = getattr(self, key)
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
    """One order of one pair, as journaled: what the judge said and what it was read as.

    With probability verdicts, p_first / p_second / p_tie are the judge's probabilities that the answer
    shown first (A) or second (B) is better, or that they tie (C), normalised over the three letters;
    `mass` is the letters' share of the probability before normalising."""

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
    method: Method = "text"
    p_first: float | None = None
    p_second: float | None = None
    p_tie: float | None = None
    mass: float | None = None
    # Method "scores": each answer's expected 1-5 grade, graded alone (first shown, second shown).
    score_first: float | None = None
    score_second: float | None = None

    def p_win(self, contestant: Literal["a", "b"]) -> float | None:
        """The probability that `contestant` wins this order, a tie counting half; None for a text verdict."""
        if self.p_first is None or self.p_second is None or self.p_tie is None:
            return None
        shown_first = "a" if self.order == "ab" else "b"
        return (self.p_first if contestant == shown_first else self.p_second) + self.p_tie / 2


Prior = tuple[float, float, float]  # the judge's mean P(first), P(second), P(tie) over a run's judgements


def position_prior(judgements: list[Judgement]) -> Prior | None:
    """The judge's taste for a position, measured on the run itself: the mean of (P(first), P(second), P(tie)) over
    every probability judgement. Every pair is judged in both orders, so what the answers deserve averages out to
    the same share for either position and what is left is the position's own pull (batch calibration)."""
    vectors = [(j.p_first, j.p_second, j.p_tie) for j in judgements if j.method == "probability" and j.reason is None]
    if not vectors:
        return None
    prior = tuple(sum(v[i] for v in vectors) / len(vectors) for i in range(3))  # type: ignore[misc]
    return prior if min(prior) > 0 else None  # type: ignore[return-value]


def debiased(judgement: Judgement, prior: Prior | None) -> Judgement:
    """The judgement with the position prior divided out of its probabilities, its verdict read again.

    Only the pull between the two positions is removed: P(first) and P(second) are each scaled by their mean over
    both positions divided by their own, so a judge that named the first answer more often than the second no longer
    does, while its share of ties (which says nothing about position) is left as the judge gave it."""
    if prior is None or judgement.method != "probability" or judgement.reason is not None or judgement.p_first is None:
        return judgement
    even = (prior[0] + prior[1]) / 2
    q = [judgement.p_first * even / prior[0], judgement.p_second * even / prior[1], judgement.p_tie]  # type: ignore[operator]
    total = sum(q)
    p_first, p_second, p_tie = (x / total for x in q)
    verdict: Verdict = "A" if p_first >= max(p_second, p_tie) else "B" if p_second >= p_tie else "tie"
    return judgement.model_copy(update={"p_first": p_first, "p_second": p_second, "p_tie": p_tie, "verdict": verdict,
                                        "winner": winner_of(verdict, judgement.order)})  # fmt: skip


def combine_pair(first: Judgement, second: Judgement, margin: float = DEFAULT_MARGIN) -> tuple[Outcome, bool, float | None]:
    """(final outcome, whether the two orders' own verdicts agree, the score of contestant a).

    With probabilities in both orders the score is the mean of a's win probability over them and
    decides (a win past `margin` from 0.5, else a tie); otherwise a text pair's rule (disagreement is
    a tie). Consistency compares each order's most likely verdict, so it still shows position bias."""
    _, consistent = combine(first.winner, second.winner)
    if first.method == second.method == "scores" and first.score_first is not None and second.score_first is not None:
        # Each answer was graded alone, so there is no position to cancel: a's grade against b's, from both records.
        grade_a = (first.score_first + second.score_second) / 2  # type: ignore[operator]
        grade_b = (first.score_second + second.score_first) / 2  # type: ignore[operator]
        score = 0.5 + (grade_a - grade_b) / 8  # the 1-5 difference on a 0-1 scale, 0.5 for equal grades
        edge = margin + 1e-9
        return ("a" if score > 0.5 + edge else "b" if score < 0.5 - edge else "tie"), consistent, score
    wins = [first.p_win("a"), second.p_win("a")]
    if wins[0] is None or wins[1] is None:
        return combine(first.winner, second.winner)[0], consistent, None
    score = (wins[0] + wins[1]) / 2
    edge = margin + 1e-9  # a score of 0.5 up to rounding (a judge with no preference) is a tie, never a coin of float error
    final: Outcome = "a" if score > 0.5 + edge else "b" if score < 0.5 - edge else "tie"
    return final, consistent, score


def prompt_sha(model: str, prompt: str) -> str:
    """Identity of a judge request: the same prompt to the same judge is never paid for twice."""
    return hashlib.sha256(f"{model}\x1f{prompt}".encode()).hexdigest()[:32]


class PairJudge:
    """Asks the judge about one order of one pair: one letter read from its probabilities, or a text verdict
    (re-asked once when unreadable) where the endpoint gives no log-probabilities."""

    def __init__(self, teacher: Teacher | None, prompts: JudgePrompts, *, reference: bool, max_tokens: int = 320, model: str = "",
                 method: Method = "probability") -> None:  # fmt: skip
        """`model` names the judge in journal keys (the endpoint's model); `teacher` may be set later, once it is open.
        `method` is where the judge starts; it moves to "text" for good when the endpoint sends no log-probabilities."""
        self.teacher = teacher
        self.prompts = prompts
        self.reference = reference
        self.decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
        # A few tokens, not one: a reply may open with markup ("**") before the letter.
        self.letter_decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=4, top_logprobs=TOP_LOGPROBS)
        self.model = model or (teacher.model if teacher else "")
        self.method: Method = method
        self.fell_back = False  # the endpoint sent no log-probabilities, so verdicts are read from text
        self.support = LogprobSupport()
        self.grader = AnswerGrader(self, reference=reference)  # method "scores": each answer graded alone, once

    @staticmethod
    def trivial(first: str, second: str) -> bool:
        """Identical answers (up to whitespace) tie without asking anyone."""
        return normalize_ws(first) == normalize_ws(second)

    def prompt(self, task: EvalTask, first: str, second: str, method: Method | None = None) -> str:
        """The request's text; for graded answers, both answers' grading prompts (what the judgement's identity covers)."""
        if (method or self.method) == "scores":
            return "scores\x1f" + self.grader.prompt(task, first) + "\x1f" + self.grader.prompt(task, second)
        return self.prompts.render(task, first, second, self.reference, method or self.method)  # type: ignore[arg-type]

    def sha(self, task: EvalTask, first: str, second: str, method: Method | None = None) -> str:
        return prompt_sha(self.model, self.prompt(task, first, second, method))

    def find(self, judgements: dict[str, Judgement], task: EvalTask, first: str, second: str) -> Judgement | None:
        """This order's journaled judgement, asked either way (a run that fell back to text verdicts resumes)."""
        for method in (self.method, "text") if self.method == "scores" else (self.method, "text" if self.method == "probability" else "probability"):
            found = judgements.get(self.sha(task, first, second, method))  # type: ignore[arg-type]
            if found is not None:
                return found
        return None

    async def judge(self, task: EvalTask, first: str, second: str, order: Order) -> Judgement:
        """Judge `first` (shown as Answer A) against `second` (Answer B)."""
        if self.trivial(first, second):
            sha = self.sha(task, first, second)
            return Judgement(prompt_sha=sha, task=task.id, order=order, verdict="tie", winner="tie", reason="identical", judge=self.model,
                             method=self.method, **({"p_first": 0.0, "p_second": 0.0, "p_tie": 1.0} if self.method == "probability" else {}))  # fmt: skip
        if self.method == "scores":
            graded = await self._by_scores(task, first, second, order)
            if graded is not None:
                return graded
            self.method, self.fell_back = "text", True
        if self.method == "probability":
            judged = await self._by_probability(task, first, second, order)
            if judged is not None:
                return judged
        return await self._by_text(task, first, second, order)

    async def _by_scores(self, task: EvalTask, first: str, second: str, order: Order) -> Judgement | None:
        """Both answers graded alone and compared; None (and text verdicts from now on) without log-probabilities."""
        grades = await self.grader.grades(task, first, second)
        if grades is None:
            return None
        one, two = grades
        if one.expected is None or two.expected is None:
            # A grade with no digit among the likely tokens: no preference can be read.
            return Judgement(prompt_sha=self.sha(task, first, second, "scores"), task=task.id, order=order, verdict="tie", winner="tie",
                             reason="unreadable", explanation=f"{one.reason} | {two.reason}", judge=self.model, method="scores")  # fmt: skip
        verdict: Verdict = "A" if one.expected > two.expected else "B" if two.expected > one.expected else "tie"
        return Judgement(prompt_sha=self.sha(task, first, second, "scores"), task=task.id, order=order, verdict=verdict,
                         winner=winner_of(verdict, order), explanation=f"A: {one.reason} | B: {two.reason}", judge=self.model,
                         method="scores", score_first=one.expected, score_second=two.expected)  # fmt: skip

    async def _by_probability(self, task: EvalTask, first: str, second: str, order: Order) -> Judgement | None:
        """The one-letter verdict read from top_logprobs; None (and text verdicts from now on) when the endpoint sent none."""
        assert self.teacher is not None
        prompt = self.prompt(task, first, second, "probability")
        teacher = self.teacher
        done = await self.support.ask(lambda: teacher.complete(prompt, self.letter_decoding, stage="judge"))
        if done is None:
            self.method, self.fell_back = "text", True
            return None
        probs = option_probabilities(done.top_logprobs, LETTERS)
        base = {"prompt_sha": prompt_sha(self.model, prompt), "task": task.id, "order": order, "explanation": done.text.strip(),
                "judge": self.model, "prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens, "method": "probability"}  # fmt: skip
        if probs is None:
            # Likely tokens that name no letter: the judge wrote something else, which counts as no preference.
            return Judgement(**base, verdict="tie", winner="tie", reason="unreadable", p_first=1 / 3, p_second=1 / 3, p_tie=1 / 3, mass=0.0)
        p = probs.p
        verdict: Verdict = "A" if p["A"] >= max(p["B"], p["C"]) else "B" if p["B"] >= p["C"] else "tie"
        return Judgement(**base, verdict=verdict, winner=winner_of(verdict, order), p_first=p["A"], p_second=p["B"], p_tie=p["C"], mass=probs.mass)

    async def _by_text(self, task: EvalTask, first: str, second: str, order: Order) -> Judgement:
        assert self.teacher is not None
        prompt = self.prompt(task, first, second, "text")
        sha = prompt_sha(self.model, prompt)
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
