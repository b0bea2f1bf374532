"""A mock provider behind a rate limiter of a chosen shape, on 127.0.0.1, for the tests and bench/rate_limit.py.

    server = LimitedServer().start()
    server.configure(LimiterSpec(shape="sliding", limit=10, window_s=5.0))     # 10 requests in any 5 s
    run = limited_run(server, n=60, fixed=False)                                # the real client floods it
    server.stop()

Shapes, each over requests or (kind="tokens") over a request's tokens as OpenAI counts them for its limits
(the prompt's characters / 4, plus max_tokens):
- "bucket": `limit` tokens, refilled continuously at limit / window_s a second;
- "fixed": `limit` per window of `window_s`, all of it back at each window's end (windows start with the first request);
- "sliding": at most `limit` in any `window_s` (a sliding-window log).
A request over the limit gets a 429 at once, with Retry-After in seconds or retry-after-ms; with `headers`, every
answer carries x-ratelimit-limit/remaining/reset-* as of its admission (reset: until the whole limit is back, in
OpenAI's "1m5s" / "250ms" form). Admitted requests answer after `latency_s`. The server is aiohttp's, in a thread.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from typing import Literal, NamedTuple

from aiohttp import web
from pydantic import BaseModel

from selfinstruct.teacher.client import Decoding, Message, Teacher
from selfinstruct.teacher.spend import SpendTracker, count_tokens
from tests.mock_rate import RateLimits

Shape = Literal["bucket", "fixed", "sliding"]


class LimiterSpec(BaseModel):
    """One limiter: its shape, what it counts, how much per window, and what its answers say."""

    shape: Shape
    limit: float
    window_s: float
    kind: Literal["requests", "tokens"] = "requests"
    headers: bool = True
    retry_after: Literal["s", "ms"] = "s"
    latency_s: float = 0.3

    @property
    def per_s(self) -> float:
        return self.limit / self.window_s


class Limiter:
    """The limiter's state; `admit(cost, now)` is (admitted, seconds until this cost would fit)."""

    def __init__(self, spec: LimiterSpec) -> None:
        self.spec = spec
        self.level = spec.limit  # bucket
        self.at = 0.0
        self.origin: float | None = None  # fixed window
        self.used = 0.0
        self.log: deque[tuple[float, float]] = deque()  # sliding: (admitted at, cost)
        self.in_log = 0.0

    def _advance(self, now: float) -> None:
        spec = self.spec
        if spec.shape == "bucket":
            self.level = min(spec.limit, self.level + (now - self.at) * spec.per_s)
            self.at = now
        elif spec.shape == "fixed":
            if self.origin is None:
                self.origin = now
            elif now >= self.origin + spec.window_s:
                self.origin += spec.window_s * math.floor((now - self.origin) / spec.window_s)
                self.used = 0.0
        else:
            while self.log and self.log[0][0] <= now - spec.window_s:
                self.in_log -= self.log.popleft()[1]

    def remaining(self) -> float:
        spec = self.spec
        return (
            self.level if spec.shape == "bucket" else spec.limit - (self.used if spec.shape == "fixed" else self.in_log)
        )

    def admit(self, cost: float, now: float) -> tuple[bool, float]:
        self._advance(now)
        spec = self.spec
        cost = min(cost, spec.limit)
        if self.remaining() >= cost - 1e-9:
            if spec.shape == "bucket":
                self.level -= cost
            elif spec.shape == "fixed":
                self.used += cost
            else:
                self.log.append((now, cost))
                self.in_log += cost
            return True, 0.0
        if spec.shape == "bucket":
            return False, (cost - self.level) / spec.per_s
        if spec.shape == "fixed":
            return False, self.origin + spec.window_s - now  # type: ignore[operator]
        freed, at = self.remaining(), now
        for admitted, c in self.log:  # the oldest entries expire first
            freed += c
            at = admitted + spec.window_s
            if freed >= cost:
                break
        return False, at - now

    def reset_s(self, now: float) -> float:
        """Seconds until the whole limit is back (OpenAI's x-ratelimit-reset-*)."""
        spec = self.spec
        if spec.shape == "bucket":
            return (spec.limit - self.level) / spec.per_s
        if spec.shape == "fixed":
            return self.origin + spec.window_s - now if self.used else 0.0  # type: ignore[operator]
        return self.log[-1][0] + spec.window_s - now if self.log else 0.0


def duration(seconds: float) -> str:
    """OpenAI's reset format: "250ms", "6s", "1m5.5s"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    minutes, rest = divmod(seconds, 60)
    return (f"{minutes:.0f}m" if minutes else "") + f"{rest:.3g}s"


def ideal_span(spec: LimiterSpec, costs: list[float]) -> float:
    """Seconds a perfect client needs to have these requests admitted by a fresh limiter (first to last)."""
    limiter, now = Limiter(spec), 0.0
    for cost in costs:
        while True:
            ok, wait = limiter.admit(cost, now)
            if ok:
                break
            now += wait + 1e-9
    return now


class LimitedServer:
    """The mock provider: chat completions behind a Limiter, answering `ok` after the spec's latency."""

    def __init__(self) -> None:
        self.spec = LimiterSpec(shape="bucket", limit=1e9, window_s=1.0)
        self.limiter = Limiter(self.spec)
        self.lock = threading.Lock()
        self.url = ""
        self.admitted: list[tuple[float, float]] = []  # (when, cost)
        self.throttled = 0
        self.refused: list[float] = []  # when each 429 was given
        self.in_flight = self.peak = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    def configure(self, spec: LimiterSpec) -> None:
        with self.lock:
            self.spec, self.limiter = spec, Limiter(spec)
            self.admitted, self.refused, self.throttled, self.in_flight, self.peak = [], [], 0, 0, 0

    def _headers(self, now: float) -> dict[str, str]:
        spec, limiter = self.spec, self.limiter
        return {f"x-ratelimit-limit-{spec.kind}": str(int(spec.limit)), f"x-ratelimit-remaining-{spec.kind}": str(int(limiter.remaining())),
                f"x-ratelimit-reset-{spec.kind}": duration(limiter.reset_s(now))}  # fmt: skip

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        cost = RateLimits.cost(body) if self.spec.kind == "tokens" else 1.0
        with self.lock:
            now = time.monotonic()
            ok, wait = self.limiter.admit(cost, now)
            headers = self._headers(now) if self.spec.headers else {}
            if ok:
                self.admitted.append((now, cost))
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            else:
                self.throttled += 1
                self.refused.append(now)
        if not ok:
            wait += 0.001  # what the limiter needs, rounded up as servers do
            headers["retry-after-ms" if self.spec.retry_after == "ms" else "retry-after"] = (
                f"{wait * 1000:.0f}" if self.spec.retry_after == "ms" else f"{wait:.3f}")  # fmt: skip
            error = {
                "error": {
                    "message": f"Rate limit reached for {self.spec.kind}.",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                }
            }
            return web.json_response(error, status=429, headers=headers)
        try:
            await asyncio.sleep(self.spec.latency_s)
        finally:
            with self.lock:
                self.in_flight -= 1
        answer = {"id": "mock", "object": "chat.completion", "model": body.get("model"),
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": int(cost), "completion_tokens": 1, "total_tokens": int(cost) + 1}}  # fmt: skip
        return web.json_response(answer, headers=headers)

    def start(self) -> LimitedServer:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_post("/v1/chat/completions", self._chat)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
            ready.set()

        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop)
        if not ready.wait(10):
            raise RuntimeError("the mock limiter did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


# --- driving the real client against it ----------------------------------------------------------------

# A large prompt (for tokens-per-minute limits): a shared system turn of about 1,500 tokens, as few-shot prompts are.
LARGE_SYSTEM = " ".join(
    f"Example {i}: write a short, clear answer about topic number {i} for a general reader." for i in range(90)
)


class LimitedRun(NamedTuple):
    """One flood: requests/s, share of the limit's throughput, share of requests that got a 429, peak in flight."""

    rps: float
    share: float
    throttled: float
    peak: int
    seconds: float

    def line(self) -> str:
        return (f"{self.rps:6.2f} req/s  {self.share:6.1%} of the limit  {self.throttled:5.1%} got 429  peak {self.peak:3d} in flight"
                f"  ({self.seconds:.1f} s)")  # fmt: skip


def prompts(n: int, large: bool) -> list[list[Message] | str]:
    if not large:
        return [f"Say hello, number {i}." for i in range(n)]
    return [
        [Message(role="system", content=LARGE_SYSTEM), Message(role="user", content=f"Answer example {i % 90}.")]
        for i in range(n)
    ]


def limited_run(server: LimitedServer, n: int, fixed: bool, ceiling: int = 64, large: bool = False, timeout_s: float = 30.0,
                max_attempts: int = 1000, urls: list[str] | None = None) -> tuple[LimitedRun, Teacher]:  # fmt: skip
    """Send n requests at once through the real client (the `openai` SDK over HTTP) and measure the limiter's use.

    The share is the time a perfect client would need for these very requests on a fresh limiter over the time
    from the first admission to the last. Each request may retry up to `max_attempts` times: a fixed concurrency
    set too high can leave one request behind many others' 429s, and it is the run that is measured.
    """
    urls = urls or [server.url]
    teacher = Teacher(model="mock-teacher", base_url=urls[0], api_key="sk-test", concurrency=ceiling, concurrency_fixed=fixed,
                      timeout_s=timeout_s, max_attempts=max_attempts, retry_wait_s=0.05, spend=SpendTracker((0.0, 0.0)),
                      more_endpoints=[(url, "mock-teacher") for url in urls[1:]])  # fmt: skip
    count_tokens("load the tokenizer before the clock starts")
    asks = prompts(n, large)

    async def go() -> float:
        started = time.monotonic()
        try:
            await asyncio.gather(*(teacher.complete(p, Decoding(max_tokens=50), stage="s") for p in asks))
        finally:
            await teacher.aclose()
        return time.monotonic() - started

    elapsed = asyncio.run(go())
    with server.lock:
        admitted, throttled, peak, spec = list(server.admitted), server.throttled, server.peak, server.spec
    span = admitted[-1][0] - admitted[0][0] if len(admitted) > 1 else elapsed
    ideal = ideal_span(spec, [cost for _, cost in admitted])
    share = ideal / span if span > 0 else 1.0
    return LimitedRun(n / elapsed, share, throttled / (len(admitted) + throttled), peak, elapsed), teacher


def body_cost(prompt: list[Message] | str, max_tokens: int = 50) -> float:
    """What the limiter counts for one of these requests (tokens kind)."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [m.model_dump() for m in prompt]
    return RateLimits.cost({"messages": messages, "max_tokens": max_tokens})
