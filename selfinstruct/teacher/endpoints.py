"""Several endpoints behind one teacher: each request goes to the one with the least work in flight.

    pool = EndpointPool([Lane("http://gpu0:8000/v1", "qwen", client0, AdaptiveLimit(64)), ...])
    lane, sent_at = await pool.acquire(cost)  # the endpoint that can send soonest, then least in flight per slot
    ... send through lane.client ...          # (a retry on the same endpoint: sent_at = await pool.again(lane, cost))
    pool.succeeded(lane) / pool.failed(lane, unreachable=...)
    pool.release(lane)

Each endpoint (a vLLM or llama.cpp server per GPU or per machine) has its own client and its own
adaptive concurrency limit (rate.py). One that fails FAIL_STREAK times in a row is set aside for
COOL_DOWN_S and the run goes on with the others; after the cool-down it gets requests again, and
one success clears it. With a single endpoint nothing is ever set aside: retries decide.

A request goes where its endpoint's rate limit lets it leave soonest (pacer.py): one endpoint waiting for a
slow reset gets requests only while no other endpoint can take them within LONG_WAIT_S, so the run does not
sleep on it while the others have room.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from selfinstruct.teacher.rate import AdaptiveLimit

FAIL_STREAK = 3
COOL_DOWN_S = 30.0
# A request does not queue behind an endpoint's rate limit for longer than this while another endpoint could take it.
LONG_WAIT_S = 1.0


@dataclass(eq=False)
class Lane:
    """One endpoint: where it is, which model it serves, its client, its limit and its record."""

    name: str  # the base URL, credentials redacted; what the request log calls it
    model: str
    client: Any  # openai.AsyncOpenAI
    limit: AdaptiveLimit
    streak: int = 0  # failures in a row
    cool_until: float = 0.0
    served: int = 0
    failed: int = 0
    cool_downs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class EndpointPool:
    """Hands out request slots over the lanes; waits while every usable lane is full."""

    def __init__(self, lanes: list[Lane], cool_down_s: float = COOL_DOWN_S) -> None:
        self.lanes = lanes
        self.cool_down_s = cool_down_s
        # Requests waiting for a slot, first come first served. A freed slot is handed to the first of them
        # (taken on its behalf: the future's result is the lane and its start time), so a release wakes one
        # waiter, not all of them: with hundreds queued, waking every one to race for the slot cost more CPU
        # than the HTTP request itself. A None result asks a waiter to look again (closing, all cooling).
        self._waiters: deque[asyncio.Future[tuple[Lane, float] | None]] = deque()
        # Requests sent ahead of those: ones whose answer other requests wait on (a classification batch gates
        # its instructions' instance requests). Behind a queue of instance requests, the last batches of a run
        # were classified only as that queue ran out, and the slots emptied while their instances waited on them.
        self._ahead: deque[asyncio.Future[tuple[Lane, float] | None]] = deque()
        self._costs: dict[asyncio.Future[tuple[Lane, float] | None], float] = {}  # each waiter's tokens, for the pacers
        self.closing = False

    @property
    def ceiling(self) -> int:
        return sum(lane.limit.ceiling for lane in self.lanes)

    @property
    def current(self) -> int:
        return sum(lane.limit.current for lane in self.lanes)

    @property
    def in_flight(self) -> int:
        return sum(lane.limit.in_flight for lane in self.lanes)

    def _pick(self, cost: float = 0.0) -> Lane | None:
        now = time.monotonic()
        alive = [lane for lane in self.lanes if lane.cool_until <= now]
        usable = [lane for lane in alive if lane.limit.free]
        if not usable:
            return None
        if len(self.lanes) == 1:
            return usable[0]
        waits = {lane: lane.limit.pacer.earliest(cost, now) - now for lane in alive}
        lane = min(
            usable,
            key=lambda lane: (
                waits[lane] > 0.001,
                waits[lane],
                lane.limit.in_flight / lane.limit.current,
                lane.limit.in_flight,
            ),
        )
        if waits[lane] > LONG_WAIT_S and any(waits[other] <= LONG_WAIT_S for other in alive):
            return None  # wait for a slot on an endpoint with room rather than for this one's reset
        return lane

    @property
    def _waiting(self) -> bool:
        return bool(self._ahead or self._waiters)

    async def acquire(self, ahead: bool = False, cost: float = 0.0) -> tuple[Lane, float]:
        """A slot on the usable endpoint that can send soonest (then the least busy); returns it once the request
        may leave (its endpoint's pacer said so), with the moment it left.

        `ahead`: served before every request queued without it (first come, first served among each kind).
        `cost`: the request's estimated tokens, which the endpoints' token limits are paced by."""
        while True:
            if self.closing:
                raise asyncio.CancelledError  # the run is stopping: nothing new starts
            lane = self._pick(cost) if not self._waiting else None  # queued requests come first
            if lane is not None:
                lane.limit.take()
                started = await self._start(lane, cost)
                if started is not None:
                    return started
                continue
            waiter: asyncio.Future[tuple[Lane, float] | None] = asyncio.get_running_loop().create_future()
            queue = self._ahead if ahead else self._waiters
            queue.append(waiter)
            self._costs[waiter] = cost
            cooling = [lane.cool_until for lane in self.lanes if lane.cool_until > time.monotonic()]
            timeout = max(0.01, min(cooling) - time.monotonic()) if len(cooling) == len(self.lanes) else None
            try:
                await (asyncio.wait_for(waiter, timeout) if timeout is not None else waiter)
            except asyncio.TimeoutError:
                pass  # every endpoint was cooling down: look again (a slot handed at the last moment is still ours)
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                    self.release(waiter.result()[0])  # handed a slot just as it was cancelled: pass it on
                raise
            finally:
                self._costs.pop(waiter, None)
                if not waiter.done() or waiter.cancelled():
                    with contextlib.suppress(ValueError):
                        queue.remove(waiter)
            handed = waiter.result() if waiter.done() and not waiter.cancelled() else None
            if handed is not None:
                started = await self._start(handed[0], cost)
                if started is not None:
                    return started

    async def _start(self, lane: Lane, cost: float) -> tuple[Lane, float] | None:
        """Wait on the lane's pacer; None (the slot given back) once another endpoint could send much sooner."""
        try:
            sent_at = await lane.limit.pacer.wait(cost, lambda: LONG_WAIT_S if self._elsewhere(lane, cost) else None)
        except asyncio.CancelledError:
            self.release(lane)
            raise
        if sent_at is None:
            self.release(lane)
            return None
        return lane, sent_at

    def _elsewhere(self, lane: Lane, cost: float) -> bool:
        """Whether another endpoint (not cooling down) could send this request within LONG_WAIT_S."""
        now = time.monotonic()
        return any(
            other is not lane and other.cool_until <= now and other.limit.pacer.earliest(cost, now) - now <= LONG_WAIT_S
            for other in self.lanes
        )

    async def again(self, lane: Lane, cost: float = 0.0) -> float:
        """A retry on the endpoint whose slot the request still holds: returns once its pacer lets it leave."""
        sent_at = await lane.limit.pacer.wait(cost)
        assert sent_at is not None  # without patience it always waits
        return sent_at

    def _wake(self) -> None:
        """Hand free slots to the requests waiting longest; with none usable and every endpoint cooling down,
        or the run stopping, wake them all to look again (to time their wait, or to give up)."""
        while self._waiting:
            queue = self._ahead or self._waiters
            lane = None if self.closing else self._pick(self._costs.get(queue[0], 0.0))
            if lane is None:
                break
            waiter = queue.popleft()
            if not waiter.done():
                lane.limit.take()
                waiter.set_result((lane, 0.0))
        now = time.monotonic()
        if self._waiting and (self.closing or all(lane.cool_until > now for lane in self.lanes)):
            for queue in (self._ahead, self._waiters):
                for waiter in queue:
                    if not waiter.done():
                        waiter.set_result(None)
                queue.clear()

    async def drain(self, limit_s: float = 600.0) -> None:
        """Let nothing new start, and wait (up to `limit_s`) for requests already sent to finish."""
        self.closing = True
        self._wake()
        deadline = time.monotonic() + limit_s
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def release(self, lane: Lane) -> None:
        lane.limit.give_back()
        if self._waiting:
            self._wake()

    def succeeded(self, lane: Lane) -> None:
        lane.served += 1
        lane.streak = 0

    def failed(self, lane: Lane) -> None:
        """A failed attempt; an endpoint failing again and again is set aside while others can serve."""
        lane.failed += 1
        lane.streak += 1
        if len(self.lanes) > 1 and lane.streak >= FAIL_STREAK:
            lane.cool_until = time.monotonic() + self.cool_down_s
            lane.cool_downs += 1
            lane.streak = FAIL_STREAK - 1  # one more failure after the cool-down sets it aside again
            self._wake()

    def report(self) -> dict[str, Any]:
        """For summary.json: each endpoint's share of the answers, its failures, cool-downs and concurrency."""
        total = sum(lane.served for lane in self.lanes) or 1
        lanes = [
            {"endpoint": lane.name, "model": lane.model, "served": lane.served, "share": round(lane.served / total, 3),
             "failed": lane.failed, "cool_downs": lane.cool_downs, "concurrency": lane.limit.report()}
            for lane in self.lanes
        ]  # fmt: skip
        if len(lanes) == 1:
            return {"concurrency": lanes[0]["concurrency"]}
        return {
            "endpoints": lanes,
            "concurrency": {"ceiling": self.ceiling, "final": self.current,
                            "throttled_429": sum(lane.limit.throttled for lane in self.lanes),
                            "timeouts": sum(lane.limit.timeouts for lane in self.lanes)},
        }  # fmt: skip
