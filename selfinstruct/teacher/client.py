"""The one teacher seam: chat messages (or a completion prompt) and decoding options in, text + finish reason + usage out.

    teacher = Teacher(model=..., base_url=..., api_key=..., spend=SpendTracker(...))
    done = await teacher.complete([Message(role="system", content=...), Message(role="user", content=...)],
                                  Decoding(temperature=0.0, max_tokens=256), stage="classify")

It talks to any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, llama.cpp, Ollama, ...) with the
official `openai` client, through the chat or the legacy completions API. The client's own retries
are off: `complete` retries transient faults (429, 5xx, timeouts, dropped connections, malformed
bodies) as the teacher's tenacity policy says (retry.py: full-jitter exponential backoff, Retry-After
honoured), and every attempt is logged.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any, Literal

import openai

from selfinstruct.endpoint_settings import redact_url
from selfinstruct.errors import SelfInstructError, TeacherError, UserError
from selfinstruct.teacher.endpoints import EndpointPool, Lane
from selfinstruct.teacher.holds import HoldJournal
from selfinstruct.teacher.rate import AdaptiveLimit
from selfinstruct.teacher.retry import (
    MalformedResponse,
    RetryPolicy,
    describe,
    is_timeout,
    is_transient,
    is_unreachable,
    retry_after,
)
from selfinstruct.teacher.spend import SpendTracker, Usage, count_tokens
from selfinstruct.teacher.wire import (
    Completion,
    Decoding,
    Message,
    Structured,
    TopLogprobs,
    as_chat,
    as_text,
    current_record,
    prompt_tokens_estimate,
    read_top_logprobs,
    request_body,
    response_format,
)

# The request vocabulary (wire.py) is importable from here too, beside the Teacher that sends it.
__all__ = [
    "Completion", "Decoding", "Message", "Structured", "Teacher", "TopLogprobs", "as_chat", "as_text", "current_record",
    "open_client", "prompt_tokens_estimate", "read_top_logprobs", "request_body", "response_format",
]  # fmt: skip

# The HTTP library this openai release speaks (httpx, or its successor httpx2), for its Response and Limits types.
_HTTP = importlib.import_module(type(openai.DEFAULT_CONNECTION_LIMITS).__module__.split(".")[0])


def open_client(api_key: str, base_url: str | None, timeout_s: float, concurrency: int) -> openai.AsyncOpenAI:
    """The openai client for one endpoint, over the SDK's aiohttp transport with a connection for every request slot.

    aiohttp rather than the SDK's default httpx: at 256 requests in flight the client's request path alone
    cost 1.8-1.9 ms of CPU per request with httpx and 1.2 ms with aiohttp (bench/throughput.py measures the
    whole run), and one aiohttp pool holds a thousand connections where an httpx pool scans all of them on
    every request. Errors stay the SDK's own classes; connection_failure reads what they really were.
    """
    headers: dict[str, str] = {}
    url = _HTTP.URL(base_url) if base_url else None
    if url is not None and (url.username or url.password):
        # user:password@ (a gateway behind basic auth) is sent as basic auth in place of the key, as httpx sends it;
        # aiohttp refuses credentials in a URL beside an Authorization header, so they leave the URL.
        token = base64.b64encode(f"{url.username}:{url.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        base_url = str(url.copy_with(username=None, password=None))
    return openai.AsyncOpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0, default_headers=headers,
        http_client=openai.DefaultAioHttpClient(
            limits=_HTTP.Limits(max_connections=concurrency, max_keepalive_connections=concurrency), timeout=timeout_s),
    )  # fmt: skip


class Teacher:
    """An OpenAI-compatible teacher with bounded concurrency, retries, request logging and spend caps."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str,
        api: Literal["chat", "completions"] = "chat",
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_attempts: int = 6,
        retry_wait_s: float = 1.0,
        requests_per_minute: float | None = None,
        spend: SpendTracker,
        log: Callable[[dict[str, Any]], None] = lambda record: None,
        on_connection_error: Callable[[], None] | None = None,
        description: str = "",
        structured: Structured | None = None,
        more_endpoints: list[tuple[str, str]] | None = None,
        concurrency_fixed: bool = False,
        holds: HoldJournal | None = None,
    ) -> None:
        self.model = model
        # Set when the endpoint takes a JSON schema for the answer (chat API only); None: text formats.
        self.structured = structured if api == "chat" else None
        self.description = description or f"teacher: {model}"
        self.api = api
        self.max_attempts = max_attempts
        self.retry_wait_s = retry_wait_s
        # One retry policy for every request: tenacity's strategies, asked after a failed attempt (retry.py).
        self.retry_policy = RetryPolicy(max_attempts, retry_wait_s, endpoints=1 + len(more_endpoints or []))
        self.spend = spend
        self.log = log
        self.on_connection_error = on_connection_error
        self.requests = 0
        self.retries = 0
        # Each attempt's worst case is journaled before it is sent (holds.py), so a crash cannot hide its cost.
        self.holds = holds
        self.abandoned = Usage()  # attempts sent and then given up by this process (a stopping run), at their worst case
        self.abandoned_count = 0
        self._request_ids = itertools.count(1)
        self._api_key = api_key
        self._succeeded = False
        self._min_interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next_start = 0.0
        self._pace_lock = asyncio.Lock()
        # --concurrency is each endpoint's ceiling; the limit under it adapts unless --concurrency-fixed.
        lanes = [(base_url, model), *(more_endpoints or [])]
        self.pool = EndpointPool([
            Lane(redact_url(url) or "https://api.openai.com/v1", name,
                 open_client(api_key, url, timeout_s, concurrency), AdaptiveLimit(concurrency, concurrency_fixed))
            for url, name in lanes
        ])  # fmt: skip

    @property
    def concurrency(self) -> int:
        """The most requests in flight at once, over all endpoints (the adaptive limits stay under it)."""
        return self.pool.ceiling

    @property
    def in_flight(self) -> int:
        return self.pool.in_flight

    @property
    def current_concurrency(self) -> int:
        """What the adaptive limits allow right now, for the live display."""
        return self.pool.current

    def report(self) -> dict[str, Any]:
        """For summary.json: the concurrency's trace and 429s, each endpoint's share when there are several, and
        the attempts this session abandoned in flight (counted at their worst case)."""
        report = self.pool.report()
        if self.abandoned_count:
            report["abandoned_in_flight"] = {
                "attempts": self.abandoned_count, "prompt_tokens": self.abandoned.prompt_tokens,
                "completion_tokens": self.abandoned.completion_tokens, "usd": round(self.abandoned.usd, 6),
            }  # fmt: skip
        return report

    async def drain(self) -> None:
        """Stop sending, and let requests already sent finish (and be logged and counted) before the summary.

        A request can outlive the task that asked for it (gather's other children keep running when one
        fails): it is paid for, so it must be counted, and nothing new may start after the run stops.
        """
        await self.pool.drain()

    async def aclose(self) -> None:
        for lane in self.pool.lanes:
            await lane.client.close()

    async def _pace(self) -> None:
        if not self._min_interval:
            return
        async with self._pace_lock:
            now = time.monotonic()
            delay = self._next_start - now
            self._next_start = max(now, self._next_start) + self._min_interval
        if delay > 0:
            await asyncio.sleep(delay)

    async def complete(self, prompt: list[Message] | str, decoding: Decoding, stage: str, ahead: bool = False) -> Completion:
        """Send chat messages (or a completion prompt), retrying transient faults; raises TeacherError when it gives up.

        `ahead`: the answer is what further requests wait on, so it takes the next free slot before requests
        already queued for one (EndpointPool.acquire)."""
        estimate = prompt_tokens_estimate(prompt, self.api)
        attempt = 0
        request_id = next(self._request_ids)
        if self.pool.closing:
            raise asyncio.CancelledError  # the run is stopping: send nothing new
        # A request holds its slot through its retries, so at most --concurrency requests are worked on at once;
        # with several endpoints a retry moves to the least busy one that is not set aside.
        held: list[Lane] = []
        cost = estimate + decoding.max_tokens  # what a provider's tokens-per-minute limit counts
        lane, start_at = await self.pool.acquire(ahead, cost)
        held.append(lane)
        try:
            # Reserve once a slot is ours: requests queued for a slot hold no budget, so a cap is not hit early.
            reservation = self.spend.reserve(estimate, decoding.max_tokens)
            try:
                while True:
                    attempt += 1
                    if attempt > 1:
                        self.retries += 1
                        if self.pool.closing:
                            raise asyncio.CancelledError
                        if len(self.pool.lanes) > 1:
                            self.pool.release(held.pop())
                            lane, start_at = await self.pool.acquire(ahead, cost)
                            held.append(lane)
                        else:
                            start_at = await self.pool.again(lane, cost)
                    try:
                        return await self._attempt(lane, start_at, prompt, decoding, stage, attempt, request_id, estimate)
                    except Exception as exc:
                        wait = self.retry_policy.next_wait(exc, attempt, self._succeeded)
                        if wait is None:
                            raise
                    await asyncio.sleep(wait)
            except (openai.APIError, MalformedResponse) as exc:
                err = self._give_up(exc, attempt)
                raise type(err)(self._redact(str(err))) from None
            finally:
                self.spend.release(reservation)
        finally:
            for slot in held:
                self.pool.release(slot)

    async def _attempt(
        self, lane: Lane, start_at: float, prompt: list[Message] | str, decoding: Decoding, stage: str, attempt: int, request_id: int = 0,
        estimate: int | None = None,
    ) -> Completion:
        await self._pace()
        record: dict[str, Any] = {
            "ts": round(time.time(), 3), "stage": stage, "model": lane.model, "api": self.api, "request": request_id, "attempt": attempt,
        }  # fmt: skip
        if len(self.pool.lanes) > 1:
            record["endpoint"] = lane.name
        started = time.monotonic()
        self.requests += 1
        if estimate is None:
            estimate = prompt_tokens_estimate(prompt, self.api)
        cost = estimate + decoding.max_tokens
        if self.holds is not None:
            # Journaled before the request leaves; this attempt's line in requests.jsonl settles it.
            record["hold"] = self.holds.open(stage, estimate, decoding.max_tokens, self.spend.cost(estimate, decoding.max_tokens))
        try:
            completion, headers = await self._send(lane, prompt, decoding, started, estimate)
        except asyncio.CancelledError:
            # Sent, then given up (the run is stopping): the provider may bill it in full, so it counts at its worst case.
            usd = self.spend.record(estimate, decoding.max_tokens)
            self.abandoned.prompt_tokens += estimate
            self.abandoned.completion_tokens += decoding.max_tokens
            self.abandoned.usd += usd
            self.abandoned_count += 1
            record.update(ok=False, latency_s=round(time.monotonic() - started, 3), error="abandoned in flight; counted at its worst case",
                          abandoned=True, prompt_tokens=estimate, completion_tokens=decoding.max_tokens, usd=round(usd, 6))  # fmt: skip
            self.log(record)
            raise
        except BaseException as exc:
            record.update(ok=False, latency_s=round(time.monotonic() - started, 3), error=self._redact(describe(exc)))
            if isinstance(exc, openai.APIStatusError):
                record["status"] = exc.status_code
                after = retry_after(exc)
                if after is not None:
                    record["retry_after_s"] = after
            self._feedback(lane, start_at, exc)
            self.log(record)
            if isinstance(exc, openai.APIConnectionError) and self.on_connection_error:
                self.on_connection_error()  # may raise a clearer TeacherError (e.g. local server died)
            raise
        self._succeeded = True
        self.pool.succeeded(lane)
        lane.limit.on_success(start_at, stage, completion.latency_s, headers, cost)
        usd = self.spend.record(completion.prompt_tokens, completion.completion_tokens)
        record.update(
            ok=True,
            latency_s=round(completion.latency_s, 3),
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            usd=round(usd, 6),
            finish_reason=completion.finish_reason,
        )
        self.log(record)
        return completion

    def _feedback(self, lane: Lane, start_at: float, exc: BaseException) -> None:
        """A 429 or a timeout shrinks the endpoint's concurrency; any failure counts toward setting it aside."""
        if isinstance(exc, openai.APIStatusError) and exc.status_code == 429:
            lane.limit.on_throttle(start_at, retry_after(exc), exc.response.headers)
            return  # the endpoint is alive, only busy
        if is_timeout(exc):
            lane.limit.on_timeout(start_at)
        if is_transient(exc):
            self.pool.failed(lane)

    async def _send(self, lane: Lane, prompt: list[Message] | str, decoding: Decoding, started: float, estimate: int) -> tuple[Completion, Any]:
        """One request; returns the completion and the response headers (the rate-limit ones pace the run).

        The body is already plain JSON (request_body), so it goes through the client's `post` as it is: the
        typed `create` methods walk every message through the SDK's TypedDict transform, which cost more
        CPU than everything else in a request put together (bench/throughput.py). Errors, timeouts and
        statuses are the client's own, as with `create`; the answer is read as JSON, not built into models.
        """
        body = request_body(lane.model, self.api, prompt, decoding, self.structured)
        response = await lane.client.post("/chat/completions" if self.api == "chat" else "/completions", body=body, cast_to=_HTTP.Response)
        try:
            data = json.loads(response.content)
            choice = data["choices"][0]
            text = choice["message"].get("content") if self.api == "chat" else choice.get("text")
            finish_reason = choice.get("finish_reason")
            top = read_top_logprobs(choice, self.api) if decoding.top_logprobs else None
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or estimate)
            completion_tokens = usage.get("completion_tokens")
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedResponse(f"response body is not valid JSON ({exc})") from exc
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise MalformedResponse("response has no choices") from exc
        text = text if isinstance(text, str) else ""
        done = Completion(
            text=text,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=int(completion_tokens) if completion_tokens is not None else count_tokens(text),
            latency_s=time.monotonic() - started,
            top_logprobs=top,
        )
        return done, response.headers

    def _redact(self, text: str) -> str:
        """Servers may echo the key or a credentialed URL in errors; neither may reach a log or the terminal."""
        for lane in self.pool.lanes:
            url = str(lane.client.base_url)
            text = text.replace(url, redact_url(url) or "")
        # A very short key would match ordinary text; real keys are long.
        return text.replace(self._api_key, "***") if len(self._api_key) >= 8 else text

    def _give_up(self, exc: BaseException, attempts: int) -> SelfInstructError:
        """Turn the last error into one actionable line; configuration mistakes are the user's (exit 2)."""
        if isinstance(exc, openai.AuthenticationError):
            return UserError("the teacher rejected the API key (HTTP 401): check OPENAI_API_KEY or --api-key")
        if isinstance(exc, openai.PermissionDeniedError):
            return UserError(f"the teacher refused access (HTTP 403) to model '{self.model}'")
        if isinstance(exc, openai.NotFoundError):
            return UserError(
                f"model '{self.model}' not found at {self.pool.lanes[0].name} (HTTP 404): check --model and --base-url"
            )
        if isinstance(exc, openai.BadRequestError):
            return TeacherError(f"the teacher rejected the request: {describe(exc)}")
        if is_unreachable(exc) and not self._succeeded:
            return UserError(f"cannot reach the teacher at {self.pool.lanes[0].name}: {describe(exc)}; is the server running?")
        return TeacherError(f"the teacher failed {attempts} times in a row, giving up; last error: {describe(exc)}")
