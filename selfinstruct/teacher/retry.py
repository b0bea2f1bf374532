"""What a failed teacher request was, and whether and when to try it again.

    policy = RetryPolicy(max_attempts=6, wait_s=1.0, endpoints=1)
    wait = policy.next_wait(exc, attempt, answered=False)   # seconds to sleep, or None: give up

Transient faults (429, 408/409/425, 5xx, timeouts, dropped connections, malformed bodies) are
retried; anything else is the caller's to raise. The policy is tenacity's strategies, built once
per teacher: full-jitter exponential backoff (`wait_random_exponential`), Retry-After when the
endpoint sends one, `--max-attempts`, and two tries per endpoint while no endpoint has ever
answered and the connection is refused (probably a wrong --base-url, not a busy server).
"""

from __future__ import annotations

import re
import socket
from typing import Literal

import openai
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from selfinstruct.errors import SelfInstructError
from selfinstruct.teacher.rate_headers import retry_after_s

# A Retry-After longer than this is not worth sleeping through; the cap keeps runs responsive.
MAX_RETRY_AFTER_S = 120.0
# Backoff ceilings double per attempt up to this many times the base wait.
MAX_BACKOFF_FACTOR = 60.0


class MalformedResponse(Exception):
    """The endpoint answered 200 with a body we cannot use (no choices, bad JSON); worth retrying."""


def is_transient(exc: BaseException) -> bool:
    """A fault of the endpoint or the network that another attempt may not meet."""
    if isinstance(exc, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError, MalformedResponse)):
        return True
    if isinstance(exc, openai.APIResponseValidationError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 425, 429) or exc.status_code >= 500
    return False


# What a failed connection was. Read from the cause chain, innermost first, not from the SDK's class: its aiohttp
# transport labels every aiohttp connection error a timeout (a refused connection, one the server closed).
Failure = Literal["refused", "timeout", "dropped"]


def connection_failure(exc: BaseException | None) -> tuple[Failure, str] | None:
    """For an APIConnectionError: whether the connection could not be made, timed out, or was dropped, and the
    innermost error's name (for the log); None for any other error."""
    if not isinstance(exc, openai.APIConnectionError):
        return None
    links: list[BaseException] = []
    cause = exc.__cause__
    while cause is not None and len(links) < 8:
        links.append(cause)
        cause = cause.__cause__
    for link in reversed(links):
        name = type(link).__name__
        if isinstance(link, (ConnectionRefusedError, socket.gaierror)) or name in ("ConnectError", "ClientConnectorError", "ClientConnectorDNSError"):
            return "refused", name
        if isinstance(link, TimeoutError) or name.endswith("Timeout"):
            return "timeout", name
        if type(link).__module__.startswith("aiohttp"):
            return "dropped", name  # the transport's own error, neither of the above: the HTTP layer's label adds nothing
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", type(links[0]).__name__ if links else "APITimeoutError"
    return "dropped", type(links[-1]).__name__ if links else "no response"


def is_unreachable(exc: BaseException | None) -> bool:
    """A refused or unresolvable connection (nothing listening), as opposed to one dropped mid-response."""
    failure = connection_failure(exc)
    return failure is not None and failure[0] == "refused"


def is_timeout(exc: BaseException | None) -> bool:
    failure = connection_failure(exc)
    return failure is not None and failure[0] == "timeout"


def retry_after(exc: BaseException | None) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms of a failed request's response, capped."""
    response = getattr(exc, "response", None)
    seconds = retry_after_s(response.headers) if response is not None else None
    return min(seconds, MAX_RETRY_AFTER_S) if seconds is not None else None


def describe(exc: BaseException) -> str:
    """One line for the request log and error messages: the status and the server's message, or the connection's fate."""
    if isinstance(exc, SelfInstructError):
        return str(exc)  # already a message for the user
    if isinstance(exc, openai.APIStatusError):
        message = exc.message if isinstance(exc.message, str) else str(exc)
        message = re.sub(r"^Error code: \d+ - ", "", message)  # the client's prefix repeats the status
        return f"HTTP {exc.status_code}: {' '.join(message.split())[:200]}"
    failure = connection_failure(exc)
    if failure is not None:
        kind, name = failure
        return {"timeout": "request timed out", "refused": f"could not connect ({name})", "dropped": f"connection dropped ({name})"}[kind]
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


class _wait_retry_after(wait_base):  # noqa: N801 - named like tenacity's strategies
    """The endpoint's Retry-After when it sends one, else the fallback strategy's wait."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        after = retry_after(retry_state.outcome.exception() if retry_state.outcome else None)
        return after if after is not None else self.fallback(retry_state)


class _stop_after_attempts(stop_base):  # noqa: N801 - named like tenacity's strategies
    """--max-attempts; but while no endpoint has answered, a refused connection gets two tries per endpoint."""

    def __init__(self, max_attempts: int, endpoints: int) -> None:
        self.attempts = stop_after_attempt(max_attempts)
        self.unreachable = stop_after_attempt(2 * endpoints)

    def __call__(self, retry_state: RetryCallState) -> bool:
        answered = retry_state.kwargs["answered"]
        if not answered and is_unreachable(retry_state.outcome.exception() if retry_state.outcome else None):
            return self.unreachable(retry_state)
        return self.attempts(retry_state)


class RetryPolicy:
    """tenacity's retry, stop and wait strategies for one teacher, built once and asked after each failed attempt.

    Not an AsyncRetrying per request: each of those built about thirty objects, reference cycles among
    them that only the cyclic collector frees, and at 256 requests in flight that garbage was the largest
    thing a long run kept in memory (bench/throughput.py). A request that succeeds at once builds nothing
    here; a failed attempt builds one RetryCallState, dropped as soon as the decision is made.
    """

    def __init__(self, max_attempts: int, wait_s: float, endpoints: int) -> None:
        self.retry = retry_if_exception(is_transient)
        self.stop = _stop_after_attempts(max_attempts, endpoints)
        # Full jitter: uniform in [0, min(60, 2^(n-1)) x wait_s] after attempt n.
        self.wait = _wait_retry_after(wait_random_exponential(multiplier=wait_s, max=MAX_BACKOFF_FACTOR * wait_s))

    def next_wait(self, exc: BaseException, attempt: int, answered: bool) -> float | None:
        """Seconds to wait before the attempt after failed attempt number `attempt`, or None to give up.
        `answered`: some endpoint of this teacher has answered before (a refused connection is then transient)."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={"answered": answered})  # type: ignore[arg-type]
        state.attempt_number = attempt
        state.set_exception((type(exc), exc, exc.__traceback__))
        if not self.retry(state) or self.stop(state):
            return None
        return self.wait(state)
