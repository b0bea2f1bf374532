"""What an eval run leaves behind and prints: verdicts, both answer files, summary.json, the result table.

    DIR/verdicts.jsonl     per task: both answers, both judgements with the judge's reasoning, the final verdict
    DIR/answers_a.jsonl    {id, instruction, input, response}: reusable as a file contestant (--a DIR/answers_a.jsonl)
    DIR/answers_b.jsonl
    DIR/summary.json       win rate with its 95% bootstrap interval, position consistency, unmatched tasks, cost, time

Every file is written whole to a temp file and renamed into place, so a crash never leaves half of
one; they are rewritten from the journal on every run, including one stopped by a cap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.table import Table

from selfinstruct.evaluate.stats import Outcome, WinRate, summarize
from selfinstruct.evaluate.tasks import EvalTask
from selfinstruct.judge.pairwise import DEFAULT_MARGIN, Judgement, Prior, combine, combine_pair, debiased
from selfinstruct.safe_files import write_jsonl_atomic

VERDICTS = "verdicts.jsonl"
SUMMARY = "summary.json"


def answers_file(side: str) -> str:
    return f"answers_{side}.jsonl"


class PairVerdict(BaseModel):
    """One task's outcome: both orders' judgements and the final verdict (a tie when they disagree)."""

    id: str
    instruction: str
    input: str
    reference: str | None
    answer_a: str
    answer_b: str
    judgements: list[Judgement]  # order "ab" (A shown first), then "ba"
    final: Outcome
    consistent: bool
    score: float | None = None  # probability verdicts: a's win probability, mean over both orders
    consistent_raw: bool | None = None  # before the position prior was divided out (probability verdicts)


def pair_verdict(task: EvalTask, answer_a: str, answer_b: str, first: Judgement, second: Judgement, margin: float = DEFAULT_MARGIN,
                 prior: Prior | None = None) -> PairVerdict:  # fmt: skip
    """The pair's outcome from its two judgements (journaled as the judge gave them), with the run's position prior
    divided out of probability verdicts when one is given."""
    final, consistent, score = combine_pair(debiased(first, prior), debiased(second, prior), margin)
    raw = combine(first.winner, second.winner)[1] if prior is not None and score is not None else None
    return PairVerdict(id=task.id, instruction=task.instruction, input=task.input, reference=task.reference, answer_a=answer_a,
                       answer_b=answer_b, judgements=[first, second], final=final, consistent=consistent,
                       score=None if score is None else round(score, 4), consistent_raw=raw)  # fmt: skip


def tally(verdicts: list[PairVerdict]) -> WinRate:
    unreadable = sum(1 for v in verdicts for j in v.judgements if j.reason == "unreadable")
    result = summarize([v.final for v in verdicts], [v.consistent for v in verdicts], unreadable=unreadable)
    raw = [v.consistent_raw for v in verdicts if v.consistent_raw is not None]
    if raw:
        result.position_consistency_raw = sum(raw) / len(raw)
    return result


def write_answers(directory: Path, side: str, tasks: list[EvalTask], answers: dict[str, str], spec: str) -> None:
    rows = [{"id": t.id, "instruction": t.instruction, "input": t.input, "response": answers[t.id], "contestant": spec}
            for t in tasks if t.id in answers]  # fmt: skip
    write_jsonl_atomic(directory / answers_file(side), rows)


def write_verdicts(directory: Path, verdicts: list[PairVerdict]) -> None:
    rows = [v.model_dump(mode="json", exclude={"judgements": {"__all__": {"kind", "prompt_sha"}}}) for v in verdicts]
    write_jsonl_atomic(directory / VERDICTS, rows)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def result_table(summary: dict[str, Any]) -> Table:
    """The end-of-run table: A's wins, ties and losses, win rate with its interval, consistency, cost, time."""
    r = summary["result"]
    table = Table(title=f"selfinstruct eval — {summary['status']}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    interval = "" if r["ci_low"] is None else f"  (95% CI {_pct(r['ci_low'])} – {_pct(r['ci_high'])})"
    usd = summary["usd"]
    rows = [
        ("A", summary["contestants"]["a"]["spec"]),
        ("B", summary["contestants"]["b"]["spec"]),
        ("judge", summary["judge"]["description"]),
        ("tasks judged", f"{r['n']} of {summary['tasks']['total']}" + (" (with reference)" if summary["reference"] else "")),
        ("A wins / ties / losses", f"{r['wins']} / {r['ties']} / {r['losses']}"),
        ("win rate of A", _pct(r["win_rate"]) + interval),
        ("position consistency", _pct(r["position_consistency"]) + (f"  ({_pct(r['position_consistency_raw'])} before the position prior was divided out)"
                                                                    if r.get("position_consistency_raw") is not None else "")
         + (f"  ({r['unreadable']} unreadable verdicts)" if r["unreadable"] else "")),
        ("verdicts", summary["judge"].get("verdicts", "text")),
        ("cost", "unknown: no price for the judge model (pass --judge-price-input/--judge-price-output)" if not summary["price_known"] else f"${usd:.4f}"),
        ("tokens in / out", f"{summary['tokens']['prompt']:,} / {summary['tokens']['completion']:,}"),
        ("time", f"answers {summary['seconds']['answers']:.0f} s, judging {summary['seconds']['judging']:.0f} s, {summary['wall_seconds']:.0f} s in all"),
    ]
    for side in ("a", "b"):
        missing = summary["unmatched"][side]
        if missing:
            rows.append((f"unanswered by {side.upper()}", f"{len(missing)} tasks, not judged (first: {', '.join(missing[:3])})"))
    for key, value in rows:
        table.add_row(key, value)
    return table
