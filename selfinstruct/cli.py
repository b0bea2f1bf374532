"""The `selfinstruct` command line: thin typer commands that build a config and call one function.

    selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 500
    selfinstruct finetune --data outputs/<run>/alpaca_data.json

Every command runs through `_guarded`, which turns our error classes (and Ctrl-C) into a
short red line and a non-zero exit code; SELFINSTRUCT_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, TypeVar

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

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
