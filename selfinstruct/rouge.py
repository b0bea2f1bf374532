"""Exact ROUGE-L near-duplicate index: the decisions of rouge_score's RougeScorer, without its cost.

    index = RougeIndex(threshold=0.7)
    for seed in seeds:
        index.add(seed)
    verdict = index.check_and_add(candidate)   # DupCheck(is_duplicate, most_similar, score)

A candidate is a duplicate iff rouge_score's ROUGE-L F against some kept text is > threshold.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from rapidfuzz.distance import LCSseq

# rouge_score lowercases, turns every run outside [a-z0-9] into a space and splits: the tokens
# are exactly the maximal [a-z0-9] runs of the lowercased text.
_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")

Tokenizer = Literal["rouge", "unicode"]


class DupCheck(NamedTuple):
    """Verdict for one candidate: whether it is a near-duplicate, of what, and how close."""

    is_duplicate: bool
    most_similar: str | None
    score: float


def rouge_tokens(text: str) -> list[str]:
    """Tokens exactly as rouge_score's default tokenizer (no stemmer) produces them."""
    return _ROUGE_TOKEN.findall(text.lower())


def rouge_f(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F as rouge_score computes it, float for float (its rounding decides near the threshold)."""
    if m == 0 or n == 0:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


class RougeIndex:
    """Kept texts, checked against with exact rouge_score ROUGE-L decisions."""

    def __init__(self, threshold: float = 0.7, tokenizer: Tokenizer = "rouge") -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self.threshold = threshold
        self.tokenizer = tokenizer
        self._texts: list[str] = []
        self._encoded: list[str] = []
        self._vocab: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._texts)

    def _encode(self, text: str) -> str:
        # One character per token id: rapidfuzz's LCS then runs on the token sequence.
        vocab = self._vocab
        return "".join(chr(vocab.setdefault(tok, len(vocab))) for tok in rouge_tokens(text))

    def _scores(self, text: str) -> list[float]:
        enc = self._encode(text)
        n = len(enc)
        return [rouge_f(LCSseq.similarity(kept, enc), len(kept), n) for kept in self._encoded]

    def best_match(self, text: str) -> tuple[str | None, float]:
        """The kept text with the highest score (earliest on ties) and that score; (None, 0.0) if empty."""
        scores = self._scores(text)
        if not scores:
            return None, 0.0
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return self._texts[best], scores[best]

    def check(self, text: str) -> DupCheck:
        """Whether text is a near-duplicate of a kept text; does not add it."""
        most_similar, score = self.best_match(text)
        if most_similar is not None and score > self.threshold:
            return DupCheck(True, most_similar, score)
        return DupCheck(False, most_similar, score)

    def add(self, text: str) -> None:
        """Keep text unconditionally (seeds, resumed items)."""
        self._texts.append(text)
        self._encoded.append(self._encode(text))

    def check_and_add(self, text: str) -> DupCheck:
        """Check text and keep it iff it is not a near-duplicate."""
        verdict = self.check(text)
        if not verdict.is_duplicate:
            self.add(text)
        return verdict
