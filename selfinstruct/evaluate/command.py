"""`selfinstruct eval`: two contestants answer the same tasks, an LLM judge compares each pair in both orders.

    summary = run_eval(EvalConfig(a="outputs/run/model", b="gemma-3-270m", template="alpaca"))
    summary["result"]["win_rate"], summary["result"]["ci_low"], summary["result"]["ci_high"]

Top to bottom: read the tasks and resolve both contestants (every input mistake fails here, before
anything loads or is paid for); open the eval directory and replay its journal; collect each
side's answers (answering.py); judge every pair with both answer orders (judge.py), journaling each
judgement as it arrives; then write verdicts, both answer files and summary.json, and print the
table. A cap or Ctrl-C stops the run with everything so far on disk; the same command resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from rich.console import Console

from selfinstruct.errors import UserError
from selfinstruct.evaluate.answering import AnswerOptions, SideAnswers, collect_answers, file_answers, run_all
from selfinstruct.evaluate.contestants import Contestant, check_distinct, parse_contestant
from selfinstruct.evaluate.estimate import print_estimate
from selfinstruct.evaluate.journal import EvalState, load_state, prior_usage
from selfinstruct.evaluate.report import (
    SUMMARY,
    PairVerdict,
    pair_verdict,
    result_table,
    tally,
    write_answers,
    write_verdicts,
)
from selfinstruct.evaluate.settings import EvalConfig
from selfinstruct.evaluate.tasks import EvalTask, TaskSet, default_tasks_path, read_tasks
from selfinstruct.judge.pairwise import Judgement, JudgePrompts, Order, PairJudge, position_prior
from selfinstruct.run import CONFIG, RunDir
from selfinstruct.teacher.endpoint import Endpoint, open_teacher, resolve_endpoint

ORDERS: tuple[Order, Order] = ("ab", "ba")


def load_task_set(cfg: EvalConfig) -> TaskSet:
    task_set = read_tasks(cfg.tasks or default_tasks_path())
    if cfg.limit is not None:
        task_set.tasks = task_set.tasks[: cfg.limit]
    return task_set


def answer_options(cfg: EvalConfig) -> AnswerOptions:
    return AnswerOptions(template=cfg.template, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, temperature=cfg.temperature,
                         precision=cfg.precision)  # fmt: skip


def resolve_contestants(cfg: EvalConfig) -> tuple[Contestant, Contestant]:
    """Both contestants, distinct, each with a known prompt format."""
    a, b = parse_contestant(cfg.a, "a"), parse_contestant(cfg.b, "b")
    check_distinct(a, b)
    for contestant in (a, b):
        contestant.prompt_format(cfg.template)
    return a, b


def run_eval(cfg: EvalConfig, console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) an evaluation into cfg.out; returns the summary. Raises our error classes on failure."""
    console = console or Console(stderr=True)
    task_set = load_task_set(cfg)
    a, b = resolve_contestants(cfg)
    prompts = JudgePrompts.load(cfg.prompts)
    endpoint = resolve_endpoint(cfg.judge)
    if cfg.judge.max_usd is not None and endpoint.price is None:
        raise UserError(f"--max-usd: no built-in price for the judge model '{endpoint.model}'; pass --judge-price-input and --judge-price-output (USD per 1M tokens)")
    if cfg.dry_run:
        print_estimate(cfg, task_set.tasks, a, b, endpoint, prompts, console)
        return {}
    # Answer files are read before the eval directory exists, so a bad one leaves nothing behind.
    files = {c.side: file_answers(c, task_set.tasks) for c in (a, b) if c.kind == "file"}
    if len(files) == 2 and not set(files["a"].answers) & set(files["b"].answers):
        raise UserError(f"--a {a.spec} and --b {b.spec} answer no task in common, so there is nothing to judge")
    run = RunDir(cfg.out, warn=lambda msg: console.print(f"[yellow]{msg}[/yellow]", soft_wrap=True))
    run.open()
    console.print(f"eval directory: {cfg.out}  (rerun with --out {cfg.out} to resume)", highlight=False, soft_wrap=True)
    try:
        run.write_json(CONFIG, cfg.public_dump())
        return _evaluate(cfg, run, task_set, a, b, endpoint, prompts, files, console)
    finally:
        run.close()


class _Progress:
    """What the run has so far, so a stopped run still writes everything it knows."""

    def __init__(self, prior_wall: float) -> None:
        self.started = time.monotonic()
        self.prior_wall = prior_wall
        self.sides: dict[str, SideAnswers] = {}
        self.judging_seconds = 0.0


def _evaluate(cfg: EvalConfig, run: RunDir, task_set: TaskSet, a: Contestant, b: Contestant, endpoint: Endpoint,
              prompts: JudgePrompts, files: dict[str, SideAnswers], console: Console) -> dict[str, Any]:  # fmt: skip
    tasks = task_set.tasks
    state = load_state(run.path)
    previous = run.read_json(SUMMARY) or {}
    progress = _Progress(float(previous.get("total_wall_seconds", 0.0)))
    judge = PairJudge(None, prompts, reference=cfg.reference, max_tokens=cfg.judge_max_tokens, model=endpoint.model, method=cfg.judge_verdicts)
    options = answer_options(cfg)
    try:
        for contestant in (a, b):
            side = files.get(contestant.side) or collect_answers(contestant, tasks, options, cfg.judge, run, state, console)
            progress.sides[contestant.side] = side
            _report_side(contestant, side, tasks, console)
        pairs = [t for t in tasks if t.id in progress.sides["a"].answers and t.id in progress.sides["b"].answers]
        if not pairs:
            raise UserError("no task has an answer from both contestants, so there is nothing to judge")
        started = time.monotonic()
        try:
            asyncio.run(_judge_pairs(pairs, progress.sides["a"].answers, progress.sides["b"].answers, judge, endpoint, run, state, console))
        finally:
            progress.judging_seconds = time.monotonic() - started
    except BaseException as exc:
        interrupted = isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
        status = "stopped: interrupted" if interrupted else "stopped: " + (str(exc).split(";")[0] or type(exc).__name__)
        # Whatever is known goes to disk; a failure while writing must not hide the reason the run stopped.
        with contextlib.suppress(Exception):
            _finish(cfg, run, task_set, a, b, endpoint, judge, state, progress, status)
        raise
    summary = _finish(cfg, run, task_set, a, b, endpoint, judge, state, progress, "complete")
    Console().print(result_table(summary))
    return summary


def _report_side(contestant: Contestant, side: SideAnswers, tasks: list[EvalTask], console: Console) -> None:
    """Say what each contestant answered; unmatched tasks and stray rows are never dropped silently."""
    name = f"--{contestant.side}"
    console.print(f"{name}: {side.description}" + (f", {side.generated} generated now" if side.generated else ""), highlight=False, soft_wrap=True)
    if side.missing:
        console.print(f"[yellow]{name}: no answer for {len(side.missing)} of {len(tasks)} tasks (not judged): "
                      f"{', '.join(side.missing[:5])}{' ...' if len(side.missing) > 5 else ''}[/yellow]", highlight=False, soft_wrap=True)  # fmt: skip
    if side.extra:
        console.print(f"[yellow]{name}: {side.extra} answers match no task of the task file (ignored)[/yellow]", highlight=False, soft_wrap=True)
    if side.conflicting:
        console.print(f"[yellow]{name}: {len(side.conflicting)} tasks answered twice, differently; the first answer is used[/yellow]", highlight=False, soft_wrap=True)
    if contestant.training_data is not None:
        _warn_overlap(contestant, tasks, console)


def _warn_overlap(contestant: Contestant, tasks: list[EvalTask], console: Console) -> None:
    """Evaluation tasks must never be training data: warn when a tuned model saw some of them."""
    from selfinstruct.evaluate.answer_files import read_answer_rows

    path = contestant.training_data
    if path is None or not path.is_file():
        return
    try:
        trained = {task.key for task in read_tasks(path).tasks} if path.suffix == ".jsonl" else {
            EvalTask(id="-", instruction=r.instruction, input=r.input).key for r in read_answer_rows(path, contestant.side)}  # fmt: skip
    except UserError:
        return
    seen = [t.id for t in tasks if t.key in trained]
    if seen:
        console.print(f"[yellow]--{contestant.side}: {len(seen)} of the tasks are in its training data ({path}); "
                      f"its win rate on them measures memory, not skill[/yellow]", highlight=False, soft_wrap=True)  # fmt: skip


async def _judge_pairs(pairs: list[EvalTask], answers_a: dict[str, str], answers_b: dict[str, str], judge: PairJudge,
                       endpoint: Endpoint, run: RunDir, state: EvalState, console: Console) -> None:  # fmt: skip
    """Both orders of every pair not judged yet, journaled one judgement at a time."""
    todo: list[tuple[EvalTask, Order, str, str]] = []
    for task in pairs:
        for order in ORDERS:
            first, second = (answers_a[task.id], answers_b[task.id]) if order == "ab" else (answers_b[task.id], answers_a[task.id])
            if judge.find(state.judgements, task, first, second) is None:
                todo.append((task, order, first, second))
    if not todo:
        return
    # Identical answers need no judge; only start one (maybe a local server) for real comparisons.
    needs_model = [job for job in todo if not judge.trivial(job[2], job[3])]
    console.print(f"judging {len(todo)} of {2 * len(pairs)} comparisons ({2 * len(pairs) - len(todo)} already in the journal)", highlight=False, soft_wrap=True)
    done = 0

    async def one(task: EvalTask, order: Order, first: str, second: str) -> None:
        nonlocal done
        judgement = await judge.judge(task, first, second, order)
        run.append(judgement)
        state.add(judgement)
        done += 1
        if done % 10 == 0 or done == len(todo):
            console.print(f"  judged {done}/{len(todo)}", highlight=False, soft_wrap=True)

    if not needs_model:
        await run_all([one(*job) for job in todo])
        return
    with open_teacher(endpoint, server_log=run.path / "judge.log", log=run.log_request, spent=prior_usage(run.path)) as teacher:
        console.print(teacher.description.replace("teacher:", "judge:", 1), highlight=False, soft_wrap=True)
        judge.teacher = teacher
        try:
            await run_all([one(*job) for job in todo])
        finally:
            judge.teacher = None
            await teacher.aclose()


def _verdicts(pairs: list[EvalTask], sides: dict[str, SideAnswers], judge: PairJudge, state: EvalState, cfg: EvalConfig) -> list[PairVerdict]:
    """Final verdicts of the pairs whose two judgements are both in the journal; with --judge-debias, the position
    prior measured over all of them is divided out of each probability verdict first."""
    found = []
    for task in pairs:
        ans_a, ans_b = sides["a"].answers[task.id], sides["b"].answers[task.id]
        first = judge.find(state.judgements, task, ans_a, ans_b)
        second = judge.find(state.judgements, task, ans_b, ans_a)
        if first is not None and second is not None:
            found.append((task, ans_a, ans_b, _as_order(first, task, "ab"), _as_order(second, task, "ba")))
    prior = position_prior([j for *_, first, second in found for j in (first, second)]) if cfg.judge_debias else None
    return [pair_verdict(task, a, b, first, second, cfg.judge_margin, prior) for task, a, b, first, second in found]


def _prior_of(verdicts: list[PairVerdict], cfg: EvalConfig) -> list[float] | None:
    prior = position_prior([j for v in verdicts for j in v.judgements]) if cfg.judge_debias else None
    return None if prior is None else [round(p, 4) for p in prior]


def verdict_method(verdicts: list[PairVerdict], judge: PairJudge) -> str:
    """How this run's verdicts were read, for the summary: from probabilities, from text, or both (a judge that
    fell back to text because its endpoint sent no log-probabilities)."""
    methods = {j.method for v in verdicts for j in v.judgements if j.reason != "identical"}
    if judge.fell_back:
        methods.add("text")
    if methods == {"probability"}:
        return "probability (one token per verdict, from top_logprobs)"
    if methods == {"scores"}:
        return "scores (each answer graded alone, expected 1-5 grade from top_logprobs)"
    if methods == {"text"}:
        return "text (the endpoint sent no log-probabilities)" if judge.fell_back or judge.method == "probability" else "text"
    return "mixed: probability, then text when the endpoint sent no log-probabilities" if methods else judge.method


def _as_order(judgement: Judgement, task: EvalTask, order: Order) -> Judgement:
    """A journaled judgement reused for this task and order (the same prompt can come from an identical pair)."""
    if judgement.task == task.id and judgement.order == order:
        return judgement
    from selfinstruct.judge.pairwise import winner_of

    return judgement.model_copy(update={"task": task.id, "order": order, "winner": winner_of(judgement.verdict, order)})


def _finish(cfg: EvalConfig, run: RunDir, task_set: TaskSet, a: Contestant, b: Contestant, endpoint: Endpoint, judge: PairJudge,
            state: EvalState, progress: _Progress, status: str) -> dict[str, Any]:  # fmt: skip
    """Write the answer files, verdicts and summary from what is known now."""
    tasks = task_set.tasks
    sides = progress.sides
    for contestant in (a, b):
        if contestant.side in sides:
            write_answers(run.path, contestant.side, tasks, sides[contestant.side].answers, contestant.spec)
    pairs = [t for t in tasks if all(s in sides and t.id in sides[s].answers for s in ("a", "b"))]
    verdicts = _verdicts(pairs, sides, judge, state, cfg) if len(sides) == 2 else []
    write_verdicts(run.path, verdicts)
    result = tally(verdicts)
    spent = prior_usage(run.path)
    wall = time.monotonic() - progress.started
    summary: dict[str, Any] = {
        "status": status,
        "out": str(run.path),
        "tasks": {"file": str(task_set.path), "total": len(tasks), "judged": len(verdicts), "duplicates_skipped": task_set.duplicates},
        "reference": cfg.reference,
        "contestants": {c.side: {"spec": c.spec, "kind": c.kind, "prompt": c.prompt_format(cfg.template), **_side_counts(sides.get(c.side))} for c in (a, b)},
        "judge": {"model": endpoint.model, "local": endpoint.local, "description": endpoint.description.replace("teacher:", "judge:", 1),
                  "verdicts": verdict_method(verdicts, judge), "margin": cfg.judge_margin, "debias": cfg.judge_debias,
                  "position_prior": _prior_of(verdicts, cfg)},
        "result": result.model_dump(),
        "unmatched": {s: sides[s].missing if s in sides else [] for s in ("a", "b")},
        "tokens": {"prompt": spent.prompt_tokens, "completion": spent.completion_tokens},
        "usd": round(spent.usd, 6),
        "price_known": endpoint.price_known,
        "seconds": {"answers": round(sum(s.seconds for s in sides.values()), 1), "judging": round(progress.judging_seconds, 1)},
        "wall_seconds": round(wall, 1),
        "total_wall_seconds": round(progress.prior_wall + wall, 1),
    }
    run.write_json(SUMMARY, summary)
    return summary


def _side_counts(side: SideAnswers | None) -> dict[str, Any]:
    if side is None:
        return {}
    return {"answers": len(side.answers), "generated": side.generated, "reused": side.reused, "extra_rows": side.extra}
