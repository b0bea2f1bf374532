"""A run directory: everything a run knows, written crash-safely, so the same command resumes it.

    outputs/<run>/
      alpaca_data.json   the product (written when the budget is met)
      journal.jsonl      append-only: every candidate and its fate, classifications, instances, turns
      requests.jsonl     one line per request attempt: stage, model, tokens, latency, finish reason
      holds.jsonl        each attempt's worst case, journaled before it is sent (teacher/holds.py)
      config.json        the resolved settings (no secrets)
      summary.json       counts, rejection reasons, tokens, cost, time
      teacher.log        the local llama.cpp server's log, when one was used

JSONL appends are flushed per record; whole files go to a temp file and are renamed into place.
A torn last journal line (kill -9 mid-write) is dropped with a warning on the next start.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from selfinstruct.errors import UserError
from selfinstruct.records import Candidate, Classified, Completed, Proposed, Turn
from selfinstruct.safe_files import JsonlAppender, JsonlReader, write_json_atomic

JOURNAL = "journal.jsonl"
REQUESTS = "requests.jsonl"
HOLDS = "holds.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"
DATA = "alpaca_data.json"
LOCK = ".lock"
# Test hook: raise after this many journal appends in one process, to prove a crash between an
# append and the next write loses nothing. Unset in normal use.
FAULT_AFTER_APPENDS_ENV = "SELFINSTRUCT_FAULT_AFTER_APPENDS"


class InjectedFault(RuntimeError):
    """Raised by the test hook above; stands in for any crash in the middle of a run."""

_RECORDS: dict[str, type[BaseModel]] = {
    "candidate": Candidate,
    "classified": Classified,
    "completed": Completed,
    "proposed": Proposed,
    "turn": Turn,
}


M = TypeVar("M", bound=BaseModel)


class JournaledRecords(Mapping[str, M], Generic[M]):
    """Records by id, held as their compact journal lines and read back into models when looked up.

    A run keeps every kept, classified and completed record for its whole life: as pydantic models, a
    10,000-instruction run's took 48 MB and grew the cyclic collector's work with them; as UTF-8 lines
    they take about the journal's own size (bench/throughput.py). Lookups are a few per instruction.
    """

    def __init__(self, model: type[M]) -> None:
        self._model = model
        self._lines: dict[str, bytes] = {}

    def put(self, key: str, line: bytes) -> None:
        self._lines[key] = line

    def __getitem__(self, key: str) -> M:
        return self._model.model_validate_json(self._lines[key])

    def __contains__(self, key: object) -> bool:
        return key in self._lines

    def containing(self, marker: str) -> Iterator[M]:
        """The records whose journal line holds `marker` (text JSON writes as is: no quotes, backslashes or control characters), in order: only those are parsed."""
        needle = marker.encode()
        return (self._model.model_validate_json(line) for line in self._lines.values() if needle in line)

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)


def journal_line(record: BaseModel) -> str:
    """A record's journal line (without the newline): compact JSON, None fields left out, non-ASCII as is."""
    return record.model_dump_json(exclude_none=True)


@dataclass
class RunState:
    """What the journal says has happened so far, replayed in order."""

    kept: JournaledRecords[Candidate] = field(default_factory=lambda: JournaledRecords(Candidate))
    classified: JournaledRecords[Classified] = field(default_factory=lambda: JournaledRecords(Classified))
    completed: JournaledRecords[Completed] = field(default_factory=lambda: JournaledRecords(Completed))
    rejected: Counter[str] = field(default_factory=Counter)
    # Recipe conversation: every turn journaled so far, per conversation id, in order.
    turns: dict[str, list[Turn]] = field(default_factory=dict)
    candidate_ids: set[str] = field(default_factory=set)
    candidates: int = 0
    proposals: int = 0
    # Kept instructions with a finished instance stage, kept up to date so the driver's check of the budget
    # after every answer costs nothing (done_ids() walks every kept instruction).
    finished: set[str] = field(default_factory=set)

    def apply(self, record: BaseModel, line: str | None = None) -> None:
        """Apply one journaled record; `line` is its journal line when the caller has it (else it is made)."""
        if isinstance(record, Candidate):
            self.candidates += 1
            self.candidate_ids.add(record.id)
            # A crash can land between a request's candidates and its "proposed" line: count the request as
            # made anyway, so a resumed run never reuses its number (and so its candidate ids).
            self.proposals = max(self.proposals, record.request + 1)
            if record.status == "kept":
                self.kept.put(record.id, _as_bytes(record, line))
                if record.id in self.completed and self.completed[record.id].finished:
                    self.finished.add(record.id)
            else:
                self.rejected[record.reason or "unknown"] += 1
        elif isinstance(record, Classified):
            self.classified.put(record.id, _as_bytes(record, line))
        elif isinstance(record, Completed):
            self.completed.put(record.id, _as_bytes(record, line))
            if record.finished and record.id in self.kept:
                self.finished.add(record.id)
            else:
                self.finished.discard(record.id)
            if record.reason:
                self.rejected[record.reason] += 1
        elif isinstance(record, Proposed):
            self.proposals = max(self.proposals, record.request + 1)
        elif isinstance(record, Turn):
            self.turns.setdefault(record.id, []).append(record)

    @property
    def done_count(self) -> int:
        """len(done_ids()), without building the list."""
        return len(self.finished)

    def done_ids(self) -> list[str]:
        """Kept instructions that have valid instances (or a conversation), in the order they were kept."""
        return [i for i in self.kept if i in self.finished]

    def pending_ids(self) -> list[str]:
        """Kept instructions whose instance stage has not finished, in keep order."""
        return [i for i in self.kept if i not in self.completed or self.completed[i].unchecked]


def _as_bytes(record: BaseModel, line: str | None) -> bytes:
    return (journal_line(record) if line is None else line).encode()


class RunDir:
    """The directory of one run, held under an exclusive lock while a process works in it."""

    def __init__(self, path: Path, warn: Callable[[str], None] = print) -> None:
        self.path = path
        self.warn = warn
        self._lock_fh: Any = None
        fault_after = os.environ.get(FAULT_AFTER_APPENDS_ENV)
        self._appends_left = int(fault_after) if fault_after else None
        self.journal: JsonlAppender | None = None
        self.requests: JsonlAppender | None = None

    def open(self) -> None:
        """Create the directory if needed, take the lock, and open the append-only logs."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise UserError(f"--out {self.path}: exists and is not a directory") from None
        except NotADirectoryError:
            raise UserError(f"--out {self.path}: a parent of it is a file, not a directory") from None
        except PermissionError:
            raise UserError(f"--out {self.path}: permission denied; choose a writable directory") from None
        if not os.access(self.path, os.W_OK):
            raise UserError(f"--out {self.path}: directory is not writable")
        lock_path = self.path / LOCK
        self._lock_fh = lock_path.open("a+")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.seek(0)
            holder = self._lock_fh.read().strip() or "another process"
            self._lock_fh.close()
            self._lock_fh = None
            raise UserError(f"{self.path} is in use by another selfinstruct process (pid {holder}); wait for it or use another --out") from None
        self._lock_fh.seek(0)
        self._lock_fh.truncate()
        self._lock_fh.write(str(os.getpid()))
        self._lock_fh.flush()
        self._repair(JOURNAL)
        self._repair(REQUESTS)
        self._repair(HOLDS)
        self.journal = JsonlAppender(self.path / JOURNAL)
        self.requests = JsonlAppender(self.path / REQUESTS)

    def close(self) -> None:
        for appender in (self.journal, self.requests):
            if appender:
                appender.close()
        if self._lock_fh:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def _repair(self, name: str) -> None:
        """Cut a torn last line (a kill mid-write) so later appends start on a clean line."""
        path = self.path / name
        if not path.exists() or path.stat().st_size == 0:
            return
        with path.open("rb+") as fh:
            data = fh.read()
            if data.endswith(b"\n"):
                last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
                try:
                    json.loads(data[last_start:])
                    return
                except ValueError:
                    cut = last_start
            else:
                cut = data.rfind(b"\n") + 1
            self.warn(f"warning: {path} ended with a torn line ({len(data) - cut} bytes); dropped it")
            fh.truncate(cut)

    def load_state(self) -> RunState:
        """Replay the journal; a corrupt line in the middle is a real problem and is reported."""
        state = RunState()
        reader = JsonlReader(self.path / JOURNAL, damaged="unreadable line; the run directory is damaged")
        for raw in reader:
            try:
                record = _RECORDS[raw["kind"]].model_validate(raw)
            except (KeyError, TypeError, ValidationError):
                raise reader.error() from None
            state.apply(record, reader.line)
        return state

    def append(self, record: BaseModel) -> str:
        """Journal one record; returns its line, which RunState.apply can keep as it is."""
        assert self.journal is not None
        if self._appends_left is not None and self._appends_left <= 0:
            raise InjectedFault(f"{FAULT_AFTER_APPENDS_ENV}: no journal writes after the injected crash")
        line = journal_line(record)
        self.journal.append_line(line)
        if self._appends_left is not None:
            self._appends_left -= 1
            if self._appends_left <= 0:
                raise InjectedFault(f"{FAULT_AFTER_APPENDS_ENV}: injected crash after a journal append")
        return line

    def log_request(self, record: dict[str, Any]) -> None:
        assert self.requests is not None
        self.requests.append(record)

    def read_json(self, name: str) -> Any | None:
        path = self.path / name
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def write_json(self, name: str, obj: Any) -> None:
        write_json_atomic(self.path / name, obj)
