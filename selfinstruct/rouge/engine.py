"""find_duplicates' engine: every text's greedy near-duplicate decision, blocks of candidates at a time.

    result = dedup_texts(texts, against=seeds, threshold=0.7, workers=2)   # engine="ray" for a Ray cluster
    result.duplicate[k], result.match[k], result.score[k]                  # per input text

Texts are decided in input order, each against every reference and every earlier text kept, exactly as
`RougeIndex.check_and_add` one at a time would decide them. A block's candidates are checked against the pool
as it stood before the block, split over the workers (this process and `workers - 1` forked processes that read
the corpus and the kept flags from shared memory), then resolved in order here (blocks.py).
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from selfinstruct.rouge.blocks import Pairs, blocks, check_block, resolve_block, split_block
from selfinstruct.rouge.corpus import Corpus
from selfinstruct.rouge.score import Tokenizer

Engine = Literal["local", "ray"]
# Candidates per block: large enough that each worker's share outweighs the round trip, small enough that
# texts kept within a block are soon in the pool. Any size gives the same decisions.
BLOCK_TEXTS = 8192
# Index segments: a candidate reads the index entries of its own segment and earlier ones.
SEGMENTS = 2


@dataclass(frozen=True)
class DedupResult:
    """Decisions for the input texts, as arrays: whether each is a duplicate, of which text, with what F.

    `match` indexes the references followed by the input texts (references first), -1 for a kept text.
    """

    references: int
    duplicate: np.ndarray  # bool [texts]
    match: np.ndarray  # int64 [texts]
    score: np.ndarray  # float64 [texts]: the match's F, 0.0 for a kept text

    def kept(self) -> np.ndarray:
        """Positions of the kept input texts, ascending."""
        return np.flatnonzero(~self.duplicate)


def default_workers() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def dedup_texts(texts: Sequence[str], against: Sequence[str] = (), *, threshold: float = 0.7,
                tokenizer: Tokenizer = "rouge", engine: Engine = "local", workers: int | None = None,
                ray_address: str | None = None, block_texts: int = BLOCK_TEXTS, segments: int = SEGMENTS,
                progress: Callable[[int], None] | None = None) -> DedupResult:  # fmt: skip
    """Greedy exact ROUGE-L decisions for `texts` in order, against `against` and every earlier kept text.

    `workers`: processes (local) or Ray workers; default all CPUs here (local) or in the cluster (ray).
    `ray_address` joins a running Ray cluster; without it, engine="ray" starts one on this machine.
    `progress(done)` is told after each block how many input texts are decided.
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if block_texts < 1:
        raise ValueError(f"block_texts must be at least 1, got {block_texts}")
    corpus = Corpus.build([*against, *texts], threshold, tokenizer, segments)
    run = _run_local if engine == "local" else _run_ray
    kept, match, score = run(corpus, len(against), workers, ray_address, block_texts, progress)
    references = len(against)
    return DedupResult(references=references, duplicate=~kept[references:], match=match[references:],
                       score=score[references:])


def _shared_flags(count: int) -> tuple[mmap.mmap, np.ndarray]:
    """A bool array (all True) in anonymous shared memory: forked workers see the driver's writes."""
    buffer = mmap.mmap(-1, max(1, count))
    flags = np.frombuffer(buffer, dtype=np.bool_, count=count)
    flags[:] = True
    return buffer, flags


# What forked workers read: set before the pool forks, inherited (copy-on-write, never written by them).
_SHARED: dict[str, object] = {}


def _worker_check(start: int, stop: int) -> Pairs:
    corpus = _SHARED["corpus"]
    if "big" not in _SHARED:  # decoded once per worker, after the fork
        _SHARED["big"] = corpus.all_codes_string()  # type: ignore[union-attr]
    return check_block(corpus, _SHARED["big"], start, stop, _SHARED["kept"])  # type: ignore[arg-type]


def _run_local(corpus: Corpus, references: int, workers: int | None, ray_address: str | None, block_texts: int,
               progress: Callable[[int], None] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    total = len(corpus)
    buffer, kept = _shared_flags(total)
    match = np.full(total, -1, dtype=np.int64)
    score = np.zeros(total, dtype=np.float64)
    workers = workers or default_workers()
    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # the corpus reaches workers by fork; elsewhere this process does it all
    big = corpus.all_codes_string()
    pool = None
    if workers > 1 and total - references > block_texts // 4:
        _SHARED.update(corpus=corpus, kept=kept)
        pool = multiprocessing.get_context("fork").Pool(workers - 1)
    try:
        for start, stop in blocks(references, total, block_texts):
            runs = split_block(corpus, start, stop, workers if pool else 1)
            pending = [pool.apply_async(_worker_check, run) for run in runs[1:]] if pool else []
            pairs = [check_block(corpus, big, *runs[0], kept)] + [p.get() for p in pending]
            resolve_block(Pairs.join(pairs), kept, match, score)
            if progress is not None:
                progress(stop - references)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _SHARED.clear()
    kept = kept.copy()
    del buffer
    return kept, match, score


def _run_ray(corpus: Corpus, references: int, workers: int | None, ray_address: str | None, block_texts: int,
             progress: Callable[[int], None] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    from selfinstruct.rouge.ray_engine import run_ray

    return run_ray(corpus, references, workers, ray_address, block_texts, progress)
