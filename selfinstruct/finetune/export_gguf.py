"""`selfinstruct export-model`: a tuned student as one verified GGUF file that llama.cpp, Ollama or LM Studio run.

    result = export_gguf(ExportModelConfig(model_dir=Path("outputs/run/model"), gguf=Path("student.gguf"), quant="Q4_K_M"), console)

Top to bottom: load the finetune output (base + LoRA adapter merged into dense float32 weights, or
the full / merged model), write it as an F16 GGUF (gguf_convert.py), quantize it with llama.cpp's
own `llama_model_quantize` unless F16 was asked for, then verify with llama.cpp against the
transformers model (gguf_verify.py): the F16 file to tight thresholds, which catches any layout
mistake, and the delivered file to its quantization's thresholds. Only a file that passes is moved
to OUT; one that fails is kept beside it as OUT.unverified.gguf for inspection, and the command
exits non-zero. The model card (MODEL_DIR/README.md) gains the file's name, size, quantization,
SHA-256 and the figures; MODEL_DIR/gguf_exports.json keeps them for every exported file.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from selfinstruct.errors import BrokenOutput, UserError
from selfinstruct.finetune.data import PromptTemplate
from selfinstruct.finetune.gguf_verify import VerifyResult
from selfinstruct.finetune.output import put_card_section
from selfinstruct.finetune.settings import ExportModelConfig
from selfinstruct.model_files import file_sha256
from selfinstruct.safe_files import write_json_atomic

EXPORTS_FILE = "gguf_exports.json"
_CARD_START, _CARD_END = "<!-- gguf-exports -->", "<!-- /gguf-exports -->"


class ExportResult(BaseModel):
    """One exported file and the checks it passed; a row of gguf_exports.json and of the model card."""

    file: str
    path: str
    quant: str
    size_bytes: int
    sha256: str
    architecture: str
    vocabulary: str
    verification: list[VerifyResult]


def check_gguf_target(out: Path, force: bool, taken: str = "pass --force to replace it") -> None:
    """Refuse a target that is not a .gguf path, or one that exists without --force, before any work."""
    if out.suffix != ".gguf":
        raise UserError(f"--gguf {out}: the file name must end in .gguf")
    if out.is_dir():
        raise UserError(f"--gguf {out}: is a directory; give a file name ending in .gguf")
    if out.exists() and not force:
        raise UserError(f"--gguf {out}: exists; {taken}")


def source_gguf(model_dir: Path) -> Path | None:
    """The GGUF the base model came from (the packaged Gemma, or a --base-model .gguf), whose tokenizer keys we can reuse."""
    from selfinstruct.finetune.base import base_model_kind, packaged_gemma_gguf

    for summary in (model_dir / "training_summary.json", model_dir.parent / "training_summary.json"):
        if summary.is_file():
            try:
                spec = json.loads(summary.read_text(encoding="utf-8")).get("base_model")
            except ValueError:
                return None
            if not isinstance(spec, str):
                return None
            try:
                kind = base_model_kind(spec)
            except UserError:
                return None
            if kind == "packaged":
                return packaged_gemma_gguf()
            return Path(spec).expanduser() if kind == "gguf" else None
    return None


@contextlib.contextmanager
def native_logs_to(log: Path) -> Iterator[None]:
    """Send what llama.cpp prints (per-tensor quantization lines, cache notes) to a file instead of the terminal.

    Its log callback prints through Python's sys.stderr, filtered by llama-cpp-python's logger; a few
    lines come straight from C on file descriptors 1 and 2. SELFINSTRUCT_DEBUG=1 shows everything.
    """
    if os.environ.get("SELFINSTRUCT_DEBUG") == "1":
        yield
        return
    import sys

    from llama_cpp import _logger

    level = _logger.logger.level
    _logger.set_verbose(False)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with log.open("ab") as fh:
            os.dup2(fh.fileno(), 1)
            os.dup2(fh.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        _logger.logger.setLevel(level)


def quantize(source: Path, dest: Path, quant: str, n_threads: int) -> None:
    """Quantize an F16 GGUF with llama.cpp's llama_model_quantize (llama-cpp-python)."""
    import llama_cpp

    ftypes = {"Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M}
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftypes[quant]
    params.nthread = n_threads
    log = dest.with_name(dest.name + ".log")
    with native_logs_to(log):
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), ctypes.byref(params))
    if rc != 0 or not dest.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
        raise BrokenOutput(f"llama.cpp could not quantize {source.name} to {quant} (llama_model_quantize returned {rc}{': ' + tail[0] if tail else ''})")


def load_dense(model_dir: Path, say: Any) -> tuple[Any, Any]:
    """The tuned model with any LoRA adapter merged into dense float32 weights, on the CPU, and its tokenizer."""
    import torch

    from selfinstruct.finetune.ask import load_tuned

    say(f"loading {model_dir}")
    model, tokenizer = load_tuned(model_dir)
    if hasattr(model, "merge_and_unload"):
        say("merging the LoRA adapter into the base weights")
        model = model.merge_and_unload()
    return model.to(device="cpu", dtype=torch.float32).eval(), tokenizer


def export_gguf(cfg: ExportModelConfig, console: Console) -> ExportResult:
    """Write, quantize and verify one GGUF; record it in the model card. BrokenOutput when verification fails."""
    check_gguf_target(cfg.gguf, cfg.force)
    if not (cfg.model_dir / "adapter_config.json").is_file() and not (cfg.model_dir / "config.json").is_file():
        raise UserError(f"{cfg.model_dir}: not a fine-tuned model (no adapter_config.json or config.json); pass the --out dir of finetune")
    import llama_cpp  # noqa: F401  (fail before the slow part when the local extra is missing)

    from selfinstruct.finetune.gguf_convert import gguf_architecture, write_f16_gguf
    from selfinstruct.finetune.gguf_verify import reference_logprobs, verification_prompts
    from selfinstruct.teacher.llama_server import default_threads

    say = console.print
    threads = cfg.threads or default_threads()
    model, tokenizer = load_dense(cfg.model_dir, say)
    arch = gguf_architecture(model.config)
    template = PromptTemplate.from_model_dir(cfg.model_dir)
    references = reference_logprobs(model, tokenizer, verification_prompts(template))
    out = cfg.gguf
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.stem}."))
    try:
        f16 = work / "model.f16.gguf"
        say(f"writing {arch.hf} as an F16 GGUF ({llama_name(cfg.model_dir)})")
        vocab = write_f16_gguf(model, tokenizer, template, f16, cfg.model_dir, source_gguf=source_gguf(cfg.model_dir), name=llama_name(cfg.model_dir))
        del model
        results = [_verify(f16, "F16", references, threads, out, say)]
        final = f16
        if cfg.quant != "F16" and results[-1].passed:
            final = work / f"model.{cfg.quant}.gguf"
            say(f"quantizing to {cfg.quant} with llama.cpp")
            quantize(f16, final, cfg.quant, threads)
            results.append(_verify(final, cfg.quant, references, threads, out, say))
        failed = next((r for r in results if not r.passed), None)
        if failed is not None:
            kept = out.with_name(out.stem + ".unverified.gguf")
            os.replace(final, kept)
            raise BrokenOutput(f"the exported GGUF does not match the transformers model ({failed.line()}); "
                               f"not written to {out}; the failing file is kept as {kept}")  # fmt: skip
        os.replace(final, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = ExportResult(
        file=out.name, path=str(out.resolve()), quant=cfg.quant, size_bytes=out.stat().st_size, sha256=file_sha256(out),
        architecture=arch.hf, vocabulary=vocab.source, verification=results,
    )  # fmt: skip
    record_export(cfg.model_dir, result)
    return result


def _verify(path: Path, quant: str, references: list[Any], threads: int, out: Path, say: Any) -> VerifyResult:
    """verify_gguf with llama.cpp's chatter kept out of the terminal; a file llama.cpp cannot load is a BrokenOutput."""
    from selfinstruct.finetune.gguf_verify import verify_gguf

    log = path.with_name(path.name + ".log")
    try:
        with native_logs_to(log):
            result = verify_gguf(path, quant, references, threads)
    except ValueError:
        kept = out.with_name(out.stem + ".unverified.gguf")
        os.replace(path, kept)
        lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
        why = next((line.strip() for line in reversed(lines) if "error" in line.lower()), "SELFINSTRUCT_DEBUG=1 shows llama.cpp's log")
        raise BrokenOutput(f"llama.cpp cannot load the exported {quant} GGUF ({why}); not written to {out}; "
                           f"the file is kept as {kept}") from None  # fmt: skip
    say(result.line(), highlight=False, soft_wrap=True)
    return result


def llama_name(model_dir: Path) -> str:
    """general.name of the export: the output directory's name, or its run's when it is the usual .../model."""
    resolved = model_dir.resolve()
    return f"{resolved.parent.name}-{resolved.name}" if resolved.name == "model" else resolved.name


def record_export(model_dir: Path, result: ExportResult) -> None:
    """Add (or replace, by path) the export in MODEL_DIR/gguf_exports.json and in the model card's GGUF section."""
    path = model_dir / EXPORTS_FILE
    try:
        rows = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    except ValueError:
        rows = []
    rows = [r for r in rows if isinstance(r, dict) and r.get("path") != result.path] + [result.model_dump(mode="json")]
    write_json_atomic(path, rows)
    section = card_section([ExportResult.model_validate(r) for r in rows])
    put_card_section(model_dir / "README.md", section, _CARD_START, _CARD_END, title=f"# {model_dir.name}\n")


def card_section(rows: list[ExportResult]) -> str:
    """The model card's GGUF section: one line per file, then each file's verification figures."""
    lines = [_CARD_START, "## GGUF", "",
             "Exported with `selfinstruct export-model`, quantized by llama.cpp, and checked against this model in "
             "transformers on fixed prompts (next-token top-1 agreement; mean |delta log-prob| over the top 10 tokens).", "",
             "| file | quantization | size | sha256 |", "|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| `{r.file}` | {r.quant} | {r.size_bytes / 1e6:.1f} MB | `{r.sha256}` |")
    lines.append("")
    for r in rows:
        for v in r.verification:
            lines.append(f"- `{r.file}`, {v.line()}")
    lines += ["", "```", f"selfinstruct ask {rows[-1].file} \"Give three tips for staying healthy.\"",
              f"python -m llama_cpp.server --model {rows[-1].file}", "```", _CARD_END]  # fmt: skip
    return "\n".join(lines)
