"""The shape of a provider's limiter, told from how its x-ratelimit-* headers move from one answer to the next.

    shape = ShapeGuess()
    shape.note(received, remaining, reset_s, limit)     # each answer that was let through
    shape.name, shape.window_s                          # "sliding" and its window, "fixed", "bucket", or None

With the reset read as the time until the whole limit is back (rate_headers.py), two answers some time apart
with different amounts left show the shape:
- a sliding-window log: the reset is the same, the window (the request just let in is its newest entry);
- a fixed window: the reset ends at the same moment, the window's end, and shrinks as it nears;
- a token bucket: the reset is what is missing over the refill rate, so reset / (limit - remaining) is the same.
The pacer (pacer.py) gives back a sliding log's room as each of its own requests leaves that window; for the other
shapes the bound it already keeps (all of the limit back at the reset) is what they allow.
"""

from __future__ import annotations

from collections import deque

# Two answers closer than this in time say nothing about the shape (a burst answered together).
APART_S = 0.05
# How far two readings may differ and still agree: the headers' rounding and the request's travel.
TOLERANCE_S, TOLERANCE_SHARE = 0.03, 0.03
VOTES = 24
# A shape is taken once this many answer pairs voted and this share of them agrees.
MIN_VOTES, AGREE = 4, 0.8


class ShapeGuess:
    """Votes, pair by pair of answers, for the shapes their headers are consistent with."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.window_s = 0.0
        self._last: tuple[float, float, float] | None = None  # received, remaining, reset of the last answer kept
        self._votes: deque[frozenset[str]] = deque(maxlen=VOTES)
        self._windows: deque[float] = deque(maxlen=VOTES)

    def note(self, received: float, remaining: float, reset_s: float, limit: float) -> None:
        last = self._last
        if last is None:
            self._last = (received, remaining, reset_s)
            return
        then, left_then, reset_then = last
        if received - then < APART_S or remaining == left_then:
            return
        self._last = (received, remaining, reset_s)
        tolerance = TOLERANCE_S + TOLERANCE_SHARE * max(reset_s, reset_then)
        shapes = set()
        if abs(reset_s - reset_then) <= tolerance:
            shapes.add("sliding")
            self._windows.append(max(reset_s, reset_then))
        if abs((received + reset_s) - (then + reset_then)) <= tolerance and reset_s < reset_then:
            shapes.add("fixed")
        if remaining < limit and left_then < limit:
            per_unit, per_unit_then = reset_s / (limit - remaining), reset_then / (limit - left_then)
            if abs(per_unit - per_unit_then) * limit <= tolerance:
                shapes.add("bucket")
        self._votes.append(frozenset(shapes))
        self._decide()

    def _decide(self) -> None:
        if len(self._votes) < MIN_VOTES:
            return
        counts = {shape: sum(shape in vote for vote in self._votes) for shape in ("sliding", "fixed", "bucket")}
        best = max(counts, key=lambda shape: counts[shape])
        ambiguous = sum(counts[best] == count for count in counts.values()) > 1
        self.name = best if counts[best] >= AGREE * len(self._votes) and not ambiguous else None
        self.window_s = max(self._windows) if self.name == "sliding" and self._windows else 0.0
