"""Recipe `alpaca`: one pass, as Stanford Alpaca did: complete tasks in, filtered tasks out.

    selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 500 --recipe alpaca

1. propose   prompts/alpaca_propose.txt shows 3 seed tasks with their input and output and asks
             for 20 new complete tasks (temperature 1.0, top_p 1.0), '###'-separated.
2. filter    each task's instance first (empty output, output equal to input, ending with ":"),
             then the instruction filters of stages/filters.py, ROUGE-L last. Journals one
             `candidate` per task (with its instance) and one `proposed` per request. The verifiers
             (stages/verifiers, unless --no-verifiers) check the instance before ROUGE-L; a kept task
             is finished at once with a `completed` line: there is no classify or instance stage.
   quality   with --quality-judge (default for the local teacher), a kept task waits in the queue
             until stages/quality_gate.py has scored its instance; under --min-quality it is dropped.
3. rows      alpaca_data.json: one {instruction, input, output} row per kept task.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from selfinstruct.recipes.base import no_identity, no_inputs, no_summary
from selfinstruct.records import Completed, Instance, Proposed, SeedTask
from selfinstruct.stages.emit import DATA, alpaca_message, alpaca_rows, write_alpaca_data
from selfinstruct.stages.filters import Verdict, cheap_reason, filter_instances, filter_instruction
from selfinstruct.stages.propose import build_alpaca_prompt, examples_per_request, parse_alpaca_tasks, proposal_decoding
from selfinstruct.stages.quality_gate import LOW_QUALITY, gate
from selfinstruct.stages.verifiers import add_teacher_checks

if TYPE_CHECKING:
    from selfinstruct.recipes.base import Driver, RecipeSettings
    from selfinstruct.stages.estimate import StageEstimate
    from selfinstruct.templates import Templates

TEMPLATES: dict[str, tuple[str, ...]] = {"alpaca_propose": ("num_instructions", "examples")}
DECODING = {"temperature": 1.0, "top_p": 1.0, "presence_penalty": 0.0}
EXAMPLES = (3, 0)  # seed tasks, machine-written tasks shown per proposal request
TOKENS_PER_ITEM = 150  # room per complete task (instruction, input, output) in max_tokens


def prepare(driver: Driver) -> None:
    """A task brings its instance along: a crash between its two journal lines leaves it kept but not
    completed, and it is finished from its own instance, with no request. With the quality judge on,
    kept tasks stay queued for `finish`, which scores them first. The verifiers get the teacher for the checks
    that ask it (answer kind, self-consistency)."""
    judge = driver.quality.teacher if driver.quality is not None else None
    add_teacher_checks(driver.verifier, driver.cfg, driver.teacher, judge, proposal_decoding(driver.cfg, DECODING, TOKENS_PER_ITEM).temperature)
    if driver.quality is None:
        for cid in driver.state.pending_ids():
            driver.record(Completed(id=cid, instances=driver.state.kept[cid].instances))


# --- 1 + 2: propose and filter ---------------------------------------------------------


def proposal_prompt(cfg: RecipeSettings, templates: Templates, seeds: list[SeedTask], request: int) -> str:
    rng = random.Random(f"{cfg.seed}:{request}")
    num_seed, _ = examples_per_request(cfg, EXAMPLES)
    examples = rng.sample(seeds, min(num_seed, len(seeds)))
    return build_alpaca_prompt(templates, examples, cfg.num_instructions_per_request)


async def propose(driver: Driver, request: int) -> None:
    cfg = driver.cfg
    prompt = proposal_prompt(cfg, driver.templates, driver.seeds, request)
    completion = await driver.teacher.complete(prompt, proposal_decoding(cfg, DECODING, TOKENS_PER_ITEM), stage="propose")
    pairs = parse_alpaca_tasks(completion.text, completion.truncated)
    for j, (instruction, instance) in enumerate(pairs):
        await _filter(driver, request, j, instruction, instance)
    driver.record(Proposed(request=request, parsed=len(pairs), finish_reason=completion.finish_reason))


async def _filter(driver: Driver, request: int, j: int, instruction: str, instance: Instance) -> None:
    """The instance must pass (its filters, then the verifiers) before the instruction is compared with (and joins) the ROUGE-L pool."""
    reason = cheap_reason(instruction, driver.cfg.allow_non_ascii, driver.banned_words)
    kept, dropped, bad = filter_instances([instance], instruction=instruction) if not reason else ([], [], None)
    reason = reason or bad
    checks: dict[str, int] = {}
    if not reason and driver.verifier is not None:
        kept, wrong, checks = await driver.verifier.verify(instruction, kept)
        if wrong:
            driver.record_candidate(request, j, instruction, Verdict(wrong[0]["reason"]), instances=[instance], enqueue=False,
                                    detail=wrong[0]["detail"])  # fmt: skip
            return
    if reason:
        driver.record_candidate(request, j, instruction, Verdict(reason), instances=[instance], enqueue=False)
        return
    verdict = filter_instruction(instruction, driver.pool, driver.cfg.allow_non_ascii, driver.banned_words)
    gated = driver.quality is not None
    cid = driver.record_candidate(request, j, instruction, verdict, instances=kept, enqueue=gated)
    if verdict.reason is None and not gated:
        driver.record(Completed(id=cid, instances=kept, dropped=dropped, checks=checks))
    elif verdict.reason is None and checks and driver.verifier is not None:
        driver.verifier.pending_checks[cid] = checks  # for its completed line, once the gate has scored it (lost if the run stops first)


# --- after filtering: nothing, a kept task is already complete --------------------------


def finish_batch(cfg: RecipeSettings) -> int:
    return 1


async def finish(driver: Driver, ids: list[str]) -> None:
    """Only with the quality judge on: score each kept task's instance, then complete it (or not)."""
    if driver.quality is None:
        prepare(driver)
        return
    for cid in ids:
        task = driver.state.kept[cid]
        kept, dropped, notes = await gate(driver.quality, task.instruction, task.instances, driver.cfg.min_quality)
        checks = driver.verifier.pending_checks.pop(cid, {}) if driver.verifier is not None else {}
        driver.record(Completed(id=cid, instances=kept, dropped=dropped, reason=None if kept else LOW_QUALITY, quality=notes, checks=checks))


def gated_instances(cfg: RecipeSettings) -> int:
    """Instances the quality gate is expected to score: one per task of the budget."""
    return cfg.budget


# --- 3: the product ---------------------------------------------------------------------

rows = alpaca_rows


# --- the dry run --------------------------------------------------------------------------


def estimate(cfg: RecipeSettings, templates: Templates, seeds: list[SeedTask], structured: bool) -> list[StageEstimate]:
    """Proposals only: a kept task arrives with its instance, so kept means finished."""
    from selfinstruct.stages import estimate as est

    decoding = proposal_decoding(cfg, DECODING, TOKENS_PER_ITEM)
    return [
        est.proposal_stage(
            cfg, cfg.budget, est.TOKENS_PER_ALPACA_TASK, decoding.max_tokens,
            lambda i: proposal_prompt(cfg, templates, seeds, i),
        )
    ]  # fmt: skip


# --- the rest of the Recipe protocol (recipes/base.py) -----------------------------------------------

BUDGET_UNIT = "instructions"
NEEDS_SEEDS = True
ITEMS_PER_REQUEST = None  # --num-instructions-per-request
PROPOSAL_SHARE = 0.5
ESTIMATE_ASSUMES = None  # the filters' keep rate and the finish rate
PRODUCTS = (DATA,)
INSTRUCTION_ROWS = True
CLASSIFIES = False  # one pass: no classification stage
ASKED_IN_INPUT = False
check_inputs = no_inputs
write_product = write_alpaca_data
product_message = alpaca_message
summary = no_summary
OPTIONS = None  # its options are generate's own
identity = no_identity
HELP = "one pass, 3 seed examples in, complete tasks out."
