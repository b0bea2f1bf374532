"""The stage driver of `generate`: run a recipe's stages until the budget holds N finished instructions.

Proposal requests feed kept instructions into a queue; the recipe's finishing work (classify and
instances, for self-instruct) drains it. Both run concurrently (the teacher bounds requests in
flight), and the driver only asks for more proposals while the queue and the work in progress
cannot cover the budget, so a run does not pay for more. Every outcome is journaled the moment it
is known; a rerun replays the journal and carries on. The driver knows no recipe by name: it
calls the recipe's `prepare`, `propose`, `finish_batch` and `finish` (recipes/base.py's Recipe protocol).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from selfinstruct.errors import CapReached
from selfinstruct.generate.progress import RunProgress
from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.records import Candidate, Classified, Completed, Instance, Proposed, SeedTask
from selfinstruct.rouge import RougeIndex
from selfinstruct.run import RunDir, RunState
from selfinstruct.stages.filters import Verdict, read_keywords
from selfinstruct.stages.verifiers import Verifier
from selfinstruct.teacher.seam import TeacherSeam
from selfinstruct.teacher.wire import current_record
from selfinstruct.templates import Templates

if TYPE_CHECKING:
    from selfinstruct.judge.pointwise import QualityJudge
    from selfinstruct.recipes.base import Recipe

T = TypeVar("T")
# Consecutive proposal requests that keep nothing before we conclude the teacher is stuck.
EMPTY_STREAK_LIMIT = 10
# Allocations between collections of the young generation while a run is driven (Python's default: 700).
YOUNG_COLLECTION_EVERY = 10_000
# Instructions being finished at once, per request slot of the teacher. Each holds its prompts while it waits
# for a slot, so without a bound a large budget's backlog (thousands queued behind the slots) made memory
# grow with the budget (peak RSS at budget 10,000: 226 -> 173 MB with the bound, bench/throughput.py). An instruction keeps its
# place through a classification and an instance request, slow ones included, so eight per slot still
# leaves several requests waiting for every slot that frees.
WORK_PER_SLOT = 8


# Set while quiet_collector's outermost block runs, so that a nested one only freezes what was built since.
_quieted = False


@contextmanager
def quiet_collector() -> Iterator[None]:
    """Less cyclic garbage collection while a run is set up and driven; as it was afterwards.

    What exists when the block starts (modules, the tokenizer, seeds, a resumed run's state) outlives it, so
    it is frozen: a full collection no longer walks it. generate() enters it first: the imports leave some
    110,000 objects, and the full collection of them that setting up a session triggered cost 45-56 ms of
    CPU. A nested block (the driver's) freezes what was built since; the outermost one restores. The young
    generation is collected every 10,000 allocations instead of 700, so the many short-lived objects of each
    request die before a collection and are not promoted: the collector's CPU fell from 0.2-0.4 to about
    0.1 ms per request at concurrency 256 (bench/throughput.py). A process that froze objects of its own is
    left as it is.
    """
    global _quieted
    if _quieted:
        gc.freeze()
        yield
        return
    if gc.get_freeze_count():
        yield
        return
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *thresholds[1:])
    _quieted = True
    try:
        yield
    finally:
        _quieted = False
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class Pipeline:
    """The running state of one generate session over a run directory; recipes work through it."""

    def __init__(
        self,
        cfg: GenerateConfig,
        recipe: Recipe,
        run: RunDir,
        state: RunState,
        seeds: list[SeedTask],
        templates: Templates,
        teacher: TeacherSeam,
        quality: QualityJudge | None = None,
        unit: str = "instructions",
    ) -> None:
        self.unit = unit  # what --budget counts (recipes.budget_unit), for messages
        self.cfg, self.recipe, self.rundir, self.state, self.seeds, self.templates, self.teacher = (
            cfg, recipe, run, state, seeds, templates, teacher,
        )  # fmt: skip
        self.pool = RougeIndex(threshold=cfg.rouge_threshold, tokenizer=cfg.rouge_tokenizer)
        # --keywords FILE replaces the built-in English keyword filter (None: the built-in list).
        self.banned_words = read_keywords(cfg.keywords) if cfg.keywords else None
        for seed in seeds:
            self.pool.add(seed.instruction)
        for cand in state.kept.values():
            self.pool.add(cand.instruction)
        self.machine = [c.instruction for c in state.kept.values()]
        self.in_progress = 0
        self._finishing: set[str] = set()
        # The quality judge, when generate --quality-judge is on (stages/quality_gate.py).
        self.quality = quality
        # The checks that need no judge (stages/verifiers), unless generate --no-verifiers.
        self.verifier = Verifier(run_code=cfg.run_code) if cfg.verifiers else None
        # Queued instructions a recipe has started work on ahead of their turn, and that work.
        self.early: dict[str, asyncio.Future[None]] = {}
        # What a recipe keeps for one session, set by its prepare hook (self-instruct and conversation: the task mix's plan;
        # grounded: its contexts and request order).
        self.recipe_session: Any = None
        recipe.prepare(self)
        self.queue: deque[str] = deque(state.pending_ids())
        self.proposals_in_flight = 0
        self.next_request = state.proposals
        self.empty_streak = 0
        self.stopping: CapReached | None = None

    # --- what recipes call ------------------------------------------------------------

    def record(self, record: Candidate | Classified | Completed | Proposed) -> None:
        """Journal a record and apply it to the run state; a finished instruction frees its slot."""
        self.state.apply(record, self.rundir.append(record))
        if isinstance(record, Completed) and record.id in self._finishing:
            self._finishing.discard(record.id)
            self.in_progress -= 1

    def record_candidate(
        self, request: int, j: int, instruction: str, verdict: Verdict, instances: list[Instance] | None = None, enqueue: bool = True,
        detail: str | None = None,
    ) -> str:
        """Journal item j of proposal `request` with the filters' verdict; a kept one is queued for finishing."""
        cand = Candidate(
            id=f"r{request:05d}.{j:02d}",
            instruction=instruction,
            status="kept" if verdict.reason is None else "rejected",
            reason=verdict.reason,
            most_similar=verdict.most_similar,
            score=verdict.score,
            detail=detail,
            request=request,
            instances=instances or [],
        )
        self.record(cand)
        if cand.status == "kept":
            self.machine.append(instruction)
            if enqueue:
                self.queue.append(cand.id)
        return cand.id

    def lookahead(self, n: int, wanted: Callable[[str], bool]) -> list[str]:
        """Up to n queued (not yet launched) instructions that `wanted` accepts, left in the queue."""
        return list(itertools.islice((cid for cid in self.queue if wanted(cid)), max(0, n)))  # stops at n: the queue can be long

    # --- scheduling ------------------------------------------------------------------

    @property
    def done(self) -> int:
        return self.state.done_count

    def _expected_yield(self) -> float:
        """Finished instructions one more proposal request is likely to bring, from this run's history."""
        if self.state.proposals == 0:
            return max(1.0, (self.recipe.ITEMS_PER_REQUEST or self.cfg.num_instructions_per_request) / 2)
        kept_rate = len(self.state.kept) / self.state.proposals
        # From the running counts: this runs before every launch, and walking every completed record made it quadratic.
        completed = len(self.state.completed)
        success = self.state.done_count / completed if completed else 1.0
        return max(0.5, kept_rate * success)

    def _proposal_wanted(self) -> bool:
        """Whether the budget still needs another proposal request (caps and a repeating teacher say no)."""
        if self.next_request >= self.cfg.proposal_cap or self.empty_streak >= EMPTY_STREAK_LIMIT:
            return False
        covered = self.done + self.in_progress + len(self.queue) + self.proposals_in_flight * self._expected_yield()
        return covered < self.cfg.budget

    def _launch(self, start: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        budget = self.cfg.budget
        work_cap = WORK_PER_SLOT * self.teacher.concurrency
        while self.queue and self.done + self.in_progress < budget:
            wanted = min(self.recipe.finish_batch(self.cfg), budget - self.done - self.in_progress)
            if self.in_progress and self.in_progress + wanted > work_cap:
                break  # enough is being finished to keep every slot busy; the rest waits in the queue, cheaply
            if len(self.queue) < wanted and (self.proposals_in_flight or self._proposal_wanted()):
                # A short batch only because the queue is short: wait for the proposals on their way, so one
                # classification request judges a full batch rather than a request per straggler.
                break
            n = min(wanted, len(self.queue))
            batch = [self.queue.popleft() for _ in range(n)]
            self.in_progress += n
            self._finishing.update(batch)
            start(self._finish(batch))
        # Proposals hold half the teacher's slots, the rest finish their output; a recipe whose requests are
        # nearly all proposals (grounded) gives them a larger share.
        max_parallel = max(1, int(self.teacher.concurrency * self.recipe.PROPOSAL_SHARE))
        while self.proposals_in_flight < max_parallel and self._proposal_wanted():
            self.proposals_in_flight += 1
            start(self._propose(self.next_request))
            self.next_request += 1

    def _stalled_error(self) -> CapReached:
        top = ", ".join(f"{r} {n}" for r, n in self.state.rejected.most_common(3)) or "none"
        if self.empty_streak >= EMPTY_STREAK_LIMIT:
            return CapReached(
                f"the last {self.empty_streak} proposal requests kept no new instruction (top rejections: {top}); "
                f"the teacher seems to be repeating itself. {self.done} of {self.cfg.budget} {self.unit} are saved; "
                "try another --seed, a larger model or a higher --temperature, then rerun to resume"
            )
        return CapReached(
            f"attempt cap reached: {self.next_request} proposal requests made and {self.done} of {self.cfg.budget} "
            f"{self.unit} finished (top rejections: {top}); raise --max-proposals and rerun to resume"
        )

    async def run(self, progress: RunProgress) -> None:
        """Launch work until the budget is met, a cap stops us, or a fatal error ends the run."""
        with quiet_collector():
            await self._run(progress)

    async def _run(self, progress: RunProgress) -> None:
        tasks: set[asyncio.Task[None]] = set()
        # Each task reports here once, when it ends: a wake costs the same however many are in flight, where
        # asyncio.wait(tasks) put a callback on every task and took it off again each time one ended.
        ended: asyncio.Queue[asyncio.Task[None]] = asyncio.Queue()

        def start(work: Coroutine[Any, Any, None]) -> None:
            task = asyncio.ensure_future(work)
            task.add_done_callback(ended.put_nowait)
            tasks.add(task)

        try:
            while self.done < self.cfg.budget:
                if not self.stopping:
                    self._launch(start)
                if not tasks:
                    raise self.stopping or self._stalled_error()
                finished = [await ended.get()]
                while not ended.empty():
                    finished.append(ended.get_nowait())
                tasks.difference_update(finished)
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
            await self.teacher.drain()  # requests already sent finish and are counted before the summary

    def _show(self, progress: RunProgress) -> None:
        spent = self.teacher.spend.spent
        limit = self.teacher.current_concurrency
        progress.update(self.done, self.teacher.in_flight, spent.total_tokens, spent.usd, sum(self.state.rejected.values()), limit)


    async def _propose(self, request: int) -> None:
        current_record.set(f"r{request:05d}")  # this task's requests belong to proposal `request` (batch mode's custom_id)
        try:
            before = len(self.state.kept)
            await self.recipe.propose(self, request)
            self.empty_streak = 0 if len(self.state.kept) > before else self.empty_streak + 1
        finally:
            self.proposals_in_flight -= 1

    async def _finish(self, ids: list[str]) -> None:
        try:
            await self.recipe.finish(self, ids)
        finally:
            unfinished = [i for i in ids if i in self._finishing]
            self._finishing.difference_update(unfinished)
            self.in_progress -= len(unfinished)
            # Work cut short (a cap, a cancel) goes back to the front of the queue for a later session.
            self.queue.extendleft(reversed([i for i in unfinished if i not in self.state.completed]))
