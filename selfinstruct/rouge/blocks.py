"""The check of a block of candidates against the kept pool and each other, and its resolution in input order.

    pairs = check_block(corpus, big, start, stop, kept)   # any process; reads kept, writes nothing
    resolve_block(pairs, kept, match, score)              # the driver, blocks in order

A candidate i is compared with every earlier text j that is kept, if j lies before the block (the pool as it stood
when the block began), or with every earlier j of its own block whatever becomes of it. `check_block` returns each
such pair whose ROUGE-L F, computed exactly as rouge_score does, is above the threshold. Resolving the block in
input order then keeps exactly the texts the one-at-a-time greedy method keeps: i is a duplicate iff one of its
pairs has a kept j, and its match is the kept j of the highest F, the earliest on ties.

Pairs come from the corpus's prefix index, each bound loosened only where no duplicate can be lost: shared prefix
elements early enough in both prefixes for the LCS the two lengths need, then the bitmap bound on shared elements,
then rapidfuzz's LCS on the survivors.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from selfinstruct.rouge.corpus import BUCKET_SHIFT, POSITION_MAX, RANK_SHIFT, SEGMENT_SHIFT, Corpus
from selfinstruct.rouge.score import rouge_f_many

# Probes expanded at once: bounds the temporary arrays (a probe reads a few hundred index entries at most
# on real text).
_PROBES_AT_ONCE = 4096


class Pairs(NamedTuple):
    """Candidate text, earlier text and ROUGE-L F of each pair above the threshold."""

    candidate: np.ndarray  # int64
    earlier: np.ndarray  # int64
    score: np.ndarray  # float64

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    @classmethod
    def join(cls, parts: list[Pairs]) -> Pairs:
        parts = [p for p in parts if len(p.candidate)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate(column) for column in zip(*parts)))


def check_block(corpus: Corpus, big: str | None, start: int, stop: int, kept: np.ndarray) -> Pairs:
    """Pairs above the threshold of candidates [start, stop) with earlier texts whose `kept` flag is set.

    `kept` is the pool as the block began: False for every text dropped so far, True for the rest, the block's
    own (undecided) texts included.
    """
    parts = []
    probe_starts = corpus.probe_starts
    text = start
    while text < stop:
        # Whole texts, about _PROBES_AT_ONCE probes at a time (a long text's prefix may exceed it alone).
        end = int(np.searchsorted(probe_starts, probe_starts[text] + _PROBES_AT_ONCE, side="right")) - 1
        end = min(stop, max(end, text + 1))
        parts.append(_check_texts(corpus, big, text, end, kept))
        text = end
    return Pairs.join(parts)


def _check_texts(corpus: Corpus, big: str | None, start: int, stop: int, kept: np.ndarray) -> Pairs:
    c = corpus
    tables = c.tables
    loose = tables.loose
    first, last = int(c.probe_starts[start]), int(c.probe_starts[stop])
    if first == last:
        return Pairs.empty()
    probe_text = np.repeat(np.arange(start, stop, dtype=np.int64), np.diff(c.probe_starts[start: stop + 1]))
    rank = c.probe_rank[first:last]
    x = c.probe_position[first:last].astype(np.int64)
    n = c.lengths[probe_text].astype(np.int64)
    shortest = tables.shortest[n]
    # The longest partner this probe can still serve: need(m, n) <= n - x (positional filter on the probe's side).
    if loose > 0:
        reach = np.floor(2 * (n - x) / loose - n).astype(np.int64) + 1
        reach = np.clip(reach, 0, tables.longest[n])
        for _ in range(3):
            reach = np.where(tables.need[reach + n] > n - x, reach - 1, reach)
    else:
        reach = tables.longest[n]
    # One lookup per (probe, index segment up to the candidate's own, length bucket within [shortest, reach]).
    first_bucket = c.bucket_of[shortest]
    buckets = np.where(reach >= shortest, c.bucket_of[np.maximum(reach, shortest)] - first_bucket + 1, 0)
    per_probe = buckets * (probe_text // c.segment_size + 1)
    lookup_probe = np.repeat(np.arange(len(rank)), per_probe)
    offset = _ragged_arange(per_probe, len(lookup_probe))
    width = buckets[lookup_probe]
    bucket = first_bucket[lookup_probe] + offset % width
    top = np.minimum(reach[lookup_probe], c.bucket_last[bucket])
    last_position = top - tables.need[top + n[lookup_probe]]  # the latest prefix position this bucket may hit at
    base = ((offset // width) << SEGMENT_SHIFT) | (rank[lookup_probe] << RANK_SHIFT) | (bucket << BUCKET_SHIFT)
    # Searched in key order, the index is read front to back.
    order = np.argsort(base)
    base, last_position, lookup_probe = base[order], last_position[order], lookup_probe[order]
    lo = np.searchsorted(c.key, base, side="left")
    hi = np.searchsorted(c.key, base | np.clip(last_position, 0, POSITION_MAX), side="right")
    counts = np.where(last_position >= 0, hi - lo, 0)
    del base, top, bucket, offset, width, order, hi
    # Every index entry in those ranges: an (earlier text, shared element) pair.
    entry = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    probe = np.repeat(lookup_probe, counts)
    del lookup_probe, lo, counts
    j = c.item[entry]
    i = probe_text[probe]
    visible = (j < i) & kept[j]  # a text of this block is undecided, so still kept
    entry, probe, j = entry[visible], probe[visible], j[visible]
    m = c.item_length[entry]
    n_e = n[probe]
    needed = tables.need[m + n_e]
    # Elements of one text whose bits the other lacks are elements the other does not hold.
    bi0, bi1 = c.bitmaps[probe_text, 0][probe], c.bitmaps[probe_text, 1][probe]
    bj0, bj1 = c.item_bitmap[entry, 0], c.item_bitmap[entry, 1]
    ok = (n_e - _popcount(bi0 & ~bj0) - _popcount(bi1 & ~bj1) >= needed) \
        & (m - _popcount(bj0 & ~bi0) - _popcount(bj1 & ~bi1) >= needed)
    entry, probe, j, m, n_e, needed = entry[ok], probe[ok], j[ok], m[ok], n_e[ok], needed[ok]
    ok = (m >= shortest[probe]) & (m <= reach[probe]) & (c.item_position[entry] <= m - needed) \
        & (x[probe] <= n_e - needed)
    i = probe_text[probe[ok]]
    pair = np.unique(i * len(c) + j[ok])  # a pair may share several prefix elements
    i, j = pair // len(c), pair % len(c)
    if not len(i):
        return Pairs.empty()
    lcs = process.cpdist([c.text_string(big, t) for t in i.tolist()], [c.text_string(big, t) for t in j.tolist()],
                         scorer=LCSseq.similarity, dtype=np.int64, workers=1)
    f = rouge_f_many(lcs, c.lengths[j], c.lengths[i])
    above = f > c.threshold
    return Pairs(i[above], j[above], f[above])


_BYTE_BITS = np.array([bin(b).count("1") for b in range(256)], dtype=np.uint8)


def _popcount_bytes(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64, for numpy before 2.0 (no bitwise_count)."""
    return _BYTE_BITS[words.view(np.uint8)].reshape(-1, 8).sum(axis=1, dtype=np.int64)


_popcount = getattr(np, "bitwise_count", _popcount_bytes)


def _ragged_arange(counts: np.ndarray, total: int) -> np.ndarray:
    """0..count-1 for each count, concatenated."""
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def resolve_block(pairs: Pairs, kept: np.ndarray, match: np.ndarray, score: np.ndarray) -> None:
    """Decide a block's candidates in input order from its pairs; writes kept, match and score of the dropped."""
    if not len(pairs.candidate):
        return
    order = np.lexsort((pairs.earlier, -pairs.score, pairs.candidate))
    candidates = pairs.candidate[order].tolist()
    earlier = pairs.earlier[order].tolist()
    scores = pairs.score[order].tolist()
    decided = -1
    # Per candidate, best score first and the earliest first among equals: the first kept one is its match.
    for i, j, f in zip(candidates, earlier, scores):
        if i == decided or not kept[j]:
            continue
        kept[i] = False
        match[i] = j
        score[i] = f
        decided = i


# --- how the texts are cut into blocks (the local and the Ray engine alike) ---


def blocks(references: int, total: int, block_texts: int) -> list[tuple[int, int]]:
    """The candidate blocks, in order: [start, stop) over the input texts (after the references)."""
    return [(start, min(total, start + block_texts)) for start in range(references, total, block_texts)]


def split_block(corpus: Corpus, start: int, stop: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) in up to `parts` runs of about equal work (prefix entries, plus one per text)."""
    work = corpus.probe_starts[start: stop + 1] - corpus.probe_starts[start] + np.arange(stop - start + 1)
    cuts = np.searchsorted(work, work[-1] * np.arange(1, parts) / parts) + start
    edges = [start, *sorted(set(int(c) for c in cuts if start < c < stop)), stop]
    return list(zip(edges[:-1], edges[1:]))
