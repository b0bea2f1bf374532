"""What goes to a teacher and comes back: chat turns, decoding options, request bodies and completions.

    body = request_body(model, "chat", [Message(role="user", content="...")], Decoding(max_tokens=64), structured=None)

Plain data and pure functions shared by the online teacher (client.py) and the Batch API (batch.py):
both send the same JSON body for the same prompt, and read the same choice into a Completion.
"""

from __future__ import annotations

import functools
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import BaseModel

from selfinstruct.teacher.spend import count_tokens


class Message(BaseModel):
    """One chat turn. Few-shot examples are user/assistant pairs before the real request."""

    role: Literal["system", "user", "assistant"]
    content: str


def as_chat(prompt: list[Message] | str) -> list[dict[str, str]]:
    """The chat API's messages for a prompt: a bare string becomes one user turn."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m.role, "content": m.content} for m in prompt]


def as_text(prompt: list[Message] | str) -> str:
    """The completions API's prompt: turns joined in order, since a base model reads plain text."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(m.content for m in prompt)


@functools.lru_cache(maxsize=4096)
def _turn_tokens(text: str) -> int:
    """count_tokens for one turn, remembered: a run's prompts repeat the same system text and worked examples
    request after request (7 of every 8 characters a run counts were counted before), and encoding them
    again cost about 0.1 ms of CPU per request at high concurrency (bench/throughput.py)."""
    return count_tokens(text)


def prompt_tokens_estimate(prompt: list[Message] | str, api: str) -> int:
    """Tokens a prompt is expected to cost before it is sent (chat framing adds a few per turn)."""
    if api == "chat":
        turns = as_chat(prompt)
        return sum(_turn_tokens(t["content"]) + 4 for t in turns) + 4
    return count_tokens(as_text(prompt))


class Decoding(BaseModel):
    """Sampling options for one kind of request."""

    temperature: float = 0.7
    top_p: float = 1.0
    presence_penalty: float = 0.0
    max_tokens: int = 1024
    stop: list[str] | None = None
    # Constrain the answer to this JSON schema where the endpoint can (see Teacher.structured).
    json_schema: dict[str, Any] | None = None
    # Ask for the k most likely tokens at each generated position (a judge reads its verdict from them).
    top_logprobs: int = 0


# How an endpoint is asked for schema-constrained JSON: OpenAI's structured outputs, or llama.cpp's
# grammar from a schema (both llama.cpp servers accept {"type": "json_object", "schema": ...}).
Structured = Literal["json_schema", "json_object"]


def response_format(schema: dict[str, Any], dialect: Structured) -> dict[str, Any]:
    """The request's response_format asking for JSON that follows `schema`, in the endpoint's dialect."""
    if dialect == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    return {"type": "json_object", "schema": schema}


def request_body(model: str, api: str, prompt: list[Message] | str, decoding: Decoding, structured: Structured | None) -> dict[str, Any]:
    """The JSON body of one chat or completions request, as sent online or written into a batch file."""
    body: dict[str, Any] = {"model": model}
    if api == "chat":
        body["messages"] = as_chat(prompt)
    else:
        body["prompt"] = as_text(prompt)
    body.update(temperature=decoding.temperature, top_p=decoding.top_p, max_tokens=decoding.max_tokens)
    if decoding.presence_penalty:
        body["presence_penalty"] = decoding.presence_penalty
    if decoding.stop:
        body["stop"] = decoding.stop
    if decoding.json_schema is not None and structured:
        body["response_format"] = response_format(decoding.json_schema, structured)
    if decoding.top_logprobs:
        if api == "chat":
            body.update(logprobs=True, top_logprobs=decoding.top_logprobs)
        else:
            body["logprobs"] = decoding.top_logprobs
    return body


TopLogprobs = list[dict[str, float]]  # per generated position: each likely token's text and its log-probability


def read_top_logprobs(choice: dict[str, Any], api: str) -> TopLogprobs | None:
    """The top alternatives at each generated position, from a chat or completions choice; None when the endpoint
    sent none (it does not support them, or ignored the request)."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return None
    if api == "chat":
        content = logprobs.get("content")
        if not isinstance(content, list) or not content:
            return None
        return [{alt["token"]: float(alt["logprob"]) for alt in (pos.get("top_logprobs") or []) if isinstance(alt, dict)}
                for pos in content if isinstance(pos, dict)]  # fmt: skip
    tops = logprobs.get("top_logprobs")
    if not isinstance(tops, list) or not tops:
        return None
    return [{str(k): float(v) for k, v in (pos or {}).items()} for pos in tops]


# The record a request belongs to (a proposal's "r00012"), set by the stage driver for the task that asks;
# batch mode writes it into each line's custom_id and matches a rerun's requests to journaled lines by it.
current_record: ContextVar[str | None] = ContextVar("current_record", default=None)


class Completion(BaseModel):
    """What the teacher said: text, why it stopped, and what it cost."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    top_logprobs: TopLogprobs | None = None  # only when Decoding.top_logprobs asked for them and the endpoint sent them

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"
