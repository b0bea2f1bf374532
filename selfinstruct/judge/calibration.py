"""Labelled pairs a judge is measured on, and the figures that say how far to trust it.

    pairs = read_pairs(default_calibration_path())        # LLMBar Natural: 100 pairs, one output objectively better
    figures = pairwise_figures(outcomes)                  # agreement, position consistency, first-position wins
    roc_auc(good_scores, bad_scores)                      # how well the gate's score separates good from bad

A labelled pair is an instruction, two outputs and which one is better ({"id", "instruction",
"input"?, "output_1", "output_2", "label": 1|2, "source"?}), one a line. The shipped sets, with
their licence and provenance, are in eval_tasks/calibration/ (see its README.md). Agreement counts
a judge's tie as half right, so a judge that ties everything scores 50%, as a coin would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from selfinstruct.errors import UserError
from selfinstruct.judge.probabilities import Outcome
from selfinstruct.readers import read_records, require_object

DEFAULT_SET = "llmbar_natural.jsonl"


class LabelledPair(BaseModel):
    """One instruction with two outputs, `label` naming the better one (1 or 2)."""

    id: str
    instruction: str
    input: str = ""
    output_1: str
    output_2: str
    label: Literal[1, 2]
    source: str = ""


class PairOutcome(BaseModel):
    """What the judge made of one labelled pair; output_1 is contestant a, output_2 contestant b."""

    id: str
    label: Literal[1, 2]
    final: Outcome
    consistent: bool
    score: float | None  # probability verdicts: output_1's win probability, mean over both orders
    consistent_raw: bool  # the two orders' verdicts as the judge gave them (before any position prior was divided out)
    first_position: int  # of the pair's two judgements, how many named the answer shown first
    judged: int  # judgements that named a side or a tie (not identical answers)


class PairwiseFigures(BaseModel):
    """A judge's figures on a labelled set."""

    n: int
    agreement: float  # right verdicts, ties counting half
    position_consistency: float  # pairs whose two orders name the same winner
    position_consistency_raw: float  # the same, read from the verdicts as the judge gave them
    first_position_wins: float  # judgements that named the answer shown first
    ties: int


def calibration_dir() -> Path:
    """The shipped labelled sets: inside the installed wheel, or the repository's eval_tasks/calibration/."""
    packaged = Path(__file__).resolve().parent.parent / "eval_tasks" / "calibration"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "eval_tasks" / "calibration"


def default_calibration_path() -> Path:
    return calibration_dir() / DEFAULT_SET


def read_pairs(path: Path) -> list[LabelledPair]:
    """Every labelled pair of a JSONL file; a bad line is a UserError naming file:line."""
    pairs: list[LabelledPair] = []
    for where, value in read_records(path, "labelled pair file").located():
        record = require_object(value, where)
        try:
            pairs.append(LabelledPair.model_validate({"id": str(record.get("id", len(pairs) + 1)), **{k: v for k, v in record.items() if k != "id"}}))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "record"
            raise UserError(f"{where}: {field}: {first['msg'].lower()} (a labelled pair needs instruction, output_1, output_2 and label 1 or 2)") from None
    if not pairs:
        raise UserError(f"{path}: no labelled pairs in the file")
    return pairs


def pairwise_figures(outcomes: list[PairOutcome]) -> PairwiseFigures:
    """Agreement with the labels (a tie is half right), position consistency and the share of first-position wins."""
    if not outcomes:
        raise UserError("no labelled pair was judged, so there is nothing to measure")
    right = {1: "a", 2: "b"}
    agreement = sum(1.0 if o.final == right[o.label] else 0.5 if o.final == "tie" else 0.0 for o in outcomes) / len(outcomes)
    judged = sum(o.judged for o in outcomes)
    return PairwiseFigures(
        n=len(outcomes), agreement=agreement, position_consistency=sum(o.consistent for o in outcomes) / len(outcomes),
        position_consistency_raw=sum(o.consistent_raw for o in outcomes) / len(outcomes),
        first_position_wins=sum(o.first_position for o in outcomes) / judged if judged else 0.0, ties=sum(o.final == "tie" for o in outcomes),
    )  # fmt: skip


def roc_auc(good: list[float], bad: list[float]) -> float:
    """The probability that a good answer scores above a bad one (a tie counts half): the area under the ROC curve.

    Written out (the Mann-Whitney count over all pairs, at most a few hundred of each here) rather than pulling in
    scikit-learn for one function."""
    if not good or not bad:
        raise UserError("ROC AUC needs scored good and bad answers")
    above = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return above / (len(good) * len(bad))
