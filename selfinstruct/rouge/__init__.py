"""Exact ROUGE-L near-duplicate detection: rouge_score's decisions, at a million texts.

    score.py       tokens, F and the LCS bounds, exactly as rouge_score computes them
    index.py       RougeIndex: one text at a time (generate's filter, the reports)
    corpus.py      a whole list of texts tokenised and indexed at once, as numpy arrays
    blocks.py      the check of a block of candidates against the kept pool and each other
    engine.py      find_duplicates' engine: blocks in order, on this process and a pool of worker processes
    ray_engine.py  the same blocks on a Ray cluster (the `ray` extra)
"""

from selfinstruct.rouge.engine import dedup_texts
from selfinstruct.rouge.index import RougeIndex
from selfinstruct.rouge.score import DupCheck, Tokenizer, rouge_f, rouge_tokens, unicode_tokens

__all__ = ["DupCheck", "RougeIndex", "Tokenizer", "dedup_texts", "rouge_f", "rouge_tokens", "unicode_tokens"]
