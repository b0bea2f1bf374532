"""The embedded teacher, measured: engines and their slots, recipes, packaged models; contestants interleaved.

    .venv/bin/python bench/local_teacher.py                                  # --section engines
    .venv/bin/python bench/local_teacher.py --section engines --rounds 3 --budget 10
    .venv/bin/python bench/local_teacher.py --section recipes --budget 20
    .venv/bin/python bench/local_teacher.py --section models --budget 20

engines   llama-cpp-python's server as it was configured before (RAM state cache, its default
          logits_all) and bounded (both off), against llama.cpp's llama-server with --parallel 1, 2
          and 4, on the same GGUF. Per contestant: aggregate generated tokens/s with as many
          requests in flight as the engine has slots; the wall time of `generate --budget N` on
          seed_tasks/ with --concurrency set to the slots; peak RSS of the server process tree
          (the sum of each process's VmHWM, which psutil samples every 0.2 s with the live RSS);
          and the RSS after each of 50 pipeline-shaped requests (two long fixed prefixes taking
          turns), flat or growing.
recipes   `generate --recipe self-instruct` against `--recipe alpaca`: rows, the share of rows a
          quick check finds well formed, and wall time per well-formed row.
models    the packaged models: instructions that pass every filter and well-formed instances
          per CPU-minute (the generate process and its server together).

Contestants run alternately, one round after another (each round in the reverse order of the
last), so a machine whose load drifts treats them alike; tables show best and median over rounds.
A server whose RSS passes --ceiling-gb is killed and its row says so. Runs and logs go to
bench/_work/. "Well formed": output non-empty, not an echo of the input or the instruction, no
template lines (Instruction:/Input:/Output:) leaked into it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import psutil
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfinstruct.teacher import llama_server  # noqa: E402
from selfinstruct.teacher.llama_server import Engine, ServerSpec, default_threads, engine_slots, local_server  # noqa: E402
from selfinstruct.teacher.packaged import DEFAULT_LOCAL_MODEL, PACKAGED_MODELS, LocalModel, resolve_local_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "_work"
SEEDS = ROOT / "seed_tasks" / "seed_tasks.jsonl"
MB = 1 << 20


class Contestant(BaseModel):
    """One side of a comparison: which server, how many slots, which recipe and model."""

    label: str
    engine: Engine = llama_server.DEFAULT_ENGINE
    parallel: int = llama_server.DEFAULT_PARALLEL
    legacy: bool = False  # llama-cpp-python with the settings it had before memory was bounded
    recipe: str = "self-instruct"
    model: str = DEFAULT_LOCAL_MODEL

    @property
    def slots(self) -> int:
        return engine_slots(self.engine, self.parallel)


def legacy_python_command(spec: ServerSpec) -> list[str]:
    """llama-cpp-python's server as configured before: 512 MiB RAM state cache, the server's logits_all default."""
    cmd = llama_server.python_server_command(spec)
    cmd = cmd[: cmd.index("--logits_all")]
    return [*cmd, "--cache", "True", "--cache_type", "ram", "--cache_size", str(512 * MB)]


# --- memory of a process tree ------------------------------------------------------------


def _vm_hwm(pid: int) -> int:
    """Peak RSS the kernel recorded for pid, in bytes (0 if gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class TreeMemory:
    """Samples a process tree's RSS every 0.2 s: the live sum, each process's peak, a ceiling that kills it."""

    def __init__(self, root: int, include_root: bool, ceiling: int) -> None:
        self.root, self.include_root, self.ceiling = root, include_root, ceiling
        self.hwm: dict[int, int] = {}
        self.current = 0
        self.over_ceiling = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def procs(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.root)
            return ([root] if self.include_root else []) + root.children(recursive=True)
        return []

    def sample(self) -> int:
        total = 0
        for p in self.procs():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
                self.hwm[p.pid] = max(self.hwm.get(p.pid, 0), _vm_hwm(p.pid))
        self.current = total
        if total > self.ceiling and not self.over_ceiling:
            self.over_ceiling = True
            for p in self.procs():
                with contextlib.suppress(psutil.Error):
                    p.kill()
        return total

    @property
    def peak(self) -> int:
        return sum(self.hwm.values())

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- requests against a running server ---------------------------------------------------

TOPICS = ["a lighthouse keeper", "the history of bread", "a city on Mars", "a chess tournament",
          "a lost violin", "the water cycle", "a night train", "an old library"]  # fmt: skip
DEMOS = [
    ("Given my personality and the job, tell me if I would be suitable.", "Yes"),
    ("Give me an example of a time when you had to use your sense of humor.", "No"),
    ("Replace the placeholders in the given text with appropriate named entities.", "No"),
    ("Fact checking - tell me if the statement is true, false, or unknown, based on your knowledge.", "Yes"),
    ("Detect if the Reddit thread contains hate speech.", "Yes"),
    ("Analyze the sentences below to identify biases.", "No"),
    ("Rank these countries by their population.", "No"),
    ("Decide whether the email is spam or not spam.", "Yes"),
    ("Summarize the following meeting notes in three bullet points.", "No"),
    ("Is the sentiment of this product review positive, negative or neutral?", "Yes"),
    ("Translate the sentence into French.", "No"),
    ("Classify the animal as a mammal, bird, reptile, amphibian or fish.", "Yes"),
]
PREFIXES = [
    "Can the following task be regarded as a classification task with finite output labels?\n\n"
    + "\n\n".join(f"Task: {t}\nIs it classification? {a}" for t, a in DEMOS),
    "Come up with an input and an output for each task.\n\n"
    + "\n\n".join(f"Task: {t}\nInput: (an example)\nOutput: {a}" for t, a in DEMOS),
]


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="local", max_retries=0, timeout=1800)


def _ask(client: openai.OpenAI, model: str, prompt: str, max_tokens: int) -> int:
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0)
    return r.usage.completion_tokens if r.usage else 0


def throughput(client: openai.OpenAI, model: str, slots: int, requests: int, tokens: int) -> float:
    """Generated tokens per second over `requests` distinct long answers, `slots` in flight at once."""
    prompts = [f"Write a long, detailed story about {TOPICS[i % len(TOPICS)]} (version {i})." for i in range(requests)]
    start = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        made = sum(pool.map(lambda p: _ask(client, model, p, tokens), prompts))
    return made / (time.perf_counter() - start)


def rss_over_requests(client: openai.OpenAI, model: str, slots: int, memory: TreeMemory, n: int) -> list[int]:
    """RSS of the server tree after each of n short-answer requests whose two long fixed prefixes take turns."""
    after: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        if memory.over_ceiling:
            return
        with contextlib.suppress(openai.APIError):
            _ask(client, model, f"{PREFIXES[i % 2]}\n\nTask: {TOPICS[i % len(TOPICS)]}, item {i}.\nAnswer:", 8)
        with lock:
            rss = memory.sample()
            if rss:  # 0: the server was killed at the ceiling
                after.append(rss)

    with ThreadPoolExecutor(slots) as pool:
        list(pool.map(one, range(n)))
    return after


# --- a whole generate run ----------------------------------------------------------------

_LAUNCH = """
import sys
sys.path[:0] = [{root!r}, {bench!r}]
import selfinstruct.teacher.llama_server as s
s.DEFAULT_ENGINE, s.DEFAULT_PARALLEL = {engine!r}, {parallel!r}
if {legacy!r}:
    import local_teacher
    s.llama_server_command = local_teacher.legacy_python_command
from selfinstruct.cli import app
sys.argv = ["selfinstruct", *sys.argv[1:]]
app()
"""
_LEAKED = re.compile(r"^\s*(#+\s*)?(instruction|input|output)\s*\d*\s*:", re.IGNORECASE | re.MULTILINE)


def well_formed(row: dict[str, str]) -> bool:
    """Output non-empty, not an echo of the input or the instruction, no template lines leaked into it."""
    out = row["output"].strip()
    return bool(out) and out not in (row["input"].strip(), row["instruction"].strip()) and not _LEAKED.search(out)


class GenerateResult(BaseModel):
    ok: bool
    wall_s: float
    cpu_s: float
    peak_rss: int
    note: str = ""
    instructions: int = 0
    passed_filters: int = 0
    rows: int = 0
    well_formed_rows: int = 0


def generate(c: Contestant, budget: int, out: Path, ceiling: int) -> GenerateResult:
    """`selfinstruct generate` in a child process with c's engine and slots; its wall, CPU and server memory."""
    code = _LAUNCH.format(root=str(ROOT), bench=str(Path(__file__).resolve().parent), engine=c.engine, parallel=c.parallel, legacy=c.legacy)
    args = ["--seeds", str(SEEDS), "--budget", str(budget), "--out", str(out), "--teacher", "local",
            "--local-model", c.model, "--recipe", c.recipe, "--concurrency", str(c.slots)]  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)  # a fresh run: one left by a stopped benchmark would be resumed, not timed whole
    start = time.perf_counter()
    with (out.parent / f"{out.name}.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-c", code, "generate", *args], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        with TreeMemory(proc.pid, include_root=False, ceiling=ceiling) as memory:
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall, cpu = time.perf_counter() - start, usage.ru_utime + usage.ru_stime
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    rows = json.loads((out / "alpaca_data.json").read_text()) if (out / "alpaca_data.json").exists() else []
    note = "killed over the RSS ceiling" if memory.over_ceiling else ("" if proc.returncode == 0 else f"exit {proc.returncode}, see {out}.log")
    return GenerateResult(
        ok=proc.returncode == 0, wall_s=wall, cpu_s=cpu, peak_rss=memory.peak, note=note,
        instructions=summary.get("instructions", 0), passed_filters=summary.get("kept", 0),
        rows=len(rows), well_formed_rows=sum(map(well_formed, rows)),
    )  # fmt: skip


# --- sections ----------------------------------------------------------------------------


def engine_contestants(parallels: list[int], model: str) -> list[Contestant]:
    return [
        Contestant(label="llama-cpp-python, as before", engine="python", legacy=True, model=model),
        Contestant(label="llama-cpp-python, bounded", engine="python", model=model),
        *(Contestant(label=f"llama-server --parallel {n}", engine="native", parallel=n, model=model) for n in parallels),
    ]


def interleaved(contestants: list[Contestant], rounds: int) -> Iterator[tuple[int, Contestant]]:
    for r in range(rounds):
        for c in contestants if r % 2 == 0 else contestants[::-1]:
            yield r, c


def _best_median(values: list[float], fmt: str, higher_is_better: bool = True) -> str:
    if not values:
        return "-"
    best = max(values) if higher_is_better else min(values)
    return f"{best:{fmt}} / {statistics.median(values):{fmt}}"


def measure_engine(c: Contestant, r: int, args: argparse.Namespace, model: LocalModel, ceiling: int) -> dict:
    """One round of one engine contestant: throughput, RSS over requests (first round), a generate run."""
    rec: dict = {"round": r, "label": c.label}
    log = WORK / f"engines-{c.engine}{c.parallel}{'-legacy' if c.legacy else ''}.log"
    command = legacy_python_command if c.legacy else None
    with local_server(model, engine=c.engine, parallel=c.parallel, log_path=log, command=command) as ep:
        with TreeMemory(ep.pid, include_root=True, ceiling=ceiling) as memory:
            client = _client(ep.base_url)
            _ask(client, ep.model, "Say hi.", 4)  # page the weights in
            rec["tps"] = throughput(client, ep.model, c.slots, args.requests, args.tokens)
            print(f"round {r + 1} {c.label}: {rec['tps']:.1f} tokens/s", flush=True)
            if r == 0:
                rec["rss"] = rss_over_requests(client, ep.model, c.slots, memory, args.rss_requests)
                print(f"round {r + 1} {c.label}: RSS over requests (MB) {[round(x / MB) for x in rec['rss']]}", flush=True)
            rec["peak"] = memory.peak
    if c.legacy and not args.legacy_generate:
        return rec
    g = generate(c, args.budget, WORK / f"engines-r{r + 1}-{c.engine}{c.parallel}{'-legacy' if c.legacy else ''}", ceiling)
    rec.update(peak=max(rec["peak"], g.peak_rss), wall=g.wall_s if g.ok else None, note=g.note)
    print(f"round {r + 1} {c.label}: generate --budget {args.budget} {g.wall_s:.0f} s, peak RSS {g.peak_rss / MB:.0f} MB {g.note}", flush=True)
    return rec


def run_engines(args: argparse.Namespace, ceiling: int) -> None:
    contestants = engine_contestants(args.parallel, args.model)
    model = resolve_local_model(args.model)
    # Each finished measurement is journaled, so --resume continues a run that was stopped.
    journal = WORK / f"engines-{args.model}-budget{args.budget}.jsonl"
    done = {(rec["round"], rec["label"]): rec for rec in map(json.loads, journal.read_text().splitlines())} if args.resume and journal.exists() else {}
    if not args.resume:
        journal.unlink(missing_ok=True)
    results: dict[str, dict[str, list]] = {c.label: {"tps": [], "wall": [], "peak": [], "notes": [], "rss": []} for c in contestants}
    for r, c in interleaved(contestants, args.rounds):
        rec = done.get((r, c.label))
        if rec is None:
            rec = measure_engine(c, r, args, model, ceiling)
            with journal.open("a") as f:
                f.write(json.dumps(rec) + "\n")
        res = results[c.label]
        res["tps"].append(rec["tps"])
        res["peak"].append(rec["peak"])
        res["rss"] = rec.get("rss", res["rss"])
        res["wall"] += [rec["wall"]] if rec.get("wall") else []
        res["notes"] += [rec["note"]] if rec.get("note") else []

    print(f"\n== engines: {model.name}, {args.rounds} rounds, best / median; RSS ceiling {args.ceiling_gb} GB")
    print(f"{'engine':30} {'slots':>5} {'tokens/s':>14} {f'budget-{args.budget} wall s':>18} {'peak RSS MB':>12}  RSS after request 1 / 10 / 25 / {args.rss_requests} (MB)")
    base = max(results[contestants[0].label]["tps"], default=0)
    for c in contestants:
        res = results[c.label]
        rss = res["rss"]
        pick = [rss[i - 1] for i in (1, 10, 25, args.rss_requests) if i <= len(rss)]
        trail = " / ".join(f"{x / MB:.0f}" for x in pick) + (f" (stopped at the ceiling after {len(rss)})" if len(rss) < args.rss_requests else "")
        ratio = f" {max(res['tps']) / base:.2f}x" if base and res["tps"] else ""
        print(f"{c.label:30} {c.slots:>5} {_best_median(res['tps'], '.1f'):>14} {_best_median(res['wall'], '.0f', False):>18} "
              f"{max(res['peak'], default=0) / MB:>12.0f}  {trail}{'  ' + '; '.join(sorted(set(res['notes']))) if res['notes'] else ''}"
              f"{'  [tokens/s vs first row:' + ratio + ']' if ratio else ''}")  # fmt: skip


def run_generate_section(args: argparse.Namespace, contestants: list[Contestant], name: str, ceiling: int) -> None:
    runs: dict[str, list[GenerateResult]] = {c.label: [] for c in contestants}
    for r, c in interleaved(contestants, args.rounds):
        out = WORK / f"{name}-r{r + 1}-{c.label.replace(' ', '_')}"
        g = generate(c, args.budget, out, ceiling)
        runs[c.label].append(g)
        print(f"round {r + 1} {c.label}: {g.model_dump_json()} -> {out}", flush=True)
    print(f"\n== {name}: --budget {args.budget}, {args.rounds} rounds, best / median")
    if name == "recipes":
        print(f"{'recipe':16} {'rows':>10} {'well-formed share':>18} {'wall s per well-formed row':>28} {'wall s':>12}")
        for c in contestants:
            ok = [g for g in runs[c.label] if g.ok and g.rows]
            share = [g.well_formed_rows / g.rows for g in ok]
            per_row = [g.wall_s / g.well_formed_rows for g in ok if g.well_formed_rows]
            print(f"{c.recipe:16} {_best_median([g.rows for g in ok], '.0f'):>10} {_best_median(share, '.0%'):>18} "
                  f"{_best_median(per_row, '.1f', False):>28} {_best_median([g.wall_s for g in ok], '.0f', False):>12}")  # fmt: skip
    else:
        print(f"{'model':20} {'passed filters / CPU-min':>26} {'well-formed instances / CPU-min':>33} {'CPU min':>12} {'wall s':>12}")
        for c in contestants:
            ok = [g for g in runs[c.label] if g.ok and g.cpu_s]
            print(f"{c.model:20} {_best_median([g.passed_filters / (g.cpu_s / 60) for g in ok], '.2f'):>26} "
                  f"{_best_median([g.well_formed_rows / (g.cpu_s / 60) for g in ok], '.2f'):>33} "
                  f"{_best_median([g.cpu_s / 60 for g in ok], '.1f', False):>12} {_best_median([g.wall_s for g in ok], '.0f', False):>12}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=["engines", "recipes", "models"], default="engines")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best and median are reported)")
    parser.add_argument("--budget", type=int, default=10, help="generate --budget for the timed runs")
    parser.add_argument("--model", default=DEFAULT_LOCAL_MODEL, choices=list(PACKAGED_MODELS), help="model for engines and recipes")
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4], help="llama-server slot counts (engines)")
    parser.add_argument("--requests", type=int, default=8, help="throughput: long answers per measurement (engines)")
    parser.add_argument("--tokens", type=int, default=64, help="throughput: max tokens per answer (engines)")
    parser.add_argument("--rss-requests", type=int, default=50, help="requests of the RSS run, first round only (engines)")
    parser.add_argument("--legacy-generate", action="store_true", help="also time generate on the legacy llama-cpp-python settings (engines)")
    parser.add_argument("--ceiling-gb", type=float, default=6.0, help="kill a server whose tree RSS passes this")
    parser.add_argument("--resume", action="store_true", help="reuse the measurements a stopped engines run journaled in bench/_work/")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    ceiling = int(args.ceiling_gb * (1 << 30))
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, {default_threads()} usable, {psutil.virtual_memory().total / (1 << 30):.0f} GiB; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True)  # fmt: skip
    if args.section == "engines":
        run_engines(args, ceiling)
    elif args.section == "recipes":
        run_generate_section(args, [Contestant(label=r, recipe=r, model=args.model) for r in ("self-instruct", "alpaca")], "recipes", ceiling)
    else:
        run_generate_section(args, [Contestant(label=m, model=m) for m in PACKAGED_MODELS], "models", ceiling)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
