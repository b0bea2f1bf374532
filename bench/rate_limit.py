"""Benchmark: how close adaptive concurrency runs to a provider's rate limit, beside a fixed concurrency.

    python bench/rate_limit.py               # 5 rounds, 300 requests each, the two sides interleaved
    python bench/rate_limit.py --rounds 9 --requests 600

The mock teacher (tests/mock_teacher.py) enforces 40 requests/s with a burst of 20 (and tokens for about
45 requests/s), refilled continuously, answering in 50 ms; over the limit it answers 429 with
x-ratelimit headers. Each round floods it with the same requests through the real client (the `openai`
SDK over HTTP), once with adaptive concurrency (ceiling 64) and once with a fixed 64, in turn.

"share of the limit" is the ideal time at the limit, (requests - burst) / rate, over the measured time.
Target: adaptive >= 90% of the limit with < 5% of its requests answered 429, where a fixed 64 draws
429s for most of its requests. Peak RSS is this process's, the mock included.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.mock_rate import LIMIT_BURST, LIMIT_PER_S, LimitedRun, rate_limited_run  # noqa: E402
from tests.mock_teacher import MockTeacher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each runs both sides, in turn")
    parser.add_argument("--requests", type=int, default=300, help="requests per run")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"rate limit {LIMIT_PER_S:.0f} requests/s (burst {LIMIT_BURST}), {args.requests} requests per run, {args.rounds} rounds\n")
    sides = {"adaptive (ceiling 64)": False, "fixed 64": True}
    results: dict[str, list[LimitedRun]] = {label: [] for label in sides}
    mock = MockTeacher().start()
    try:
        for r in range(args.rounds):
            for label, fixed in (sides.items() if r % 2 == 0 else reversed(sides.items())):
                row = rate_limited_run(mock, args.requests, fixed)
                results[label].append(row)
                print(f"round {r + 1} {label:22s} {row.line()}", flush=True)
    finally:
        mock.stop()
    print(f"\n{'side':22s} {'share of the limit (median, min)':>32s} {'429s (median)':>14s} {'top concurrency':>16s}")
    for label, rows in results.items():
        shares = [x.share for x in rows]
        print(f"{label:22s} {statistics.median(shares):>23.1%}, {min(shares):6.1%} {statistics.median(x.throttled for x in rows):>14.1%} "
              f"{max(x.top for x in rows):>16d}")  # fmt: skip
    adaptive, fixed = (statistics.median(x.share for x in results[label]) for label in sides)
    print(f"\nadaptive / fixed throughput: {adaptive / fixed:.2f}x; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
