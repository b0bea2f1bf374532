"""gather_all: run awaitables together so that one failure stops and awaits the rest (no request outlives it).

Stages, recipes and the generate driver all wait on groups of teacher requests through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def gather_all(*work: Awaitable[T]) -> list[T]:
    """asyncio.gather, except that the first failure cancels the rest and waits for them before it is
    raised: no request outlives a failed step (a dead server, a cap) to fail later, unheard."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
