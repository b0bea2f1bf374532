"""Recipe `self-instruct` (the default): propose -> filter -> classify -> instances, as Self-Instruct did.

    selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 500

1. propose   prompts/propose_instructions.txt shows 6 seed + 2 machine-written instructions and asks
             for a numbered list of 20 more (temperature 0.7, top_p 0.5, presence_penalty 2).
             Journals one `candidate` per parsed item (kept, or rejected with its reason) and one
             `proposed` per request.
2. filter    stages/filters.py: length, keywords, "Write a program", punctuation, non-ASCII start,
             then ROUGE-L > 0.7 against seeds and everything kept (kept ones join the pool at once).
3. classify  prompts/classify.txt, --classify-batch instructions per request (topped up from the
             queue, so the last batches are full too) at temperature 0, after three
             worked rounds given as chat turns; the answer is a JSON object with one Yes/No per task
             where the endpoint takes a schema. Journals `classified`. An unreadable verdict is asked
             again alone, then defaults to "no".
4. instances prompts/instances_output_first.txt for classification tasks (labels, then inputs),
             prompts/instances_input_first.txt for the rest, worked examples as chat turns, JSON
             answers where the endpoint takes a schema. Journals `completed` with the valid
             instances, the dropped ones and why (stages/filters.py: empty, echoed, unfinished,
             copied from a worked example, a label borrowed from one). A classification task whose
             output-first answer yields nothing, or a single label, gets one input-first try.
   verify    stages/verifiers (unless --no-verifiers): an instruction whose input is missing, wrong
             arithmetic, SQL or Python that does not parse, Python that raises, times out or prints
             other than it says in the sandbox, an output of another kind than asked (the judge), a
             short answer the teacher does not repeat (--consistency; a classification task's labels
             are the choices); dropped instances are journaled with reason and detail.
   mix       stages/mix.py: proposals show seed examples stratified by kind, and a proposed instruction
             whose kind is full (code past the seeds' share + 10 points, or no input past what
             leaves the seeds' share - 10 points of the budget to tasks with one) is rejected as
             mix_full; summary.json's mix sets the run's kinds beside the seeds'.
   quality   with --quality-judge (default for the local teacher): stages/quality_gate.py scores each
             kept instance 1-5 and drops those under --min-quality, journaling score and reason.
5. rows      alpaca_data.json: one {instruction, input, output} row per valid instance.
"""

from __future__ import annotations

import asyncio
import math
import random
from statistics import mean
from typing import TYPE_CHECKING, Any, cast

from selfinstruct.recipes.base import no_identity, no_inputs
from selfinstruct.records import Classified, Completed, Instance, Proposed, SeedTask
from selfinstruct.stages.classify import build_classify_prompt, open_task, parse_verdicts, verdict_schema
from selfinstruct.stages.emit import DATA, alpaca_message, alpaca_rows, write_alpaca_data
from selfinstruct.stages.filters import Verdict, cheap_reason, filter_instances, filter_instruction, foreign_labels
from selfinstruct.stages.gather import gather_all
from selfinstruct.stages.instances import (
    build_instances_prompt,
    demonstration_text,
    instances_schema,
    read_instances,
    worked_labels,
)
from selfinstruct.stages.mix import INPUT_NOTE, MIX_FULL, MixPlan, mix_of_run, without_inline_material
from selfinstruct.stages.propose import (
    build_propose_prompt,
    examples_per_request,
    parse_numbered_list,
    proposal_decoding,
    sample_examples,
)
from selfinstruct.stages.quality_gate import LOW_QUALITY, gate
from selfinstruct.stages.verifiers import add_teacher_checks
from selfinstruct.teacher.client import Decoding

if TYPE_CHECKING:
    from selfinstruct.recipes.base import Driver, RecipeSettings
    from selfinstruct.run import RunState
    from selfinstruct.stages.estimate import StageEstimate
    from selfinstruct.templates import Templates

# Each template this recipe renders, and the placeholders it must contain.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "propose_instructions": ("num_instructions", "examples"),
    "classify": ("tasks",),
    "instances_input_first": ("max_instances", "instruction"),
    "instances_output_first": ("max_instances", "instruction"),
}
DECODING = {"temperature": 0.7, "top_p": 0.5, "presence_penalty": 2.0}
EXAMPLES = (6, 2)  # seed tasks, machine-written tasks shown per proposal request
TOKENS_PER_ITEM = 50  # room per proposed instruction in the proposal's max_tokens


def prepare(driver: Driver) -> None:
    """Kept instructions without instances are already queued by the driver; the verifiers get the teacher for
    the checks that ask it (answer kind, self-consistency); the session's MixPlan (`plan(driver)`) steers the task mix
    towards the seeds' (stages/mix.py), counting what the journal already kept."""
    judge = driver.quality.teacher if driver.quality is not None else None
    add_teacher_checks(driver.verifier, driver.cfg, driver.teacher, judge, proposal_decoding(driver.cfg, DECODING, TOKENS_PER_ITEM).temperature)
    plan = MixPlan(driver.seeds, driver.cfg.budget)
    for cid, cand in driver.state.kept.items() if driver.cfg.seed_mix else ():  # without steering nothing reads the counts
        completed = driver.state.completed.get(cid)
        if completed is None or completed.finished:
            plan.count(cand.instruction)
        if completed is not None and completed.finished:
            plan.settle(cand.instruction, any(i.input.strip() for i in completed.instances))
        plan.recall(cand.detail)  # a run whose mix gave way stays given way
    driver.recipe_session = plan


def mix_plan(driver: Driver) -> MixPlan:
    """The session's task-mix plan, set by prepare (this recipe's and conversation's recipe_session)."""
    return cast(MixPlan, driver.recipe_session)


# --- 1 + 2: propose and filter ---------------------------------------------------------


def proposal_prompt(cfg: RecipeSettings, templates: Templates, seeds: list[SeedTask], machine: list[str], request: int, plan: MixPlan | None = None) -> str:
    """The proposal prompt of request number `request`: reproducible from the run's --seed (and, with a `plan`,
    from what the run has kept: seed examples stratified by kind, stages/mix.py)."""
    rng = random.Random(f"{cfg.seed}:{request}")
    num_seed, num_machine = examples_per_request(cfg, EXAMPLES)
    if plan is None:
        texts = sample_examples(rng, [s.instruction for s in seeds], machine, num_seed, num_machine)
    elif plan.focus_input(request):
        return build_propose_prompt(templates, plan.sample_input_seeds(rng, num_seed + num_machine), cfg.num_instructions_per_request, INPUT_NOTE)
    else:
        pool = plan.machine_examples(machine)
        picked = rng.sample(pool, min(num_machine, len(pool)))
        texts = plan.sample_seeds(rng, num_seed + num_machine - len(picked)) + picked
        rng.shuffle(texts)
    return build_propose_prompt(templates, texts, cfg.num_instructions_per_request)


async def propose(driver: Driver, request: int) -> None:
    cfg, plan = driver.cfg, mix_plan(driver)
    prompt = proposal_prompt(cfg, driver.templates, driver.seeds, driver.machine, request, plan if cfg.seed_mix else None)
    completion = await driver.teacher.complete(prompt, proposal_decoding(cfg, DECODING, TOKENS_PER_ITEM), stage="propose")
    items = parse_numbered_list(completion.text, completion.truncated)
    # The mix gives way when the teacher keeps proposing kinds that are full, or once half the proposal cap is spent:
    # steering must not stop a run the filters would finish (stages/mix.py).
    if cfg.seed_mix and request >= cfg.proposal_cap // 2:
        plan.give_way(f"half the proposal cap is spent (request {request + 1} of {cfg.proposal_cap})")
    for j, instruction in enumerate(items):
        instruction = without_inline_material(instruction) if cfg.seed_mix else instruction
        steering = cfg.seed_mix and plan.gave_way is None
        full = plan.judge(instruction) if steering and not cheap_reason(instruction, cfg.allow_non_ascii, driver.banned_words) else None
        if full is not None:
            driver.record_candidate(request, j, instruction, Verdict(MIX_FULL), detail=full)
            continue
        verdict = filter_instruction(instruction, driver.pool, cfg.allow_non_ascii, driver.banned_words)
        driver.record_candidate(request, j, instruction, verdict, detail=plan.note() if verdict.reason is None and cfg.seed_mix else None)
        if verdict.reason is None and cfg.seed_mix:
            plan.count(instruction)
    driver.record(Proposed(request=request, parsed=len(items), finish_reason=completion.finish_reason))


# --- 3 + 4: classify, then instances ---------------------------------------------------


def finish_batch(cfg: RecipeSettings) -> int:
    """Kept instructions handled together: one classification request judges this many."""
    return cfg.classify_batch


async def finish(driver: Driver, ids: list[str]) -> None:
    classified, early = driver.state.classified, driver.early
    todo = [i for i in ids if i not in classified and i not in early]
    if todo:
        # Fill the request up to --classify-batch with instructions still queued, so the last batches
        # of a run (smaller than the budget gap) do not cost a request each; those are classified early.
        ahead = driver.lookahead(finish_batch(driver.cfg) - len(todo), lambda i: i not in classified and i not in early)
        batch = todo + ahead
        request = asyncio.ensure_future(_classify(driver, batch))
        early.update(dict.fromkeys(batch, request))
        try:
            await request
        finally:
            for cid in batch:
                early.pop(cid, None)
    # Instructions of ours that another batch's request is classifying right now.
    await asyncio.gather(*{early[i] for i in ids if i in early})
    await gather_all(*(_instances(driver, cid) for cid in ids))


async def _classify(driver: Driver, ids: list[str], single: bool = False) -> None:
    instructions = [driver.state.kept[i].instruction for i in ids]
    structured = driver.teacher.structured is not None
    prompt = build_classify_prompt(driver.templates, instructions, structured)
    schema = verdict_schema(len(ids)) if structured else None
    decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=16 + 8 * len(ids), json_schema=schema)
    # Ahead of queued instance requests: this batch's own instance requests wait on the answer.
    completion = await driver.teacher.complete(prompt, decoding, stage="classify", ahead=True)
    verdicts = parse_verdicts(completion.text, len(ids))
    unreadable = []
    for cid, verdict in zip(ids, verdicts):
        if verdict is None:
            unreadable.append(cid)
        elif verdict and open_task(driver.state.kept[cid].instruction):
            # The teacher's "label" for a task that opens as an explanation or code is overruled, and says so.
            driver.record(Classified(id=cid, is_classification=False, answer="open task, not a label: " + completion.text.strip()[:170]))
        else:
            driver.record(Classified(id=cid, is_classification=verdict, answer=completion.text.strip()[:200]))
    if unreadable and not single and len(ids) > 1:
        await asyncio.gather(*(_classify(driver, [cid], single=True) for cid in unreadable))
    else:
        for cid in unreadable:
            # Input-first is the safe default: it works for any task, output-first needs labels.
            driver.record(Classified(id=cid, is_classification=False, answer="unreadable: " + completion.text.strip()[:180]))


async def _instances(driver: Driver, cid: str) -> None:
    is_clf = driver.state.classified[cid].is_classification
    answered = driver.state.completed.get(cid)
    if answered is not None and answered.unchecked:
        # Answered before a stop that came during the checks: checked now, not asked again.
        kept, dropped, reason, raw = answered.instances, answered.dropped, answered.reason, answered.raw
        labelled = bool(answered.checks.get("labels"))
    else:
        kept, dropped, reason, raw = await _ask_instances(driver, cid, is_clf)
        labelled = is_clf and bool(kept)  # the outputs are the task's labels (not after an input-first try)
        if not kept and is_clf and reason != "conflicting_outputs":
            # A teacher that cannot follow the output-first format (small models) gets one input-first try;
            # what the first try dropped stays in the journal beside the second's.
            first_dropped = dropped
            kept, dropped, reason, raw = await _ask_instances(driver, cid, False)
            dropped = first_dropped + dropped
        if kept and (driver.verifier is not None or driver.quality is not None):
            # Journaled before the checks that ask the teacher, so a stop during them costs no second instance request.
            # Not through driver.record: the instruction keeps its place in the work under way until it is checked.
            answer = Completed(id=cid, instances=kept, dropped=dropped, raw=raw, unchecked=True, checks={"labels": int(labelled)})
            driver.state.apply(answer, driver.rundir.append(answer))
    kept, notes, checks = kept[: driver.cfg.max_instances], [], {}
    if kept and driver.verifier is not None:
        # Checks that need no judge come first: they are cheaper than the gate's request per instance.
        labels = sorted({i.output.strip() for i in kept}) if labelled and len({i.output.strip().lower() for i in kept}) > 1 else None
        kept, wrong, checks = await driver.verifier.verify(driver.state.kept[cid].instruction, kept, labels)
        dropped += wrong
        reason, raw = (wrong[0]["reason"], None) if not kept else (reason, raw)
    if kept and driver.quality is not None:
        # The judge scores what the filters let through; an instruction it empties is replaced like any other.
        kept, low, notes = await gate(driver.quality, driver.state.kept[cid].instruction, kept, driver.cfg.min_quality)
        dropped += low
        reason, raw = (LOW_QUALITY, None) if not kept else (reason, raw)
    driver.record(Completed(id=cid, instances=kept, dropped=dropped, reason=reason, raw=raw, quality=notes, checks=checks))
    if not driver.cfg.seed_mix:
        return  # the mix is not steered: its counts are not kept (each costs the instruction's reading, stages/mix.py)
    if not kept:
        mix_plan(driver).count(driver.state.kept[cid].instruction, -1)  # its place in the mix is free again
    else:
        mix_plan(driver).settle(driver.state.kept[cid].instruction, any(i.input.strip() for i in kept))


async def _ask_instances(driver: Driver, cid: str, output_first: bool) -> tuple[list[Instance], list[dict], str | None, str | None]:
    """One instance request: (kept instances, dropped ones, task-level reason, raw text when nothing was kept)."""
    cfg, instruction = driver.cfg, driver.state.kept[cid].instruction
    structured = driver.teacher.structured is not None
    prompt = build_instances_prompt(driver.templates, instruction, output_first, cfg.max_instances, structured)
    schema = instances_schema(output_first) if structured else None
    decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=instances_max_tokens(cfg), json_schema=schema)
    completion = await driver.teacher.complete(prompt, decoding, stage="instances")
    # Labels of the worked examples that this task never implies (output-first only) are borrowed, not answers.
    foreign = foreign_labels(instruction, worked_labels(prompt)) if output_first else set()
    instances = read_instances(completion.text, output_first, completion.truncated, cfg.max_instances)
    kept, dropped, reason = filter_instances(instances, demonstration_text(prompt), foreign, output_first, instruction)
    if output_first and kept and len({i.output.lower() for i in kept}) < 2:
        # One label is no label set: the task was most likely not a classification task after all.
        dropped += [{"input": i.input, "output": i.output, "reason": "single_label"} for i in kept]
        kept, reason = [], "single_label"
    if not kept and completion.finish_reason == "content_filter":
        reason = "content_filter"  # the endpoint refused to answer; say so rather than "no valid instances"
    return kept, dropped, reason, (completion.text[:500] if not kept else None)


def gated_instances(cfg: RecipeSettings) -> int:
    """Instances the quality gate is expected to score for the budget (one judge request each)."""
    from selfinstruct.stages import estimate as est

    return cfg.budget * min(est.INSTANCES_PER_INSTRUCTION, cfg.max_instances)


def instances_max_tokens(cfg: RecipeSettings) -> int:
    return cfg.max_tokens or 60 + 120 * cfg.max_instances


# --- 5: the product ---------------------------------------------------------------------

rows = alpaca_rows


def summary(state: RunState, cfg: RecipeSettings) -> dict[str, Any]:
    """The task mix of the finished instructions beside the seeds' (stages/mix.py), for summary.json and the table."""
    return {"mix": mix_of_run(state, cfg)}


# --- the dry run --------------------------------------------------------------------------


def estimate(cfg: RecipeSettings, templates: Templates, seeds: list[SeedTask], structured: bool) -> list[StageEstimate]:
    """Proposals for enough kept instructions, then classification batches and one instance request each."""
    from selfinstruct.stages import estimate as est

    kept = math.ceil(cfg.budget / est.FINISH_RATE)
    decoding = proposal_decoding(cfg, DECODING, TOKENS_PER_ITEM)
    # Machine-written examples are about as long as seeds; seeds stand in for them here.
    propose_stage = est.proposal_stage(
        cfg, kept, est.TOKENS_PER_PROPOSED_INSTRUCTION, decoding.max_tokens,
        lambda i: proposal_prompt(cfg, templates, seeds, [], i),
    )  # fmt: skip
    batch = finish_batch(cfg)
    batches = math.ceil(kept / batch)
    classify_prompt = est.prompt_tokens(build_classify_prompt(templates, [s.instruction for s in seeds[:batch]], structured), cfg)
    # Seeds tell what share of tasks are classification (output-first prompts) in this domain.
    clf_share = sum(s.is_classification for s in seeds) / len(seeds)
    probe = seeds[: min(len(seeds), est.PROMPT_SAMPLES)]
    input_first = mean(est.prompt_tokens(build_instances_prompt(templates, s.instruction, False, cfg.max_instances, structured), cfg) for s in probe)
    output_first = mean(est.prompt_tokens(build_instances_prompt(templates, s.instruction, True, cfg.max_instances, structured), cfg) for s in probe)
    per_answer = est.TOKENS_PER_INSTANCE * min(est.INSTANCES_PER_INSTRUCTION, cfg.max_instances) + 10
    return [
        propose_stage,
        est.StageEstimate(
            stage="classify",
            requests=batches,
            prompt_tokens=batches * classify_prompt,
            completion_tokens=kept * est.TOKENS_PER_VERDICT,
            worst_completion_tokens=batches * (16 + 8 * batch),
        ),
        est.StageEstimate(
            stage="instances",
            requests=kept,
            prompt_tokens=round(kept * (clf_share * output_first + (1 - clf_share) * input_first)),
            completion_tokens=kept * per_answer,
            worst_completion_tokens=kept * instances_max_tokens(cfg),
        ),
    ]


# --- the rest of the Recipe protocol (recipes/base.py) -----------------------------------------------

BUDGET_UNIT = "instructions"
NEEDS_SEEDS = True
ITEMS_PER_REQUEST = None  # --num-instructions-per-request
PROPOSAL_SHARE = 0.5
ESTIMATE_ASSUMES = None  # the filters' keep rate and the finish rate
PRODUCTS = (DATA,)
INSTRUCTION_ROWS = True
CLASSIFIES = True
ASKED_IN_INPUT = False
check_inputs = no_inputs
write_product = write_alpaca_data
product_message = alpaca_message
OPTIONS = None  # its options are generate's own
identity = no_identity
HELP = "propose, filter, classify, then instances (output-first for classification)."
