"""Typer commands generated from pydantic settings models, and the one-line error handling they run under.

    @settings_command(app, "dedup", DedupConfig, no_args_is_help=True)
    def dedup_command(cfg: DedupConfig) -> None:
        \"\"\"Drop near-duplicate instructions ...\"\"\"   # the command's help
        dedup(cfg)

Every field of the model becomes an option (or, with `setting(argument=True)`, a positional
argument) with the field's default, help text, panel, flag and metavar; a nested settings model
adds its fields flat under its prefix (see `selfinstruct.settings.nested`). Each command also takes
`--config FILE.yaml`: an eager option whose file becomes click's `default_map`, so the file's
values stand in for defaults and flags given on the command line win. Validation happens in
`build_config`; the function receives the validated model.

`guarded` maps our errors, a bad option value, Ctrl-C and OSError to one red line and an exit
code (see `selfinstruct.errors`); SELFINSTRUCT_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import inspect
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Optional, TypeVar, Union, get_args, get_origin

import typer
from pydantic import BaseModel, SecretStr
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

from selfinstruct.errors import SelfInstructError, UserError
from selfinstruct.settings import OptionSpec, build_config, option_specs

err_console = Console(stderr=True)
T = TypeVar("T")
Settings = TypeVar("Settings", bound=BaseModel)
CONFIG_PARAM = "config_file"


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body; map expected failures to one red line and an exit code."""
    debug = os.environ.get("SELFINSTRUCT_DEBUG") == "1"
    try:
        return fn()
    except SelfInstructError as exc:
        if debug:
            raise
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
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
        message = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
        raise typer.Exit(2) from None


class SettingsCommand(TyperCommand):
    """A typer command whose bad or missing option values (and --config mistakes) are one red line, exit 2."""

    flags: dict[str, str] = {}  # parameter name -> the flag (or metavar) users know it by

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        def parse() -> list[str]:
            try:
                return super(SettingsCommand, self).parse_args(ctx, args)
            except typer.BadParameter as exc:
                name = getattr(exc.param, "name", None)
                flag = self.flags.get(name or "")
                if flag is None:
                    raise
                # Compared by name: typer may bundle its own copy of click's exception classes.
                if type(exc).__name__ == "MissingParameter":
                    raise UserError(f"{flag} is required (on the command line or in --config)") from None
                message = exc.message.removeprefix("Value error, ")
                raise UserError(f"{flag}: {message[:1].lower()}{message[1:]}") from None

        return guarded(parse)


def settings_command(app: typer.Typer, name: str, settings: type[Settings], **command: Any) -> Callable[[Callable[[Settings], Any]], Callable[[Settings], Any]]:
    """Register `fn(cfg)` as command `name` of `app`, its options generated from `settings`.

    The function's docstring is the command's help; `command` goes to `app.command` (e.g.
    no_args_is_help=True). Returns the function unchanged, so it stays callable with a config.
    """

    def register(fn: Callable[[Settings], Any]) -> Callable[[Settings], Any]:
        specs = option_specs(settings)
        assert CONFIG_PARAM not in {spec.name for spec in specs}, f"{settings.__name__}: {CONFIG_PARAM} is reserved"

        def callback(**given: Any) -> Any:
            given.pop(CONFIG_PARAM, None)
            return guarded(lambda: fn(build_config(settings, settings_values(specs, given))))

        params = [_parameter(spec) for spec in specs] + [_config_parameter(settings, specs)]
        callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        callback.__annotations__ = {p.name: p.annotation for p in params}
        callback.__name__, callback.__qualname__, callback.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        callback.settings_model = settings  # type: ignore[attr-defined]  # lets tests hold each command to its model
        command_class = type(f"{settings.__name__}Command", (SettingsCommand,), {"flags": {s.name: s.flag for s in specs}})
        app.command(name, cls=command_class, **command)(callback)
        return fn

    return register


def settings_values(specs: list[OptionSpec], given: dict[str, Any]) -> dict[str, Any]:
    """Flat parameter values -> the settings model's (nested) input; an option left unset keeps the field's default."""
    values: dict[str, Any] = {}
    for spec in specs:
        value = given.get(spec.name)
        if value is None and spec.info.default is not None:
            continue  # not given, and the field's default is not None: a default_factory, or required
        target = values
        for key in spec.path[:-1]:
            target = target.setdefault(key, {})
        target[spec.path[-1]] = value
    return values


def _cli_annotation(annotation: Any) -> Any:
    """The type typer should parse: a secret is typed as plain text, `X | None` as Optional[X]."""
    if annotation is SecretStr:
        return str
    if get_origin(annotation) in (Union, types.UnionType):
        args = [_cli_annotation(a) for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return Optional[args[0]]  # noqa: UP045 - typer reads typing.Optional, built at run time
    return annotation


def _parameter(spec: OptionSpec) -> inspect.Parameter:
    """One typer option or argument: the field's default, help (shown literally), panel, flag and metavar."""
    info = spec.info
    from_factory = info.default_factory is not None
    default = ... if info.is_required() else None if from_factory else info.default
    if isinstance(default, list):
        default = list(default)
    metavar = spec.metavar
    if metavar is None and get_origin(info.annotation) is Literal:
        metavar = "<str>"  # the help text names the choices; listing them too would squeeze the option names
    common: dict[str, Any] = {"help": escape(info.description or ""), "metavar": metavar}
    if from_factory:
        common["show_default"] = False  # the help text says what the default is
    if spec.argument:
        param = typer.Argument(default, **common)
    else:
        flag = spec.flag
        annotation = _cli_annotation(info.annotation)
        if (annotation == Optional[bool] or (annotation is bool and default is True)) and "/" not in flag:  # noqa: UP045
            # typer pairs a plain bool by itself, but not an optional one or one named by its flag; on by default needs a way off
            flag = f"{flag}/--no-{flag[2:]}"
        param = typer.Option(default, flag, rich_help_panel=spec.panel, **common)
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=param, annotation=_cli_annotation(info.annotation))


def _config_parameter(settings: type[BaseModel], specs: list[OptionSpec]) -> inspect.Parameter:
    """--config FILE.yaml: read first (eager), its values become the defaults of the other options."""
    extra = settings.model_config.get("json_schema_extra")
    example = extra.get("config_example", "key: value") if isinstance(extra, dict) else "key: value"
    names = {alias: spec.name for spec in specs for alias in spec.aliases}
    # A repeatable option (finetune --data) given one value in YAML is a list of one.
    repeatable = {spec.name for spec in specs if get_origin(spec.info.annotation) is list}

    def load(ctx: typer.Context, value: Path | None) -> Path | None:
        if value is None or ctx.resilient_parsing:
            return value
        defaults = {}
        for key, setting_value in read_yaml_settings(value).items():
            if key not in names:
                raise UserError(f"{value}: unknown setting {key!r} (keys are the option names, e.g. {example.split(':')[0]})")
            defaults[names[key]] = [setting_value] if names[key] in repeatable and not isinstance(setting_value, list) else setting_value
        ctx.default_map = {**(ctx.default_map or {}), **defaults}
        return value

    option = typer.Option(
        None, "--config", is_eager=True, callback=load, metavar="FILE",
        help=escape(f"YAML file of settings, keys named like the options ({example}). Options given on the command line win."),
    )  # fmt: skip
    return inspect.Parameter(CONFIG_PARAM, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[Path])  # noqa: UP045


def read_yaml_settings(path: Path) -> dict[str, object]:
    """Settings from a --config YAML file: a mapping whose keys are option names (`lora_r` or `lora-r`)."""
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
