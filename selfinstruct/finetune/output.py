"""What `finetune` leaves behind, and proof it is usable: weights, tokenizer, template, summary, model card.

    OUT/adapter_model.safetensors + adapter_config.json   (lora; with --merge: OUT/adapter/ and the merged model in OUT/)
    OUT/model.safetensors + config.json                   (full, or lora --merge)
    OUT/tokenizer*, OUT/prompt_template.json, OUT/training_summary.json, OUT/README.md

A saved adapter is read back and checked (every expected key present, sizes add up, the trained
matrices are not all zero): an empty or untrained adapter is a failure, not a file.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from selfinstruct.errors import BrokenOutput
from selfinstruct.finetune.base import BaseModelRef
from selfinstruct.finetune.data import DataStats, PromptTemplate
from selfinstruct.finetune.repair import describe_repairs
from selfinstruct.finetune.settings import FinetuneConfig
from selfinstruct.model_files import file_sha256
from selfinstruct.safe_files import write_json_atomic, write_text_atomic


def save_outputs(
    trainer: Any, cfg: FinetuneConfig, ref: BaseModelRef, template: PromptTemplate | None, stats: DataStats, out: Path, extra: dict[str, Any]
) -> dict[str, Any]:
    """Save weights and tokenizer (every process takes part, for sharded setups); the main process checks and documents."""
    from peft import PeftModel, get_peft_model_state_dict

    is_lora = isinstance(trainer.model, PeftModel)
    adapter_dir = out / "adapter" if cfg.merge else out
    trainer.save_model(str(adapter_dir))
    if not trainer.is_world_process_zero():
        return {}
    # Counted before a merge, which strips the adapter out of the model.
    extra = {**extra, "trainable_params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
             "total_params": sum(p.numel() for p in trainer.model.parameters())}
    if is_lora:
        check_adapter(adapter_dir, set(get_peft_model_state_dict(trainer.model)))
    if cfg.merge:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(out))
        trainer.processing_class.save_pretrained(str(out))
    if not is_lora or cfg.merge:
        check_full_model(out)
    # A chat-trained model has no prompt_template.json: its chat template is in the tokenizer files.
    for directory in {out, adapter_dir} if template is not None else ():
        write_text_atomic(directory / "prompt_template.json", template.model_dump_json(indent=2) + "\n")
    summary = {"out": str(out), **build_summary(trainer, cfg, ref, stats, extra, is_lora)}
    write_json_atomic(out / "training_summary.json", summary)
    write_text_atomic(out / "README.md", model_card(summary))
    return summary


def check_adapter(directory: Path, expected: set[str]) -> None:
    """Fail loudly on an adapter file that is missing keys, truncated, or untrained (all-zero B matrices)."""
    from safetensors import safe_open

    path = directory / "adapter_model.safetensors"
    if not path.is_file():
        raise BrokenOutput(f"{path}: adapter file was not written")
    expected = {k.replace(".default", "") for k in expected}
    with safe_open(str(path), framework="pt") as fh:
        keys = set(fh.keys())
        missing = sorted(expected - keys)
        if not keys or missing:
            raise BrokenOutput(f"{path}: adapter is missing {len(missing)} of {len(expected)} weights (e.g. {missing[:1]})")
        tensor_bytes = 0
        trained = 0
        for key in keys:
            tensor = fh.get_tensor(key)
            tensor_bytes += tensor.numel() * tensor.element_size()
            if "lora_B" in key and bool(tensor.abs().sum() > 0):
                trained += 1
    if path.stat().st_size < tensor_bytes:
        raise BrokenOutput(f"{path}: file is {path.stat().st_size} bytes, smaller than its {tensor_bytes} bytes of weights")
    if not any("lora_B" in k for k in keys) or trained == 0:
        raise BrokenOutput(f"{path}: every LoRA B matrix is zero, so the adapter changes nothing (did training run?)")


def check_full_model(directory: Path) -> None:
    """Fail loudly when a saved full model has no weights file or an empty one."""
    single = directory / "model.safetensors"
    index = directory / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        files = sorted({directory / f for f in json.loads(index.read_text())["weight_map"].values()})
    else:
        raise BrokenOutput(f"{directory}: no model.safetensors was written")
    from safetensors import safe_open

    for path in files:
        with safe_open(str(path), framework="pt") as fh:
            if not list(fh.keys()):
                raise BrokenOutput(f"{path}: weights file holds no tensors")


def build_summary(trainer: Any, cfg: FinetuneConfig, ref: BaseModelRef, stats: DataStats, extra: dict[str, Any], is_lora: bool) -> dict[str, Any]:
    """Counts, losses and speed of the run, for training_summary.json and the model card."""
    import peft
    import torch
    import transformers
    import trl

    from selfinstruct.finetune.progress import ProgressPrinter

    history = trainer.state.log_history
    train_losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    val_losses = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    printer = next((c for c in trainer.callback_handler.callbacks if isinstance(c, ProgressPrinter)), None)
    return {
        "base_model": ref.spec,
        "base_model_path": ref.path,
        "method": cfg.method,
        "merged": cfg.merge,
        "weights": "adapter/ + merged model" if cfg.merge else ("adapter" if is_lora else "full model"),
        "data": {"path": str(cfg.sources[0][0]), "sha256": file_sha256(cfg.sources[0][0]), **stats.model_dump(exclude={"truncated_rows", "dropped_rows"}),
                 "truncated_rows": stats.truncated_rows[:100], "dropped_rows": stats.dropped_rows[:100], "dropped": len(stats.dropped_rows),
                 "sources": extra.get("sources") or [], "mix_dedup_dropped": extra.get("mix_dedup_dropped")},
        "prompt_template": "chat template in the tokenizer" if extra.get("chat_template") else "prompt_template.json",
        "chat_template": extra.get("chat_template"),
        "settings": {**cfg.model_dump(mode="json"), "lr": cfg.learning_rate, "judge": _public_judge(cfg)},
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0.0, 3),
        "train_loss_first": train_losses[0][1] if train_losses else None,
        "train_loss_final": train_losses[-1][1] if train_losses else None,
        "val_loss_before": extra.get("val_loss_before"),
        "val_loss_final": val_losses[-1][1] if val_losses else None,
        "train_loss_curve": train_losses,
        "val_loss_curve": val_losses,
        "train_tokens": printer.tokens if printer else None,
        "tokens_per_second": round(printer.tokens_per_second, 1) if printer else None,
        "train_seconds": round(printer.train_seconds, 1) if printer else None,
        "wall_time_s": extra.get("wall_time_s"),
        "trainable_params": extra.get("trainable_params"),
        "total_params": extra.get("total_params"),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.machine()}, {os.cpu_count()} cores)",
        "processes": extra.get("processes"),
        "precision": extra.get("precision"),
        "batching": extra.get("batching"),
        "pad_token": extra.get("pad_token"),
        "eos_token": trainer.processing_class.eos_token,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__, "peft": peft.__version__},
    }


def put_card_section(card_path: Path, block: str, start: str, end: str, title: str = "") -> None:
    """Put `block` (which begins with `start` and ends with `end`) into the model card: in place of the
    block a run before wrote, else at the end; other sections stay. `title` starts a card that is missing."""
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else title
    if start in card and end in card:
        head, _, rest = card.partition(start)
        card = head + block + rest.partition(end)[2]
    else:
        card = card.rstrip("\n") + "\n\n" + block + "\n"
    write_text_atomic(card_path, card)


def _public_judge(cfg: FinetuneConfig) -> dict[str, Any]:
    """The --eval judge's settings as written to disk: never the key, no credentials in the URL."""
    from selfinstruct.endpoint_settings import redact_url

    return {**cfg.judge.model_dump(mode="json"), "base_url": redact_url(cfg.judge.base_url)}


def model_card(summary: dict[str, Any]) -> str:
    """A short README.md: what this model is, what it was trained on and how, how to try it."""
    s, d, cfg = summary, summary["data"], summary["settings"]
    method = f"LoRA (r={cfg['lora_r']}, alpha={cfg['lora_alpha']}, dropout={cfg['lora_dropout']}, targets={cfg['lora_targets']})" if s["method"] == "lora" else "full fine-tuning"

    def loss(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    chat = s.get("chat_template")
    kind = "conversations (and instructions) through a chat template" if chat else "an Alpaca-format dataset"
    prompt = "the chat template in the tokenizer files" if chat else "`prompt_template.json`"
    template = {"model": "the base model's own chat template", "vicuna": "the Vicuna v1.1 template (`prompts/chat_template_vicuna.jinja`)"}.get(chat or "", "")
    loss_note = (f"loss on assistant turns only (system, user and role markers masked), each ending with its end-of-turn token; {template}"
            if chat else f"loss on the response only; EOS (`{s['eos_token']}`) appended and trained")
    sources = "".join(
        f"\n  - `{src['path']}` ({src['format']}, sha256 `{src['sha256'][:16]}…`): {src['rows_read']} rows read, {src['rows_used']} used, weight {src['weight']:g}"
        + (f"; repaired as FastChat does: {describe_repairs(src.get('repairs') or {}, src.get('conversations_dropped') or 0)}"
           if src.get("repairs") or src.get("conversations_dropped") else "")
        for src in d.get("sources", [])
    )
    split = f"; {d['split_conversations']} conversations split at turn boundaries, {d['cut_turns']} turns cut, {d['dropped_turns']} dropped" if chat else ""
    return f"""# Instruction-tuned {s['base_model']}

Fine-tuned from **{s['base_model']}** with `selfinstruct finetune` on {kind},
using {method}. Contents: {s['weights']}, tokenizer, {prompt}, `training_summary.json`.

## Data

- sources:{sources or f" `{d['path']}` (sha256 `{d['sha256'][:16]}…`)"}
- {d['rows']} rows: {d['train']} train, {d['validation']} validation samples (seed {cfg['seed']})
- {d['truncated_train'] + d['truncated_validation']} samples truncated to {d['max_length']} tokens; {d.get('truncated_inputs', 0)} inputs shortened from the middle; {d.get('dropped', 0)} rows dropped (instruction alone too long){split}; mean sample {d['mean_sample']} tokens
- {loss_note}; pad token {s['pad_token']}

## Training

- {s['steps']} steps ({s['epochs']} epochs), learning rate {cfg['lr']:g} (cosine), batch {cfg['batch_size']} x {cfg['grad_accum']} accumulation x {s['processes']} process(es), {s['batching']} batching, {s['precision']}
- training loss {loss(s['train_loss_first'])} -> {loss(s['train_loss_final'])}; validation loss {loss(s['val_loss_before'])} -> {loss(s['val_loss_final'])}
- {s['tokens_per_second']} tokens/s on {s['device']}; wall time {s['wall_time_s']} s

## Try it

```
{'selfinstruct ask <this directory> --user "Give three tips for staying healthy." --user "Which one matters most?"' if chat else 'selfinstruct ask <this directory> "Give three tips for staying healthy."'}
```
"""
