"""Adaptive concurrency for online requests: AIMD under a ceiling, with the provider's rate limit followed by a pacer.

    limit = AdaptiveLimit(ceiling=64)              # --concurrency is the ceiling
    if limit.free: limit.take()                    # the pool (endpoints.py) waits for a free slot
    sent_at = await limit.pacer.wait(cost_tokens)  # pacer.py: leaves once the rate limit has room
    limit.on_success(sent_at, stage, latency_s, headers)  /  limit.on_throttle(sent_at, retry_after, headers)  /  limit.on_timeout(sent_at)
    limit.give_back()

How the limit moves (after TCP's congestion control):
- it starts at START (or the ceiling, when fixed) and grows by one per success until the first sign of
  congestion (slow start), then by one per window of `limit` successes (additive increase); while it grows
  from nothing known, requests leave spread over half a round trip rather than in bursts, so the first 429
  of a limiter without headers finds few requests already on their way;
- a 429 or a timeout halves it (multiplicative decrease), once per window: answers to requests sent
  before the last decrease do not count again; Retry-After holds every new start for that long. An endpoint
  that sends x-ratelimit-* headers is paced by them instead (pacer.py), and a 429 there tightens the pacing;
  without headers, a 429 that leaves the pacer a window to fill (rate_learn.py) ends the slow start but does
  not halve: the window, not the concurrency, holds the rate then;
- the rate limit itself is the pacer's: from the headers, or learned from the 429s (rate_learn.py); while
  it holds requests back, more slots would only wait, so the limit does not grow;
- self-hosted servers queue instead of refusing: when latency (against the fastest seen for the same
  kind of request) rises with the requests in flight, the limit stops growing, and shrinks by one
  while the queue keeps growing.
Everything a run needs to explain itself is kept: the trace of the limit over time and the counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from selfinstruct.teacher.pacer import Pacer
from selfinstruct.teacher.rate_headers import parse_reset

__all__ = ["AdaptiveLimit", "parse_reset"]

# After the first answer (the run's first request goes alone). 8, not 4: without headers a sliding log repeats its
# first window's slow start in every later one (40 requests/s: its first 200 in 1.9 s, against 2.25 s from 4).
START = 8
# Latency this many times the fastest seen (same kind of request) means requests are queueing.
QUEUE_RATIO, SHRINK_RATIO = 1.6, 2.5
TRACE_POINTS = 500


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
        self.pacer = Pacer(follow=not fixed)
        self._fastest: dict[str, float] = {}
        self._ratio = 1.0
        self._rtt = 0.0
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

    def take(self) -> None:
        """Claim a slot (the caller checked `free`); the request then waits on `pacer` to leave."""
        self.in_flight += 1

    def give_back(self) -> None:
        self.in_flight -= 1

    # --- outcomes ------------------------------------------------------------------------

    def on_success(
        self,
        started: float,
        stage: str,
        latency_s: float,
        headers: Mapping[str, str] | None = None,
        cost_tokens: int = 0,
    ) -> None:
        self.pacer.on_success(started, latency_s, headers)
        if self.fixed:
            return
        self._rtt = latency_s if not self._rtt else 0.9 * self._rtt + 0.1 * latency_s
        # Growing from nothing known: spread requests over half a round trip (see the module docstring).
        spread = self._rtt / (2 * self.current)
        self.pacer.spread_s = spread if self.slow_start and not self.pacer.has_headers else 0.0
        fastest = min(self._fastest.get(stage, latency_s), latency_s)
        self._fastest[stage] = fastest
        ratio = latency_s / fastest if fastest > 0 else 1.0
        self._ratio = 0.7 * self._ratio + 0.3 * ratio
        # Only the smoothed ratio says "queue": one slow answer (a loaded client reads answers late) had ended the
        # slow start at 15-30 in flight at 40 requests/s, and the first window of a sliding log took 4 s to fill.
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
        room = self.pacer.room() if self.slow_start else None
        if room:
            # The headers say how many may go now: growing to that at once fills a window the slow start would
            # take several round trips to reach (and every later window of a sliding log repeats the first one).
            self.limit = max(self.limit, min(float(self.ceiling), math.floor(room)))
        if self.pacer.waiting:
            return  # the rate limit holds requests back, not the concurrency: more slots would only wait
        self.limit = min(float(self.ceiling), self.limit + (1.0 if self.slow_start else 1.0 / max(1.0, self.limit)))
        self._note()

    def on_throttle(self, started: float, retry_after: float | None, headers: Mapping[str, str] | None = None) -> None:
        self.throttled += 1
        self.pacer.on_throttle(started, retry_after, headers)
        if self.pacer.learned_window and not self.fixed:
            # Paced by the window this 429 measured (or confirmed): the pacer answers for the rate limit, and the
            # window's requests must be able to leave as fast as the first window's did (halved, the sliding log
            # fell behind its first window by 0.4 s in the next one at 40 requests/s).
            self.slow_start = False
            self.pacer.spread_s = 0.0
        elif not self.pacer.has_headers:
            self._decrease(started)  # with headers the pacer, not the concurrency, answers for the rate limit

    def on_timeout(self, started: float) -> None:
        self.timeouts += 1
        self.pacer.on_answer(started)
        self._decrease(started)

    def _decrease(self, started: float) -> None:
        now = time.monotonic()
        if self.fixed or started <= self._last_decrease or now - self._last_decrease < self._rtt:
            return  # one halving per window (about one round trip): requests sent before it, or just after, saw the same congestion
        self.slow_start = False
        self.pacer.spread_s = 0.0
        self.limit = max(1.0, self.limit / 2)
        self._last_decrease = now
        self._note()

    def report(self) -> dict[str, object]:
        return {
            "mode": "fixed" if self.fixed else "adaptive", "ceiling": self.ceiling, "final": self.current,
            "max": max(p[1] for p in self.trace), "throttled_429": self.throttled, "timeouts": self.timeouts,
            "trace": [list(p) for p in self.trace], **self.pacer.report(),
        }  # fmt: skip
