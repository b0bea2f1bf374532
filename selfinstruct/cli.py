"""The `selfinstruct` command line: thin typer commands that build a config and call one function.

    selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 500
    selfinstruct finetune --data outputs/<run>/alpaca_data.json

Every command runs through `_guarded`, which turns our error classes (and Ctrl-C) into a
short red line and a non-zero exit code; SELFINSTRUCT_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional, TypeVar

import typer
from rich.console import Console

from selfinstruct import __version__
from selfinstruct.errors import SelfInstructError

app = typer.Typer(
    name="selfinstruct",
    help="Grow a few seed tasks into an instruction-tuning dataset with a teacher LLM, then fine-tune a student on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err_console = Console(stderr=True)
T = TypeVar("T")


def _guarded(fn: Callable[[], T]) -> T:
    """Run a command body; map expected failures to one red line and an exit code."""
    debug = os.environ.get("SELFINSTRUCT_DEBUG") == "1"
    try:
        return fn()
    except SelfInstructError as exc:
        if debug:
            raise
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        if debug:
            raise
        err_console.print("[yellow]interrupted[/yellow]: progress so far is saved; run the same command again to resume.")
        raise typer.Exit(130) from None
    except OSError as exc:
        if debug:
            raise
        # Disk full, permission denied and friends: the user can act on these, so no traceback.
        err_console.print(f"[red]error:[/red] {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), highlight=False)
        raise typer.Exit(2) from None


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"selfinstruct {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    """Grow a few seed tasks into an instruction-tuning dataset, then fine-tune a student on it."""


# --- commands are added below, one section each ---------------------------------------

# --- models -----------------------------------------------------------------------------


@app.command()
def models(
    verify: bool = typer.Option(False, "--verify", help="Re-hash each assembled model file (reads ~1.6 GB) instead of trusting the checksum marker written when it was assembled."),
) -> None:
    """List the packaged teacher models: installed or not, size, checksum state and cache path."""
    from selfinstruct.teacher.packaged import print_model_status

    _guarded(lambda: print_model_status(verify=verify))


# --- generate ---------------------------------------------------------------------------

_TEACHER = "Teacher"
_RECIPE = "Recipe"
_LIMITS = "Limits and spend"
_LOCAL = "Local teacher"


def _fresh_run_dir() -> Path:
    """A new folder under outputs/ named by the start time; never reuses an existing one."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("outputs") / f"run-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path("outputs") / f"run-{stamp}-{n}"
    return path


@app.command(no_args_is_help=True)
def generate(
    seeds: Path = typer.Option(..., "--seeds", help="Seed tasks, JSONL in the Self-Instruct/Alpaca format (id, name, instruction, instances, is_classification)."),
    budget: int = typer.Option(..., "--budget", help="New instructions to end with, each with at least one valid instance. The run stops as soon as it has them."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory. Default: a fresh folder under outputs/. Rerun with the same --out to resume."),
    recipe: str = typer.Option("self-instruct", "--recipe", help="self-instruct: propose, filter, classify, then instances (output-first for classification). alpaca: one pass, 3 seed examples in, complete tasks out.", rich_help_panel=_RECIPE),
    teacher: str = typer.Option("auto", "--teacher", help="auto: an OpenAI-compatible endpoint if OPENAI_API_KEY/OPENAI_BASE_URL/--base-url/--api-key is set, else the embedded local model. openai or local to force one.", rich_help_panel=_TEACHER),
    model: Optional[str] = typer.Option(None, "--model", help="Model name at the endpoint. Default: gpt-4o-mini (OpenAI); the packaged model when local.", rich_help_panel=_TEACHER),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1. Overrides OPENAI_BASE_URL.", rich_help_panel=_TEACHER),
    api_key: Optional[str] = typer.Option(None, "--api-key", help="API key; prefer the OPENAI_API_KEY variable, which this overrides. Never written to disk.", rich_help_panel=_TEACHER),
    api: str = typer.Option("chat", "--api", help="chat: /chat/completions (instruct models). completions: legacy /completions (base models).", rich_help_panel=_TEACHER),
    concurrency: int = typer.Option(8, "--concurrency", help="Most requests in flight at once (the local teacher uses 1 unless set).", rich_help_panel=_TEACHER),
    requests_per_minute: Optional[float] = typer.Option(None, "--rpm", help="Pace request starts to at most this many per minute.", rich_help_panel=_TEACHER),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds before a request counts as timed out and is retried (local: at least 1800).", rich_help_panel=_TEACHER),
    max_attempts: int = typer.Option(6, "--max-attempts", help="Tries per request on 429, 5xx, timeouts and dropped connections, with exponential backoff; Retry-After is honoured.", rich_help_panel=_TEACHER),
    retry_wait: float = typer.Option(1.0, "--retry-wait", help="Backoff scale in seconds: retry n waits a random time up to retry_wait * 2^n (capped at 60x), unless Retry-After says otherwise.", rich_help_panel=_TEACHER),
    seed: int = typer.Option(42, "--seed", help="Random seed for sampling example tasks; the same seed gives the same prompts.", rich_help_panel=_RECIPE),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="Directory of prompt templates overriding the shipped ones (same file names and placeholders).", rich_help_panel=_RECIPE),
    num_instructions_per_request: int = typer.Option(20, "--num-instructions-per-request", help="Instructions the teacher is asked for in each proposal request.", rich_help_panel=_RECIPE),
    num_seed_examples: Optional[int] = typer.Option(None, "--num-seed-examples", help="Seed tasks shown per proposal request. Default: 6 (self-instruct), 3 (alpaca).", rich_help_panel=_RECIPE),
    num_machine_examples: Optional[int] = typer.Option(None, "--num-machine-examples", help="Already generated tasks shown per proposal request, once any exist. Default: 2 (self-instruct), 0 (alpaca).", rich_help_panel=_RECIPE),
    max_instances: int = typer.Option(5, "--max-instances", help="Most input/output instances kept per instruction.", rich_help_panel=_RECIPE),
    classify_batch: int = typer.Option(5, "--classify-batch", help="Instructions judged per classification request.", rich_help_panel=_RECIPE),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Proposal temperature. Default: 0.7 (self-instruct), 1.0 (alpaca).", rich_help_panel=_RECIPE),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Proposal top_p. Default: 0.5 (self-instruct), 1.0 (alpaca).", rich_help_panel=_RECIPE),
    presence_penalty: Optional[float] = typer.Option(None, "--presence-penalty", help="Proposal presence penalty. Default: 2.0 (self-instruct), 0 (alpaca).", rich_help_panel=_RECIPE),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Token limit per response. Default: sized to the request (about 50 per proposed instruction).", rich_help_panel=_RECIPE),
    rouge_threshold: float = typer.Option(0.7, "--rouge-threshold", help="Drop a candidate whose ROUGE-L F against any seed or kept instruction is above this.", rich_help_panel=_RECIPE),
    rouge_tokenizer: str = typer.Option("rouge", "--rouge-tokenizer", help="rouge: exactly rouge_score's tokens ([a-z0-9] runs; non-Latin text never counts as a duplicate). unicode: words of any script, for non-English runs (not rouge_score-compatible).", rich_help_panel=_RECIPE),
    allow_non_ascii: bool = typer.Option(False, "--allow-non-ascii", help="Keep instructions that start with a non-ASCII character (for non-English runs).", rich_help_panel=_RECIPE),
    include_seeds: bool = typer.Option(False, "--include-seeds", help="Also write the seed tasks' instances into alpaca_data.json.", rich_help_panel=_RECIPE),
    max_proposals: Optional[int] = typer.Option(None, "--max-proposals", help="Attempt cap: most proposal requests for the whole run. Default: enough for a 20% keep rate, at least 10.", rich_help_panel=_LIMITS),
    max_usd: Optional[float] = typer.Option(None, "--max-usd", help="Stop before a request could take total spend past this many US dollars.", rich_help_panel=_LIMITS),
    max_total_tokens: Optional[int] = typer.Option(None, "--max-total-tokens", help="Stop before a request could take total tokens (in + out) past this.", rich_help_panel=_LIMITS),
    price_input: Optional[float] = typer.Option(None, "--price-input", help="USD per 1M prompt tokens, for models not in the built-in price table.", rich_help_panel=_LIMITS),
    price_output: Optional[float] = typer.Option(None, "--price-output", help="USD per 1M completion tokens, for models not in the built-in price table.", rich_help_panel=_LIMITS),
    local_model: str = typer.Option("qwen2.5-coder-1.5b", "--local-model", help="Local teacher: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b (faster, rougher) or a path to your own .gguf file.", rich_help_panel=_LOCAL),
    local_ctx: int = typer.Option(4096, "--local-ctx", help="Local teacher context size in tokens.", rich_help_panel=_LOCAL),
    local_threads: Optional[int] = typer.Option(None, "--local-threads", help="Local teacher CPU threads. Default: the cores this process may use.", rich_help_panel=_LOCAL),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the estimated requests, tokens and cost for this budget and recipe, and exit without sending anything.", rich_help_panel=_LIMITS),
) -> None:
    """Grow the seed tasks into DIR/alpaca_data.json with a teacher LLM; rerun with the same --out to resume."""
    from selfinstruct.config import GenerateConfig, build_config
    from selfinstruct.generate import generate as run_generate

    values = {k: v for k, v in locals().items() if k not in ("GenerateConfig", "build_config", "run_generate", "dry_run")}

    def body() -> None:
        values["out"] = out or _fresh_run_dir()
        cfg = build_config(GenerateConfig, values)
        if dry_run:
            from selfinstruct.estimate import estimate_run, print_estimate

            print_estimate(estimate_run(cfg), cfg)
            return
        summary = run_generate(cfg, console=err_console)
        typer.echo(f"wrote {summary['examples']} examples for {summary['instructions']} instructions to {Path(summary['run_dir']) / 'alpaca_data.json'}")

    _guarded(body)


# --- dedup ------------------------------------------------------------------------------


@app.command(no_args_is_help=True)
def dedup(
    input: Path = typer.Argument(..., metavar="INPUT", help="Dataset to filter: alpaca_data.json (a JSON list of records), a .jsonl of records, or a text file with one instruction per line."),
    out: Path = typer.Option(..., "--out", metavar="OUT", help="Where the kept records go, in INPUT's own format. May equal INPUT: it is replaced only once the result is complete."),
    against: list[Path] = typer.Option([], "--against", metavar="FILE", help="Reference instructions (seed tasks .jsonl, Alpaca .json or text) that items are also compared with; never written out. Repeatable."),
    threshold: float = typer.Option(0.7, "--threshold", help="Drop an item whose ROUGE-L F against a reference or earlier kept item is above this (exactly 0.7 is kept)."),
    field: str = typer.Option("instruction", "--field", help="Record field holding the text to compare (JSON and JSONL inputs)."),
    against_field: Optional[str] = typer.Option(None, "--against-field", help="Field to compare in the --against files. Default: the same as --field."),
    report: Optional[Path] = typer.Option(None, "--report", metavar="FILE", help="JSONL report of every dropped item with its most similar item and score. Default: OUT's name with .dropped.jsonl."),
    tokenizer: str = typer.Option("rouge", "--tokenizer", help="rouge: exactly rouge_score's tokens (ASCII letters and digits only). unicode: words of any script, each CJK/Thai character a token; for non-English data, not rouge_score-compatible."),
) -> None:
    """Drop near-duplicate instructions from an existing dataset, keeping items greedily in input order."""
    from selfinstruct.config import DedupConfig, build_config
    from selfinstruct.dedup import dedup as run_dedup

    values = dict(input=input, out=out, against=against, threshold=threshold, field=field,
                  against_field=against_field, report=report, tokenizer=tokenizer)
    _guarded(lambda: run_dedup(build_config(DedupConfig, values), console=err_console))


# --- finetune / ask -----------------------------------------------------------------------

_LORA = "LoRA"
_TRAIN = "Training"


@app.command(no_args_is_help=True)
def finetune(
    ctx: typer.Context,
    data: Optional[Path] = typer.Option(None, "--data", help="alpaca_data.json to train on: a JSON list of {instruction, input, output} (required here or in --config)."),
    base_model: str = typer.Option("gemma-3-270m", "--base-model", help="gemma-3-270m (packaged, works offline), a local model directory, a .gguf file, or a Hugging Face model id."),
    method: str = typer.Option("lora", "--method", help="lora: train a small adapter (PEFT). full: update every weight."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory. Default: outputs/<run>/model/ for a run's alpaca_data.json, else a new folder under outputs/."),
    epochs: float = typer.Option(3.0, "--epochs", help="Passes over the training split.", rich_help_panel=_TRAIN),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (cosine schedule, 3% warmup). Default: 2e-4 for lora, 2e-5 for full.", rich_help_panel=_TRAIN),
    max_length: int = typer.Option(512, "--max-length", help="Longest sample in tokens; a longer one keeps its prompt and loses the end of its response (counted in the summary).", rich_help_panel=_TRAIN),
    batch_size: int = typer.Option(8, "--batch-size", help="Samples per step on each device.", rich_help_panel=_TRAIN),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Steps whose gradients are summed before each optimizer update.", rich_help_panel=_TRAIN),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank.", rich_help_panel=_LORA),
    lora_alpha: float = typer.Option(32, "--lora-alpha", help="LoRA alpha; updates are scaled by alpha/r.", rich_help_panel=_LORA),
    lora_dropout: float = typer.Option(0.05, "--lora-dropout", help="Dropout on the LoRA input.", rich_help_panel=_LORA),
    lora_targets: str = typer.Option("all-linear", "--lora-targets", help="Modules that get adapters: all-linear, or comma-separated names such as q_proj,v_proj.", rich_help_panel=_LORA),
    val_size: float = typer.Option(0.05, "--val-size", help="Fraction of rows held out (chosen with --seed) for the validation loss; 0 for none.", rich_help_panel=_TRAIN),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many optimizer steps (overrides --epochs).", rich_help_panel=_TRAIN),
    save_steps: int = typer.Option(100, "--save-steps", help="Checkpoint (and validate) every this many steps, and at the end.", rich_help_panel=_TRAIN),
    merge: bool = typer.Option(False, "--merge", help="LoRA: also save the base with the adapter merged in, loadable without PEFT (the adapter goes to OUT/adapter/)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in --out (e.g. after Ctrl-C, or with a larger --max-steps)."),
    seed: int = typer.Option(42, "--seed", help="Seed for the validation split, adapter initialisation and data order.", rich_help_panel=_TRAIN),
    batching: str = typer.Option("auto", "--batching", help="auto: padding-free on CPU, grouped on GPU. grouped: batches of similar length, padded to their longest. padding-free: samples concatenated, no pad tokens. padded: every batch padded to --max-length.", rich_help_panel=_TRAIN),
    precision: str = typer.Option("auto", "--precision", help="auto: bf16 where the GPU or CPU computes it natively, else fp32. Or bf16, fp32.", rich_help_panel=_TRAIN),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of settings, keys named like the options (lora_r: 8). Options given on the command line win."),
) -> None:
    """Fine-tune a student on alpaca_data.json (LoRA or full; TRL SFTTrainer); multi-GPU via accelerate launch / torchrun."""
    from selfinstruct.config import FinetuneConfig, build_config, read_yaml_settings

    values = {k: v for k, v in locals().items() if k not in ("ctx", "config", "FinetuneConfig", "build_config", "read_yaml_settings")}

    def body() -> None:
        from selfinstruct.finetune.train import finetune as run_finetune

        from selfinstruct.errors import UserError

        settings = dict(values)
        if config is not None:
            from_file = read_yaml_settings(config)
            unknown = sorted(set(from_file) - set(FinetuneConfig.model_fields))
            if unknown:
                raise UserError(f"{config}: unknown setting {unknown[0]!r} (keys are the option names, e.g. lora_r)")
            for key, value in from_file.items():
                # Compared by name: typer bundles its own copy of click's ParameterSource enum.
                if getattr(ctx.get_parameter_source(key), "name", None) != "COMMANDLINE":
                    settings[key] = value
        if settings.get("data") is None:
            raise UserError("--data is required (on the command line or in --config)")
        cfg = build_config(FinetuneConfig, settings)
        summary = run_finetune(cfg, console=err_console)
        if summary:
            out = Path(summary["out"])
            typer.echo(f"saved {summary['weights']} to {out}; try it: selfinstruct ask {out} \"...\"")

    _guarded(body)


@app.command(no_args_is_help=True)
def ask(
    model_dir: Path = typer.Argument(..., metavar="DIR", help="Output directory of finetune (LoRA adapter, or full / merged model)."),
    instruction: str = typer.Argument(..., help="The instruction, as in alpaca_data.json."),
    input: str = typer.Option("", "--input", help="Optional input for the instruction (the Alpaca 'input' field)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Most tokens to generate; generation also stops at EOS."),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature; 0 means greedy decoding (deterministic)."),
) -> None:
    """Try a fine-tuned student: format the instruction with its training prompt and print the answer."""
    from selfinstruct.finetune.ask import ask as run_ask
    from selfinstruct.config import AskConfig, build_config

    values = dict(model_dir=model_dir, instruction=instruction, input=input, max_new_tokens=max_new_tokens, temperature=temperature)
    typer.echo(_guarded(lambda: run_ask(build_config(AskConfig, values))))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
