"""`selfinstruct clean DATA --out OUT`: the wrong rows of any instruction or conversation dataset, found and dropped before training.

    settings.py   CleanConfig, the command's options
    rows.py       read Alpaca / ShareGPT / messages rows (conversations repaired as finetune repairs them), write the kept ones
    checks.py     near-duplicates (dedup's engine), the report's quality flags, generate's verifiers
    gate.py       the judge's expected 1-5 score per exchange, the weak rows dropped
    journal.py    every verifier result and gate score as it arrives, so a stopped run resumes
    summary.py    rows in and out, drops and repairs by reason, examples: summary.json and the closing table
    estimate.py   --dry-run
    calibrate.py  --calibrate: the gate's ROC AUC on labelled pairs
    command.py    the run, top to bottom
"""

from __future__ import annotations

from selfinstruct.clean.settings import CleanConfig

__all__ = ["CleanConfig"]
