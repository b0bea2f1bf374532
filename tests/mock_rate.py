"""The mock teacher's rate limits: requests and tokens per window, enforced like a hosted API.

    mock.limits.set(requests=60, tokens=40_000, window=1.0)   # 60 requests and 40K tokens per second

Each limit is a bucket that refills continuously over `window` seconds (OpenAI's limits behave
so). A request costs one request and its prompt estimate plus max_tokens, as OpenAI counts it
against TPM. One that does not fit gets a 429 with Retry-After; every answer carries the
x-ratelimit-* headers. `served` and `throttled` count what happened, for throughput figures.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any


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
