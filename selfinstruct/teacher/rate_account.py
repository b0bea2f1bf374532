"""What one kind of rate limit (requests or tokens) is known to allow, from the x-ratelimit-* headers of the answers.

    account = Account()
    account.note(Seen(sent, received, remaining, reset_s, overtaken), limit, admitted)   # each answer with headers
    account.earliest(now, cost, sent_since, admitted, expired)                         # when `cost` fits (pacer.py)

Each answer is a bound: about when its request was admitted `remaining` was left, and all of the limit is back
`reset_s` later; the pacer (pacer.py) lets a request leave once one such bound covers it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from selfinstruct.teacher.rate_shape import ShapeGuess

# Answers kept per kind: enough to cover a window's worth of requests in flight.
OBSERVATIONS = 16


@dataclass(slots=True)
class Seen:
    """One answer's account of a limit: the request left at `sent` and was answered at `received`; when it was
    admitted `remaining` was left, and all of the limit was back `reset_s` later."""

    sent: float
    received: float
    remaining: float
    reset_s: float
    # Requests that left just before it and were still out when it was answered: they may have been admitted
    # after it (a new connection is slower than a kept one), so its `remaining` may not count them yet.
    overtaken: float


class Account:
    """One kind of limit (requests or tokens) as the endpoint's answers described it."""

    def __init__(self) -> None:
        self.limit = 0.0
        self.seen: list[Seen] = []
        self.shape = ShapeGuess()

    def note(self, seen: Seen, limit: float, admitted: bool) -> None:
        self.limit = limit
        self.seen.append(seen)
        if admitted:  # a 429's reset is read at a refusal, which says less about the shape
            self.shape.note(seen.received, seen.remaining, seen.reset_s, limit)
        if len(self.seen) > OBSERVATIONS:
            # Keep the newest, and the one whose whole limit is back soonest among the rest (it may be the next step).
            rest = self.seen[: -OBSERVATIONS + 1]
            keep = min(rest, key=lambda s: (s.received + s.reset_s, -s.sent))
            self.seen = [keep, *self.seen[-OBSERVATIONS + 1 :]]

    def earliest(self, now: float, cost: float, sent_since: Callable[[float], float], admitted: Callable[[Seen], float],
                 expired: Callable[[float, float, float], float]) -> float:  # fmt: skip
        """The first moment from `now` at which some answer's bound leaves `cost`; inf if none does."""
        # A request larger than the whole limit waits for all of it, then goes (the provider says what it thinks).
        need = min(cost, self.limit)
        window = self.shape.window_s if self.shape.name == "sliding" else 0.0
        best = math.inf
        for seen in self.seen:
            used = sent_since(seen.sent) + seen.overtaken
            at = admitted(seen)
            if now < at + seen.reset_s and seen.remaining - used >= need:
                return now
            if self.limit - used >= need:
                best = min(best, max(now, at + seen.reset_s))
            if window and seen is self.seen[-1]:
                # A sliding log: each of our requests it counted leaves it a window after it was let in.
                best = min(best, max(now, expired(at - window, need - (seen.remaining - used), window)))
        return best
