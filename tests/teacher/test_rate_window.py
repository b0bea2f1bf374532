"""Telling a fixed window from a sliding log without headers (rate_window.py), on a made-up clock: the probe, the
pacing from each boundary, and what a 429 during it does. The real client against each shape is in
test_rate_shapes.py."""

from __future__ import annotations

import math

import pytest

from selfinstruct.teacher.rate_window import PROBE_SPREAD_S, FixedWindow

DELAY = 0.05


def armed(count: int = 200, span: float = 5.0, room_at: float = 5.0) -> FixedWindow:
    fixed = FixedWindow()
    fixed.arm(room_at, span, count, DELAY)
    return fixed


def probe(fixed: FixedWindow, at: float, allowance: int = 1) -> list[float]:
    """Send the probe from `at`, a millisecond apart, as long as the window lets requests leave as probes."""
    sent = []
    while fixed.probing(at):
        fixed.on_sent(at, lambda _: allowance)
        sent.append(at)
        at += 0.001
    return sent


def test_a_probe_let_in_whole_means_a_fixed_window_filled_from_each_start() -> None:
    fixed = armed()
    assert not fixed.probing(5.0) and fixed.probe_at() == 5.0 + DELAY  # not before the first moment with room
    sent = probe(fixed, 5.0 + DELAY)
    # More than a sliding log could free (1: the run's first request) and a token bucket refill over the probe
    # (at the most the first window could mean, 200 in 5 s), and cheap beside a window.
    assert 1 + 40 * (DELAY + PROBE_SPREAD_S) < len(sent) <= 200 / 8
    for at in sent[:-1]:
        assert fixed.on_answer(at, refused=False) and fixed.state == "probing"
    fixed.on_answer(sent[-1], refused=False)
    assert fixed.active
    # The rest of this window's count leaves now; a full window waits for the next start (plus the delay).
    assert fixed.earliest(5.3, lambda start: len(sent), DELAY) == 5.3
    assert fixed.earliest(5.3, lambda start: 200, DELAY) == pytest.approx(10.0 + DELAY)
    assert fixed.earliest(10.01, lambda start: 0, DELAY) == pytest.approx(10.0 + DELAY)
    assert not fixed.on_answer(4.0, refused=False)  # not a probe request


def test_a_refused_probe_keeps_the_sliding_log_and_its_wait_tells_a_bucket() -> None:
    fixed = armed()
    sent = probe(fixed, 5.0 + DELAY)
    assert fixed.on_answer(sent[0], refused=False)
    assert fixed.on_answer(sent[1], refused=True) and fixed.state == "off"
    assert fixed.on_answer(sent[2], refused=True)  # still the probe's: its answer is not the learner's to read
    assert not fixed.probing(5.2) and fixed.probe_at() == math.inf
    # A sliding log has room again when our next entry leaves (let in after the first answer, 0.3 s here); a
    # token bucket about one request's refill later.
    assert not fixed.refill_like(0.2, fastest=0.3) and fixed.refill_like(0.02, fastest=0.3)


def test_a_probe_that_cannot_leave_together_decides_nothing() -> None:
    fixed = armed()
    fixed.on_sent(5.0 + DELAY, lambda _: 1)
    fixed.on_sent(5.0 + DELAY + PROBE_SPREAD_S + 0.01, lambda _: 1)  # the next only after the spread: too late
    assert fixed.state == "off"
    small = armed(count=20)  # the probe would cost more than an eighth of the window in 429s
    probe(small, 5.0 + DELAY)
    assert small.state == "off"


def test_429s_while_pacing_fixed_windows() -> None:
    fixed = armed()
    for at in probe(fixed, 5.0 + DELAY):
        fixed.on_answer(at, refused=False)
    assert fixed.active
    # Our boundaries ran late of the provider's: its 429 moves them to its moment with room.
    fixed.on_throttle(sent=40.0, room_at=44.7)
    assert fixed.boundary == 44.7 and fixed.active and fixed.moved == 1
    fixed.on_throttle(sent=40.01, room_at=44.7)  # the same burst
    assert fixed.active and fixed.moved == 1
    # Refused again soon, with room a whole longer window after the last: the window began before our first
    # request, and is longer than the first one measured.
    fixed.on_throttle(sent=49.75, room_at=59.7)
    assert fixed.active and fixed.span == pytest.approx(15.0) and fixed.boundary == 59.7
    # Refused again soon with room soon: a token bucket or a sliding log after all; back to the sliding log.
    fixed.on_throttle(sent=59.8, room_at=59.85)
    assert fixed.state == "off"
