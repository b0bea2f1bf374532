"""The loop's last step: a fine-tuned student against its own base model, for `finetune --eval`.

    outcome = eval_tuned(Path("outputs/run/model"), "gemma-3-270m", judge=TeacherSettings())
    outcome.win_rate, outcome.ci_low, outcome.ci_high     # into training_summary.json
    card_section(outcome)                                 # into the model card (README.md)
    summary = evaluate_finetune(summary, cfg, console)     # `finetune --eval`: both of the above

Both sides answer the same tasks (the shipped eval set unless `tasks` is given) with the prompt the
student was trained on: the student's own prompt_template.json, and the Alpaca template for the
base, so the comparison measures the fine-tuning and not the prompt. The run lives in
`<model_dir>/eval/` and resumes like any eval run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from selfinstruct.endpoint_settings import TeacherSettings
from selfinstruct.evaluate.settings import EvalConfig
from selfinstruct.finetune.settings import FinetuneConfig

CARD_START, CARD_END = "<!-- selfinstruct eval -->", "<!-- /selfinstruct eval -->"


class EvalOutcome(BaseModel):
    """What training_summary.json and the model card record about the tuned-vs-base comparison."""

    base_model: str
    tasks: str
    n: int
    wins: int
    ties: int
    losses: int
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    position_consistency: float | None
    judge: str
    out: str
    wall_seconds: float


def eval_tuned(
    model_dir: Path,
    base_model: str,
    *,
    tasks: Path | None = None,
    judge: TeacherSettings | None = None,
    out: Path | None = None,
    limit: int | None = None,
    max_new_tokens: int = 256,
    console: Console | None = None,
) -> EvalOutcome:
    """Run (or resume) `eval --a model_dir --b base_model --template alpaca` and return its headline numbers."""
    from selfinstruct.evaluate.command import run_eval

    cfg = EvalConfig(
        a=str(model_dir), b=base_model, tasks=tasks, out=out or model_dir / "eval", limit=limit, template="alpaca",
        max_new_tokens=max_new_tokens, judge=judge or TeacherSettings(),
    )  # fmt: skip
    summary = run_eval(cfg, console)
    r = summary["result"]
    return EvalOutcome(
        base_model=base_model, tasks=summary["tasks"]["file"], n=r["n"], wins=r["wins"], ties=r["ties"], losses=r["losses"],
        win_rate=r["win_rate"], ci_low=r["ci_low"], ci_high=r["ci_high"], position_consistency=r["position_consistency"],
        judge=summary["judge"]["description"], out=summary["out"], wall_seconds=summary["total_wall_seconds"],
    )  # fmt: skip


def card_section(outcome: EvalOutcome) -> str:
    """A model-card section: the win rate against the base, its interval, and how far to trust the judge."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    return f"""## Evaluation against the base model

Pairwise LLM-judge comparison (`selfinstruct eval`) on {outcome.n} tasks from `{outcome.tasks}`, each pair judged
twice with the answers' positions swapped (disagreement counts as a tie). Judge: {outcome.judge}.

- win rate against {outcome.base_model}: **{pct(outcome.win_rate)}** (95% bootstrap CI {pct(outcome.ci_low)} – {pct(outcome.ci_high)})
- wins / ties / losses: {outcome.wins} / {outcome.ties} / {outcome.losses}
- judge position consistency: {pct(outcome.position_consistency)} (below about 60%, the judge is mostly noise)
- verdicts and both models' answers: `{outcome.out}`
"""


def check_eval_tasks(cfg: FinetuneConfig) -> None:
    """`finetune --eval`: a bad --eval-tasks file is reported before training starts, not after."""
    from selfinstruct.evaluate.tasks import default_tasks_path, read_tasks

    if cfg.eval:
        read_tasks(cfg.eval_tasks or default_tasks_path())


def evaluate_finetune(summary: dict[str, Any], cfg: FinetuneConfig, console: Console | None = None) -> dict[str, Any]:
    """`finetune --eval`: judge the saved model against its base; add the outcome to training_summary.json and the card."""
    from selfinstruct.finetune.output import put_card_section
    from selfinstruct.safe_files import write_json_atomic

    out = Path(summary["out"])
    outcome = eval_tuned(
        out, cfg.base_model, tasks=cfg.eval_tasks, judge=cfg.judge, limit=cfg.eval_limit,
        max_new_tokens=cfg.eval_max_new_tokens, console=console,
    )  # fmt: skip
    summary = {**summary, "eval": outcome.model_dump()}
    write_json_atomic(out / "training_summary.json", summary)
    # Other sections (a GGUF export's) stay; a rerun replaces its own section rather than adding another.
    put_card_section(out / "README.md", f"{CARD_START}\n{card_section(outcome)}{CARD_END}", CARD_START, CARD_END)
    return summary
