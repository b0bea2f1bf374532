"""Benchmark: answers per second of eval's local generation on the packaged Gemma 3 270M, batched vs one at a time.

    python bench/eval.py                          # 16 shipped eval tasks, 64 new tokens, batch 8, 2 rounds
    python bench/eval.py --tasks 32 --max-new-tokens 128 --batch-size 16

Loads the packaged student base once (the same loader `eval` uses), renders the first N shipped
eval tasks with the Alpaca prompt, and generates their answers greedily both ways with the same
code `eval` runs (selfinstruct/evaluate/generation.py): in batches of --batch-size (left-padded,
longest prompts first) and one prompt at a time. Rounds alternate the two, and the best round of
each is printed side by side with the ratio. Both ways must give the same answers; a mismatch is
reported. Other work on the machine skews absolute numbers: compare the ratio from one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfinstruct.evaluate.contestants import parse_contestant  # noqa: E402
from selfinstruct.evaluate.generation import batched_answers, load_contestant, render_prompt  # noqa: E402
from selfinstruct.evaluate.tasks import default_tasks_path, read_tasks  # noqa: E402
from selfinstruct.finetune.data import PromptTemplate  # noqa: E402


def timed(model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int) -> tuple[float, list[str], int]:  # type: ignore[no-untyped-def]
    """Seconds to answer every prompt, the answers in prompt order, and the tokens generated."""
    started = time.perf_counter()
    answers: dict[int, str] = {}
    tokens = 0
    for batch in batched_answers(model, tokenizer, prompts, template=PromptTemplate.load(), max_new_tokens=max_new_tokens, batch_size=batch_size):
        for index, generated in batch:
            answers[index] = generated.text
            tokens += generated.completion_tokens
    return time.perf_counter() - started, [answers[i] for i in range(len(prompts))], tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="Contestant spec to load (default: the packaged student base).")
    parser.add_argument("--tasks", type=int, default=16, help="First N shipped eval tasks to answer.")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    tasks = read_tasks(default_tasks_path()).tasks[: args.tasks]
    started = time.perf_counter()
    model, tokenizer = load_contestant(parse_contestant(args.model, "a"))
    print(f"loaded {args.model} in {time.perf_counter() - started:.1f} s; {len(tasks)} tasks, up to {args.max_new_tokens} new tokens each")
    prompts = [render_prompt(t, PromptTemplate.load(), tokenizer) for t in tasks]
    best: dict[str, tuple[float, int]] = {}
    answers: dict[str, list[str]] = {}
    for round_no in range(1, args.rounds + 1):
        for name, size in (("batched", args.batch_size), ("one at a time", 1)):
            seconds, texts, tokens = timed(model, tokenizer, prompts, size, args.max_new_tokens)
            print(f"round {round_no}  {name:>13}: {seconds:7.1f} s  {len(prompts) / seconds:6.2f} answers/s  {tokens / seconds:7.1f} tokens/s")
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, tokens)
            answers[name] = texts
    batched, single = best["batched"], best["one at a time"]
    print(f"\nbest of {args.rounds}: batched (batch {args.batch_size}) {len(prompts) / batched[0]:.2f} answers/s, "
          f"one at a time {len(prompts) / single[0]:.2f} answers/s: {single[0] / batched[0]:.2f}x")  # fmt: skip
    same = sum(a == b for a, b in zip(answers["batched"], answers["one at a time"]))
    print(f"identical answers both ways: {same} of {len(prompts)}")


if __name__ == "__main__":
    main()
