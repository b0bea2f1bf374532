"""The task mix: what kinds of task the seeds hold, and keeping a run's tasks within reach of those shares.

    plan = MixPlan(seeds, budget=20)
    plan.seeds.share("code")                     # 0.096: 19 of the 197 shipped seeds
    plan.admit("Write a Python function ...")    # None, or why the mix is full for this kind
    mix_of(rows)                                 # the kinds of a run's finished tasks, counted the same way

Kinds, one per task, first match wins:
  code            the task asks for code, is about programming (names a language, code, an algorithm,
                  an API ...), or an output holds code;
  classification  a label from a fixed set (the seed's is_classification, the classify stage's verdict);
  with_input      an instance has an input;
  open            the rest: questions, explanations, open writing.
"With an input" is also counted on its own, over all kinds: the share of tasks with an input.

A small coder teacher drifts to programming questions without inputs (a demo run: 10 of 20 tasks
code, none with an input, against 10% and 36% of the seeds), so a run steers in two ways:
  - each proposal shows seed examples stratified by kind: slots in proportion to the seeds' shares,
    with the kinds that carry an input weighed double while the run's share with an input is short
    of the seeds', and code seeds (and machine-written code examples) left out once code is full;
    while the run has fewer tasks with an input than it needs, every other proposal (each one, once
    no-input tasks are full) shows only seeds with an input and asks for tasks that refer to one
    (INPUT_NOTE): a 1.5B teacher shown mixed examples proposed questions only, 0 of 40 with an input;
  - a proposed instruction whose kind is full is rejected (`mix_full`) before anything is spent on
    it: code beyond the seeds' share + TOLERANCE of the budget, or a task predicted to need no
    input beyond what leaves (seeds' share with an input - TOLERANCE) of the budget to tasks
    with one. The prediction reads the instruction (code.py's and inputs.py's rules, a
    classification cue, words that point at material) and is corrected once the task is finished; the
    needs-input verifier drops a predicted-input task left without one, and material a teacher wrote
    into such an instruction ('Translate this sentence into French: "..."') is cut off it, so that
    the instance stage writes inputs for it, as the seeds carry theirs.
The mix gives way, and anything passes for the rest of the run, once GIVE_WAY_SHARE of the last
GIVE_WAY_WINDOW proposed tasks it judged were of a full kind, or once half the proposal cap is spent, so
steering never stops a run that the filters alone would finish, nor spends requests on lists it throws
away (a teacher proposing only open tasks, held until half the cap, was stopped as stalled: ten requests
in a row kept nothing). The first instruction kept after that carries the reason as its journal detail
(GAVE_WAY ...), which a resumed run reads back; summary.json's mix holds it as gave_way, and the
end-of-run table and the report print it. A user's own seeds set the shares.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, deque
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel

from selfinstruct.records import Instance, SeedTask
from selfinstruct.stages.verifiers.code import find_code
from selfinstruct.stages.verifiers.inputs import needs_missing_input
from selfinstruct.stages.verifiers.kind import asks_for_code

if TYPE_CHECKING:
    from selfinstruct.run import RunState
    from selfinstruct.stages.settings import StageSettings

KINDS = ("code", "classification", "with_input", "open")
TOLERANCE = 0.10
MIX_FULL = "mix_full"
# Proposed tasks judged, and the share of them rejected as mix_full, at which the mix gives way: at 90% the mix
# costs ten proposals per task it keeps, twice what the proposal cap is sized for (a keep rate of 20%). A
# teacher that proposes one needed task in five (the tests' mock) stays steered.
GIVE_WAY_WINDOW, GIVE_WAY_SHARE = 100, 0.9
GAVE_WAY = "the task mix gave way: "  # the journal detail of the first instruction kept after it did
# About programming: a language, code, an algorithm ... (narrower than kind.py's, which only decides whether code in an answer is natural).
_PROGRAMMING = re.compile(
    r"\b(python|javascript|typescript|java|c\+\+|c#|rust|golang|ruby|php|kotlin|swift|sql|html|css|regex|regular\s+expressions?|code|coding|"
    r"programs?|programming|programmers?|functions?|algorithms?|scripts?|git|shell|bash|api|recursion|time\s+complexity|compiler|"
    r"debug(?:ging)?|syntax)\b",
    re.IGNORECASE,
)
_CLASSIFY = re.compile(r"^\s*(?:classify|categori[sz]e|label|sort\s+(?:the|these|each)|decide\s+whether|determine\s+whether|identify\s+whether|"
                       r"tell\s+whether|is\s+the\s+following|does\s+the\s+following|rate\s+the)\b", re.IGNORECASE)  # fmt: skip


def code_task(instruction: str, outputs: Iterable[str] = ()) -> bool:
    return asks_for_code(instruction) or bool(_PROGRAMMING.search(instruction)) or any(find_code(o, instruction) for o in outputs)


def task_kind(instruction: str, instances: list[Instance], is_classification: bool) -> str:
    """The kind of one task (module docstring), from its instruction, its instances and its classification."""
    if code_task(instruction, (i.output for i in instances)):
        return "code"
    if is_classification:
        return "classification"
    return "with_input" if any(i.input.strip() for i in instances) else "open"


class Mix(BaseModel):
    """Tasks by kind, and how many have an input."""

    total: int = 0
    kinds: dict[str, int] = {k: 0 for k in KINDS}
    with_input: int = 0

    def share(self, kind: str) -> float:
        count = self.with_input if kind == "input" else self.kinds.get(kind, 0)
        return count / self.total if self.total else 0.0

    def add(self, kind: str, has_input: bool) -> None:
        self.total += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.with_input += has_input

    def line(self) -> str:
        """"code 3 (15%), classification 2 (10%), ... ; with an input 6 (30%)"."""
        parts = [f"{k} {self.kinds.get(k, 0)} ({self.share(k):.0%})" for k in KINDS]
        return ", ".join(parts) + f"; with an input {self.with_input} ({self.share('input'):.0%})"


def seed_mix(seeds: list[SeedTask]) -> Mix:
    mix = Mix()
    for seed in seeds:
        mix.add(task_kind(seed.instruction, seed.instances, seed.is_classification), any(i.input.strip() for i in seed.instances))
    return mix


# Words that point at material the task is given: "this sentence", "the following list", "the given review".
_POINTS_AT = re.compile(r"\b(?:this|these|the\s+following|the\s+given|the\s+provided|the\s+above|each\s+of\s+the\s+following)\s+(?:\w+\s+){0,2}?"
                       r"(?:sentences?|paragraphs?|text|passage|article|essay|story|poem|review|email|tweet|list|table|data|numbers|words?|"
                       r"phrases?|code|snippet|function|statement|headline|description|product|recipe|message|letter|dialogue|conversation|"
                       r"quote|excerpt|argument|question|title|word|report|document|speech)\b", re.IGNORECASE)
INPUT_NOTE = (
    "Every example task below works on an input that is given with it: a sentence, a paragraph, a list, a table, a review, "
    "a snippet of code. Write new tasks of this kind: each one refers to the input it works on (\"this sentence\", "
    "\"the following list\", \"the given review\") and does not contain that input."
)


@lru_cache(maxsize=4096)  # asked of an instruction when proposed, judged, kept and finished: 7,431 reads of 2,920 proposed (bench, budget 1,000)
def predicted(instruction: str) -> str:
    """What a proposed instruction will most likely be, read from its words alone: "code", "input" or "other"."""
    if code_task(instruction):
        return "code"
    if needs_missing_input(instruction, "") or _CLASSIFY.match(instruction) or _POINTS_AT.search(instruction):
        return "input"
    return "other"


# Material written into an instruction that points at it: 'Translate this sentence into French: "The sky is blue."'.
_INLINE_TAIL = re.compile(r"""\s*(?::\s*|\s)(?:"[^"]{2,}"|“[^”]{2,}”|'[^']{2,}'|\[[^\]]{2,}\]|\{[^}]{2,}\})\s*[.?!]?\s*$""")


def without_inline_material(instruction: str) -> str:
    """The instruction without the material a small teacher wrote into it, when it points at material ("this sentence")
    and ends with it quoted or bracketed: the instance stage then writes inputs for it, as the seeds carry theirs."""
    if predicted(instruction) != "input":
        return instruction
    cut = _INLINE_TAIL.sub("", instruction).rstrip(" :,;")
    if cut == instruction.strip() or len(cut.split()) < 3:
        return instruction
    return cut if cut[-1] in ".?!" else cut + ("?" if re.match(r"(?i)(what|which|how|is|are|does|do|can|who|why)\b", cut) else ".")


class MixPlan:
    """A run's steering towards its seeds' mix: allowances per predicted kind, counted over kept instructions."""

    def __init__(self, seeds: list[SeedTask], budget: int, tolerance: float = TOLERANCE) -> None:
        self.seeds = seed_mix(seeds)
        self.budget, self.tolerance = budget, tolerance
        self.by_kind: dict[str, list[SeedTask]] = {k: [] for k in KINDS}
        for seed in seeds:
            self.by_kind[task_kind(seed.instruction, seed.instances, seed.is_classification)].append(seed)
        # At least one code task where the seeds have any: a small budget's rounding must not forbid a seed kind outright.
        self.code_allowance = max(int(self.seeds.share("code") > 0), math.floor((self.seeds.share("code") + tolerance) * budget + 1e-9))
        self.no_input_allowance = budget - math.ceil(max(0.0, self.seeds.share("input") - tolerance) * budget - 1e-9)
        self.kept: Counter[str] = Counter()  # kept instructions not (yet) failed, by predicted kind
        self.recent: deque[bool] = deque()  # the last GIVE_WAY_WINDOW proposed tasks judged: True where rejected as full
        self.recent_full = 0
        self.gave_way: str | None = None  # why the mix stopped rejecting, once it has (for the rest of the run)
        self.noted = False  # whether a kept instruction's journal detail says so yet

    def count(self, instruction: str, delta: int = 1) -> None:
        """A kept instruction (delta 1), or one whose instance stage finished with nothing (delta -1)."""
        self.kept[predicted(instruction)] += delta

    def settle(self, instruction: str, has_input: bool) -> None:
        """A kept instruction finished with instances: a task taken for one with an input that came without one counts as without,
        and one taken for a task without that came with one counts as with (as mix_of_run counts it)."""
        kind = predicted(instruction)
        if kind == "input" and not has_input:
            self.kept["input"] -= 1
            self.kept["other"] += 1
        elif kind == "other" and has_input:
            self.kept["other"] -= 1
            self.kept["input"] += 1

    def admit(self, instruction: str) -> str | None:
        """None when the instruction's kind still has room, else why not (the journal's detail)."""
        kind = predicted(instruction)
        if kind == "code" and self.kept["code"] >= self.code_allowance:
            return f"code: {self.kept['code']} of {self.code_allowance} kept (seeds {self.seeds.share('code'):.0%} + {self.tolerance:.0%} of {self.budget})"
        no_input = self.kept["code"] + self.kept["other"]
        if kind != "input" and no_input >= self.no_input_allowance:
            return (f"no input: {no_input} of {self.no_input_allowance} kept (the rest of {self.budget} is kept for tasks with an input: "
                    f"seeds {self.seeds.share('input'):.0%} - {self.tolerance:.0%})")  # fmt: skip
        return None

    def judge(self, instruction: str) -> str | None:
        """admit() for a proposed task, measured: once GIVE_WAY_SHARE of the last GIVE_WAY_WINDOW judged were full, the mix
        gives way (this task and every later one pass)."""
        if self.gave_way is not None:
            return None
        full = self.admit(instruction)
        self.recent.append(full is not None)
        self.recent_full += full is not None
        if len(self.recent) > GIVE_WAY_WINDOW:
            self.recent_full -= self.recent.popleft()
        if full is not None and len(self.recent) == GIVE_WAY_WINDOW and self.recent_full >= GIVE_WAY_SHARE * GIVE_WAY_WINDOW:
            self.give_way(f"{self.recent_full} of the last {GIVE_WAY_WINDOW} proposed tasks were of a full kind (the last: {full})")
            return None
        return full

    def give_way(self, reason: str) -> None:
        if self.gave_way is None:
            self.gave_way = reason

    def note(self) -> str | None:
        """The journal detail for an instruction kept now: GAVE_WAY and the reason on the first one kept after the mix gave way."""
        if self.gave_way is None or self.noted:
            return None
        self.noted = True
        return GAVE_WAY + self.gave_way

    def recall(self, detail: str | None) -> None:
        """A kept instruction's journal detail, replayed: a run that gave way stays given way when resumed."""
        reason = gave_way_in(detail)
        if self.gave_way is None and reason is not None:
            self.gave_way, self.noted = reason, True

    def weights(self) -> dict[str, float]:
        """Each seed kind's weight in a proposal's examples: the seeds' shares, steered by what the run has kept."""
        weights = {k: float(len(self.by_kind[k])) for k in KINDS}
        kept = sum(self.kept.values())
        if kept and self.kept["input"] / kept < self.seeds.share("input"):
            weights["with_input"] *= 2
            weights["classification"] *= 2
        if self.kept["code"] >= self.code_allowance:
            weights["code"] = 0.0
        return weights

    def sample_seeds(self, rng: random.Random, n: int) -> list[str]:
        """n seed instructions stratified by kind: whole slots in proportion to the weights, the rest drawn by them."""
        weights = {k: w for k, w in self.weights().items() if w > 0 and self.by_kind[k]}
        total = sum(weights.values())
        if not total:
            return []
        exact = {k: n * w / total for k, w in weights.items()}
        slots = {k: min(int(v), len(self.by_kind[k])) for k, v in exact.items()}
        while sum(slots.values()) < n:
            room = {k: exact[k] - slots[k] for k in weights if slots[k] < len(self.by_kind[k])}
            if not room:
                break
            kind = rng.choices(list(room), weights=[max(v, 1e-6) for v in room.values()])[0]
            slots[kind] += 1
        return [s.instruction for k, m in slots.items() for s in rng.sample(self.by_kind[k], m)]

    def focus_input(self, request: int) -> bool:
        """Whether a proposal asks for tasks that work on an input (INPUT_NOTE, with-input and classification seeds only):
        every other request while the run has kept fewer of them than it needs, and every one once no-input tasks are full."""
        needed = self.budget - self.no_input_allowance
        if self.kept["input"] >= needed:
            return False
        return self.kept["code"] + self.kept["other"] >= self.no_input_allowance or request % 2 == 1

    def sample_input_seeds(self, rng: random.Random, n: int) -> list[str]:
        pool = self.by_kind["with_input"] + self.by_kind["classification"]
        return [s.instruction for s in rng.sample(pool, min(n, len(pool)))]

    def machine_examples(self, machine: list[str]) -> list[str]:
        """Machine-written examples to sample from: no code ones once code is full (they pull more code)."""
        if self.kept["code"] >= self.code_allowance:
            return [m for m in machine if predicted(m) != "code"]
        return machine


def gave_way_in(detail: str | None) -> str | None:
    """Why the mix gave way, from a kept instruction's journal detail; None where it does not say."""
    return detail[len(GAVE_WAY):] if detail is not None and detail.startswith(GAVE_WAY) else None


def mix_of_run(state: RunState, cfg: StageSettings) -> dict[str, object]:
    """summary.json's mix: the kinds of the run's finished instructions (those emitted) beside the seeds'."""
    from selfinstruct.records import read_seed_tasks

    run = Mix()
    for cid in state.done_ids()[: cfg.budget]:
        instances = state.completed[cid].instances
        is_clf = cid in state.classified and state.classified[cid].is_classification
        run.add(task_kind(state.kept[cid].instruction, instances, is_clf), any(i.input.strip() for i in instances))
    # The first kept instruction whose detail says the mix gave way; only lines that hold the words are parsed.
    gave_way = next((reason for cand in state.kept.containing(GAVE_WAY) if (reason := gave_way_in(cand.detail))), None)
    seeds = seed_mix(read_seed_tasks(cfg.seeds)) if cfg.seeds is not None else Mix()
    return {**mix_summary(run, seeds, cfg.budget), **({"gave_way": gave_way} if gave_way else {})}


def mix_summary(run: Mix, seeds: Mix, budget: int) -> dict[str, object]:
    """The run's kinds beside the seeds', and the targets' figures."""
    return {
        "run": run.model_dump(),
        "seeds": seeds.model_dump(),
        "code_share": round(run.share("code"), 3),
        "code_share_seeds": round(seeds.share("code"), 3),
        "input_share": round(run.share("input"), 3),
        "input_share_seeds": round(seeds.share("input"), 3),
        "budget": budget,
    }
