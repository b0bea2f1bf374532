"""Pairwise verdicts from grades: each answer graded alone (the gate's expected 1-5 score), then compared.

    grader = AnswerGrader(pair_judge, reference=True)
    grades = await grader.grades(task, answer_a, answer_b)     # (QualityScore, QualityScore), or None without logprobs

`eval --judge-verdicts scores`. Neither answer is ever shown beside the other, so the judge's taste
for a position cannot enter; each distinct answer is graded once (the other order of the same pair
reuses both grades), against the task's reference answer where it has one. On the shipped
calibration set this agreed with the labels more often than the packaged 1.5B's side-by-side
verdicts did (README, "Judge calibration").
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from selfinstruct.judge.pointwise import QualityJudge, QualityScore

if TYPE_CHECKING:
    from selfinstruct.records import EvalTask
    from selfinstruct.teacher.client import Teacher


class _Owner(Protocol):
    teacher: Teacher | None


class AnswerGrader:
    """Grades answers for a pairwise judge, once each: concurrent asks for the same answer share one request."""

    def __init__(self, owner: _Owner, *, reference: bool) -> None:
        self.owner = owner  # the pair judge, whose teacher is set once it is open
        self.reference = reference
        self._judge: QualityJudge | None = None
        self._grades: dict[str, asyncio.Future[QualityScore]] = {}

    @property
    def judge(self) -> QualityJudge:
        if self._judge is None or self._judge.teacher is not self.owner.teacher:
            # Graded with the task's reference or none: an answer the judge wrote itself is not what eval's figures were measured with.
            self._judge = QualityJudge(self.owner.teacher, own_reference=False)  # type: ignore[arg-type]
        return self._judge

    def prompt(self, task: EvalTask, answer: str) -> str:
        """The grading prompt of one answer to `task` (with its reference, when shown)."""
        reference = task.reference if self.reference else None
        return self.judge.score_prompt(task.instruction, task.input, answer, reference)

    async def grade(self, task: EvalTask, answer: str) -> QualityScore:
        key = self.prompt(task, answer)
        if key not in self._grades:
            self._grades[key] = asyncio.ensure_future(
                self.judge.score(task.instruction, task.input, answer, task.reference if self.reference else None))
            self._grades[key].add_done_callback(lambda f, k=key: self._grades.pop(k) if f.cancelled() or f.exception() is not None else None)
        return await asyncio.shield(self._grades[key])

    async def grades(self, task: EvalTask, first: str, second: str) -> tuple[QualityScore, QualityScore] | None:
        """Both answers' grades; None when the endpoint gives no log-probabilities (the grades would be text digits)."""
        one, two = await asyncio.gather(self.grade(task, first), self.grade(task, second))
        if self.judge.fell_back or one.expected is None and two.expected is None and self.judge.method == "text":
            return None
        return one, two
