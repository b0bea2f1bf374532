"""The cleaning section of a dataset's report: what `selfinstruct clean` dropped to make it, and why.

    cleaned = load_cleaned(Path("clean.json"))   # from clean.clean/summary.json beside it; None when clean did not make it
    cleaned.reasons[0]                           # reason, rows, up to three examples with the detail

Read from the summary clean writes in its work directory (default OUT-stem.clean/), which holds the
counts and the examples: the report reads nothing else and asks nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError


class CleanedExample(BaseModel):
    index: int
    instruction: str
    input: str = ""
    output: str
    detail: str


class CleanedReason(BaseModel):
    reason: str
    rows: int
    examples: list[CleanedExample]


class Cleaned(BaseModel):
    """Rows in and kept, drops by reason with examples, the repairs made to conversations, and the gate's figures."""

    data: str
    rows_in: int
    rows_kept: int
    rows_dropped: int
    reasons: list[CleanedReason]
    repairs: dict[str, int]
    gate: dict[str, Any] | None = None


def work_dir_for(out: Path) -> Path:
    """Where clean journals its work unless told: beside OUT, as OUT's stem plus .clean/ (clean reads its
    default from here, so that the report, below clean, finds it without importing it)."""
    return out.with_name(f"{out.stem}.clean")


def load_cleaned(dataset: Path) -> Cleaned | None:
    """The section for a file `selfinstruct clean` wrote, from its work directory's summary.json; None for any other file."""
    path = work_dir_for(dataset) / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        if Path(summary["out"]).resolve() != dataset.resolve():
            return None
        examples = summary.get("examples", {})
        reasons = [CleanedReason(reason=r, rows=n, examples=[CleanedExample.model_validate(e) for e in examples.get(r, [])])
                   for r, n in summary["dropped_by_reason"].items()]  # fmt: skip
        return Cleaned(data=summary["data"], rows_in=summary["rows_in"], rows_kept=summary["rows_kept"], rows_dropped=summary["rows_dropped"],
                       reasons=reasons, repairs=summary.get("repairs", {}), gate=summary.get("gate"))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        return None
