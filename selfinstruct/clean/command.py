"""`selfinstruct clean DATA --out OUT`: find the wrong rows of any instruction or conversation dataset before training.

    summary = run_clean(CleanConfig(data=Path("sharegpt.json"), out=Path("clean.json")))
    summary["rows_in"], summary["rows_kept"], summary["dropped_by_reason"], summary["repairs"]

Top to bottom: read DATA (a bad record stops here, file:line) and repair its conversations as finetune
does; drop near-duplicates and flagged rows (cheap, every row); run the verifiers on what is left, then
the gate, journaling each result in the work directory as it arrives; then write OUT (the kept rows),
OUT-stem.dropped.jsonl (each dropped row with its reasons), OUT-stem.scores.jsonl (one line per input
row: index, kept, score, reasons) and the work directory's summary.json, which `selfinstruct report OUT`
shows as its cleaning section. A cap or Ctrl-C stops the run with every result so far journaled; the
same command resumes it. Nothing is written to OUT until every row is decided.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from selfinstruct.clean.checks import mark_duplicates, mark_flags, verify_rows
from selfinstruct.clean.gate import gate_asks, mark_scores, score_asks
from selfinstruct.clean.journal import load_state, spent_before
from selfinstruct.clean.rows import RowTable, read_rows, reference_texts, write_rows
from selfinstruct.clean.settings import CleanConfig
from selfinstruct.clean.summary import build_summary, print_summary
from selfinstruct.errors import UserError
from selfinstruct.run import CONFIG, SUMMARY, RunDir
from selfinstruct.safe_files import write_jsonl_atomic


def side_paths(out: Path) -> tuple[Path, Path]:
    """OUT-stem.dropped.jsonl and OUT-stem.scores.jsonl, beside OUT."""
    return out.with_name(f"{out.stem}.dropped.jsonl"), out.with_name(f"{out.stem}.scores.jsonl")


def prepare(cfg: CleanConfig, console: Console) -> RowTable:
    """Read DATA and run the cheap checks (repairs, near-duplicates, flags): all a dry run does."""
    assert cfg.data is not None and cfg.out is not None
    dropped, scores = side_paths(cfg.out)
    data_file = cfg.data.resolve()
    for path in (cfg.out, dropped, scores):
        if path.resolve() == data_file:
            raise UserError(f"--out {cfg.out}: {path} would overwrite DATA; choose another name")
    table = read_rows(cfg.data, cfg.format, cfg.limit, cfg.reference_field)
    if cfg.dedup:
        against = [text for path in cfg.against for text in reference_texts(path)]
        mark_duplicates(table.rows, against, cfg.threshold, cfg.tokenizer, engine=cfg.engine, workers=cfg.workers, ray_address=cfg.ray_address)
    if cfg.flags:
        mark_flags(table.rows, cfg.ignore)
    return table


def run_clean(cfg: CleanConfig, console: Console | None = None) -> dict[str, Any]:
    """Clean cfg.data into cfg.out (resuming from the work directory's journal); returns the summary."""
    console = console or Console(stderr=True)
    started = time.monotonic()
    table = prepare(cfg, console)
    if cfg.dry_run:
        from selfinstruct.clean.estimate import print_estimate

        print_estimate(cfg, table, console)
        return {}
    assert cfg.out is not None
    if cfg.gate:
        from selfinstruct.teacher.endpoint import resolve_endpoint

        endpoint = resolve_endpoint(cfg.judge)
        if cfg.judge.max_usd is not None and endpoint.price is None:  # before anything runs: a dollar cap needs the judge's price
            raise UserError(f"--max-usd: no built-in price for the judge model '{endpoint.model}'; pass --judge-price-input and --judge-price-output (USD per 1M tokens)")
    run = RunDir(cfg.work_dir, warn=lambda msg: console.print(f"[yellow]{msg}[/yellow]", soft_wrap=True))
    run.open()
    console.print(f"clean: {len(table.rows):,} {table.format} rows from {table.path}; journal in {run.path} (rerun the same command to resume)",
                  highlight=False, soft_wrap=True)  # fmt: skip
    try:
        run.write_json(CONFIG, cfg.public_dump())
        state = load_state(run.path)
        previous = run.read_json(SUMMARY) or {}
        counts = asyncio.run(_check(cfg, table, run, state, console))
        summary = build_summary(cfg, table, state, counts, time.monotonic() - started + float(previous.get("total_wall_seconds", 0.0)))
        summary["tokens"] = {"prompt": (spent := spent_before(run.path)).prompt_tokens, "completion": spent.completion_tokens,
                             "usd": round(spent.usd, 6)}  # fmt: skip
        _write(cfg, table)
        run.write_json(SUMMARY, summary)
    finally:
        run.close()
    print_summary(summary, console)
    return summary


async def _check(cfg: CleanConfig, table: RowTable, run: RunDir, state: Any, console: Console) -> dict[str, Any]:
    """The verifiers, then the gate, each journaling as it goes; returns what was asked and run now. The judge is
    connected once, when first needed: by the verifiers' checks that ask one (clean/judged.py), or by the gate."""
    from selfinstruct.clean.judged import JudgeEndpoint, arm, judged_tag, wants_judge
    from selfinstruct.teacher.endpoint import resolve_endpoint

    counts: dict[str, Any] = {"verified_now": 0, "scored_now": 0}
    endpoint = resolve_endpoint(cfg.judge) if cfg.gate else None
    judge = JudgeEndpoint(endpoint, run) if endpoint is not None else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        try:
            if cfg.verifiers:
                from selfinstruct.stages.verifiers import Verifier

                verifier = Verifier(run_code=cfg.run_code)
                counts["judged"] = tag = judged_tag(cfg, endpoint.model if endpoint else None)
                if judge is not None and wants_judge(table.rows, state, cfg, tag):
                    arm(verifier, judge.open(), cfg)
                task = progress.add_task("verifiers", total=sum(1 for r in table.rows if r.kept))
                counts["verified_now"] = await verify_rows(table.rows, verifier, state, run.append, lambda: progress.advance(task), cfg.ignore, tag)
                counts["sandbox"] = {**verifier.sandbox, "runs": verifier.runs, "seconds": round(verifier.seconds, 2)} if verifier.runs else None
                counts["sandbox_problem"] = verifier.sandbox_problem
            if judge is not None:
                counts.update(await _gate(cfg, table, run, state, progress, judge))
        finally:
            if judge is not None:
                await judge.aclose()
    return counts


async def _gate(cfg: CleanConfig, table: RowTable, run: RunDir, state: Any, progress: Progress, connection: Any) -> dict[str, Any]:
    from selfinstruct.judge.pointwise import QualityJudge

    endpoint = connection.endpoint
    judge = QualityJudge(None, own_reference=cfg.judge_own_answer)  # type: ignore[arg-type]  # the teacher is opened only when something is left to ask
    asks = gate_asks(table.rows, judge, endpoint.model, cfg)
    missing = {a.key for a in asks if a.key not in state.scored}
    result: dict[str, Any] = {"judge": endpoint.description.replace("teacher:", "judge:", 1), "judge_model": endpoint.model, "scored_now": 0}
    if missing:
        judge.teacher = connection.open()
        task = progress.add_task("gate", total=len(missing))
        result["scored_now"] = await score_asks(asks, judge, state, run.append, lambda: progress.advance(task))
    mark_scores(asks, state, cfg.min_quality)
    result["method"] = "text" if judge.fell_back else judge.method
    result["asks"] = len(asks)
    return result


def _write(cfg: CleanConfig, table: RowTable) -> None:
    assert cfg.out is not None
    dropped_path, scores_path = side_paths(cfg.out)
    write_rows(cfg.out, table, [r for r in table.rows if r.kept])
    write_jsonl_atomic(dropped_path, ({"index": r.index, "where": r.where, "reasons": list(r.reasons), "details": r.reasons, "row": r.value}
                                      for r in table.rows if not r.kept))  # fmt: skip
    write_jsonl_atomic(scores_path, ({"index": r.index, "kept": r.kept, "score": r.score, "reasons": list(r.reasons)} for r in table.rows))


__all__ = ["prepare", "run_clean", "side_paths"]
