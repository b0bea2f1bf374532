"""`selfinstruct generate`: validate inputs, open the run directory, start the teacher, run the stages, report.

    selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 500

The recipe (recipes/) says what is asked and kept, pipeline.py schedules it; this module owns
everything around them: resuming a directory, spend already paid, the teacher's lifetime, and
the files a finished or stopped run leaves behind (alpaca_data.json only once the budget is met;
summary.json always).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from selfinstruct.errors import UserError
from selfinstruct.generate.pipeline import Pipeline, quiet_collector
from selfinstruct.generate.progress import RunProgress, summary_table
from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.judge.pointwise import QualityJudge
from selfinstruct.recipes import RECIPES, budget_unit
from selfinstruct.recipes.base import Recipe
from selfinstruct.records import SeedTask, read_seed_tasks
from selfinstruct.run import CONFIG, REQUESTS, SUMMARY, RunDir, RunState
from selfinstruct.safe_files import JsonlReader
from selfinstruct.stages.filters import read_keywords
from selfinstruct.stages.quality_gate import QUALITY_STAGE, gate_counts, quality_gate_on, seed_answers
from selfinstruct.stages.verifiers import Verifier, verifier_summary
from selfinstruct.teacher.endpoint import Endpoint, open_teacher, resolve_endpoint
from selfinstruct.teacher.holds import Hold, HoldJournal, lost_in_crash
from selfinstruct.teacher.seam import TeacherSeam
from selfinstruct.teacher.spend import Usage
from selfinstruct.templates import Templates


@dataclass
class _Session:
    """One invocation over a run directory: what it was given, what it found, and when it started."""

    cfg: GenerateConfig
    endpoint: Endpoint
    recipe: Recipe
    run: RunDir
    state: RunState
    seeds: list[SeedTask]
    console: Console
    prior_usage: Usage
    prior_wall: float
    judge_usage: Usage = field(default_factory=Usage)  # a separate quality judge's earlier spend
    lost: list[Hold] = field(default_factory=list)  # attempts in flight when an earlier session crashed
    holds: HoldJournal | None = None  # where this session's attempts journal their worst case
    verifier: Verifier | None = None  # the verifiers stage of this session's driver (its sandbox time)
    started: float = field(default_factory=time.monotonic)


def generate(cfg: GenerateConfig, console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) generation into cfg.out; returns the summary. Raises our error classes on failure."""
    with quiet_collector():  # before setup, whose allocations would otherwise collect the imports' objects in full
        return _generate(cfg, console or Console(stderr=True))


def _generate(cfg: GenerateConfig, console: Console) -> dict[str, Any]:
    recipe = RECIPES[cfg.recipe]
    seeds = read_seed_tasks(cfg.seeds) if cfg.seeds is not None else []  # a recipe may not need them (grounded)
    templates = Templates(cfg.prompts, recipe.TEMPLATES, cfg.language)
    recipe.check_inputs(cfg)  # a recipe's own inputs (grounded: --context) fail before anything is created or sent
    if cfg.keywords is not None:
        read_keywords(cfg.keywords)  # a bad --keywords file fails before anything is created or sent
    endpoint = resolve_endpoint(cfg.teacher, cfg.batch_api)
    endpoint.require_price()
    run = RunDir(cfg.out, warn=lambda msg: console.print(f"[yellow]{msg}[/yellow]"))
    run.open()
    # Only once the inputs are known good, so a bad input is reported as one line and nothing else.
    console.print(f"run directory: {cfg.out}  (rerun with --out {cfg.out} to resume)", highlight=False, soft_wrap=True)
    if cfg.foreign_language:
        console.print(
            f"language {cfg.language}: near-duplicates are found with the {cfg.rouge_tokenizer} tokenizer"
            + (" (words of any script; not rouge_score-compatible)" if cfg.rouge_tokenizer == "unicode" else "")
            + "; instructions may start with any character",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
    try:
        _check_resumable(run, cfg)
        state = run.load_state()
        run.write_json(CONFIG, {**cfg.public_dump(), "resolved_endpoint": endpoint.recorded_url})
        usage, judge_usage, wall, lost = _prior_usage(run, separate_judge=not cfg.judge_is_teacher)
        session = _Session(cfg, endpoint, recipe, run, state, seeds, console, usage, wall, judge_usage, lost)
        if lost:
            worst = sum((h.usage() for h in lost), Usage())
            console.print(
                f"{len(lost)} request{'s were' if len(lost) > 1 else ' was'} in flight when an earlier session crashed: counted as spent "
                f"at the worst case ({worst.total_tokens:,} tokens" + (f", ${worst.usd:.4f})" if endpoint.price_known else ")"),
                highlight=False, soft_wrap=True,
            )  # fmt: skip
        if len(state.done_ids()) >= cfg.budget:
            return _complete(session, None)
        with contextlib.ExitStack() as stack:
            holds = HoldJournal(run.path)
            stack.callback(holds.close)
            session.holds = holds
            teacher = stack.enter_context(
                open_teacher(endpoint, server_log=run.path / "teacher.log", log=run.log_request, spent=usage, run_dir=run.path, holds=holds)
            )
            console.print(teacher.description, highlight=False)
            judge = _open_quality_judge(session, teacher, stack)
            if state.candidates:
                console.print(f"resuming: {len(state.done_ids())} of {cfg.budget} {budget_unit(cfg.recipe)} already finished", highlight=False)
            return asyncio.run(_drive(session, templates, teacher, judge))
    finally:
        run.close()


def _open_quality_judge(session: _Session, teacher: TeacherSeam, stack: contextlib.ExitStack) -> QualityJudge | None:
    """The gate's judge: the teacher itself unless --judge-* settings name another endpoint, opened on `stack`."""
    cfg = session.cfg
    if not quality_gate_on(cfg, session.endpoint, session.recipe):
        return None
    known = seed_answers(session.seeds)
    if cfg.judge_is_teacher:
        return QualityJudge(teacher, cfg.prompts, own_reference=cfg.judge_own_answer, references=known)
    endpoint = resolve_endpoint(cfg.judge)
    endpoint.require_price("--judge-max-usd")
    judge = stack.enter_context(
        open_teacher(endpoint, server_log=session.run.path / "judge.log", log=session.run.log_request, spent=session.judge_usage, holds=session.holds)
    )
    session.console.print(judge.description.replace("teacher:", "quality judge:", 1), highlight=False)
    return QualityJudge(judge, cfg.prompts, own_reference=cfg.judge_own_answer, references=known)


async def _drive(session: _Session, templates: Templates, teacher: TeacherSeam, judge: QualityJudge | None) -> dict[str, Any]:
    cfg = session.cfg
    pipeline = Pipeline(cfg, session.recipe, session.run, session.state, session.seeds, templates, teacher, judge, unit=budget_unit(cfg.recipe))
    session.verifier = pipeline.verifier
    try:
        with RunProgress(session.console, cfg.budget, pipeline.done, enabled=session.console.is_terminal) as progress:
            await pipeline.run(progress)
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
            status = "stopped: interrupted"  # Ctrl-C reaches us as the main task's cancellation
        else:
            status = "stopped: " + (str(exc).split(";")[0] if str(exc) else type(exc).__name__)
        _write_summary(session, teacher, status, judge)
        raise
    finally:
        await teacher.aclose()
        if judge is not None and judge.teacher is not teacher:
            await judge.teacher.aclose()
    return _complete(session, teacher, judge)


def _check_resumable(run: RunDir, cfg: GenerateConfig) -> None:
    previous = run.read_json(CONFIG)
    if not previous:
        return
    for key, value in cfg.identity().items():
        if previous.get(key) != value:
            raise UserError(
                f"{run.path} holds a run with {key}={previous.get(key)!r}, not {value!r}; use another --out or the same settings"
            )


def _prior_usage(run: RunDir, separate_judge: bool) -> tuple[Usage, Usage, float, list[Hold]]:
    """Tokens and dollars already spent in this directory (the teacher's, and a separate judge's), so
    caps and totals cover the whole run, the wall time of earlier sessions, and the attempts a crash
    left unsettled (holds.py), which count as spent at their worst case."""
    usage, judge = Usage(), Usage()
    settled: set[int] = set()
    for rec in JsonlReader(run.path / REQUESTS, damaged="unreadable line; the run directory is damaged"):
        into = judge if separate_judge and rec.get("stage") == QUALITY_STAGE else usage
        into.prompt_tokens += rec.get("prompt_tokens", 0) or 0
        into.completion_tokens += rec.get("completion_tokens", 0) or 0
        into.usd += rec.get("usd", 0.0) or 0.0
        if isinstance(rec.get("hold"), int):
            settled.add(rec["hold"])
    lost = lost_in_crash(run.path, settled)
    for hold in lost:
        into = judge if separate_judge and hold.stage == QUALITY_STAGE else usage
        into.prompt_tokens += hold.prompt_tokens
        into.completion_tokens += hold.max_tokens
        into.usd += hold.usd
    previous = run.read_json(SUMMARY) or {}
    return usage, judge, float(previous.get("total_wall_seconds", 0.0)), lost


def _logged_requests(run: RunDir, separate_judge: bool) -> dict[str, int]:
    """The teacher's requests and retries in every session so far: its attempts' lines in requests.jsonl (a separate
    judge's are its own), so a resumed run counts what earlier sessions sent, and a batch line answered in one
    session and handed out in the next is counted once."""
    requests = retries = 0
    for rec in JsonlReader(run.path / REQUESTS, damaged="unreadable line; the run directory is damaged"):
        if not (separate_judge and rec.get("stage") == QUALITY_STAGE):
            requests += 1
            retries += int(rec.get("attempt", 1) or 1) > 1
    return {"requests": requests, "retries": retries}


# --- what a run leaves behind ----------------------------------------------------------


def _summary(session: _Session, spent: Usage, teacher: TeacherSeam | None, rows: int, status: str, judge: QualityJudge | None) -> dict[str, Any]:
    cfg, state = session.cfg, session.state
    instructions = min(len(state.done_ids()), cfg.budget)
    wall = time.monotonic() - session.started
    return {
        "status": status,
        "run_dir": str(session.run.path),
        "budget": cfg.budget,
        "instructions": instructions,
        "examples": rows,
        "proposal_requests": state.proposals,
        "candidates": state.candidates,
        "kept": len(state.kept),
        "rejected": dict(state.rejected),
        "classification": {
            "yes": sum(1 for c in state.classified.values() if c.is_classification),
            "no": sum(1 for c in state.classified.values() if not c.is_classification),
        },
        # Over every session, as the tokens, the cost and total_wall_seconds are: the teacher's lines in the request log.
        **_logged_requests(session.run, separate_judge=not cfg.judge_is_teacher),
        "model": teacher.model if teacher else session.endpoint.model,
        "tokens": {"prompt": spent.prompt_tokens, "completion": spent.completion_tokens},
        "usd": round(spent.usd, 6),
        # Already in the totals above: attempts a crash left unsettled, at their worst case (teacher/holds.py).
        "lost_in_crash": _lost_summary(session.lost),
        # False for a hosted model with no table price and no --price-input/--price-output: cost is unknown, not $0.
        "price_known": session.endpoint.price_known,
        "usd_per_example": round(spent.usd / rows, 6) if rows else None,
        "usd_per_instruction": round(spent.usd / instructions, 6) if rows and instructions else None,
        "wall_seconds": round(wall, 2),
        "total_wall_seconds": round(session.prior_wall + wall, 2),
        "quality_gate": _gate_summary(session, judge),
        # Only the recipes of instruction rows (those the gate can score) run the verifiers.
        "verifiers": verifier_summary(state, session.verifier, cfg.verifiers and session.recipe.gated_instances is not None),
        # How the teacher worked: batch prices and batches, or the adaptive concurrency's trace and 429s.
        **(teacher.report() if teacher is not None else {}),
    }


def _lost_summary(lost: list[Hold]) -> dict[str, Any]:
    worst = sum((hold.usage() for hold in lost), Usage())
    return {"attempts": len(lost), "prompt_tokens": worst.prompt_tokens, "completion_tokens": worst.completion_tokens, "usd": round(worst.usd, 6)}


def _gate_summary(session: _Session, judge: QualityJudge | None) -> dict[str, Any]:
    """Whether the quality gate ran, with which judge, and what it kept and dropped over the whole run."""
    cfg = session.cfg
    on = quality_gate_on(cfg, session.endpoint, session.recipe)
    summary: dict[str, Any] = {"on": on}
    if on:
        summary["min_quality"] = cfg.min_quality
        summary["judge"] = judge.teacher.model if judge else (session.endpoint.model if cfg.judge_is_teacher else resolve_endpoint(cfg.judge).model)
        summary.update(gate_counts(session.state))
        if judge is not None and not cfg.judge_is_teacher:
            judged = judge.teacher.spend.spent
            summary["judge_tokens"] = {"prompt": judged.prompt_tokens, "completion": judged.completion_tokens}
            summary["judge_usd"] = round(judged.usd, 6)
    return summary


def _write_summary(
    session: _Session, teacher: TeacherSeam | None, status: str, judge: QualityJudge | None = None, rows: int | None = None
) -> dict[str, Any]:
    """summary.json; `rows`: the product's row count when the caller has just written it (else counted here)."""
    if rows is None:
        done = len(session.state.done_ids()) >= session.cfg.budget
        rows = len(session.recipe.rows(session.state, session.cfg, session.seeds)) if done else 0
    spent = teacher.spend.spent if teacher else session.prior_usage
    summary = _summary(session, spent, teacher, rows, status, judge)
    summary.update(session.recipe.summary(session.state, session.cfg))
    session.run.write_json(SUMMARY, summary)
    return summary


def _complete(session: _Session, teacher: TeacherSeam | None, judge: QualityJudge | None = None) -> dict[str, Any]:
    """Write the product and the summary of a run that met its budget (teacher is None if nothing was sent)."""
    rows = session.recipe.rows(session.state, session.cfg, session.seeds)
    session.recipe.write_product(session.run, rows)
    count = len(rows)
    del rows  # the summary needs only the count; building the rows again for it held two lists of them at once
    summary = _write_summary(session, teacher, "complete", judge, rows=count)
    Console().print(summary_table(summary))
    return summary
