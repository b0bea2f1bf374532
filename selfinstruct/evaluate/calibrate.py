"""`selfinstruct eval --calibrate`: measure the judge on labelled pairs before trusting its verdicts.

    summary = run_calibration(EvalConfig(calibrate=True))          # the shipped LLMBar Natural set
    summary["pairwise"]["agreement"], summary["pairwise"]["position_consistency"]
    summary = run_calibration(EvalConfig(calibrate=True, calibrate_gate=True))
    summary["gate"]["roc_auc"]

Each labelled pair is judged in both orders exactly as `eval` judges a task (same prompts, same
reading of the verdict, same margin), output_1 as contestant a; agreement with the label counts a
tie as half. With --calibrate-gate the quality gate scores every output alone, and the figure is
how well its score separates the better outputs from the worse (ROC AUC; 0.5 is chance). Every
judgement is journaled as it arrives in the eval directory, so a stopped calibration resumes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from selfinstruct.errors import UserError
from selfinstruct.evaluate.answering import run_all
from selfinstruct.evaluate.journal import EvalState, GateScore, load_state, prior_usage
from selfinstruct.evaluate.settings import EvalConfig
from selfinstruct.evaluate.tasks import EvalTask
from selfinstruct.judge.calibration import (
    LabelledPair,
    PairOutcome,
    default_calibration_path,
    pairwise_figures,
    read_pairs,
    roc_auc,
)
from selfinstruct.judge.pairwise import (
    JudgePrompts,
    Order,
    PairJudge,
    combine,
    combine_pair,
    debiased,
    position_prior,
    prompt_sha,
)
from selfinstruct.judge.pointwise import QualityJudge, keep
from selfinstruct.run import CONFIG, RunDir
from selfinstruct.safe_files import write_jsonl_atomic
from selfinstruct.teacher.endpoint import Endpoint, open_teacher, resolve_endpoint

SUMMARY = "calibration.json"
OUTCOMES = "calibration.jsonl"
MARGINS = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2)


def _task(pair: LabelledPair) -> EvalTask:
    return EvalTask(id=pair.id, instruction=pair.instruction, input=pair.input)


def run_calibration(cfg: EvalConfig, console: Console | None = None, command: str = "selfinstruct eval --calibrate", resume_option: str = "--out") -> dict[str, Any]:
    """Judge every labelled pair (or, with calibrate_gate, score every output); returns and writes the figures.
    `command` and `resume_option` name the command that asked (`clean --calibrate` resumes with --work)."""
    console = console or Console(stderr=True)
    path = cfg.calibration_set or default_calibration_path()
    pairs = read_pairs(path)[: cfg.limit]
    prompts = JudgePrompts.load(cfg.prompts)
    endpoint = resolve_endpoint(cfg.judge)
    run = RunDir(cfg.out, warn=lambda msg: console.print(f"[yellow]{msg}[/yellow]", soft_wrap=True))
    run.open()
    console.print(f"calibration directory: {cfg.out}  (rerun with {resume_option} {cfg.out} to resume)", highlight=False, soft_wrap=True)
    try:
        run.write_json(CONFIG, cfg.public_dump())
        state = load_state(run.path)
        judge = PairJudge(None, prompts, reference=False, max_tokens=cfg.judge_max_tokens, model=endpoint.model, method=cfg.judge_verdicts)
        gate: dict[str, Any] = {"method": cfg.judge_verdicts, "own_answer": cfg.judge_own_answer}
        started = time.monotonic()
        asked = asyncio.run(_ask(cfg, pairs, judge, gate, endpoint, run, state, console))
        seconds = time.monotonic() - started
        summary: dict[str, Any] = {
            "set": str(path), "pairs": len(pairs), "out": str(run.path),
            "judge": {"model": endpoint.model, "local": endpoint.local, "description": endpoint.description.replace("teacher:", "judge:", 1)},
            "asked_now": asked, "seconds": round(seconds, 1), "seconds_per_verdict": round(seconds / asked, 2) if asked else None,
        }  # fmt: skip
        if cfg.calibrate_gate:
            summary["gate"] = _gate_figures(pairs, state, gate, endpoint.model, cfg.min_quality)
        else:
            outcomes = _outcomes(pairs, judge, state, cfg.judge_margin, cfg.judge_debias)
            write_jsonl_atomic(run.path / OUTCOMES, [o.model_dump() for o in outcomes])
            summary["pairwise"] = {**pairwise_figures(outcomes).model_dump(), "margin": cfg.judge_margin, "debias": cfg.judge_debias,
                                   "verdicts": _method(judge, state), "agreement_by_margin": _by_margin(pairs, judge, state, cfg.judge_debias)}  # fmt: skip
        spent = prior_usage(run.path)
        summary["tokens"] = {"prompt": spent.prompt_tokens, "completion": spent.completion_tokens}
        run.write_json(SUMMARY, summary)
    finally:
        run.close()
    Console().print(calibration_table(summary, command))
    return summary


async def _ask(cfg: EvalConfig, pairs: list[LabelledPair], judge: PairJudge, gate: dict[str, Any], endpoint: Endpoint, run: RunDir,
               state: EvalState, console: Console) -> int:  # fmt: skip
    """Ask for every judgement (or gate score) not yet in the journal; returns how many were asked now."""
    with open_teacher(endpoint, server_log=run.path / "judge.log", log=run.log_request, spent=prior_usage(run.path)) as teacher:
        jobs = _gate_jobs(pairs, QualityJudge(teacher, method=cfg.judge_verdicts, own_reference=cfg.judge_own_answer), gate, run, state) if cfg.calibrate_gate else \
            _pair_jobs(pairs, judge, run, state)  # fmt: skip
        judge.teacher = teacher
        console.print(f"{teacher.description.replace('teacher:', 'judge:', 1)}; {len(jobs)} verdicts to ask", highlight=False, soft_wrap=True)
        try:
            await run_all(jobs)
        finally:
            judge.teacher = None
            await teacher.aclose()
    return len(jobs)


def _pair_jobs(pairs: list[LabelledPair], judge: PairJudge, run: RunDir, state: EvalState) -> list[Any]:
    async def one(task: EvalTask, first: str, second: str, order: Order) -> None:
        judgement = await judge.judge(task, first, second, order)
        run.append(judgement)
        state.add(judgement)

    jobs = []
    for pair in pairs:
        task = _task(pair)
        for order, first, second in (("ab", pair.output_1, pair.output_2), ("ba", pair.output_2, pair.output_1)):
            if judge.find(state.judgements, task, first, second) is None:
                jobs.append(one(task, first, second, order))  # type: ignore[arg-type]
    return jobs


def _gate_jobs(pairs: list[LabelledPair], quality: QualityJudge, gate: dict[str, Any], run: RunDir, state: EvalState) -> list[Any]:
    async def one(pair: LabelledPair, output: int, text: str, sha: str) -> None:
        scored = await quality.score(pair.instruction, pair.input, text)
        gate["method"] = quality.method
        record = GateScore(prompt_sha=sha, pair=pair.id, output=output, score=scored.score, expected=scored.expected, reason=scored.reason)  # type: ignore[arg-type]
        run.append(record)
        state.add(record)

    jobs = []
    for pair in pairs:
        for output, text in ((1, pair.output_1), (2, pair.output_2)):
            sha = _gate_sha(quality.teacher.model, quality.method, pair, output, text)
            if sha not in state.gate_scores:
                jobs.append(one(pair, output, text, sha))
    return jobs


def _gate_sha(model: str, method: str, pair: LabelledPair, output: int, text: str) -> str:
    """A gate score's journal key: the pair and output it scores, and what was asked (so an edited set is asked again)."""
    return prompt_sha(model, f"{method}\x1f{pair.id}\x1f{output}\x1f{pair.instruction}\x1f{pair.input}\x1f{text}")


def _outcomes(pairs: list[LabelledPair], judge: PairJudge, state: EvalState, margin: float, debias: bool) -> list[PairOutcome]:
    """Each judged pair's outcome as eval reads it: with `debias`, the position prior over all of them divided out first."""
    found = []
    for pair in pairs:
        task = _task(pair)
        first = judge.find(state.judgements, task, pair.output_1, pair.output_2)
        second = judge.find(state.judgements, task, pair.output_2, pair.output_1)
        if first is not None and second is not None:
            found.append((pair, first.model_copy(update={"order": "ab"}), second.model_copy(update={"order": "ba"})))
    prior = position_prior([j for _, first, second in found for j in (first, second)]) if debias else None
    outcomes = []
    for pair, first, second in found:
        final, consistent, score = combine_pair(debiased(first, prior), debiased(second, prior), margin)
        named = [j for j in (first, second) if j.reason != "identical"]
        outcomes.append(PairOutcome(id=pair.id, label=pair.label, final=final, consistent=consistent, score=score,
                                    consistent_raw=combine(first.winner, second.winner)[1],
                                    first_position=sum(j.verdict == "A" for j in named), judged=len(named)))  # fmt: skip
    return outcomes


def _by_margin(pairs: list[LabelledPair], judge: PairJudge, state: EvalState, debias: bool) -> dict[str, float]:
    """Agreement at each candidate margin, from the same judgements: how the default margin was chosen."""
    return {f"{m:g}": round(pairwise_figures(_outcomes(pairs, judge, state, m, debias)).agreement, 4) for m in MARGINS}


def _method(judge: PairJudge, state: EvalState) -> str:
    methods = {j.method for j in state.judgements.values()}
    return methods.pop() if len(methods) == 1 else "mixed"


def _gate_figures(pairs: list[LabelledPair], state: EvalState, gate: dict[str, Any], model: str, min_quality: float) -> dict[str, Any]:
    """ROC AUC of the gate's score between the better and the worse output of each pair, and what its threshold keeps."""
    by_key = {(s.pair, s.output): s for s in state.gate_scores.values()}
    good, bad = [], []
    for pair in pairs:
        better, worse = by_key.get((pair.id, pair.label)), by_key.get((pair.id, 3 - pair.label))
        if better is None or worse is None:
            continue
        good.append(better)
        bad.append(worse)
    if not good:
        raise UserError("no labelled pair was scored, so there is nothing to measure")

    def value(s: GateScore) -> float:
        return s.expected if s.expected is not None else float(s.score or 0)

    def kept(scores: list[GateScore]) -> float:
        from selfinstruct.judge.pointwise import QualityScore

        return sum(keep(QualityScore(score=s.score, reason="", expected=s.expected), min_quality) for s in scores) / len(scores)

    return {"pairs": len(good), "roc_auc": round(roc_auc([value(s) for s in good], [value(s) for s in bad]), 4), "method": gate["method"],
            "min_quality": min_quality, "better_kept": round(kept(good), 4), "worse_kept": round(kept(bad), 4),
            "mean_better": round(sum(map(value, good)) / len(good), 3), "mean_worse": round(sum(map(value, bad)) / len(bad), 3)}  # fmt: skip


def calibration_table(summary: dict[str, Any], command: str = "selfinstruct eval --calibrate") -> Table:
    """The figures, one per row, under the name of the command that asked for them."""
    table = Table(title=f"{command} — {summary['pairs']} labelled pairs", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [("set", summary["set"]), ("judge", summary["judge"]["description"])]
    if "pairwise" in summary:
        p = summary["pairwise"]
        rows += [
            ("verdicts", p["verdicts"] + (f", margin {p['margin']:g}" if p["verdicts"] != "text" else "")),
            ("agreement with the labels", f"{100 * p['agreement']:.1f}%  (ties count half; {p['ties']} ties of {p['n']})"),
            ("position consistency", f"{100 * p['position_consistency']:.1f}%" + (
                f"  ({100 * p['position_consistency_raw']:.1f}% before the position prior was divided out)" if p.get("debias") and p["verdicts"] == "probability"
                else "  (each answer graded alone: no position to prefer)" if p["verdicts"] == "scores" else "")),
            ("first-position wins", f"{100 * p['first_position_wins']:.1f}% of the judge's own verdicts named the answer shown first"),
        ]
    if "gate" in summary:
        g = summary["gate"]
        rows += [
            ("gate ROC AUC", f"{g['roc_auc']:.3f}  ({g['method']} scores; 0.5 is chance)"),
            (f"kept at min quality {g['min_quality']:g}", f"{100 * g['better_kept']:.0f}% of better outputs, {100 * g['worse_kept']:.0f}% of worse"),
            ("mean score", f"better {g['mean_better']:.2f}, worse {g['mean_worse']:.2f}"),
        ]
    per = summary["seconds_per_verdict"]
    rows.append(("time", f"{summary['seconds']:.0f} s, {summary['asked_now']} verdicts asked now" + (f", {per:.2f} s per verdict" if per else "")))
    for key, value in rows:
        table.add_row(key, value)
    return table
