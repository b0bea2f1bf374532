"""The checks `clean` runs without a judge: near-duplicates, the report's quality flags, and generate's verifiers.

    mark_duplicates(rows, against_texts, threshold=0.7, tokenizer="rouge")   # reason near_duplicate
    mark_flags(rows, ignore=["media_reference"])                            # reason: the flag's name
    await verify_rows(rows, Verifier(run_code=True), state, run.append)    # reason: the verifier's

Each marks the rows it drops (CleanRow.drop: reason and a readable detail). Dedup and the flags
look at every row; the verifiers only at rows still kept, every exchange of a conversation until
one fails. In a conversation, only the first user turn must carry its own material ("Summarize the
following article"): a later turn may work on what came before, and is checked with it as its input
when the rule asks for one; its code may use names an earlier turn defined.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from selfinstruct.clean.journal import CleanState, Verified, verified_key
from selfinstruct.clean.rows import CleanRow, Exchange
from selfinstruct.dedup import find_duplicates
from selfinstruct.records import Instance, normalize_input
from selfinstruct.report.flags import flag_row
from selfinstruct.report.source import Row
from selfinstruct.rouge.engine import Engine
from selfinstruct.stages.verifiers import Verifier

NEAR_DUPLICATE = "near_duplicate"
CLIP = 120


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CLIP else text[: CLIP - 1] + "…"


def mark_duplicates(rows: list[CleanRow], against: list[str], threshold: float = 0.7, tokenizer: str = "rouge",
                    progress: Callable[[int], None] | None = None, *, engine: Engine = "local", workers: int | None = None,
                    ray_address: str | None = None) -> None:  # fmt: skip
    """Greedy near-duplicate removal in row order, through `selfinstruct dedup`'s engine.

    Alpaca rows are compared by instruction, each distinct instruction once: rows sharing an instruction are its
    instances, and one whose input repeats an earlier kept instance's is a duplicate. Conversations are compared
    by their first exchange, the user's request and the answer ("Continue" opens many a shared conversation that
    is no copy of another). Rows already dropped (nothing to train on) take no part.
    """
    candidates = [r for r in rows if r.kept and r.dedup_text]
    first_of: dict[str, CleanRow] = {}
    distinct: list[str] = []
    alpaca = any(r.messages is None for r in candidates)
    for row in candidates:
        if not alpaca or row.dedup_text not in first_of:
            first_of.setdefault(row.dedup_text, row)
            distinct.append(row.dedup_text)
    verdicts = find_duplicates(distinct, against, threshold, tokenizer, progress, engine=engine, workers=workers,  # type: ignore[arg-type]
                               ray_address=ray_address)
    against_set = set(against)
    if alpaca:
        duplicate = {text: v for text, v in zip(distinct, verdicts) if v.is_duplicate}
        inputs: dict[str, set[str]] = {}
        for row in candidates:
            verdict = duplicate.get(row.dedup_text)
            if verdict is not None:
                row.drop(NEAR_DUPLICATE, _detail(verdict.most_similar, verdict.score, first_of, against_set))
                continue
            seen = inputs.setdefault(row.dedup_text, set())
            given = normalize_input(row.exchanges[0].input)
            if given in seen:
                row.drop(NEAR_DUPLICATE, f"the same instruction and input as row {first_of[row.dedup_text].index} or one of its instances")
            else:
                seen.add(given)
        return
    for row, verdict in zip(candidates, verdicts):
        if verdict.is_duplicate:
            row.drop(NEAR_DUPLICATE, _detail(verdict.most_similar, verdict.score, first_of, against_set))


def _detail(similar: str | None, score: float, first_of: dict[str, CleanRow], against: set[str]) -> str:
    match = first_of.get(similar or "")
    where = f"row {match.index}" if match is not None and similar not in against else "--against"
    return f"ROUGE-L F {score:.3f} with {where}: {_clip(similar or '')!r}"


def mark_flags(rows: list[CleanRow], ignore: list[str] = ()) -> None:  # type: ignore[assignment]
    """Every quality flag of every exchange. In a conversation only the answers are flagged (an echo of the request
    included): the user turns are what a person asked, about a picture or in a numbered list as people do, and chat
    training learns only the assistant's turns."""
    for row in rows:
        for turn, exchange in enumerate(row.exchanges):
            for flag in flag_row(Row(instruction=exchange.instruction, input=exchange.input, output=exchange.output)):
                if flag.name not in ignore and (row.messages is None or flag.field == "output"):
                    row.drop(flag.name, f"{_turn(row, turn)}{flag.field}: {flag.detail}")


def _turn(row: CleanRow, turn: int) -> str:
    return f"turn {turn + 1}, " if row.messages is not None else ""


async def verify_rows(rows: list[CleanRow], verifier: Verifier, state: CleanState, append: Callable[[Any], Any],
                      progress: Callable[[], None] | None = None, ignore: list[str] = (), judged: str = "") -> int:  # type: ignore[assignment]  # fmt: skip
    """Run the verifiers on every exchange of every kept row not yet journaled; returns how many were checked now.

    A reason in `ignore` drops nothing (the journal still holds it, so a rerun without it decides again unasked).
    `judged`: the judge the checks that ask one are armed with (clean/judged.py), part of each verdict's key."""
    checked = 0

    async def one(exchange: Exchange, later: bool) -> Verified:
        nonlocal checked
        # A later turn's code may go on from an earlier turn's (its names are defined there).
        context = exchange.context if later else ""
        key = verified_key(exchange.instruction, exchange.input, exchange.output, verifier.run_code, context, judged)
        if key in state.verified:
            return state.verified[key]
        reason, detail, checks = await verifier.check(exchange.instruction, Instance(input=exchange.input, output=exchange.output), context=context)
        if reason == "needs_input" and later and exchange.context:
            # A later turn works on the conversation before it; with that as its input, the other checks still run.
            reason, detail, checks = await verifier.check(exchange.instruction, Instance(input=exchange.context, output=exchange.output), context=context)
        record = Verified(key=key, reason=reason, detail=detail, checks=checks)
        append(record)
        state.add(record)
        checked += 1
        return record

    async def row_verdict(row: CleanRow) -> None:
        for turn, exchange in enumerate(row.exchanges):
            verdict = await one(exchange, later=turn > 0)
            if verdict.reason is not None and verdict.reason not in ignore:
                row.drop(verdict.reason, f"{_turn(row, turn)}{verdict.detail or verdict.reason}")
                break
        if progress is not None:
            progress()

    await asyncio.gather(*(row_verdict(r) for r in rows if r.kept))
    return checked


def verifier_checks(rows: list[CleanRow], state: CleanState, run_code: bool, judged: str = "") -> dict[str, int]:
    """What the kept rows' exchanges passed or were left alone with (code run, output matched, other languages)."""
    counts: dict[str, int] = {}
    for row in rows:
        if not row.kept:
            continue
        for turn, exchange in enumerate(row.exchanges):
            context = exchange.context if turn else ""
            record = state.verified.get(verified_key(exchange.instruction, exchange.input, exchange.output, run_code, context, judged))
            for check in record.checks if record else []:
                counts[check] = counts.get(check, 0) + 1
    return dict(sorted(counts.items()))
