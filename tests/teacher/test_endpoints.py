"""The endpoint pool's slots: first come first served, one waiter woken per freed slot, none lost to a cancel."""

from __future__ import annotations

import asyncio

import pytest

from selfinstruct.teacher.endpoints import EndpointPool, Lane
from selfinstruct.teacher.rate import AdaptiveLimit


def _pool(*ceilings: int) -> EndpointPool:
    return EndpointPool([Lane(f"http://e{i}/v1", "m", None, AdaptiveLimit(c, fixed=True)) for i, c in enumerate(ceilings)])


def test_a_freed_slot_goes_to_the_longest_waiting_request() -> None:
    async def go() -> list[int]:
        pool = _pool(2)
        held = [await pool.acquire(), await pool.acquire()]
        order: list[int] = []

        async def wait(i: int) -> None:
            lane, _ = await pool.acquire()
            order.append(i)
            await asyncio.sleep(0.01)
            pool.release(lane)

        waiters = [asyncio.ensure_future(wait(i)) for i in range(5)]
        await asyncio.sleep(0.01)
        assert order == [] and len(pool._waiters) == 5
        for lane, _ in held:
            pool.release(lane)
        await asyncio.gather(*waiters)
        assert pool.in_flight == 0
        return order

    assert asyncio.run(go()) == [0, 1, 2, 3, 4]


def test_a_request_sent_ahead_takes_the_next_slot_and_a_cancelled_one_leaves_no_trace() -> None:
    """Requests others wait on (classification batches) go before queued ones; first come first served within each kind."""

    async def go() -> list[str]:
        pool = _pool(1)
        held, _ = await pool.acquire()
        order: list[str] = []

        async def wait(name: str, ahead: bool) -> None:
            lane, _ = await pool.acquire(ahead)
            order.append(name)
            await asyncio.sleep(0.01)
            pool.release(lane)

        tasks = [asyncio.ensure_future(wait(name, name.startswith("ahead"))) for name in ("a", "b", "ahead1", "c", "ahead2", "ahead3")]
        await asyncio.sleep(0.01)
        tasks[-1].cancel()  # given up while queued: it must leave its queue
        await asyncio.sleep(0.01)
        assert len(pool._ahead) == 2 and len(pool._waiters) == 3
        pool.release(held)
        await asyncio.gather(*tasks[:-1])
        assert pool.in_flight == 0 and not pool._ahead and not pool._waiters
        return order

    assert asyncio.run(go()) == ["ahead1", "ahead2", "a", "b", "c"]


def test_a_cancelled_waiter_passes_its_slot_on() -> None:
    async def go() -> None:
        pool = _pool(1)
        lane, _ = await pool.acquire()
        first = asyncio.ensure_future(pool.acquire())
        second = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        pool.release(lane)  # handed to `first`, which is cancelled before it runs
        first.cancel()
        got, _ = await asyncio.wait_for(second, 1)
        assert got is lane and pool.in_flight == 1
        pool.release(got)
        assert pool.in_flight == 0 and not pool._waiters

    asyncio.run(go())


def test_draining_turns_waiters_away_and_a_new_lane_serves_the_least_busy_first() -> None:
    async def go() -> None:
        pool = _pool(1, 2)
        a, _ = await pool.acquire()
        b, _ = await pool.acquire()
        assert {a.name, b.name} == {"http://e0/v1", "http://e1/v1"}  # one each: least in flight per slot
        c, _ = await pool.acquire()
        assert c.name == "http://e1/v1"
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        drained = asyncio.ensure_future(pool.drain(limit_s=1))
        with pytest.raises(asyncio.CancelledError):
            await waiting
        for lane in (a, b, c):
            pool.release(lane)
        await drained
        assert pool.in_flight == 0

    asyncio.run(go())


def test_when_every_endpoint_cools_down_waiters_retry_after_the_cool_down() -> None:
    async def go() -> None:
        pool = EndpointPool([Lane("http://e0/v1", "m", None, AdaptiveLimit(1, fixed=True)),
                             Lane("http://e1/v1", "m", None, AdaptiveLimit(1, fixed=True))], cool_down_s=0.05)  # fmt: skip
        a, _ = await pool.acquire()
        b, _ = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        for lane in (a, b):
            for _ in range(3):
                pool.failed(lane)
            pool.release(lane)  # both set aside: the waiter times its wait to the cool-down
        assert not waiting.done()
        lane, _ = await asyncio.wait_for(waiting, 1)
        assert lane in pool.lanes and pool.in_flight == 1

    asyncio.run(go())
