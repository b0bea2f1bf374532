"""`clean --calibrate`: how well the gate's score separates labelled good answers from bad ones (ROC AUC).

    summary = calibrate_gate(CleanConfig(calibrate=True))     # the shipped LLMBar Natural set
    summary["gate"]["roc_auc"]

The measurement is `eval --calibrate --calibrate-gate`'s (evaluate/calibrate.py), run with clean's
judge, threshold and caps: the gate scores both outputs of every labelled pair alone, and the figure
is the chance that the better output scores above the worse (0.5 is chance). Scores are journaled in
--work (default: a fresh folder under outputs/), so a stopped calibration resumes.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from selfinstruct.clean.settings import CleanConfig


def calibrate_gate(cfg: CleanConfig, console: Console | None = None) -> dict[str, Any]:
    from selfinstruct.evaluate.calibrate import run_calibration
    from selfinstruct.evaluate.settings import EvalConfig

    settings: dict[str, Any] = {"calibrate": True, "calibrate_gate": True, "calibration_set": cfg.calibration_set, "limit": cfg.limit,
                                "min_quality": cfg.min_quality, "judge_own_answer": cfg.judge_own_answer, "judge": cfg.judge}  # fmt: skip
    if cfg.work is not None:
        settings["out"] = cfg.work
    return run_calibration(EvalConfig(**settings), console=console, command="selfinstruct clean --calibrate", resume_option="--work")
