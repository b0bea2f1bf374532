"""Reading a judge's verdict from its token probabilities instead of from the text it sampled.

    probs = option_probabilities(done.top_logprobs, {"A": ("A",), "B": ("B",), "C": ("C",)})
    probs.p["A"], probs.mass            # normalised over the options; mass: their share of all probability

A small judge's sampled verdict is one draw from a distribution it is unsure of; the distribution
itself (top_logprobs at the verdict position) holds what it believes, and reading it costs one
generated token. The verdict position is the first generated position at which some option token
is among the likely alternatives (a reply may open with markup such as "**" or a quote); an option
matches a token whose text, stripped of spaces, markup and a trailing period, equals one of its
spellings, case-insensitively. Probabilities of every spelling of an option are added.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel

from selfinstruct.teacher.client import Completion

# How many leading positions may hold markup before the verdict token ("**", "\"", "[[").
# A pairwise verdict: the first contestant (a) wins, the second (b) wins, or a tie.
Outcome = Literal["a", "b", "tie"]
MAX_LEAD = 3
_NOISE = re.compile(r"^[\s*_`\"'\[\(]+|[\s*_`\"'\]\).:]+$")


class OptionProbabilities(BaseModel):
    """The judge's probability of each option at the verdict position, normalised over the options."""

    p: dict[str, float]
    mass: float  # the options' share of the probability at that position, before normalising
    position: int  # which generated token held the verdict (0: the first)


def _canonical(token: str) -> str:
    return _NOISE.sub("", token).lower()


def option_probabilities(positions: Sequence[Mapping[str, float]] | None, options: Mapping[str, Sequence[str]]) -> OptionProbabilities | None:
    """Each option's probability at the first position where any option is a likely token; None when no
    position within the first MAX_LEAD + 1 names one (the endpoint gave no log-probabilities, or the
    judge wrote something else)."""
    if not positions:
        return None
    spellings = {spelling.lower(): name for name, words in options.items() for spelling in words}
    for index, alternatives in enumerate(positions[: MAX_LEAD + 1]):
        found = {name: 0.0 for name in options}
        for token, logprob in alternatives.items():
            name = spellings.get(_canonical(token))
            if name is not None and logprob > -math.inf:
                found[name] += math.exp(logprob)
        mass = sum(found.values())
        if mass > 0:
            return OptionProbabilities(p={name: value / mass for name, value in found.items()}, mass=min(1.0, mass), position=index)
    return None


def expected_score(probs: OptionProbabilities) -> float:
    """G-Eval's expected rating: sum of k * p(k) over options named by their digits."""
    return sum(int(name) * p for name, p in probs.p.items())


class LogprobSupport:
    """Whether the endpoint sends log-probabilities, found out by one request before any other is sent.

    Until the first answer is in, other verdicts wait for it rather than all going out as one-token
    requests an endpoint without log-probabilities would waste; a probe that fails leaves the
    question open, and the next request asks it again."""

    def __init__(self) -> None:
        self.supported: bool | None = None
        self._probe: asyncio.Future[None] | None = None

    async def ask(self, send: Callable[[], Awaitable[Completion]]) -> Completion | None:
        """`send()`'s answer while log-probabilities may be supported; None once the endpoint is known to send none."""
        while self.supported is None and self._probe is not None:
            await asyncio.shield(self._probe)
        if self.supported is False:
            return None
        if self.supported is True:
            return await send()
        self._probe = asyncio.get_running_loop().create_future()
        try:
            done = await send()
            self.supported = done.top_logprobs is not None
        finally:
            probe, self._probe = self._probe, None
            probe.set_result(None)
        return done if self.supported else None
