"""Benchmark: how much of a provider's rate limit a run uses, whatever the limiter's shape, beside a fixed concurrency.

    python bench/rate_limit.py                      # every shape at 2, 10 and 40 requests/s, 8 windows a run
    python bench/rate_limit.py --quick              # 4 windows a run
    python bench/rate_limit.py --shapes sliding --rates 2

The mock provider (tests/mock_limiter.py, aiohttp on 127.0.0.1, in this process) answers in 0.3 s behind one limiter:
- bucket:  a token bucket of one second's worth, refilled continuously;
- fixed:   rate x 5 requests per 5 s window, all back at the window's end;
- sliding: at most rate x 5 requests in any 5 s (a sliding-window log);
- tpm:     tokens per 5 s window (fixed), with large prompts (about 1,950 tokens each as the limiter counts them,
           the prompt's characters / 4 plus max_tokens), the tokens for `rate` such requests a second.
Each runs three ways through the real client (the `openai` SDK over HTTP): adaptive (ceiling 64) with the
x-ratelimit-* headers, adaptive without them (Retry-After in seconds, or retry-after-ms for the sliding log and
tpm), and a fixed 64 in flight (which follows no headers either way).

"share of the limit": the time a perfect client needs for the same requests on a fresh limiter (each admitted
the moment the limiter allows it) over the time from the first admission to the last; for tpm it is the share
of the token limit (the requests are alike, so it is also the share of the requests). "429s": the share of all
attempts answered 429. "peak": the most requests the provider held at once. Target for the adaptive runs:
>= 90% of the limit with < 3% of requests drawing a 429; a row that misses is marked MISSED.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.mock_limiter import LimitedServer, LimiterSpec, body_cost, limited_run, prompts  # noqa: E402

WINDOW_S = 5.0
SHAPES = ("bucket", "fixed", "sliding", "tpm")


def spec_for(shape: str, rate: float, headers: bool) -> LimiterSpec:
    retry_after = "ms" if shape in ("sliding", "tpm") and not headers else "s"
    if shape == "bucket":
        return LimiterSpec(shape="bucket", limit=rate, window_s=1.0, headers=headers, retry_after=retry_after)
    if shape == "tpm":
        cost = body_cost(prompts(1, True)[0])
        return LimiterSpec(
            shape="fixed",
            kind="tokens",
            limit=rate * WINDOW_S * cost,
            window_s=WINDOW_S,
            headers=headers,
            retry_after=retry_after,
        )
    return LimiterSpec(shape=shape, limit=rate * WINDOW_S, window_s=WINDOW_S, headers=headers, retry_after=retry_after)  # type: ignore[arg-type]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated: " + ", ".join(SHAPES))
    parser.add_argument("--rates", default="2,10,40", help="requests per second, comma-separated")
    parser.add_argument(
        "--windows", type=int, default=8, help="each run sends this many 5 s windows' worth of requests"
    )
    parser.add_argument("--quick", action="store_true", help="4 windows a run")
    args = parser.parse_args()
    windows = 4 if args.quick else args.windows
    print(f"machine: {os.cpu_count()} CPUs; load average {load()} (1, 5, 15 min)")
    print(f"mock latency 0.3 s; {windows} windows' worth of requests per run\n")
    header = f"{'shape':8s} {'limit':>7s}  {'side':26s} {'req/s':>7s} {'share of the limit':>19s} {'429s':>7s} {'peak':>5s} {'time':>7s}"
    print(header)
    print("-" * len(header))
    server = LimitedServer().start()
    missed: list[str] = []
    started = time.monotonic()
    try:
        for shape in args.shapes.split(","):
            for rate in (float(r) for r in args.rates.split(",")):
                n = int(rate * WINDOW_S * windows)
                for side, headers, fixed in (
                    ("adaptive, headers", True, False),
                    ("adaptive, no headers", False, False),
                    ("fixed 64", True, True),
                ):
                    server.configure(spec_for(shape, rate, headers))
                    run, _ = limited_run(server, n, fixed=fixed, large=shape == "tpm")
                    target = "" if fixed else ("" if run.share >= 0.90 and run.throttled < 0.03 else "  MISSED")
                    if target:
                        missed.append(f"{shape} {rate:g}/s {side}")
                    print(f"{shape:8s} {rate:5g}/s  {side:26s} {run.rps:7.2f} {run.share:19.1%} {run.throttled:7.1%} {run.peak:5d} {run.seconds:6.1f}s{target}",
                          flush=True)  # fmt: skip
    finally:
        server.stop()
    print(f"\n{time.monotonic() - started:.0f} s in all; load average at the end {load()}")
    print("missed: " + ("; ".join(missed) if missed else "none"))


if __name__ == "__main__":
    main()
