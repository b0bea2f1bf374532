"""The verifiers' part of a run's report: instances dropped by each check, with examples, and what passed.

    verified = build_verified(source.run)
    verified.dropped[0]     # reason, count, three examples with the instruction, output and why

Counted from the journal like the funnel: the dropped instances of `completed` lines (recipe
self-instruct), the rejected candidates (recipe alpaca, whose instance checks run before
ROUGE-L), and the `checks` counts of the kept ones (code run, output matched, other languages).
The self-consistency agreement and the task mix beside the seeds' are read from summary.json, as
generate counted them.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pydantic import BaseModel

from selfinstruct.report.source import RunData
from selfinstruct.stages.mix import Mix
from selfinstruct.stages.verifiers import REASONS

EXAMPLES_PER_REASON = 3


class DroppedExample(BaseModel):
    instruction: str
    output: str
    why: str | None = None


class DroppedBy(BaseModel):
    """All instances one check dropped."""

    reason: str
    count: int
    examples: list[DroppedExample]


class Verified(BaseModel):
    """The verifiers section: on or not (as config.json says), drops by reason, and the checks the kept instances passed."""

    on: bool
    dropped: list[DroppedBy]
    checks: dict[str, int]
    agreement: str | None = None  # "16 of 18 new answers agreed (88.9%); 1 of 9 short answers dropped"
    mix: str | None = None  # the run's task kinds, then the seeds'


def build_verified(run: RunData) -> Verified:
    examples: dict[str, list[DroppedExample]] = defaultdict(list)
    counts: Counter[str] = Counter()
    checks: Counter[str] = Counter()
    kept = run.kept
    for cand in run.candidates:
        if cand.status == "rejected" and cand.reason in REASONS:
            counts[cand.reason] += 1
            output = cand.instances[0].output if cand.instances else ""
            examples[cand.reason].append(DroppedExample(instruction=cand.instruction, output=output[:300], why=cand.detail))
    for cid, completed in run.completed.items():
        checks.update(completed.checks)
        for dropped in completed.dropped:
            reason = str(dropped.get("reason"))
            if reason in REASONS:
                counts[reason] += 1
                instruction = kept[cid].instruction if cid in kept else ""
                examples[reason].append(DroppedExample(instruction=instruction, output=str(dropped.get("output", ""))[:300], why=dropped.get("detail")))
    dropped = [DroppedBy(reason=r, count=n, examples=examples[r][:EXAMPLES_PER_REASON]) for r, n in counts.most_common()]
    agreement = (run.summary.get("verifiers") or {}).get("consistency")
    line = None
    if agreement and agreement.get("answers"):
        line = (f"{agreement['agreed']} of {agreement['answers']} new answers agreed ({100 * agreement['agreement_rate']:.1f}%); "
                f"{agreement['dropped']} of {agreement['checked']} short answers dropped")  # fmt: skip
    mix = run.summary.get("mix")
    mix_line = f"this run: {Mix.model_validate(mix['run']).line()}. Seeds: {Mix.model_validate(mix['seeds']).line()}." if mix else None
    if mix and mix.get("gave_way"):
        mix_line = f"{mix_line} The mix gave way: {mix['gave_way']}."
    checks = {k: v for k, v in checks.items() if not k.startswith("consistency_") and k != "labels"}
    return Verified(on=bool(run.config.get("verifiers", False)), dropped=dropped, checks=dict(sorted(checks.items())), agreement=line, mix=mix_line)
