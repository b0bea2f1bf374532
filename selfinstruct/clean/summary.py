"""What a clean run found, as summary.json holds it and as the terminal and the report show it.

    summary = build_summary(cfg, table, state, counts, seconds)
    summary["dropped_by_reason"]     # {"near_duplicate": 12, "low_quality": 3, ...}: rows, by each reason they have
    print_summary(summary, console)

A row dropped for several reasons counts under each; `rows_dropped` counts it once. Examples (the
first few rows of each reason, clipped) go with it, so the report's section needs nothing else.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from selfinstruct.clean.checks import verifier_checks
from selfinstruct.clean.journal import CleanState
from selfinstruct.clean.rows import CleanRow, RowTable
from selfinstruct.clean.settings import CleanConfig
from selfinstruct.finetune.repair import REPAIRS

EXAMPLES_PER_REASON = 3
CLIP = 300


def _clip(text: str) -> str:
    return text if len(text) <= CLIP else text[:CLIP] + "…"


def example(row: CleanRow, reason: str) -> dict[str, Any]:
    """One dropped row as the report shows it: where, its first request and answer, and why."""
    first = row.exchanges[0] if row.exchanges else None
    return {"index": row.index, "instruction": _clip(first.instruction if first else ""), "input": _clip(first.input if first else ""),
            "output": _clip(first.output if first else ""), "detail": _clip(row.reasons[reason])}  # fmt: skip


def build_summary(cfg: CleanConfig, table: RowTable, state: CleanState, counts: dict[str, Any], seconds: float) -> dict[str, Any]:
    rows = table.rows
    kept = [r for r in rows if r.kept]
    by_reason: Counter[str] = Counter(reason for r in rows for reason in r.reasons)
    examples: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for reason in row.reasons:
            if len(examples.setdefault(reason, [])) < EXAMPLES_PER_REASON:
                examples[reason].append(example(row, reason))
    repairs = table.repairs
    scored = [r.score for r in rows if r.score is not None]
    summary: dict[str, Any] = {
        "data": str(table.path), "format": table.format, "out": str(cfg.out), "rows_in": len(rows), "rows_in_file": table.total,
        "rows_kept": len(kept), "rows_dropped": len(rows) - len(kept),
        "dropped_by_reason": dict(by_reason.most_common()),
        "repairs": {name: repairs[name] for name in REPAIRS if repairs[name]},
        "rows_repaired": sum(1 for r in rows if r.repairs),
        "checks": {"dedup": cfg.dedup, "flags": cfg.flags, "ignored": cfg.ignore, "verifiers": cfg.verifiers, "run_code": cfg.run_code,
                   "gate": cfg.gate},
        "verifiers": {"checked_now": counts.get("verified_now", 0), "judged": counts.get("judged") or None,
                      "kept_rows_checks": verifier_checks(rows, state, cfg.run_code, counts.get("judged", ""))},
        "examples": examples,
        "total_wall_seconds": round(seconds, 2),
    }  # fmt: skip
    for key in ("sandbox", "sandbox_problem"):
        if counts.get(key):
            summary["verifiers"][key] = counts[key]
    if cfg.gate:
        summary["gate"] = {
            "judge": counts.get("judge"), "model": counts.get("judge_model"), "method": counts.get("method"), "min_quality": cfg.min_quality,
            "exchanges": counts.get("asks", 0), "asked_now": counts.get("scored_now", 0), "rows_scored": len(scored),
            "mean_score": round(sum(scored) / len(scored), 3) if scored else None,
        }  # fmt: skip
    return summary


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """The table a clean run ends with: rows in and out, drops and repairs by reason, the gate, and where the files are."""
    table = Table(title=f"selfinstruct clean — {summary['data']}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column()
    share = summary["rows_dropped"] / summary["rows_in"] if summary["rows_in"] else 0.0
    table.add_row("rows in", f"{summary['rows_in']:,}", summary["format"] + (f" (first {summary['rows_in']:,} of {summary['rows_in_file']:,})"
                  if summary["rows_in_file"] != summary["rows_in"] else ""))  # fmt: skip
    table.add_row("rows kept", f"{summary['rows_kept']:,}", f"{summary['rows_dropped']:,} dropped ({share:.1%})")
    for reason, n in summary["dropped_by_reason"].items():
        table.add_row(f"  dropped: {reason}", f"{n:,}", "")
    for name, n in summary["repairs"].items():
        table.add_row(f"  repaired: {name.replace('_', ' ')}", f"{n:,}", "")
    gate = summary.get("gate")
    if gate:
        mean = f"mean {gate['mean_score']:.2f}" if gate["mean_score"] is not None else "none scored"
        table.add_row("gate", f"{gate['rows_scored']:,}", f"rows scored ({gate['method']} scores, {mean}; {gate['asked_now']:,} asked now; {gate['judge']})")
    sandbox = summary["verifiers"].get("sandbox")
    if sandbox:
        table.add_row("sandbox", f"{sandbox['runs']:,}", f"programs run now, {sandbox['seconds']:.1f} s")
    table.add_row("time", f"{summary['total_wall_seconds']:.0f} s", "")
    console.print(table)
    if summary["verifiers"].get("sandbox_problem"):
        console.print(f"[yellow]warning: {summary['verifiers']['sandbox_problem']}[/yellow]", soft_wrap=True)
