"""The lines of Batch API work: a request waiting for its line, and what a result file's line says.

    results = read_results(journal, entry, api="chat")   # custom_id -> LineResult (an answer, or why there is none)

batch.py sends and polls; this module owns the line formats on both sides of a batch: the input
line written for each request, the provider's output and error lines read back, and the request
log's lines a rerun replays so that no answered line is logged (and counted) twice.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.safe_files import JsonlReader
from selfinstruct.teacher.batch_journal import BatchEntry, BatchJournal, LineKey
from selfinstruct.teacher.spend import count_tokens
from selfinstruct.teacher.wire import Completion

ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


@dataclass
class PendingRequest:
    """One `complete` call waiting for its line."""

    key: LineKey
    body: dict[str, Any]
    estimate: int  # prompt tokens expected, for the reservation
    future: asyncio.Future[Completion]
    attempt: int = 1
    reservation: tuple[int, float] = (0, 0.0)
    custom_id: str = ""


@dataclass
class LineResult:
    """A line of a result file: an answer, or why there is none."""

    completion: Completion | None = None
    error: str | None = None
    usage: tuple[int, int] = (0, 0)
    lines: list[str] = field(default_factory=list)


def input_line(request: PendingRequest, api: str) -> dict[str, Any]:
    """The batch input line that asks `request` of the provider."""
    return {"custom_id": request.custom_id, "method": "POST", "url": ENDPOINTS[api], "body": request.body}


def log_record(model: str, api: str, batch: str, cid: str, stage: str, attempt: int, result: LineResult, latency: float, usd: float) -> dict[str, Any]:
    """The request log's line for one batch line: its answer's usage and cost at batch prices, or its error."""
    record: dict[str, Any] = {
        "ts": round(time.time(), 3), "stage": stage, "model": model, "api": api, "request": cid, "attempt": attempt,
        "batch": batch, "custom_id": cid, "latency_s": round(latency, 3),
    }  # fmt: skip
    if result.completion is None:
        record.update(ok=False, error=result.error)
    else:
        record.update(ok=True, prompt_tokens=result.usage[0], completion_tokens=result.usage[1], usd=round(usd, 6),
                      finish_reason=result.completion.finish_reason)  # fmt: skip
    return record


def body_tokens(body: dict[str, Any]) -> int:
    """Prompt tokens of a batch line's body, as a request's reservation estimates them."""
    if "messages" in body:
        return sum(count_tokens(str(m.get("content", ""))) + 4 for m in body["messages"]) + 4
    return count_tokens(str(body.get("prompt", "")))


def parse_result_line(row: dict[str, Any], api: str) -> LineResult:
    """An output or error file's line: the completion it carries, or the error that took its place."""
    response = row.get("response") or {}
    body = response.get("body") or {}
    if row.get("error") or response.get("status_code") != 200:
        error = row.get("error") or body.get("error") or {}
        return LineResult(error=f"{error.get('code') or response.get('status_code')}: {error.get('message', 'no answer')}"[:200])
    choices = body.get("choices") or []
    if not choices:
        return LineResult(error="response has no choices")
    choice = choices[0]
    text = (choice.get("message") or {}).get("content") if api == "chat" else choice.get("text")
    usage = body.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or count_tokens(text or ""))
    done = Completion(text=text or "", finish_reason=choice.get("finish_reason"), prompt_tokens=prompt_tokens,
                      completion_tokens=completion_tokens, latency_s=0.0)  # fmt: skip
    return LineResult(completion=done, usage=(prompt_tokens, completion_tokens))


def read_results(journal: BatchJournal, entry: BatchEntry, api: str) -> dict[str, LineResult]:
    """A finished batch's downloaded output and error files, by custom_id (empty before they are downloaded)."""
    results: dict[str, LineResult] = {}
    for kind in ("output", "errors"):
        for row in JsonlReader(journal.result_path(entry, kind), damaged="unreadable line; delete it to download it again"):
            results[row.get("custom_id", "")] = parse_result_line(row, api)
    return results


def logged_lines(requests_log: Path) -> set[tuple[str, str]]:
    """(batch, custom_id) of every batch line the request log already has: a rerun logs each line once."""
    return {(rec["batch"], rec["custom_id"]) for rec in JsonlReader(requests_log, damaged="unreadable line; the run directory is damaged")
            if rec.get("batch") and rec.get("custom_id")}  # fmt: skip
