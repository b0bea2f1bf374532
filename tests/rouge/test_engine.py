"""The block engine must keep exactly what rouge_score's greedy method keeps, with the same match and F.

The reference scores every (kept, candidate) pair with rouge_score's RougeScorer; the engine is run with tiny
blocks and several index segments, so that pool checks, in-block pairs and segment boundaries all decide.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from selfinstruct.dedup import find_duplicates
from selfinstruct.rouge import DupCheck, RougeIndex, dedup_texts
from selfinstruct.rouge import corpus as rouge_corpus
from selfinstruct.rouge.engine import split_block
from tests.rouge.test_index import base_text, text_sequences, thresholds

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference(texts: list[str], against: list[str], threshold: float) -> list[tuple[bool, int, float]]:
    """(duplicate, index of the best kept text in against + texts or -1, its F) per text, greedily in order."""
    pool = list(range(len(against)))
    everything = [*against, *texts]
    out = []
    for position, text in enumerate(texts, start=len(against)):
        scores = [SCORER.score(everything[k], text)["rougeL"].fmeasure for k in pool]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else None
        if best is not None and scores[best] > threshold:
            out.append((True, pool[best], scores[best]))
        else:
            out.append((False, -1, 0.0))
            pool.append(position)
    return out


def decisions(texts: list[str], against: list[str] = (), **options: object) -> list[tuple[bool, int, float]]:
    result = dedup_texts(texts, against, **options)  # type: ignore[arg-type]
    assert result.references == len(against)
    return [(bool(d), int(m), float(s)) for d, m, s in zip(result.duplicate, result.match, result.score)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=text_sequences(max_size=50), against=st.lists(base_text, max_size=5), threshold=thresholds,
       block_texts=st.integers(1, 9), segments=st.integers(1, 5))
def test_decisions_equal_rouge_score(texts: list[str], against: list[str], threshold: float, block_texts: int,
                                     segments: int) -> None:
    expected = reference(texts, against, threshold)
    assert decisions(texts, against, threshold=threshold, block_texts=block_texts, segments=segments,
                     workers=1) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=text_sequences(max_size=40), threshold=thresholds)
def test_decisions_equal_rouge_score_with_wide_vocabulary(texts: list[str], threshold: float) -> None:
    # Past the Unicode range token ids go to rapidfuzz as int sequences; force that path on small inputs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rouge_corpus, "MAX_CHARACTERS", 3)
        assert decisions(texts, threshold=threshold, block_texts=4, workers=1) == reference(texts, [], threshold)


def near_duplicates(count: int, seed: int = 0) -> list[str]:
    """Instructions from a few templates with one-word edits: many pairs near 0.7, clusters of copies."""
    rng = np.random.default_rng(seed)
    words = "write a short poem story email about the sea moon city cat dog for my friend please today new old".split()
    texts: list[str] = []
    for _ in range(count):
        if texts and rng.random() < 0.5:
            tokens = texts[int(rng.integers(max(0, len(texts) - 50), len(texts)))].split()
            tokens[int(rng.integers(len(tokens)))] = str(rng.choice(words))
        else:
            tokens = [str(w) for w in rng.choice(words, size=int(rng.integers(1, 14)))]
        texts.append(" ".join(tokens))
    return texts


def test_worker_processes_decide_as_one_process_and_as_the_index() -> None:
    texts = near_duplicates(6000)
    index = RougeIndex(0.7)
    first: dict[str, int] = {}
    sequential = []
    for position, text in enumerate(texts):
        verdict = index.check_and_add(text)
        if verdict.is_duplicate:
            sequential.append((True, first[verdict.most_similar], verdict.score))
        else:
            first.setdefault(text, position)
            sequential.append((False, -1, 0.0))
    assert 0.3 < sum(d for d, _, _ in sequential) / len(texts) < 0.9  # both outcomes are well represented
    assert decisions(texts, workers=1, block_texts=500) == sequential
    assert decisions(texts, workers=2, block_texts=500) == sequential
    assert decisions(texts, workers=3, block_texts=777, segments=3) == sequential


def test_find_duplicates_names_texts_and_reports_progress() -> None:
    texts = ["Write a poem about the sea.", "Write a poem about the sea!", "Tell me a joke.", "write a poem about a sea"]
    done: list[int] = []
    verdicts = find_duplicates(texts, ["Tell me a joke, please."], progress=done.append, workers=1)
    f = SCORER.score(texts[0], texts[3])["rougeL"].fmeasure
    assert verdicts == [DupCheck(False, None, 0.0), DupCheck(True, texts[0], 1.0),
                        DupCheck(True, "Tell me a joke, please.", SCORER.score("Tell me a joke, please.", texts[2])["rougeL"].fmeasure),
                        DupCheck(True, texts[0], f)]
    assert done[-1] == len(texts)


def test_empty_inputs_and_texts_without_tokens() -> None:
    assert decisions([]) == []
    assert decisions([], ["a b c"]) == []
    assert decisions(["", "!!!", "日本語"], threshold=0.0) == [(False, -1, 0.0)] * 3
    assert decisions(["a", "", "a"], threshold=0.0, block_texts=1) == [(False, -1, 0.0), (False, -1, 0.0), (True, 0, 1.0)]


def test_kept_lists_the_kept_positions() -> None:
    result = dedup_texts(["a b c", "a b c", "d e f", "d e f g"], workers=1)
    assert result.kept().tolist() == [0, 2]
    assert result.match.tolist() == [-1, 0, -1, 2]


def test_blocks_split_by_work_cover_the_block() -> None:
    corpus = rouge_corpus.Corpus.build(near_duplicates(300) + ["word " * 400], 0.7)
    runs = split_block(corpus, 10, 301, 4)
    assert runs[0][0] == 10 and runs[-1][1] == 301
    assert all(a < b for a, b in runs) and all(runs[k][1] == runs[k + 1][0] for k in range(len(runs) - 1))


@pytest.mark.parametrize(("options", "message"), [({"engine": "spark"}, "engine"), ({"workers": 0}, "workers"),
                                                  ({"threshold": 1.5}, "threshold"), ({"tokenizer": "bpe"}, "tokenizer"),
                                                  ({"block_texts": 0}, "block_texts")])
def test_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dedup_texts(["a b"], **options)  # type: ignore[arg-type]
