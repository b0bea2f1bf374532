"""The mock teacher's rate limits: requests and tokens per window, enforced like a hosted API.

    mock.limits.set(requests=60, tokens=40_000, window=1.0)   # 60 requests and 40K tokens per second

Each limit is a bucket that refills continuously over `window` seconds (OpenAI's limits behave
so). A request costs one request and its prompt estimate plus max_tokens, as OpenAI counts it
against TPM. One that does not fit gets a 429 with Retry-After; every answer carries the
x-ratelimit-* headers. `served` and `throttled` count what happened, for throughput figures.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, NamedTuple

from selfinstruct.teacher.client import Decoding, Teacher
from selfinstruct.teacher.spend import SpendTracker, count_tokens


class RateLimits:
    """Two refilling buckets, requests and tokens; unlimited until `set` is called."""

    def __init__(self) -> None:
        self.requests: float | None = None
        self.tokens: float | None = None
        self.window = 60.0
        self.served = 0
        self.throttled = 0
        self.tokens_served = 0
        self._left_requests = 0.0
        self._left_tokens = 0.0
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def set(self, requests: float | None = None, tokens: float | None = None, window: float = 60.0) -> None:
        with self._lock:
            self.requests, self.tokens, self.window = requests, tokens, window
            self._left_requests, self._left_tokens = requests or 0.0, tokens or 0.0
            self._at = time.monotonic()
            self.served = self.throttled = self.tokens_served = 0

    def _refill(self) -> None:
        now = time.monotonic()
        elapsed, self._at = now - self._at, now
        if self.requests:
            self._left_requests = min(self.requests, self._left_requests + elapsed * self.requests / self.window)
        if self.tokens:
            self._left_tokens = min(self.tokens, self._left_tokens + elapsed * self.tokens / self.window)

    @staticmethod
    def cost(body: dict[str, Any]) -> int:
        """Tokens a request counts against the limit: a prompt estimate (4 characters a token) plus max_tokens."""
        prompt = json.dumps(body.get("messages") or body.get("prompt") or "")
        return len(prompt) // 4 + int(body.get("max_tokens") or 1024)

    def admit(self, body: dict[str, Any]) -> dict[str, str] | None:
        """None if the request may go ahead (its cost taken), else the 429's headers."""
        if self.requests is None and self.tokens is None:
            return None
        cost = self.cost(body)
        with self._lock:
            self._refill()
            short_r = 1 - self._left_requests if self.requests else 0.0
            short_t = cost - self._left_tokens if self.tokens else 0.0
            if short_r > 0 or short_t > 0:
                self.throttled += 1
                wait = max(short_r * self.window / (self.requests or 1), short_t * self.window / (self.tokens or 1), 0.001)
                return {"Retry-After": f"{wait:.3f}", **self._headers()}
            if self.requests:
                self._left_requests -= 1
            if self.tokens:
                self._left_tokens -= cost
            self.served += 1
            self.tokens_served += cost
            return None

    def headers(self) -> dict[str, str]:
        with self._lock:
            return self._headers()

    def _headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.requests:
            out.update({"x-ratelimit-limit-requests": str(int(self.requests)), "x-ratelimit-remaining-requests": str(int(self._left_requests)),
                        "x-ratelimit-reset-requests": f"{(self.requests - self._left_requests) * self.window / self.requests:.3f}s"})
        if self.tokens:
            out.update({"x-ratelimit-limit-tokens": str(int(self.tokens)), "x-ratelimit-remaining-tokens": str(int(self._left_tokens)),
                        "x-ratelimit-reset-tokens": f"{(self.tokens - self._left_tokens) * self.window / self.tokens:.3f}s"})
        return out


# --- driving a mock against its limits (tests/teacher/test_rate.py, bench/rate_limit.py) --------------

# The comparison: 40 requests/s with a burst of 20, and tokens for about 45 of its requests a second.
LIMIT_BURST, LIMIT_PER_S = 20, 40.0


def flood(mock: Any, n: int, concurrency: int, fixed: bool, timeout_s: float = 10.0, max_attempts: int = 60) -> tuple[float, Teacher]:
    """Send n short requests at once through the real client (the `openai` SDK over HTTP); (seconds, teacher)."""
    teacher = Teacher(model="mock-teacher", base_url=mock.url, api_key="sk-test", concurrency=concurrency, concurrency_fixed=fixed,
                      timeout_s=timeout_s, max_attempts=max_attempts, retry_wait_s=0.02, spend=SpendTracker((0.0, 0.0)))  # fmt: skip
    count_tokens("load the tokenizer before the clock starts")

    async def go() -> float:
        started = time.monotonic()
        try:
            await asyncio.gather(*(teacher.complete(f"Say hello, number {i}.", Decoding(max_tokens=50), stage="s") for i in range(n)))
        finally:
            await teacher.aclose()
        return time.monotonic() - started

    return asyncio.run(go()), teacher


class LimitedRun(NamedTuple):
    """One flood against the limits: requests/s, share of the limit's throughput, share answered 429, top concurrency."""

    rps: float
    share: float
    throttled: float
    top: int

    def line(self) -> str:
        return (f"{self.rps:6.1f} req/s  {self.share:6.1%} of the limit's throughput  {self.throttled:6.1%} of requests got 429  "
                f"(concurrency up to {self.top})")  # fmt: skip


def rate_limited_run(mock: Any, n: int, fixed: bool, ceiling: int = 64) -> LimitedRun:
    """Reset the mock's buckets (full) to the issue's limits, answer in 50 ms, and flood it with n requests.

    Attempts are not the measure here: a fixed concurrency set too high can leave one request behind 60
    others' 429s in a row on a busy CPU, so each request may try up to 1,000 times and the run is counted.
    """
    mock.limits.set(requests=LIMIT_BURST, tokens=LIMIT_BURST * 75, window=LIMIT_BURST / LIMIT_PER_S)
    mock.latency = 0.05
    elapsed, teacher = flood(mock, n, ceiling, fixed, max_attempts=1_000)
    throttled = mock.limits.throttled
    ideal = (n - LIMIT_BURST) / LIMIT_PER_S  # the burst is free; the rest arrives at the refill rate
    return LimitedRun(n / elapsed, ideal / elapsed, throttled / (n + throttled), teacher.report()["concurrency"]["max"])
