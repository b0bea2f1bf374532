"""`make demo` now against `make demo` at an earlier revision, back to back on the same machine.

    .venv/bin/python bench/demo.py                      # reference: 9f0cd0c, the first release
    .venv/bin/python bench/demo.py --reference v0.1 --rounds 2 --budget 20

Each side runs exactly what `make demo` runs (`generate --seeds seed_tasks/seed_tasks.jsonl
--budget 20`, every other setting at its default, so the embedded teacher) in a fresh run
directory: the reference from a git worktree of --reference, this side from the working tree,
both with this venv's Python and packages. Sides alternate, one round after another, each round in
the reverse order of the last. Per side: wall time, CPU time of the whole process tree, peak RSS of
the tree (the sum of each process's VmHWM, sampled every 0.2 s), rows, and the rows a quick check
finds well formed; then the ratio of this side to the reference. Rows of the last round are
written to bench/_work/demo/<side>.jsonl for reading by hand.

The reference needs its own dependencies in the venv (the first release also used `jsonlines`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_teacher import TreeMemory, well_formed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "_work" / "demo"
MB = 1 << 20
# The package from `root`, not whatever the venv has installed in editable mode.
LAUNCH = "import sys; sys.path.insert(0, {root!r}); from selfinstruct.cli import app; sys.argv[0] = 'selfinstruct'; app()"


class DemoRun(BaseModel):
    side: str
    ok: bool
    wall_s: float
    cpu_s: float
    peak_rss: int
    rows: int
    well_formed: int
    instance_yield: float | None = None  # kept instructions whose instance request gave >= 1 valid instance
    classify_per_5: float | None = None  # classification requests per 5 verdicts
    gate_dropped: int = 0  # instances the quality gate dropped
    note: str = ""


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stage_figures(out: Path) -> dict:
    """Instance yield and classification requests per 5 verdicts, read from the journal and request log."""
    journal = _jsonl(out / "journal.jsonl")
    completed = [r for r in journal if r.get("kind") == "completed"]
    # Before the gate: an instruction the gate emptied did get valid instances from its request.
    valid = sum(1 for r in completed if r.get("instances") or r.get("reason") == "low_quality")
    verdicts = sum(1 for r in journal if r.get("kind") == "classified")
    requests = [r for r in _jsonl(out / "requests.jsonl") if r.get("stage") == "classify" and not r.get("error")]
    return {
        "instance_yield": valid / len(completed) if completed else None,
        "classify_per_5": len(requests) / (verdicts / 5) if verdicts else None,
        "gate_dropped": sum(1 for r in completed for d in r.get("dropped", []) if d.get("reason") == "low_quality"),
    }


def checkout(reference: str) -> Path:
    """A worktree of the reference revision under bench/_work/demo (made once, reused)."""
    path = WORK / f"ref-{reference}"
    if not (path / "selfinstruct").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(path), reference], cwd=ROOT, check=True, capture_output=True)
    return path


def run_demo(side: str, root: Path, budget: int, round_: int, ceiling: int) -> DemoRun:
    out = WORK / f"{side}-r{round_}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    args = ["generate", "--seeds", str(root / "seed_tasks" / "seed_tasks.jsonl"), "--budget", str(budget), "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}  # the embedded teacher, as make demo on a fresh machine
    start = time.perf_counter()
    with (WORK / f"{side}-r{round_}.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH.format(root=str(root)), *args], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        with TreeMemory(proc.pid, include_root=True, ceiling=ceiling) as memory:
            _, status, usage = os.wait4(proc.pid, 0)
    wall, cpu = time.perf_counter() - start, usage.ru_utime + usage.ru_stime
    code = os.waitstatus_to_exitcode(status)
    rows = json.loads((out / "alpaca_data.json").read_text()) if (out / "alpaca_data.json").exists() else []
    (WORK / f"{side}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    note = "killed over the RSS ceiling" if memory.over_ceiling else "" if code == 0 else f"exit {code}, see {log.name}"
    return DemoRun(side=side, ok=code == 0, wall_s=wall, cpu_s=cpu, peak_rss=memory.peak, rows=len(rows),
                   well_formed=sum(map(well_formed, rows)), note=note, **stage_figures(out))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", default="9f0cd0c", help="git revision to compare with (default: the first release)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds per side")
    parser.add_argument("--budget", type=int, default=20, help="generate --budget (make demo uses 20)")
    parser.add_argument("--ceiling-gb", type=float, default=20.0, help="kill a side whose tree RSS passes this")
    parser.add_argument("--only", choices=["reference", "this"], help="run one side only (no ratio); e.g. this tree again after a change")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    sides = {f"reference {args.reference}": checkout(args.reference), "this tree": ROOT}
    if args.only:
        sides = {name: root for name, root in sides.items() if name.split()[0] == args.only}
    results: dict[str, list[DemoRun]] = {name: [] for name in sides}
    order = list(sides)
    for r in range(args.rounds):
        for name in order if r % 2 == 0 else reversed(order):
            result = run_demo(name.split()[0], sides[name], args.budget, r, int(args.ceiling_gb * 1024 * MB))
            results[name].append(result)
            print(json.dumps({"round": r, **result.model_dump()}), flush=True)
    print(f"\nmake demo (generate --budget {args.budget}, defaults), {args.rounds} round(s), sides alternating")
    print(f"{'side':<22}{'wall s (median)':>16}{'CPU s':>10}{'peak RSS MB':>13}{'rows':>6}{'well formed':>13}"
          f"{'instance yield':>16}{'classify req/5':>16}{'gate drops':>12}")
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(r.wall_s for r in runs)
        medians[name] = wall
        last = runs[-1]
        print(f"{name:<22}{wall:>16.0f}{statistics.median(r.cpu_s for r in runs):>10.0f}{max(r.peak_rss for r in runs) / MB:>13.0f}"
              f"{last.rows:>6}{last.well_formed:>13}{_pct(last.instance_yield):>16}{_num(last.classify_per_5):>16}{last.gate_dropped:>12}  {last.note}")
    if len(order) == 2:
        ref, now = medians[order[0]], medians[order[1]]
        print(f"wall time, this tree / reference: {now / ref:.2f}x  (target: at most 0.50x)")


if __name__ == "__main__":
    main()
