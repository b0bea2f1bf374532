"""Decide once which teacher a command talks to, and open it: a hosted endpoint or the embedded local model.

    endpoint = resolve_endpoint(cfg.teacher)        # local or hosted, model, price, concurrency, timeout
    with open_teacher(endpoint, server_log=run_dir / "teacher.log", log=run.log_request, spent=prior) as teacher:
        completion = await teacher.complete(messages, decoding, stage="propose")

`--teacher auto` (the default) uses OpenAI-compatible settings when any are given (flags or the
`openai` client's own OPENAI_API_KEY / OPENAI_BASE_URL), and otherwise starts the packaged
llama.cpp model, so a fresh machine with no key and no network still runs. Everything that
depends on that choice (price, concurrency, timeout) is decided here and nowhere else; `generate`
embeds these settings as its teacher, `eval` as its judge.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from selfinstruct.endpoint_settings import BatchSettings, TeacherSettings, redact_url
from selfinstruct.errors import UserError
from selfinstruct.teacher.client import Teacher
from selfinstruct.teacher.holds import HoldJournal
from selfinstruct.teacher.llama_command import DEFAULT_ENGINE, DEFAULT_PARALLEL, engine_slots
from selfinstruct.teacher.seam import TeacherSeam
from selfinstruct.teacher.spend import SpendTracker, Usage, batch_price, price_for
from selfinstruct.teacher.wire import Structured

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# llama.cpp and most self-hosted servers accept any key, but the client insists on one.
PLACEHOLDER_KEY = "not-needed"
# Requests in flight at once when --concurrency is not given.
HOSTED_CONCURRENCY = 8
# The requests the embedded llama.cpp server decodes at once (its engine and slots are chosen in llama_server).
LOCAL_SLOTS = engine_slots(DEFAULT_ENGINE, DEFAULT_PARALLEL)
# How the run table names each engine.
ENGINE_NAMES = {"python": "llama-cpp-python's server", "native": "llama-server"}
# A CPU model may need minutes per response; a dead server is caught by its connection errors.
LOCAL_MIN_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Endpoint:
    """One resolved teacher: where requests go, under which model, price, concurrency and limits."""

    settings: TeacherSettings
    local: bool
    model: str
    base_url: str | None
    price: tuple[float, float] | None  # USD per 1M tokens in / out; None: unknown (never counted as $0)
    concurrency: int
    timeout_s: float
    description: str
    structured: Structured | None = None  # how to ask for schema-constrained JSON; None: text formats
    api_key: str | None = None  # resolved when the teacher is opened; never written anywhere
    check_alive: Callable[[], None] | None = None
    batch: BatchSettings | None = None  # set for `generate --batch`: the Batch API, priced at batch prices
    more_endpoints: tuple[tuple[str, str], ...] = ()  # further (base URL, model) pairs sharing the requests

    @property
    def price_known(self) -> bool:
        return self.price is not None

    @property
    def recorded_url(self) -> str | None:
        """Where requests go, as config.json and the dataset card record it: the base URL from --base-url or
        OPENAI_BASE_URL with credentials redacted, the client's default (api.openai.com) when neither is set,
        None for the embedded local model."""
        if self.local:
            return None
        return redact_url(self.base_url) or "https://api.openai.com/v1"

    def require_price(self, flag: str = "--max-usd") -> None:
        """A dollar cap needs a price: say so before anything runs, never count an unknown model as $0."""
        if self.settings.max_usd is not None and self.price is None:
            raise UserError(
                f"{flag}: no built-in price for model '{self.model}'; pass --price-input and --price-output (USD per 1M tokens)"
            )


def local_slots(settings: TeacherSettings) -> int:
    """Requests the local server will decode at once under these settings (its engine's slots)."""
    return engine_slots(settings.local_engine, settings.local_slots or DEFAULT_PARALLEL)


def wants_local(settings: TeacherSettings) -> bool:
    """Whether `auto` resolves to the embedded teacher: no endpoint settings anywhere."""
    if settings.teacher != "auto":
        return settings.teacher == "local"
    configured = settings.base_url or settings.api_key or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    return not configured


def resolve_endpoint(settings: TeacherSettings, batch: BatchSettings | None = None) -> Endpoint:
    """Resolve teacher settings into one Endpoint; contacts nothing and starts nothing.

    With `batch.batch` the endpoint is the provider's Batch API, and its price the batch price.
    """
    if batch is not None and batch.batch:
        if wants_local(settings):
            raise UserError("--batch needs a Batch API endpoint: set OPENAI_API_KEY, or --base-url for a server with /v1/files and /v1/batches")
        online = resolve_endpoint(settings)
        if online.more_endpoints:
            raise UserError("--batch sends to one Batch API endpoint: give one --base-url")
        return replace(
            online,
            price=batch_price(online.price, batch.batch_price_input, batch.batch_price_output),
            description=online.description + " (Batch API, batch prices)",
            batch=batch,
        )
    if wants_local(settings):
        return Endpoint(
            settings=settings,
            local=True,
            model=settings.local_model,
            base_url=None,
            price=(0.0, 0.0),
            concurrency=settings.concurrency or local_slots(settings),
            timeout_s=max(settings.timeout, LOCAL_MIN_TIMEOUT_S),
            description=f"teacher: local llama.cpp, {settings.local_model}",
            structured=_structured(settings, "json_object"),
        )
    base_url = (settings.base_url[0] if settings.base_url else None) or os.environ.get("OPENAI_BASE_URL") or None
    models = settings.models or [DEFAULT_OPENAI_MODEL]
    model = models[0]
    where = redact_url(base_url) or "https://api.openai.com/v1"
    # Further --base-url endpoints share the load, each with its own model or the one given for all.
    more = tuple((url, models[i] if len(models) > 1 else model) for i, url in enumerate(settings.base_url[1:], 1))
    if more:
        where += f" and {len(more)} more endpoint{'s' if len(more) > 1 else ''}"
    return Endpoint(
        settings=settings,
        local=False,
        model=model,
        base_url=base_url,
        price=price_for(model, settings.price_input, settings.price_output),
        concurrency=settings.concurrency or HOSTED_CONCURRENCY,
        timeout_s=settings.timeout,
        description=f"teacher: {model} at {where}",
        # Only OpenAI's own API is known to take a schema; another server gets text formats unless told.
        structured=_structured(settings, "json_schema" if base_url is None or "api.openai.com" in base_url else None),
        more_endpoints=more,
    )


def _structured(settings: TeacherSettings, auto: Structured | None) -> Structured | None:
    """The JSON-schema dialect requests use: the endpoint's own under `auto`, the user's choice otherwise."""
    if settings.api != "chat" or settings.structured == "off":
        return None
    if settings.structured == "auto":
        return auto
    return "json_schema" if settings.structured == "json-schema" else "json_object"


def _api_key(endpoint: Endpoint) -> str:
    settings = endpoint.settings
    key = settings.api_key.get_secret_value() if settings.api_key else os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if endpoint.base_url is None:
        raise UserError(
            "no API key: set OPENAI_API_KEY (or pass --api-key), point --base-url at a server that needs none, "
            "or use --teacher local for the offline model"
        )
    return PLACEHOLDER_KEY


@contextlib.contextmanager
def connect(endpoint: Endpoint, server_log: Path) -> Iterator[Endpoint]:
    """The endpoint made reachable: the local llama.cpp server lives exactly as long as the block."""
    if not endpoint.local:
        yield replace(endpoint, api_key=_api_key(endpoint))
        return
    from selfinstruct.teacher.llama_server import local_server
    from selfinstruct.teacher.packaged import resolve_local_model

    settings = endpoint.settings
    model = resolve_local_model(settings.local_model)
    with local_server(
        model, n_ctx=settings.local_ctx, n_threads=settings.local_threads, engine=settings.local_engine, parallel=settings.local_slots,
        log_path=server_log,
    ) as server:
        yield replace(
            endpoint,
            base_url=server.base_url,
            api_key=server.api_key,
            model=server.model,
            # Unless --concurrency says otherwise, as many requests in flight as the server decodes at once.
            concurrency=settings.concurrency or server.slots,
            description=f"teacher: local llama.cpp, {model.source}, {ENGINE_NAMES[settings.local_engine]}, "
            f"{server.slots} request{'s' if server.slots > 1 else ''} at once",
            check_alive=server.check_alive,
        )


@contextlib.contextmanager
def open_teacher(
    endpoint: Endpoint, *, server_log: Path, log: Callable[[dict[str, Any]], None] = lambda record: None, spent: Usage | None = None,
    run_dir: Path | None = None, holds: HoldJournal | None = None,
) -> Iterator[TeacherSeam]:
    """A teacher on the connected endpoint, its spend caps counting what was `spent` before.

    A batch endpoint gives a BatchTeacher journaling into `run_dir`. With `holds`, an online teacher journals
    each attempt's worst case before sending it (holds.py), so a crash cannot hide what it cost. The caller closes the
    teacher's HTTP client (`await teacher.aclose()`) inside its event loop.
    """
    settings = endpoint.settings
    if run_dir is not None and endpoint.batch is None:
        from selfinstruct.teacher.batch_journal import BatchJournal

        if BatchJournal(run_dir).outstanding():
            raise UserError(f"{run_dir} has batches still out at the provider; rerun with --batch to collect them (or use another --out)")
    with connect(endpoint, server_log) as live:
        spend = SpendTracker(live.price, settings.max_usd, settings.max_total_tokens, spent=spent or Usage())
        if endpoint.batch is not None:
            from selfinstruct.teacher.batch import BatchTeacher

            assert run_dir is not None, "batch mode journals into a run directory"
            yield BatchTeacher(
                model=live.model, base_url=live.base_url, api_key=live.api_key or PLACEHOLDER_KEY, api=settings.api,
                timeout_s=live.timeout_s, max_attempts=settings.max_attempts, spend=spend, log=log,
                description=live.description, structured=live.structured, settings=endpoint.batch, run_dir=run_dir,
            )  # fmt: skip
            return
        yield Teacher(
            model=live.model,
            base_url=live.base_url,
            api_key=live.api_key or PLACEHOLDER_KEY,
            api=settings.api,
            concurrency=live.concurrency,
            timeout_s=live.timeout_s,
            max_attempts=settings.max_attempts,
            retry_wait_s=settings.retry_wait,
            requests_per_minute=settings.requests_per_minute,
            spend=spend,
            log=log,
            on_connection_error=live.check_alive,
            description=live.description,
            structured=live.structured,
            more_endpoints=list(live.more_endpoints),
            concurrency_fixed=settings.concurrency_fixed,
            holds=holds,
        )
