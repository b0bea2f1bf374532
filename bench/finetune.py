"""Benchmark: LoRA fine-tuning throughput of the packaged Gemma 3 270M on this machine, by batching strategy.

    python bench/finetune.py                   # 200 synthetic Alpaca rows, 6 steps per strategy
    python bench/finetune.py --steps 10 --rounds 2 --with-trl-loss

Runs the real `finetune` (same code as the command) once per strategy on the same data, seed and
settings, one after another in this process, and prints real (non-padding) training tokens per
second side by side, as a ratio to naive padding:

  padded        every batch padded to --max-length (the naive baseline)
  grouped       batches of similar length (transformers' LengthGroupedSampler), padded to their longest
  padding-free  the batch concatenated into one row, position ids restart per sample, no pad tokens

--with-trl-loss adds padding-free with TRL's own fused LM-head loss instead of ours (which scores
only the labelled positions off CUDA; see selfinstruct/finetune/trainer.py). Other work on the
machine skews absolute numbers: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from selfinstruct.finetune.base import resolve_base_model  # noqa: E402
from selfinstruct.finetune.settings import FinetuneConfig  # noqa: E402
from selfinstruct.finetune.train import finetune  # noqa: E402
from tests.fixtures.alpaca_synth import make_rows  # noqa: E402

STRATEGIES = ("padded", "grouped", "padding-free")


def run_once(data: Path, work: Path, batching: str, args: argparse.Namespace, trl_loss: bool = False) -> dict:
    """One short LoRA run; returns its training summary."""
    from selfinstruct.finetune.trainer import ResponseLossSFTTrainer

    original = ResponseLossSFTTrainer.__init__
    if trl_loss:
        def with_trl_loss(self, *a, **k):  # type: ignore[no-untyped-def]
            original(self, *a, **k)
            self.compact_loss = False

        ResponseLossSFTTrainer.__init__ = with_trl_loss  # type: ignore[method-assign]
    try:
        cfg = FinetuneConfig(
            data=data, out=work / f"{batching}{'-trl' if trl_loss else ''}", max_steps=args.steps,
            batch_size=args.batch_size, max_length=args.max_length, batching=batching, val_size=0.0,
            save_steps=10_000, precision=args.precision,
        )  # fmt: skip
        return finetune(cfg, Console(stderr=True, quiet=not args.verbose))
    finally:
        ResponseLossSFTTrainer.__init__ = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200, help="synthetic Alpaca rows to train on")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per strategy")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated; the first is the reference")
    parser.add_argument("--rounds", type=int, default=1, help="run every strategy this many times, interleaved; keep the best")
    parser.add_argument("--with-trl-loss", action="store_true", help="also time padding-free with TRL's own loss")
    parser.add_argument("--verbose", action="store_true", help="show each run's progress lines")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    resolve_base_model("gemma-3-270m", Console(stderr=True))  # convert once, outside the timings
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        work = Path(tmp)
        data = work / "alpaca_data.json"
        data.write_text(json.dumps(make_rows(args.rows)), encoding="utf-8")
        runs = [(name, False) for name in args.strategies.split(",")] + ([("padding-free", True)] if args.with_trl_loss else [])
        best: dict[str, dict] = {}
        for round_no in range(args.rounds):
            # Interleaved, so a burst of other work on the machine hits every strategy alike.
            for batching, trl_loss in runs:
                label = batching + (" (TRL loss)" if trl_loss else "")
                started = time.time()
                summary = run_once(data, work / f"round{round_no}", batching, args, trl_loss)
                print(f"  {label}: {summary['tokens_per_second']:.1f} tok/s ({time.time() - started:.0f} s with setup)", file=sys.stderr)
                if label not in best or summary["tokens_per_second"] > best[label]["tokens_per_second"]:
                    best[label] = summary
        results = list(best.items())

    first = results[0][1]
    print(
        f"Gemma 3 270M (packaged) LoRA r={first['settings']['lora_r']} all-linear, {first['precision']}, "
        f"{args.rows} synthetic Alpaca rows (mean {first['data']['mean_sample']} tokens), batch {args.batch_size}, "
        f"max length {args.max_length}, {args.steps} steps each, best of {args.rounds}, {first['device']}"
    )
    print(f"{'batching':<26}{'real tok/s':>12}{'s/step':>10}{'vs padded':>12}")
    base = results[0][1]["tokens_per_second"]
    for label, s in results:
        per_step = s["train_seconds"] / max(1, s["steps"])
        print(f"{label:<26}{s['tokens_per_second']:>12.1f}{per_step:>10.1f}{s['tokens_per_second'] / base:>11.2f}x")


if __name__ == "__main__":
    main()
