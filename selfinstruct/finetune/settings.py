"""Settings of `finetune`, `ask` and `export-model`: the single source of their options' defaults, help text and panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, field_validator

from selfinstruct.endpoint_settings import TeacherSettings
from selfinstruct.finetune.sources import parse_data_spec
from selfinstruct.settings import _Config, nested, setting

LORA = "LoRA"
EVALUATION = "Evaluation (--eval)"
TRAIN = "Training"
GGUF_PANEL = "GGUF export"
GgufQuant = Literal["Q4_K_M", "Q8_0", "F16"]
# Alpaca used 2e-5 for full fine-tuning; LoRA adapters start at zero and need ~10x more.
DEFAULT_LR = {"lora": 2e-4, "full": 2e-5}


class FinetuneConfig(_Config):
    """Settings of one `finetune` run; written into the output dir's training_summary.json."""

    model_config = ConfigDict(json_schema_extra={"config_example": "lora_r: 8"})

    data: list[str] = setting(
        help="Data to train on, repeatable to mix: FILE or FILE:WEIGHT. Alpaca JSON/JSONL ({instruction, input, output}), ShareGPT JSON/JSONL "
        "({conversations: [{from, value}]}) or messages JSONL ({messages: [{role, content}]}). A weight below 1 samples that share of the rows "
        "(with --seed), above 1 repeats them (2.5: twice, plus half again). Any conversation data trains with a chat template (required here or in --config). "
        "A run directory stands for its alpaca_data.json (conversations.json for a conversation run); data reviewed with `selfinstruct review` "
        "loses the rows marked wrong and takes the edited outputs.",
        metavar="FILE[:WEIGHT]", min_length=1)
    format: Literal["auto", "alpaca", "sharegpt", "messages"] = setting(
        "auto", "Format of every --data file: auto detects it from the first record; alpaca, sharegpt or messages forces it.")
    mix_dedup: bool = setting(
        False, "Before training, drop rows whose first user turn is a near-duplicate (ROUGE-L F > 0.7) of an earlier row's, across all --data files.")
    base_model: str = setting("gemma-3-270m", "gemma-3-270m (packaged, works offline), a local model directory, a .gguf file, or a Hugging Face model id.")
    method: Literal["lora", "full"] = setting("lora", "lora: train a small adapter (PEFT). full: update every weight.")
    out: Path | None = setting(None, "Output directory. Default: outputs/<run>/model/ for a run's alpaca_data.json, else a new folder under outputs/.")
    epochs: float = setting(3.0, "Passes over the training split.", panel=TRAIN, gt=0)
    lr: float | None = setting(None, "Peak learning rate (cosine schedule, 3% warmup). Default: 2e-4 for lora, 2e-5 for full.", panel=TRAIN, gt=0, lt=1)
    max_length: int = setting(
        512, "Longest sample in tokens. An over-long row's input is shortened from the middle so the response keeps a quarter of it "
        "(a row is dropped only when its instruction alone does not fit); a conversation is split at turn boundaries. All counted in the summary.", panel=TRAIN, ge=8, le=131072)
    batch_size: int = setting(8, "Samples per step on each device.", panel=TRAIN, ge=1)
    grad_accum: int = setting(1, "Steps whose gradients are summed before each optimizer update.", panel=TRAIN, ge=1)
    lora_r: int = setting(16, "LoRA rank.", panel=LORA, ge=1)
    lora_alpha: float = setting(32, "LoRA alpha; updates are scaled by alpha/r.", panel=LORA, gt=0)
    lora_dropout: float = setting(0.05, "Dropout on the LoRA input.", panel=LORA, ge=0, lt=1)
    lora_targets: str = setting("all-linear", "Modules that get adapters: all-linear, or comma-separated names such as q_proj,v_proj.", panel=LORA, min_length=1)
    val_size: float = setting(0.05, "Fraction of rows held out (chosen with --seed) for the validation loss; 0 for none.", panel=TRAIN, ge=0, le=0.5)
    max_steps: int | None = setting(None, "Stop after this many optimizer steps (overrides --epochs).", panel=TRAIN, ge=1)
    save_steps: int = setting(100, "Checkpoint (and validate) every this many steps, and at the end.", panel=TRAIN, ge=1)
    merge: bool = setting(False, "LoRA: also save the base with the adapter merged in, loadable without PEFT (the adapter goes to OUT/adapter/).")
    resume: bool = setting(False, "Continue from the last checkpoint in --out (e.g. after Ctrl-C, or with a larger --max-steps).")
    seed: int = setting(42, "Seed for the validation split, adapter initialisation and data order.", panel=TRAIN)
    batching: Literal["auto", "grouped", "padding-free", "padded"] = setting(
        "auto", "auto: padding-free on CPU, grouped on GPU. grouped: batches of similar length, padded to their longest. padding-free: samples concatenated, no pad tokens. padded: every batch padded to --max-length.", panel=TRAIN)
    precision: Literal["auto", "bf16", "fp32"] = setting("auto", "auto: bf16 where the GPU or CPU computes it natively, else fp32. Or bf16, fp32.", panel=TRAIN)
    eval: bool = setting(
        False, "After training, judge the tuned model against its base (`selfinstruct eval`, both answer orders); the win rate and its 95% CI go into training_summary.json and the model card.", panel=EVALUATION)
    eval_tasks: Path | None = setting(
        None, "Tasks for --eval: Self-Instruct evaluation JSONL or Alpaca JSON/JSONL. Default: the shipped eval_tasks/eval_tasks.jsonl (never trained on).", panel=EVALUATION, metavar="FILE")
    eval_limit: int | None = setting(None, "--eval on only the first N tasks.", panel=EVALUATION, ge=1)
    eval_max_new_tokens: int = setting(256, "--eval: most tokens in each model's answer.", panel=EVALUATION, ge=1)
    judge: TeacherSettings = nested(TeacherSettings, prefix="judge_", panel=EVALUATION)
    gguf: Path | None = setting(
        None, "After training, also export the model as this .gguf file for llama.cpp, quantized with --quant and verified (see export-model).", panel=GGUF_PANEL, metavar="FILE")
    quant: GgufQuant = setting("Q4_K_M", "With --gguf: Q4_K_M (4-bit, smallest), Q8_0 (near-lossless) or F16 (no quantization).", panel=GGUF_PANEL)

    @field_validator("data", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        """One file (a --config value, or a Path in code) is a list of one."""
        if isinstance(value, (str, Path)):
            return [str(value)]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else value

    @property
    def sources(self) -> list[tuple[Path, float]]:
        """(path, weight) of each --data value."""
        return [parse_data_spec(spec) for spec in self.data]

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]


class AskConfig(_Config):
    """Settings of one `ask` call: which tuned model, what to ask, how long to answer."""

    model_config = ConfigDict(json_schema_extra={"config_example": "max_new_tokens: 64"})

    model_dir: Path = setting(
        help="Output directory of finetune (LoRA adapter, or full / merged model), or a .gguf exported from one (answered by the embedded llama.cpp server).", argument=True, metavar="MODEL")
    instruction: str | None = setting(
        None, "The instruction, as in alpaca_data.json; '-' reads user turns from stdin, one a line, for a model trained on conversations.",
        argument=True, metavar="INSTRUCTION", min_length=1)
    input: str = setting("", "Optional input for the instruction (the Alpaca 'input' field).")
    user: list[str] = setting(
        [], "A user turn; repeat it for a conversation: each is answered in turn with the history before it, through the model's chat template.",
        metavar="TEXT")
    system: str | None = setting(None, "A system message at the start of the conversation (chat-trained models).", metavar="TEXT")
    max_new_tokens: int = setting(256, "Most tokens to generate; generation also stops at EOS.", ge=1, le=32768)
    temperature: float = setting(0.0, "Sampling temperature; 0 means greedy decoding (deterministic).", ge=0, le=5)


class ExportModelConfig(_Config):
    """Settings of one `export-model` call: which tuned model, which GGUF file, which quantization."""

    model_config = ConfigDict(json_schema_extra={"config_example": "quant: Q8_0"})

    model_dir: Path = setting(help="Output directory of finetune (LoRA adapter, merged or full model).", argument=True, metavar="MODEL_DIR")
    gguf: Path = setting(help="The .gguf file to write; it appears only once llama.cpp's logits have been checked against the model's.", metavar="OUT.gguf")
    quant: GgufQuant = setting("Q4_K_M", "Q4_K_M (4-bit, smallest), Q8_0 (near-lossless) or F16 (no quantization). Quantized by llama.cpp itself.")
    force: bool = setting(False, "Replace OUT.gguf if it exists.")
    threads: int | None = setting(None, "CPU threads for quantizing and verifying. Default: the cores this process may use.", ge=1)
