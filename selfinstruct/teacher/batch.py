"""`generate --batch`: the teacher seam over the OpenAI Batch API, at half the online price.

    teacher = BatchTeacher(..., settings=cfg.batch_api, run_dir=run.path)
    done = await teacher.complete(prompt, decoding, stage="propose")   # resolves when its batch is done

Recipes and the stage driver are unchanged: each `complete` call joins a pending list, and the
list goes out as a batch (input JSONL uploaded with purpose "batch", then a batch on
/v1/chat/completions or /v1/completions with a 24 h window, through the official `openai` client)
once it holds --batch-min-requests, or once nothing else is out that could add to it, so stage
N+1's batch leaves as soon as stage N's results fill it and a run never waits on a finished stage.
A list over 50,000 requests (--batch-max-requests) or 200 MB is split.

Every file and batch id is journaled the moment it exists (batch_journal.py). A rerun polls the
batches it has and matches the requests the driver asks again to their lines (a proposal by its
request number, anything else by its body), so nothing is submitted twice. Errored lines and the
unanswered requests of an expired or failed batch go out again, up to --max-attempts; a batch
cancelled at the provider stops the run, and a rerun resubmits what it had not answered.

Spend: each request's worst case is reserved at batch prices before its batch is created, so a
cap can never be crossed by results that arrive later; each answered line is logged to
requests.jsonl once (with its batch and custom_id) and settles at its actual usage.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Literal

import openai

from selfinstruct.endpoint_settings import BatchSettings
from selfinstruct.errors import CapReached, TeacherError
from selfinstruct.run import REQUESTS
from selfinstruct.safe_files import JsonlReader, write_text_atomic
from selfinstruct.teacher.batch_journal import BatchEntry, BatchJournal, LineKey, custom_id, digest, parse_custom_id
from selfinstruct.teacher.batch_lines import (
    ENDPOINTS,
    LineResult,
    PendingRequest,
    body_tokens,
    input_line,
    log_record,
    logged_lines,
    read_results,
)
from selfinstruct.teacher.retry import describe
from selfinstruct.teacher.spend import SpendTracker
from selfinstruct.teacher.wire import (
    Completion,
    Decoding,
    Message,
    Structured,
    current_record,
    prompt_tokens_estimate,
    request_body,
)

MAX_FILE_BYTES = 200 * 1024 * 1024
# Requests arriving closer together than this are one burst: the burst is sent as one batch.
QUIET_S = 0.2
POLL_START_S, POLL_MAX_S, POLL_GROWTH = 30.0, 300.0, 1.5


class BatchTeacher:
    """The teacher seam (seam.TeacherSeam: `complete`, `spend`, `in_flight`, ...) served by the Batch API."""

    def __init__(
        self, *, model: str, base_url: str | None, api_key: str, api: Literal["chat", "completions"], timeout_s: float,
        max_attempts: int, spend: SpendTracker, log: Any, description: str, structured: Structured | None,
        settings: BatchSettings, run_dir: Path,
    ) -> None:  # fmt: skip
        self.model, self.api, self.max_attempts, self.spend, self.log = model, api, max_attempts, spend, log
        self.structured = structured if api == "chat" else None
        self.description = description
        self.settings = settings
        self.run_dir = run_dir
        # The driver keeps up to concurrency // 2 proposals out: a whole batch of them.
        self.concurrency = 2 * settings.batch_max_requests
        self.requests = 0
        self.retries = 0
        self.journal = BatchJournal(run_dir)
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=max(timeout_s, 300.0), max_retries=4)
        self._pending: list[PendingRequest] = []
        self._live: dict[str, dict[str, PendingRequest]] = {}  # batch id -> custom_id -> the request awaiting it
        self._results: dict[tuple[str, str], list[Completion]] = {}  # answers no request has taken yet
        self._attempts: dict[tuple[str, str], int] = {}  # attempts already made for a request not yet answered
        self._out_lines: dict[tuple[str, str], tuple[str, str]] = {}  # lines of batches still out: match -> (batch, custom_id)
        self._arrivals = 0
        self._kick = asyncio.Event()
        self._ready = asyncio.Event()
        self._new_batch = asyncio.Event()
        self._broken: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._polls = 0
        self._logged = logged_lines(run_dir / REQUESTS)  # (batch, custom_id) already in the request log
        self._resume()

    # --- the seam ------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._pending) + sum(len(v) for v in self._live.values())

    @property
    def current_concurrency(self) -> None:
        """Nothing adapts: a batch takes whatever is pending."""
        return None

    async def drain(self) -> None:
        """Nothing to wait for: what was submitted is journaled, and a rerun collects it at the provider."""

    async def complete(self, prompt: list[Message] | str, decoding: Decoding, stage: str, ahead: bool = False) -> Completion:
        """Wait for this request's answer from a batch: one already journaled, or a new one (`ahead` means
        nothing here: a batch has no queue of single requests to go ahead of)."""
        if self._broken is not None:
            raise self._broken
        self._start()
        await self._ready.wait()  # batches created just before a crash are found first
        body = request_body(self.model, self.api, prompt, decoding, self.structured)
        key = LineKey(stage, current_record.get() if stage == "propose" else None, digest(body))
        self.requests += 1
        if self._results.get(key.match):
            return self._results[key.match].pop(0)
        loop = asyncio.get_running_loop()
        request = PendingRequest(key, body, prompt_tokens_estimate(prompt, self.api), loop.create_future())
        out = self._out_lines.pop(key.match, None)
        if out is not None:
            request.custom_id = out[1]
            self._live.setdefault(out[0], {})[out[1]] = request
        else:
            request.attempt = self._attempts.get(key.match, 0) + 1
            self._enqueue(request)
        return await request.future

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for request in self._pending:
            self.spend.release(request.reservation)
        self.journal.close()
        await self._client.close()

    def report(self) -> dict[str, Any]:
        """What the summary shows about batch mode: the prices paid and each batch's state."""
        return {
            "pricing": "batch",
            "price_per_m": list(self.spend.price),
            "batches": [
                {"id": e.batch_id, "status": e.status, "requests": e.requests, "counts": e.counts, "waiting_s": round(e.waiting_s(), 1)}
                for e in self.journal.entries.values()
            ],
        }

    # --- resuming ------------------------------------------------------------------------

    def _resume(self) -> None:
        """Replay batches.jsonl: results on disk become answers, lines of batches still out await their requests."""
        for entry in self.journal.entries.values():
            if not entry.settled:
                # Already submitted: its worst case counts against the caps until its results are logged.
                self.spend.hold(entry.reserved_tokens, entry.reserved_usd)
                for line in self.journal.input_lines(entry):
                    parsed = parse_custom_id(line["custom_id"])
                    if parsed:
                        self._out_lines[parsed[0].match] = (entry.batch_id, line["custom_id"])
                        self._attempts[parsed[0].match] = parsed[1]
            else:
                self._absorb(entry, read_results(self.journal, entry, self.api), waiting={})

    # --- sending -------------------------------------------------------------------------

    def _start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.ensure_future(self._flush_loop()), asyncio.ensure_future(self._poll_loop())]
            if self._out_lines or self.journal.outstanding():
                self._kick.set()

    async def _adopt(self) -> None:
        """Find batches the provider created from our files whose ids a crash kept out of the journal."""
        orphans = self.journal.files_without_batch()
        if not orphans:
            return
        try:
            found = [b async for b in self._client.batches.list(limit=100) if b.input_file_id in orphans]
        except openai.APIError:
            return  # a server that cannot list batches: nothing to adopt
        for batch in found:
            if batch.input_file_id not in orphans:
                continue
            lines = list(JsonlReader(self.run_dir / orphans[batch.input_file_id], damaged="unreadable line; the run directory is damaged"))
            worst = [(body_tokens(line["body"]), int(line["body"].get("max_tokens") or 0)) for line in lines]
            usd = sum(self.spend.cost(p, m) for p, m in worst)
            entry = BatchEntry(
                batch_id=batch.id, file_id=batch.input_file_id, input_path=orphans[batch.input_file_id], requests=len(lines),
                reserved_tokens=sum(p + m for p, m in worst), reserved_usd=usd, submitted_at=float(batch.created_at),
            )  # fmt: skip
            self.journal.batch_created(entry)
            entry.submitted_at = float(batch.created_at)
            self.spend.hold(entry.reserved_tokens, entry.reserved_usd)
            for line in lines:
                parsed = parse_custom_id(line["custom_id"])
                if parsed:
                    self._out_lines[parsed[0].match] = (batch.id, line["custom_id"])
                    self._attempts[parsed[0].match] = parsed[1]
            self._new_batch.set()

    def _enqueue(self, request: PendingRequest) -> None:
        self._pending.append(request)
        self._arrivals += 1
        self._kick.set()

    async def _flush_loop(self) -> None:
        try:
            try:
                await self._adopt()
            finally:
                self._ready.set()
            while True:
                await self._kick.wait()
                self._kick.clear()
                while True:  # wait for the burst of requests to end
                    seen = self._arrivals
                    await asyncio.sleep(QUIET_S)
                    if self._arrivals == seen:
                        break
                limit = self.settings.batch_max_requests
                while len(self._pending) >= limit:
                    await self._submit(self._take(limit))
                nothing_out = not any(self._live.values()) and not self._out_lines
                if self._pending and (len(self._pending) >= self.settings.batch_min_requests or nothing_out):
                    await self._submit(self._take(len(self._pending)))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            self._fail_all(exc)

    def _take(self, n: int) -> list[PendingRequest]:
        taken, self._pending = self._pending[:n], self._pending[n:]
        return taken

    async def _submit(self, requests: list[PendingRequest]) -> None:
        """Reserve, write, upload and create: one batch per 200 MB / --batch-max-requests part."""
        try:
            await self._submit_parts(requests)
        except BaseException as exc:
            for request in requests:  # none may wait for a batch that does not exist
                if not request.future.done() and not any(request in live.values() for live in self._live.values()):
                    self.spend.release(request.reservation)
                    request.future.set_exception(exc)
            raise

    async def _submit_parts(self, requests: list[PendingRequest]) -> None:
        fitting: list[PendingRequest] = []
        for i, request in enumerate(requests):
            try:
                request.reservation = self.spend.reserve(request.estimate, int(request.body.get("max_tokens") or 0))
            except CapReached as exc:
                for rest in requests[i:]:
                    if not rest.future.done():
                        rest.future.set_exception(exc)
                break
            fitting.append(request)
        part: list[PendingRequest] = []
        size = 0
        for request in fitting:
            request.custom_id = custom_id(request.key, request.attempt)
            line = json.dumps(input_line(request, self.api)) + "\n"
            if part and size + len(line.encode()) > MAX_FILE_BYTES:
                await self._create(part)
                part, size = [], 0
            part.append(request)
            size += len(line.encode())
        if part:
            await self._create(part)

    async def _create(self, requests: list[PendingRequest]) -> None:
        lines = [input_line(r, self.api) for r in requests]
        seq, path = self.journal.write_input(lines)
        try:
            uploaded = await self._client.files.create(file=(path.name, path.read_bytes()), purpose="batch")
            self.journal.file_uploaded(seq, uploaded.id, path)
            batch = await self._client.batches.create(
                input_file_id=uploaded.id, endpoint=ENDPOINTS[self.api], completion_window="24h",  # type: ignore[arg-type]
                metadata={"selfinstruct_run": self.run_dir.name[:500], "part": str(seq)},
            )  # fmt: skip
        except openai.APIError as exc:
            raise TeacherError(f"the Batch API refused the batch ({describe(exc)}); rerun to resume") from None
        entry = BatchEntry(
            batch_id=batch.id, file_id=uploaded.id, input_path=str(path.relative_to(self.run_dir)), requests=len(requests),
            reserved_tokens=sum(r.reservation[0] for r in requests), reserved_usd=sum(r.reservation[1] for r in requests),
            submitted_at=time.time(),
        )  # fmt: skip
        self.journal.batch_created(entry)
        self._live[batch.id] = {r.custom_id: r for r in requests}
        self._polls = 0
        self._new_batch.set()

    # --- polling and results ---------------------------------------------------------------

    def _poll_interval(self) -> float:
        if self.settings.batch_poll is not None:
            return self.settings.batch_poll
        return min(POLL_MAX_S, POLL_START_S * POLL_GROWTH**self._polls)

    async def _poll_loop(self) -> None:
        try:
            while True:
                if not self.journal.outstanding():
                    self._new_batch.clear()
                    await self._new_batch.wait()
                await asyncio.sleep(self._poll_interval())
                self._polls += 1
                for entry in self.journal.outstanding():
                    batch = await self._client.batches.retrieve(entry.batch_id)
                    counts = batch.request_counts.model_dump() if batch.request_counts else {}
                    errors = "; ".join(f"{e.code}: {e.message}" for e in (batch.errors.data or [])) if batch.errors else None
                    self.journal.status(entry, batch.status, counts, batch.output_file_id, batch.error_file_id, errors)
                    if entry.terminal:
                        await self._download(entry)
                        self._collect(entry)
                        self._kick.set()  # what is pending may go out now
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            self._fail_all(TeacherError(f"polling the Batch API failed ({describe(exc)}); rerun to resume"))

    async def _download(self, entry: BatchEntry) -> None:
        for kind, file_id in (("output", entry.output_file_id), ("errors", entry.error_file_id)):
            path = self.journal.result_path(entry, kind)
            if file_id and not path.exists():
                content = await self._client.files.content(file_id)
                write_text_atomic(path, content.text)

    def _collect(self, entry: BatchEntry) -> None:
        """A finished batch: log and settle every line, answer its requests, resend what went unanswered."""
        waiting = self._live.pop(entry.batch_id, {})
        for cid in [c for c in list(self._out_lines.items()) if c[1][0] == entry.batch_id]:
            del self._out_lines[cid[0]]
        self._absorb(entry, read_results(self.journal, entry, self.api), waiting)
        self.spend.release((entry.reserved_tokens, entry.reserved_usd))
        self.journal.settled(entry)

    def _absorb(self, entry: BatchEntry, results: dict[str, LineResult], waiting: dict[str, PendingRequest]) -> None:
        latency = entry.waiting_s()
        cancelled: list[PendingRequest] = []
        for line in self.journal.input_lines(entry):
            cid = line["custom_id"]
            parsed = parse_custom_id(cid)
            if parsed is None:
                continue
            key, attempt = parsed
            result = results.get(cid) or LineResult(error=f"no answer: batch {entry.status}" + (f" ({entry.errors})" if entry.errors else ""))
            self._log(entry, cid, key, attempt, result, latency)
            request = waiting.get(cid)
            if result.completion is not None:
                result.completion.latency_s = latency
                if request is not None and not request.future.done():
                    request.future.set_result(result.completion)
                else:
                    self._results.setdefault(key.match, []).append(result.completion)
                self._attempts.pop(key.match, None)
                continue
            self._attempts[key.match] = max(attempt, self._attempts.get(key.match, 0))
            if request is None or request.future.done():
                continue
            if entry.status == "cancelled":
                cancelled.append(request)
            elif attempt >= self.max_attempts:
                request.future.set_exception(TeacherError(
                    f"batch request {cid} failed {attempt} times, giving up; last error: {result.error or entry.errors}"))
            else:
                self.retries += 1
                request.attempt = attempt + 1
                self._enqueue(request)
        for request in cancelled:
            request.future.set_exception(TeacherError(
                f"batch {entry.batch_id} was cancelled at the provider; its {entry.counts.get('completed', 0)} answers are saved, rerun to resume"))

    def _log(self, entry: BatchEntry, cid: str, key: LineKey, attempt: int, result: LineResult, latency: float) -> None:
        """requests.jsonl gets each line once, with its cost at batch prices, however often the run resumes."""
        if (entry.batch_id, cid) in self._logged:
            return
        self._logged.add((entry.batch_id, cid))
        usd = self.spend.record(*result.usage) if result.completion is not None else 0.0
        self.log(log_record(self.model, self.api, entry.batch_id, cid, key.stage, attempt, result, latency, usd))

    def _fail_all(self, exc: BaseException) -> None:
        self._broken = exc
        for request in self._pending + [r for reqs in self._live.values() for r in reqs.values()]:
            if not request.future.done():
                request.future.set_exception(exc)
        self._pending = []

