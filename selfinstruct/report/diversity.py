"""Self-Instruct's two diversity pictures: ROUGE-L of each instruction to its closest seed, and verb-noun pairs.

    similarity = seed_similarity(instructions, seeds, tokenizer="rouge")
    similarity.histogram.counts        # per 0.05-wide bin from 0 to 1
    verbs = verb_noun_chart(instructions)
    verbs.top[0]                       # VerbObjects(verb="write", count=.., objects=[("poem", ..), ...])

The similarity is exactly rouge_score's ROUGE-L F (selfinstruct/rouge.py's index, its
`best_match`), so a score here is the score the near-duplicate filter would compute. The chart
takes the top 20 root verbs and each one's top 4 direct objects, as in Self-Instruct's Figure 2.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import mean, median

from pydantic import BaseModel

from selfinstruct.report.verbs import parser_name, verb_noun_pairs
from selfinstruct.rouge import RougeIndex, Tokenizer

TOP_VERBS = 20
TOP_OBJECTS = 4
BIN_WIDTH = 0.05


class Histogram(BaseModel):
    """Counts per bin; bin i covers [edges[i], edges[i+1]), the last bin includes its right edge."""

    edges: list[float]
    counts: list[int]


class Closest(BaseModel):
    instruction: str
    seed: str
    score: float


class SeedSimilarity(BaseModel):
    """ROUGE-L F of each instruction to its most similar seed instruction."""

    instructions: int
    seeds: int
    threshold: float
    mean: float | None
    median: float | None
    above_threshold: int
    histogram: Histogram
    closest: list[Closest]


class VerbObjects(BaseModel):
    verb: str
    count: int
    objects: list[tuple[str, int]]


class VerbNoun(BaseModel):
    """The verb-noun chart's data: how many instructions had the structure, and the top verbs with their objects."""

    parser: str
    instructions: int
    with_structure: int
    distinct_verbs: int
    distinct_pairs: int
    top: list[VerbObjects]


def histogram(values: list[float], width: float = BIN_WIDTH, low: float = 0.0, high: float = 1.0) -> Histogram:
    bins = round((high - low) / width)
    edges = [round(low + i * width, 10) for i in range(bins + 1)]
    counts = [0] * bins
    for value in values:
        index = min(bins - 1, max(0, int((value - low) / width + 1e-9)))
        counts[index] += 1
    return Histogram(edges=edges, counts=counts)


def seed_similarity(instructions: list[str], seeds: list[str], tokenizer: Tokenizer = "rouge", threshold: float = 0.7) -> SeedSimilarity:
    """Score every instruction against the seed pool; the threshold only marks the filter's line on the chart."""
    index = RougeIndex(threshold=threshold, tokenizer=tokenizer)
    for seed in seeds:
        index.add(seed)
    scored: list[Closest] = []
    for text in instructions:
        best, score = index.best_match(text)
        scored.append(Closest(instruction=text, seed=best or "", score=round(score, 4)))
    values = [c.score for c in scored]
    return SeedSimilarity(
        instructions=len(instructions),
        seeds=len(seeds),
        threshold=threshold,
        mean=round(mean(values), 4) if values else None,
        median=round(median(values), 4) if values else None,
        above_threshold=sum(1 for v in values if v > threshold),
        histogram=histogram(values),
        closest=sorted(scored, key=lambda c: -c.score)[:5],
    )


def verb_noun_chart(instructions: list[str]) -> VerbNoun:
    """Parse each instruction and keep the top verbs with their top objects."""
    pairs = [p for p in verb_noun_pairs(instructions) if p is not None]
    verbs: Counter[str] = Counter(v for v, _ in pairs)
    objects: dict[str, Counter[str]] = defaultdict(Counter)
    for verb, noun in pairs:
        objects[verb][noun] += 1
    top = [
        VerbObjects(verb=verb, count=n, objects=objects[verb].most_common(TOP_OBJECTS))
        for verb, n in sorted(verbs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VERBS]
    ]
    return VerbNoun(
        parser=parser_name(),
        instructions=len(instructions),
        with_structure=len(pairs),
        distinct_verbs=len(verbs),
        distinct_pairs=len(set(pairs)),
        top=top,
    )
