"""Exact ROUGE-L near-duplicate index, one text at a time: the decisions of rouge_score's RougeScorer, without its cost.

    index = RougeIndex(threshold=0.7)
    for seed in seeds:
        index.add(seed)
    verdict = index.check_and_add(candidate)   # DupCheck(is_duplicate, most_similar, score)

A candidate is a duplicate iff `RougeScorer(["rougeL"], use_stemmer=False).score(kept, candidate)`
gives an F-measure > threshold for some kept text. Each text is tokenised once into integer
token ids. Pairs are pruned only by bounds that cannot change a decision (see `Bounds` and
`RougeIndex._survivors`); the survivors get a compiled LCS (rapidfuzz) and the scorer's own
float formula, which is what decides near the threshold.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from selfinstruct.rouge.score import Bounds, DupCheck, Tokenizer, encode_ids, rouge_f, rouge_f_many, tokenizer_function

# Token id 0 stands for any token no kept text has: it can match nothing.
_UNKNOWN = 0
# Rebuild the rarity order when the index has doubled since the last one.
_FIRST_REBUILD = 64
# Elements created after the last rebuild sort before all ranked ones: they are the rarest.
_NEW_ELEMENT = -(1 << 40)


# A posting (an int64 array per element, in item order) holds one code per kept item whose prefix
# has the element, packing (item, position in its prefix); a query adds its own probe position, so
# the largest code of an item is its last hit. Positions are clamped, which only loosens the bound
# built from them.
_ITEM_SHIFT = 32
_POSITION_SHIFT = 16
_POSITION_MAX = (1 << 16) - 1
# Up to this many posting entries per query, hits are grouped in plain Python: a typical query has a
# handful, and each numpy call on so few costs more than the work. Past it, numpy sorts them.
_PYTHON_HITS = 256
# Up to this many surviving pairs, each gets its own LCS call; past it, one batched cdist.
_PYTHON_PAIRS = 32


class RougeIndex:
    """Kept texts, checked against with exact rouge_score ROUGE-L decisions."""

    def __init__(self, threshold: float = 0.7, tokenizer: Tokenizer = "rouge") -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self._tokenize = tokenizer_function(tokenizer)
        self.threshold = threshold
        self.tokenizer: Tokenizer = tokenizer
        self._bounds = Bounds(threshold)
        self._vocab: dict[str, int] = {}
        # A text is the set of its (token id, occurrence number) elements, so that multiset
        # intersections become set intersections. A token's first occurrence, by far the most
        # common element, is found by token id; later ones by (id, occurrence) in a dict.
        self._first_element: list[int] = [-1]
        self._repeat_element: dict[tuple[int, int], int] = {}
        self._element_freq: list[int] = []
        self._rank: list[int] = []
        self._postings: list[array[int] | None] = []
        self._texts: list[str] = []
        self._elements: list[tuple[int, ...]] = []
        self._encoded = np.empty(1024, dtype=object)
        self._lengths = np.zeros(1024, dtype=np.int64)
        self._sizes: list[int] = []  # _lengths as Python ints, for the per-pair work
        self._next_rebuild = _FIRST_REBUILD

    def __len__(self) -> int:
        return len(self._texts)

    # --- public API --------------------------------------------------------------------

    def check(self, text: str) -> DupCheck:
        """Whether text is a near-duplicate of a kept text; does not add it.

        A duplicate reports the kept text with the highest score (earliest on ties) and that exact
        score. A non-duplicate reports the best of the pairs that survived pruning and reached the
        LCS a duplicate of their lengths would need (exact score, but not necessarily the overall
        best), else (None, 0.0); `best_match` gives the exact best.
        """
        return self._check(self._lookup(self._tokenize(text)))

    def add(self, text: str) -> None:
        """Keep text unconditionally (seeds, resumed items)."""
        self._add(text, self._tokenize(text))

    def check_and_add(self, text: str) -> DupCheck:
        """Check text and keep it iff it is not a near-duplicate."""
        tokens = self._tokenize(text)
        verdict = self._check(self._lookup(tokens))
        if not verdict.is_duplicate:
            self._add(text, tokens)
        return verdict

    def best_match(self, text: str) -> tuple[str | None, float]:
        """The kept text with the highest score (earliest on ties) and that exact score; (None, 0.0) if empty."""
        if not self._texts:
            return None, 0.0
        ids = self._lookup(self._tokenize(text))
        verdict = self._check(ids)
        if verdict.is_duplicate:
            return verdict.most_similar, verdict.score
        if not ids:
            return self._texts[0], 0.0
        size = len(self._texts)
        lcs = process.cdist([encode_ids(ids)], self._encoded[:size], scorer=LCSseq.similarity, dtype=np.int32, workers=1)[0]
        scores = rouge_f_many(lcs, self._lengths[:size], len(ids))
        best = int(np.argmax(scores))  # argmax takes the first of equal maxima: the earliest kept
        return self._texts[best], float(scores[best])

    # --- internals ---------------------------------------------------------------------

    def _lookup(self, tokens: list[str]) -> list[int]:
        get = self._vocab.get
        return [get(token, _UNKNOWN) for token in tokens]

    def _known_elements(self, ids: list[int]) -> list[int]:
        """The elements of a token-id sequence that some kept text has (the others match nothing)."""
        first = self._first_element
        if len(set(ids)) == len(ids):
            return [first[tid] for tid in ids if tid != _UNKNOWN]
        seen: dict[int, int] = {}
        out: list[int] = []
        for tid in ids:
            k = seen.get(tid, 0)
            seen[tid] = k + 1
            if tid == _UNKNOWN:
                continue
            eid = first[tid] if k == 0 else self._repeat_element.get((tid, k))
            if eid is not None:
                out.append(eid)
        return out

    def _survivors(self, ids: list[int]) -> tuple[list[int], list[int]]:
        """Kept items that the length and shared-token bounds leave possible duplicates of ids (ascending), and the LCS each needs."""
        n = len(ids)
        bounds = self._bounds
        lo, hi, _ = bounds.for_length(n)
        known = self._known_elements(ids)
        unknown = n - len(known)
        # Unknown elements are in no kept text: ordering them first keeps the order global.
        probe_count = bounds.prefix_length(n) - unknown
        if probe_count <= 0:
            return [], []
        postings = self._postings
        probes = []
        for x, eid in enumerate(sorted(known, key=self._rank.__getitem__)[:probe_count], start=unknown):
            posting = postings[eid]
            if posting is not None:
                probes.append((min(x, _POSITION_MAX), posting))
        if not probes:
            return [], []
        if sum(len(posting) for _, posting in probes) > _PYTHON_HITS:
            return self._survivors_many(n, probes, lo, hi)
        # Per kept item: how many probes hit it, and its last hit (the largest code).
        groups: dict[int, list[int]] = {}
        for x, posting in probes:
            for code in posting:
                code += x
                group = groups.get(code >> _ITEM_SHIFT)
                if group is None:
                    groups[code >> _ITEM_SHIFT] = [1, code]
                else:
                    group[0] += 1
                    if code > group[1]:
                        group[1] = code
        sizes = self._sizes
        min_lcs = bounds.min_lcs
        candidates: list[int] = []
        needed: list[int] = []
        for item in sorted(groups):
            m = sizes[item]
            if m < lo or m > hi:
                continue
            hits, last = groups[item]
            # Every shared element ordered before the last hit was itself a hit (it lies in both
            # prefixes), so the multiset intersection is at most the hits plus the shorter of the
            # two remainders after the last hit.
            x_rest = n - 1 - (last & _POSITION_MAX)
            y_rest = m - 1 - ((last >> _POSITION_SHIFT) & _POSITION_MAX)
            need = min_lcs(m, n)
            if hits + min(x_rest, y_rest) >= need:
                candidates.append(item)
                needed.append(need)
        return candidates, needed

    def _survivors_many(self, n: int, probes: list[tuple[int, array[int]]], lo: int, hi: int) -> tuple[list[int], list[int]]:
        """`_survivors` for a query with many posting entries: the same bounds, over numpy arrays."""
        parts = [np.frombuffer(posting, dtype=np.int64) + x for x, posting in probes]
        codes = np.concatenate(parts) if len(parts) > 1 else parts[0]
        # Group hits by kept item (within one, hits come in prefix order); each part is already
        # sorted, and a stable sort merges such runs fastest.
        codes.sort(kind="stable")
        items = codes >> _ITEM_SHIFT
        last = np.empty(len(codes), dtype=bool)
        last[-1] = True
        np.not_equal(items[1:], items[:-1], out=last[:-1])
        ends = np.flatnonzero(last)
        hits = ends + 1
        hits[1:] -= ends[:-1] + 1
        last_codes = codes[ends]
        candidates = items[ends]
        m = self._lengths[candidates]
        x_rest = n - 1 - (last_codes & _POSITION_MAX)
        y_rest = m - 1 - ((last_codes >> _POSITION_SHIFT) & _POSITION_MAX)
        overlap_bound = hits + np.minimum(x_rest, y_rest)
        needed = np.maximum(1, np.ceil(self._bounds.loose * (m + n) / 2))
        keep = (m >= lo) & (m <= hi) & (overlap_bound >= needed)
        return candidates[keep].tolist(), needed[keep].astype(np.int64).tolist()

    def _check(self, ids: list[int]) -> DupCheck:
        n = len(ids)
        if n == 0 or not self._texts:
            return DupCheck(False, None, 0.0)  # an empty side scores 0
        candidates, needed = self._survivors(ids)
        if not candidates:
            return DupCheck(False, None, 0.0)
        query = encode_ids(ids)
        if len(candidates) <= _PYTHON_PAIRS:
            encoded = self._encoded
            lcs = [LCSseq.similarity(query, encoded[item], score_cutoff=need) for item, need in zip(candidates, needed)]
        else:
            lcs = process.cdist([query], self._encoded[candidates], scorer=LCSseq.similarity,
                                score_cutoff=min(needed), dtype=np.int32, workers=1)[0].tolist()
        # Below its needed LCS a pair cannot be a duplicate (rapidfuzz reports 0 under the cutoff).
        best_score, best_item = 0.0, -1
        sizes = self._sizes
        for item, common, need in zip(candidates, lcs, needed):
            if common < need:
                continue
            score = rouge_f(common, sizes[item], n)
            if score > best_score:  # candidates ascend, so ties keep the earliest kept
                best_score, best_item = score, item
        if best_item < 0:
            return DupCheck(False, None, 0.0)
        return DupCheck(best_score > self.threshold, self._texts[best_item], best_score)

    def _element(self, tid: int, k: int) -> int:
        """The element id of the k-th occurrence of token tid, created if new."""
        if k == 0:
            if tid < len(self._first_element):
                return self._first_element[tid]
        else:
            eid = self._repeat_element.get((tid, k))
            if eid is not None:
                return eid
        eid = len(self._element_freq)
        self._element_freq.append(0)
        self._rank.append(_NEW_ELEMENT + eid)
        self._postings.append(None)
        if k == 0:
            self._first_element.append(eid)  # token ids are handed out in order, so tid == len
        else:
            self._repeat_element[(tid, k)] = eid
        return eid

    def _add(self, text: str, tokens: list[str]) -> None:
        vocab = self._vocab
        ids = [vocab.setdefault(token, len(vocab) + 1) for token in tokens]
        seen: dict[int, int] = {}
        elements = []
        freq = self._element_freq
        first = self._first_element
        for tid in ids:
            k = seen.get(tid, 0)
            seen[tid] = k + 1
            eid = first[tid] if k == 0 and tid < len(first) else self._element(tid, k)
            freq[eid] += 1
            elements.append(eid)
        item = len(self._texts)
        if item == len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
            self._encoded = np.concatenate([self._encoded, np.empty(item, dtype=object)])
        self._texts.append(text)
        self._elements.append(tuple(elements))
        self._encoded[item] = encode_ids(ids)
        self._lengths[item] = len(ids)
        self._sizes.append(len(ids))
        if item + 1 >= self._next_rebuild:
            self._rebuild()
            return
        self._index(item, elements)

    def _index(self, item: int, elements: Sequence[int]) -> None:
        """File a kept text under each element of its prefix."""
        postings = self._postings
        base = item << _ITEM_SHIFT
        for position, eid in enumerate(self._prefix(elements)):
            posting = postings[eid]
            if posting is None:
                posting = postings[eid] = array("q")
            posting.append(base | (min(position, _POSITION_MAX) << _POSITION_SHIFT))

    def _prefix(self, elements: Sequence[int]) -> list[int]:
        """The rarest elements of a kept text: the ones it is indexed under."""
        return sorted(elements, key=self._rank.__getitem__)[: self._bounds.prefix_length(len(elements))]

    def _rebuild(self) -> None:
        """Re-rank elements by how many kept texts hold them (rarest first) and re-index every prefix."""
        freq = np.asarray(self._element_freq, dtype=np.int64)
        order = np.lexsort((np.arange(len(freq)), freq))
        rank = np.empty(len(freq), dtype=np.int64)
        rank[order] = np.arange(len(freq))
        self._rank = rank.tolist()
        self._postings = [None] * len(freq)
        for item, elements in enumerate(self._elements):  # in item order, as each posting must be
            self._index(item, elements)
        self._next_rebuild = 2 * len(self._texts)
