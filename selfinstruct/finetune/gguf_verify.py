"""Check an exported GGUF against the transformers model it came from: same tokens, same next-token predictions.

    reference = reference_logprobs(model, tokenizer, verification_prompts(template))
    result = verify_gguf(Path("out.gguf"), "Q4_K_M", reference)
    result.passed, result.line()

A wrong tensor layout (a transposed matrix, a missing RoPE permutation, an unshifted norm) loads
fine in llama.cpp and then writes garbage, so every export is run once through llama.cpp itself
(llama-cpp-python, all-position logits) on a few fixed prompts and compared position by position
with transformers on the same token ids:
- tokenization: llama.cpp must split every prompt into exactly the ids the Hugging Face tokenizer
  gives (a wrong vocabulary is as silent as a wrong tensor);
- top-1 agreement: the share of positions where both pick the same next token;
- mean |delta log-prob|: over each position's 10 most likely tokens (by transformers), the mean
  absolute difference of the two log-probabilities. The tail of a 262K vocabulary is left out:
  it says nothing about the answers and would drown the signal.
Thresholds per quantization are in THRESHOLDS, printed beside the figures: tight for F16 (only
rounding of the weights), looser for Q8_0 and Q4_K_M (quantization noise, measured on the
packaged Gemma 3 270M and the tiny test models, with a margin). The F16 file is always checked
first, so a layout mistake meets the tight thresholds even when a 4-bit file is delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from selfinstruct.finetune.data import PromptTemplate

TOP_K = 10


class Threshold(BaseModel):
    """The least top-1 agreement and the largest mean |delta log-prob| that pass."""

    top1: float
    mean_abs_logprob: float


# Measured (tuned Gemma 3 270M / tiny test Llama): F16 100% / 99.7% top-1, mean 0.003 / 0.003;
# Q8_0 94.0% / 92.6%, 0.13 / 0.06; Q4_K_M 78.9%, 0.56 (a 270M model loses much to 4 bits).
# A layout error fails the F16 check, which always runs first; these leave room for quantization noise.
THRESHOLDS = {
    "F16": Threshold(top1=0.97, mean_abs_logprob=0.02),
    "Q8_0": Threshold(top1=0.85, mean_abs_logprob=0.25),
    "Q4_K_M": Threshold(top1=0.65, mean_abs_logprob=1.0),
}
# Fixed prompts: the training prompt (both variants) around ordinary instructions, and plain text.
_INSTRUCTIONS = [
    ("Give three tips for staying healthy.", ""),
    ("Translate the sentence into French.", "The cat is sleeping on the warm windowsill."),
    ("Write a short poem about the sea, then explain its meaning in one sentence.", ""),
]
_PLAIN = "The quick brown fox jumps over the lazy dog. In 1969, the first people walked on the Moon, and"


def verification_prompts(template: PromptTemplate) -> list[str]:
    return [template.render(instruction, input) for instruction, input in _INSTRUCTIONS] + [_PLAIN]


class Reference(BaseModel):
    """One prompt's token ids and the transformers model's log-probabilities at each position (as a list of rows)."""

    model_config = {"arbitrary_types_allowed": True}

    prompt: str
    ids: list[int]
    logprobs: Any  # numpy float32 [positions, vocab]


class VerifyResult(BaseModel):
    """The figures of one check, the thresholds they were held to, and the verdict."""

    quant: str
    prompts: int
    positions: int
    tokenization_matches: bool
    tokenization_problem: str | None = None
    top1_agreement: float
    mean_abs_logprob: float
    max_abs_logprob: float
    threshold: Threshold
    passed: bool

    def line(self) -> str:
        t = self.threshold
        verdict = "pass" if self.passed else "FAIL"
        tokens = "" if self.tokenization_matches else f"; tokenization differs ({self.tokenization_problem})"
        return (
            f"verify {self.quant}: top-1 agreement {100 * self.top1_agreement:.1f}% (needs >= {100 * t.top1:.0f}%), "
            f"mean |delta log-prob| {self.mean_abs_logprob:.4f} (needs <= {t.mean_abs_logprob:g}) over {self.positions} positions "
            f"of {self.prompts} prompts{tokens}: {verdict}"
        )


def _hf_ids(tokenizer: Any, prompt: str) -> list[int]:
    # As `ask` prompts the model: special tokens added, text never parsed as special tokens, no trailing EOS.
    ids = tokenizer(prompt, add_special_tokens=True, split_special_tokens=True)["input_ids"]
    if ids and ids[-1] == tokenizer.eos_token_id:
        ids = ids[:-1]
    return list(ids)


def reference_logprobs(model: Any, tokenizer: Any, prompts: list[str]) -> list[Reference]:
    """The transformers model's next-token log-probabilities at every position of each prompt."""
    import torch

    out = []
    with torch.no_grad():
        for prompt in prompts:
            ids = _hf_ids(tokenizer, prompt)
            logits = model(input_ids=torch.tensor([ids], device=model.device)).logits[0].float()
            out.append(Reference(prompt=prompt, ids=ids, logprobs=torch.log_softmax(logits, dim=-1).cpu().numpy()))
    return out


def llama_logprobs(path: Path, references: list[Reference], n_threads: int | None = None) -> tuple[list[Any], list[list[int]]]:
    """llama.cpp's log-probabilities on the references' token ids, and its own tokenization of each prompt."""
    import numpy as np
    from llama_cpp import Llama

    longest = max(len(r.ids) for r in references)
    n_ctx = max(64, -(-longest // 64) * 64)
    llm = Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, n_threads=n_threads, logits_all=True, verbose=False)
    try:
        logprobs, tokenized = [], []
        for ref in references:
            tokenized.append(llm.tokenize(ref.prompt.encode("utf-8"), add_bos=True, special=False))
            llm.reset()
            llm.eval(ref.ids)
            logits = np.asarray(llm.scores[: len(ref.ids)], dtype=np.float64)
            shifted = logits - logits.max(axis=-1, keepdims=True)
            logprobs.append(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))
        return logprobs, tokenized
    finally:
        llm.close()


def compare(quant: str, references: list[Reference], logprobs: list[Any], tokenized: list[list[int]]) -> VerifyResult:
    """Top-1 agreement and |delta log-prob| over every position of every prompt, held to the quant's threshold."""
    import numpy as np

    agree, positions, diffs = 0, 0, []
    problem = None
    for ref, theirs, ids in zip(references, logprobs, tokenized):
        ours = np.asarray(ref.logprobs, dtype=np.float64)
        if theirs.shape != ours.shape:
            raise ValueError(f"llama.cpp gives {theirs.shape[-1]} logits per position, transformers {ours.shape[-1]}")
        agree += int((ours.argmax(-1) == theirs.argmax(-1)).sum())
        positions += ours.shape[0]
        top = np.argsort(-ours, axis=-1)[:, :TOP_K]
        diffs.append(np.abs(np.take_along_axis(ours, top, -1) - np.take_along_axis(theirs, top, -1)).ravel())
        if problem is None and list(ids) != ref.ids:
            first = next((i for i, (a, b) in enumerate(zip(ids, ref.ids)) if a != b), min(len(ids), len(ref.ids)))
            problem = f"prompt {references.index(ref) + 1}, token {first}: llama.cpp {list(ids)[first:first + 3]}, transformers {ref.ids[first:first + 3]}"
    all_diffs = np.concatenate(diffs)
    threshold = THRESHOLDS[quant]
    top1, mean_abs = agree / positions, float(all_diffs.mean())
    return VerifyResult(
        quant=quant, prompts=len(references), positions=positions, tokenization_matches=problem is None,
        tokenization_problem=problem, top1_agreement=round(top1, 4), mean_abs_logprob=round(mean_abs, 5),
        max_abs_logprob=round(float(all_diffs.max()), 4), threshold=threshold,
        passed=problem is None and top1 >= threshold.top1 and mean_abs <= threshold.mean_abs_logprob,
    )  # fmt: skip


def verify_gguf(path: Path, quant: str, references: list[Reference], n_threads: int | None = None) -> VerifyResult:
    """Load the GGUF with llama.cpp and compare it with the references."""
    logprobs, tokenized = llama_logprobs(path, references, n_threads)
    return compare(quant, references, logprobs, tokenized)
