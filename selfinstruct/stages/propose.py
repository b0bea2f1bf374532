"""Stage 1: build proposal prompts from sampled example tasks, and parse the teacher's list back.

Self-Instruct shows 8 examples (6 seeds + 2 machine tasks once any exist) and asks for a numbered
list; Alpaca shows 3 seeds with input and output and asks for complete tasks. Real models renumber,
skip numbers, write "1. 1.5.", wrap lines and chat around the list, so the parsers are forgiving.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

from selfinstruct.records import Instance, SeedTask, normalize_input
from selfinstruct.teacher.client import Decoding
from selfinstruct.templates import Templates

if TYPE_CHECKING:
    from selfinstruct.stages.settings import StageSettings


def sample_examples(
    rng: random.Random, seeds: list[str], machine: list[str], num_seed: int, num_machine: int
) -> list[str]:
    """Pick machine tasks first (when there are any), fill up with seeds, then shuffle."""
    picked_machine = rng.sample(machine, min(num_machine, len(machine)))
    wanted_seeds = num_seed + num_machine - len(picked_machine)
    picked = rng.sample(seeds, min(wanted_seeds, len(seeds))) + picked_machine
    rng.shuffle(picked)
    return picked


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_propose_prompt(templates: Templates, examples: list[str], num_instructions: int, note: str = "") -> str:
    """The Self-Instruct proposal prompt: a numbered list of examples, then ask for more; a `note` goes above the
    examples (the task mix's request for tasks that work on an input, stages/mix.py)."""
    listing = "\n".join(f"{i}. {_one_line(t)}" for i, t in enumerate(examples, 1))
    return templates.render("propose_instructions", num_instructions=num_instructions, examples=f"{note}\n{listing}" if note else listing)


def build_alpaca_prompt(templates: Templates, examples: list[SeedTask], num_instructions: int) -> str:
    """The Alpaca one-pass prompt: complete example tasks (instruction, input, output) separated by ###."""
    blocks = []
    for i, task in enumerate(examples, 1):
        inst = task.instances[0] if task.instances else Instance(output="")
        blocks.append(
            f"###\n{i}. Instruction: {_one_line(task.instruction)}\n{i}. Input:\n"
            f"{inst.input or '<noinput>'}\n{i}. Output:\n{inst.output}"
        )
    return templates.render("alpaca_propose", num_instructions=num_instructions, examples="\n".join(blocks))


# "12.", "12)", "12:", "Task 12:", "Instruction 3 -", "#4.", also markdown bullets.
_ITEM_START = re.compile(
    r"^\s*(?:[*_]{0,2})(?:(?:task|instruction|question|prompt)\s*#?\s*\d+\s*[.):\-]?|#?\d+\s*[.):]|[-*•]\s)\s*",
    re.IGNORECASE,
)
# Leftover nested numbering such as the "1.5." in "1. 1.5. Do this".
_NESTED_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)*\s*[.)]\s+")
# "Instruction:", "New task:", and a kind named before it, as small teachers write: "Classification task:",
# "Information extraction task:", "Instructions:".
# A determiner before "task" makes it part of an instruction ("Describe the task: ..."), not a label.
_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:(?!(?:the|a|an|this|that|your|each|every|following)\b)[a-z]+\s+){0,2}(?:task|instructions?)\s*:\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)


def _clean_instruction(text: str) -> str:
    text = _one_line(text)
    for _ in range(3):
        stripped = _LABEL.sub("", _NESTED_NUMBER.sub("", text))
        if stripped == text:
            break
        text = stripped
    text = text.strip().strip("*_").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text


def parse_numbered_list(text: str, truncated: bool) -> list[str]:
    """Extract instructions from a numbered list, tolerating renumbering, wrapping and chatter.

    A blank line ends an item; unnumbered text after a blank line is chatter, not a continuation.
    When the response was cut off by the token limit, its last item may be incomplete and is dropped.
    """
    text = re.sub(r"```[a-zA-Z]*", "", text.replace("\r\n", "\n"))
    items: list[str] = []
    current: list[str] | None = None
    for line in text.split("\n"):
        if not line.strip():
            if current is not None:
                items.append(" ".join(current))
                current = None
            continue
        match = _ITEM_START.match(line)
        if match:
            if current is not None:
                items.append(" ".join(current))
            current = [line[match.end():]]
        elif current is not None:
            current.append(line.strip())
    if current is not None:
        items.append(" ".join(current))
        if truncated:
            items.pop()
    elif truncated and items:
        # The cut happened after a blank line, so the last finished item is complete; keep it.
        pass
    cleaned = [_clean_instruction(item) for item in items]
    return [c for c in cleaned if c]


_FIELD = re.compile(r"^\s*(?:\d+\s*[.):]\s*)?(?:\*\*)?(instruction|input|output)(?:\*\*)?\s*:\s*(?:\*\*)?", re.IGNORECASE)


def parse_alpaca_tasks(text: str, truncated: bool) -> list[tuple[str, Instance]]:
    """Extract (instruction, instance) pairs from Alpaca's '###'-separated numbered task format."""
    tasks: list[dict[str, list[str]]] = []
    field: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip() == "###" or line.strip().startswith("###"):
            field = None
            continue
        match = _FIELD.match(line)
        if match:
            field = match.group(1).lower()
            if field == "instruction" or not tasks or field in tasks[-1]:
                tasks.append({})
            tasks[-1][field] = [line[match.end():]]
        elif field is not None and tasks:
            tasks[-1][field].append(line)
    if truncated and tasks:
        tasks.pop()
    pairs = []
    for task in tasks:
        if "instruction" not in task or "output" not in task:
            continue
        instruction = _clean_instruction(" ".join(task["instruction"]))
        inp = normalize_input("\n".join(task.get("input", [])).strip())
        out = "\n".join(task["output"]).strip()
        if instruction:
            pairs.append((instruction, Instance(input=inp, output=out)))
    return pairs


# --- per-recipe proposal settings, with the user's overrides applied --------------------


def examples_per_request(cfg: StageSettings, defaults: tuple[int, int]) -> tuple[int, int]:
    """(seed tasks, machine tasks) shown per proposal request: the recipe's defaults unless set."""
    seeds, machine = defaults
    return (
        seeds if cfg.num_seed_examples is None else cfg.num_seed_examples,
        machine if cfg.num_machine_examples is None else cfg.num_machine_examples,
    )


def proposal_decoding(cfg: StageSettings, defaults: dict[str, float], tokens_per_item: int) -> Decoding:
    """The proposal request's decoding: the recipe's paper settings unless overridden; room for the whole list."""
    max_tokens = cfg.max_tokens if cfg.max_tokens is not None else min(4096, 64 + tokens_per_item * cfg.num_instructions_per_request)
    return Decoding(
        temperature=defaults["temperature"] if cfg.temperature is None else cfg.temperature,
        top_p=defaults["top_p"] if cfg.top_p is None else cfg.top_p,
        presence_penalty=defaults["presence_penalty"] if cfg.presence_penalty is None else cfg.presence_penalty,
        max_tokens=max_tokens,
    )
