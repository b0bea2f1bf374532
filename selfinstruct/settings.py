"""How a command's settings model declares its options, and how settings are validated.

    class DedupConfig(_Config):
        threshold: float = setting(0.7, "Drop an item whose ROUGE-L F ... is above this.", ge=0, le=1)
        judge: TeacherSettings = nested(TeacherSettings, prefix="judge_", panel="Judge")

The field name gives the flag (`threshold` -> `--threshold`); `setting()` adds the help text,
the help panel, an other flag name (`requests_per_minute` is `--rpm`), a metavar, or a
positional argument. A field holding another settings model (`nested()`) shows its options
flat, under a prefix (`judge_` gives `--judge-model`) or none. `option_specs` lists them for
the CLI (`cli_options.py`); `build_config` validates and names the offending option in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from selfinstruct.errors import UserError


class _Config(BaseModel):
    """Base for command settings: unknown keys are mistakes, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def setting(
    default: Any = ...,
    help: str = "",
    *,
    panel: str | None = None,
    flag: str | None = None,
    metavar: str | None = None,
    argument: bool = False,
    **field: Any,
) -> Any:
    """A settings field with what its command-line option shows: help text, help panel, flag name, metavar.

    `argument=True` makes it positional; `flag` overrides the name derived from the field's.
    Everything else (`ge=`, `exclude=`, `default_factory=`) goes to pydantic's `Field`.
    """
    extra = {"panel": panel, "flag": flag, "metavar": metavar, "argument": argument or None}
    extra = {k: v for k, v in extra.items() if v is not None}
    if "default_factory" in field:
        return Field(description=help, json_schema_extra=extra or None, **field)
    return Field(default, description=help, json_schema_extra=extra or None, **field)


def nested(model: type[BaseModel], *, prefix: str = "", panel: str | None = None) -> Any:
    """A field holding another settings model whose options appear flat, named `prefix` + field name.

    `panel` moves all of them into one help panel (e.g. "Judge"); by default each keeps its own.
    """
    extra = {"nested_prefix": prefix, **({"panel": panel} if panel else {})}
    return Field(default_factory=model, json_schema_extra=extra)


@dataclass(frozen=True)
class OptionSpec:
    """One command-line parameter of a settings model, nested ones flattened."""

    name: str  # parameter and YAML key: prefix + field name, e.g. judge_max_usd
    flag: str  # --judge-max-usd; for a positional argument, its metavar (INPUT)
    path: tuple[str, ...]  # where the value sits in the model, e.g. ("judge", "max_usd")
    info: FieldInfo
    panel: str | None
    argument: bool
    metavar: str | None

    @property
    def aliases(self) -> set[str]:
        """Names a --config file may use for it: the field's (with prefix) and the flag's."""
        return {self.name, self.flag.lstrip("-").replace("-", "_").lower()}


def _extra(info: FieldInfo) -> dict[str, Any]:
    return info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}


def option_specs(model: type[BaseModel], prefix: str = "", panel: str | None = None, path: tuple[str, ...] = ()) -> list[OptionSpec]:
    """Every option of a settings model in declaration order, nested settings flattened with their prefix.

    `panel`, when given, puts every option in that help panel (a nested model's `nested(panel=...)`).
    """
    specs: list[OptionSpec] = []
    for name, info in model.model_fields.items():
        extra = _extra(info)
        if "nested_prefix" in extra:
            assert isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel), name
            specs += option_specs(info.annotation, prefix + extra["nested_prefix"], extra.get("panel") or panel, (*path, name))
            continue
        argument = bool(extra.get("argument"))
        metavar = extra.get("metavar")
        flag = extra.get("flag") or "--" + name.replace("_", "-")
        flag = "--" + prefix.replace("_", "-") + flag[2:]
        if argument:
            flag = metavar or (prefix + name).upper()
        specs.append(OptionSpec(prefix + name, flag, (*path, name), info, panel or extra.get("panel"), argument, metavar))
    return specs


def option_for(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The command-line name of the setting at a validation error's location: --max-usd, --judge-model, INPUT."""
    for spec in option_specs(model):
        if tuple(loc[: len(spec.path)]) == spec.path:
            return spec.flag
    return "--" + str(loc[0]).replace("_", "-") if loc else "settings"


def build_config(cls: type[_Config], values: dict[str, object]) -> _Config:
    """Validate settings; a bad value becomes one line naming the command-line option."""
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = option_for(cls, tuple(first["loc"]))
        if first["type"] == "missing":
            raise UserError(f"{option} is required (on the command line or in --config)") from None
        raise UserError(f"{option}: {first['msg'].lower()}") from None


def fresh_dir(prefix: str) -> Path:
    """A new folder under outputs/ named by the start time, PREFIX-YYYYmmdd-HHMMSS (then -2, -3, ...);
    never one that exists. The default --out of generate and eval."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("outputs") / f"{prefix}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path("outputs") / f"{prefix}-{stamp}-{n}"
    return path
