"""The funnel of a run: proposed -> each filter, in order -> kept -> classified -> with valid instances -> emitted.

    funnel = build_funnel(source.run, source.rows)
    [(s.name, s.count, s.dropped) for s in funnel.steps]
    funnel.rejections[0]    # reason, stage, count and three example instructions

Every number is counted from the journal, one candidate line at a time, so it can be checked
against the journal by anyone. Filters run in the order stages/filters.py applies them; a
reason this version does not know is counted as "other checks" just before the near-duplicate
check, never dropped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from selfinstruct.recipes import recipe_of_run
from selfinstruct.report.source import Row, RunData

EXAMPLES_PER_REASON = 3

# (step name, which rejection reasons it accounts for), in the order the filters run.
FILTER_STEPS: list[tuple[str, Callable[[str], bool]]] = [
    ("length (4-150 words)", lambda r: r in ("too_short", "too_long")),
    ("banned keywords", lambda r: r.startswith("keyword:")),
    ("'Write a program' start", lambda r: r == "write_a_program"),
    ("punctuation start", lambda r: r == "starts_with_punctuation"),
    ("non-ASCII start", lambda r: r == "non_ascii_start"),
    ("task mix full (seeds' shares)", lambda r: r == "mix_full"),  # stages/mix.py, after the cheap filters and before ROUGE-L
]
_NEAR_DUPLICATE = "near_duplicate"
_OTHER_STEP = "other checks"


class Step(BaseModel):
    """One bar of the funnel: how many remain after this step, and how many it dropped."""

    name: str
    count: int
    dropped: int = 0
    pending: int = 0


class Example(BaseModel):
    """One rejected instruction, with what it duplicated (near-duplicates) or what the teacher said (instance stage)."""

    id: str
    instruction: str
    most_similar: str | None = None
    score: float | None = None
    detail: str | None = None


class Rejection(BaseModel):
    """All rejections for one reason."""

    reason: str
    stage: Literal["filter", "instances"]
    count: int
    examples: list[Example]


class Funnel(BaseModel):
    """The funnel section of the report."""

    steps: list[Step]
    rejections: list[Rejection]
    dropped_instances: dict[str, int] = Field(default_factory=dict)
    proposal_requests: int
    truncated_proposals: int
    emitted_rows: int


def _step_of(reason: str) -> str:
    for name, matches in FILTER_STEPS:
        if matches(reason):
            return name
    return "near-duplicate (ROUGE-L)" if reason == _NEAR_DUPLICATE else _OTHER_STEP


def build_funnel(run: RunData, rows: list[Row]) -> Funnel:
    """Count every stage of the run from its journal; `rows` are the emitted rows."""
    proposed = len(run.candidates)
    by_step: Counter[str] = Counter()
    by_reason: dict[str, list[Example]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for cand in run.candidates:
        if cand.status == "kept":
            continue
        reason = cand.reason or "unknown"
        by_step[_step_of(reason)] += 1
        counts[reason] += 1
        by_reason[reason].append(Example(id=cand.id, instruction=cand.instruction, most_similar=cand.most_similar, score=cand.score))

    steps = [Step(name="proposed", count=proposed)]
    remaining = proposed
    names = [name for name, _ in FILTER_STEPS] + [_OTHER_STEP, "near-duplicate (ROUGE-L)"]
    for name in names:
        if name == _OTHER_STEP and not by_step[name]:
            continue
        remaining -= by_step[name]
        steps.append(Step(name=name, count=remaining, dropped=by_step[name]))

    kept = run.kept
    classified = sum(1 for cid in kept if cid in run.classified)
    done = run.done_ids()
    emitted = len({r.instruction_id for r in rows if r.instruction_id})
    steps.append(Step(name="kept", count=len(kept)))
    before_instances = len(kept)
    recipe = recipe_of_run(run.config.get("recipe"))
    if recipe is None or recipe.CLASSIFIES:  # a recipe that classifies what it kept (recipes/base.py)
        steps.append(Step(name="classified", count=classified, pending=len(kept) - classified))
        before_instances = classified
    # Kept work the run has not reached yet (it stopped early, or is still going) is pending, not dropped.
    failed = sum(1 for cid in kept if cid in run.completed and not run.completed[cid].instances)
    steps += [
        Step(name="with valid instances", count=len(done), dropped=failed, pending=max(0, before_instances - len(done) - failed)),
        Step(name="emitted", count=emitted, dropped=max(0, len(done) - emitted)),
    ]

    instance_reasons: dict[str, list[Example]] = defaultdict(list)
    dropped_instances: Counter[str] = Counter()
    for cid, completed in run.completed.items():
        for dropped in completed.dropped:
            dropped_instances[str(dropped.get("reason", "unknown"))] += 1
        if completed.reason and cid in kept:
            detail = (completed.raw or "").strip()[:300] or None
            instance_reasons[completed.reason].append(Example(id=cid, instruction=kept[cid].instruction, detail=detail))

    rejections = [
        Rejection(reason=r, stage="filter", count=n, examples=by_reason[r][:EXAMPLES_PER_REASON])
        for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ] + [
        Rejection(reason=r, stage="instances", count=len(ex), examples=ex[:EXAMPLES_PER_REASON])
        for r, ex in sorted(instance_reasons.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    requests = max([p.request + 1 for p in run.proposals] + [c.request + 1 for c in run.candidates] + [0])
    return Funnel(
        steps=steps,
        rejections=rejections,
        dropped_instances=dict(dropped_instances.most_common()),
        proposal_requests=requests,
        truncated_proposals=sum(1 for p in run.proposals if p.finish_reason == "length"),
        emitted_rows=sum(1 for r in rows if r.instruction_id),
    )
