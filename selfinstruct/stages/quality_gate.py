"""The quality gate stage: the judge scores a finished instruction's instances, the weak ones are dropped.

    kept, dropped, notes = await gate(driver.quality, instruction, instances, cfg.min_quality)

Runs after the instance filters (`generate --quality-judge`, on by default for the embedded local
teacher) and before anything is emitted. Each instance gets one judge request (judge/pointwise.py:
1-5 for correctness, relevance and completeness, as the expected score over the judge's probability
of each digit where the endpoint gives log-probabilities, else a digit and a one-line reason). Kept instances carry their
note into the journal's `completed` line; dropped ones go to its `dropped` list with reason
`low_quality`, the score and the judge's reason, so `report` and a reader of the journal see why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from selfinstruct.judge.pointwise import STAGE as QUALITY_STAGE
from selfinstruct.judge.pointwise import keep
from selfinstruct.records import Instance, QualityNote, SeedTask
from selfinstruct.stages.gather import gather_all

if TYPE_CHECKING:
    from selfinstruct.judge.pointwise import QualityJudge
    from selfinstruct.run import RunState
    from selfinstruct.stages.settings import StageSettings
    from selfinstruct.teacher.endpoint import Endpoint



class _GatedRecipe(Protocol):
    """The one member of a recipe (recipes/base.py's Recipe) the gate reads: what it scores, or None."""

    @property
    def gated_instances(self) -> Callable[[StageSettings], int] | None: ...


LOW_QUALITY = "low_quality"
__all__ = ["LOW_QUALITY", "QUALITY_STAGE", "gate", "gate_counts", "quality_gate_on", "seed_answers"]


def quality_gate_on(cfg: StageSettings, endpoint: Endpoint, recipe: _GatedRecipe) -> bool:
    """Whether the gate scores this run: only for a recipe whose rows it scores (its gated_instances is
    not None), then --quality-judge as given, else on for the embedded local teacher (whose
    data needs it most) and off for hosted ones."""
    if recipe.gated_instances is None:
        return False
    return cfg.quality_judge if cfg.quality_judge is not None else endpoint.local


async def gate(judge: QualityJudge, instruction: str, instances: list[Instance], min_quality: float) -> tuple[list[Instance], list[dict], list[QualityNote]]:
    """(instances kept, dropped ones with score and reason, a note per kept one), all scored at once."""
    scores = await gather_all(*(judge.score(instruction, i.input, i.output) for i in instances))
    kept: list[Instance] = []
    dropped: list[dict] = []
    notes: list[QualityNote] = []
    for instance, scored in zip(instances, scores):
        if keep(scored, min_quality):
            kept.append(instance)
            notes.append(QualityNote(score=scored.score, reason=scored.reason, expected=scored.expected, reference=scored.reference))
        else:
            dropped.append({"input": instance.input, "output": instance.output, "reason": LOW_QUALITY, "score": scored.score,
                            "expected": scored.expected, "judge_reason": scored.reason, "reference": scored.reference})  # fmt: skip
    return kept, dropped, notes


def seed_answers(seeds: list[SeedTask]) -> dict[tuple[str, str], str]:
    """The seed tasks' instances as known answers: a row asking a seed's instruction with its input is scored against it."""
    return {(s.instruction, i.input): i.output for s in seeds for i in s.instances if i.output.strip()}


def gate_counts(state: RunState) -> dict[str, int]:
    """What the gate did over a whole run, for summary.json: instances scored, kept, dropped, unreadable."""
    notes = [n for c in state.completed.values() for n in c.quality]
    dropped = sum(1 for c in state.completed.values() for d in c.dropped if d.get("reason") == LOW_QUALITY)
    emptied = sum(1 for c in state.completed.values() if c.reason == LOW_QUALITY)
    return {
        "scored": len(notes) + dropped,
        "kept": len(notes),
        "dropped": dropped,
        "unreadable_kept": sum(1 for n in notes if n.score is None),
        "instructions_emptied": emptied,
        # Scored against a known answer (a seed's) or, for a short output, against the judge's own answer.
        "against_reference": sum(1 for n in notes if n.reference == "given") + _dropped_against(state, "given"),
        "against_own_answer": sum(1 for n in notes if n.reference == "own") + _dropped_against(state, "own"),
    }


def _dropped_against(state: RunState, source: str) -> int:
    return sum(1 for c in state.completed.values() for d in c.dropped if d.get("reason") == LOW_QUALITY and d.get("reference") == source)
