"""A fixed window told apart from a sliding log without rate-limit headers, and then filled from each boundary.

    fixed = FixedWindow()
    fixed.arm(room_at, span, count, delay)                # the first 429 measured a window (rate_learn.py)
    fixed.probing(at)                                     # True: a request may leave now as part of the probe
    fixed.on_sent(sent, allowance) / fixed.on_answer(sent, refused)
    fixed.active, fixed.earliest(at, accepted_since, delay) / fixed.on_throttle(sent, room_at)

Both shapes refuse the first request past their count with a Retry-After that ends when the limiter first has room
again: a fixed window then has room for its whole count, a sliding log only for what it let in first (the run's
first request, sent alone until it was answered). Paced as a sliding log, each window repeats the first one's slow
start; so once, at that moment, a few more requests leave together than a sliding log could admit. If none is
refused the limiter is a fixed window, and from then on each window's count leaves from its start. A refused probe
costs those few 429s once and keeps the sliding log's pacing. A 429 during fixed pacing moves the boundaries to its
moment with room (a fixed window's Retry-After ends on one); a second soon after means the shape was misread (a
token bucket's burst can pass the probe), and the sliding log's pacing comes back.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# The probe leaves within PROBE_SPREAD_S, and only when a window holds PROBE_EVERY times as many (its 429s, should
# the limiter refuse it, then cost little).
PROBE_SPREAD_S, PROBE_EVERY = 0.1, 8
# A 429 during fixed pacing moves the boundaries to its moment with room; another from a request sent within this
# many windows after that means a longer window than the first one measured (one that began before the run's first
# request), when its moment with room is at least LONGER times a window after the last, and else no fixed window.
SETTLE_WINDOWS, LONGER = 3, 1.1


class FixedWindow:
    """Whether the window learned from the first 429 refills all at once, and if so when each window starts."""

    def __init__(self) -> None:
        self.state = "off"  # "probing", then "fixed" or "off" for good
        self.boundary = 0.0  # a window's start (later ones follow every `span`)
        self.span = 0.0
        self.count = 0
        self.moved = 0  # boundaries moved by a 429 (for the report)
        self._probe_at = 0.0
        self._rate_bound = 0.0  # the most a token bucket could refill a second, by what the first window let in
        self._size = 0  # the probe's requests, once its first has left
        self._group: dict[float, bool] = {}  # the probe's requests: when each left -> let in
        self._started = math.inf  # when its first request left
        self._moved_at = -math.inf  # when a 429 last moved the boundaries

    @property
    def active(self) -> bool:
        return self.state == "fixed"

    def arm(self, room_at: float, span: float, count: int, delay: float) -> None:
        """The first 429 measured `count` accepted in `span` until `room_at`: probe there (plus the delay)."""
        self.boundary, self.span, self.count = room_at, span, count
        if span > 0:
            # A bucket lets in its burst and its refill: what the window let in over its span is at least its rate.
            self.state, self._probe_at, self._rate_bound = "probing", room_at + delay, count / span

    def probe_at(self) -> float:
        return self._probe_at if self.state == "probing" and not self._size else math.inf

    def probing(self, at: float) -> bool:
        if self.state != "probing" or at < self._probe_at:
            return False
        return not self._size or (len(self._group) < self._size and at <= self._started + PROBE_SPREAD_S)

    def on_sent(self, sent: float, allowance: Callable[[float], int]) -> None:
        """A request left; `allowance(at)`: how many of our first requests a sliding log may have let go by `at`."""
        if not self.probing(sent):
            if self.state == "probing" and self._size and len(self._group) < self._size:
                self.state = "off"  # the probe could not leave together (too few requests, or a slow client)
            return
        if not self._size:
            self._started = sent
            # More than a sliding log could free by then, and than a bucket could have refilled since it had room.
            refill = self._rate_bound * (sent + PROBE_SPREAD_S - self.boundary)
            self._size = allowance(sent + 2 * PROBE_SPREAD_S) + math.ceil(refill) + 1
            if self._size * PROBE_EVERY > self.count:
                self.state = "off"
                return
        self._group[sent] = False

    def on_answer(self, sent: float, refused: bool) -> bool:
        """An answer to a probe request (False for any other): one refusal means no fixed window; all of them let
        in, one."""
        if sent not in self._group:
            return False
        if self.state != "probing":
            return True  # the probe was decided already
        if refused:
            self.state = "off"
            return True
        self._group[sent] = True
        if len(self._group) >= self._size and all(self._group.values()):
            self.state = "fixed"
        return True

    def refill_like(self, wait: float, fastest: float) -> bool:
        """Whether a refused probe's wait for room is a token bucket's (about one request's refill, at most the
        rate the first window let in) rather than a sliding log's (until its next entry, let in after the run's
        first answer, leaves: about an answer's time after the probe's first moment)."""
        return wait < min(fastest / 2, 2 / self._rate_bound if self._rate_bound else math.inf)

    def on_throttle(self, sent: float, room_at: float) -> None:
        """A 429 while pacing by fixed windows: the boundaries move to its moment with room; another soon after
        means a longer window, or none (see SETTLE_WINDOWS)."""
        if sent <= self._moved_at:
            self.boundary = max(self.boundary, room_at)  # the same burst
            return
        if sent <= self._moved_at + SETTLE_WINDOWS * self.span:
            if room_at - self._moved_at < LONGER * self.span:
                self.state = "off"
                return
            self.span = room_at - self._moved_at
        self.boundary, self._moved_at = room_at, room_at
        self.moved += 1

    def earliest(self, at: float, accepted_since: Callable[[float], int], delay: float) -> float:
        """When a request may leave: from its window's start (plus the delay), while that window has room."""
        start = self.boundary + math.floor((at - self.boundary) / self.span) * self.span
        if at < start + delay:
            at = start + delay
        if accepted_since(start - delay) < self.count:
            return at
        return start + self.span + delay
