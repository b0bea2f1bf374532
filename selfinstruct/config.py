"""Pydantic settings for each command: the single source of defaults, validated before any work starts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from selfinstruct.errors import UserError


class _Config(BaseModel):
    """Base for command settings: unknown keys are mistakes, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- generate -------------------------------------------------------------------------

Recipe = Literal["self-instruct", "alpaca"]

# Decoding for the proposal request, per recipe (the papers' own settings).
RECIPE_DECODING: dict[str, dict[str, float]] = {
    "self-instruct": {"temperature": 0.7, "top_p": 0.5, "presence_penalty": 2.0},
    "alpaca": {"temperature": 1.0, "top_p": 1.0, "presence_penalty": 0.0},
}
# Examples shown per proposal request: (seed tasks, machine tasks).
RECIPE_EXAMPLES: dict[str, tuple[int, int]] = {"self-instruct": (6, 2), "alpaca": (3, 0)}


class GenerateConfig(_Config):
    """Settings of one `generate` run; written to the run directory (without secrets) as config.json."""

    seeds: Path
    budget: int = Field(gt=0, description="New instructions to end with, each with at least one valid instance.")
    out: Path
    recipe: Recipe = "self-instruct"
    teacher: Literal["auto", "openai", "local"] = "auto"
    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = Field(default=None, exclude=True)
    api: Literal["chat", "completions"] = "chat"
    concurrency: int = Field(8, ge=1, le=256)
    requests_per_minute: float | None = Field(None, gt=0)
    seed: int = 42
    prompts: Path | None = None
    num_instructions_per_request: int = Field(20, ge=1, le=100)
    num_seed_examples: int | None = Field(None, ge=0)
    num_machine_examples: int | None = Field(None, ge=0)
    max_instances: int = Field(5, ge=1, le=20)
    classify_batch: int = Field(5, ge=1, le=50)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    max_tokens: int | None = Field(None, ge=16)
    max_proposals: int | None = Field(None, ge=1)
    timeout: float = Field(120.0, gt=0)
    max_attempts: int = Field(6, ge=1, le=50)
    retry_wait: float = Field(1.0, ge=0)
    allow_non_ascii: bool = False
    rouge_threshold: float = Field(0.7, ge=0, le=1)
    rouge_tokenizer: Literal["rouge", "unicode"] = "rouge"
    include_seeds: bool = False
    max_usd: float | None = Field(None, gt=0)
    max_total_tokens: int | None = Field(None, gt=0)
    price_input: float | None = Field(None, ge=0)
    price_output: float | None = Field(None, ge=0)
    local_model: str = "qwen2.5-coder-1.5b"
    local_ctx: int = Field(4096, ge=512)
    local_threads: int | None = Field(None, ge=1)

    @property
    def examples_per_request(self) -> tuple[int, int]:
        seeds, machine = RECIPE_EXAMPLES[self.recipe]
        return (
            seeds if self.num_seed_examples is None else self.num_seed_examples,
            machine if self.num_machine_examples is None else self.num_machine_examples,
        )

    @property
    def proposal_decoding(self) -> dict[str, float]:
        base = RECIPE_DECODING[self.recipe]
        return {
            "temperature": base["temperature"] if self.temperature is None else self.temperature,
            "top_p": base["top_p"] if self.top_p is None else self.top_p,
            "presence_penalty": base["presence_penalty"] if self.presence_penalty is None else self.presence_penalty,
        }

    @property
    def proposal_max_tokens(self) -> int:
        """Room for the whole list: ~50 tokens an instruction, ~150 a complete Alpaca task."""
        if self.max_tokens is not None:
            return self.max_tokens
        per_item = 150 if self.recipe == "alpaca" else 50
        return min(4096, 64 + per_item * self.num_instructions_per_request)

    @property
    def proposal_cap(self) -> int:
        """Most proposal requests a run may make: room for a keep rate down to 20%, at least 10."""
        if self.max_proposals is not None:
            return self.max_proposals
        return max(10, 5 * -(-self.budget // self.num_instructions_per_request) + 5)

    def identity(self) -> dict[str, object]:
        """Settings that must match for a directory to be resumed (budget may grow or shrink)."""
        return {"recipe": self.recipe, "num_instructions_per_request": self.num_instructions_per_request}

    def public_dump(self) -> dict[str, object]:
        """The config as written to disk: no API key, and credentials stripped from the base URL."""
        data = self.model_dump(mode="json")
        data["base_url"] = redact_url(self.base_url)
        return data


def redact_url(url: str | None) -> str | None:
    """Drop user:password@ and secret-looking query values from a URL before it is written anywhere."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    query = "&".join(
        f"{k}=***" if any(s in k.lower() for s in ("key", "token", "secret", "sig", "password")) else f"{k}={v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

# --- finetune / ask -------------------------------------------------------------------

# Alpaca used 2e-5 for full fine-tuning; LoRA adapters start at zero and need ~10x more.
DEFAULT_LR = {"lora": 2e-4, "full": 2e-5}


class FinetuneConfig(_Config):
    """Settings of one `finetune` run; written into the output dir's training_summary.json."""

    data: Path = Field(description="alpaca_data.json to train on: a JSON list of {instruction, input, output}.")
    base_model: str = Field("gemma-3-270m", description="gemma-3-270m (packaged, offline), a local model directory, a .gguf file or a Hugging Face model id.")
    method: Literal["lora", "full"] = Field("lora", description="lora: train a small adapter (PEFT). full: update every weight.")
    out: Path | None = Field(None, description="Output directory. Default: outputs/<run>/model/ next to the data, else a new folder under outputs/.")
    epochs: float = Field(3.0, gt=0, description="Passes over the training split.")
    lr: float | None = Field(None, gt=0, lt=1, description="Peak learning rate. Default: 2e-4 for lora, 2e-5 for full.")
    max_length: int = Field(512, ge=8, le=131072, description="Longest sample in tokens; longer ones lose the end of their response.")
    batch_size: int = Field(8, ge=1, description="Samples per step on each device.")
    grad_accum: int = Field(1, ge=1, description="Steps whose gradients are summed before each update.")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: float = Field(32, gt=0, description="LoRA scaling numerator (the update is scaled by alpha/r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_targets: str = Field("all-linear", min_length=1, description="Modules that get adapters: all-linear, or comma-separated names such as q_proj,v_proj.")
    val_size: float = Field(0.05, ge=0, le=0.5, description="Fraction of rows held out for validation loss (0 for none), chosen with --seed.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (overrides --epochs).")
    save_steps: int = Field(100, ge=1, description="Save a checkpoint for --resume every this many steps (and at the end).")
    merge: bool = Field(False, description="LoRA only: also save the base with the adapter merged in, loadable without PEFT.")
    resume: bool = Field(False, description="Continue from the last checkpoint in --out.")
    seed: int = Field(42, description="Seed for the validation split, adapter init and data order.")
    batching: Literal["auto", "grouped", "padding-free", "padded"] = Field("auto", description="auto: padding-free on CPU, grouped on GPU. grouped: batches of similar length, padded to the longest. padding-free: samples concatenated, no pad tokens. padded: every batch padded to --max-length.")
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto: bf16 where the GPU or CPU computes it natively, else fp32.")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]


class AskConfig(_Config):
    """Settings of one `ask` call: which tuned model, what to ask, how long to answer."""

    model_dir: Path
    instruction: str = Field(min_length=1)
    input: str = ""
    max_new_tokens: int = Field(256, ge=1, le=32768)
    temperature: float = Field(0.0, ge=0, le=5)


def read_yaml_settings(path: Path) -> dict[str, object]:
    """Settings from a --config YAML file: a mapping whose keys are config field names."""
    import yaml

    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of setting names to values, got {type(data).__name__}")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def build_config(cls: type[_Config], values: dict[str, object]) -> _Config:
    """Validate settings; a bad value becomes one line naming the command-line option."""
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "settings"
        raise UserError(f"{option}: {first['msg'].lower()}") from None


# --- dedup ----------------------------------------------------------------------------


class DedupConfig(_Config):
    """Settings of one `dedup` run: which file to filter, against what, and where results go."""

    input: Path
    out: Path
    against: list[Path] = []
    threshold: float = Field(0.7, ge=0, le=1, allow_inf_nan=False)
    field: str = Field("instruction", min_length=1)
    against_field: str | None = Field(None, min_length=1)
    report: Path | None = None
    tokenizer: Literal["rouge", "unicode"] = "rouge"
