"""Recipe `grounded`: instruction data written from the user's own documents and image annotations (LLaVA's recipe).

    selfinstruct generate --recipe grounded --context docs/ --budget 200
    selfinstruct generate --recipe grounded --context coco_annotations.jsonl --types conversation,reasoning --verify

1. contexts  --context files and folders, read and chunked by contexts.py (text, Markdown, PDF, JSONL
             contexts, LLaVA/COCO annotations rendered as captions and boxes), in an order shuffled
             with --seed so a small budget draws on every document.
2. write     request n asks for response type n % len(--types) of context n // len(--types): the
             type's template (prompts/grounded_<type>.txt, or grounded_<type>_image.txt for an
             annotation: a system message with the rules, a fixed worked example, then the context)
             returns "Question: / Answer:" pairs, 2-5 for a conversation, one for detail and
             reasoning. Journaled as a `candidate` holding the pairs and its source (file, offset or
             page or id, the chunk's text, the type); an answer with no readable pair is rejected.
3. check     stages/grounding.py's checks on each pair, cheapest first: refusal, numbers and names
             the context lacks, a near-duplicate question within the same context (ROUGE-L >
             --rouge-threshold), then with --verify the teacher as a yes/no judge. Each dropped pair
             is journaled with its reason in the `completed` line; a conversation keeps its good
             pairs if at least two remain, a detail or reasoning example needs its one pair. Examples
             are journaled in request order (order.py), so the budget holds the first to pass
             in request order, whatever finished first.
4. product   alpaca_data.json (one row per pair: question as instruction, the context as input
             unless --no-context-in-input), conversations.json (ShareGPT), and, for annotation
             contexts, llava_instruct.json in LLaVA's training format with "<image>\\n" on the first
             human turn and the image's file name kept.

The budget counts examples (one conversation, description or reasoning answer each), as LLaVA
counted its 158K. --seeds is not used: the contexts take its place, the examples ship in the templates.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from rich.console import Console

from selfinstruct.errors import CapReached
from selfinstruct.recipes.grounded.contexts import Context, read_contexts
from selfinstruct.recipes.grounded.options import GroundedOptions
from selfinstruct.recipes.grounded.order import RequestOrder
from selfinstruct.recipes.grounded.product import CONVERSATIONS, DATA, LLAVA
from selfinstruct.recipes.grounded.product import product_message as product_message
from selfinstruct.recipes.grounded.product import write_product as write_product
from selfinstruct.records import Candidate, ChatMessage, Completed, Instance, Proposed, SeedTask
from selfinstruct.rouge import RougeIndex
from selfinstruct.stages.gather import gather_all
from selfinstruct.stages.grounding import (
    VERIFY_TEMPLATE,
    cheap_problem,
    check_name,
    parse_pairs,
    parse_verdict,
    verify_prompt,
)
from selfinstruct.teacher.client import Decoding

if TYPE_CHECKING:
    from selfinstruct.recipes.base import Driver
    from selfinstruct.recipes.grounded.options import GroundedSettings
    from selfinstruct.run import RunState
    from selfinstruct.stages.estimate import StageEstimate
    from selfinstruct.templates import Templates

TYPES = ("conversation", "detail", "reasoning")
TEMPLATES: dict[str, tuple[str, ...]] = {
    **{f"grounded_{t}{suffix}": ("context",) for t in TYPES for suffix in ("", "_image")},
    VERIFY_TEMPLATE: ("context", "question", "answer"),
}
NEEDS_SEEDS = False  # reads --context
ITEMS_PER_REQUEST = 1  # one response type for one context: the attempt cap counts these
PROPOSAL_SHARE = 1.0  # writing is the work (checks send nothing unless --verify): every teacher slot may write
DECODING = {"temperature": 0.7, "top_p": 1.0, "presence_penalty": 0.0}
EXAMPLES = (0, 0)
TOKENS_PER_ITEM = 250
MAX_TOKENS = {"conversation": 768, "detail": 640, "reasoning": 640}
VERIFY_DECODING = Decoding(temperature=0.0, top_p=1.0, max_tokens=96)
MIN_PAIRS = {"conversation": 2, "detail": 1, "reasoning": 1}
MAX_PAIRS = {"conversation": 5, "detail": 1, "reasoning": 1}
CHECKS = ("refusal", "ungrounded_number", "ungrounded_name", "near_duplicate", "unsupported")

_CACHE: dict[tuple[Any, ...], list[Context]] = {}


def load_contexts(cfg: GroundedSettings, warn: Any = None) -> list[Context]:
    """The run's contexts in their --seed order; read once per process (generate checks them before anything starts)."""
    key = (tuple(str(p) for p in cfg.context), tuple(_mtime(p) for p in cfg.context), cfg.chunk_tokens, cfg.chunk_overlap, cfg.seed)
    if key not in _CACHE:
        console = Console(stderr=True)
        say = warn or (lambda msg: console.print(f"[yellow]{msg}[/yellow]", highlight=False))
        contexts = read_contexts(list(cfg.context), cfg.chunk_tokens, cfg.chunk_overlap, say)
        random.Random(cfg.seed).shuffle(contexts)
        _CACHE.clear()
        _CACHE[key] = contexts
    return _CACHE[key]


def _mtime(path: Any) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def check_inputs(cfg: GroundedSettings) -> None:
    """Read the contexts before the run directory is created, so bad input is one line and nothing else."""
    load_contexts(cfg)


def context_key(ctx: Context) -> str:
    """One chunk's name in the journal: its file and offset, or its file and id."""
    return f"{ctx.file}#{ctx.offset}" if ctx.id is None else f"{ctx.file}#{ctx.id}"


def template_name(rtype: str, kind: str) -> str:
    return f"grounded_{rtype}{'_image' if kind == 'annotation' else ''}"


def decoding(cfg: GroundedSettings, rtype: str) -> Decoding:
    return Decoding(
        temperature=DECODING["temperature"] if cfg.temperature is None else cfg.temperature,
        top_p=DECODING["top_p"] if cfg.top_p is None else cfg.top_p,
        presence_penalty=DECODING["presence_penalty"] if cfg.presence_penalty is None else cfg.presence_penalty,
        max_tokens=cfg.max_tokens or MAX_TOKENS[rtype],
    )


# --- 1: contexts, and the questions each already holds ----------------------------------


@dataclass
class _Session:
    """What the recipe keeps for one generate session, on the driver's recipe_session."""

    contexts: list[Context]
    question_pools: dict[str, RougeIndex] = field(default_factory=dict)  # per context: the questions it holds
    order: RequestOrder | None = None


def _session(driver: Driver) -> _Session:
    return cast(_Session, driver.recipe_session)


def _order(driver: Driver) -> RequestOrder:
    order = _session(driver).order
    assert order is not None, "prepare sets the request order"
    return order


def prepare(driver: Driver) -> None:
    """Load the contexts, rebuild each context's ROUGE-L pool from the journal (every question that passed the
    cheap checks, as the run added them), and set up the request order (order.py)."""
    driver.recipe_session = _Session(load_contexts(driver.cfg))
    for cid in driver.state.completed:
        if cid not in driver.state.kept:
            continue
        cand, completed = driver.state.kept[cid], driver.state.completed[cid]
        for inst in completed.instances:
            _pool(driver, cand).add(inst.input)
        for drop in completed.dropped:
            if drop["reason"].startswith("unsupported"):  # judged after it joined the pool
                _pool(driver, cand).add(drop["question"])
    _session(driver).order = RequestOrder(
        driver.state, driver.state.proposals, lambda r: propose(driver, r), lambda cid: _check(driver, cid), _cid
    )


def _cid(request: int) -> str:
    return f"g{request:05d}"


def _pool(driver: Driver, cand: Candidate) -> RougeIndex:
    pools = _session(driver).question_pools
    key = (cand.source or {}).get("context", "")
    if key not in pools:
        pools[key] = RougeIndex(threshold=driver.cfg.rouge_threshold, tokenizer=driver.cfg.rouge_tokenizer)  # type: ignore[arg-type]
    return pools[key]


# --- 2: write one response type for one context --------------------------------------------


async def propose(driver: Driver, request: int) -> None:
    try:
        await _write(driver, request)
    finally:
        _order(driver).arrive(request)  # answered or not: nobody waits in vain


async def _write(driver: Driver, request: int) -> None:
    cfg, contexts = driver.cfg, _session(driver).contexts
    n = len(cfg.types)
    if request >= len(contexts) * n:
        raise CapReached(
            f"every context has been used: {len(contexts)} contexts x {n} types written, and {driver.done} of {cfg.budget} "
            "examples passed the grounding checks (see rejected in summary.json); add --context documents or lower --budget"
        )
    ctx, rtype = contexts[request // n], cfg.types[request % n]
    prompt = driver.templates.messages(template_name(rtype, ctx.kind), context=ctx.text)
    completion = await driver.teacher.complete(prompt, decoding(cfg, rtype), stage=f"grounded_{rtype}")
    pairs = parse_pairs(completion.text)
    if completion.truncated and pairs:
        pairs = pairs[:-1]  # cut off by the token limit: the last answer may be unfinished
    pairs = pairs[: MAX_PAIRS[rtype]]
    source = {**ctx.source, "context": context_key(ctx), "type": rtype, "text": ctx.text}
    cid = _cid(request)
    reason = None if pairs else ("cut_off" if completion.truncated else "unparsable")
    driver.record(Candidate(
        id=cid, instruction=pairs[0][0] if pairs else completion.text.strip()[:300], status="rejected" if reason else "kept",
        reason=reason, request=request, instances=[Instance(input=q, output=a) for q, a in pairs], source=source,
    ))  # fmt: skip
    if reason is None:
        driver.queue.append(cid)
    driver.record(Proposed(request=request, parsed=len(pairs), finish_reason=completion.finish_reason))


# --- 3: the grounding checks -------------------------------------------------------------------


def finish_batch(cfg: GroundedSettings) -> int:
    return 1


async def finish(driver: Driver, ids: list[str]) -> None:
    for cid in ids:
        await _order(driver).checked(cid)


async def _check(driver: Driver, cid: str) -> None:
    """Checks 1-3 on every pair (a passing question joins its context's pool at once), then --verify, then the
    verdict, journaled once every earlier request's is."""
    cand = driver.state.kept[cid]
    if cid in driver.state.completed:
        return  # a resumed run: journaled before the kill
    request, n = cand.request, len(driver.cfg.types)
    order = _order(driver)
    await order.settled(range(request - request % n, request))  # the same context's earlier requests first
    source = cand.source or {}
    context, rtype = source.get("text", ""), source.get("type", "detail")
    pool = _pool(driver, cand)
    kept: list[Instance] = []
    dropped: list[dict[str, Any]] = []
    for inst in cand.instances:
        reason = cheap_problem(inst.output, context)
        if reason is None:
            dup = pool.check_and_add(inst.input)
            if dup.is_duplicate:
                dropped.append(_drop(inst, "near_duplicate", most_similar=dup.most_similar, score=round(dup.score, 4)))
                continue
            kept.append(inst)
        else:
            dropped.append(_drop(inst, reason))
    if driver.cfg.verify and kept:
        verdicts = await gather_all(*(_verify(driver, context, inst) for inst in kept))
        for inst, (supported, raw) in zip(list(kept), verdicts):
            if supported is not True:
                kept.remove(inst)
                dropped.append(_drop(inst, "unsupported" if supported is False else "unsupported:unreadable_verdict", verdict=raw[:300]))
    await order.settled(range(0, request))  # journaled in request order (order.py)
    if len(kept) < MIN_PAIRS[rtype]:
        why = "conversation_too_short" if kept else check_name(dropped[0]["reason"]) if dropped else "no_pairs"
        driver.record(Completed(id=cid, instances=[], dropped=dropped, reason=why))
        return
    conversation = [ChatMessage(role=role, content=text) for inst in kept for role, text in (("user", inst.input), ("assistant", inst.output))]
    driver.record(Completed(id=cid, instances=kept, dropped=dropped, conversation=conversation))


def _drop(inst: Instance, reason: str, **extra: Any) -> dict[str, Any]:
    return {"question": inst.input, "answer": inst.output[:500], "reason": reason, **extra}


async def _verify(driver: Driver, context: str, inst: Instance) -> tuple[bool | None, str]:
    prompt = verify_prompt(driver.templates, context, inst.input, inst.output)
    completion = await driver.teacher.complete(prompt, VERIFY_DECODING, stage="verify")
    return parse_verdict(completion.text), completion.text.strip()


# --- 4: the product -------------------------------------------------------------------------------


def rows(state: RunState, cfg: GroundedSettings, seeds: list[SeedTask]) -> list[dict[str, Any]]:
    """The first `budget` examples that passed, in request order, each with its pairs and where it came from."""
    out = []
    for cid in _emitted(state, cfg):
        source = dict(state.kept[cid].source or {})
        text = source.pop("text", "")
        out.append({
            "id": cid, "type": source.get("type"), "source": source, "context": text if cfg.context_in_input else "",
            "pairs": [(i.input, i.output) for i in state.completed[cid].instances],
        })  # fmt: skip
    return out


def _emitted(state: RunState, cfg: GroundedSettings) -> list[str]:
    """The examples the product holds: the first `budget` to pass, by request (ids are g + the request number)."""
    return sorted(state.done_ids(), key=lambda cid: int(cid[1:]))[: cfg.budget]


def summary(state: RunState, cfg: GroundedSettings) -> dict[str, Any]:
    """Examples per type and per source file, and the pairs each grounding check dropped over the whole run."""
    done = _emitted(state, cfg)
    sources = [state.kept[cid].source or {} for cid in done]
    checks = Counter({name: 0 for name in CHECKS})
    for completed in state.completed.values():
        checks.update(check_name(d["reason"]) for d in completed.dropped)
    return {
        "examples_per_type": dict(Counter(s.get("type") for s in sources)),
        "examples_per_source": dict(Counter(s.get("file") for s in sources)),
        "qa_pairs": sum(len(state.completed[cid].instances) for cid in done),
        "contexts_used": len({s.get("context") for s in sources}),
        "grounding_checks": dict(checks),
    }


# --- the dry run ------------------------------------------------------------------------------------

YIELD = 0.7  # share of responses expected to pass the grounding checks
BUDGET_UNIT = "examples"
ESTIMATE_ASSUMES = f"{YIELD:.0%} of responses pass the grounding checks (one request per context and type, at most all of them)"
TOKENS_PER_RESPONSE = {"conversation": 260, "detail": 200, "reasoning": 200}
PAIRS_PER_RESPONSE = {"conversation": 3, "detail": 1, "reasoning": 1}
PROMPT_SAMPLES = 8


def estimate(cfg: GroundedSettings, templates: Templates, seeds: list[SeedTask], structured: bool) -> list[StageEstimate]:
    """One request per context and type until the budget is met at YIELD, prompts rendered with the real contexts; --verify adds one per pair."""
    from selfinstruct.stages import estimate as est

    contexts = load_contexts(cfg)
    n = len(cfg.types)
    wanted = math.ceil(cfg.budget / YIELD)
    requests = min(wanted, len(contexts) * n, cfg.proposal_cap)
    stages = []
    for k, rtype in enumerate(cfg.types):
        count = len(range(k, requests, n))
        if not count:
            continue
        sample = contexts[:PROMPT_SAMPLES]
        size = sum(est.prompt_tokens(templates.messages(template_name(rtype, c.kind), context=c.text), cfg) for c in sample) / len(sample)
        stages.append(est.StageEstimate(
            stage=f"grounded_{rtype}", requests=count, prompt_tokens=round(count * size),
            completion_tokens=count * TOKENS_PER_RESPONSE[rtype], worst_completion_tokens=count * (cfg.max_tokens or MAX_TOKENS[rtype]),
            capped=wanted > cfg.proposal_cap,
        ))  # fmt: skip
    if cfg.verify:
        pairs = sum(PAIRS_PER_RESPONSE[t] for t in cfg.types) / n
        checked = math.ceil(requests * pairs)
        c = contexts[0]
        size = est.prompt_tokens(verify_prompt(templates, c.text, "A typical question about it?", "x " * 120), cfg)
        stages.append(est.StageEstimate(
            stage="verify", requests=checked, prompt_tokens=checked * size, completion_tokens=checked * 30,
            worst_completion_tokens=checked * VERIFY_DECODING.max_tokens,
        ))  # fmt: skip
    return stages


# --- the rest of the Recipe protocol (recipes/base.py) -----------------------------------------------

PRODUCTS = (DATA, CONVERSATIONS, LLAVA)  # llava_instruct.json only when an example comes from an annotation
INSTRUCTION_ROWS = True
CLASSIFIES = False
ASKED_IN_INPUT = True  # a row's input is the context, its instruction the question asked about it
OPTIONS = GroundedOptions
HELP = (
    "questions and answers written from your own --context documents and image annotations (LLaVA's recipe), checked against them; "
    "writes alpaca_data.json, conversations.json and, for annotations, llava_instruct.json; --budget counts examples."
)
gated_instances = None  # the gate and the verifiers are the self-instruct and alpaca recipes'


def identity(cfg: GroundedSettings) -> dict[str, object]:
    """Request n is a response type for one context, so the contexts, types, chunking and shuffle fix what n asks."""
    if not cfg.context:
        return {}
    return {"context": [str(p) for p in cfg.context], "types": list(cfg.types), "chunk_tokens": cfg.chunk_tokens,
            "chunk_overlap": cfg.chunk_overlap, "seed": cfg.seed}  # fmt: skip
