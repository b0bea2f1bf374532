"""ROUGE-L as rouge_score computes it: its tokens, its F in floating point, and the LCS bounds that prune pairs.

    rouge_f(lcs, m, n)            # F of a kept text of m tokens and a candidate of n, float for float
    Bounds(0.7).for_length(n)     # (shortest, longest partner length, least LCS) a duplicate of n tokens needs
    LengthTables.build(0.7, 40)   # the same bounds for every length at once, as arrays (the block engine)

Pruning uses exact integer bounds loosened by a tiny margin; the float formula decides, and it is never
more than a few ulps away from 2*LCS/(m+n).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import regex

Tokenizer = Literal["rouge", "unicode"]

# rouge_score lowercases, turns every run outside [a-z0-9] into a space and splits: the tokens
# are exactly the maximal [a-z0-9] runs of the lowercased text.
_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")
# Opt-in, NOT rouge_score-compatible: letters/marks/digits of any script form words, and each
# character of scripts written without spaces (Han, kana, Thai, ...) is a token of its own.
_UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}"
_UNICODE_TOKEN = regex.compile(rf"[{_UNSPACED}]|[[\p{{L}}\p{{M}}\p{{N}}]--[{_UNSPACED}]]+", regex.V1)

# The margin on the pruning bounds.
EPS = 1e-9
# No text is longer than this many tokens; keeps length bounds within int64.
LONGEST = 1 << 62


class DupCheck(NamedTuple):
    """Verdict for one candidate: whether it is a near-duplicate, of what, and how close."""

    is_duplicate: bool
    most_similar: str | None
    score: float


def rouge_tokens(text: str) -> list[str]:
    """Tokens exactly as rouge_score's default tokenizer (no stemmer) produces them."""
    return _ROUGE_TOKEN.findall(text.lower())


# Lowercased, every non-ASCII character a '?' and every byte outside [a-z0-9] a space: then split() gives the
# rouge tokens as bytes, several times faster than the regular expression over a whole corpus.
_NOT_TOKEN = bytes(c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


def rouge_token_bytes(text: str) -> list[bytes]:
    """`rouge_tokens` as ASCII bytes, computed faster (for whole corpora)."""
    return text.lower().encode("ascii", "replace").translate(_NOT_TOKEN).split()


def unicode_tokens(text: str) -> list[str]:
    """Script-aware tokens for non-English data; differs from rouge_score on any non-ASCII text."""
    return _UNICODE_TOKEN.findall(text.casefold())


def tokenizer_function(tokenizer: Tokenizer, as_bytes: bool = False):  # noqa: ANN201 - str -> list of tokens
    """The tokenizer function a name stands for (rouge tokens as bytes if asked); a ValueError for any other name."""
    if tokenizer == "rouge":
        return rouge_token_bytes if as_bytes else rouge_tokens
    if tokenizer == "unicode":
        return unicode_tokens
    raise ValueError(f"unknown tokenizer {tokenizer!r}")


def rouge_f(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F as rouge_score computes it, float for float (its rounding decides near the threshold)."""
    if m == 0 or n == 0:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def rouge_f_many(lcs: np.ndarray, m: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """`rouge_f` over arrays (kept lengths m, candidate lengths n), with the same IEEE operations in the same order."""
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty side: 0/0, masked below
        precision = lcs / np.asarray(n, dtype=np.float64)
        recall = lcs / np.asarray(m, dtype=np.float64)
        total = precision + recall
        f = 2 * precision * recall / total
    return np.where(total > 0, f, 0.0)


def encode_ids(ids: Sequence[int]) -> str | tuple[int, ...]:
    """Token ids as one string, a character per id, for rapidfuzz; a tuple past the Unicode range."""
    try:
        return "".join(map(chr, ids))
    except ValueError:
        # rapidfuzz compares characters by code point and ints by value, so both forms agree.
        return tuple(ids)


class Bounds:
    """Integer bounds on LCS for one threshold: what a pair of lengths needs to be a duplicate."""

    def __init__(self, threshold: float) -> None:
        self.loose = threshold - EPS
        self._per_length: dict[int, tuple[int, int, int]] = {}

    def min_lcs(self, m: int, n: int) -> int:
        """Least LCS with which texts of m and n tokens could score > threshold (never too high)."""
        # Duplicate => 2*LCS/(m+n) > threshold - tiny, and LCS >= 1 since F = 0 otherwise.
        return max(1, math.ceil(self.loose * (m + n) / 2))

    def for_length(self, n: int) -> tuple[int, int, int]:
        """(shortest, longest) partner length that can be a duplicate of n tokens, and the least LCS over them."""
        cached = self._per_length.get(n)
        if cached is not None:
            return cached
        # LCS <= min(m, n), so the partner length m needs min(m, n) >= min_lcs(m, n).
        lo = n
        while lo > 1 and lo - 1 >= self.min_lcs(lo - 1, n):
            lo -= 1
        if self.loose <= 0:
            hi = LONGEST
        else:
            hi = max(n, min(LONGEST, int(2 * n / self.loose) - n + 2))
            while hi > n and self.min_lcs(hi, n) > n:
                hi -= 1
        # min_lcs grows with m, so the shortest partner needs the least LCS.
        bounds = (lo, hi, self.min_lcs(lo, n))
        self._per_length[n] = bounds
        return bounds

    def prefix_length(self, n: int) -> int:
        """How many of a text's rarest elements must be probed/indexed so no duplicate pair is missed."""
        # Prefix filtering: two sets sharing >= k elements share one among each one's first |S|-k+1
        # elements under any fixed global order.
        return n - self.for_length(n)[2] + 1


class LengthTables(NamedTuple):
    """`Bounds` for every length 0..longest at once, as int64 arrays indexed by length (0 for length 0)."""

    loose: float
    shortest: np.ndarray  # least partner length
    longest: np.ndarray  # greatest partner length, capped at the longest text there is
    prefix: np.ndarray  # Bounds.prefix_length
    need: np.ndarray  # Bounds.min_lcs(m, n) by m + n, for m + n up to twice the longest text

    @classmethod
    def build(cls, threshold: float, longest_text: int) -> LengthTables:
        loose = threshold - EPS
        n = np.arange(longest_text + 1, dtype=np.int64)
        # The least partner length: the first m <= n with m >= need(m, n), which holds from some m on.
        lo = np.clip(np.floor(loose * n / (2 - loose)).astype(np.int64) - 2, 1, None)
        lo = np.minimum(lo, np.maximum(n, 1))
        while True:
            low = (lo < n) & (lo < need(loose, lo, n))
            if not low.any():
                break
            lo[low] += 1
        while True:  # a closed form may start above the answer: step down while the length below also fits
            fits = (lo > 1) & (lo - 1 >= need(loose, lo - 1, n))
            if not fits.any():
                break
            lo[fits] -= 1
        if loose <= 0:
            hi = np.full_like(n, longest_text)
        else:
            hi = np.maximum(n, np.floor(2 * n / loose).astype(np.int64) - n + 2)
            while True:
                over = (hi > n) & (need(loose, hi, n) > n)
                if not over.any():
                    break
                hi[over] -= 1
            hi = np.minimum(hi, longest_text)
        prefix = np.where(n > 0, n - need(loose, lo, n) + 1, 0)
        lo[0] = hi[0] = 0
        sums = np.arange(2 * longest_text + 2, dtype=np.int64)
        return cls(loose, lo, hi, prefix, need(loose, sums, 0))


def need(loose: float, m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """`Bounds.min_lcs` over arrays: the same float expression, so the same integers."""
    return np.maximum(1, np.ceil(loose * (m + n) / 2)).astype(np.int64)
