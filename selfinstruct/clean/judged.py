"""The verifiers' checks that ask a model, armed in `clean` with the gate's judge: answer kind, and short answers asked again.

    tag = judged_tag(cfg, endpoint.model)        # "" when unarmed; part of each verdict's journal key
    if wants_judge(table.rows, state, cfg, tag):  # something unjournaled the judge would be asked about
        arm(verifier, await judge.open(), cfg)

generate asks its teacher; existing rows have no teacher, so clean asks the judge it already has for the
gate (--judge-*), and only when the gate is on. The answer-kind check applies to existing rows as it is:
the rules pick an output whose form may not be what was asked (code for "a list of 10 random numbers"),
and the judge says whether the instruction asks for code. Self-consistency does not carry over as it is:
in generate it asks the model that wrote the answer again, and its disagreement with itself is the
signal; the model that wrote a dataset's rows is not at hand, so asking the judge measures agreement with
the judge, which the gate already checks for every short answer (--judge-own-answer). It is therefore
off by default here (--consistency K turns it on: K answers from the judge, at --consistency-temperature).
The journal key of each verdict names the judge and K, so a run with another judge, or none, checks again.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

from selfinstruct.clean.journal import CleanState, verified_key
from selfinstruct.clean.rows import CleanRow
from selfinstruct.clean.settings import CleanConfig
from selfinstruct.records import Instance
from selfinstruct.stages.verifiers import Verifier
from selfinstruct.stages.verifiers.consistency import short_answer
from selfinstruct.stages.verifiers.kind import suspect_kind

if TYPE_CHECKING:
    from selfinstruct.run import RunDir
    from selfinstruct.teacher.client import Teacher
    from selfinstruct.teacher.endpoint import Endpoint


def judged_tag(cfg: CleanConfig, model: str | None) -> str:
    """What the judge-asking checks depend on, for the verdicts' journal key: "" when they are off."""
    if not (cfg.verifiers and cfg.gate and cfg.judge_checks) or model is None:
        return ""
    return f"judge={model};consistency={cfg.consistency}@{cfg.consistency_temperature:g}"


def wants_judge(rows: list[CleanRow], state: CleanState, cfg: CleanConfig, tag: str) -> bool:
    """Whether an exchange the verifiers will check now (not journaled) is one the judge would be asked about."""
    if not tag:
        return False
    for row in rows:
        if not row.kept:
            continue
        for turn, exchange in enumerate(row.exchanges):
            context = exchange.context if turn else ""
            if verified_key(exchange.instruction, exchange.input, exchange.output, cfg.run_code, context, tag) in state.verified:
                continue
            if suspect_kind(exchange.instruction, exchange.input, exchange.output) is not None:
                return True
            if cfg.consistency and short_answer(exchange.instruction, Instance(input=exchange.input, output=exchange.output), False):
                return True
    return False


def arm(verifier: Verifier, judge: Teacher, cfg: CleanConfig) -> None:
    """The answer-kind judge, and with --consistency K, K more answers to each short answer, both asked of `judge`."""
    from selfinstruct.judge.answer_kind import AnswerKindJudge
    from selfinstruct.stages.verifiers.consistency import Consistency

    verifier.kind_judge = AnswerKindJudge(judge)
    verifier.consistency = Consistency(judge, cfg.consistency, cfg.consistency_temperature) if cfg.consistency else None


class JudgeEndpoint:
    """The judge's connection for the whole run, opened on first use (a local judge's server starts only if asked)."""

    def __init__(self, endpoint: Endpoint, run: RunDir) -> None:
        self.endpoint, self.run = endpoint, run
        self.teacher: Teacher | None = None
        self._stack = ExitStack()

    def open(self) -> Teacher:
        if self.teacher is None:
            from selfinstruct.clean.journal import spent_before
            from selfinstruct.teacher.endpoint import open_teacher
            from selfinstruct.teacher.holds import HoldJournal

            holds = HoldJournal(self.run.path)
            self._stack.callback(holds.close)
            self.teacher = self._stack.enter_context(open_teacher(self.endpoint, server_log=self.run.path / "judge.log", log=self.run.log_request,
                                                                  spent=spent_before(self.run.path), holds=holds))  # fmt: skip
        return self.teacher

    async def aclose(self) -> None:
        try:
            if self.teacher is not None:
                await self.teacher.aclose()
        finally:
            self._stack.close()
