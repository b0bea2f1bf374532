"""Adaptive concurrency for online requests: AIMD under a ceiling, paced by rate-limit headers.

    limit = AdaptiveLimit(ceiling=64)              # --concurrency is the ceiling
    if limit.free: start_at = limit.take()         # the pool (endpoints.py) waits for a free slot
    ... sleep until start_at, send ...
    limit.on_success(start_at, stage, latency_s, headers)  /  limit.on_throttle(start_at, retry_after, headers)  /  limit.on_timeout(start_at)
    limit.give_back()

How the limit moves (TCP's congestion control, DESIGN section 11):
- it starts at START (or the ceiling, when fixed) and grows by one per success until the first sign of
  congestion (slow start), then by one per window of `limit` successes (additive increase);
- a 429 or a timeout halves it (multiplicative decrease), once per window: answers to requests sent
  before the last decrease do not count again; Retry-After holds every new start for that long;
- x-ratelimit-remaining-requests / -tokens (with their reset times) pace starts to the provider's
  refill rate once little is left, so a run slows down before it gets a 429;
- self-hosted servers queue instead of refusing: when latency (against the fastest seen for the same
  kind of request) rises with the requests in flight, the limit stops growing, and shrinks by one
  while the queue keeps growing.
Everything a run needs to explain itself is kept: the trace of the limit over time and the counts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

START = 4
# Latency this many times the fastest seen (same kind of request) means requests are queueing.
QUEUE_RATIO, SHRINK_RATIO = 1.6, 2.5
# Pace once fewer than this share of the provider's limit (or a few requests' worth) is left.
PACE_SHARE = 0.1
# Once the buffer left is used up, start a little slower than the refill rate, so jitter does not turn into 429s.
PACE_MARGIN = 1.1
TRACE_POINTS = 500


def parse_reset(value: str | None) -> float | None:
    """Seconds in an x-ratelimit-reset-* header: "1s", "6m0s", "20ms", "1h2m3.5s" or a bare number."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    total, found = 0.0, False
    for number, unit in re.findall(r"([\d.]+)(ms|h|m|s)", value):
        found = True
        total += float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
    return total if found else None


def _number(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, ValueError, TypeError):
        return None


class AdaptiveLimit:
    """How many requests may be in flight now, and when the next may start."""

    def __init__(self, ceiling: int, fixed: bool = False) -> None:
        self.ceiling = ceiling
        self.fixed = fixed
        self.limit = float(ceiling if fixed else min(START, ceiling))
        self.in_flight = 0
        self.throttled = 0  # 429s seen
        self.timeouts = 0
        self.slow_start = not fixed
        self._started = time.monotonic()
        self._last_decrease = -1.0
        self._hold_until = 0.0  # Retry-After
        self._next_start = 0.0  # header pacing
        self._spacing = 0.0
        self._fastest: dict[str, float] = {}
        self._ratio = 1.0
        self._rtt = 0.0
        self._pace_bound = False
        self._queue_capped = False
        self.trace: list[tuple[float, int]] = [(0.0, int(self.limit))]

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    def _note(self) -> None:
        point = (round(time.monotonic() - self._started, 2), self.current)
        if point[1] != self.trace[-1][1]:
            self.trace.append(point)
            if len(self.trace) > TRACE_POINTS:
                self.trace = self.trace[::2]  # keep the shape, bound the size

    @property
    def free(self) -> bool:
        return self.in_flight < self.current

    def take(self) -> float:
        """Claim a slot (the caller checked `free`); returns when the request may start, after Retry-After and pacing."""
        self.in_flight += 1
        now = time.monotonic()
        start = max(now, self._hold_until, self._next_start)
        self._next_start = start + self._spacing
        # Waiting on the pacing means the provider's rate binds, not the concurrency: no point growing.
        self._pace_bound = start > now + 0.001
        return start

    def give_back(self) -> None:
        self.in_flight -= 1

    # --- outcomes ------------------------------------------------------------------------

    def on_success(self, started: float, stage: str, latency_s: float, headers: Mapping[str, str] | None = None, cost_tokens: int = 0) -> None:
        if headers:
            self._pace(headers, cost_tokens)
        if self.fixed:
            return
        self._rtt = latency_s if not self._rtt else 0.9 * self._rtt + 0.1 * latency_s
        fastest = min(self._fastest.get(stage, latency_s), latency_s)
        self._fastest[stage] = fastest
        ratio = latency_s / fastest if fastest > 0 else 1.0
        self._ratio = 0.7 * self._ratio + 0.3 * ratio
        if ratio > QUEUE_RATIO:
            self.slow_start = False  # the first sign of a queue ends the exponential phase at once
        if self._ratio > QUEUE_RATIO and self.in_flight > 1:
            # Latency grows with load: the server is queueing. Stop growing, and shrink while it gets worse.
            self.slow_start = False
            self._queue_capped = True
            now = time.monotonic()
            if self._ratio > SHRINK_RATIO and started > self._last_decrease and now - self._last_decrease > self._rtt:
                self.limit = max(1.0, self.limit - 1)
                self._last_decrease = now
            self._note()
            return
        self._queue_capped = False
        if self._pace_bound:
            return  # paced by the provider's headers: more slots would only wait
        self.limit = min(float(self.ceiling), self.limit + (1.0 if self.slow_start else 1.0 / max(1.0, self.limit)))
        self._note()

    def on_throttle(self, started: float, retry_after: float | None, headers: Mapping[str, str] | None = None) -> None:
        self.throttled += 1
        if headers:
            self._pace(headers, 0)
        if retry_after:
            self._hold_until = max(self._hold_until, time.monotonic() + retry_after)
        self._decrease(started)

    def on_timeout(self, started: float) -> None:
        self.timeouts += 1
        self._decrease(started)

    def _decrease(self, started: float) -> None:
        now = time.monotonic()
        if self.fixed or started <= self._last_decrease or now - self._last_decrease < self._rtt:
            return  # one halving per window (about one round trip): requests sent before it, or just after, saw the same congestion
        self.slow_start = False
        self.limit = max(1.0, self.limit / 2)
        self._last_decrease = now
        self._note()

    def _pace(self, headers: Mapping[str, str], cost_tokens: int) -> None:
        """Space starts at the provider's refill rate once what is left would not cover the requests in flight."""
        spacing = 0.0
        for kind, cost in (("requests", 1.0), ("tokens", float(max(1, cost_tokens)))):
            limit = _number(headers, f"x-ratelimit-limit-{kind}")
            left = _number(headers, f"x-ratelimit-remaining-{kind}")
            reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
            if limit is None or left is None or not limit:
                continue
            if left > PACE_SHARE * limit + 2 * cost:
                continue
            # Refill rate from the headers: what is missing comes back within `reset` seconds.
            per_s = (limit - left) / reset if reset else limit / 60.0
            if per_s > 0:
                # At the refill rate while a few requests' worth is left; a little under it once that buffer is gone.
                margin = 1.0 if left >= 2 * cost else PACE_MARGIN
                spacing = max(spacing, margin * cost / per_s)
        self._spacing = spacing

    def report(self) -> dict[str, object]:
        return {
            "mode": "fixed" if self.fixed else "adaptive", "ceiling": self.ceiling, "final": self.current,
            "max": max(p[1] for p in self.trace), "throttled_429": self.throttled, "timeouts": self.timeouts,
            "trace": [list(p) for p in self.trace],
        }  # fmt: skip
