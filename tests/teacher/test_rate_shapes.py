"""The real client against a mock provider's rate limiter of each shape (tests/mock_limiter.py).

Each run floods one limiter of 10 requests/s (20 per 2 s window, or a bucket of one second's worth) answering in
0.1 s, and prints its figures (run with -s). With headers the pacer knows what is left: it must stay out of 429s
(a request that overtakes another on the way may still draw one) and use most of the limit even in a short run,
where the first window's slow start and the last window's tail weigh more than in a long one (bench/rate_limit.py
measures long runs). Without headers the limit is learned from 429s, so some are expected.
"""

from __future__ import annotations

import pytest

from tests.mock_limiter import LimitedServer, LimiterSpec, body_cost, limited_run, prompts

RATE, WINDOW_S, WINDOWS, LATENCY_S = 10.0, 2.0, 4, 0.1


@pytest.fixture(scope="module")
def limiter() -> LimitedServer:
    server = LimitedServer().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.mark.parametrize("shape", ["bucket", "fixed", "sliding"])
def test_with_headers_the_limit_is_used_without_429s(limiter: LimitedServer, shape: str) -> None:
    window = 1.0 if shape == "bucket" else WINDOW_S
    limiter.configure(LimiterSpec(shape=shape, limit=RATE * window, window_s=window, latency_s=LATENCY_S))  # type: ignore[arg-type]
    run, teacher = limited_run(limiter, int(RATE * WINDOW_S * WINDOWS), fixed=False)
    report = teacher.report()["concurrency"]
    print(f"\n{shape} {RATE:g}/s with headers: {run.line()}; shape seen: {report.get('limiter_shape')}")
    assert report["paced_by"] == "headers"
    assert run.throttled < 0.03 and run.share >= 0.85


def test_tokens_per_window_with_large_prompts(limiter: LimitedServer) -> None:
    """The limit counts tokens (each request about 1,950 as the provider counts them, a few % more than our own
    estimate): the pacer learns the difference from its first 429 at most."""
    cost = body_cost(prompts(1, True)[0])
    limiter.configure(
        LimiterSpec(shape="fixed", kind="tokens", limit=RATE * WINDOW_S * cost, window_s=WINDOW_S, latency_s=LATENCY_S)
    )
    run, teacher = limited_run(limiter, int(RATE * WINDOW_S * WINDOWS), fixed=False, large=True)
    print(f"\ntokens per {WINDOW_S:g} s window, {RATE:g} requests' worth a second: {run.line()}")
    assert teacher.report()["concurrency"]["paced_by"] == "headers"
    assert run.throttled < 0.03 and run.share >= 0.8


def test_without_headers_the_rate_is_learned_from_retry_after_ms(limiter: LimitedServer) -> None:
    limiter.configure(
        LimiterSpec(
            shape="sliding",
            limit=RATE * WINDOW_S,
            window_s=WINDOW_S,
            headers=False,
            retry_after="ms",
            latency_s=LATENCY_S,
        )
    )
    run, teacher = limited_run(limiter, int(RATE * WINDOW_S * WINDOWS), fixed=False)
    report = teacher.report()["concurrency"]
    print(
        f"\nsliding log {RATE:g}/s, no headers, retry-after-ms: {run.line()}; learned {report.get('learned_rate_per_s')}/s"
    )
    assert report["paced_by"] == "429s" and RATE * 0.8 <= report["learned_rate_per_s"] <= RATE * 1.1
    assert run.throttled < 0.05


def test_a_slow_reset_on_one_endpoint_does_not_hold_the_run(limiter: LimitedServer) -> None:
    """One endpoint's window is spent for the next 30 s; the other has room: the run does not wait for the reset."""
    spent = LimitedServer().start()
    try:
        spent.configure(LimiterSpec(shape="fixed", limit=4, window_s=30.0, latency_s=0.05))
        limiter.configure(LimiterSpec(shape="bucket", limit=RATE, window_s=1.0, latency_s=0.05))
        run, teacher = limited_run(limiter, 40, fixed=False, ceiling=8, urls=[spent.url, limiter.url])
        shares = {lane["endpoint"]: lane["served"] for lane in teacher.report()["endpoints"]}
        print(f"\nan endpoint spent for 30 s beside one with room: {run.seconds:.1f} s, served {shares}")
        assert run.seconds < 10 and sum(shares.values()) == 40
        assert shares[spent.url] <= 4 + 1  # its window's 4 (and a request that learned of the reset by its 429)
    finally:
        spent.stop()


# Without headers, a window large enough for the probe (rate_window.py): 150 requests per 3 s, answered in 0.3 s.
BIG_LIMIT, BIG_WINDOW_S, BIG_LATENCY_S = 150, 3.0, 0.3


def test_without_headers_a_fixed_window_is_found_and_filled_from_each_start(limiter: LimitedServer) -> None:
    """Paced as the sliding log its first 429 could also be, each window would repeat the first one's slow start
    (about 2 s of its 3); told apart by the probe, each later window's 150 leave from its start."""
    limiter.configure(LimiterSpec(shape="fixed", limit=BIG_LIMIT, window_s=BIG_WINDOW_S, headers=False,
                                  latency_s=BIG_LATENCY_S))  # fmt: skip
    run, teacher = limited_run(limiter, BIG_LIMIT * 4, fixed=False)
    report = teacher.report()["concurrency"]
    print(f"\nfixed window {BIG_LIMIT} per {BIG_WINDOW_S:g} s, no headers: {run.line()}")
    assert report["paced_by"] == "429s" and report["learned_window"] == "fixed"
    assert run.throttled < 0.03 and run.share >= 0.82  # paced as a sliding log: 73% here at load 7


def test_without_headers_a_sliding_log_refuses_the_probe_and_keeps_its_window(limiter: LimitedServer) -> None:
    """The probe's 429s say a sliding log (room again only when its next entry leaves), so the window learned
    from the first 429 stays; taken for a token bucket, it would be paced evenly at the rate of a short cycle."""
    limiter.configure(LimiterSpec(shape="sliding", limit=BIG_LIMIT, window_s=BIG_WINDOW_S, headers=False,
                                  retry_after="ms", latency_s=BIG_LATENCY_S))  # fmt: skip
    run, teacher = limited_run(limiter, BIG_LIMIT * 4, fixed=False)
    report = teacher.report()["concurrency"]
    print(f"\nsliding log {BIG_LIMIT} per {BIG_WINDOW_S:g} s, no headers: {run.line()}")
    assert report["paced_by"] == "429s" and report["learned_window"] == "sliding"
    assert run.throttled < 0.05 and run.share >= 0.7
