"""Endpoint resolution: local or hosted, model, price, concurrency and timeout, decided in one place."""

from __future__ import annotations

import pytest

from selfinstruct.endpoint_settings import TeacherSettings
from selfinstruct.errors import UserError
from selfinstruct.teacher.endpoint import HOSTED_CONCURRENCY, LOCAL_MIN_TIMEOUT_S, LOCAL_SLOTS, resolve_endpoint


def test_no_endpoint_settings_means_the_local_teacher(monkeypatch):
    endpoint = resolve_endpoint(TeacherSettings())
    assert endpoint.local and endpoint.model == "qwen2.5-coder-1.5b"
    assert endpoint.price == (0.0, 0.0) and endpoint.price_known
    assert endpoint.concurrency == LOCAL_SLOTS  # the slots of the local server (llama_server.DEFAULT_PARALLEL)
    assert endpoint.timeout_s == LOCAL_MIN_TIMEOUT_S


@pytest.mark.parametrize("concurrency", [1, 2, 8])
def test_an_explicit_concurrency_wins_for_local_and_hosted(monkeypatch, concurrency):
    assert resolve_endpoint(TeacherSettings(teacher="local", concurrency=concurrency)).concurrency == concurrency
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0000")
    assert resolve_endpoint(TeacherSettings(concurrency=concurrency)).concurrency == concurrency


def test_the_local_engine_s_slots_set_its_concurrency_unless_concurrency_is_given():
    native = {"teacher": "local", "local_engine": "native"}
    assert resolve_endpoint(TeacherSettings(**native, local_slots=3)).concurrency == 3
    assert resolve_endpoint(TeacherSettings(**native, local_slots=3, concurrency=1)).concurrency == 1
    # llama-cpp-python's server decodes one request at a time, whatever --local-slots says.
    assert resolve_endpoint(TeacherSettings(teacher="local", local_engine="python", local_slots=3)).concurrency == 1


def test_hosted_defaults_and_price(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0000")
    endpoint = resolve_endpoint(TeacherSettings(timeout=30))
    assert not endpoint.local and endpoint.model == "gpt-4o-mini"
    assert endpoint.concurrency == HOSTED_CONCURRENCY and endpoint.timeout_s == 30
    assert endpoint.price is not None and endpoint.price[0] > 0
    assert "https://api.openai.com/v1" in endpoint.description


def test_an_unknown_price_is_unknown_and_a_dollar_cap_needs_one():
    endpoint = resolve_endpoint(TeacherSettings(base_url="http://127.0.0.1:9/v1", model="my-model", max_usd=5))
    assert endpoint.price is None and not endpoint.price_known
    with pytest.raises(UserError, match="--max-usd: no built-in price for model 'my-model'"):
        endpoint.require_price()
    priced = resolve_endpoint(TeacherSettings(base_url="http://127.0.0.1:9/v1", model="my-model", max_usd=5, price_input=1, price_output=2))
    assert priced.price == (1.0, 2.0)
    priced.require_price()


def test_credentials_in_the_base_url_never_reach_the_description():
    endpoint = resolve_endpoint(TeacherSettings(base_url="http://user:hunter22@127.0.0.1:9/v1?api_key=abc"))
    assert "hunter22" not in endpoint.description and "abc" not in endpoint.description


def test_structured_output_dialect_per_endpoint(monkeypatch):
    assert resolve_endpoint(TeacherSettings(teacher="local")).structured == "json_object"  # llama.cpp's schema grammar
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0000")
    assert resolve_endpoint(TeacherSettings()).structured == "json_schema"  # OpenAI's structured outputs
    assert resolve_endpoint(TeacherSettings(base_url="https://api.openai.com/v1")).structured == "json_schema"
    # An unknown server gets text formats unless the user says what it takes.
    assert resolve_endpoint(TeacherSettings(base_url="http://127.0.0.1:9/v1")).structured is None
    assert resolve_endpoint(TeacherSettings(base_url="http://127.0.0.1:9/v1", structured="json-object")).structured == "json_object"
    assert resolve_endpoint(TeacherSettings(teacher="local", structured="off")).structured is None
    assert resolve_endpoint(TeacherSettings(teacher="local", api="completions")).structured is None  # chat API only
