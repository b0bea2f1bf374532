"""Decide which teacher a run talks to: a configured OpenAI-compatible endpoint, or the embedded local one.

`--teacher auto` (the default) uses OpenAI-compatible settings when any are given (flags or the
`openai` client's own OPENAI_API_KEY / OPENAI_BASE_URL), and otherwise starts the packaged
llama.cpp model, so a fresh machine with no key and no network still runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from selfinstruct.config import GenerateConfig, redact_url
from selfinstruct.errors import UserError

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# llama.cpp and most self-hosted servers accept any key, but the client insists on one.
PLACEHOLDER_KEY = "not-needed"


@dataclass
class Endpoint:
    """Where requests go, plus a one-line description for the user."""

    base_url: str | None
    api_key: str
    model: str
    description: str
    local: bool = False
    check_alive: Callable[[], None] | None = None


def wants_local(cfg: GenerateConfig) -> bool:
    """Whether `auto` resolves to the embedded teacher: no endpoint settings anywhere."""
    if cfg.teacher != "auto":
        return cfg.teacher == "local"
    configured = cfg.base_url or cfg.api_key or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    return not configured


def _openai_endpoint(cfg: GenerateConfig) -> Endpoint:
    base_url = cfg.base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = cfg.api_key.get_secret_value() if cfg.api_key else os.environ.get("OPENAI_API_KEY")
    if not key:
        if base_url is None:
            raise UserError(
                "no API key: set OPENAI_API_KEY (or pass --api-key), point --base-url at a server that needs none, "
                "or use --teacher local for the offline model"
            )
        key = PLACEHOLDER_KEY
    model = cfg.model or DEFAULT_OPENAI_MODEL
    where = redact_url(base_url) or "https://api.openai.com/v1"
    return Endpoint(base_url=base_url, api_key=key, model=model, description=f"teacher: {model} at {where}")


@contextlib.contextmanager
def open_endpoint(cfg: GenerateConfig, log_path: Path) -> Iterator[Endpoint]:
    """Yield the endpoint for this run; a local llama.cpp server lives exactly as long as the block."""
    if not wants_local(cfg):
        yield _openai_endpoint(cfg)
        return
    from selfinstruct.teacher.packaged import resolve_local_model
    from selfinstruct.teacher.llama_server import local_server

    model = resolve_local_model(cfg.local_model)
    with local_server(model, n_ctx=cfg.local_ctx, n_threads=cfg.local_threads, log_path=log_path) as server:
        yield Endpoint(
            base_url=server.base_url,
            api_key=server.api_key,
            model=server.model,
            description=f"teacher: local llama.cpp, {model.source}",
            local=True,
            check_alive=server.check_alive,
        )
