"""What a provider's response headers say about its rate limit: x-ratelimit-* per kind, and Retry-After.

    budget = read_budget(headers, "requests")    # Budget(limit=60, remaining=12, reset_s=6.0) or None
    budget = read_budget(headers, "tokens")
    retry_after_s(headers)                        # Retry-After (seconds or an HTTP date) or retry-after-ms

Reset times come as "1s", "6m0s", "20ms", "1h2m3.5s" (OpenAI's duration format), a bare number of
seconds, or (some gateways) a Unix time or an RFC 3339 date; all read as seconds from now. As OpenAI
documents it, the reset is the time until the limit is back to its initial state (the whole limit left).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
# A bare number this large is a Unix time, not a duration (about 3 years of seconds).
_EPOCH_AFTER = 1e8


def parse_reset(value: str | None) -> float | None:
    """Seconds from now in an x-ratelimit-reset-* value: "1s", "6m0s", "20ms", "1h2m3.5s", "0.5", a Unix time
    or an RFC 3339 date; None when it cannot be read."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, number - time.time()) if number > _EPOCH_AFTER else max(0.0, number)
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value.replace(" ", ""):
        return sum(float(number) * _UNITS[unit] for number, unit in parts)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, at.timestamp() - time.time()) if at.tzinfo else None


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a 429 (or 503) asks to wait: retry-after-ms, else Retry-After in seconds or as an HTTP date."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            ms = float(value)
        except ValueError:
            ms = -1.0
        if ms >= 0:
            return ms / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            at = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = at.timestamp() - time.time() if at.tzinfo else -1.0
        seconds = max(0.0, seconds)
    return seconds if seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class Budget:
    """One kind of limit as a response reported it: its size, what is left, and seconds until it is whole again."""

    limit: float
    remaining: float
    reset_s: float | None


def read_budget(headers: Mapping[str, str] | None, kind: str) -> Budget | None:
    """The x-ratelimit-{limit,remaining,reset}-{kind} headers ("requests" or "tokens"), or None when absent."""
    if not headers:
        return None
    limit_text = headers.get(f"x-ratelimit-limit-{kind}")  # most answers carry none: no exception raised for each
    remaining_text = headers.get(f"x-ratelimit-remaining-{kind}")
    if limit_text is None or remaining_text is None:
        return None
    try:
        limit, remaining = float(limit_text), float(remaining_text)
    except (ValueError, TypeError):
        return None
    if limit <= 0:
        return None
    return Budget(limit, max(0.0, remaining), parse_reset(headers.get(f"x-ratelimit-reset-{kind}")))
