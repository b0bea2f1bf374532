"""The teacher seam against a real HTTP mock: both APIs, retries with backoff and Retry-After, give-up, usage."""

import asyncio
import time

import pytest

from selfinstruct.errors import CapReached, TeacherError, UserError
from selfinstruct.teacher.client import Decoding, Teacher
from selfinstruct.teacher.spend import SpendTracker

PROMPT = "Here are some example tasks:\n1. Name a color.\n\nList of 5 new tasks:"


def make(mock, log=None, **kw):
    options = dict(model="mock-teacher", base_url=mock.url, api_key="sk-test", concurrency=4, timeout_s=2.0,
                   max_attempts=4, retry_wait_s=0.01, spend=SpendTracker((1.0, 2.0)), log=(log.append if log is not None else lambda r: None))
    options.update(kw)
    return Teacher(**options)


async def _ask(teacher, prompt=PROMPT, **decoding):
    try:
        return await teacher.complete(prompt, Decoding(**decoding), stage="propose")
    finally:
        await teacher.aclose()


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_both_apis(mock_teacher, api):
    log = []
    result = asyncio.run(_ask(make(mock_teacher, log, api=api)))
    assert result.finish_reason == "stop"
    assert result.text.count("\n") >= 4
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert mock_teacher.requests[0]["api"] == api
    assert log[0]["ok"] and log[0]["prompt_tokens"] == result.prompt_tokens and log[0]["finish_reason"] == "stop"


@pytest.mark.parametrize("fault", ["429", "500", "502", "503", "drop", "bad-json", "empty-choices", "timeout"])
def test_transient_faults_are_retried(mock_teacher, fault):
    mock_teacher.schedule = [fault, fault]
    mock_teacher.timeout_sleep = 1.0
    log = []
    teacher = make(mock_teacher, log, timeout_s=0.5)
    result = asyncio.run(_ask(teacher))
    assert result.text
    assert [r["ok"] for r in log] == [False, False, True]
    assert [r["attempt"] for r in log] == [1, 2, 3]
    assert teacher.retries == 2


@pytest.mark.parametrize(("fault", "logged", "timeouts"), [
    ("timeout", "request timed out", 1),
    ("drop", "connection dropped (", 0),     # hung up mid-body
    ("dead", "connection dropped (", 0),     # closed with no answer at all
    ("refused", "could not connect (ConnectionRefusedError)", 0),
])  # fmt: skip
def test_each_connection_failure_is_told_apart_and_only_a_timeout_counts_as_one(mock_teacher, fault, logged, timeouts):
    """The SDK's aiohttp transport raises APITimeoutError for any lost connection; the log and the adaptive
    limit must still see what happened, since only a timeout means the endpoint is queueing."""
    mock_teacher.timeout_sleep = 1.0
    if fault == "dead":
        mock_teacher.dead = True
    elif fault != "refused":
        mock_teacher.schedule = [fault]

    class Refusing:
        url = "http://127.0.0.1:9/v1"

    log = []
    teacher = make(Refusing() if fault == "refused" else mock_teacher, log, timeout_s=0.5, max_attempts=1)
    with pytest.raises((TeacherError, UserError)):
        asyncio.run(_ask(teacher))
    assert log[0]["error"].startswith(logged)
    assert teacher.pool.lanes[0].limit.timeouts == timeouts


def test_retry_after_is_honoured(mock_teacher):
    mock_teacher.schedule = ["429-retry-after"]
    log = []
    started = time.monotonic()
    asyncio.run(_ask(make(mock_teacher, log, retry_wait_s=0.0)))
    assert log[0]["status"] == 429 and log[0]["retry_after_s"] == 0.05
    assert time.monotonic() - started >= 0.05


def test_gives_up_after_the_bound_naming_the_last_error(mock_teacher):
    mock_teacher.schedule = ["500"] * 10
    log = []
    with pytest.raises(TeacherError, match=r"failed 4 times.*HTTP 500"):
        asyncio.run(_ask(make(mock_teacher, log)))
    assert len(log) == 4 and mock_teacher.count() == 4


def test_bad_key_is_not_retried(mock_teacher):
    mock_teacher.api_key = "sk-right"
    with pytest.raises(UserError, match="401"):
        asyncio.run(_ask(make(mock_teacher)))
    assert mock_teacher.count() == 1


def test_unknown_model(mock_teacher):
    mock_teacher.models = {"other"}
    with pytest.raises(UserError, match="not found"):
        asyncio.run(_ask(make(mock_teacher)))


def test_unreachable_endpoint_fails_fast():
    class Dead:
        url = "http://127.0.0.1:9/v1"

    started = time.monotonic()
    with pytest.raises(UserError, match="cannot reach"):
        asyncio.run(_ask(make(Dead())))
    assert time.monotonic() - started < 10


def test_truncated_and_filtered_responses_come_back_as_is(mock_teacher):
    mock_teacher.schedule = ["length", "content-filter"]
    teacher = make(mock_teacher)

    async def both():
        try:
            return [await teacher.complete(PROMPT, Decoding(), "propose") for _ in range(2)]
        finally:
            await teacher.aclose()

    first, second = asyncio.run(both())
    assert first.truncated and second.finish_reason == "content_filter" and second.text == ""


def test_concurrency_is_bounded(mock_teacher):
    mock_teacher.latency = 0.2
    teacher = make(mock_teacher, concurrency=2)
    peak = 0

    async def watch():
        nonlocal peak
        while True:
            peak = max(peak, teacher.in_flight)
            await asyncio.sleep(0.01)

    async def many():
        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.gather(*(teacher.complete(PROMPT, Decoding(), "propose") for _ in range(6)))
        finally:
            watcher.cancel()
            await teacher.aclose()

    asyncio.run(many())
    assert peak == 2


def test_spend_cap_stops_before_sending(mock_teacher):
    teacher = make(mock_teacher, spend=SpendTracker((1.0, 1.0), max_total_tokens=50))
    with pytest.raises(CapReached, match="token cap"):
        asyncio.run(_ask(teacher, max_tokens=100))
    assert mock_teacher.count() == 0
