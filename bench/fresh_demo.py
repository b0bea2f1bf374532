"""Fresh clone to first row: `make demo` from a clean clone of two revisions, side by side on this machine.

    python bench/fresh_demo.py --reference fdb7d2d                 # against the working tree's HEAD
    python bench/fresh_demo.py --reference fdb7d2d --candidate HEAD --rounds 2

Each side clones this repository at its revision into a new temporary folder and runs `make demo`
there as a new user would, with an empty pip cache of its own (PIP_CACHE_DIR inside the clone),
so neither side reuses a wheel the other or an earlier run built. Sides alternate, each round in
the reverse order of the last. Per side it prints the seconds from the clone's start to:

  installed   the venv's install stamp (.venv/bin/.installed or .installed-generate)
  server      .venv/bin/llama-server in place (the teacher's server is built)
  first row   the run's journal holds its first finished row (a completed line with instances,
              not the unchecked copy journaled before the teacher's checks)

then stops the demo. Beside time: the venv's size on disk (what the install put there) and the
peak of the tree's summed RSS, sampled every 0.5 s (the compilers, pip, or the teacher's server).
Other work on the machine skews the seconds: compare the two sides of one run, never across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
STAMPS = (".installed-generate", ".installed")


def first_row(clone: Path) -> bool:
    """Whether a run under clone/outputs has journaled a finished row."""
    for journal in clone.glob("outputs/*/journal.jsonl"):
        with journal.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # the line being written
                if record.get("kind") == "completed" and record.get("instances") and not record.get("unchecked"):
                    return True
    return False


def tree_rss(pid: int) -> int:
    """The summed RSS of a process and its descendants now, in bytes."""
    total = 0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
    return total


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / (1 << 20)


def one_side(revision: str, timeout: float, keep: bool) -> dict[str, float | str | None]:
    """Clone at `revision`, run `make demo` until its first row (or the timeout); the phases' seconds."""
    work = Path(tempfile.mkdtemp(prefix="fresh-demo-"))
    clone = work / "selfinstruct"
    start = time.monotonic()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", revision], check=True)
    shared = ROOT.parent / "shared"
    if shared.is_dir() and not (work / "shared").exists():
        os.symlink(shared, work / "shared")  # beside the clone, where a checkout finds it
    env = {**os.environ, "PIP_CACHE_DIR": str(work / "pip-cache")}
    env.pop("VIRTUAL_ENV", None)
    log = (work / "make.log").open("wb")
    proc = subprocess.Popen(["make", "demo"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    marks: dict[str, float | str | None] = {"revision": revision, "installed": None, "server": None, "first row": None}
    bin_dir = clone / ".venv" / "bin"
    peak = 0
    try:
        while time.monotonic() - start < timeout:
            peak = max(peak, tree_rss(proc.pid))
            now = time.monotonic() - start
            if marks["installed"] is None and any((bin_dir / s).exists() for s in STAMPS):
                marks["installed"] = now
            if marks["server"] is None and (bin_dir / "llama-server").exists():
                marks["server"] = now
            if first_row(clone):
                marks["first row"] = now
                break
            if proc.poll() is not None:
                marks["exit"] = f"make demo exited {proc.returncode} first (log: {work / 'make.log'})"
                keep = True
                break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    marks["peak tree RSS MB"] = round(peak / (1 << 20))
    marks["venv MB"] = round(dir_mb(clone / ".venv")) if (clone / ".venv").exists() else None
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        marks["kept"] = str(work)
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", required=True, help="The revision to compare against (a commit or tag of this repository).")
    parser.add_argument("--candidate", default="HEAD", help="The revision measured (default: HEAD; commit your change first).")
    parser.add_argument("--rounds", type=int, default=1, help="Rounds; each runs both sides, the order reversed every round.")
    parser.add_argument("--timeout", type=float, default=3600, help="Seconds a side may take to its first row.")
    parser.add_argument("--keep", action="store_true", help="Keep each side's clone, venv and make.log.")
    args = parser.parse_args()
    revisions = {name: subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True, capture_output=True, text=True).stdout.strip()
                 for name, rev in (("reference", args.reference), ("candidate", args.candidate))}  # fmt: skip
    results: dict[str, list[dict]] = {"reference": [], "candidate": []}
    for round_ in range(args.rounds):
        order = ["reference", "candidate"] if round_ % 2 == 0 else ["candidate", "reference"]
        for side in order:
            load = os.getloadavg()[0]
            marks = one_side(revisions[side], args.timeout, args.keep)
            marks["load before"] = round(load, 1)
            results[side].append(marks)
            print(f"round {round_ + 1} {side} {revisions[side]}: {json.dumps(marks)}", flush=True)
    print()
    print(f"{'':>10} {'installed':>10} {'server':>8} {'first row':>10} {'venv MB':>8} {'peak RSS MB':>12} {'load':>5}")
    for side, rows in results.items():
        for marks in rows:
            cells = [f"{marks[k]:.0f}" if isinstance(marks[k], float) else str(marks[k]) for k in ("installed", "server", "first row")]
            print(f"{side:>10} {cells[0]:>10} {cells[1]:>8} {cells[2]:>10} {marks['venv MB']!s:>8} {marks['peak tree RSS MB']!s:>12} {marks['load before']!s:>5}")
    ref = [m["first row"] for m in results["reference"] if isinstance(m["first row"], float)]
    cand = [m["first row"] for m in results["candidate"] if isinstance(m["first row"], float)]
    if ref and cand:
        print(f"\nfresh clone to first row, candidate / reference: {sum(cand) / len(cand) / (sum(ref) / len(ref)):.2f}")
    else:
        sys.exit("a side did not reach its first row: see the lines above")


if __name__ == "__main__":
    main()
