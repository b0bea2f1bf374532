"""`selfinstruct status RUN_DIR`: where a generate run stands, read from its files; contacts nothing.

    selfinstruct status outputs/run-20260101-120000

Prints the run's last summary (what the budget counts, done and asked; spend) and, for a `--batch` run, one row per batch:
its state as last polled, its request counts, and how long it has waited (or waited in all).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from selfinstruct.errors import UserError
from selfinstruct.generate.settings import StatusConfig
from selfinstruct.run import CONFIG, JOURNAL, SUMMARY
from selfinstruct.teacher.batch_journal import BatchJournal


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _unit(run: Path) -> str:
    """What the run's --budget counts (instructions, examples, conversations), from the recipe in its config."""
    from selfinstruct.recipes import budget_unit

    try:
        recipe = json.loads((run / CONFIG).read_text(encoding="utf-8")).get("recipe")
    except (OSError, ValueError, AttributeError):
        recipe = None
    return budget_unit(recipe if isinstance(recipe, str) else None)


def print_status(cfg: StatusConfig, console: Console | None = None) -> None:
    console = console or Console(soft_wrap=True)
    run = cfg.run_dir
    if not run.is_dir() or not ((run / CONFIG).exists() or (run / JOURNAL).exists()):
        raise UserError(f"{run}: not a generate run directory (no config.json or journal.jsonl)")
    try:
        summary = json.loads((run / SUMMARY).read_text(encoding="utf-8")) if (run / SUMMARY).exists() else {}
    except ValueError:
        summary = {}
    console.print(f"run {run}", highlight=False)
    if summary:
        console.print(
            f"last session: {summary.get('status')}; {summary.get('instructions', 0)} of {summary.get('budget', '?')} {_unit(run)}, "
            f"${summary.get('usd', 0.0):.4f} spent" + (" at Batch API prices" if summary.get("pricing") == "batch" else ""),
            highlight=False,
        )
    journal = BatchJournal(run)
    if not journal.entries:
        console.print("no Batch API batches in this run", highlight=False)
        return
    table = Table(title="batches")
    for name in ("batch", "status", "requests", "completed", "failed", "waiting", "results"):
        table.add_column(name, justify="left" if name in ("batch", "status", "results") else "right")
    now = time.time()
    for entry in journal.entries.values():
        waited = _duration(entry.waiting_s(now)) + ("" if entry.terminal else " so far")
        results = "logged" if entry.settled else ("to collect on rerun" if entry.terminal else "out")
        table.add_row(
            entry.batch_id, entry.status + (f" ({entry.errors})" if entry.errors else ""), f"{entry.requests:,}",
            str(entry.counts.get("completed", 0)), str(entry.counts.get("failed", 0)), waited, results,
        )  # fmt: skip
    console.print(table)
    out = [e for e in journal.entries.values() if not e.settled]
    if out:
        console.print(f"{len(out)} batch{'es' if len(out) > 1 else ''} still to collect: rerun the same generate command (with --batch) to poll and resume",
                      highlight=False)  # fmt: skip
