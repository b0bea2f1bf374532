"""The teacher's settings: endpoint, pacing, retries, spend caps, the local model, the Batch API; and URL redaction.

generate holds them flat (`--model`, `--max-usd`), eval and clean under the `judge_` prefix
(`--judge-model`); `models` lists the packaged local models. How a field declares its option is
in settings.py; the teacher resolves them once into an endpoint (teacher/endpoint.py). Core, not
teacher/, so that finetune and eval read them without importing the teacher (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import ConfigDict, SecretStr, field_validator, model_validator

from selfinstruct.settings import _Config, setting

TEACHER = "Teacher"
LIMITS = "Limits and spend"
LOCAL = "Local teacher"


class TeacherSettings(_Config):
    """Which model answers and how it is called: endpoint, key, pacing, retries, spend caps, local model.

    Resolved once into an endpoint by `selfinstruct.teacher.endpoint.resolve_endpoint`.
    """

    teacher: Literal["auto", "openai", "local"] = setting(
        "auto", "auto: an OpenAI-compatible endpoint if OPENAI_API_KEY/OPENAI_BASE_URL/--base-url/--api-key is set, else the embedded local model. openai or local to force one.", panel=TEACHER)
    model: str | None = setting(
        None, "Model name at the endpoint. Default: gpt-4o-mini (OpenAI); the packaged model when local. With several --base-url, one model for all, or one per endpoint separated by commas (in --base-url order). A path to a .gguf file (and no --base-url) runs that file on the embedded llama.cpp server.", panel=TEACHER)
    base_url: list[str] = setting(
        [], "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1. Overrides OPENAI_BASE_URL. Repeat it to spread requests over several servers (least in-flight work first; one that keeps failing is set aside for a cool-down).", panel=TEACHER, metavar="URL")
    api_key: SecretStr | None = setting(None, "API key; prefer the OPENAI_API_KEY variable, which this overrides. Never written to disk.", panel=TEACHER, exclude=True)
    api: Literal["chat", "completions"] = setting("chat", "chat: /chat/completions (instruct models). completions: legacy /completions (base models).", panel=TEACHER)
    structured: Literal["auto", "json-schema", "json-object", "off"] = setting(
        "auto", "Ask for answers constrained to a JSON schema where the endpoint supports it. auto: llama.cpp's schema grammar for the local teacher, OpenAI's structured outputs for api.openai.com, text formats for other servers. json-schema: OpenAI's form. json-object: llama.cpp's form. off: text formats everywhere.", panel=TEACHER)
    # None, not 8: the endpoint picks the default, so an explicit --concurrency 8 is kept for a local teacher too.
    concurrency: int | None = setting(
        None, "Most requests in flight at once. Default: 8 for a hosted endpoint; for the local teacher, the requests its server decodes at once (--local-slots; 1 with --local-engine python).", panel=TEACHER, ge=1, le=4096)
    concurrency_fixed: bool = setting(
        False, "Keep --concurrency requests in flight from the start, following no rate-limit headers (Retry-After still holds requests back). Default: start low and adapt (AIMD) up to --concurrency: grow while requests succeed, halve on a timeout (and on a 429 from an endpoint without headers), stop growing when latency rises with load; requests leave only when the x-ratelimit-* headers (requests and tokens) say the limit has room, or, without headers, at the rate learned from the 429s.", panel=TEACHER)
    requests_per_minute: float | None = setting(None, "Pace request starts to at most this many per minute.", panel=TEACHER, flag="--rpm", gt=0)
    timeout: float = setting(120.0, "Seconds before a request counts as timed out and is retried (local: at least 1800).", panel=TEACHER, gt=0)
    max_attempts: int = setting(
        6, "Tries per request on 429, 5xx, timeouts and dropped connections, with exponential backoff; Retry-After is honoured.", panel=TEACHER, ge=1, le=50)
    retry_wait: float = setting(
        1.0, "Backoff scale in seconds: retry n waits a random time up to retry_wait * 2^n (capped at 60x), unless Retry-After says otherwise.", panel=TEACHER, ge=0)
    max_usd: float | None = setting(None, "Stop before a request could take total spend past this many US dollars.", panel=LIMITS, gt=0)
    max_total_tokens: int | None = setting(None, "Stop before a request could take total tokens (in + out) past this.", panel=LIMITS, gt=0)
    price_input: float | None = setting(None, "USD per 1M prompt tokens, for models not in the built-in price table.", panel=LIMITS, ge=0)
    price_output: float | None = setting(None, "USD per 1M completion tokens, for models not in the built-in price table.", panel=LIMITS, ge=0)
    local_model: str = setting(
        "qwen2.5-coder-1.5b", "Local teacher: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b (faster, rougher) or a path to your own .gguf file.", panel=LOCAL)
    local_ctx: int = setting(4096, "Local teacher context size in tokens.", panel=LOCAL, ge=512)
    local_threads: int | None = setting(None, "Local teacher CPU threads. Default: the cores this process may use.", panel=LOCAL, ge=1)
    local_engine: Literal["native", "python"] = setting(
        "native", "Local teacher's server. native: llama.cpp's own llama-server (built by `make llama-server`), --local-slots requests at once, "
        "each slot's prompt kept in cache. python: llama-cpp-python's server, one request at a time, no prompt cache beyond the last request "
        "(make demo took over 1.6x as long on 2 cores, at the same memory).", panel=LOCAL)
    local_slots: int | None = setting(
        None, "Requests the local teacher's llama-server decodes at once (--local-engine native), each slot with its own context and prompt cache. Default: 1 below 8 usable cores (more slots only share few cores), else 4.", panel=LOCAL, ge=1, le=64)

    @field_validator("base_url", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        """One URL (as config.json held it before endpoints were repeatable) or none, as a list."""
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _models_match_endpoints(self) -> TeacherSettings:
        if self.model and self.model.lower().endswith(".gguf") and not self.base_url and self.teacher != "openai":
            # A GGUF file is a model the embedded llama.cpp server runs, whatever option names it (--judge-model x.gguf).
            object.__setattr__(self, "local_model", self.model)
            object.__setattr__(self, "teacher", "local")
            object.__setattr__(self, "model", None)
        if self.model and "," in self.model and len(self.models) != max(1, len(self.base_url)):
            raise ValueError(f"--model names {len(self.models)} models for {len(self.base_url)} --base-url endpoints; give one model, or one per endpoint")
        return self

    @property
    def models(self) -> list[str]:
        """The model of each endpoint (one name may stand for all)."""
        return [m.strip() for m in self.model.split(",")] if self.model else []


BATCH = "Batch API"


class BatchSettings(_Config):
    """`generate --batch`: requests go through the provider's Batch API (/v1/files + /v1/batches) at half price."""

    batch: bool = setting(
        False, "Send each stage's requests through the OpenAI Batch API (or any server with /v1/files and /v1/batches): half the price, results within 24 h. Batches are journaled; rerun to resume polling.", panel=BATCH)
    batch_poll: float | None = setting(
        None, "Seconds between polls of submitted batches. Default: back off from 30 s up to 5 min.", panel=BATCH, gt=0)
    batch_min_requests: int = setting(
        1000, "Requests of a stage that make a batch worth sending while other batches are still out; a stage with nothing left in flight sends what it has.", panel=BATCH, ge=1)
    batch_max_requests: int = setting(50_000, "Most requests in one batch (the provider's limit); a larger stage is split. Files are also split at 200 MB.", panel=BATCH, ge=1, le=50_000)
    batch_price_input: float | None = setting(None, "Batch USD per 1M prompt tokens. Default: half the online price.", panel=BATCH, ge=0)
    batch_price_output: float | None = setting(None, "Batch USD per 1M completion tokens. Default: half the online price.", panel=BATCH, ge=0)


def redact_urls(urls: list[str]) -> str | list[str] | None:
    """The endpoints as config.json holds them, redacted: none, one URL, or a list of them."""
    redacted = [redact_url(u) or "" for u in urls]
    return None if not redacted else redacted[0] if len(redacted) == 1 else redacted


def redact_url(url: str | list[str] | None) -> Any:
    """Drop user:password@ and secret-looking query values from a URL before it is written anywhere
    (each of them, for a list of endpoints)."""
    if isinstance(url, list):
        return redact_urls(url)
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    query = "&".join(
        f"{k}=***" if any(s in k.lower() for s in ("key", "token", "secret", "sig", "password")) else f"{k}={v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class ModelsConfig(_Config):
    """Settings of `models`: how far to check the packaged teacher models."""

    model_config = ConfigDict(json_schema_extra={"config_example": "verify: true"})

    verify: bool = setting(
        False, "Re-hash each assembled model file (reads ~1.6 GB) instead of trusting the checksum marker written when it was assembled.")


def carry_caps(run: Any, judge: TeacherSettings) -> None:
    """A command's own --max-usd / --max-total-tokens are its caps: carried to the judge's endpoint settings, and an
    error when the --judge-* form gives another value."""
    for name in ("max_usd", "max_total_tokens"):
        mine, theirs = getattr(run, name), getattr(judge, name)
        if mine is not None and theirs is not None and mine != theirs:
            raise ValueError(f"give --{name.replace('_', '-')} or --judge-{name.replace('_', '-')}, not both")
        if mine is not None:
            object.__setattr__(judge, name, mine)
