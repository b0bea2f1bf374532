"""The verifiers stage: checks that need no judge, run on each instance before the quality gate.

    verifier = Verifier(run_code=True)
    kept, dropped, checks = await verifier.verify(instruction, instances)

Cheapest first; the first check an instance fails drops it, with its reason and a readable detail:
    needs_input        inputs.py: the instruction works on material ("the following paragraph") that is missing
    wrong_arithmetic   arithmetic.py: a calculation, "N% of M" or a unit conversion answered with another number
    sql_syntax         code.py: SQL that sqlglot cannot parse
    code_syntax        code.py: Python that does not parse
    code_error         the Python, run in the sandbox (sandbox.py), raises or exits non-zero
    code_timeout       ... or runs past its time limits
    code_wrong_output  ... or prints something other than what its output says it prints
    wrong_kind         kind.py picks an output whose form may not be what was asked (code for "a list of
                       10 random numbers"), and the judge (judge/answer_kind.py) says whether the task
                       asks for code: one token per task
    inconsistent       consistency.py: a short answer (a label, a number, a short fact) that the teacher,
                       asked k more times (--consistency), mostly answers otherwise
Code in other languages is counted, not judged. The recipes journal dropped instances in the
`completed` line (alpaca: the candidate line, as its other instance checks), and the counts of
what was checked (`checks`) with the kept ones; summary.json and the report count both.
`generate --no-verifiers` turns the stage off, `--no-run-code` keeps the checks but runs no code.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from selfinstruct.records import Instance
from selfinstruct.stages.verifiers.arithmetic import check_arithmetic
from selfinstruct.stages.verifiers.code import check_code, find_code
from selfinstruct.stages.verifiers.consistency import short_answer
from selfinstruct.stages.verifiers.inputs import needs_missing_input
from selfinstruct.stages.verifiers.kind import suspect_kind
from selfinstruct.stages.verifiers.sandbox import run_python

if TYPE_CHECKING:
    from selfinstruct.judge.answer_kind import AnswerKindJudge
    from selfinstruct.run import RunState
    from selfinstruct.stages.settings import StageSettings
    from selfinstruct.stages.verifiers.consistency import Consistency
    from selfinstruct.teacher.client import Teacher

REASONS = ("needs_input", "wrong_arithmetic", "sql_syntax", "code_syntax", "code_error", "code_timeout", "code_wrong_output",
           "wrong_kind", "inconsistent")  # fmt: skip
__all__ = ["REASONS", "Verifier", "add_teacher_checks", "verifier_summary"]


class Verifier:
    """The stage's state over a run: whether code runs, the sandbox's slots, and the time spent in it."""

    def __init__(
        self, run_code: bool = True, parallel: int | None = None, kind_judge: AnswerKindJudge | None = None, consistency: Consistency | None = None
    ) -> None:
        self.run_code = run_code
        self.kind_judge, self.consistency = kind_judge, consistency
        # Each run is a process on its own core; more at once than the cores only queues them in the kernel.
        self._slots = asyncio.Semaphore(parallel or max(1, min(2, os.cpu_count() or 1)))
        self._probe: asyncio.Task[str | None] | None = None
        self.sandbox_problem: str | None = None
        self.sandbox: dict[str, Any] = {}
        self.runs, self.seconds = 0, 0.0
        # Alpaca with the quality gate: a kept task's checks wait here for its `completed` line.
        self.pending_checks: dict[str, dict[str, int]] = {}

    async def _sandbox_works(self) -> bool:
        """Run one harmless program first: a machine where the sandbox cannot start runs no code (and says why) rather than drop every instance."""
        if self._probe is None:
            self._probe = asyncio.ensure_future(_probe_sandbox(self))
        self.sandbox_problem = await asyncio.shield(self._probe)
        return self.sandbox_problem is None

    async def check(self, instruction: str, instance: Instance, labels: list[str] | None = None, context: str = "") -> tuple[str | None, str | None, list[str]]:
        """(reason or None, detail, checks) for one instance; `labels`: the label set of a classification task; `context`:
        a conversation's earlier turns, whose code and names a later answer's code may go on from."""
        inp, out = instance.input, instance.output
        if needs_missing_input(instruction, inp):
            return "needs_input", "the instruction works on material the input does not hold", []
        checks: list[str] = []
        arithmetic = check_arithmetic(instruction, inp, out)
        if arithmetic.status == "wrong":
            return "wrong_arithmetic", f"{arithmetic.question} = {arithmetic.expected:g}, the output says {arithmetic.answer:g}", []
        if arithmetic.status == "correct":
            checks.append("arithmetic_correct")
        run = self.run_code and any(b.language == "python" for b in find_code(out, instruction)) and await self._sandbox_works()
        async with self._slots:
            started = time.monotonic()
            verdict = await check_code(instruction, inp, out, run=run, context=context)
            if verdict.runs:
                self.runs += len(verdict.runs)
                self.seconds += time.monotonic() - started
        if verdict.reason is not None:
            return verdict.reason, verdict.detail, []
        checks += verdict.checks
        # A check that asks the teacher and fails for good (retries spent) stops the run like any request: the
        # instances were journaled (unchecked) before the checks, so a rerun asks only the checks again.
        suspect = suspect_kind(instruction, inp, out) if self.kind_judge is not None else None
        if suspect is not None:
            kind = await self.kind_judge.ask(instruction, inp)  # type: ignore[union-attr]
            if kind is not None and kind.asks_for_code is (suspect == "no_code"):
                what = "code for a task that asks for the result itself" if suspect == "code" else "no code for a task that asks for code"
                return "wrong_kind", f"{what} (the judge's P(asks for code) {kind.p_code:.2f})", []
            if kind is not None:
                checks.append("kind_judged")
        if self.consistency is not None and short_answer(instruction, instance, bool(labels)):
            again = await self.consistency.check(instruction, instance, labels)
            answers = "; ".join(repr(a[:60]) for a in again.answers)
            if not again.consistent:
                return "inconsistent", f"{again.agreed} of {len(again.answers)} new answers agreed with {out.strip()[:60]!r}: {answers}", [
                    f"consistency_agreed:{again.agreed}", f"consistency_answers:{len(again.answers)}"]
            checks += ["consistency_checked"] + ["consistency_agreed"] * again.agreed + ["consistency_answers"] * len(again.answers)
        return None, None, checks

    async def verify(self, instruction: str, instances: list[Instance], labels: list[str] | None = None) -> tuple[list[Instance], list[dict], dict[str, int]]:
        """(instances kept, dropped ones with reason and detail, counts of what was checked in the kept ones)."""
        verdicts = await asyncio.gather(*(self.check(instruction, i, labels) for i in instances))
        kept: list[Instance] = []
        dropped: list[dict] = []
        checks: Counter[str] = Counter()
        for instance, (reason, detail, done) in zip(instances, verdicts):
            if reason is None:
                kept.append(instance)
                checks.update(done)
            else:
                drop = {"input": instance.input, "output": instance.output, "reason": reason, "detail": detail}
                for name, _, count in (d.partition(":") for d in done):  # an inconsistent answer's counts, for the agreement rate
                    drop[name] = int(count)
                dropped.append(drop)
        return kept, dropped, dict(checks)


def add_teacher_checks(verifier: Verifier | None, cfg: StageSettings, teacher: Teacher, judge: Teacher | None, temperature: float) -> None:
    """Arm the checks that ask the teacher: the answer-kind judge (the quality judge's endpoint, else the teacher)
    and, with --consistency K, K more answers for each short answer at the proposal `temperature`."""
    from selfinstruct.judge.answer_kind import AnswerKindJudge
    from selfinstruct.stages.verifiers.consistency import Consistency

    if verifier is None or verifier.kind_judge is not None:
        return  # off, or armed already
    if cfg.batch_api.batch:
        # Each would be one more batch round trip (up to 24 h) after the instances' own, one instance at a time.
        return
    verifier.kind_judge = AnswerKindJudge(judge or teacher, cfg.prompts)
    verifier.consistency = Consistency(teacher, cfg.consistency, temperature, cfg.prompts) if cfg.consistency else None


async def _probe_sandbox(verifier: Verifier) -> str | None:
    result = await run_python("print(6 * 7)")
    verifier.sandbox = {"network": result.network, "landlock_abi": result.landlock, "seccomp": result.seccomp}
    if result.status == "ok" and result.stdout.strip() == "42":
        return None
    return f"the sandbox could not run a test program ({result.reason}; {result.stderr.strip()[-200:]}): code is parsed, not run"


def verifier_summary(state: RunState, verifier: Verifier | None, on: bool) -> dict[str, Any]:
    """What the verifiers did over the whole run, for summary.json: drops by reason, checks passed or left alone."""
    if not on:
        return {"on": False}
    # `rejected` counts candidates (alpaca journals its instance checks there) and task-level reasons of completed
    # lines; the latter are counted below by their dropped instances instead.
    dropped: Counter[str] = Counter({r: n for r, n in state.rejected.items() if r in REASONS})
    checks: Counter[str] = Counter()
    for completed in state.completed.values():
        if completed.reason in REASONS:
            dropped[completed.reason] -= 1
        dropped.update(d["reason"] for d in completed.dropped if d.get("reason") in REASONS)
        checks.update(completed.checks)
    dropped = +dropped  # only the positive counts
    summary: dict[str, Any] = {"on": True, "run_code": bool(verifier and verifier.run_code), "dropped": dict(dropped.most_common()),
                               "checks": dict(sorted(checks.items()))}  # fmt: skip
    if verifier is not None and verifier.runs:
        summary["sandbox"] = {**verifier.sandbox, "runs": verifier.runs, "seconds": round(verifier.seconds, 2),
                              "ms_per_run": round(1000 * verifier.seconds / verifier.runs, 1)}  # fmt: skip
    if verifier is not None and verifier.sandbox_problem:
        summary["sandbox_problem"] = verifier.sandbox_problem
    agreement = consistency_counts(state)
    if agreement["checked"]:
        summary["consistency"] = agreement
    return summary


def consistency_counts(state: RunState) -> dict[str, Any]:
    """Short answers asked again over the whole run: instances checked and dropped, and the share of new answers that agreed."""
    checked = dropped = answers = agreed = 0
    for completed in state.completed.values():
        checked += completed.checks.get("consistency_checked", 0)
        answers += completed.checks.get("consistency_answers", 0)
        agreed += completed.checks.get("consistency_agreed", 0)
        for drop in completed.dropped:
            if drop.get("reason") == "inconsistent":
                dropped += 1
                answers += int(drop.get("consistency_answers", 0))
                agreed += int(drop.get("consistency_agreed", 0))
    # Recipe alpaca journals an instance it drops on the rejected candidate, which the state only counts: its
    # answers are not in the rate.
    dropped += state.rejected.get("inconsistent", 0) - sum(1 for c in state.completed.values() if c.reason == "inconsistent")
    checked += dropped
    return {"checked": checked, "dropped": dropped, "answers": answers, "agreed": agreed,
            "agreement_rate": round(agreed / answers, 3) if answers else None}  # fmt: skip
