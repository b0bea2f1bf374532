"""What a person watching a long run sees: a live progress bar with ETA and spend, then a summary table."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from selfinstruct.stages.mix import Mix


class RunProgress:
    """A rich progress bar: kept instructions out of the budget, requests in flight, tokens, cost, ETA."""

    def __init__(self, console: Console, budget: int, done: int, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("[bold]instructions"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task("generate", total=budget, completed=done, stats="")

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, done: int, in_flight: int, tokens: int, usd: float, rejected: int, concurrency: int | None = None) -> None:
        """`concurrency`: what the adaptive limit allows right now, shown beside the requests in flight."""
        flight = f"in flight {in_flight}" + (f"/{concurrency}" if concurrency else "")
        stats = f"{flight} · tokens {tokens:,} · ${usd:.4f} · rejected {rejected}"
        self._progress.update(self._task, completed=done, stats=stats)


def _cost(summary: dict[str, Any]) -> str:
    if not summary.get("price_known", True):
        return "unknown: no price for this model (pass --price-input/--price-output)"
    text = f"${summary['usd']:.4f}" + (" at Batch API prices" if summary.get("pricing") == "batch" else "")
    if summary["examples"] and summary.get("usd_per_instruction") is not None:
        text += f"  (${summary['usd_per_instruction']:.5f} per kept instruction, ${summary['usd_per_example']:.5f} per example)"
    return text


def summary_table(summary: dict[str, Any]) -> Table:
    """The end-of-run table: what was asked, made, rejected and paid."""
    table = Table(title=f"selfinstruct generate — {summary['status']}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("run directory", str(summary["run_dir"])),
        ("instructions (budget)", f"{summary['instructions']} / {summary['budget']}"),
        ("examples in alpaca_data.json", str(summary["examples"])),
        ("proposal requests", str(summary["proposal_requests"])),
        ("candidates proposed", str(summary["candidates"])),
        ("kept by filters", str(summary["kept"])),
        ("classification tasks", f"{summary['classification']['yes']} yes / {summary['classification']['no']} no"),
        ("requests, all sessions (retries)", f"{summary['requests']} ({summary['retries']})"),
        ("tokens in / out", f"{summary['tokens']['prompt']:,} / {summary['tokens']['completion']:,}"),
        ("cost", _cost(summary)),
        ("wall time", f"{summary['wall_seconds']:.1f} s this session, {summary['total_wall_seconds']:.1f} s in all"),
    ]
    if "conversations" in summary:  # recipe conversation: its product and turn counts
        per = ", ".join(f"{k}: {v}" for k, v in summary["turns_per_conversation"].items()) or "none"
        rows[1:3] = [
            ("conversations (budget)", f"{summary['conversations']} / {summary['budget']}"),
            ("user turns per conversation", f"{per} (mean {summary['mean_turns']})"),
        ]
        dropped = ", ".join(f"{k} {v}" for k, v in summary["dropped_turns"].items()) or "none"
        again = summary.get("user_turns_asked_again")
        rows[5:6] = [("turns dropped", f"{dropped}; {again} user turns asked again" if again else dropped),
                     ("conversations ended by", ", ".join(f"{k} {v}" for k, v in summary["ended"].items()) or "none")]
    if "examples_per_type" in summary:  # recipe grounded: examples per type and source, and what each check dropped
        def listed(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"

        rows[1:7] = [
            ("examples (budget)", f"{summary['instructions']} / {summary['budget']}"),
            ("question/answer pairs (rows)", str(summary["qa_pairs"])),
            ("examples per type", listed(summary["examples_per_type"])),
            ("contexts used", str(summary["contexts_used"])),
            ("responses requested", str(summary["proposal_requests"])),
            ("answers dropped by check", listed(summary["grounding_checks"])),
        ]
    rows += _teacher_rows(summary)
    verifiers = summary.get("verifiers") or {}
    if verifiers.get("on"):
        dropped = ", ".join(f"{k} {v}" for k, v in verifiers.get("dropped", {}).items()) or "none"
        ran = (verifiers.get("sandbox") or {}).get("runs", 0)
        rows.append(("verifiers dropped", dropped + (f" ({ran} programs run)" if ran else "")))
        agreement = verifiers.get("consistency")
        if agreement and agreement.get("answers"):
            rows.append(("self-consistency", f"{agreement['agreed']} of {agreement['answers']} new answers agreed ({agreement['agreement_rate']:.0%}); "
                                             f"{agreement['dropped']} of {agreement['checked']} short answers dropped"))  # fmt: skip
    mix = summary.get("mix")
    if mix:
        rows.append(("task mix", Mix.model_validate(mix["run"]).line()))
        rows.append(("  seeds' mix", Mix.model_validate(mix["seeds"]).line()))
        if mix.get("gave_way"):
            rows.append(("  mix gave way", mix["gave_way"]))
    gate = summary.get("quality_gate") or {}
    if gate.get("on") and "scored" in gate:
        rows.append(("quality gate", f"{gate['scored']} instances scored, {gate['dropped']} dropped under {gate['min_quality']}"))
    for key, value in rows:
        table.add_row(key, value)
    for reason, count in sorted(summary["rejected"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    return table


def _teacher_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """How requests went out: the adaptive concurrency and its 429s, each endpoint's share, or the batches."""
    rows: list[tuple[str, str]] = []
    conc = summary.get("concurrency")
    if conc and "mode" in conc:
        rows.append(("concurrency", f"{conc['mode']}, up to {conc['max']} of {conc['ceiling']}; 429s {conc['throttled_429']}, timeouts {conc['timeouts']}"))
    elif conc:
        rows.append(("concurrency", f"now {conc['final']} of {conc['ceiling']}; 429s {conc['throttled_429']}, timeouts {conc['timeouts']}"))
    for lane in summary.get("endpoints", []):
        rows.append((f"  endpoint {lane['endpoint']}", f"{lane['served']} answers ({lane['share']:.0%}), {lane['failed']} failures, {lane['cool_downs']} cool-downs"))
    lost = summary.get("lost_in_crash") or {}
    if lost.get("attempts"):
        rows.append(("lost in a crash", _worst(lost, "requests in flight when a session was killed", summary)))
    abandoned = summary.get("abandoned_in_flight") or {}
    if abandoned.get("attempts"):
        rows.append(("abandoned in flight", _worst(abandoned, "requests sent, then given up when the run stopped", summary)))
    if summary.get("batches"):
        states = Counter(b["status"] for b in summary["batches"])
        rows.append(("batches", ", ".join(f"{n} {state}" for state, n in states.most_common())))
    return rows


def _worst(part: dict[str, Any], what: str, summary: dict[str, Any]) -> str:
    """Attempts counted at their worst case (already in the totals): how many, and what they may have cost."""
    money = f", ${part['usd']:.4f}" if summary.get("price_known", True) else ""
    return f"{part['attempts']} {what}; counted at the worst case: {part['prompt_tokens'] + part['completion_tokens']:,} tokens{money}"
