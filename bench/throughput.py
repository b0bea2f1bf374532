"""Benchmark: how close an online `generate` run keeps the teacher to its concurrency, and what the client costs.

    python bench/throughput.py                   # concurrency 32, 256, 1024; peak RSS at budgets 1,000 and 10,000 (at 256)
    python bench/throughput.py --compare main    # the same runs with another git ref's client first (before/after)
    python bench/throughput.py --quick           # smaller budgets, a first look in about a minute
    python bench/throughput.py --compare 6f60181 --plan 256:10000 --rounds 4   # 4 interleaved rounds, then medians and ratios
    python bench/throughput.py --compare 6f60181 --plan 256:10000 --rounds 4 --this-settings '{"verifiers": false, "seed_mix": false}'

The mock teacher (tests/mock_teacher.py, the same answers the tests get) runs in its own process with a
realistic latency: lognormal, mean 2 s, sigma 0.8 (median 1.4 s, p99 about 9 s, capped at 30 s), drawn per request from
its body so every client sees the same latencies, and no rate limit. Each run is a real `generate`
(self-instruct recipe, gpt-4o-mini prices, fixed concurrency, the real `openai` client over HTTP) in a
fresh client process, whose CPU time and peak RSS come from getrusage inside that process around
generate() (imports and the tokenizer's one-time load excluded), so the mock's CPU is never counted.

Per concurrency it prints requests/s and mean requests in flight as a share of the concurrency, measured
at the mock (the time its requests spent being served, over the wall time), beside the ideal: the
latency sum divided by the concurrency, as if exactly that many requests were always in flight.
"while work remained" measures up to the moment the last request was sent; after it, the run only
waits for the slowest answers of its last wave, which no client can shorten.

Each row is followed by a reference row, "sdk only": the official `openai` client alone (the one the
run uses, over the same aiohttp transport) sending the very requests that row's run sent, at the same
concurrency, to the same mock (so with the same answers and latencies), each answer read as JSON and
nothing else done. Its CPU per request is the floor the client library sets on this machine under that
load; the row above it, minus it, is what the pipeline adds (journals, logs, filters, dedup, spend).

Targets: mean in flight >= 95% of the concurrency at 256 over a budget of 5,000 instructions; client
CPU <= 2 ms per request; peak RSS flat in the budget (10,000 within 25% of 1,000).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
SIGMA = 0.8
MEAN_S = 2.0
MU = math.log(MEAN_S) - SIGMA**2 / 2
# A body's latency is the same on every attempt, so one drawn past the client's 60 s timeout times out all 6 attempts
# and ends the run: 1.6 bodies in a million, about 2% of 10,000-instruction runs (13,000 requests). 30 s is p99.99.
MAX_LATENCY_S = 30.0
TARGET_IN_FLIGHT, TARGET_CPU_MS, TARGET_RSS_GROWTH = 0.95, 2.0, 1.25


# --- the mock teacher's process ---------------------------------------------------------------

SYLLABLES = "ba be bi bo bu da de di do du fa fe fi fo ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi vo za".split()
VERBS = "Explain Describe Summarize Compare Suggest Outline Propose Evaluate Recommend Identify Plan Estimate Critique Justify Predict Rewrite".split()


def _varied_proposals(rng: Any, n: int) -> str:
    """A numbered list of n instructions varied enough that 10,000 of them pass the near-duplicate filter
    (the tests' mock repeats a small vocabulary, so its kept share falls as a run grows)."""

    def word() -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))

    items = [f"{rng.choice(VERBS)} the {word()} {word()} of {word()} {word()} for {word()} {word()} in {word()} words." for _ in range(n)]
    items[3] = "Summarize this."  # one the length filter rejects, as real lists have
    return "Here are the new tasks:\n\n" + "\n".join(f"{i}. {text}" for i, text in enumerate(items, 1))



def serve(port_file: Path) -> None:
    """The mock teacher with lognormal latency; GET /bench-stats returns (and with ?reset clears) each request's span."""
    sys.path.insert(0, str(ROOT))
    from tests.mock_teacher import MockTeacher, _Handler, _QuietServer, _rng

    mock = MockTeacher()
    mock.sloppy = True
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def latency(body: dict[str, Any]) -> float:
        return min(MAX_LATENCY_S, _rng("latency", json.dumps(body, sort_keys=True)).lognormvariate(MU, SIGMA))

    mock.latency_fn = latency
    mock._propose = lambda prompt, n: _varied_proposals(_rng("propose", prompt), n)  # type: ignore[method-assign]

    class Handler(_Handler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/bench-bodies"):  # the request bodies served since the last reset, in order
                with lock:
                    data = json.dumps([r["body"] for r in mock.requests]).encode()
                return self._send(200, data)
            if not self.path.startswith("/bench-stats"):
                return super().do_GET()
            with lock:
                data = json.dumps(spans).encode()
                if "reset" in self.path:
                    spans.clear()
                    mock.requests.clear()  # the mock keeps every request; a long bench need not
            self._send(200, data)

        def do_POST(self) -> None:  # noqa: N802
            start = time.monotonic()
            super().do_POST()
            with lock:
                spans.append((start, time.monotonic()))

    class Server(_QuietServer):
        request_queue_size = 4096  # a thousand clients connect at once
        daemon_threads = True

    Handler.mock = mock
    server = Server(("127.0.0.1", 0), Handler)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


# --- one client run, in its own process -----------------------------------------------------


def client(spec: dict[str, Any]) -> None:
    """One generate run; prints its CPU time, wall time, peak RSS and request count as JSON."""
    from rich.console import Console

    try:
        from selfinstruct.generate.command import generate
        from selfinstruct.generate.settings import GenerateConfig
    except ImportError:  # a tree from before the generate package (6f60181 and older), measured with --compare
        from selfinstruct.config import GenerateConfig  # type: ignore[no-redef]
        from selfinstruct.generate import generate  # type: ignore[no-redef]

    cfg = GenerateConfig(
        seeds=ROOT / "seed_tasks" / "seed_tasks.jsonl", budget=spec["budget"], out=Path(spec["out"]), base_url=[spec["url"]],
        model="gpt-4o-mini", api_key="sk-bench-0000", concurrency=spec["concurrency"], concurrency_fixed=True, timeout=60,
        **spec.get("settings", {}),
    )  # fmt: skip
    from selfinstruct.teacher.spend import count_tokens

    count_tokens("load the tokenizer")  # a once-per-process cost, like the imports: not a request's
    try:  # the HTTP library imports its core on its first TLS setup (0.12 s of CPU): an import too
        from selfinstruct.teacher.client import _HTTP

        _HTTP.create_ssl_context()
    except ImportError:  # an older tree, measured with --compare
        pass
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process

    def work() -> dict[str, Any]:
        with contextlib.redirect_stdout(open(os.devnull, "w")):  # noqa: SIM115 - the summary table
            if spec.get("profile"):
                import cProfile

                with cProfile.Profile() as profile:
                    summary = generate(cfg, console=quiet)
                profile.dump_stats(spec["profile"])
            else:
                summary = generate(cfg, console=quiet)
        return {"requests": summary["requests"], "instructions": summary["instructions"]}

    _print_measured(work)


def _print_measured(work: Callable[[], dict[str, Any]]) -> None:
    """Runs `work` and prints, as JSON, its CPU time, wall time, start, peak RSS and the counts it returns."""
    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    started = time.time()
    counts = work()
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"cpu_s": cpu, "wall_s": wall, "started": started, "maxrss_mb": after.ru_maxrss / 1024, **counts}))


def sdk_only(spec: dict[str, Any]) -> None:
    """The openai client alone sends a run's request bodies at its concurrency; prints the same JSON as client()."""
    import asyncio

    from selfinstruct.teacher.client import _HTTP, open_client

    bodies = json.loads(Path(spec["bodies"]).read_text())
    _HTTP.create_ssl_context()  # as in client(): the HTTP library's one-time import is not a request's
    path = "/chat/completions"

    async def run() -> None:
        api = open_client("sk-bench-0000", spec["url"], 60, spec["concurrency"])
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                response = await api.post(path, body=body, cast_to=_HTTP.Response)
                json.loads(response.content)["choices"][0]

        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        await api.close()

    def work() -> dict[str, Any]:
        asyncio.run(run())
        return {"requests": len(bodies), "instructions": 0}

    _print_measured(work)


# --- the driver -------------------------------------------------------------------------------


def _get(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def _tree(ref: str | None) -> Path:
    """The source tree whose client runs: this one, or `git archive REF` unpacked under bench/_work."""
    if ref is None:
        return ROOT
    dest = WORK / f"ref-{ref.replace('/', '_')}"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def run_once(
    url: str, stats_url: str, tree: Path, concurrency: int, budget: int, bodies: Path | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One client run (generate, with these GenerateConfig `settings`; or, given `bodies`, the openai client alone sending them) and what the mock saw."""
    _get(stats_url + "?reset")
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        spec: dict[str, Any] = {"url": url, "concurrency": concurrency, "budget": budget, "out": str(Path(tmp) / "run"), "settings": settings or {}}
        if bodies is not None:
            spec["bodies"] = str(bodies)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        env.pop("OPENAI_API_KEY", None)
        env.pop("OPENAI_BASE_URL", None)
        role = "--client" if bodies is None else "--sdk-only"
        done = subprocess.run([sys.executable, __file__, role, json.dumps(spec)], env=env, capture_output=True, text=True, cwd=tree)
        if done.returncode != 0:
            return {"failed": (done.stderr.strip().splitlines() or ["no output"])[-1][:150], "concurrency": concurrency, "budget": budget}
        result = json.loads(done.stdout.strip().splitlines()[-1])
    spans = _get(stats_url)
    begin = min(s for s, _ in spans)
    end = max(e for _, e in spans)
    last_sent = max(s for s, _ in spans)
    busy = sum(e - s for s, e in spans)
    busy_until_last = sum(min(e, last_sent) - s for s, e in spans if s < last_sent)
    n = len(spans)
    ideal_wall = busy / concurrency
    result.update(
        served=n, wall_mock=end - begin, rps=n / (end - begin), ideal_rps=n / ideal_wall, ideal_wall=ideal_wall,
        in_flight=busy / (end - begin) / concurrency, in_flight_sustained=busy_until_last / max(1e-9, last_sent - begin) / concurrency,
        cpu_ms=1000 * result["cpu_s"] / max(1, result["requests"]), concurrency=concurrency, budget=budget,
    )  # fmt: skip
    return result


def sdk_only_run(url: str, stats_url: str, concurrency: int, budget: int) -> dict[str, Any]:
    """The reference row: the bodies the mock served in the run just measured, sent again by the openai client alone."""
    with tempfile.NamedTemporaryFile("w", dir=WORK, suffix=".json") as bodies:
        bodies.write(json.dumps(_get(stats_url.replace("/bench-stats", "/bench-bodies"))))
        bodies.flush()
        return run_once(url, stats_url, ROOT, concurrency, budget, bodies=Path(bodies.name))


def _row(label: str, r: dict[str, Any]) -> str:
    if "failed" in r:
        return f"{label:<8}{r['concurrency']:>6}{r['budget']:>8}  failed: {r['failed']}"
    return (f"{label:<8}{r['concurrency']:>6}{r['budget']:>8}{r['served']:>9}{r['wall_mock']:>8.1f}{r['ideal_wall']:>8.1f}"
            f"{r['rps']:>9.1f}{r['ideal_rps']:>9.1f}{r['in_flight']:>10.1%}{r['in_flight_sustained']:>11.1%}"
            f"{r['cpu_ms']:>9.2f}{r['maxrss_mb']:>9.0f}")  # fmt: skip


HEADER = (f"{'client':<8}{'conc':>6}{'budget':>8}{'requests':>9}{'wall s':>8}{'ideal':>8}{'req/s':>9}{'ideal':>9}"
          f"{'in flight':>10}{'while work':>11}{'CPU ms/r':>9}{'RSS MB':>9}")  # fmt: skip


def _print_ratios(results: dict[str, list[dict[str, Any]]], ref: str, plan: list[tuple[int, int]]) -> None:
    """Per row: each client's runs (CPU ms per request, peak RSS), their medians, and the ratio of each to the reference's."""
    from statistics import median

    print(f"\nagainst the reference ({ref}), medians over the rounds (target of issue 33: within 5%)")
    for concurrency, budget in plan:
        rows = {label: [r for r in rs if r["concurrency"] == concurrency and r["budget"] == budget and "failed" not in r] for label, rs in results.items()}
        if not rows.get(ref):
            continue
        base = {key: median(r[key] for r in rows[ref]) for key in ("cpu_ms", "maxrss_mb")}
        for label, runs in rows.items():
            if not runs:
                continue
            mid = {key: median(r[key] for r in runs) for key in ("cpu_ms", "maxrss_mb")}
            cpus, rss = ", ".join(f"{r['cpu_ms']:.3f}" for r in runs), ", ".join(f"{r['maxrss_mb']:.1f}" for r in runs)
            print(f"  {label:<8}{concurrency:>5}/{budget:<7} CPU ms/r {mid['cpu_ms']:.3f} [{cpus}] x{mid['cpu_ms'] / base['cpu_ms']:.3f}; "
                  f"peak RSS MB {mid['maxrss_mb']:.1f} [{rss}] x{mid['maxrss_mb'] / base['maxrss_mb']:.3f}; "
                  f"requests {', '.join(str(r['requests']) for r in runs)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", metavar="REF", help="also run the client of this git ref (e.g. main), before this tree's")
    parser.add_argument("--quick", action="store_true", help="budgets 200/1,000/1,000 instead of 500/5,000/10,000")
    parser.add_argument("--plan", help="the rows to run, CONCURRENCY:BUDGET,... (e.g. 256:10000) instead of the default plan")
    parser.add_argument("--rounds", type=int, default=1, help="run the plan this many times, the clients' order alternating each round "
                        "(sdk-only floors in the first round only); with --compare, medians and this/reference ratios at the end")  # fmt: skip
    parser.add_argument("--also", metavar="JSON", help='one more client of this tree with these settings, e.g. \'{"verifiers": false, "seed_mix": false}\' '
                        "(features its reference lacks set aside: like for like)")  # fmt: skip
    parser.add_argument("--this-settings", metavar="JSON", help="this tree's own client runs with these settings instead of its defaults "
                        "(with --compare and an even --rounds, the two clients take each place in a round equally often)")  # fmt: skip
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--sdk-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    if args.client:
        return client(json.loads(args.client))
    if args.sdk_only:
        return sdk_only(json.loads(args.sdk_only))

    WORK.mkdir(parents=True, exist_ok=True)
    port_file = WORK / f"mock-port-{os.getpid()}"
    port_file.unlink(missing_ok=True)
    mock = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            assert mock.poll() is None and time.monotonic() < deadline, "the mock teacher did not start"
            time.sleep(0.05)
        port = int(port_file.read_text())
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
        url, stats = f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port}/bench-stats"
        # Peak RSS is compared at 256, where budgets 1,000 and 10,000 both keep the concurrency full (at 1024 a
        # budget of 1,000 cannot: its connections and buffers in flight would differ, not its budget).
        plan = [(32, 200), (256, 1000), (1024, 1000)] if args.quick else [(32, 500), (256, 1000), (256, 5000), (256, 10000), (1024, 1000)]
        if args.plan:
            plan = [(int(c), int(b)) for c, b in (row.split(":") for row in args.plan.split(","))]
        clients: list[tuple[str, Path, dict[str, Any]]] = [(args.compare, _tree(args.compare), {})] if args.compare else []
        clients.append(("this", ROOT, json.loads(args.this_settings) if args.this_settings else {}))
        if args.also:
            clients.append(("this+", ROOT, json.loads(args.also)))
        print(f"mock teacher: latency lognormal mean {MEAN_S} s, sigma {SIGMA}; no rate limit; {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)  # fmt: skip
        print(HEADER, flush=True)
        results: dict[str, list[dict[str, Any]]] = {}
        floors: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (this tree's row, its sdk-only row)
        for round_ in range(args.rounds):
            for concurrency, budget in plan:
                ordered = clients if round_ % 2 == 0 else clients[::-1]
                for label, tree, settings in ordered:
                    r = run_once(url, stats, tree, concurrency, budget, settings=settings)
                    results.setdefault(label, []).append(r)
                    print(_row(str(label)[:8], r) + f"  load {os.getloadavg()[0]:.1f}", flush=True)
                    if label == "this" and round_ == 0 and "failed" not in r:  # this tree's requests, sent again
                        floor = sdk_only_run(url, stats, concurrency, budget)
                        floors.append((r, floor))
                        print(_row("sdk only", floor), flush=True)
        print("ideal: the latency sum / concurrency (wall) and requests / that wall (req/s); 'while work' stops at the last request sent")
        print("sdk only: the openai client alone sending the row above's requests at its concurrency (the floor under its CPU)")
        print(f"load average {os.getloadavg()[0]:.1f} at the end: other work on the machine takes CPU from the client and the mock")
        for label, rows in results.items():
            rows = [r for r in rows if "failed" not in r]
            print(f"\ntargets, client '{label}':")
            at256 = [r for r in rows if r["concurrency"] == 256]
            if at256:
                big = min(at256, key=lambda r: abs(r["budget"] - 5000))
                ok = big["in_flight_sustained"] >= TARGET_IN_FLIGHT and big["budget"] >= 5000
                print(f"  mean in flight >= {TARGET_IN_FLIGHT:.0%} of concurrency at 256, budget 5,000: {big['in_flight_sustained']:.1%} while work "
                      f"remained ({big['in_flight']:.1%} over the whole run) at budget {big['budget']:,}  {'MET' if ok else 'MISSED'}")  # fmt: skip
            if not rows:
                continue
            worst = max(r["cpu_ms"] for r in rows)
            print(f"  client CPU <= {TARGET_CPU_MS:g} ms per request: worst {worst:.2f} ms  {'MET' if worst <= TARGET_CPU_MS else 'MISSED'}")
            if label == "this":
                measured = [(r, f) for r, f in floors if "failed" not in f]
                if measured:
                    print("  of which the openai client alone, on the same requests: " + ", ".join(
                        f"{f['cpu_ms']:.2f} of {r['cpu_ms']:.2f} ms at {r['concurrency']}/{r['budget']:,}" for r, f in measured))
            by_budget = {r["budget"]: r["maxrss_mb"] for r in rows if r["concurrency"] == 256}
            if len(by_budget) >= 2:
                small, large = min(by_budget), max(by_budget)
                growth = by_budget[large] / by_budget[small]
                print(f"  peak RSS flat in the budget (concurrency 256): {by_budget[small]:.0f} MB at {small:,}, {by_budget[large]:.0f} MB at {large:,} "
                      f"(x{growth:.2f}, target <= x{TARGET_RSS_GROWTH})  {'MET' if growth <= TARGET_RSS_GROWTH else 'MISSED'}")  # fmt: skip
        if args.compare:
            _print_ratios(results, args.compare, plan)
    finally:
        mock.terminate()
        mock.wait(timeout=30)
        port_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
