"""RougeIndex (one text at a time) must make exactly rouge_score's decisions.

The reference here is the straightforward method: rouge_score's RougeScorer on every
(kept, candidate) pair, duplicate iff the best F > threshold, greedy in input order.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer, tokenize

from selfinstruct.rouge import DupCheck, RougeIndex, rouge_tokens, unicode_tokens
from selfinstruct.rouge import index as rouge_index

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_f(kept: str, candidate: str) -> float:
    return SCORER.score(kept, candidate)["rougeL"].fmeasure


def reference_greedy(texts: list[str], threshold: float) -> list[DupCheck]:
    """Keep/drop each text in order; a drop names the best kept text (earliest on ties) and its F."""
    kept: list[str] = []
    out: list[DupCheck] = []
    for text in texts:
        scores = [reference_f(k, text) for k in kept]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else None
        if best is not None and scores[best] > threshold:
            out.append(DupCheck(True, kept[best], scores[best]))
        else:
            out.append(DupCheck(False, None, 0.0))
            kept.append(text)
    return out


def engine_greedy(texts: list[str], threshold: float) -> list[DupCheck]:
    index = RougeIndex(threshold)
    out = []
    for text in texts:
        verdict = index.check_and_add(text)
        out.append(verdict if verdict.is_duplicate else DupCheck(False, None, 0.0))
    return out


# --- strategies: random, adversarial and realistic strings --------------------------------

WORDS = ["a", "b", "c", "the", "of", "cat", "Cat", "CAT!", "x1", "42", "4-2", "i", "İ", "K", "café", "naïve",
         "日本", "дом", "...", "?!", "", "  ", "\n", "_", "a_b", "don't", "e-mail", "ǅ"]
word = st.sampled_from(WORDS) | st.text(max_size=6)
random_text = st.lists(word, max_size=14).map(" ".join)
punctuation_only = st.text(alphabet="!?.,;:-_()[]{}'\"/\\ \t\n", max_size=12)
repeated = st.builds(lambda w, k, tail: " ".join([w] * k + tail), st.sampled_from(["a", "the", "x"]),
                     st.integers(1, 25), st.lists(st.sampled_from(["a", "b", "the"]), max_size=5))
long_text = st.lists(st.sampled_from(["a", "b", "c", "d", "the", "of", "e"]), min_size=60, max_size=160).map(" ".join)
REALISTIC = st.builds(
    "{} a {} {} about {} {}{}".format,
    st.sampled_from(["Write", "Compose", "Please write", "Create", "Draft"]),
    st.sampled_from(["short", "funny", "sad", "formal", ""]),
    st.sampled_from(["poem", "story", "email", "essay", "tweet"]),
    st.sampled_from(["the", "a", "my"]),
    st.sampled_from(["sea", "moon", "cat", "city", "old house", "first day at school"]),
    st.sampled_from(["", ".", "!", " for children.", " in 3 sentences.", " using simple words."]),
)
base_text = st.one_of(random_text, punctuation_only, repeated, REALISTIC, long_text)


@st.composite
def text_sequences(draw: st.DrawFn, max_size: int = 40) -> list[str]:
    """Texts where many are one-token edits of earlier ones, so decisions sit near the threshold."""
    texts: list[str] = []
    for _ in range(draw(st.integers(1, max_size))):
        if texts and draw(st.booleans()):
            tokens = draw(st.sampled_from(texts)).split(" ")
            pos = draw(st.integers(0, len(tokens)))
            edit = draw(st.sampled_from(["insert", "replace", "delete", "punct"]))
            new = draw(st.sampled_from(["a", "b", "the", "z", "new", "."]))
            if edit == "insert":
                tokens.insert(pos, new)
            elif pos < len(tokens):
                if edit == "replace":
                    tokens[pos] = new
                elif edit == "delete":
                    del tokens[pos]
                else:
                    tokens[pos] += ","
            texts.append(" ".join(tokens))
        else:
            texts.append(draw(base_text))
    return texts


thresholds = st.sampled_from([0.7, 0.7, 0.7, 0.0, 0.5, 0.9, 1.0]) | st.floats(0.0, 1.0)


# --- properties -------------------------------------------------------------------------


@FAST
@given(st.text(max_size=60))
def test_tokens_match_rouge_score(text: str) -> None:
    assert rouge_tokens(text) == tokenize.tokenize(text, None)


@FAST
@given(texts=text_sequences(), threshold=thresholds)
def test_greedy_decisions_equal_reference(texts: list[str], threshold: float) -> None:
    assert engine_greedy(texts, threshold) == reference_greedy(texts, threshold)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=text_sequences(max_size=80))
def test_greedy_decisions_equal_reference_across_rebuilds(texts: list[str]) -> None:
    # Re-rank after very few items so that every example crosses several rebuilds.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rouge_index, "_FIRST_REBUILD", 2)
        assert engine_greedy(texts, 0.7) == reference_greedy(texts, 0.7)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=text_sequences(), threshold=thresholds, batched=st.booleans())
def test_greedy_decisions_equal_reference_on_either_grouping(texts: list[str], threshold: float, batched: bool) -> None:
    # A query's hits are grouped in Python when few and by numpy when many, and its surviving pairs get an
    # LCS call each when few and one cdist when many: force one way or the other on every query.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rouge_index, "_PYTHON_HITS", -1 if batched else 1 << 30)
        patch.setattr(rouge_index, "_PYTHON_PAIRS", 0 if batched else 1 << 30)
        assert engine_greedy(texts, threshold) == reference_greedy(texts, threshold)


@FAST
@given(kept=st.lists(base_text, max_size=15), candidate=base_text)
def test_best_match_is_exact(kept: list[str], candidate: str) -> None:
    index = RougeIndex()
    for text in kept:
        index.add(text)
    text, score = index.best_match(candidate)
    if not kept:
        assert (text, score) == (None, 0.0)
        return
    scores = [reference_f(k, candidate) for k in kept]
    best = max(range(len(kept)), key=lambda i: (scores[i], -i))
    assert (text, score) == (kept[best], scores[best])


def _pair(m: int, n: int, lcs: int) -> tuple[str, str]:
    kept = [f"s{i}" for i in range(lcs)] + [f"k{i}" for i in range(m - lcs)]
    candidate = [f"s{i}" for i in range(lcs)] + [f"c{i}" for i in range(n - lcs)]
    return " ".join(kept), " ".join(candidate)


# Every (m, n, LCS) up to 60 tokens where 2*LCS/(m+n) is exactly 0.7: the float form decides.
ON_THRESHOLD = [(m, n, 7 * (m + n) // 20) for m in range(1, 61) for n in range(1, 61)
                if 7 * (m + n) % 20 == 0 and 7 * (m + n) // 20 <= min(m, n)]


@pytest.mark.parametrize(("m", "n", "lcs"), ON_THRESHOLD)
def test_pairs_exactly_on_threshold(m: int, n: int, lcs: int) -> None:
    kept, candidate = _pair(m, n, lcs)
    index = RougeIndex(0.7)
    index.add(kept)
    expected = reference_f(kept, candidate)
    verdict = index.check(candidate)
    assert verdict.is_duplicate == (expected > 0.7)
    assert index.best_match(candidate) == (kept, expected)


def test_on_threshold_cases_include_both_float_outcomes() -> None:
    outcomes = {reference_f(*_pair(m, n, lcs)) > 0.7 for m, n, lcs in ON_THRESHOLD}
    assert outcomes == {True, False}


# --- examples and API ---------------------------------------------------------------------


def test_float_form_decides_at_threshold() -> None:
    # LCS 7 between 9 and 11 tokens is 0.7 exactly, but the scorer's float expression says 0.7000000000000001.
    kept, candidate = "w1 w2 w3 w4 w5 w6 w7 w8 w9", "w1 w2 w3 w4 w5 w6 w7 x y z q"
    index = RougeIndex()
    index.add(kept)
    assert index.check(candidate) == DupCheck(True, kept, reference_f(kept, candidate))
    assert reference_f(kept, candidate) > 0.7


def test_check_does_not_add_and_add_is_unconditional() -> None:
    index = RougeIndex()
    assert index.check("write a poem about the sea") == DupCheck(False, None, 0.0)
    assert len(index) == 0
    index.add("write a poem about the sea")
    index.add("write a poem about the sea")
    assert len(index) == 2
    assert index.check_and_add("Write a poem about the sea, please!").is_duplicate
    assert len(index) == 2


def test_duplicate_names_earliest_of_equal_best() -> None:
    index = RougeIndex()
    index.add("alpha beta gamma delta")
    index.add("alpha beta gamma delta")
    index.add("alpha beta gamma epsilon")
    verdict = index.check("Alpha beta gamma delta!")
    assert verdict == DupCheck(True, "alpha beta gamma delta", 1.0)


def test_empty_and_untokenisable_texts_are_never_duplicates() -> None:
    index = RougeIndex(threshold=0.0)
    index.add("")
    index.add("日本語のテキスト")
    assert not index.check_and_add("").is_duplicate
    assert not index.check_and_add("!!! ???").is_duplicate
    assert index.best_match("") == ("", 0.0)
    assert len(index) == 4


def test_threshold_one_never_drops_and_zero_drops_any_shared_token() -> None:
    strict = RougeIndex(threshold=1.0)
    strict.add("same words here")
    assert not strict.check("same words here").is_duplicate
    loose = RougeIndex(threshold=0.0)
    loose.add("one two three four five six seven")
    assert loose.check("seven eight nine ten eleven twelve thirteen fourteen").is_duplicate
    assert not loose.check("eight nine").is_duplicate


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_rejects_threshold_outside_unit_interval(threshold: float) -> None:
    with pytest.raises(ValueError):
        RougeIndex(threshold)


def test_unicode_tokenizer_sees_non_latin_text() -> None:
    assert rouge_tokens("Напишите короткое стихотворение") == []
    assert unicode_tokens("Напишите короткое стихотворение о море") == ["напишите", "короткое", "стихотворение", "о", "море"]
    assert unicode_tokens("写一首关于大海的诗") == list("写一首关于大海的诗")
    assert unicode_tokens("हिन्दी में लिखें") == ["हिन्दी", "में", "लिखें"]  # combining marks stay inside words
    assert unicode_tokens("Straße, CAFÉ_au-lait 42") == ["strasse", "café", "au", "lait", "42"]
    index = RougeIndex(tokenizer="unicode")
    index.add("写一首关于大海的诗")
    assert index.check_and_add("写一首关于大海的短诗").is_duplicate
    assert not index.check_and_add("给我讲一个笑话").is_duplicate


def test_large_vocabulary_falls_back_to_tuples(monkeypatch: pytest.MonkeyPatch) -> None:
    # Past the Unicode range token ids cannot be characters; rapidfuzz must see the same sequences.
    assert rouge_index.encode_ids([65, 66]) == "AB"
    assert rouge_index.encode_ids([1, 0x110000 + 5]) == (1, 0x110000 + 5)
    texts = ["write a poem about the sea", "write a poem about a sea", "tell me a joke", "tell a joke"]
    monkeypatch.setattr(rouge_index, "encode_ids", lambda ids: tuple(ids))
    assert engine_greedy(texts, 0.7) == reference_greedy(texts, 0.7)
