"""Benchmark: generation speed of a tuned student, transformers fp32 on CPU vs llama.cpp at F16, Q8_0 and Q4_K_M.

    python bench/student.py                          # tunes the packaged Gemma 3 270M for 8 LoRA steps first
    python bench/student.py outputs/run/model --tokens 128 --rounds 2

Exports the student with the real `export-model` code (each file verified against transformers)
into bench/_work/student/, then generates --tokens tokens greedily from the same Alpaca prompt in
each setup, one after another in this process, EOS ignored so every setup makes the same number
of tokens. Prints tokens per second (prompt processing excluded) beside each file's size, and the
ratio to transformers fp32 measured in the same run. Other work on the machine skews absolute
numbers: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from selfinstruct.finetune.data import PromptTemplate  # noqa: E402
from selfinstruct.finetune.export_gguf import export_gguf, load_dense  # noqa: E402
from selfinstruct.finetune.settings import ExportModelConfig, FinetuneConfig  # noqa: E402
from selfinstruct.finetune.train import finetune  # noqa: E402
from selfinstruct.teacher.llama_server import default_threads  # noqa: E402
from tests.fixtures.alpaca_synth import make_rows  # noqa: E402

WORK = Path(__file__).resolve().parent / "_work" / "student"
QUANTS = ("F16", "Q8_0", "Q4_K_M")
INSTRUCTION = "Write a short story about a robot who learns to paint."


def tuned_student(console: Console) -> Path:
    """An 8-step LoRA of the packaged Gemma 3 270M, trained once and reused."""
    out = WORK / "model"
    if (out / "adapter_model.safetensors").is_file():
        return out
    data = WORK / "alpaca_data.json"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps(make_rows(32)), encoding="utf-8")
    finetune(FinetuneConfig(data=data, out=out, max_steps=8, batch_size=4, val_size=0.0), console)
    return out


def transformers_speed(model_dir: Path, prompt: str, tokens: int, threads: int) -> tuple[float, int]:
    """Tokens per second of the merged fp32 model, and the size of its weights in bytes."""
    import torch

    torch.set_num_threads(threads)
    model, tokenizer = load_dense(model_dir, lambda *a, **k: None)
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        model(input_ids=ids)  # warm up
        start = time.perf_counter()
        prefill = model(input_ids=ids, use_cache=True)
        prefill_s = time.perf_counter() - start
        start = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, min_new_tokens=tokens,
                             do_sample=False, top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
        elapsed = time.perf_counter() - start - prefill_s
    del prefill
    assert out.shape[1] - ids.shape[1] == tokens
    return tokens / elapsed, sum(p.numel() * p.element_size() for p in model.parameters())


def llama_speed(path: Path, prompt: str, tokens: int, threads: int) -> float:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=1024, n_threads=threads, verbose=False)
    try:
        ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
        count = 0
        start = None
        # Llama.generate yields greedy tokens without stopping at EOS; the clock starts after the first (prompt processing).
        for _ in llm.generate(ids, temp=0.0, top_k=1):
            if start is None:
                start = time.perf_counter()
                continue
            count += 1
            if count == tokens:
                break
        return count / (time.perf_counter() - start)
    finally:
        llm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", nargs="?", type=Path, help="a finetune output dir; default: tune the packaged Gemma for 8 steps")
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated per setup")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--rounds", type=int, default=1, help="measure every setup this many times, interleaved; keep the best")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True, quiet=not args.verbose)
    model_dir = args.model_dir or tuned_student(console)
    prompt = PromptTemplate.from_model_dir(model_dir).render(INSTRUCTION)
    files: dict[str, tuple[Path, str]] = {}
    for quant in QUANTS:
        path = WORK / f"student-{quant}.gguf"
        result = export_gguf(ExportModelConfig(model_dir=model_dir, gguf=path, quant=quant, force=True, threads=args.threads), console)
        files[quant] = (path, result.verification[-1].line())
    best: dict[str, float] = {}
    weights = 0
    for _ in range(args.rounds):
        speed, weights = transformers_speed(model_dir, prompt, args.tokens, args.threads)
        best["transformers fp32"] = max(best.get("transformers fp32", 0.0), speed)
        for quant, (path, _) in files.items():
            best[f"llama.cpp {quant}"] = max(best.get(f"llama.cpp {quant}", 0.0), llama_speed(path, prompt, args.tokens, args.threads))
    reference = best["transformers fp32"]
    print(f"student {model_dir}, {args.tokens} tokens greedy, {args.threads} threads, best of {args.rounds}")
    print(f"{'setup':<20} {'file size':>10} {'tok/s':>8} {'vs fp32':>8}")
    print(f"{'transformers fp32':<20} {weights / 1e6:>7.0f} MB {reference:>8.1f} {1.0:>7.2f}x")
    for quant, (path, _) in files.items():
        speed = best[f"llama.cpp {quant}"]
        print(f"{'llama.cpp ' + quant:<20} {path.stat().st_size / 1e6:>7.0f} MB {speed:>8.1f} {speed / reference:>7.2f}x")
    for _, line in files.values():
        print(line)


if __name__ == "__main__":
    main()
