"""The `selfinstruct` command line: one thin command per settings model, each calling one function.

    selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 500
    selfinstruct finetune --data outputs/<run>/alpaca_data.json

A command's options, defaults, help text and panels are its settings model's fields
(each command's settings.py); `settings_command` (`cli_options.py`) generates them, adds
`--config FILE.yaml`, validates, and runs the body under `guarded`, which turns our error classes
(and Ctrl-C) into a short red line and a non-zero exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from selfinstruct import __version__
from selfinstruct.clean.settings import CleanConfig
from selfinstruct.cli_options import err_console, settings_command
from selfinstruct.dedup import DedupConfig
from selfinstruct.endpoint_settings import ModelsConfig
from selfinstruct.evaluate.settings import EvalConfig
from selfinstruct.export.settings import ExportConfig
from selfinstruct.finetune.settings import AskConfig, ExportModelConfig, FinetuneConfig
from selfinstruct.generate.settings import GenerateConfig, StatusConfig
from selfinstruct.report.settings import ReportConfig
from selfinstruct.review.settings import ReviewConfig

app = typer.Typer(
    name="selfinstruct",
    help="Grow a few seed tasks into an instruction-tuning dataset with a teacher LLM, then fine-tune a student on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"selfinstruct {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    """Grow a few seed tasks into an instruction-tuning dataset, then fine-tune a student on it."""


# --- commands: the work itself is imported when a command runs, so --help stays fast ------


@settings_command(app, "models", ModelsConfig)
def models_command(cfg: ModelsConfig) -> None:
    """List the packaged teacher models: installed or not, size, checksum state and cache path."""
    from selfinstruct.teacher.packaged import print_model_status

    print_model_status(verify=cfg.verify)


@settings_command(app, "generate", GenerateConfig, no_args_is_help=True)
def generate_command(cfg: GenerateConfig) -> None:
    """Grow the seed tasks into DIR/alpaca_data.json with a teacher LLM; rerun with the same --out to resume."""
    if cfg.dry_run:
        from selfinstruct.generate.estimate import estimate_run, print_estimate

        print_estimate(estimate_run(cfg), cfg)
        return
    from selfinstruct.generate.command import generate
    from selfinstruct.recipes import RECIPES

    summary = generate(cfg, console=err_console)
    typer.echo(RECIPES[cfg.recipe].product_message(summary, Path(summary["run_dir"])))


@settings_command(app, "dedup", DedupConfig, no_args_is_help=True)
def dedup_command(cfg: DedupConfig) -> None:
    """Drop near-duplicate instructions from an existing dataset, keeping items greedily in input order."""
    from selfinstruct.dedup import dedup

    dedup(cfg, console=err_console)


@settings_command(app, "clean", CleanConfig, no_args_is_help=True)
def clean_command(cfg: CleanConfig) -> None:
    """Drop the wrong rows of any dataset (Alpaca, ShareGPT, messages, a run): repairs, near-duplicates, quality flags, verifiers, the judge's gate; --calibrate measures the gate."""
    if cfg.calibrate:
        from selfinstruct.clean.calibrate import calibrate_gate

        calibrate_gate(cfg, console=err_console)
        return
    from selfinstruct.clean.command import run_clean, side_paths

    summary = run_clean(cfg, console=err_console)
    if summary:
        dropped, scores = side_paths(Path(summary["out"]))
        typer.echo(f"kept {summary['rows_kept']:,} of {summary['rows_in']:,} rows in {summary['out']}; why the others went: {dropped}; every row's score: {scores}")


@settings_command(app, "finetune", FinetuneConfig, no_args_is_help=True)
def finetune_command(cfg: FinetuneConfig) -> None:
    """Fine-tune a student on alpaca_data.json (LoRA or full; TRL SFTTrainer); multi-GPU via accelerate launch / torchrun."""
    from selfinstruct.evaluate.loop import check_eval_tasks, evaluate_finetune
    from selfinstruct.finetune.train import finetune

    check_eval_tasks(cfg)
    summary = finetune(cfg, console=err_console)
    if summary:
        out = Path(summary["out"])
        asking = '--user "..." --user "..."' if summary.get("chat_template") else '"..."'  # a chat-trained model holds a conversation
        typer.echo(f"saved {summary['weights']} to {out}; try it: selfinstruct ask {out} {asking}")
        if cfg.eval:
            result = evaluate_finetune(summary, cfg, console=err_console)["eval"]
            rate = "n/a" if result["win_rate"] is None else f"{result['win_rate']:.1%} (95% CI {result['ci_low']:.1%} - {result['ci_high']:.1%})"
            typer.echo(f"eval against {cfg.base_model}: win rate {rate} over {result['n']} tasks; details in {result['out']}")
        if summary.get("gguf"):
            typer.echo(f"exported {summary['gguf']['file']} ({summary['gguf']['quant']}, verified with llama.cpp)")


@settings_command(app, "export-model", ExportModelConfig, no_args_is_help=True)
def export_model_command(cfg: ExportModelConfig) -> None:
    """Export a tuned student as a GGUF for llama.cpp (LoRA merged, quantized by llama.cpp, checked against transformers)."""
    from selfinstruct.finetune.export_gguf import export_gguf

    result = export_gguf(cfg, console=err_console)
    typer.echo(f"wrote {result.path} ({result.quant}, {result.size_bytes / 1e6:.1f} MB, sha256 {result.sha256[:16]}...); "
               f"try it: selfinstruct ask {result.path} \"...\"")  # fmt: skip


@settings_command(app, "ask", AskConfig, no_args_is_help=True)
def ask_command(cfg: AskConfig) -> None:
    """Try a fine-tuned student: format the instruction (or each --user turn, with the history) with its training prompt and print the answer."""
    from selfinstruct.finetune.ask import ask

    if cfg.user or cfg.instruction == "-":
        ask(cfg, emit=lambda turn, reply: typer.echo(f"user: {turn}\nassistant: {reply}\n"))
        return
    typer.echo(ask(cfg))


@settings_command(app, "status", StatusConfig, no_args_is_help=True)
def status_command(cfg: StatusConfig) -> None:
    """Show where a generate run stands: instructions, spend, and each Batch API batch's state, counts and time waiting."""
    from selfinstruct.generate.status import print_status

    print_status(cfg)


# --- report / export ---------------------------------------------------------------------


@settings_command(app, "report", ReportConfig, no_args_is_help=True)
def report_command(cfg: ReportConfig) -> None:
    """See what a run made: funnel, diversity, shape, quality flags, cost; writes report.html and report.json (never calls the teacher)."""
    from selfinstruct.report import run_report

    html, data, report = run_report(cfg)
    flagged = f"{report.flags.flagged_rows} of {report.flags.rows} rows flagged"
    typer.echo(f"wrote {html} and {data} ({report.shape.instructions} instructions, {flagged})")


@settings_command(app, "export", ExportConfig, no_args_is_help=True)
def export_command(cfg: ExportConfig) -> None:
    """Export a run or an Alpaca dataset as alpaca, messages, sharegpt, hf or sqlite, with a dataset card (README.md)."""
    from selfinstruct.export import export

    result = export(cfg)
    dropped = f", {result.dropped_flagged} flagged rows dropped" if result.dropped_flagged else ""
    if result.dropped_rejected or result.edited:
        dropped += f", {result.dropped_rejected} rows marked wrong dropped and {result.edited} edited outputs used (--drop-rejected)"
    typer.echo(f"wrote {result.rows} rows as {result.format} to {result.out}{dropped}")


@settings_command(app, "review", ReviewConfig, no_args_is_help=True)
def review_command(cfg: ReviewConfig) -> None:
    """Read and mark rows in the browser (right/wrong/skip, edits, notes; keyboard first), and get the share right with its 95% interval."""
    from selfinstruct.review.serve import review

    review(cfg, console=err_console)


# --- eval --------------------------------------------------------------------------------


@settings_command(app, "eval", EvalConfig, no_args_is_help=True)
def eval_command(cfg: EvalConfig) -> None:
    """Compare two models (or answer files) on the same tasks with an LLM judge, each pair judged in both orders; --calibrate measures the judge."""
    if cfg.calibrate:
        from selfinstruct.evaluate.calibrate import run_calibration

        run_calibration(cfg, console=err_console)
        return
    from selfinstruct.evaluate.command import run_eval

    summary = run_eval(cfg, console=err_console)
    if summary:
        r = summary["result"]
        typer.echo(f"A won {100 * r['win_rate']:.1f}% (95% CI {100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}%) of {r['n']} tasks; "
                   f"verdicts in {Path(summary['out']) / 'verdicts.jsonl'}")  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
