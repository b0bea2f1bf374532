"""A clean run's journal: every verifier result and gate score, appended as it arrives, so a stopped run resumes.

    run = RunDir(work); run.open()          # lock, torn-line repair, journal.jsonl, requests.jsonl (selfinstruct.run)
    state = load_state(run.path)
    state.verified.get(verified_key(exchange, run_code))    # checked before: not run again
    state.scored.get(score_key(model, method, prompt))      # asked before: never paid for twice

Both are keyed by what they depend on (the exchange's text; the judge model, method and whole prompt),
not by row number, so a rerun on edited or reordered data reuses exactly what still applies, and a
rerun with another --min-quality decides again from the scores without asking anything. Dedup and
the flags are cheap and deterministic; they are computed again each run rather than journaled.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from selfinstruct.evaluate.journal import prior_usage
from selfinstruct.judge.pairwise import prompt_sha
from selfinstruct.run import JOURNAL
from selfinstruct.safe_files import JsonlReader
from selfinstruct.teacher.holds import lost_in_crash
from selfinstruct.teacher.spend import Usage

__all__ = ["CleanState", "Scored", "Verified", "load_state", "score_key", "spent_before", "verified_key"]


class Verified(BaseModel):
    """The verifiers' verdict on one exchange: None when it passed, with what was checked."""

    kind: Literal["verified"] = "verified"
    key: str
    reason: str | None = None
    detail: str | None = None
    checks: list[str] = []


class Scored(BaseModel):
    """The gate's score of one exchange (the expected score from the digit probabilities, or a digit from text)."""

    kind: Literal["scored"] = "scored"
    key: str
    score: int | None = None
    expected: float | None = None
    method: str = "probability"
    reason: str = ""

    @property
    def value(self) -> float | None:
        """What the threshold is compared with: the expected score, else the digit; None when unreadable (kept)."""
        return self.expected if self.expected is not None else None if self.score is None else float(self.score)


@dataclass
class CleanState:
    verified: dict[str, Verified] = field(default_factory=dict)
    scored: dict[str, Scored] = field(default_factory=dict)

    def add(self, record: Verified | Scored) -> None:
        (self.verified if isinstance(record, Verified) else self.scored)[record.key] = record  # type: ignore[index]


def verified_key(instruction: str, input: str, output: str, run_code: bool, context: str = "", judged: str = "") -> str:
    """A verdict's key: the exchange, the conversation before it where that is part of the check (a later turn's code),
    and the judge the checks that ask one were armed with (clean/judged.py; "" when none)."""
    text = f"{int(run_code)}\x1f{instruction}\x1f{input}\x1f{output}" + (f"\x1f{context}" if context else "") + (f"\x1e{judged}" if judged else "")
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def score_key(model: str, method: str, prompt: str) -> str:
    return prompt_sha(model, f"{method}\x1f{prompt}")


def load_state(directory: Path) -> CleanState:
    """Replay journal.jsonl (a later record for the same key wins); a bad line in the middle is reported as file:line."""
    state = CleanState()
    kinds: dict[str, type[Verified] | type[Scored]] = {"verified": Verified, "scored": Scored}
    reader = JsonlReader(directory / JOURNAL, damaged="unreadable line; is this a clean work directory? (use another --work)")
    for raw in reader:
        try:
            record = kinds[raw["kind"]].model_validate(raw)
        except (KeyError, TypeError, ValidationError):
            raise reader.error() from None
        state.add(record)
    return state


def spent_before(directory: Path) -> Usage:
    """Tokens and dollars already spent in this directory, with the attempts a crash left unsettled at their worst case."""
    usage = prior_usage(directory)
    for hold in lost_in_crash(directory):
        usage.prompt_tokens += hold.prompt_tokens
        usage.completion_tokens += hold.max_tokens
        usage.usd += hold.usd
    return usage
