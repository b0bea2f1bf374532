"""Cost and time of a run, from its request log: per stage, per kept instruction and per example, and over time.

    cost = build_cost(source.run, instructions=50, examples=140)
    cost.stages[0]      # StageCost(stage="propose", requests=.., retries=.., prompt_tokens=.., usd=..)
    cost.timeline       # requests, retries and failures per time bin since the first request
    cost.slowest        # the ten slowest attempts

Each line of requests.jsonl is one attempt; attempt 1 starts a request and later attempts are
its retries. Dollars are the run's own figures (0 for the local teacher); `price_known` is false
when a hosted model had no price, so its cost is unknown rather than free.
"""

from __future__ import annotations

from pydantic import BaseModel

from selfinstruct.report.source import RequestRecord, RunData

SLOWEST = 10
TIMELINE_BINS = 30


class StageCost(BaseModel):
    stage: str
    requests: int = 0
    retries: int = 0
    failed_attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    latency_s: float = 0.0

    def add(self, rec: RequestRecord) -> None:
        if rec.attempt <= 1:
            self.requests += 1
        else:
            self.retries += 1
        self.failed_attempts += 0 if rec.ok else 1
        self.prompt_tokens += rec.prompt_tokens or 0
        self.completion_tokens += rec.completion_tokens or 0
        self.usd = round(self.usd + (rec.usd or 0.0), 6)
        self.latency_s = round(self.latency_s + (rec.latency_s or 0.0), 3)


class Timeline(BaseModel):
    """Attempts per bin of `bin_seconds` since the first request started."""

    bin_seconds: float
    starts: list[float]
    requests: list[int]
    retries: list[int]
    failures: list[int]


class SlowRequest(BaseModel):
    stage: str
    attempt: int
    ok: bool
    latency_s: float
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    error: str | None
    at_s: float | None


class Cost(BaseModel):
    """The cost-and-time section of the report."""

    model: str | None
    price_known: bool
    stages: list[StageCost]
    total: StageCost
    instructions: int
    examples: int
    usd_per_instruction: float | None
    usd_per_example: float | None
    tokens_per_instruction: float | None
    tokens_per_example: float | None
    wall_seconds: float | None
    timeline: Timeline | None
    slowest: list[SlowRequest]


def _per(value: float, n: int, digits: int) -> float | None:
    return round(value / n, digits) if n else None


def build_timeline(records: list[RequestRecord], bins: int = TIMELINE_BINS) -> Timeline | None:
    stamped = [r for r in records if r.ts is not None]
    if not stamped:
        return None
    start = min(r.ts for r in stamped)  # type: ignore[type-var]
    span = max(r.ts for r in stamped) - start  # type: ignore[operator]
    width = max(1.0, round(span / bins + 0.5))
    count = max(1, int(span // width) + 1)
    timeline = Timeline(bin_seconds=width, starts=[i * width for i in range(count)], requests=[0] * count, retries=[0] * count, failures=[0] * count)
    for rec in stamped:
        index = min(count - 1, int((rec.ts - start) // width))  # type: ignore[operator]
        if rec.attempt <= 1:
            timeline.requests[index] += 1
        else:
            timeline.retries[index] += 1
        if not rec.ok:
            timeline.failures[index] += 1
    return timeline


def build_cost(run: RunData, instructions: int, examples: int) -> Cost:
    """`instructions` and `examples` are what the run emitted: the denominators of the per-unit costs."""
    stages: dict[str, StageCost] = {}
    total = StageCost(stage="total")
    for rec in run.requests:
        stages.setdefault(rec.stage, StageCost(stage=rec.stage)).add(rec)
        total.add(rec)
    tokens = total.prompt_tokens + total.completion_tokens
    start = min((r.ts for r in run.requests if r.ts is not None), default=None)
    slowest = sorted(run.requests, key=lambda r: -(r.latency_s or 0.0))[:SLOWEST]
    wall = run.summary.get("total_wall_seconds", run.summary.get("wall_seconds"))
    models = {r.model for r in run.requests if r.model}
    return Cost(
        model=run.summary.get("model") or (models.pop() if len(models) == 1 else None),
        price_known=bool(run.summary.get("price_known", True)),
        stages=list(stages.values()),
        total=total,
        instructions=instructions,
        examples=examples,
        usd_per_instruction=_per(total.usd, instructions, 6),
        usd_per_example=_per(total.usd, examples, 6),
        tokens_per_instruction=_per(tokens, instructions, 1),
        tokens_per_example=_per(tokens, examples, 1),
        wall_seconds=float(wall) if isinstance(wall, (int, float)) else None,
        timeline=build_timeline(run.requests),
        slowest=[
            SlowRequest(
                stage=r.stage, attempt=r.attempt, ok=r.ok, latency_s=r.latency_s, prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens, finish_reason=r.finish_reason, error=r.error,
                at_s=round(r.ts - start, 1) if r.ts is not None and start is not None else None,
            )  # fmt: skip
            for r in slowest
        ],
    )
