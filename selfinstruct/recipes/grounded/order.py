"""Request order for the grounded recipe: its examples are journaled as their requests were numbered, not as
their answers and judgments happened to finish.

    order = RequestOrder(state, journaled=state.proposals, ask=propose_one, check=check_one, cid=lambda r: f"g{r:05d}")
    await order.checked(cid)              # the one check of an example (the driver's, or an earlier one's for a later)
    await order.settled(range(a, b))      # every request in a..b-1 answered and, if kept, checked and journaled
    order.arrive(request)                 # its answer is journaled

The driver stops once the budget's examples are journaled. Journaled in request order, they are the first to pass
in request order whatever was in flight, and a context's near-duplicate check sees its earlier requests'
questions first, so a run's product does not depend on which answer came back first (nor on --concurrency).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from selfinstruct.errors import CapReached

if TYPE_CHECKING:
    from selfinstruct.run import RunState

Work = Callable[[], Coroutine[Any, Any, None]]


class RequestOrder:
    """Each request's arrival, and one shared task per example check (or lost request asked again)."""

    def __init__(self, state: RunState, journaled: int, ask: Callable[[int], Coroutine[Any, Any, None]],
                 check: Callable[[str], Coroutine[Any, Any, None]], cid: Callable[[int], str]) -> None:  # fmt: skip
        self.state = state
        self.journaled = journaled  # requests below this were made by an earlier session
        self.ask, self.check, self.cid = ask, check, cid
        self.low = 0  # every request below this is settled
        self._arrived: dict[int, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Future[None]] = {}

    def arrive(self, request: int) -> None:
        event = self._arrived.pop(request, None)
        if event is not None:
            event.set()

    def _shared(self, key: str, work: Work) -> asyncio.Future[None]:
        if key not in self._tasks:
            task = self._tasks[key] = asyncio.ensure_future(work())
            task.add_done_callback(lambda _: self._tasks.pop(key, None))  # its outcome is journaled by then
        return self._tasks[key]

    def checked(self, cid: str) -> asyncio.Future[None]:
        """The one check of this example, started by the driver or by a later example waiting on it."""
        return self._shared(cid, lambda: self.check(cid))

    async def _settle(self, request: int) -> None:
        """Once this request's answer is journaled and, if kept, checked. One an earlier session sent but lost (killed
        while it was out) is asked again here: the driver only asks for numbers past every journaled one."""
        cid = self.cid(request)
        if cid not in self.state.candidate_ids:
            if request < self.journaled:
                await self._shared(f"ask {request}", lambda: self.ask(request))
            else:  # the driver sent it (in order) and it is on its way
                await self._arrived.setdefault(request, asyncio.Event()).wait()
            if cid not in self.state.candidate_ids:  # it failed (a cap, say): what waits on it stops with it
                raise CapReached(f"request {request} ended unanswered; a rerun resumes from it")
        if cid in self.state.kept and cid not in self.state.completed:
            await self.checked(cid)

    async def settled(self, requests: range) -> None:
        """Wait until every request in the range is settled (started here if need be: none waits on the driver,
        whose slots may all be held by later examples waiting)."""
        request = max(requests.start, self.low)
        while request < requests.stop:
            await self._settle(request)
            request = max(request + 1, self.low) if requests.start <= self.low else request + 1
        if requests.start <= self.low:
            self.low = max(self.low, requests.stop)
