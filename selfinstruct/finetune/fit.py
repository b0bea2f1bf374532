"""Make an over-long single-turn row fit --max-length: shorten its input from the middle, so the response keeps room.

    text, cut = fit_input(tokenizer, example, prompt_length, max_length)   # text None: drop the row

The response keeps at least a quarter of max_length (or all of it, if it is shorter than that):
when the prompt would leave less, the input loses tokens from its middle, replaced by INPUT_CUT,
so both its beginning (what it is) and its end (often the question) survive. A row is dropped only
when its instruction alone, with no input, leaves less than that room. The caller warns and counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selfinstruct.records import AlpacaExample

INPUT_CUT = "\n[...]\n"


def response_room(tokenizer: Any, output: str, max_length: int) -> int:
    """Tokens the response must keep: all of it with its end token, at most a quarter of max_length."""
    needed = len(tokenizer(output, add_special_tokens=False)["input_ids"]) + 1
    return min(needed, max_length // 4)


def fit_input(tokenizer: Any, example: AlpacaExample, prompt_length: Callable[[str], int], max_length: int) -> tuple[str | None, bool]:
    """(input to train with, whether it was shortened); (None, False) when the instruction alone does not fit.

    `prompt_length(input)` is the prompt's length in tokens with that input.
    """
    limit = max_length - response_room(tokenizer, example.output, max_length)
    if prompt_length(example.input) <= limit:
        return example.input, False
    if prompt_length("") > limit:
        return None, False
    ids = tokenizer(example.input, add_special_tokens=False)["input_ids"]
    low, high = 0, len(ids) - 1
    while low < high:  # the most input tokens that still fit
        mid = (low + high + 1) // 2
        if prompt_length(_middle_cut(tokenizer, ids, mid)) <= limit:
            low = mid
        else:
            high = mid - 1
    shortened = _middle_cut(tokenizer, ids, low)
    return (shortened if prompt_length(shortened) <= limit else ""), True


def _middle_cut(tokenizer: Any, ids: list[int], keep: int) -> str:
    head, tail = keep - keep // 2, keep // 2
    text = tokenizer.decode(ids[:head]) + INPUT_CUT + (tokenizer.decode(ids[len(ids) - tail :]) if tail else "")
    return text.strip()
