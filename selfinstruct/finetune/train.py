"""`selfinstruct finetune`: train a student on alpaca_data.json or conversations with TRL's SFTTrainer, LoRA (PEFT) or full.

    summary = finetune(FinetuneConfig(data=["outputs/run/alpaca_data.json"]), console)
    summary = finetune(FinetuneConfig(data=["outputs/chat/conversations.json", "alpaca_data.json:0.5"]), console)

Alpaca data alone trains with the Alpaca prompt (data.py); once any --data file holds conversations
(ShareGPT or messages), every row trains through a chat template with the loss on assistant turns
(chat.py, chat_data.py). Several --data files are mixed by weight (sources.py).

One function, top to bottom: read and check the data (before any heavy import, so bad input fails
fast), resolve the base model, tokenize with response-only labels (data.py), build the
SFTTrainer, train with live progress, save and check the result (output.py). Multi-GPU
is `accelerate launch` / `torchrun` around the same command: the Trainer does the distribution,
and only the main process converts the base model and writes files.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from selfinstruct.errors import TrainingInterrupted, UserError
from selfinstruct.finetune.base import (
    base_model_kind,
    ensure_pad_token,
    load_model,
    load_tokenizer,
    prefer_offline,
    quiet_libraries,
    resolve_base_model,
)
from selfinstruct.finetune.chat import ChatEncoder, chat_template_for
from selfinstruct.finetune.chat_data import prepare_chat_data
from selfinstruct.finetune.data import PromptTemplate, prepare_data
from selfinstruct.finetune.output import save_outputs
from selfinstruct.finetune.repair import describe_repairs
from selfinstruct.finetune.settings import FinetuneConfig
from selfinstruct.finetune.sources import dedup_first_turns, mix, read_source
from selfinstruct.model_files import file_sha256

CHECKPOINTS = "checkpoints"


def default_out_dir(data: Path, method: str) -> Path:
    """outputs/<run>/model/ for a run's own alpaca_data.json; otherwise a folder under outputs/ named by the data."""
    data = data.resolve()
    if data.parent.parent.name == "outputs":
        return data.parent / "model"
    # Named by content, not time, so every process of a multi-GPU launch picks the same folder.
    return Path("outputs") / f"finetune-{data.stem}-{file_sha256(data)[:8]}-{method}"


def check_out_dir(out: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from (or None); refuse to train over an earlier result without --resume."""
    ckpt_dir = out / CHECKPOINTS
    # The Trainer's own naming: checkpoint-<global step>.
    steps = [(int(p.name.split("-", 1)[1]), p) for p in ckpt_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-", 1)[1].isdigit()]
    if resume:
        if not steps:
            raise UserError(f"--resume: no checkpoint in {ckpt_dir} to continue from")
        return max(steps)[1]
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already holds a fine-tuning run: pass --resume to continue it, or choose another --out")
    return None


def choose_precision(requested: str) -> str:
    """bf16 where the hardware computes it natively (recent GPUs, CPUs with AVX512-BF16 or AMX), else fp32."""
    import torch

    if torch.cuda.is_available():
        native = torch.cuda.is_bf16_supported()
    else:
        cpu = getattr(torch, "cpu", None)
        native = bool(cpu) and any(getattr(cpu, f, lambda: False)() for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    if requested == "bf16" and not native and torch.cuda.is_available():
        raise UserError("--precision bf16: this GPU has no bf16 support; use --precision fp32")
    if requested == "auto":
        return "bf16" if native else "fp32"
    return requested


def resolve_batching(requested: str, on_gpu: bool) -> str:
    """auto: padding-free on CPU (no pad tokens to compute; see bench/finetune.py), length-grouped on GPU.

    On a GPU without FlashAttention, a padding-free row attends through a dense block mask over the
    whole concatenated batch, which costs more than the little padding length-grouping leaves.
    """
    if requested != "auto":
        return requested
    return "grouped" if on_gpu else "padding-free"


def finetune(cfg: FinetuneConfig, console: Console) -> dict[str, Any]:
    """Train, save and check one student; returns the training summary that is also written to disk."""
    started = time.time()
    prefer_offline(cfg.base_model)
    fmt = None if cfg.format == "auto" else cfg.format
    sources = [read_source(path, weight, fmt, i, repair=True) for i, (path, weight) in enumerate(cfg.sources)]
    for source in sources:
        repairs, dropped = source.extra.get("repairs"), source.extra.get("conversations_dropped")
        if repairs or dropped:
            # Once per file, not per row: a real ShareGPT dump needs hundreds of these.
            console.print(f"[yellow]warning: {source.path}: conversations repaired as FastChat does: {describe_repairs(repairs or {}, dropped or 0)}[/yellow]",
                          highlight=False, soft_wrap=True)  # fmt: skip
        if source.extra.get("reviews"):
            r = source.extra["reviews"]
            console.print(f"{source.path}: {r['dropped_wrong']} rows marked wrong left out and {r['edited']} edited outputs used, "
                          f"as reviewed in {r['path']}", highlight=False)  # fmt: skip
    rows = mix(sources, cfg.seed)
    mix_dropped = 0
    if cfg.mix_dedup:
        rows, mix_dropped = dedup_first_turns(rows, sources)
    if not rows:
        raise UserError("no rows left to train on after mixing (check the --data weights)")
    # Alpaca rows alone keep the Alpaca prompt; any conversation data trains everything with a chat template.
    chat = any(source.format != "alpaca" for source in sources)
    template = None if chat else PromptTemplate.load()
    first_data = cfg.sources[0][0]
    out = cfg.out or default_out_dir(first_data, cfg.method)
    if cfg.merge and cfg.method != "lora":
        raise UserError("--merge applies to --method lora only; a full fine-tune is already a complete model")
    base_model_kind(cfg.base_model)
    resume_from = check_out_dir(out, cfg.resume)
    if cfg.gguf is not None:
        from selfinstruct.finetune.export_gguf import check_gguf_target

        # A rerun with --resume is asked to write the file again; a fresh run never replaces one.
        check_gguf_target(cfg.gguf, force=cfg.resume, taken="remove it or choose another --gguf")

    import torch
    from accelerate import PartialState

    quiet_libraries()

    # cpu=True is what makes a torchrun launch on CPUs a real multi-process (gloo) run, as the Trainer will see it.
    state = PartialState(cpu=not torch.cuda.is_available() and not torch.backends.mps.is_available())
    main = state.is_main_process
    say = console.print if main else (lambda *a, **k: None)
    with state.main_process_first():
        ref = resolve_base_model(cfg.base_model, console if main else None)
    tokenizer = load_tokenizer(ref)
    precision = choose_precision(cfg.precision)
    # LoRA leaves the base frozen, so it can sit in bf16; a full fine-tune keeps fp32 master weights.
    load_dtype = torch.bfloat16 if precision == "bf16" and cfg.method == "lora" else torch.float32
    model = load_model(ref, load_dtype)
    pad_choice = ensure_pad_token(tokenizer, model)
    warn = (lambda message: console.print(f"[yellow]{message}[/yellow]", highlight=False, soft_wrap=True)) if main else (lambda message: None)
    chat_origin = None
    if template is None:
        chat_template, chat_origin = chat_template_for(tokenizer)
        # Saved with the tokenizer, so `ask` and `eval --template chat` prompt the model as it was trained.
        tokenizer.chat_template = chat_template
        described = "the base model's own" if chat_origin == "model" else "Vicuna v1.1 (prompts/chat_template_vicuna.jinja)"
        say(f"chat template: {described}; loss on assistant turns only", highlight=False)
        data = prepare_chat_data(rows, ChatEncoder(tokenizer, chat_template), tokenizer, cfg.max_length, cfg.val_size, cfg.seed, warn)
    else:
        data = prepare_data([row.alpaca for row in rows if row.alpaca], template, tokenizer, cfg.max_length, cfg.val_size, cfg.seed, warn)
    stats = data.stats
    if len(sources) > 1 or sources[0].weight != 1 or cfg.mix_dedup:
        for source in sources:
            say(f"source {source.path} ({source.format}, weight {source.weight:g}): {len(source.rows)} rows read, {source.used} used", highlight=False)
        if cfg.mix_dedup:
            say(f"--mix-dedup: {mix_dropped} rows dropped as near-duplicates of an earlier row's first user turn")
    say(
        f"data: {stats.rows} rows -> {stats.train} train / {stats.validation} validation samples; "
        f"{stats.truncated_train + stats.truncated_validation} truncated to {cfg.max_length} tokens; "
        f"{stats.truncated_inputs} inputs shortened, {len(stats.dropped_rows)} rows dropped; "
        f"mean sample {stats.mean_sample} tokens", highlight=False,
    )  # fmt: skip
    batching = resolve_batching(cfg.batching, torch.cuda.is_available())
    trainer = _build_trainer(cfg, model, tokenizer, data, out, precision, batching, say)
    val_before = None
    if data.validation:
        val_before = trainer.evaluate()["eval_loss"]
        say(f"validation loss before training: {val_before:.4f}")
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"interrupted: checkpoints in {out / CHECKPOINTS} are kept; add --resume to continue") from None
    summary = save_outputs(
        trainer, cfg, ref, template, stats, out,
        extra={"precision": precision, "batching": batching, "pad_token": pad_choice, "val_loss_before": val_before,
               "processes": state.num_processes, "wall_time_s": round(time.time() - started, 1),
               "sources": [source.describe() for source in sources], "mix_dedup_dropped": mix_dropped if cfg.mix_dedup else None,
               "chat_template": chat_origin},
    )  # fmt: skip
    if main:
        write_label_mask(out, tokenizer, data.train)
    state.wait_for_everyone()
    if cfg.gguf is not None and main:
        summary = export_after_training(cfg, out, summary, console)
    return summary


def write_label_mask(out: Path, tokenizer: Any, train: list[dict[str, list[int]]]) -> None:
    """OUT/label_mask_sample.txt: one training sample as text, what the loss ignores marked [[masked: ...]],
    so a user can see what the model was taught (of the first 100, the one with the most trained turns, then the longest)."""
    from selfinstruct.finetune.chat import IGNORE_INDEX, render_masked
    from selfinstruct.safe_files import write_text_atomic

    def trained_spans(sample: dict[str, list[int]]) -> int:
        labels = sample["labels"]
        return sum(1 for i, label in enumerate(labels) if label != IGNORE_INDEX and (i == 0 or labels[i - 1] == IGNORE_INDEX))

    if train:
        write_text_atomic(out / "label_mask_sample.txt", render_masked(tokenizer, max(train[:100], key=lambda t: (trained_spans(t), len(t["labels"])))) + "\n")


def export_after_training(cfg: FinetuneConfig, out: Path, summary: dict[str, Any], console: Console) -> dict[str, Any]:
    """finetune --gguf: export the saved model as export-model would, and note the file in the training summary."""
    from selfinstruct.finetune.export_gguf import export_gguf
    from selfinstruct.finetune.settings import ExportModelConfig
    from selfinstruct.safe_files import write_json_atomic

    result = export_gguf(ExportModelConfig(model_dir=out, gguf=cfg.gguf, quant=cfg.quant, force=True), console)
    summary = {**summary, "gguf": {"file": result.file, "path": result.path, "quant": result.quant, "sha256": result.sha256}}
    write_json_atomic(out / "training_summary.json", summary)
    return summary


def _build_trainer(cfg: FinetuneConfig, model: Any, tokenizer: Any, data: Any, out: Path, precision: str, batching: str, say: Any) -> Any:
    """SFTTrainer on the pre-tokenized samples: our labels are used as they are, TRL does the rest."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig

    from selfinstruct.finetune.progress import ProgressPrinter
    from selfinstruct.finetune.trainer import ResponseLossSFTTrainer

    on_gpu = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = cfg.batch_size * cfg.grad_accum * world
    planned = cfg.max_steps or math.ceil(math.ceil(len(data.train) / per_step) * cfg.epochs)
    args = SFTConfig(
        output_dir=str(out / CHECKPOINTS),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.03,
        weight_decay=0.0,
        bf16=precision == "bf16",
        fp16=False,
        use_cpu=not on_gpu and not torch.backends.mps.is_available(),
        # Samples are already tokenized and truncated by prepare_data.
        max_length=None,
        padding_free=batching == "padding-free",
        pad_to_multiple_of=cfg.max_length if batching == "padded" else None,
        train_sampling_strategy="group_by_length" if batching == "grouped" else "random",
        logging_steps=max(1, planned // 30),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        eval_strategy="steps" if data.validation else "no",
        prediction_loss_only=True,
        eval_steps=cfg.save_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=[],
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
        # Recomputing activations trades time for memory: worth it on a GPU, only slower on a CPU.
        activation_checkpointing=on_gpu,
    )
    peft_config = None
    if cfg.method == "lora":
        targets = cfg.lora_targets if cfg.lora_targets == "all-linear" else [t.strip() for t in cfg.lora_targets.split(",") if t.strip()]
        peft_config = LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
            target_modules=targets, task_type="CAUSAL_LM", bias="none",
        )  # fmt: skip
    train = Dataset.from_list(data.train)
    validation = Dataset.from_list(data.validation) if data.validation else None
    try:
        trainer = ResponseLossSFTTrainer(
            model=model, args=args, train_dataset=train, eval_dataset=validation,
            processing_class=tokenizer, peft_config=peft_config,
        )  # fmt: skip
    except ValueError as exc:
        if cfg.method == "lora" and "Target modules" in str(exc):
            raise UserError(f"--lora-targets {cfg.lora_targets}: {str(exc).splitlines()[0]}") from None
        raise
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(ProgressPrinter(say))
    return trainer
