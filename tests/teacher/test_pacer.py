"""Reading rate-limit headers, and the pacer's rules on their own: what a reset allows, the shape told from the
headers, the rate learned from 429s (no server; the mock limiter's runs are in test_rate_shapes.py)."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from selfinstruct.teacher.pacer import DELAY_S, RELAX_AFTER, Pacer
from selfinstruct.teacher.rate_headers import parse_reset, read_budget, retry_after_s
from selfinstruct.teacher.rate_learn import MARGIN, RateLearner
from selfinstruct.teacher.rate_shape import ShapeGuess


def test_reset_and_retry_after_in_every_format() -> None:
    assert parse_reset("1s") == 1.0 and parse_reset("20ms") == pytest.approx(0.02) and parse_reset("6m0s") == 360.0
    assert parse_reset("1m5.5s") == pytest.approx(65.5) and parse_reset("0.5") == 0.5 and parse_reset("2") == 2.0
    assert parse_reset(str(time.time() + 30)) == pytest.approx(30, abs=1)  # a Unix time
    assert parse_reset(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 90))) == pytest.approx(90, abs=2)
    assert parse_reset("soon") is None and parse_reset("5x") is None and parse_reset(None) is None
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "3"}) == 0.25  # the finer one wins
    assert retry_after_s({"retry-after": "3"}) == 3.0 and retry_after_s({"retry-after": "0.05"}) == 0.05
    assert retry_after_s({"retry-after": email.utils.formatdate(time.time() + 20, usegmt=True)}) == pytest.approx(
        20, abs=2
    )
    assert retry_after_s({"retry-after": "later"}) is None and retry_after_s({}) is None
    budget = read_budget(
        {
            "x-ratelimit-limit-tokens": "40000",
            "x-ratelimit-remaining-tokens": "39000",
            "x-ratelimit-reset-tokens": "1.5s",
        },
        "tokens",
    )
    assert budget is not None and (budget.limit, budget.remaining, budget.reset_s) == (40000, 39000, 1.5)
    assert (
        read_budget({"x-ratelimit-limit-tokens": "40000"}, "tokens") is None and read_budget(None, "requests") is None
    )


def headers(kind: str, limit: float, remaining: float, reset: str) -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{kind}": str(limit),
        f"x-ratelimit-remaining-{kind}": str(remaining),
        f"x-ratelimit-reset-{kind}": reset,
    }


async def leave_times(pacer: Pacer, costs: list[float]) -> list[float]:
    """Send one request per cost in turn (each leaves when the pacer allows), returning when each left."""
    return [await pacer.wait(cost) for cost in costs]


@pytest.mark.parametrize("kind", ["requests", "tokens"])
def test_what_is_left_goes_now_and_the_rest_at_the_reset(kind: str) -> None:
    """An answer says 4 requests' worth is left and all 5 are back in 0.3 s: 4 leave at once, the next at the reset."""

    async def go() -> list[float]:
        pacer = Pacer()
        first = await pacer.wait(250)
        unit = 1 if kind == "requests" else 250
        pacer.on_success(first, 0.0, headers(kind, 5 * unit, 4 * unit, "300ms"))
        answered = time.monotonic()
        return [t - answered for t in await leave_times(pacer, [250] * 5)]

    waits = asyncio.run(go())
    assert max(waits[:4]) < 0.05  # the four that were left
    # The fifth waits for the reset, counted from the answer plus the delay allowed for reaching the provider.
    assert 0.3 + DELAY_S - 0.01 <= waits[4] < 0.3 + DELAY_S + 0.2


def test_without_headers_the_first_answer_is_awaited_then_requests_flow() -> None:
    async def go() -> tuple[float, float]:
        pacer = Pacer()
        first = await pacer.wait(1)
        waiting = asyncio.ensure_future(pacer.wait(1))
        await asyncio.sleep(0.1)
        held = not waiting.done()  # the first answer may bring the headers: nothing else goes before it
        pacer.on_success(first, 0.1, None)
        second = await waiting
        return held, await pacer.wait(1) - second

    held, gap = asyncio.run(go())
    assert held and gap < 0.05


def test_a_retry_after_holds_every_request() -> None:
    async def go() -> float:
        pacer = Pacer()
        pacer.on_throttle(await pacer.wait(1), 0.2, None)
        held_from = time.monotonic()
        await pacer.wait(1)
        return time.monotonic() - held_from

    assert 0.19 <= asyncio.run(go()) < 0.4


def test_one_request_late_on_its_way_does_not_slow_the_rest_of_the_run() -> None:
    """A 429 the headers did not foresee, to a request that took a second to reach the provider (a lost SYN is
    sent again a second later), makes the pacing allow a second for that; answers that keep coming without another
    such 429 take it back, halving the allowance per RELAX_AFTER answers, and a new one tightens it again."""
    pacer = Pacer()
    sent = time.monotonic() - 1.0  # it left a second ago
    pacer._sent(sent, 1)
    first = pacer._sent(sent + 0.01, 1)
    pacer.on_success(first, 0.0, headers("requests", 20, 19, "50ms"))  # the headers said there was room
    pacer.on_throttle(sent, 0.01, headers("requests", 20, 0, "500ms"))
    assert pacer.delay_s == pytest.approx(1.0, abs=0.05) and pacer.unforeseen == 1
    delays = []
    for _ in range(5):
        for _ in range(RELAX_AFTER):
            at = pacer._sent(time.monotonic(), 1)
            pacer.on_success(at, 0.0, headers("requests", 20, 19, "50ms"))
        delays.append(pacer.delay_s)
    assert delays[0] == pytest.approx(0.5, abs=0.03) and delays[-1] == DELAY_S
    assert all(later <= earlier for earlier, later in zip(delays, delays[1:]))
    again = pacer._sent(time.monotonic(), 1)  # sent after the last tightening: a new unforeseen 429
    pacer.on_throttle(again, 0.01, headers("requests", 20, 0, "500ms"))
    assert pacer.delay_s == 2 * DELAY_S and pacer.unforeseen == 2


def test_the_shape_is_told_from_how_the_headers_move() -> None:
    def guess(readings: list[tuple[float, float, float]], limit: float) -> ShapeGuess:
        shape = ShapeGuess()
        for received, remaining, reset in readings:
            shape.note(received, remaining, reset, limit)
        return shape

    # 10 in any 5 s: every answer's reset is the whole window (the request just let in is its newest entry).
    sliding = guess([(0.1 * i, 9 - i % 7, 5.0) for i in range(12)], 10)
    assert sliding.name == "sliding" and sliding.window_s == 5.0
    # 10 per fixed 5 s window: the reset counts down to the same end.
    assert guess([(0.2 * i, 9 - i, 5.0 - 0.2 * i) for i in range(9)], 10).name == "fixed"
    # A bucket of 10 refilled at 2 a second: the reset is what is missing over the rate.
    assert (
        guess([(0.3 * i, r, (10 - r) / 2) for i, r in enumerate([9, 7, 8, 5, 6, 3, 4, 2, 6, 1])], 10).name == "bucket"
    )
    assert guess([(0.1, 9, 5.0), (0.3, 8, 5.0)], 10).name is None  # too few answers to tell


def test_a_request_refused_after_the_window_was_measured_leaves_it_one_less() -> None:
    """Requests reach the provider out of order: one that left before the request whose 429 measured the window was
    still on its way and counted as accepted; its own 429, later, takes it out of the window, where a request that
    left after it says nothing about that window."""
    learner = RateLearner()
    learner.note_refused(1.0)
    learner.on_throttle(1.0, 1.2, 3.0, 0.0, lambda start, end: 150)  # 150 left before it and were not refused (yet)
    assert learner.window_count == 150
    for sent in (0.9, 0.95):
        learner.note_refused(sent)
    learner.note_refused(1.1)  # left after the measuring request: not one of the 150
    assert learner.window_count == 148


def test_the_rate_is_what_was_accepted_between_two_moments_with_room() -> None:
    learner = RateLearner()
    # From the first request at t=0, 10 were accepted, then a 429 at t=1 said there is room at t=5: 2 a second.
    learner.on_throttle(1.0, 1.0, 4.0, 0.0, lambda start, end: 10)
    assert learner.rate == pytest.approx(MARGIN * 2.0) and learner.room_at == 5.0
    assert (learner.window_count, learner.window_s) == (10, 5.0)  # first filled as a window of 10 in 5 s
    learner.on_throttle(2.0, 2.0, 3.0, 0.0, lambda start, end: 10)  # left before that moment: the same refusal
    assert learner.rate == pytest.approx(MARGIN * 2.0) and learner.room_at == 5.0 and learner.window_count == 10
    # Refused within that window (a token bucket): not one. The rate is then what this cycle alone accepted, 1 from
    # t=5 until the room at t=5.7, short as it is: the first cycle also held the bucket's burst.
    learner.on_throttle(5.5, 5.5, 0.2, 0.0, lambda start, end: 1 if start == 5.0 else 10)
    assert learner.window_count == 0 and learner.rate == pytest.approx(MARGIN / 0.7)
    assert learner.next_at(10.0) == pytest.approx(10.0 + 0.7 / MARGIN)
    learner.on_throttle(6.0, 6.0, 0.1, 0.0, lambda start, end: 1)  # a later cycle under 1 s is pooled with the next
    assert learner.rate == pytest.approx(MARGIN / 0.7) and learner.room_at == pytest.approx(6.1)


def test_a_window_that_held_for_a_whole_span_survives_a_late_refusal() -> None:
    learner = RateLearner()
    learner.on_throttle(1.0, 1.0, 4.0, 0.0, lambda start, end: 10)  # a window of 10 in 5 s, paced from t=5
    learner.on_throttle(12.0, 12.0, 0.1, 0.0, lambda start, end: 10)  # after a whole span of it: a late admission
    assert (learner.window_count, learner.window_s, learner.late) == (10, 5.0, 1)
    fresh = RateLearner()
    fresh.on_throttle(1.0, 1.0, 4.0, 0.0, lambda start, end: 10)
    fresh.on_throttle(6.0, 6.0, 0.2, 0.0, lambda start, end: 1)  # within its first span: a bucket, paced evenly
    assert fresh.window_count == 0 and fresh.late == 0


def test_the_first_answer_tells_how_the_provider_counts_tokens() -> None:
    async def scale(remaining: float) -> float:
        pacer = Pacer()
        pacer.on_success(await pacer.wait(1000), 0.1, headers("tokens", 10_000, remaining, "1s"))
        return pacer.token_scale

    assert asyncio.run(scale(8950)) == pytest.approx(1.05)  # it took 1,050 for what we estimated at 1,000
    assert asyncio.run(scale(5000)) == 1.0  # 5x: the limit was partly used already, not a different count
    assert asyncio.run(scale(9100)) == 1.0  # it counts fewer: ours stays (the safe side)
