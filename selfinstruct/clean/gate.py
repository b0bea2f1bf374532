"""The quality gate on existing rows: the judge scores each exchange 1-5 (judge/pointwise.py), the weak rows go.

    asks = gate_asks(rows, judge, cfg)                # what to ask: one prompt per exchange of each kept row
    await score_asks(asks, judge, state, run.append)  # asked and journaled, unless the journal has it
    mark_scores(rows, asks, state, min_quality=3.5)   # row.score: its lowest exchange's; low_quality below the bar

Scores are G-Eval's expected score over the digit probabilities where the endpoint sends them, against
the row's reference answer when it has one (as generate's gate). A conversation's exchange shows its
earlier turns as the input. Text too long for the judge's context is shortened in the middle, marked,
to fit --gate-prompt-tokens. A score the judge could not give keeps the row (a gate must not drop data
because the judge failed), as in generate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selfinstruct.clean.journal import CleanState, Scored, score_key
from selfinstruct.clean.rows import CleanRow, Exchange
from selfinstruct.clean.settings import CleanConfig
from selfinstruct.judge.pointwise import QualityJudge
from selfinstruct.teacher.spend import count_tokens

LOW_QUALITY = "low_quality"
# Shares of --gate-prompt-tokens each part may take when the whole does not fit.
SHARES = {"instruction": 0.3, "input": 0.2, "output": 0.5}


@dataclass
class Ask:
    """One exchange to score: the row and turn it belongs to, what the judge sees, and its journal key."""

    row: CleanRow
    turn: int
    instruction: str
    input: str
    output: str
    reference: str | None
    key: str


def shorten(text: str, tokens: int) -> str:
    """The text, or its start and end with a marker between them when it has more than `tokens` tokens."""
    have = count_tokens(text)
    if have <= tokens:
        return text
    keep = max(40, int(len(text) * tokens / have))
    head, tail = text[: keep * 2 // 3], text[len(text) - keep // 3 :]
    return f"{head}\n[... {len(text) - len(head) - len(tail)} characters left out ...]\n{tail}"


def fit(exchange: Exchange, budget: int) -> tuple[str, str, str, str | None]:
    """(instruction, input, output, reference) as the judge sees them: whole when they fit the budget, else each shortened to its share."""
    given = exchange.context if exchange.context else exchange.input
    parts = {"instruction": exchange.instruction, "input": given, "output": exchange.output}
    if exchange.reference:
        parts["reference"] = exchange.reference
    if sum(count_tokens(t) for t in parts.values()) <= budget:
        return parts["instruction"], parts["input"], parts["output"], parts.get("reference")
    shares = dict(SHARES)
    if "reference" in parts:
        shares["output"] = shares["reference"] = SHARES["output"] / 2
    short = {name: shorten(text, int(budget * shares[name])) for name, text in parts.items()}
    return short["instruction"], short["input"], short["output"], short.get("reference")


def gate_asks(rows: list[CleanRow], judge: QualityJudge, model: str, cfg: CleanConfig) -> list[Ask]:
    """One ask per exchange of each row still kept (the first --gate-turns of a conversation)."""
    asks = []
    for row in rows:
        if not row.kept:
            continue
        for turn, exchange in enumerate(row.exchanges[: cfg.gate_turns]):
            instruction, given, output, reference = fit(exchange, cfg.gate_prompt_tokens)
            prompt = judge.score_prompt(instruction, given, output, reference) if judge.method == "probability" else judge.prompt(instruction, given, output)
            # With its own answer the judge sees more than this prompt; a score asked without it is another score.
            method = f"{judge.method}+own" if judge.own_reference and not reference else judge.method
            asks.append(Ask(row, turn, instruction, given, output, reference, score_key(model, method, prompt)))
    return asks


async def score_asks(asks: list[Ask], judge: QualityJudge, state: CleanState, append: Callable[[Any], Any],
                     progress: Callable[[], None] | None = None) -> int:  # fmt: skip
    """Ask the judge for every score the journal lacks (each distinct prompt once); returns how many were asked."""
    pending: dict[str, Ask] = {}
    for ask in asks:
        if ask.key not in state.scored:
            pending.setdefault(ask.key, ask)

    async def one(ask: Ask) -> None:
        scored = await judge.score(ask.instruction, ask.input, ask.output, ask.reference)
        record = Scored(key=ask.key, score=scored.score, expected=scored.expected, method=judge.method if not judge.fell_back else "text",
                        reason=scored.reason)  # fmt: skip
        append(record)
        state.add(record)
        if progress is not None:
            progress()

    tasks = [asyncio.ensure_future(one(a)) for a in pending.values()]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # A cap or Ctrl-C: stop the rest, and collect every task's outcome so none is left unretrieved.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return len(pending)


def mark_scores(asks: list[Ask], state: CleanState, min_quality: float) -> None:
    """Each row's score (its lowest exchange's), and low_quality for a row under the bar."""
    lowest: dict[int, tuple[float, int, Scored]] = {}
    rows: dict[int, CleanRow] = {}
    for ask in asks:
        scored = state.scored.get(ask.key)
        if scored is None or scored.value is None:
            continue
        rows[ask.row.index] = ask.row
        if ask.row.index not in lowest or scored.value < lowest[ask.row.index][0]:
            lowest[ask.row.index] = (scored.value, ask.turn, scored)
    for index, (value, turn, scored) in lowest.items():
        row = rows[index]
        row.score = round(value, 3)
        if value < min_quality:
            where = f"turn {turn + 1}: " if row.messages is not None else ""
            row.drop(LOW_QUALITY, f"{where}score {value:.3f} < {min_quality:g} ({scored.reason})")
