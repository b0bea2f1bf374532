"""When the next request may leave for one endpoint, so that a provider's rate limit is used in full without 429s.

    pacer = Pacer()
    sent_at = await pacer.wait(cost_tokens)          # returns once the budget left allows this request; it leaves now
    pacer.on_success(sent_at, latency_s, headers)     /  pacer.on_throttle(sent_at, retry_after_s, headers)
    pacer.on_answer(sent_at)                          # any other outcome: no longer in flight

With x-ratelimit-* headers (requests and tokens, rate_headers.py) each answer is a fact: at about the moment the
request was admitted, `remaining` was left and the whole limit is back `reset` seconds later. Whatever the
limiter's shape, then, until that moment at least `remaining` less what was sent since is left, and after it at
least the whole limit less what was sent since. A request leaves once one such bound covers its cost: a fixed
window that refills all at once is used in full at its reset, a sliding log as its entries expire, a token bucket
at its refill rate (its answers keep moving the reset along), and never beyond what the provider said was left.

Without headers the limiter is learned from the 429s (rate_learn.py): each Retry-After marks when it has room
again. What it accepted until the first such moment is taken as a window, filled as a sliding log of that size
would allow (our own requests leaving it), which a fixed window and a sliding log allow in full. At that moment a
few more requests leave together than a sliding log could admit (rate_window.py): let in, the limiter is a fixed
window, and each window's whole count leaves from its start; refused with room again soon after, a token bucket;
refused otherwise, a sliding log. A 429 within a bucket's window leaves even pacing a little under the rate
accepted between such moments, which every shape allows, and that rate creeps up until the next 429 says where the
limit is.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import Callable, Mapping

from selfinstruct.teacher.rate_account import Account, Seen
from selfinstruct.teacher.rate_headers import read_budget
from selfinstruct.teacher.rate_learn import RateLearner
from selfinstruct.teacher.rate_window import FixedWindow

KINDS = ("requests", "tokens")
# How long after it leaves a request may be admitted (and so be overtaken by one that left after it), at first;
# a 429 the headers did not foresee doubles it, and RELAX_AFTER answers with no such 429 since halve it again: one
# request a second late on its way (a SYN the network lost once) otherwise kept every later window a second short.
DELAY_S, MAX_DELAY_S, RELAX_AFTER = 0.05, 1.0, 256
# A limit that names no reset is taken as per minute (as providers state them).
DEFAULT_RESET_S = 60.0
# Sent requests remembered (for what was sent since an answer); older ones are dropped in chunks.
SENT_KEPT, PRUNE_EVERY = 4096, 1024
# The most the first answer may scale our token estimates by (the provider's count over ours).
MAX_TOKEN_SCALE = 1.5
# Until the first answer (or this long) only the first request is out: its headers may tell the limit.
FIRST_ANSWER_WAIT_S = 2.0
# Our requests looked through, at most, to find when enough of them have left a sliding window.
MAX_EXPIRED = 1024
# A waiter with no time to wait for (nothing foreseeable frees the budget) looks again this often.
POLL_S = 1.0


class Pacer:
    """Holds requests for one endpoint until its rate limit has room for them (see the module docstring)."""

    def __init__(self, follow: bool = True) -> None:
        self.follow = follow  # False (--concurrency-fixed): only Retry-After holds requests back
        self.accounts = {kind: Account() for kind in KINDS}
        self.learner = RateLearner()
        self.fixed = FixedWindow()  # whether the window learned without headers refills at once (rate_window.py)
        self.delay_s = DELAY_S
        self.hold_until = 0.0  # Retry-After
        self.fastest = math.inf  # quickest answer seen: how long the provider takes at least, admission to answer
        self.token_scale = 1.0  # the provider's token count over our estimate, raised by token 429s
        self.unforeseen = 0  # 429s met while the headers said there was room
        # Requests holding a slot while the rate limit holds them back (not those only spaced out by `spread_s`:
        # counting those stopped a growing limit from growing at all).
        self.waiting = 0
        self.spread_s = 0.0  # least time between two requests leaving (set by the concurrency limit while it grows)
        # Requests sent, in order: when each left and its cumulative cost (count and tokens), for "sent since".
        self._times: list[float] = []
        self._cum_tokens: list[float] = []
        self._admitted_by: list[float] = []  # each request's latest possible admission, once it is answered
        self._cost: dict[float, float] = {}  # in flight: when it left -> its tokens
        self._total_tokens = 0.0
        self._forgotten_until, self._forgotten_tokens = -math.inf, 0.0  # the last request dropped from that record
        self._last_sent = -math.inf
        self._tightened = -math.inf  # when a 429 the headers did not foresee last made the pacing more careful
        self._calm = 0  # answers since then
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def has_headers(self) -> bool:
        return bool(self.accounts["requests"].seen or self.accounts["tokens"].seen)

    @property
    def learned_window(self) -> bool:
        """Paced by the window learned from the first 429 (no headers): that, not the concurrency, holds the rate."""
        return not self.has_headers and bool(self.learner.window_count)

    def room(self) -> float | None:
        """Requests the last answers' headers leave room for now (tokens at our average request's cost); None
        without headers."""
        if not self.has_headers:
            return None
        room = math.inf
        for kind, sent_since in (("requests", self._sent_since_count), ("tokens", self._sent_since_tokens)):
            account = self.accounts[kind]
            if account.seen:
                seen = account.seen[-1]
                unit = 1.0 if kind == "requests" else self._total_tokens / max(1, len(self._times))
                room = min(room, (seen.remaining - sent_since(seen.sent)) / max(unit, 1e-9))
        return max(0.0, room)

    # --- leaving ---------------------------------------------------------------------------

    def earliest(self, cost_tokens: float, now: float | None = None, spread: bool = True) -> float:
        """When a request of this cost may leave (now or later; inf: not until an answer says more). `spread`:
        also no sooner than the concurrency limit's spacing while it grows (off: what the rate limit alone allows)."""
        now = time.monotonic() if now is None else now
        at = max(now, self.hold_until)
        if not self.follow:
            return at
        if spread:
            at = max(at, self._last_sent + self.spread_s)
        if self.has_headers:
            for kind, cost in (("requests", 1.0), ("tokens", cost_tokens * self.token_scale)):
                account = self.accounts[kind]
                if account.seen:
                    sent_since = self._sent_since_count if kind == "requests" else self._sent_since_tokens
                    expired = self._expired_count if kind == "requests" else self._expired_tokens
                    at = max(at, account.earliest(at, cost, sent_since, self._admitted, expired))
        elif self.learner.window_count and self.fixed.active:
            # A fixed window (rate_window.py): its whole count from each window's start.
            at = self.fixed.earliest(at, lambda start: self._accepted_between(start, math.inf), self.delay_s)
        elif self.learner.window_count and self.fixed.probing(at):
            pass  # the probe for a fixed window leaves together, beyond what the sliding log below allows
        elif self.learner.window_count:
            # As a sliding log the first refusal measured: no more than its count within its span (or, once, the
            # probe for a fixed window, which leaves a few more at its first moment with room).
            span = self.learner.window_s
            after = at - span - self.delay_s
            over = (
                self._sent_since_count(after)
                - self.learner.refused_between(after, math.inf)
                + 1
                - self.learner.window_count
            )
            at = max(at, min(self._expired(after, over, span, tokens=False), self.fixed.probe_at()))
        elif self.learner.rate:
            at = max(at, self.learner.next_at(self._last_sent))
        elif self._times and not math.isfinite(self.fastest) and self.learner.room_at is None:
            # The first request is still out: its answer may carry the headers that say how far to go.
            at = max(at, self._times[0] + FIRST_ANSWER_WAIT_S)
        return at

    def _admitted(self, seen: Seen) -> float:
        """When that request was admitted, at the latest: after it left, and no later than the provider's quickest
        answer before it came (read now, as the quickest answer seen keeps improving), plus the delay allowed."""
        return max(seen.sent, seen.received - self.fastest) + self.delay_s

    async def wait(self, cost_tokens: float, patience: Callable[[], float | None] | None = None) -> float | None:
        """Wait until this request may leave, then count it as sent; returns the moment it left. None as soon as the
        wait would outlast `patience()` seconds (the caller has somewhere better to send it)."""
        now = time.monotonic()
        if self.earliest(cost_tokens, now) <= now:
            return self._sent(now, cost_tokens)
        loop = asyncio.get_running_loop()
        held = False  # counted in `waiting`: held by the rate limit, not only by the spacing of a growing limit
        try:
            while True:
                if held != (self.earliest(cost_tokens, now, spread=False) > now):
                    held = not held
                    self.waiting += 1 if held else -1
                limit = patience() if patience is not None else None
                if limit is not None and self.earliest(cost_tokens, now) - now > limit:
                    return None
                waiter = loop.create_future()
                self._waiters.append(waiter)
                timer = loop.call_later(min(self.earliest(cost_tokens, now) - now, POLL_S), _wake, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                    if not waiter.done():
                        waiter.cancel()
                now = time.monotonic()
                if self.earliest(cost_tokens, now) <= now:
                    return self._sent(now, cost_tokens)
        finally:
            if held:
                self.waiting -= 1

    def _sent(self, now: float, cost_tokens: float) -> float:
        while now in self._cost:  # each request in flight is known by when it left
            now = math.nextafter(now, math.inf)
        cost = cost_tokens * self.token_scale
        self._total_tokens += cost
        self._times.append(now)
        self._cum_tokens.append(self._total_tokens)
        self._admitted_by.append(math.inf)
        self._cost[now] = cost
        if len(self._cost) > SENT_KEPT:  # outcomes nobody reported (errors): forget the oldest
            for key in list(self._cost)[: SENT_KEPT // 2]:
                del self._cost[key]
        self._last_sent = now
        if self.learned_window:
            self.fixed.on_sent(now, lambda at: self._accepted_between(-math.inf, at - self.learner.window_s))
        if len(self._times) > SENT_KEPT + PRUNE_EVERY:
            self._forgotten_until, self._forgotten_tokens = (
                self._times[PRUNE_EVERY - 1],
                self._cum_tokens[PRUNE_EVERY - 1],
            )
            del self._times[:PRUNE_EVERY], self._cum_tokens[:PRUNE_EVERY], self._admitted_by[:PRUNE_EVERY]
        return now

    def _sent_since_count(self, at: float) -> float:
        if at < self._forgotten_until:
            return math.inf  # older than what is remembered: that answer can no longer vouch for anything
        return len(self._times) - bisect.bisect_right(self._times, at)

    def _sent_since_tokens(self, at: float) -> float:
        if at < self._forgotten_until:
            return math.inf
        i = bisect.bisect_right(self._times, at)
        return self._total_tokens - (self._cum_tokens[i - 1] if i else self._forgotten_tokens)

    def _expired_count(self, after: float, deficit: float, window: float) -> float:
        """When `deficit` of our requests sent after `after` have surely left a sliding window: a window after the
        last of the first `deficit` of them was let in (known once answered); inf if they are not all answered."""
        return self._expired(after, deficit, window, tokens=False)

    def _expired_tokens(self, after: float, deficit: float, window: float) -> float:
        return self._expired(after, deficit, window, tokens=True)

    def _expired(self, after: float, deficit: float, window: float, tokens: bool) -> float:
        if deficit <= 0:
            return -math.inf
        if after < self._forgotten_until:
            return math.inf
        i = bisect.bisect_right(self._times, after)
        last, freed = -math.inf, 0.0
        for j in range(i, min(len(self._times), i + MAX_EXPIRED)):
            if self._admitted_by[j] == -math.inf:
                continue  # refused: it never held a place in the window
            last = max(last, self._admitted_by[j])
            freed += (
                (self._cum_tokens[j] - (self._cum_tokens[j - 1] if j else self._forgotten_tokens)) if tokens else 1.0
            )
            if freed >= deficit:
                return last + window + self.delay_s
        return math.inf

    def _news(self) -> None:
        """Something changed (an answer, a hold): every waiting request looks again."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _wake(waiter)

    # --- answers ---------------------------------------------------------------------------

    def on_success(self, sent: float, latency_s: float, headers: Mapping[str, str] | None) -> None:
        self._cost.pop(sent, None)
        self.fastest = min(self.fastest, latency_s)
        now = time.monotonic()
        i = bisect.bisect_left(self._times, sent)
        if i < len(self._times) and self._times[i] == sent:
            self._admitted_by[i] = max(sent, now - self.fastest)
        self._read(sent, now, headers, admitted=True)
        self.fixed.on_answer(sent, refused=False)
        self._calm += 1
        if self._calm >= RELAX_AFTER and self.delay_s > DELAY_S:
            self.delay_s, self._calm = max(DELAY_S, self.delay_s / 2), 0
        if self.learner.rate and not self.has_headers:
            i = bisect.bisect_left(self._times, sent)
            self.learner.on_success(sent - self._times[i - 1] if i else 0.0)
        self._news()

    def on_throttle(self, sent: float, retry_after: float | None, headers: Mapping[str, str] | None) -> None:
        now = time.monotonic()
        cost = self._cost.pop(sent, 0.0)
        i = bisect.bisect_left(self._times, sent)
        if i < len(self._times) and self._times[i] == sent:
            self._admitted_by[i] = -math.inf  # refused: it never entered the limiter's count
        if retry_after:
            self.hold_until = max(self.hold_until, now + retry_after)
        if self.has_headers:
            self._unforeseen(sent, now, cost, headers)
        self._read(sent, now, headers, admitted=False)
        if not self.has_headers:
            self.learner.note_refused(sent)
            if self.fixed.count > self.learner.window_count > 0:
                self.fixed.count = self.learner.window_count  # one the window was measured with was refused after all
            if self.fixed.on_answer(sent, refused=True):
                # The probe for a fixed window was refused: by a token bucket if it has room again about one
                # request's refill later (the learner then paces evenly), else by a sliding log (whose next entry
                # leaves a while later: its pacing stays).
                if retry_after is not None and self.fixed.refill_like(retry_after, self.fastest):
                    self._learn(sent, now, retry_after)
                else:
                    self.learner.sliding = True
            elif self.learned_window and self.fixed.active:
                self.fixed.on_throttle(sent, now + (retry_after or 0.0))
            else:
                self._learn(sent, now, retry_after)
        self._news()

    def _learn(self, sent: float, now: float, retry_after: float | None) -> None:
        """A 429 without headers: what the learner makes of it; the window it first measures is probed once for a
        fixed window."""
        first = self._times[0] if self._times else sent
        late, rate = self.learner.late, self.learner.rate
        self.learner.on_throttle(sent, now, retry_after, first, self._accepted_between)
        if self.learner.late > late and sent > self._tightened:  # once per burst, as with headers
            self.delay_s = min(MAX_DELAY_S, 2 * self.delay_s)
            self._tightened, self._calm = now, 0
        learner = self.learner
        if rate is None and learner.window_count and learner.room_at is not None:
            self.fixed.arm(learner.room_at, learner.window_s, learner.window_count, self.delay_s)
        self._news()

    def on_answer(self, sent: float) -> None:
        """Any other outcome (an error, a timeout, a cancelled request): it is no longer in flight."""
        if self._cost.pop(sent, None) is not None:
            self._news()

    def _read(self, sent: float, received: float, headers: Mapping[str, str] | None, admitted: bool) -> None:
        """Note what the answer's x-ratelimit-* headers say, as of when the request was admitted at the latest."""
        if not headers:
            return
        overtaken: list[float] | None = None  # looked for once a header names a budget (not for every answer)
        for kind in KINDS:
            budget = read_budget(headers, kind)
            if budget is not None:
                if overtaken is None:
                    overtaken = [cost for at, cost in self._cost.items() if sent - self.delay_s <= at < sent]
                if kind == "tokens" and admitted and not self.accounts[kind].seen and self._times == [sent]:
                    self._calibrate(budget.limit - budget.remaining)
                reset = budget.reset_s if budget.reset_s is not None else DEFAULT_RESET_S
                extra = len(overtaken) if kind == "requests" else sum(overtaken)
                self.accounts[kind].note(Seen(sent, received, budget.remaining, reset, extra), budget.limit, admitted)

    def _calibrate(self, charged: float) -> None:
        """The run's first request went alone: what the provider took for it, over our estimate, is how its token
        count compares with ours (OpenAI counts a prompt's characters / 4). Only a plausible ratio is believed: a
        limit already partly used by someone else would look like a far larger one."""
        ratio = charged / self._cum_tokens[0] if self._cum_tokens[0] else 0.0
        if 1.0 < ratio <= MAX_TOKEN_SCALE:
            self.token_scale = ratio

    def _unforeseen(self, sent: float, now: float, cost: float, headers: Mapping[str, str] | None) -> None:
        """A 429 although the headers said there was room: requests reach the provider later, or in another order,
        than allowed for, or it counts tokens higher than we do. Each burst of them (sent after the last such
        tightening) makes the next requests more careful once."""
        self.unforeseen += 1
        if sent <= self._tightened:
            return  # sent before the last tightening: the same burst met the same cause
        self._tightened, self._calm = now, 0
        tokens = read_budget(headers, "tokens")
        requests = read_budget(headers, "requests")
        if tokens is not None and tokens.remaining < cost and (requests is None or requests.remaining >= 1):
            self.token_scale *= 1.05  # short of tokens only: our estimate is low against the provider's count
            return
        self.delay_s = min(MAX_DELAY_S, max(2 * self.delay_s, now - sent))

    def _accepted_between(self, start: float, end: float) -> int:
        """Requests that left in [start, end) and were not refused (answered or still in flight)."""
        lo, hi = bisect.bisect_left(self._times, start), bisect.bisect_left(self._times, end)
        return hi - lo - self.learner.refused_between(start, end)

    def report(self) -> dict[str, object]:
        out: dict[str, object] = {
            "paced_by": "headers" if self.has_headers else ("429s" if self.learner.rate else "none")
        }
        if self.learner.rate:
            out["learned_rate_per_s"] = round(self.learner.rate, 3)
        if self.learned_window:
            out["learned_window"] = "fixed" if self.fixed.active else "sliding"
        if self.unforeseen:
            out["unforeseen_429"] = self.unforeseen
        shapes = {kind: account.shape.name for kind, account in self.accounts.items() if account.shape.name}
        if shapes:
            out["limiter_shape"] = shapes
        return out


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
