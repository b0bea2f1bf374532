"""`selfinstruct ask`: try a fine-tuned student on one instruction, with the prompt it was trained on.

    text = ask(AskConfig(model_dir=Path("outputs/run/model"), instruction="Name three primary colors."))

    model, tokenizer = load_tuned(model_dir)                  # or, step by step
    text = answer(model, tokenizer, PromptTemplate.from_model_dir(model_dir).render(instruction), 256, 0.0)

Loads a LoRA output (its base model plus the adapter) or a full / merged model, renders the
prompt from the output's own prompt_template.json, and decodes (greedily at temperature 0)
until EOS or max_new_tokens. A `.gguf` exported by `export-model` is served by the embedded
llama.cpp server instead and prompted with the template stored in its metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfinstruct.config import AskConfig
from selfinstruct.errors import UserError
from selfinstruct.finetune.base import (
    BaseModelRef,
    load_model,
    match_vocab,
    prefer_offline,
    quiet_libraries,
    resolve_base_model,
)
from selfinstruct.finetune.data import PromptTemplate


def _base_spec(model_dir: Path) -> str:
    """The base a LoRA output was trained on, as the user named it (so the packaged alias resolves on any machine)."""
    # With --merge the adapter sits in OUT/adapter/, and the summary one level up.
    for summary in (model_dir / "training_summary.json", model_dir.parent / "training_summary.json"):
        if summary.is_file():
            return _read_key(summary, "base_model")
    return _read_key(model_dir / "adapter_config.json", "base_model_name_or_path")


def _read_key(path: Path, key: str) -> str:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise UserError(f"{path}: unreadable, or has no {key!r}; is this the output of finetune?")
    return value


def load_tuned(model_dir: Path) -> tuple[Any, Any]:
    """The tuned model (base + adapter, or a full model) and its tokenizer, in eval mode."""
    if not model_dir.exists():
        raise UserError(f"{model_dir}: no such directory")
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: is a file; pass the --out directory of finetune")
    has_adapter = (model_dir / "adapter_config.json").is_file()
    has_model = (model_dir / "config.json").is_file()
    if not (has_adapter or has_model):
        raise UserError(f"{model_dir}: not a fine-tuned model (no adapter_config.json or config.json); pass the --out dir of finetune")
    prefer_offline(str(model_dir) if has_model else _base_spec(model_dir))
    import torch
    from transformers import AutoTokenizer

    quiet_libraries()
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{model_dir}: cannot load its tokenizer ({first})") from None
    if has_model:
        # A full or merged model is self-contained; prefer it over the adapter kept beside it.
        model = load_model(BaseModelRef(spec=str(model_dir), path=str(model_dir), kind="directory"), dtype)
    else:
        from peft import PeftModel

        base = load_model(resolve_base_model(_base_spec(model_dir)), dtype)
        match_vocab(tokenizer, base)
        model = PeftModel.from_pretrained(base, str(model_dir))
    if torch.cuda.is_available():
        model = model.to("cuda")
    model.eval()
    return model, tokenizer


def answer(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, temperature: float) -> str:
    """The model's answer to a rendered prompt: new tokens only, up to EOS, special tokens dropped."""
    import torch
    from transformers import GenerationConfig

    enc = tokenizer(prompt, add_special_tokens=True, split_special_tokens=True, return_tensors="pt")
    ids = enc["input_ids"]
    if ids[0, -1].item() == tokenizer.eos_token_id:
        # Some tokenizers append EOS to every text; training stripped it from the prompt too.
        ids = ids[:, :-1]
    ids = ids.to(model.device)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=temperature > 0,
        temperature=temperature if temperature > 0 else None,
        top_p=None,
        top_k=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def ask_gguf(cfg: AskConfig) -> str:
    """Answer with an exported .gguf through the embedded llama.cpp server, prompted with the template stored in it."""
    import asyncio
    import tempfile

    from selfinstruct.config import TeacherSettings
    from selfinstruct.finetune.gguf_vocab import read_prompt_template
    from selfinstruct.teacher.client import Decoding
    from selfinstruct.teacher.endpoint import open_teacher, resolve_endpoint
    from selfinstruct.teacher.packaged import check_gguf

    check_gguf(cfg.model_dir)
    template = read_prompt_template(cfg.model_dir) or PromptTemplate.load()
    prompt = template.render(cfg.instruction, cfg.input)
    endpoint = resolve_endpoint(TeacherSettings(teacher="local", local_model=str(cfg.model_dir), api="completions", concurrency=1))
    decoding = Decoding(temperature=cfg.temperature, top_p=1.0, max_tokens=cfg.max_new_tokens)

    async def complete(teacher: Any) -> str:
        try:
            return (await teacher.complete(prompt, decoding, stage="ask")).text.strip()
        finally:
            await teacher.aclose()

    with tempfile.TemporaryDirectory(prefix="selfinstruct-ask-") as tmp, open_teacher(endpoint, server_log=Path(tmp) / "llama.log") as teacher:
        return asyncio.run(complete(teacher))


def ask(cfg: AskConfig) -> str:
    """Answer one instruction (and optional input) with a fine-tuned model, or with a GGUF exported from one."""
    if cfg.model_dir.suffix == ".gguf" and not cfg.model_dir.is_dir():
        return ask_gguf(cfg)
    model, tokenizer = load_tuned(cfg.model_dir)
    prompt = PromptTemplate.from_model_dir(cfg.model_dir).render(cfg.instruction, cfg.input)
    return answer(model, tokenizer, prompt, cfg.max_new_tokens, cfg.temperature)
