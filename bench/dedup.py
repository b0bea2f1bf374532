"""Benchmark: exact ROUGE-L dedup (selfinstruct.rouge) against the reference method.

    python bench/dedup.py                      # synthetic corpus: 2K-prefix comparison, then the full 50K run
    python bench/dedup.py --size 20000 --near-dup-share 0.2 --prefix 1000
    python bench/dedup.py --scale              # real rows, every engine at 100K/300K/1M (see dedup_scale.py)

The synthetic corpus (dedup_corpus.py) is built deterministically and offline from Alpaca-style instruction templates with
varied slot vocabulary, optional constraint clauses and quoted inputs, and a controllable share
of near-duplicates (earlier instructions with a few word-level edits), so that pruning has real
work to do. The reference is what Stanford Alpaca does: tokenise once, then rouge_score's own
LCS scorer against every kept instruction, duplicate iff the best F > threshold. Both run on
the same prefix in this process and must agree on every decision; the full run happens in a
fresh subprocess so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rouge_score import rouge_scorer, tokenize  # noqa: E402

from selfinstruct.rouge import RougeIndex  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dedup_scale  # noqa: E402
from dedup_corpus import build_corpus  # noqa: E402

THRESHOLD = 0.7


def reference_dedup(texts: list[str]) -> list[tuple[bool, int | None, float]]:
    """Alpaca's method: tokenise once, rouge_score's LCS scorer against every kept text, max F."""
    kept: list[list[str]] = []
    kept_at: list[int] = []
    decisions: list[tuple[bool, int | None, float]] = []
    for i, text in enumerate(texts):
        tokens = tokenize.tokenize(text, None)
        scores = [rouge_scorer._score_lcs(tokens, other).fmeasure for other in kept]
        best = max(range(len(scores)), key=lambda j: (scores[j], -j)) if scores else None
        if best is not None and scores[best] > THRESHOLD:
            decisions.append((True, kept_at[best], scores[best]))
        else:
            decisions.append((False, None, 0.0))
            kept.append(tokens)
            kept_at.append(i)
    return decisions


def our_dedup(texts: list[str]) -> list[tuple[bool, int | None, float]]:
    """The engine, greedily in input order; most similar is mapped back to its input position."""
    index = RougeIndex(THRESHOLD)
    position: dict[str, int] = {}
    decisions: list[tuple[bool, int | None, float]] = []
    for i, text in enumerate(texts):
        verdict = index.check_and_add(text)
        if verdict.is_duplicate:
            decisions.append((True, position[verdict.most_similar], verdict.score))
        else:
            position.setdefault(text, i)
            decisions.append((False, None, 0.0))
    return decisions


def unpruned_dedup(texts: list[str], batch: int = 512) -> list[tuple[bool, int | None, float]]:
    """An exact check for the full run: rapidfuzz LCS on every (kept, candidate) pair, no pruning.

    Fast enough for 50K (a batch of candidates is scored against all earlier kept items at once,
    then against the ones kept inside the batch), and it shares no pruning with the engine.
    """
    vocab: dict[str, int] = {}
    encoded = ["".join(chr(vocab.setdefault(t, len(vocab) + 1)) for t in tokenize.tokenize(x, None)) for x in texts]
    kept_at: list[int] = []
    kept_lengths = np.empty(0, dtype=np.float64)
    decisions: list[tuple[bool, int | None, float]] = []
    for start in range(0, len(texts), batch):
        rows = range(start, min(len(texts), start + batch))
        kept_before = [encoded[j] for j in kept_at]
        lcs = (process.cdist([encoded[i] for i in rows], kept_before, scorer=LCSseq.similarity, dtype=np.int32)
               if kept_before else np.zeros((len(rows), 0), dtype=np.int32))
        fresh: list[int] = []
        for r, i in enumerate(rows):
            n = len(encoded[i])
            pairs = np.concatenate([lcs[r], [LCSseq.similarity(encoded[j], encoded[i]) for j in fresh]]).astype(np.float64)
            lengths = np.concatenate([kept_lengths, [len(encoded[j]) for j in fresh]])
            with np.errstate(invalid="ignore", divide="ignore"):
                p, rec = pairs / n, pairs / lengths  # rouge_score's own float expression, elementwise
                f = np.where(p + rec > 0, 2 * p * rec / (p + rec), 0.0)
            best = int(np.argmax(f)) if len(f) else -1
            if best >= 0 and f[best] > THRESHOLD:
                decisions.append((True, (kept_at + fresh)[best], float(f[best])))
            else:
                decisions.append((False, None, 0.0))
                fresh.append(i)
        kept_at.extend(fresh)
        kept_lengths = np.asarray([len(encoded[j]) for j in kept_at], dtype=np.float64)
    return decisions


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def full_run(size: int, near_dup_share: float, verify: bool) -> dict[str, float | bool]:
    """Our engine on the whole corpus; meant to run in its own process so the peak RSS is its own."""
    corpus = build_corpus(size, near_dup_share)
    start, cpu = time.perf_counter(), _cpu_s()
    decisions = our_dedup(corpus)
    wall, cpu = time.perf_counter() - start, _cpu_s() - cpu
    result: dict[str, float | bool] = {"size": size, "kept": sum(not d[0] for d in decisions), "wall_s": wall,
                                       "cpu_s": cpu, "peak_rss_mb": _peak_rss_mb()}
    if verify:
        start = time.perf_counter()
        result["identical_to_unpruned"] = unpruned_dedup(corpus) == decisions
        result["unpruned_wall_s"] = time.perf_counter() - start
    return result


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50_000, help="instructions in the full run")
    parser.add_argument("--prefix", type=int, default=2_000, help="instructions in the reference comparison")
    parser.add_argument("--near-dup-share", type=float, default=0.15, help="share of near-duplicates in the corpus")
    parser.add_argument("--no-verify", action="store_true", help="skip checking the full run against an unpruned exact scan")
    parser.add_argument("--full-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scale", action="store_true", help="real rows: every engine at --sizes (dedup_scale.py)")
    parser.add_argument("--sizes", default="100000,300000,1000000", help="--scale: row counts, comma-separated")
    parser.add_argument("--budget", type=float, default=600, help="--scale: seconds a run may take")
    parser.add_argument("--engines", default=",".join(dedup_scale.ENGINES), help="--scale: which engines, comma-separated")
    parser.add_argument("--scale-run", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--decisions", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_run:
        print(json.dumps(dedup_scale.run_engine(args.scale_run, args.rows, args.decisions, reference_dedup, our_dedup)))
        return
    if args.scale:
        engines = args.engines.split(",")
        unknown = set(engines) - set(dedup_scale.ENGINES)
        if unknown:
            parser.error(f"unknown engines {sorted(unknown)}; choose from {dedup_scale.ENGINES}")
        dedup_scale.main([int(x) for x in args.sizes.split(",")], args.budget, engines)
        return
    if args.full_only:
        print(json.dumps(full_run(args.size, args.near_dup_share, verify=not args.no_verify)))
        return

    corpus = build_corpus(args.size, args.near_dup_share)
    token_counts = [len(tokenize.tokenize(text, None)) for text in corpus]
    vocabulary = {token for text in corpus for token in tokenize.tokenize(text, None)}
    print(f"corpus: {len(corpus):,} instructions, near-duplicate share {args.near_dup_share}, "
          f"{sum(token_counts) / len(corpus):.1f} tokens on average (max {max(token_counts)}), "
          f"{len(vocabulary):,} distinct tokens; threshold {THRESHOLD}")
    print(f"  e.g. {corpus[2]!r}\n       {corpus[5]!r}")
    print(f"start: {_load()}")

    prefix = corpus[: args.prefix]
    # Ours takes well under a second, so one descheduling on a shared machine would swamp it:
    # report the median of three runs. The reference runs once (minutes).
    runs = []
    for _ in range(3):
        start, cpu = time.perf_counter(), _cpu_s()
        ours = our_dedup(prefix)
        runs.append((time.perf_counter() - start, _cpu_s() - cpu))
    ours_s, ours_cpu = sorted(runs)[1]
    start, cpu = time.perf_counter(), _cpu_s()
    reference = reference_dedup(prefix)
    reference_s, reference_cpu = time.perf_counter() - start, _cpu_s() - cpu
    mismatches = [i for i, (a, b) in enumerate(zip(ours, reference)) if a != b]
    assert not mismatches, f"decisions differ at items {mismatches[:10]}"
    kept = sum(not d[0] for d in ours)
    pairs = sum(sum(not d[0] for d in reference[:i]) for i in range(len(prefix)))
    print(f"prefix {len(prefix):,}: {kept:,} kept, {len(prefix) - kept:,} dropped; identical decisions "
          f"(keep/drop, most similar item, score) to the reference, which scored {pairs:,} pairs")
    print(f"  reference (tokenise once, rouge_score LCS against every kept item): "
          f"{reference_s:8.2f} s wall, {reference_cpu:8.2f} s CPU")
    print(f"  selfinstruct.rouge.RougeIndex (check_and_add on raw text, median of 3): "
          f"{ours_s:6.3f} s wall, {ours_cpu:6.3f} s CPU  (runs: {', '.join(f'{w:.3f}' for w, _ in runs)} s)")
    print(f"  speed-up: {reference_s / ours_s:,.0f}x wall, {reference_cpu / ours_cpu:,.0f}x CPU")

    command = [sys.executable, __file__, "--full-only", "--size", str(args.size), "--near-dup-share", str(args.near_dup_share)]
    if args.no_verify:
        command.append("--no-verify")
    full = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    print(f"full {full['size']:,}: {full['kept']:,} kept, {full['size'] - full['kept']:,} dropped; "
          f"wall {full['wall_s']:.1f} s (CPU {full['cpu_s']:.1f} s), peak RSS {full['peak_rss_mb']:.0f} MB (whole process)")
    if "identical_to_unpruned" in full:
        assert full["identical_to_unpruned"], "full run differs from the unpruned exact scan"
        print(f"  identical decisions to an unpruned exact scan (rapidfuzz LCS on every kept pair, "
              f"{full['unpruned_wall_s']:.1f} s)")
    print(f"end: {_load()}")


if __name__ == "__main__":
    main()
