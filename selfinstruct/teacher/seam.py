"""The one teacher seam as a type: what every teacher offers the stages, the pipeline and the summary.

    def ask(teacher: TeacherSeam) -> ...:
        done = await teacher.complete(messages, Decoding(max_tokens=64), stage="classify")

Two classes provide it: `Teacher` (client.py), requests sent online one by one, and `BatchTeacher`
(batch.py), the same requests gathered into OpenAI Batch API files. Code above the teacher layer
names this protocol, not either class, so it never asks which one it holds.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from selfinstruct.teacher.spend import SpendTracker
from selfinstruct.teacher.wire import Completion, Decoding, Message, Structured


@runtime_checkable
class TeacherSeam(Protocol):
    """Chat messages (or a completion prompt) and decoding options in; text, finish reason and usage out."""

    model: str  # the model requests name (the first endpoint's, with several)
    api: Literal["chat", "completions"]
    description: str  # one line for the terminal: which teacher, where
    structured: Structured | None  # how the endpoint takes a JSON schema for the answer; None: it does not
    max_attempts: int
    spend: SpendTracker  # token and dollar counts, and the caps every request is checked against
    requests: int  # attempts sent (online) or answers asked for (batch) by this process
    retries: int  # attempts after a request's first

    @property
    def concurrency(self) -> int:
        """The most requests worked on at once (the pipeline sizes its queues by it)."""
        ...

    @property
    def current_concurrency(self) -> int | None:
        """What the limits allow right now, for the live display; None where nothing adapts."""
        ...

    @property
    def in_flight(self) -> int:
        """Requests asked and not yet answered."""
        ...

    async def complete(self, prompt: list[Message] | str, decoding: Decoding, stage: str, ahead: bool = False) -> Completion:
        """The answer to one request; raises TeacherError (or UserError for a configuration mistake) when it gives up.
        `ahead`: others wait on this answer, so it goes before requests already waiting (where there is a queue)."""
        ...

    async def drain(self) -> None:
        """Send nothing new, and let what was sent finish and be counted before the summary is written."""
        ...

    async def aclose(self) -> None:
        """Close the HTTP client (inside the event loop that used it)."""
        ...

    def report(self) -> dict[str, Any]:
        """What summary.json shows about this teacher beyond the common counts."""
        ...
