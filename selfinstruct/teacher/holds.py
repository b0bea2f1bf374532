"""Spend a crash cannot hide: every attempt's worst case is journaled before it is sent.

    holds = HoldJournal(run_dir)                         # holds.jsonl, appended; ids continue a resumed run's
    hold = holds.open("propose", prompt_tokens=900, max_tokens=1024, usd=0.00075)
    ... send; the attempt's line in requests.jsonl carries {"hold": hold, ...} and settles it ...
    lost = lost_in_crash(run_dir)                        # holds no requests.jsonl line settled

A provider bills a request the moment it computes it, whether or not the process that sent it lives to
read the answer. A SIGKILL (OOM killer, a preempted VM) therefore loses exactly the attempts in flight:
they are paid for but never logged. So each attempt first appends one short line to holds.jsonl with its
worst case (estimated prompt tokens + max_tokens, and that at the run's price), and the attempt's own
line in requests.jsonl, written when the answer (or an error) arrives, names the hold it settles. The
usage and the settlement are one line, so a crash can never count an answer twice. On resume, a hold
no line settles was in flight at the crash: it counts as spent at its worst case, in the summary and
against --max-usd / --max-total-tokens, shown as "lost in a crash".

Cheap at any concurrency: one small O_APPEND write per attempt (a whole line in one system call, so a
kill leaves at most a torn last line, cut on the next start), no rewriting, no fsync (like the other
logs: a process crash loses nothing the kernel has; a power cut is out of scope). Batch mode needs none
of this: a batch's worst case is journaled in batches.jsonl and held until its results are logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from selfinstruct.run import HOLDS, REQUESTS
from selfinstruct.safe_files import JsonlReader
from selfinstruct.teacher.spend import Usage


@dataclass(frozen=True)
class Hold:
    """One attempt's worst case, journaled before it was sent."""

    id: int
    stage: str
    prompt_tokens: int
    max_tokens: int
    usd: float

    def usage(self) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.max_tokens, usd=self.usd)


def read_holds(run_dir: Path) -> Iterator[Hold]:
    for rec in JsonlReader(run_dir / HOLDS, damaged="unreadable line; the run directory is damaged"):
        try:
            yield Hold(int(rec["hold"]), str(rec.get("stage", "unknown")), int(rec["prompt_tokens"]), int(rec["max_tokens"]), float(rec["usd"]))
        except (KeyError, TypeError, ValueError):
            continue


def settled_ids(run_dir: Path) -> set[int]:
    """Holds the request log settled: every attempt line that names one (answered, failed or abandoned)."""
    return {int(rec["hold"]) for rec in JsonlReader(run_dir / REQUESTS, damaged="unreadable line; the run directory is damaged") if isinstance(rec.get("hold"), int)}


def lost_in_crash(run_dir: Path, settled: set[int] | None = None) -> list[Hold]:
    """Holds no request line settles: attempts in flight when a process died, in the order they were sent."""
    done = settled_ids(run_dir) if settled is None else settled
    return [hold for hold in read_holds(run_dir) if hold.id not in done]


class HoldJournal:
    """holds.jsonl of one run directory, appended one line per attempt; ids go on from the last one there."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / HOLDS
        self._next = 1 + max((hold.id for hold in read_holds(run_dir)), default=0)
        self._fd: int | None = None

    def open(self, stage: str, prompt_tokens: int, max_tokens: int, usd: float) -> int:
        """Journal an attempt's worst case before it is sent; returns the id its request line must carry."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        hold, self._next = self._next, self._next + 1
        line = f'{{"hold":{hold},"stage":{json.dumps(stage)},"prompt_tokens":{prompt_tokens},"max_tokens":{max_tokens},"usd":{usd:.8g}}}\n'
        data = line.encode()
        while data:  # one write for a line this short; the loop only guards against a partial write
            data = data[os.write(self._fd, data) :]
        return hold

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
