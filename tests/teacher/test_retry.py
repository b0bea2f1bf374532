"""The retry policy: which faults are retried, how long between attempts, and when to give up."""

from __future__ import annotations

import random

import httpx
import openai
import pytest

from selfinstruct.teacher.retry import MAX_RETRY_AFTER_S, MalformedResponse, RetryPolicy

REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def _refused() -> openai.APIConnectionError:
    exc = openai.APIConnectionError(request=REQUEST)
    exc.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return exc


def _status(code: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx.Response(code, headers=headers or {}, request=REQUEST)
    return openai.APIStatusError(f"Error code: {code}", response=response, body=None)


def test_backoff_is_full_jitter_under_a_doubling_ceiling(monkeypatch):
    """Between attempts: uniform in [0, min(60, 2^(n-1)) x retry_wait]; nothing to wait for once the attempts are spent."""
    policy = RetryPolicy(max_attempts=9, wait_s=0.5, endpoints=1)
    fault = MalformedResponse("response has no choices")
    monkeypatch.setattr(random, "uniform", lambda low, high: (low, high))
    assert [policy.next_wait(fault, n, answered=True) for n in range(1, 9)] == [(0, 0.5 * 2.0 ** (n - 1)) for n in range(1, 7)] + [(0, 30.0)] * 2
    assert policy.next_wait(fault, 9, answered=True) is None  # the ninth attempt was the last
    assert policy.next_wait(ValueError("a bug, not a fault of the endpoint"), 1, answered=True) is None  # never retried


def test_a_wait_is_random_within_its_ceiling():
    policy = RetryPolicy(max_attempts=9, wait_s=0.5, endpoints=1)
    waits = [policy.next_wait(MalformedResponse("x"), 3, answered=True) for _ in range(200)]
    assert all(0 <= w <= 2.0 for w in waits) and len(set(waits)) > 150


@pytest.mark.parametrize(("code", "retried"), [(429, True), (500, True), (503, True), (408, True), (409, True), (425, True),
                                               (400, False), (401, False), (403, False), (404, False), (422, False)])  # fmt: skip
def test_only_transient_statuses_are_retried(code, retried):
    assert (RetryPolicy(max_attempts=3, wait_s=0.0, endpoints=1).next_wait(_status(code), 1, answered=True) is not None) is retried


def test_retry_after_replaces_the_backoff_and_is_capped():
    policy = RetryPolicy(max_attempts=3, wait_s=100.0, endpoints=1)
    assert policy.next_wait(_status(429, {"retry-after": "3"}), 1, answered=True) == 3.0
    assert policy.next_wait(_status(503, {"retry-after-ms": "250"}), 1, answered=True) == 0.25
    assert policy.next_wait(_status(429, {"retry-after": "100000"}), 1, answered=True) == MAX_RETRY_AFTER_S
    assert policy.next_wait(_status(429, {"retry-after": "3"}), 3, answered=True) is None  # --max-attempts still binds


def test_a_refused_connection_gets_two_tries_per_endpoint_until_one_has_answered():
    """Nothing listening before any answer is probably a wrong --base-url: two tries per endpoint, whatever
    --max-attempts says; once an endpoint has answered, a refused connection is a transient fault like any other."""
    for endpoints in (1, 3):
        policy = RetryPolicy(max_attempts=6, wait_s=0.0, endpoints=endpoints)
        tries = [n for n in range(1, 10) if policy.next_wait(_refused(), n, answered=False) is not None]
        assert tries == list(range(1, 2 * endpoints))  # attempt 2 x endpoints is the last
        assert [n for n in range(1, 10) if policy.next_wait(_refused(), n, answered=True) is not None] == [1, 2, 3, 4, 5]
    assert RetryPolicy(max_attempts=1, wait_s=0.0, endpoints=1).next_wait(_refused(), 1, answered=False) == 0.0
