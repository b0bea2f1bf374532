"""The stage driver of `generate`: run the stages until the budget holds N finished instructions.

Proposal requests feed kept instructions into a queue; classify + instance work drains it. Both run
concurrently (the teacher bounds requests in flight), and the driver only asks for more proposals
while the queue and the work in progress cannot cover the budget, so a run does not pay for more.
Every outcome is journaled the moment it is known; a rerun replays the journal and carries on.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import Any

from selfinstruct.config import GenerateConfig
from selfinstruct.errors import CapReached
from selfinstruct.progress import RunProgress
from selfinstruct.records import Candidate, Classified, Completed, Instance, Proposed, SeedTask
from selfinstruct.rouge import RougeIndex
from selfinstruct.run import RunDir, RunState
from selfinstruct.stages.classify import build_classify_prompt, parse_verdicts
from selfinstruct.stages.filters import cheap_reason, filter_instances, filter_instruction
from selfinstruct.stages.instances import build_instances_prompt, parse_input_first, parse_output_first
from selfinstruct.stages.propose import (
    build_alpaca_prompt,
    build_propose_prompt,
    parse_alpaca_tasks,
    parse_numbered_list,
    sample_examples,
)
from selfinstruct.teacher.client import Decoding, Teacher
from selfinstruct.templates import Templates

# Consecutive proposal requests that keep nothing before we conclude the teacher is stuck.
EMPTY_STREAK_LIMIT = 10


class Pipeline:
    """The running state of one generate session over a run directory."""

    def __init__(
        self, cfg: GenerateConfig, run: RunDir, state: RunState, seeds: list[SeedTask], templates: Templates, teacher: Teacher
    ) -> None:
        self.cfg, self.rundir, self.state, self.seeds, self.templates, self.teacher = cfg, run, state, seeds, templates, teacher
        self.pool = RougeIndex(threshold=cfg.rouge_threshold, tokenizer=cfg.rouge_tokenizer)
        for seed in seeds:
            self.pool.add(seed.instruction)
        for cand in state.kept.values():
            self.pool.add(cand.instruction)
        self.machine = [c.instruction for c in state.kept.values()]
        self.queue: deque[str] = deque(state.pending_ids())
        if cfg.recipe == "alpaca":
            # An alpaca task brings its instance along; a crash between its two journal lines leaves it
            # kept but not completed, and it needs no classify/instance request to finish.
            while self.queue:
                cid = self.queue.popleft()
                self._record(Completed(id=cid, instances=state.kept[cid].instances))
        self.in_progress = 0
        self.proposals_in_flight = 0
        self.next_request = state.proposals
        self.empty_streak = 0
        self.stopping: CapReached | None = None

    # --- scheduling ------------------------------------------------------------------

    @property
    def done(self) -> int:
        return len(self.state.done_ids())

    def _expected_yield(self) -> float:
        """Finished instructions one more proposal request is likely to bring, from this run's history."""
        if self.state.proposals == 0:
            return max(1.0, self.cfg.num_instructions_per_request / 2)
        kept_rate = len(self.state.kept) / self.state.proposals
        finished = [c for c in self.state.completed.values()]
        success = sum(1 for c in finished if c.instances) / len(finished) if finished else 1.0
        return max(0.5, kept_rate * success)

    def _launch(self, tasks: set[asyncio.Task[None]]) -> None:
        budget = self.cfg.budget
        while self.queue and self.done + self.in_progress < budget:
            n = min(self.cfg.classify_batch, budget - self.done - self.in_progress, len(self.queue))
            batch = [self.queue.popleft() for _ in range(n)]
            self.in_progress += n
            tasks.add(asyncio.ensure_future(self._finish(batch)))
        max_parallel = max(1, self.cfg.concurrency // 2)
        while self.proposals_in_flight < max_parallel and self.next_request < self.cfg.proposal_cap:
            covered = self.done + self.in_progress + len(self.queue) + self.proposals_in_flight * self._expected_yield()
            if covered >= budget or self.empty_streak >= EMPTY_STREAK_LIMIT:
                break
            self.proposals_in_flight += 1
            tasks.add(asyncio.ensure_future(self._propose(self.next_request)))
            self.next_request += 1

    def _stalled_error(self) -> CapReached:
        top = ", ".join(f"{r} {n}" for r, n in self.state.rejected.most_common(3)) or "none"
        if self.empty_streak >= EMPTY_STREAK_LIMIT:
            return CapReached(
                f"the last {self.empty_streak} proposal requests kept no new instruction (top rejections: {top}); "
                f"the teacher seems to be repeating itself. {self.done} of {self.cfg.budget} instructions are saved; "
                "try another --seed, a larger model or a higher --temperature, then rerun to resume"
            )
        return CapReached(
            f"attempt cap reached: {self.next_request} proposal requests made and {self.done} of {self.cfg.budget} "
            f"instructions finished (top rejections: {top}); raise --max-proposals and rerun to resume"
        )

    async def run(self, progress: RunProgress) -> None:
        """Launch work until the budget is met, a cap stops us, or a fatal error ends the run."""
        tasks: set[asyncio.Task[None]] = set()
        try:
            while self.done < self.cfg.budget:
                if not self.stopping:
                    self._launch(tasks)
                if not tasks:
                    raise self.stopping or self._stalled_error()
                finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                tasks -= finished
                fatal: BaseException | None = None
                # Read every finished task's outcome before raising, so none is left unretrieved.
                for task in finished:
                    exc = task.exception()
                    if isinstance(exc, CapReached):
                        # Let requests already paid for finish, then stop before sending more.
                        self.stopping = self.stopping or exc
                    elif exc is not None:
                        fatal = fatal or exc
                if fatal is not None:
                    raise fatal
                self._show(progress)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _show(self, progress: RunProgress) -> None:
        spent = self.teacher.spend.spent
        progress.update(self.done, self.teacher.in_flight, spent.total_tokens, spent.usd, sum(self.state.rejected.values()))

    def _record(self, record: Candidate | Classified | Completed | Proposed) -> None:
        self.rundir.append(record)
        self.state.apply(record)

    # --- stage 1 + 2: propose and filter ---------------------------------------------

    async def _propose(self, request: int) -> None:
        try:
            rng = random.Random(f"{self.cfg.seed}:{request}")
            num_seed, num_machine = self.cfg.examples_per_request
            decoding = Decoding(**self.cfg.proposal_decoding, max_tokens=self.cfg.proposal_max_tokens)
            n = self.cfg.num_instructions_per_request
            if self.cfg.recipe == "alpaca":
                examples = rng.sample(self.seeds, min(num_seed, len(self.seeds)))
                prompt = build_alpaca_prompt(self.templates, examples, n)
            else:
                texts = sample_examples(rng, [s.instruction for s in self.seeds], self.machine, num_seed, num_machine)
                prompt = build_propose_prompt(self.templates, texts, n)
            completion = await self.teacher.complete(prompt, decoding, stage="propose")
            before = len(self.state.kept)
            if self.cfg.recipe == "alpaca":
                pairs = parse_alpaca_tasks(completion.text, completion.truncated)
                for j, (instruction, instance) in enumerate(pairs):
                    self._filter_alpaca(request, j, instruction, instance)
                parsed = len(pairs)
            else:
                items = parse_numbered_list(completion.text, completion.truncated)
                for j, instruction in enumerate(items):
                    self._filter(request, j, instruction)
                parsed = len(items)
            self._record(Proposed(request=request, parsed=parsed, finish_reason=completion.finish_reason))
            self.empty_streak = 0 if len(self.state.kept) > before else self.empty_streak + 1
        finally:
            self.proposals_in_flight -= 1

    def _filter(self, request: int, j: int, instruction: str) -> None:
        verdict = filter_instruction(instruction, self.pool, self.cfg.allow_non_ascii)
        cand = Candidate(
            id=f"r{request:05d}.{j:02d}",
            instruction=instruction,
            status="kept" if verdict.reason is None else "rejected",
            reason=verdict.reason,
            most_similar=verdict.most_similar,
            score=verdict.score,
            request=request,
        )
        self._record(cand)
        if cand.status == "kept":
            self.machine.append(instruction)
            self.queue.append(cand.id)

    def _filter_alpaca(self, request: int, j: int, instruction: str, instance: Any) -> None:
        """Alpaca tasks arrive complete: the instance must pass too before the instruction joins the pool."""
        cid = f"r{request:05d}.{j:02d}"
        reason = cheap_reason(instruction, self.cfg.allow_non_ascii)
        kept_instances, dropped, bad = filter_instances([instance]) if not reason else ([], [], None)
        reason = reason or bad
        if reason:
            self._record(Candidate(id=cid, instruction=instruction, status="rejected", reason=reason, request=request, instances=[instance]))
            return
        verdict = filter_instruction(instruction, self.pool, self.cfg.allow_non_ascii)
        status = "kept" if verdict.reason is None else "rejected"
        self._record(
            Candidate(
                id=cid, instruction=instruction, status=status, reason=verdict.reason,
                most_similar=verdict.most_similar, score=verdict.score, request=request, instances=kept_instances,
            )
        )  # fmt: skip
        if status == "kept":
            self.machine.append(instruction)
            self._record(Completed(id=cid, instances=kept_instances, dropped=dropped))

    # --- stage 3 + 4: classify and make instances -----------------------------------

    async def _finish(self, ids: list[str]) -> None:
        pending = set(ids)
        try:
            todo = [i for i in ids if i not in self.state.classified]
            if todo:
                await self._classify(todo)
            await asyncio.gather(*(self._instances(i, pending) for i in ids))
        finally:
            self.in_progress -= len(pending)
            # Work cut short (a cap, a cancel) goes back to the front of the queue for a later session.
            self.queue.extendleft(reversed([i for i in ids if i in pending and i not in self.state.completed]))

    async def _classify(self, ids: list[str], single: bool = False) -> None:
        instructions = [self.state.kept[i].instruction for i in ids]
        prompt = build_classify_prompt(self.templates, instructions)
        decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=16 + 8 * len(ids))
        completion = await self.teacher.complete(prompt, decoding, stage="classify")
        verdicts = parse_verdicts(completion.text, len(ids))
        unreadable = []
        for cid, verdict in zip(ids, verdicts):
            if verdict is None:
                unreadable.append(cid)
            else:
                self._record(Classified(id=cid, is_classification=verdict, answer=completion.text.strip()[:200]))
        if unreadable and not single and len(ids) > 1:
            await asyncio.gather(*(self._classify([cid], single=True) for cid in unreadable))
        else:
            for cid in unreadable:
                # Input-first is the safe default: it works for any task, output-first needs labels.
                self._record(Classified(id=cid, is_classification=False, answer="unreadable: " + completion.text.strip()[:180]))

    async def _instances(self, cid: str, pending: set[str]) -> None:
        is_clf = self.state.classified[cid].is_classification
        kept, dropped, reason, raw = await self._ask_instances(cid, is_clf)
        if not kept and is_clf and reason != "conflicting_outputs":
            # A teacher that cannot follow the output-first format (small models) gets one input-first try.
            kept, dropped, reason, raw = await self._ask_instances(cid, False)
        self._record(Completed(id=cid, instances=kept[: self.cfg.max_instances], dropped=dropped, reason=reason, raw=raw))
        pending.discard(cid)
        self.in_progress -= 1

    async def _ask_instances(self, cid: str, output_first: bool) -> tuple[list[Instance], list[dict], str | None, str | None]:
        """One instance request: (kept instances, dropped ones, task-level reason, raw text when nothing was kept)."""
        prompt = build_instances_prompt(self.templates, self.state.kept[cid].instruction, output_first, self.cfg.max_instances)
        decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=self.cfg.max_tokens or 60 + 120 * self.cfg.max_instances)
        completion = await self.teacher.complete(prompt, decoding, stage="instances")
        parse = parse_output_first if output_first else parse_input_first
        demonstrations = prompt.rsplit("Task:", 1)[0]  # the template's worked examples, without this task
        kept, dropped, reason = filter_instances(parse(completion.text, completion.truncated), demonstrations)
        if not kept and completion.finish_reason == "content_filter":
            reason = "content_filter"  # the endpoint refused to answer; say so rather than "no valid instances"
        return kept, dropped, reason, (completion.text[:500] if not kept else None)
