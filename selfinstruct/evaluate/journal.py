"""An eval directory's journal: every answer and every judgement, appended as it arrives.

    run = RunDir(out); run.open()                  # lock, torn-line repair, journal.jsonl, requests.jsonl
    state = load_state(run.path)                   # what earlier invocations already paid for
    state.answer_for(contestant_id, task)          # reuse instead of asking again
    state.judgements.get(prompt_sha)               # same prompt to the same judge: never asked twice

Answers are keyed by the contestant's identity (model, prompt format, generation settings) and
the task's instruction + input; judgements by a hash of the judge model and the full prompt, which
holds both answers. So a rerun of the same command pays for nothing twice, and a rerun with a
changed contestant or judge reuses exactly what still applies. The directory itself (lock, flushed
appends, torn-line repair, atomic whole-file writes) is `selfinstruct.run.RunDir`, as for generate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from selfinstruct.evaluate.tasks import EvalTask
from selfinstruct.judge.pairwise import Judgement
from selfinstruct.run import JOURNAL, REQUESTS
from selfinstruct.safe_files import JsonlReader
from selfinstruct.teacher.spend import Usage


class Answer(BaseModel):
    """One contestant's answer to one task."""

    kind: Literal["answer"] = "answer"
    contestant: str  # the contestant's identity, including how it was prompted and decoded
    task: str
    key: str  # hash of the task's instruction + input
    response: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class GateScore(BaseModel):
    """The quality gate's score of one labelled output (`eval --calibrate --gate`), keyed like a judgement."""

    kind: Literal["gate_score"] = "gate_score"
    prompt_sha: str
    pair: str
    output: Literal[1, 2]
    score: int | None = None
    expected: float | None = None
    reason: str = ""


def key_hash(task: EvalTask) -> str:
    return hashlib.sha256(task.key.encode()).hexdigest()[:24]


@dataclass
class EvalState:
    """What the journal holds, replayed in order (a later record for the same key wins)."""

    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    judgements: dict[str, Judgement] = field(default_factory=dict)
    gate_scores: dict[str, GateScore] = field(default_factory=dict)

    def answer_for(self, contestant: str, task: EvalTask) -> Answer | None:
        return self.answers.get((contestant, key_hash(task)))

    def add(self, record: Answer | Judgement | GateScore) -> None:
        if isinstance(record, Answer):
            self.answers[(record.contestant, record.key)] = record
        elif isinstance(record, GateScore):
            self.gate_scores[record.prompt_sha] = record
        else:
            self.judgements[record.prompt_sha] = record


def load_state(directory: Path) -> EvalState:
    """Replay journal.jsonl; a corrupt line in the middle is reported as file:line."""
    state = EvalState()
    reader = JsonlReader(directory / JOURNAL, damaged="unreadable line; is this an eval directory? (use another --out)")
    for raw in reader:
        try:
            record = {"answer": Answer, "gate_score": GateScore}.get(raw.get("kind"), Judgement).model_validate(raw)
        except ValidationError:
            raise reader.error() from None
        state.add(record)
    return state


def prior_usage(directory: Path) -> Usage:
    """Tokens and dollars already spent in this directory (every endpoint), so caps cover the whole run."""
    usage = Usage()
    for rec in JsonlReader(directory / REQUESTS, damaged="unreadable line; is this an eval directory? (use another --out)"):
        usage.prompt_tokens += rec.get("prompt_tokens", 0) or 0
        usage.completion_tokens += rec.get("completion_tokens", 0) or 0
        usage.usd += rec.get("usd", 0.0) or 0.0
    return usage
