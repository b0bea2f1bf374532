"""Recipe `conversation`: multi-turn chat data, a user simulator and an assistant taking turns (UltraChat's form).

    selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 200 --recipe conversation --turns 3
    selfinstruct generate ... --recipe conversation --from outputs/run-1/     # openers from an earlier run too

1. openers   the seed tasks' instructions (with their first input, in the same message), then, with
             --from, each distinct instruction of an earlier run's alpaca_data.json (instruction
             filters and ROUGE-L against seeds and other openers). Journaled as `candidate` lines.
2. propose   when the budget is larger than the openers, new ones come from the self-instruct
             proposal stage and its filters (recipes/self_instruct.py), journaled like any candidate.
3. turns     per opener: the teacher answers as the assistant (prompts/conversation_assistant.txt,
             the conversation as chat turns under a system prompt), then as the user simulator
             (prompts/conversation_user.txt, the conversation as a transcript and one kind of
             follow-up to write) writes a follow-up, until --turns user turns are answered or the
             simulator answers with the stop marker. Each turn is journaled (`turn`) when it arrives,
             so a resumed run asks for no turn twice. A dropped user turn (stages/converse.py: empty,
             a copy of the turn before it, a restatement, the assistant's voice, ...) is asked for
             again with the next kind of follow-up, up to SIMULATOR_TRIES times; a dropped answer, or
             the last try, ends the conversation at its last good assistant turn; one without a
             complete user/assistant pair is dropped with the reason. Journals `completed` with the conversation.
4. product   conversations.json (ShareGPT: {"id", "conversations": [{"from": "human"|"gpt", "value"}]})
             and messages.jsonl (OpenAI / TRL: {"messages": [{"role", "content"}]}).

The budget counts conversations.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfinstruct.recipes import self_instruct
from selfinstruct.recipes.base import no_identity, no_inputs
from selfinstruct.recipes.conversation_options import ConversationOptions
from selfinstruct.records import Candidate, ChatMessage, Completed, Instance, SeedTask, Turn
from selfinstruct.safe_files import write_json_atomic, write_text_atomic
from selfinstruct.stages.converse import (
    ASSISTANT_TEMPLATE,
    SIMULATOR_TEMPLATE,
    SIMULATOR_TRIES,
    assistant_prompt,
    clean_assistant_turn,
    clean_user_turn,
    echo_of_prompt,
    follow_up,
    is_stop,
    opener_of,
    read_openers,
    simulator_prompt,
    strip_marker,
    turn_problem,
)
from selfinstruct.stages.filters import filter_instruction
from selfinstruct.stages.mix import MixPlan
from selfinstruct.stages.propose import proposal_decoding
from selfinstruct.teacher.client import Decoding

if TYPE_CHECKING:
    from selfinstruct.recipes.base import Driver
    from selfinstruct.recipes.conversation_options import ConversationSettings
    from selfinstruct.run import RunDir, RunState
    from selfinstruct.stages.estimate import StageEstimate
    from selfinstruct.templates import Templates

TEMPLATES: dict[str, tuple[str, ...]] = {
    "propose_instructions": self_instruct.TEMPLATES["propose_instructions"],
    ASSISTANT_TEMPLATE: (),
    SIMULATOR_TEMPLATE: ("stop_marker", "transcript", "follow_up"),
}
# New openers come from the self-instruct proposal stage, with its settings.
DECODING, EXAMPLES, TOKENS_PER_ITEM = self_instruct.DECODING, self_instruct.EXAMPLES, self_instruct.TOKENS_PER_ITEM
ASSISTANT_DECODING = {"temperature": 0.7, "top_p": 1.0, "max_tokens": 1024}
SIMULATOR_DECODING = {"temperature": 0.9, "top_p": 1.0, "max_tokens": 256}
CONVERSATIONS, MESSAGES = "conversations.json", "messages.jsonl"
SHAREGPT_ROLE = {"user": "human", "assistant": "gpt", "system": "system"}

# Candidate ids of openers that come from files, not proposal requests: s = seed file, f = --from.
SEED_PREFIX, FROM_PREFIX = "s", "f"


# --- 1: openers from the seed file and --from ---------------------------------------------


def prepare(driver: Driver) -> None:
    """Journal the openers the seed file and --from give (once: a resumed run finds them in the journal)."""
    cfg, state = driver.cfg, driver.state
    for i, seed in enumerate(driver.seeds):
        cid = f"{SEED_PREFIX}{i:05d}"
        if cid not in state.candidate_ids:
            # Hand-written and already in the ROUGE-L pool: kept as they are.
            driver.record(Candidate(id=cid, instruction=seed.instruction, status="kept", request=-1, instances=_input_of(seed)))
    if cfg.openers_from is not None:
        for i, (instruction, input) in enumerate(read_openers(cfg.openers_from)):
            cid = f"{FROM_PREFIX}{i:05d}"
            if cid in state.candidate_ids:
                continue
            verdict = filter_instruction(instruction, driver.pool, cfg.allow_non_ascii, driver.banned_words)
            driver.record(Candidate(
                id=cid, instruction=instruction, status="kept" if verdict.reason is None else "rejected",
                reason=verdict.reason, most_similar=verdict.most_similar, score=verdict.score, request=-1,
                instances=[Instance(input=input, output="")] if input else [],
            ))  # fmt: skip
    # Proposal requests show machine-written instructions as examples: seeds are not that.
    driver.machine = [c.instruction for cid, c in state.kept.items() if not cid.startswith(SEED_PREFIX)]
    # The proposal stage steers new openers towards the seeds' task mix (stages/mix.py), counting the openers
    # that did not come from the seed file and have not ended without a conversation.
    plan = MixPlan(driver.seeds, cfg.budget)
    for cid, cand in state.kept.items():
        completed = state.completed.get(cid)
        if not cid.startswith(SEED_PREFIX) and (completed is None or completed.finished):
            plan.count(cand.instruction)
        plan.recall(cand.detail)  # a run whose mix gave way stays given way
    driver.recipe_session = plan  # self_instruct.propose steers by it (self_instruct.mix_plan)


def _input_of(seed: SeedTask) -> list[Instance]:
    inp = seed.instances[0].input if seed.instances else ""
    return [Instance(input=inp, output="")] if inp.strip() else []


# --- 2: more openers, when the budget needs them ---------------------------------------------

propose = self_instruct.propose


# --- 3: the turns ------------------------------------------------------------------------------


def finish_batch(cfg: ConversationSettings) -> int:
    return 1


async def finish(driver: Driver, ids: list[str]) -> None:
    for cid in ids:
        await _converse(driver, cid)


def _history(driver: Driver, cid: str) -> tuple[list[ChatMessage], Turn | None, int]:
    """The conversation so far (opener first) from the journal, the turn that ended it if one did, and how
    many user messages were already asked for and dropped at its end (each is asked for again)."""
    cand = driver.state.kept[cid]
    history = [ChatMessage(role="user", content=opener_of(cand.instruction, cand.instances))]
    attempts = 0
    for turn in driver.state.turns.get(cid, []):
        if turn.status == "kept":
            history.append(ChatMessage(role=turn.role, content=turn.content))
            attempts = 0
        elif _ask_again(turn, attempts):
            attempts += 1
        else:
            return history, turn, attempts
    return history, None, attempts


def _ask_again(turn: Turn, attempts: int) -> bool:
    """Whether a turn that was not kept is asked for again: a dropped user message, up to SIMULATOR_TRIES in all.
    A stop marker ends the chat; a dropped answer does too (its request would be the same)."""
    return turn.status == "dropped" and turn.role == "user" and attempts + 1 < SIMULATOR_TRIES


async def _converse(driver: Driver, cid: str) -> None:
    """Alternate assistant and simulator turns from wherever the journal left this conversation."""
    cfg = driver.cfg
    history, ended, attempts = _history(driver, cid)
    while ended is None:
        users = sum(m.role == "user" for m in history)
        if history[-1].role == "assistant" and users >= cfg.turns:
            break
        role = "assistant" if history[-1].role == "user" else "user"
        if role == "assistant":
            prompt, decoding = assistant_prompt(driver.templates, history), _decoding(cfg, ASSISTANT_DECODING)
        else:
            kind = follow_up(cid, len(history), attempts)
            prompt, decoding = simulator_prompt(driver.templates, history, kind), _decoding(cfg, SIMULATOR_DECODING)
        completion = await driver.teacher.complete(prompt, decoding, stage=role if role == "assistant" else "simulator")
        text = clean_assistant_turn(completion.text) if role == "assistant" else strip_marker(clean_user_turn(completion.text))
        turn = Turn(id=cid, n=len(history), role=role, content=text, finish_reason=completion.finish_reason)
        if role == "user" and is_stop(completion.text):
            turn.status, turn.reason = "stop", "stop_marker"
        elif role == "user" and echo_of_prompt(completion.text, prompt):
            turn.status, turn.reason = "dropped", "echoed_prompt"
        else:
            reason, score = turn_problem(text, completion.finish_reason, role, history, cfg.rouge_tokenizer)
            if reason:
                turn.status, turn.reason, turn.score = "dropped", reason, score
        driver.record(turn)
        if turn.status == "kept":
            history.append(ChatMessage(role=role, content=text))
            attempts = 0
        elif _ask_again(turn, attempts):
            attempts += 1
        else:
            ended = turn
    driver.record(_completed(cid, history, ended))


def _completed(cid: str, history: list[ChatMessage], ended: Turn | None) -> Completed:
    """The conversation up to its last good assistant turn, or why there is none."""
    while history and history[-1].role != "assistant":
        history = history[:-1]
    why = "turn_limit" if ended is None else "stop_marker" if ended.status == "stop" else f"dropped_turn:{ended.reason}"
    dropped = [{"n": ended.n, "role": ended.role, "content": ended.content[:500], "reason": ended.reason}] if ended else []
    if not history:
        return Completed(id=cid, instances=[], dropped=dropped, reason=f"no_complete_pair:{ended.reason if ended else 'none'}")
    return Completed(id=cid, instances=[], dropped=dropped, conversation=history, ended=why)


def _decoding(cfg: ConversationSettings, defaults: dict[str, float]) -> Decoding:
    return Decoding(
        temperature=defaults["temperature"], top_p=defaults["top_p"], max_tokens=cfg.max_tokens or int(defaults["max_tokens"])
    )


# --- 4: the product -------------------------------------------------------------------------------


def rows(state: RunState, cfg: ConversationSettings, seeds: list[SeedTask]) -> list[dict[str, Any]]:
    """The first `budget` finished conversations, in ShareGPT form."""
    out = []
    for cid in state.done_ids()[: cfg.budget]:
        conversation = state.completed[cid].conversation or []
        out.append({"id": cid, "conversations": [{"from": SHAREGPT_ROLE[m.role], "value": m.content} for m in conversation]})
    return out


def write_product(run: RunDir, rows: list[dict[str, Any]]) -> None:
    """conversations.json (ShareGPT) and messages.jsonl (OpenAI / TRL messages), both written whole."""
    role = {v: k for k, v in SHAREGPT_ROLE.items()}
    write_json_atomic(run.path / CONVERSATIONS, rows)
    lines = [
        json.dumps({"messages": [{"role": role[t["from"]], "content": t["value"]} for t in row["conversations"]]}, ensure_ascii=False)
        for row in rows
    ]
    write_text_atomic(run.path / MESSAGES, "".join(line + "\n" for line in lines))


def summary(state: RunState, cfg: ConversationSettings) -> dict[str, Any]:
    """Conversation counts for summary.json: user turns per conversation, why they ended, turns dropped."""
    done = state.done_ids()[: cfg.budget]
    per = Counter(sum(m.role == "user" for m in state.completed[cid].conversation or []) for cid in done)
    dropped = Counter(t.reason for turns in state.turns.values() for t in turns if t.status == "dropped")
    # A dropped user message with a turn after it was asked for again.
    again = sum(t.status == "dropped" and t.role == "user" for turns in state.turns.values() for t in turns[:-1])
    return {
        "conversations": len(done),
        "turns_per_conversation": {str(k): per[k] for k in sorted(per)},
        "mean_turns": round(sum(k * v for k, v in per.items()) / len(done), 2) if done else 0.0,
        "ended": dict(Counter(state.completed[cid].ended for cid in done)),
        "dropped_turns": dict(dropped),
        "user_turns_asked_again": again,
    }


# --- the dry run ------------------------------------------------------------------------------------

BUDGET_UNIT = "conversations"

TOKENS_PER_ANSWER = 300
TOKENS_PER_QUESTION = 40


def estimate(cfg: ConversationSettings, templates: Templates, seeds: list[SeedTask], structured: bool) -> list[StageEstimate]:
    """Proposals for the openers the files do not give, then every user turn answered and all but the last followed up."""
    from selfinstruct.stages import estimate as est

    stages = []
    openers = len(seeds) + (len(read_openers(cfg.openers_from)) if cfg.openers_from else 0)
    needed = max(0, math.ceil(cfg.budget / est.FINISH_RATE) - openers)
    if needed:
        decoding = proposal_decoding(cfg, DECODING, TOKENS_PER_ITEM)
        stages.append(est.proposal_stage(
            cfg, needed, est.TOKENS_PER_PROPOSED_INSTRUCTION, decoding.max_tokens,
            lambda i: self_instruct.proposal_prompt(cfg, templates, seeds, [], i),
        ))  # fmt: skip
    n, turns = cfg.budget, cfg.turns
    system = est.prompt_tokens(assistant_prompt(templates, []), cfg)
    simulator = est.prompt_tokens(simulator_prompt(templates, []), cfg)
    opener = 30
    # Turn k's prompt holds the opener and k-1 earlier exchanges.
    exchange = TOKENS_PER_ANSWER + TOKENS_PER_QUESTION
    assistant_in = sum(system + opener + k * exchange for k in range(turns))
    simulator_in = sum(simulator + opener + TOKENS_PER_ANSWER + k * exchange for k in range(turns - 1))
    stages.append(est.StageEstimate(
        stage="assistant", requests=n * turns, prompt_tokens=n * assistant_in, completion_tokens=n * turns * TOKENS_PER_ANSWER,
        worst_completion_tokens=n * turns * (cfg.max_tokens or int(ASSISTANT_DECODING["max_tokens"])),
    ))  # fmt: skip
    if turns > 1:
        stages.append(est.StageEstimate(
            stage="simulator", requests=n * (turns - 1), prompt_tokens=n * simulator_in,
            completion_tokens=n * (turns - 1) * TOKENS_PER_QUESTION,
            worst_completion_tokens=n * (turns - 1) * (cfg.max_tokens or int(SIMULATOR_DECODING["max_tokens"])),
        ))  # fmt: skip
    return stages


# --- the rest of the Recipe protocol (recipes/base.py) -----------------------------------------------

NEEDS_SEEDS = True
ITEMS_PER_REQUEST = None  # new openers come from self-instruct proposals
PROPOSAL_SHARE = 0.5
ESTIMATE_ASSUMES = None
PRODUCTS = (CONVERSATIONS, MESSAGES)
INSTRUCTION_ROWS = False  # report and export read instruction rows; a conversation run's are chats
CLASSIFIES = False
ASKED_IN_INPUT = False
check_inputs = no_inputs
OPTIONS = ConversationOptions
identity = no_identity
HELP = (
    "multi-turn chats, the teacher as assistant and as user simulator, from the seeds' (and --from's) instructions, then proposed ones; "
    "writes conversations.json (ShareGPT) and messages.jsonl; --budget counts conversations."
)
gated_instances = None  # the gate and the verifiers score instruction rows, not conversations


def product_message(summary: dict[str, Any], run_dir: Path) -> str:
    """What `generate` prints when a conversation run completes."""
    return f"wrote {summary['conversations']} conversations to {run_dir / CONVERSATIONS} and {run_dir / MESSAGES}"
