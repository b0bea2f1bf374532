"""`generate --dry-run`: expected requests, tokens and cost for a budget and recipe, with nothing sent.

    print_estimate(estimate_run(cfg), cfg)

Each recipe estimates its own stages (`recipe.estimate`) with the helpers and constants in stages/estimate.py.

Prompt tokens come from the real templates rendered with the real seed tasks and counted with
tiktoken, so they track the prompts a run would send. What the teacher answers cannot be known
in advance; these documented assumptions stand in for it (they match typical runs, and the
estimate is checked against actual usage in the tests):

- KEEP_RATE of proposed instructions pass the filters (length, keywords, ROUGE-L near-duplicates);
- FINISH_RATE of kept instructions end up with at least one valid instance;
- the verifiers' requests (--consistency K more answers for each short answer, one answer-kind question for each
  output whose form may not be what was asked) come in the shares the seed tasks' own instances show;
- answers run to the per-item token counts below, far under each request's max_tokens.

A worst case, every response filling its max_tokens, is shown too: it is what the spend caps
reserve per request, so it tells whether --max-usd / --max-total-tokens would let the run finish.
"""

from __future__ import annotations

from statistics import mean

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.records import SeedTask, read_seed_tasks
from selfinstruct.stages.estimate import (
    FINISH_RATE,
    KEEP_RATE,
    PROMPT_SAMPLES,
    StageEstimate,
    prompt_tokens,
)
from selfinstruct.stages.quality_gate import quality_gate_on
from selfinstruct.teacher.endpoint import resolve_endpoint
from selfinstruct.templates import Templates

SHORT_ANSWER_TOKENS = 6  # a label, a number or a few words (consistency.py keeps answers of up to 5 words)


class Estimate(BaseModel):
    """The whole dry-run answer: per-stage numbers, totals and cost (None when the price is unknown)."""

    model: str
    local: bool
    budget: int
    recipe: str
    stages: list[StageEstimate]
    price_per_m: tuple[float, float] | None
    judge: str | None = None  # a quality judge on another endpoint, whose price is not counted here

    @property
    def proposal_cap_hit(self) -> bool:
        return any(s.capped for s in self.stages)

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


def estimate_run(cfg: GenerateConfig) -> Estimate:
    """Estimate a fresh run of cfg from its seeds and templates; contacts no endpoint and writes nothing."""
    from selfinstruct.recipes import RECIPES

    recipe = RECIPES[cfg.recipe]
    seeds = read_seed_tasks(cfg.seeds) if cfg.seeds is not None else []
    templates = Templates(cfg.prompts, recipe.TEMPLATES, cfg.language)
    endpoint = resolve_endpoint(cfg.teacher, cfg.batch_api)
    stages = recipe.estimate(cfg, templates, seeds, endpoint.structured is not None)
    gate_on = quality_gate_on(cfg, endpoint, recipe)
    if recipe.gated_instances is not None and cfg.verifiers and not cfg.batch_api.batch:  # online only, as add_teacher_checks
        stages += verifier_stages(cfg, seeds, recipe.gated_instances(cfg))
    if gate_on:  # a recipe whose rows the gate scores says how many
        stages.append(quality_stage(cfg, seeds, recipe.gated_instances(cfg)))
    return Estimate(
        model=endpoint.model, local=endpoint.local, budget=cfg.budget, recipe=cfg.recipe, stages=stages, price_per_m=endpoint.price,
        judge=None if cfg.judge_is_teacher or not gate_on else resolve_endpoint(cfg.judge).model,
    )  # fmt: skip


def quality_stage(cfg: GenerateConfig, seeds: list[SeedTask], requests: int) -> StageEstimate:
    """One judge request per emitted instance (--quality-judge), its prompt rendered with seed instances; the worst case
    adds, for every instance, the judge's own answer of up to SELF_ANSWER_TOKENS that a short output is checked against."""
    from selfinstruct.judge.pointwise import SELF_ANSWER_TOKENS, QualityJudge

    judge = QualityJudge(None, cfg.prompts)  # type: ignore[arg-type]  # only renders prompts here
    probe = [(s.instruction, i) for s in seeds[:PROMPT_SAMPLES] for i in s.instances[:1]]
    # The judge is asked for the digit alone (its probabilities are the score); an endpoint without log-probabilities is
    # asked once that way, then for a reason and a score line as text, which is the worst case.
    size = mean(prompt_tokens(judge.prompt(t, i.input, i.output, judge.score_template), cfg) for t, i in probe) if probe else 200
    return StageEstimate(
        stage="quality",
        requests=requests,
        prompt_tokens=round(requests * size),
        completion_tokens=requests * judge.digit_decoding.max_tokens,
        worst_completion_tokens=requests * (judge.decoding.max_tokens + SELF_ANSWER_TOKENS),
    )


def verifier_stages(cfg: GenerateConfig, seeds: list[SeedTask], instances: int) -> list[StageEstimate]:
    """The verifiers' requests for `instances`: K more answers to each short answer (consistency.py), and one answer-kind
    question to each output whose form the rules doubt (kind.py), in the shares of the seeds' instances that are such."""
    from selfinstruct.judge.answer_kind import AnswerKindJudge
    from selfinstruct.stages.verifiers.consistency import MAX_TOKENS, Consistency, short_answer
    from selfinstruct.stages.verifiers.kind import suspect_kind

    pairs = [(s, i) for s in seeds for i in s.instances]
    if not pairs:
        return []
    short = [(s, i) for s, i in pairs if short_answer(s.instruction, i, s.is_classification)]
    suspect = [(s, i) for s, i in pairs if suspect_kind(s.instruction, i.input, i.output) is not None]
    stages = []
    if cfg.consistency and short:
        checker = Consistency(None, cfg.consistency, 0.7, cfg.prompts)  # type: ignore[arg-type]  # only renders prompts here
        size = mean(prompt_tokens(checker.prompt(s.instruction, i.input, None), cfg) for s, i in short[:PROMPT_SAMPLES])
        n = round(instances * len(short) / len(pairs)) * cfg.consistency
        stages.append(StageEstimate(stage="consistency", requests=n, prompt_tokens=round(n * size), completion_tokens=n * SHORT_ANSWER_TOKENS,
                                    worst_completion_tokens=n * MAX_TOKENS))  # fmt: skip
    judge = AnswerKindJudge(None, cfg.prompts)  # type: ignore[arg-type]
    size = mean(prompt_tokens(judge.prompt(s.instruction, i.input), cfg) for s, i in (suspect or pairs)[:PROMPT_SAMPLES])
    n = round(instances * len(suspect) / len(pairs))
    # One token with log-probabilities; an endpoint without them is asked again for a three-token reply.
    stages.append(StageEstimate(stage="answer kind", requests=n, prompt_tokens=round(n * size), completion_tokens=n,
                                worst_completion_tokens=n * (judge.decoding.max_tokens + judge.text_decoding.max_tokens)))  # fmt: skip
    return stages


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def print_estimate(est: Estimate, cfg: GenerateConfig | None = None, console: Console | None = None) -> None:
    """The dry-run report: a per-stage table, the cost, the worst case, and how the caps compare."""
    # Soft wrap: long lines are the terminal's to wrap, so they stay whole when copied or grepped.
    console = console or Console(soft_wrap=True)
    from selfinstruct.recipes import RECIPES, budget_unit

    recipe = RECIPES.get(est.recipe)
    unit = budget_unit(est.recipe)
    console.print(f"selfinstruct generate --dry-run: {est.budget} {unit}, recipe {est.recipe}", highlight=False)
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
        batch = " (Batch API price)" if cfg is not None and cfg.batch_api.batch else ""
        console.print(
            f"model: {est.model} at ${pin:g} in / ${pout:g} out per 1M tokens{batch}: estimated cost {_usd(est.usd)}, "
            f"worst case {_usd(est.worst_usd)}",
            highlight=False,
        )
    assumes = (recipe.ESTIMATE_ASSUMES if recipe is not None else None) or (
        f"{KEEP_RATE:.0%} of proposed instructions pass the filters, {FINISH_RATE:.0%} of kept ones get valid instances"
    )
    console.print(f"assumes {assumes}, and answers of typical length; retries are not counted. Nothing was sent.", highlight=False)
    if est.judge is not None:
        console.print(f"the quality stage's requests go to the judge {est.judge}, whose cost is not in the total above", highlight=False)
    if est.proposal_cap_hit:
        console.print("[yellow]warning:[/yellow] the proposal cap (--max-proposals) is below what this budget is likely to need")
    if cfg is not None:
        _compare_caps(est, cfg, console)


def _compare_caps(est: Estimate, cfg: GenerateConfig, console: Console) -> None:
    if cfg.teacher.max_usd is not None and est.usd is not None and est.usd > cfg.teacher.max_usd:
        console.print(f"[yellow]warning:[/yellow] the estimate {_usd(est.usd)} is over --max-usd {cfg.teacher.max_usd:g}; the run would stop early")
    if cfg.teacher.max_total_tokens is not None and est.prompt_tokens + est.completion_tokens > cfg.teacher.max_total_tokens:
        console.print(
            f"[yellow]warning:[/yellow] the estimate of {est.prompt_tokens + est.completion_tokens:,} tokens is over "
            f"--max-total-tokens {cfg.teacher.max_total_tokens:,}; the run would stop early"
        )
