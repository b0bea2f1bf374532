"""A whole list of texts tokenised and indexed at once, as flat numpy arrays a worker process or Ray can share.

    corpus = Corpus.build(texts, threshold=0.7, tokenizer="rouge", segments=4)

Each text is a multiset of tokens, written as the set of its (token, occurrence number) elements. Elements are
ranked once, rarest first, by how many texts in the whole list hold them; any fixed order serves prefix filtering
(texts sharing k elements share one among each one's first n-k+1), and one known in advance needs no re-ranking.

The index holds every text's prefix: (segment of the text, element rank, length bucket of the text, position in
its prefix), sorted, so that one `searchsorted` finds the texts of a length bucket that hold an element early
enough in their prefix to reach a given LCS (positional filtering). Segments split the texts by position in the
list so that a candidate reads only those of its own segment and earlier ones. A 128-bit bitmap of each text's
elements bounds the shared elements of a pair (an element's bit missing from the other text's bitmap is an element
the other lacks) before any LCS is computed.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from selfinstruct.rouge.score import LengthTables, Tokenizer, tokenizer_function

# Index key layout, high to low: segment (4 bits), element rank (27), length bucket (7), prefix position (25).
SEGMENT_SHIFT = 59
RANK_SHIFT = 32
BUCKET_SHIFT = 25
POSITION_MAX = (1 << 25) - 1
MAX_SEGMENTS = 16
MAX_ELEMENTS = 1 << 27
# Lengths up to this many tokens are a bucket each; above it a bucket spans lengths within a factor of 1.2.
EXACT_BUCKETS = 8
BUCKET_RATIO = 1.2
# Past this many distinct tokens, token ids cannot all be characters (the surrogates are skipped).
MAX_CHARACTERS = 0x110000 - 0x800
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class Corpus(NamedTuple):
    """Token arrays, length tables, bitmaps and the prefix index of a list of texts; plain arrays only."""

    threshold: float
    tables: LengthTables
    lengths: np.ndarray  # int32 [texts]: tokens per text
    starts: np.ndarray  # int64 [texts + 1]: where each text's tokens begin in `codes`
    codes: np.ndarray  # uint32 [tokens]: token ids as code points (skipping surrogates), or plain ids when `wide`
    wide: bool  # more distinct tokens than characters: LCS runs on int sequences
    bitmaps: np.ndarray  # uint64 [texts, 2]: one bit per element, hashed
    probe_starts: np.ndarray  # int64 [texts + 1]: where each text's prefix begins in probe_rank/probe_position
    probe_rank: np.ndarray  # int64 [prefix entries]: element ranks of each prefix, rarest first
    probe_position: np.ndarray  # int32 [prefix entries]: 0, 1, 2, ... within each prefix
    bucket_of: np.ndarray  # int64 [longest + 1]: length bucket of a length
    bucket_last: np.ndarray  # int64 [buckets]: the longest length in each bucket
    segment_size: int  # texts per segment
    key: np.ndarray  # int64 [prefix entries]: the sorted index keys
    item: np.ndarray  # int32: the text of each index entry
    item_length: np.ndarray  # int32: its length
    item_position: np.ndarray  # int32: the entry's position in that text's prefix
    item_bitmap: np.ndarray  # uint64 [prefix entries, 2]: that text's bitmap, in index order for reading in order

    @classmethod
    def build(cls, texts: Sequence[str], threshold: float = 0.7, tokenizer: Tokenizer = "rouge",
              segments: int = 2) -> Corpus:  # fmt: skip
        """Tokenise, rank, bitmap and index `texts` for duplicates above `threshold`."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        tokens, lengths = _token_ids(texts, tokenizer)
        count = len(lengths)
        starts = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        longest = int(lengths.max()) if count else 0
        tables = LengthTables.build(threshold, longest)
        rows = np.repeat(np.arange(count, dtype=np.int64), lengths)
        ranks = _element_ranks(tokens, rows, count)
        bitmaps = _bitmaps(ranks, starts, lengths)
        probe_starts, probe_rank, probe_position = _prefixes(ranks, rows, starts, lengths, tables.prefix)
        del ranks, rows
        bucket_of, bucket_last = _buckets(longest)
        segments = max(1, min(segments, MAX_SEGMENTS, count))
        segment_size = -(-count // segments) if count else 1
        items = np.repeat(np.arange(count, dtype=np.int64), np.diff(probe_starts))
        item_lengths = lengths[items]
        key = ((items // segment_size) << SEGMENT_SHIFT) | (probe_rank << RANK_SHIFT) \
            | (bucket_of[item_lengths] << BUCKET_SHIFT) | np.minimum(probe_position, POSITION_MAX)
        order = np.argsort(key)
        key = key[order]
        items = items[order]
        return cls(threshold=threshold, tables=tables, lengths=lengths, starts=starts, codes=_code_points(tokens),
                   wide=bool(tokens.size) and int(tokens.max()) >= MAX_CHARACTERS, bitmaps=bitmaps,
                   probe_starts=probe_starts, probe_rank=probe_rank, probe_position=probe_position,
                   bucket_of=bucket_of, bucket_last=bucket_last, segment_size=segment_size, key=key,
                   item=items.astype(np.int32), item_length=item_lengths[order].astype(np.int32),
                   item_position=probe_position[order], item_bitmap=bitmaps[items])

    def __len__(self) -> int:
        return len(self.lengths)

    def segment(self, text: int) -> int:
        """The index segment a text belongs to."""
        return text // self.segment_size

    def text_string(self, big: str | None, text: int) -> str | tuple[int, ...]:
        """A text's tokens as rapidfuzz compares them: a slice of `big` (all codes as one string), or ints when wide."""
        a, b = int(self.starts[text]), int(self.starts[text + 1])
        if big is None:
            return tuple(self.codes[a:b].tolist())
        return big[a:b]

    def all_codes_string(self) -> str | None:
        """Every text's tokens as one string, a character per token (None when the vocabulary is too wide)."""
        if self.wide:
            return None
        return self.codes.astype("<u4").tobytes().decode("utf-32-le")


def _token_ids(texts: Sequence[str], tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Every text's token ids, flat (int64), and each text's token count (int32); ids count from 0 in order of first use."""
    tokenize = tokenizer_function(tokenizer, as_bytes=True)
    vocabulary: defaultdict[str | bytes, int] = defaultdict()
    vocabulary.default_factory = vocabulary.__len__  # a new token gets the next id, all inside dict lookups
    ids: list[int] = []  # the dict's own int objects: a pointer each
    lengths = array("i")
    lookup = vocabulary.__getitem__
    for text in texts:
        tokens = tokenize(text)
        lengths.append(len(tokens))
        ids += map(lookup, tokens)
    return np.array(ids, dtype=np.int64), np.frombuffer(lengths, dtype=np.int32).copy()


def _element_ranks(tokens: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """The rank of each token's element (token, its occurrence number in its text): rarer elements rank first."""
    if not tokens.size:
        return tokens
    # Tokens grouped by (text, token id); texts come in order, so the stable sort merges short runs.
    width = int(tokens.max()) + 1
    order = np.argsort(rows * width + tokens, kind="stable")
    sorted_key = rows[order] * width + tokens[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    del sorted_key
    run_start = np.flatnonzero(first)
    occurrence_sorted = np.arange(len(order)) - run_start[np.cumsum(first) - 1]
    del first, run_start
    occurrence = np.empty_like(occurrence_sorted)
    occurrence[order] = occurrence_sorted
    del order, occurrence_sorted
    # A first occurrence is its token id; later ones get ids after the vocabulary.
    elements = tokens.copy()
    repeat = np.flatnonzero(occurrence)
    if repeat.size:
        _, repeat_ids = np.unique(tokens[repeat] * (int(occurrence.max()) + 1) + occurrence[repeat], return_inverse=True)
        elements[repeat] = width + repeat_ids
    if int(elements.max()) >= MAX_ELEMENTS:
        raise ValueError(f"more than {MAX_ELEMENTS:,} distinct (token, occurrence) elements")
    frequency = np.bincount(elements)
    order = np.lexsort((np.arange(len(frequency)), frequency))
    rank = np.empty(len(frequency), dtype=np.int64)
    rank[order] = np.arange(len(frequency))
    return rank[elements]


def _bitmaps(ranks: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """128 bits per text, one per element under a multiplicative hash of its rank."""
    bitmaps = np.zeros((len(lengths), 2), dtype=np.uint64)
    filled = lengths > 0
    if not filled.any():
        return bitmaps
    bit = (ranks.astype(np.uint64) * _GOLDEN) >> np.uint64(57)
    one = np.uint64(1) << (bit & np.uint64(63))
    for word in (0, 1):
        bits = np.where((bit >> np.uint64(6)) == word, one, np.uint64(0))
        bitmaps[filled, word] = np.bitwise_or.reduceat(bits, starts[:-1][filled])
    return bitmaps


def _prefixes(ranks: np.ndarray, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
              prefix_length: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Each text's rarest elements, as many as its prefix length: (where each begins, ranks, positions)."""
    sizes = prefix_length[lengths]
    probe_starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(sizes, out=probe_starts[1:])
    if not ranks.size:
        return probe_starts, ranks.astype(np.int64), ranks.astype(np.int32)
    order = np.argsort((rows << 27) | ranks, kind="stable")  # ranks within each text, rarest first
    position = np.arange(len(order)) - starts[rows[order]]
    keep = position < sizes[rows[order]]
    return probe_starts, ranks[order[keep]], position[keep].astype(np.int32)


def _buckets(longest: int) -> tuple[np.ndarray, np.ndarray]:
    """Length buckets: one per length up to EXACT_BUCKETS, then lengths within a factor BUCKET_RATIO."""
    bucket_of = np.zeros(longest + 1, dtype=np.int64)
    last: list[int] = [0]
    length = 1
    while length <= longest:
        top = length if length <= EXACT_BUCKETS else max(length, int(length * BUCKET_RATIO))
        bucket_of[length: top + 1] = len(last)
        last.append(top)
        length = top + 1
    return bucket_of, np.asarray(last, dtype=np.int64)


def _code_points(tokens: np.ndarray) -> np.ndarray:
    """Token ids as code points that skip the surrogates (which no str may hold alone); ids when too many."""
    if tokens.size and int(tokens.max()) >= MAX_CHARACTERS:
        return tokens.astype(np.uint32)
    return (tokens + np.where(tokens >= 0xD800, 0x800, 0)).astype(np.uint32)
