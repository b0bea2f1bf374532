"""`generate --dry-run`: expected requests, tokens and cost for a budget and recipe, with nothing sent.

Prompt tokens come from the real templates rendered with the real seed tasks and counted with
tiktoken, so they track the prompts a run would send. What the teacher answers cannot be known
in advance; these documented assumptions stand in for it (they match typical runs, and the
estimate is checked against actual usage in the tests):

- KEEP_RATE of proposed instructions pass the filters (length, keywords, ROUGE-L near-duplicates);
- FINISH_RATE of kept instructions end up with at least one valid instance;
- answers run to the per-item token counts below, far under each request's max_tokens.

A worst case, every response filling its max_tokens, is shown too: it is what the spend caps
reserve per request, so it tells whether --max-usd / --max-total-tokens would let the run finish.
"""

from __future__ import annotations

import math
import random
from statistics import mean

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from selfinstruct.config import GenerateConfig
from selfinstruct.teacher.endpoint import DEFAULT_OPENAI_MODEL, wants_local
from selfinstruct.records import SeedTask, read_seed_tasks
from selfinstruct.teacher.spend import count_tokens, price_for
from selfinstruct.stages.classify import build_classify_prompt
from selfinstruct.stages.instances import build_instances_prompt
from selfinstruct.stages.propose import build_alpaca_prompt, build_propose_prompt, sample_examples
from selfinstruct.templates import Templates

KEEP_RATE = 0.6
FINISH_RATE = 0.9
TOKENS_PER_PROPOSED_INSTRUCTION = 18  # "12. Explain ... for ... in ..." is one sentence
TOKENS_PER_ALPACA_TASK = 80  # instruction, input and a short output
TOKENS_PER_VERDICT = 4  # "3. Yes"
TOKENS_PER_INSTANCE = 30
INSTANCES_PER_INSTRUCTION = 3
# The chat API wraps a prompt in a few tokens of message framing (the teacher reserves the same).
CHAT_OVERHEAD = 8
# Proposal prompts differ by their sampled examples: average a few to smooth that out.
PROMPT_SAMPLES = 8


class StageEstimate(BaseModel):
    """Expected requests and tokens for one stage, plus the worst case the caps reserve."""

    stage: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    worst_completion_tokens: int


class Estimate(BaseModel):
    """The whole dry-run answer: per-stage numbers, totals and cost (None when the price is unknown)."""

    model: str
    local: bool
    budget: int
    recipe: str
    stages: list[StageEstimate]
    price_per_m: tuple[float, float] | None
    proposal_cap_hit: bool = False

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.stages)

    @property
    def prompt_tokens(self) -> int:
        return sum(s.prompt_tokens for s in self.stages)

    @property
    def completion_tokens(self) -> int:
        return sum(s.completion_tokens for s in self.stages)

    @property
    def worst_tokens(self) -> int:
        return sum(s.prompt_tokens + s.worst_completion_tokens for s in self.stages)

    def cost(self, completion_tokens: int | None = None) -> float | None:
        if self.price_per_m is None:
            return None
        out = self.completion_tokens if completion_tokens is None else completion_tokens
        return (self.prompt_tokens * self.price_per_m[0] + out * self.price_per_m[1]) / 1e6

    @property
    def usd(self) -> float | None:
        return self.cost()

    @property
    def worst_usd(self) -> float | None:
        return self.cost(sum(s.worst_completion_tokens for s in self.stages))


def _tokens(prompt: str, cfg: GenerateConfig) -> int:
    return count_tokens(prompt) + (CHAT_OVERHEAD if cfg.api == "chat" else 0)


def _proposal_prompt_tokens(cfg: GenerateConfig, templates: Templates, seeds: list[SeedTask]) -> float:
    num_seed, num_machine = cfg.examples_per_request
    n = cfg.num_instructions_per_request
    sizes = []
    for i in range(PROMPT_SAMPLES):
        rng = random.Random(f"{cfg.seed}:{i}")
        if cfg.recipe == "alpaca":
            prompt = build_alpaca_prompt(templates, rng.sample(seeds, min(num_seed, len(seeds))), n)
        else:
            # Machine-written examples are about as long as seeds; seeds stand in for them here.
            texts = sample_examples(rng, [s.instruction for s in seeds], [], num_seed, num_machine)
            prompt = build_propose_prompt(templates, texts, n)
        sizes.append(_tokens(prompt, cfg))
    return mean(sizes)


def _model_and_price(cfg: GenerateConfig) -> tuple[str, bool, tuple[float, float] | None]:
    if wants_local(cfg):
        return cfg.local_model, True, (0.0, 0.0)
    model = cfg.model or DEFAULT_OPENAI_MODEL
    return model, False, price_for(model, cfg.price_input, cfg.price_output)


def estimate_run(cfg: GenerateConfig) -> Estimate:
    """Estimate a fresh run of cfg from its seeds and templates; contacts no endpoint and writes nothing."""
    seeds = read_seed_tasks(cfg.seeds)
    templates = Templates(cfg.prompts)
    model, local, price = _model_and_price(cfg)
    n = cfg.num_instructions_per_request
    proposal_out = TOKENS_PER_ALPACA_TASK if cfg.recipe == "alpaca" else TOKENS_PER_PROPOSED_INSTRUCTION
    if cfg.recipe == "alpaca":
        kept_needed = cfg.budget  # an alpaca task arrives with its instance: kept means finished
    else:
        kept_needed = math.ceil(cfg.budget / FINISH_RATE)
    wanted = math.ceil(kept_needed / (n * KEEP_RATE))
    proposals = min(wanted, cfg.proposal_cap)
    stages = [
        StageEstimate(
            stage="propose",
            requests=proposals,
            prompt_tokens=round(proposals * _proposal_prompt_tokens(cfg, templates, seeds)),
            completion_tokens=proposals * (n * proposal_out + 20),
            worst_completion_tokens=proposals * cfg.proposal_max_tokens,
        )
    ]
    if cfg.recipe == "self-instruct":
        stages += _finish_stages(cfg, templates, seeds, kept_needed)
    return Estimate(
        model=model, local=local, budget=cfg.budget, recipe=cfg.recipe, stages=stages,
        price_per_m=price, proposal_cap_hit=wanted > cfg.proposal_cap,
    )  # fmt: skip


def _finish_stages(cfg: GenerateConfig, templates: Templates, seeds: list[SeedTask], kept: int) -> list[StageEstimate]:
    """Classification batches and one instance request per kept instruction the run needs."""
    batch = cfg.classify_batch
    batches = math.ceil(kept / batch)
    sample = [s.instruction for s in seeds[:batch]]
    classify_prompt = _tokens(build_classify_prompt(templates, sample), cfg)
    # Seeds tell what share of tasks are classification (output-first prompts) in this domain.
    clf_share = sum(s.is_classification for s in seeds) / len(seeds)
    probe = seeds[: min(len(seeds), PROMPT_SAMPLES)]
    input_first = mean(_tokens(build_instances_prompt(templates, s.instruction, False, cfg.max_instances), cfg) for s in probe)
    output_first = mean(_tokens(build_instances_prompt(templates, s.instruction, True, cfg.max_instances), cfg) for s in probe)
    instances_prompt = clf_share * output_first + (1 - clf_share) * input_first
    per_answer = TOKENS_PER_INSTANCE * min(INSTANCES_PER_INSTRUCTION, cfg.max_instances) + 10
    instance_max = cfg.max_tokens or 60 + 120 * cfg.max_instances  # what the instance stage asks for
    return [
        StageEstimate(
            stage="classify",
            requests=batches,
            prompt_tokens=batches * classify_prompt,
            completion_tokens=kept * TOKENS_PER_VERDICT,
            worst_completion_tokens=batches * (16 + 8 * batch),
        ),
        StageEstimate(
            stage="instances",
            requests=kept,
            prompt_tokens=round(kept * instances_prompt),
            completion_tokens=kept * per_answer,
            worst_completion_tokens=kept * instance_max,
        ),
    ]


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def print_estimate(est: Estimate, cfg: GenerateConfig | None = None, console: Console | None = None) -> None:
    """The dry-run report: a per-stage table, the cost, the worst case, and how the caps compare."""
    # Soft wrap: long lines are the terminal's to wrap, so they stay whole when copied or grepped.
    console = console or Console(soft_wrap=True)
    console.print(f"selfinstruct generate --dry-run: {est.budget} instructions, recipe {est.recipe}", highlight=False)
    table = Table()
    for name in ("stage", "requests", "tokens in", "tokens out", "worst-case out"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for s in est.stages:
        table.add_row(s.stage, f"{s.requests:,}", f"{s.prompt_tokens:,}", f"{s.completion_tokens:,}", f"{s.worst_completion_tokens:,}")
    worst_out = sum(s.worst_completion_tokens for s in est.stages)
    table.add_row("total", f"{est.requests:,}", f"{est.prompt_tokens:,}", f"{est.completion_tokens:,}", f"{worst_out:,}", style="bold")
    console.print(table)
    if est.local:
        console.print(f"model: {est.model} (local): free", highlight=False)
    elif est.price_per_m is None:
        console.print(
            f"model: {est.model}: no known price; pass --price-input and --price-output (USD per 1M tokens) to see a cost",
            highlight=False,
        )
    else:
        pin, pout = est.price_per_m
        console.print(
            f"model: {est.model} at ${pin:g} in / ${pout:g} out per 1M tokens: estimated cost {_usd(est.usd)}, "
            f"worst case {_usd(est.worst_usd)}",
            highlight=False,
        )
    console.print(
        f"assumes {KEEP_RATE:.0%} of proposed instructions pass the filters, {FINISH_RATE:.0%} of kept ones get valid "
        f"instances, and answers of typical length; retries are not counted. Nothing was sent.",
        highlight=False,
    )
    if est.proposal_cap_hit:
        console.print("[yellow]warning:[/yellow] the proposal cap (--max-proposals) is below what this budget is likely to need")
    if cfg is not None:
        _compare_caps(est, cfg, console)


def _compare_caps(est: Estimate, cfg: GenerateConfig, console: Console) -> None:
    if cfg.max_usd is not None and est.usd is not None and est.usd > cfg.max_usd:
        console.print(f"[yellow]warning:[/yellow] the estimate {_usd(est.usd)} is over --max-usd {cfg.max_usd:g}; the run would stop early")
    if cfg.max_total_tokens is not None and est.prompt_tokens + est.completion_tokens > cfg.max_total_tokens:
        console.print(
            f"[yellow]warning:[/yellow] the estimate of {est.prompt_tokens + est.completion_tokens:,} tokens is over "
            f"--max-total-tokens {cfg.max_total_tokens:,}; the run would stop early"
        )
