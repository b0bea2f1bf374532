"""The dry run's building blocks for a recipe's own stages: the answer-size assumptions and a stage's numbers.

A recipe's `estimate` hook builds its StageEstimates from these; generate/estimate.py adds the quality gate,
totals and prices them, and prints the table. Why these rates, see generate/estimate.py's docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import mean
from typing import TYPE_CHECKING

from pydantic import BaseModel

from selfinstruct.teacher.client import Message, prompt_tokens_estimate

if TYPE_CHECKING:
    from selfinstruct.stages.settings import StageSettings

KEEP_RATE = 0.6
FINISH_RATE = 0.9
TOKENS_PER_PROPOSED_INSTRUCTION = 18  # "12. Explain ... for ... in ..." is one sentence
TOKENS_PER_ALPACA_TASK = 80  # instruction, input and a short output
TOKENS_PER_VERDICT = 4  # "3. Yes"
TOKENS_PER_INSTANCE = 30
INSTANCES_PER_INSTRUCTION = 3
# Proposal prompts differ by their sampled examples: average a few to smooth that out.
PROMPT_SAMPLES = 8


class StageEstimate(BaseModel):
    """Expected requests and tokens for one stage, plus the worst case the caps reserve."""

    stage: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    worst_completion_tokens: int
    capped: bool = False  # the attempt cap is below what this stage is likely to need


def prompt_tokens(prompt: list[Message] | str, cfg: StageSettings) -> int:
    """Tokens a rendered prompt costs, with the chat API's message framing (as the teacher reserves them)."""
    return prompt_tokens_estimate(prompt, cfg.teacher.api)


def proposal_stage(
    cfg: StageSettings, kept_needed: int, tokens_per_item: int, max_tokens: int, render: Callable[[int], str]
) -> StageEstimate:
    """Proposal requests for `kept_needed` kept items at KEEP_RATE; prompt size averaged over a few renders."""
    n = cfg.num_instructions_per_request
    wanted = math.ceil(kept_needed / (n * KEEP_RATE))
    proposals = min(wanted, cfg.proposal_cap)
    # Proposal prompts differ by their sampled examples: average a few to smooth that out.
    size = mean(prompt_tokens(render(i), cfg) for i in range(PROMPT_SAMPLES))
    return StageEstimate(
        stage="propose",
        requests=proposals,
        prompt_tokens=round(proposals * size),
        completion_tokens=proposals * (n * tokens_per_item + 20),
        worst_completion_tokens=proposals * max_tokens,
        capped=wanted > cfg.proposal_cap,
    )
