"""A provider's rate limit learned from its 429s, for endpoints that send no x-ratelimit-* headers.

    learner = RateLearner()
    learner.note_refused(sent)                          # a 429, then what it may say:
    learner.on_throttle(sent, received, retry_after_s, first_sent, accepted_between)
    learner.on_success(gap_s)                           # an answer; gap_s: since the request before it left
    next_at = learner.next_at(last_sent)                # the next request leaves no sooner (even pacing)
    learner.window_count, learner.window_s              # while set: pace as a sliding log of that size instead

Whatever the limiter's shape (token bucket, fixed window, sliding-window log), a 429's Retry-After marks the
moment it has room again, and the requests it accepted between two such moments, over the time between them,
are its rate: a window admits its whole limit and then refuses until it refills, a log refuses until its oldest
entry expires, a bucket refills at its rate. The first cycle is also taken as a window to fill as a sliding log
would (pacer.py) until a 429 within its first span says otherwise (a bucket's burst; one after the window held for
a whole span is a request let in late, and the pacer allows more time for that instead); from then on requests leave evenly at MARGIN of that rate. Even spacing
a little under the rate is what all three shapes allow at any moment (a window never sees more than its limit
inside it, a log never more than its limit inside its span, a bucket never drains), so the limit is used to
within the margin and 429s stop. The rate creeps up by GROWTH per answer while it is what holds requests back,
so a limit that was underestimated, or raised, is found again at the cost of one 429 every few hundred requests.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

# Leave at this share of the learned rate: room for the timing noise between leaving and being admitted.
MARGIN = 0.97
# While the rate holds requests back, each answer raises it by this share (about one 429 per ~100 answers at most).
GROWTH = 0.0005
# Cycles (between two moments with room) are pooled until they span this long before they set the rate: one
# short cycle says little (a sliding log lets requests in as its entries expire, unevenly).
POOL_S = 1.0
REFUSED_KEPT = 2048


class RateLearner:
    """The rate learned from 429s and the requests accepted between them; None until the first 429."""

    def __init__(self) -> None:
        self.rate: float | None = None
        # The first refusal's window: `window_count` were accepted from the first request until the moment the
        # limiter had room again, `window_s` later. While no 429 contradicts it, requests leave as a sliding log of
        # that size allows (our own requests leaving it), so a window that refills at once is used in full; a 429
        # then (a token bucket refills only at its rate) leaves even pacing at the learned rate.
        self.window_count = 0
        self.window_s = 0.0
        self.room_at: float | None = None  # the last moment a 429 said the limiter would have room again
        self._pool_from: float | None = None  # where the cycles pooled for the next rate began
        self.samples: list[float] = []  # each cycle's rate, for the report
        self._window_from = 0.0  # when the window learned from the first refusal began to be paced
        self._window_until = -1.0  # when the request whose 429 measured it left
        self.late = 0  # refusals the window allowed, after it had held for a whole span (see on_throttle)
        # Set when the window is known to be no token bucket (the pacer's probe, rate_window.py): a refusal inside
        # it is then a late admission from the start.
        self.sliding = False
        self._refused: list[float] = []  # when refused requests left, in order

    def next_at(self, last_sent: float) -> float:
        return last_sent + 1.0 / self.rate if self.rate else last_sent

    def refused_between(self, start: float, end: float) -> int:
        return bisect.bisect_left(self._refused, end) - bisect.bisect_left(self._refused, start)

    def on_success(self, gap_s: float) -> None:
        """Grow the rate while it is what spaces requests (this one left about one spacing after the last)."""
        if self.rate and gap_s <= 1.5 / self.rate:
            self.rate *= 1.0 + GROWTH

    def note_refused(self, sent: float) -> None:
        """Every 429: the request that left at `sent` never entered the limiter's count."""
        if self.window_count and sent < self._window_until:
            # Counted among the window's accepted requests while it was still on its way (it left before the one
            # whose 429 measured the window, and reached the provider after it): the window holds one less. Left
            # uncounted, every later window overshot by as many (176 for a limit of 150 on a loaded client).
            self.window_count -= 1
        bisect.insort(self._refused, sent)
        if len(self._refused) > REFUSED_KEPT:
            del self._refused[: REFUSED_KEPT // 2]

    def on_throttle(self, sent: float, received: float, retry_after: float | None, first_sent: float,
                    accepted_between: Callable[[float, float], int]) -> None:  # fmt: skip
        """A 429 (already noted as refused) that may say more about the rate or the window."""
        if self.room_at is not None and sent < self.room_at:
            return  # it left before the limiter's last moment with room: the same refusal, nothing new
        wait = retry_after if retry_after is not None else (1.0 / self.rate if self.rate else 1.0)
        room_at = received + wait
        start = self._pool_from if self._pool_from is not None else first_sent
        span = room_at - start
        self.room_at = room_at
        contradicted = False
        if self.rate is None:
            self.window_count, self.window_s = accepted_between(start, sent), span
            self._window_from, self._window_until = room_at, sent
        elif self.window_count and (self.sliding or sent >= self._window_from + self.window_s):
            # The window held for a whole span of it, which a bucket's burst does not: this refusal is the timing
            # (a request let in later than allowed for), not the shape. The pacer allows more for that instead.
            self.late += 1
            return
        elif self.window_count:
            # Refused within what the window allowed (a token bucket: its first cycle held its burst as well as
            # its refill): pace evenly from here, at what this cycle alone accepted, however short it was.
            self.window_count, contradicted = 0, True
        if self.rate is not None and span < POOL_S and not contradicted:
            return  # pool this cycle with the next ones
        sample = accepted_between(start, sent) / span if span > 0 else 0.0
        if sample > 0:
            self.samples.append(sample)
            self.rate = MARGIN * sample
        self._pool_from = room_at
