"""What a run directory knows about its Batch API work: batches.jsonl and the batch files beside it.

    outputs/<run>/
      batches.jsonl               append-only: each uploaded file and created batch the moment its id
                                  exists, every status change seen while polling, and when a batch's
                                  results were all logged (settled)
      batches/0003-input.jsonl    the exact lines uploaded as batch input (written before the upload)
      batches/<batch>-output.jsonl, <batch>-errors.jsonl   the provider's result files, once downloaded

A rerun replays batches.jsonl: batches still out are polled, never submitted again, and results
already downloaded are read from disk. `selfinstruct status RUN_DIR` prints the same replay.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.safe_files import JsonlAppender, JsonlReader, write_text_atomic

BATCHES = "batches.jsonl"
BATCH_DIR = "batches"
TERMINAL = ("completed", "failed", "expired", "cancelled")


def digest(body: dict[str, Any]) -> str:
    """A short fingerprint of a request body: the same prompt and options give the same digest."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class LineKey:
    """Which pending request a batch line answers: its stage, and its record (a proposal) or its body's digest."""

    stage: str
    record: str | None
    digest: str

    @property
    def match(self) -> tuple[str, str]:
        """A proposal is matched by its request number (its prompt may differ on a rerun), anything else by its body."""
        return (self.stage, "rec:" + self.record) if self.record else (self.stage, "body:" + self.digest)


def custom_id(key: LineKey, attempt: int) -> str:
    """`propose.r00012.3f2a9c1b04de.1`: stage, record (or -), body digest and attempt, readable in any batch file."""
    return f"{key.stage}.{key.record or '-'}.{key.digest}.{attempt}"


def parse_custom_id(value: str) -> tuple[LineKey, int] | None:
    parts = value.split(".")
    if len(parts) != 4 or not parts[3].isdigit():
        return None
    stage, record, dig, attempt = parts
    return LineKey(stage, None if record == "-" else record, dig), int(attempt)


@dataclass
class BatchEntry:
    """One submitted batch as the journal tells it."""

    batch_id: str
    file_id: str
    input_path: str  # relative to the run directory
    requests: int
    reserved_tokens: int
    reserved_usd: float
    submitted_at: float
    status: str = "validating"
    counts: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: str | None = None
    status_at: float = 0.0
    settled: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def waiting_s(self, now: float | None = None) -> float:
        """Seconds from submission to the end (or until now, while it is still out)."""
        end = self.status_at if self.terminal and self.status_at else (now or time.time())
        return max(0.0, end - self.submitted_at)


class BatchJournal:
    """batches.jsonl of one run directory: appended as things happen, replayed on start."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.dir = run_dir / BATCH_DIR
        self._appender: JsonlAppender | None = None
        self.entries: dict[str, BatchEntry] = {}
        self.files: dict[str, str] = {}  # every uploaded input file: id -> its local copy (relative path)
        self.next_input = 1
        self._load()

    def _load(self) -> None:
        # A torn last line from a kill mid-write is left out: what it said is re-learnt by polling.
        for rec in JsonlReader(self.run_dir / BATCHES, damaged="unreadable line; the run directory is damaged"):
            kind = rec.get("kind")
            if kind == "file":
                self.files[rec["file"]] = rec["input"]
                self.next_input = max(self.next_input, int(rec.get("seq", 0)) + 1)
            elif kind == "batch":
                self.entries[rec["batch"]] = BatchEntry(
                    batch_id=rec["batch"], file_id=rec["file"], input_path=rec["input"], requests=rec["requests"],
                    reserved_tokens=rec["reserved_tokens"], reserved_usd=rec["reserved_usd"], submitted_at=rec["ts"], status_at=rec["ts"],
                )  # fmt: skip
            elif kind == "status" and rec.get("batch") in self.entries:
                entry = self.entries[rec["batch"]]
                entry.status, entry.counts, entry.status_at = rec["status"], rec.get("counts") or {}, rec["ts"]
                entry.output_file_id = rec.get("output_file_id") or entry.output_file_id
                entry.error_file_id = rec.get("error_file_id") or entry.error_file_id
                entry.errors = rec.get("errors") or entry.errors
            elif kind == "settled" and rec.get("batch") in self.entries:
                self.entries[rec["batch"]].settled = True

    def _append(self, record: dict[str, Any]) -> None:
        if self._appender is None:
            self._appender = JsonlAppender(self.run_dir / BATCHES)
        self._appender.append({**record, "ts": round(time.time(), 3)})

    def close(self) -> None:
        if self._appender:
            self._appender.close()
            self._appender = None

    # --- writing -------------------------------------------------------------------------

    def write_input(self, lines: list[dict[str, Any]]) -> tuple[int, Path]:
        """Save a batch's input lines before they are uploaded; returns (sequence number, path)."""
        seq = self.next_input
        self.next_input += 1
        self.dir.mkdir(exist_ok=True)
        path = self.dir / f"{seq:04d}-input.jsonl"
        write_text_atomic(path, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
        return seq, path

    def file_uploaded(self, seq: int, file_id: str, path: Path) -> None:
        self.files[file_id] = str(path.relative_to(self.run_dir))
        self._append({"kind": "file", "seq": seq, "file": file_id, "input": self.files[file_id]})

    def files_without_batch(self) -> dict[str, str]:
        """Uploaded files no journaled batch uses: a crash may have come between creating a batch and writing it down."""
        used = {e.file_id for e in self.entries.values()}
        return {f: path for f, path in self.files.items() if f not in used}

    def batch_created(self, entry: BatchEntry) -> None:
        self.entries[entry.batch_id] = entry
        self._append({
            "kind": "batch", "batch": entry.batch_id, "file": entry.file_id, "input": entry.input_path, "requests": entry.requests,
            "reserved_tokens": entry.reserved_tokens, "reserved_usd": round(entry.reserved_usd, 6),
        })  # fmt: skip
        entry.submitted_at = entry.status_at = time.time()

    def status(self, entry: BatchEntry, status: str, counts: dict[str, int], output_file_id: str | None, error_file_id: str | None, errors: str | None) -> None:
        """Journal a batch's status when it (or its counts) changed."""
        if (status, counts) == (entry.status, entry.counts) and entry.status_at:
            return
        entry.status, entry.counts, entry.status_at = status, counts, time.time()
        entry.output_file_id, entry.error_file_id, entry.errors = output_file_id, error_file_id, errors
        self._append({
            "kind": "status", "batch": entry.batch_id, "status": status, "counts": counts,
            "output_file_id": output_file_id, "error_file_id": error_file_id, "errors": errors,
        })  # fmt: skip

    def settled(self, entry: BatchEntry) -> None:
        entry.settled = True
        self._append({"kind": "settled", "batch": entry.batch_id})

    # --- reading -------------------------------------------------------------------------

    def input_lines(self, entry: BatchEntry) -> list[dict[str, Any]]:
        path = self.run_dir / entry.input_path
        return list(JsonlReader(path, damaged="unreadable line; the run directory is damaged"))

    def result_path(self, entry: BatchEntry, kind: str) -> Path:
        return self.dir / f"{entry.batch_id}-{kind}.jsonl"

    def outstanding(self) -> list[BatchEntry]:
        """Batches whose results have not all been logged yet, oldest first."""
        return [e for e in self.entries.values() if not e.settled]
