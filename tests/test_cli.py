"""The command line generated from the settings models: help shows every field, --config, one-line errors.

Each command's options come from its pydantic model in its settings module; these tests hold the
generated CLI to the models, for the shipped commands and for a small model with a prefixed judge.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner

import selfinstruct.errors as errors
from selfinstruct.cli import app
from selfinstruct.cli_options import settings_command
from selfinstruct.dedup import DedupConfig
from selfinstruct.endpoint_settings import ModelsConfig, TeacherSettings
from selfinstruct.finetune.settings import AskConfig, FinetuneConfig
from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.settings import OptionSpec, nested, option_specs, setting
from tests.conftest import SEEDS

# Every command of the app, with the settings model its options were generated from.
COMMANDS: dict[str, type[BaseModel]] = {info.name: getattr(info.callback, "settings_model", None) for info in app.registered_commands}  # type: ignore[misc]


def test_every_command_is_generated_from_a_settings_model() -> None:
    assert all(COMMANDS.values()), [name for name, model in COMMANDS.items() if model is None]
    expected = {"generate": GenerateConfig, "dedup": DedupConfig, "finetune": FinetuneConfig, "ask": AskConfig, "models": ModelsConfig}
    assert expected.items() <= COMMANDS.items()


def wide_help(application: typer.Typer, *args: str) -> str:
    """--help rendered wide enough that no row wraps, with box drawing and runs of spaces removed."""
    result = CliRunner().invoke(application, [*args, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0, result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


def shown_default(spec: OptionSpec) -> str:
    """What help prints after the help text: [required], [default: X], or nothing for None/False/""/[]/computed."""
    info = spec.info
    if info.is_required():
        return " [required]"
    if info.default_factory is not None or info.default is None or info.default is False or info.default in ("", []):
        return ""
    if info.default is True:
        return f" [default: {spec.flag[2:]}]"  # an on/off pair names the flag that is on
    return f" [default: {info.default}]"


def option_row(spec: OptionSpec) -> str:
    """A help row as the user reads it: the flag (or argument name), its metavar, the field's own help, its default."""
    # An on/off setting whose default is "decided for you" (None) shows both of its flags.
    return re.escape(spec.flag) + r"(?: --no-\S+)? \S+ " + re.escape(f"{spec.info.description}{shown_default(spec)}")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_shows_every_setting_with_its_own_help_and_default(command: str) -> None:
    text = wide_help(app, command)
    specs = option_specs(COMMANDS[command])
    assert specs
    for spec in specs:
        assert spec.info.description, f"{command} {spec.flag}: no help text"
        assert re.search(option_row(spec), text), (command, spec.flag, spec.info.description)
    assert "--config" in text


def test_generate_panels_and_flags_are_as_before() -> None:
    text = wide_help(app, "generate")
    panels = [m.group(1) for m in re.finditer(r"(Options|Recipe|Teacher|Limits and spend|Local teacher) (?:\* )?--", text)]
    assert panels == ["Options", "Recipe", "Teacher", "Limits and spend", "Local teacher"]
    for flag in ("--rpm", "--max-usd", "--base-url", "--dry-run", "--num-instructions-per-request"):
        assert f" {flag} " in text
    assert "--requests-per-minute" not in text and "--teacher-" not in text


def test_concurrency_is_unset_by_default_and_an_explicit_value_is_kept() -> None:
    assert TeacherSettings().concurrency is None
    cfg = GenerateConfig(seeds=SEEDS, budget=1, out=Path("o"), concurrency=8)
    assert cfg.teacher.concurrency == 8
    assert "Default: 8 for a hosted endpoint; for the local teacher, the requests its server decodes at once (--local-slots; 1 with --local-engine python)." in wide_help(app, "generate")


# --- config.json stays flat, so run directories written before still resume ----------------

FLAT_KEYS = {
    "seeds", "budget", "out", "recipe", "teacher", "model", "base_url", "api", "structured", "concurrency", "requests_per_minute", "seed",
    "prompts", "num_instructions_per_request", "num_seed_examples", "num_machine_examples", "max_instances", "classify_batch",
    "temperature", "top_p", "presence_penalty", "max_tokens", "max_proposals", "timeout", "max_attempts", "retry_wait",
    "allow_non_ascii", "rouge_threshold", "rouge_tokenizer", "include_seeds", "max_usd", "max_total_tokens", "price_input",
    "price_output", "local_model", "local_ctx", "local_threads", "local_engine", "local_slots", "quality_judge", "min_quality", "judge", "concurrency_fixed",
    "batch", "batch_poll", "batch_min_requests", "batch_max_requests", "batch_price_input", "batch_price_output", "turns", "openers_from", "language", "keywords",
    "context", "chunk_tokens", "chunk_overlap", "types", "verify", "context_in_input", "verifiers", "run_code", "consistency", "seed_mix", "judge_own_answer",
}  # fmt: skip


def test_public_dump_is_the_flat_config_json_without_secrets() -> None:
    cfg = GenerateConfig(seeds=SEEDS, budget=3, out=Path("o"), model="m", base_url="https://user:pw@example.com/v1?api_key=s3",
                         api_key="sk-secret-123456", max_usd=2.5, dry_run=True)  # fmt: skip
    dumped = cfg.public_dump()
    assert set(dumped) == FLAT_KEYS
    assert dumped["model"] == "m" and dumped["max_usd"] == 2.5 and dumped["teacher"] == "auto"
    assert dumped["base_url"] == "https://***@example.com/v1?api_key=***"
    assert "sk-secret-123456" not in json.dumps(dumped)
    judged = GenerateConfig(seeds=SEEDS, budget=3, judge={"base_url": "https://u:pw@judge.example/v1", "api_key": "sk-judge-654321"})
    assert judged.public_dump()["judge"]["base_url"] == "https://***@judge.example/v1"
    assert "sk-judge-654321" not in json.dumps(judged.public_dump()) and not judged.judge_is_teacher
    # read back, as a resumed run or an older run directory's config.json is
    again = GenerateConfig.model_validate(json.loads(json.dumps(dumped)))
    assert again.teacher.model == "m" and again.teacher.max_usd == 2.5 and again.identity() == cfg.identity()


# --- --config FILE.yaml, the same for every command --------------------------------------------

def _capture(monkeypatch: pytest.MonkeyPatch, target: str, result: Any = None) -> list[Any]:
    """Replace the library function a command calls with one that records the settings it gets."""
    seen: list[Any] = []

    def fake(cfg: Any = None, **kwargs: Any) -> Any:
        seen.append(cfg if cfg is not None else kwargs)
        return result

    monkeypatch.setattr(target, fake)
    return seen


CONFIG_CASES: dict[str, tuple[str, Any, str, list[str], dict[str, Any]]] = {
    # command: (function it calls, its result, YAML, command line, expected settings)
    "generate": ("selfinstruct.generate.command.generate", {"examples": 1, "instructions": 1, "run_dir": "o"},
                 f"seeds: {SEEDS}\nbudget: 7\nmax-usd: 5\nrpm: 30\nrecipe: alpaca\n", ["--out", "o", "--budget", "9"],
                 {"budget": 9, "recipe": "alpaca", "teacher.max_usd": 5.0, "teacher.requests_per_minute": 30.0}),
    "dedup": ("selfinstruct.dedup.dedup", None, "input: a.json\nout: b.json\nagainst: [c.jsonl, d.json]\nthreshold: 0.5\n",
              ["--threshold", "0.9"], {"input": Path("a.json"), "against": [Path("c.jsonl"), Path("d.json")], "threshold": 0.9}),
    "finetune": ("selfinstruct.finetune.train.finetune", None, "data: d.json\nlora_r: 8\nlora-alpha: 4\nmethod: full\n",
                 ["--lora-r", "2"], {"data": ["d.json"], "lora_r": 2, "lora_alpha": 4.0, "method": "full"}),
    "ask": ("selfinstruct.finetune.ask.ask", "answer", "model_dir: m\ninstruction: Say hi.\nmax_new_tokens: 5\n",
            ["--temperature", "0.5"], {"model_dir": Path("m"), "instruction": "Say hi.", "max_new_tokens": 5, "temperature": 0.5}),
    "models": ("selfinstruct.teacher.packaged.print_model_status", None, "verify: true\n", [], {"verify": True}),
}  # fmt: skip


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = cfg[part] if isinstance(cfg, dict) else getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("command", list(CONFIG_CASES))
def test_config_file_fills_every_command_and_flags_win(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    target, result, yaml_text, args, expected = CONFIG_CASES[command]
    seen = _capture(monkeypatch, target, result)
    config = tmp_path / "settings.yaml"
    config.write_text(yaml_text)
    outcome = runner.invoke(app, [command, "--config", str(config), *args])
    assert outcome.exit_code == 0, outcome.output
    [cfg] = seen
    for key, value in expected.items():
        assert _get(cfg, key) == value, key


@pytest.mark.parametrize("command", list(COMMANDS))
def test_config_file_mistakes_are_one_line_and_exit_2(runner: CliRunner, tmp_path: Path, command: str) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("colour: blue\n")
    bad_key = runner.invoke(app, [command, "--config", str(config)])
    assert bad_key.exit_code == 2 and bad_key.output.startswith("error: ") and bad_key.output.count("\n") == 1
    assert f"{config}: unknown setting 'colour'" in bad_key.output
    missing = runner.invoke(app, [command, "--config", str(tmp_path / "nowhere.yaml")])
    assert missing.exit_code == 2 and "nowhere.yaml: config file not found" in missing.output
    config.write_text("lora_r: [1\n")
    invalid = runner.invoke(app, [command, "--config", str(config)])
    assert invalid.exit_code == 2 and "not valid YAML" in invalid.output and invalid.output.count("\n") == 1


def test_required_options_may_come_from_the_config_file(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(f"seeds: {tmp_path / 'no-seeds.jsonl'}\nbudget: 3\n")
    result = runner.invoke(app, ["generate", "--config", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "seed file not found" in result.output  # got past the required options
    config.write_text(f"seeds: {SEEDS}\nbudget: 0\n")
    result = runner.invoke(app, ["generate", "--config", str(config)])
    assert result.exit_code == 2 and result.output == "error: --budget: input should be greater than 0\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["generate", "--budget", "3"], "error: --seeds is required (on the command line or in --config)"),
        (["generate", "--seeds", str(SEEDS), "--budget", "many"], "error: --budget: input should be a valid integer"),
        (["generate", "--seeds", str(SEEDS), "--budget", "3", "--recipe", "bogus"], "error: --recipe: 'bogus' is not one of 'self-instruct', 'alpaca', 'conversation', 'grounded'."),
        (["dedup", "--out", "x.json"], "error: INPUT is required (on the command line or in --config)"),
        (["finetune", "--method", "lora"], "error: --data is required (on the command line or in --config)"),
        (["ask", "dir", ""], "error: INSTRUCTION: string should have at least 1 character"),
    ],
)
def test_bad_or_missing_values_are_one_line(runner: CliRunner, args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.output.startswith(expected) and result.output.count("\n") == 1, result.output


# --- a settings model with a prefixed nested endpoint (the shape `eval` uses for its judge) -----


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = setting(None, "Model name at the endpoint.", panel="Endpoint")
    requests_per_minute: float | None = setting(None, "Pace request starts to at most this many per minute.", panel="Endpoint", flag="--rpm", gt=0)
    max_usd: float | None = setting(None, "Spend cap in US dollars.", panel="Limits", gt=0)


class Contest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"config_example": "judge_model: m"})

    tasks: Path = setting(help="Tasks to answer.", argument=True, metavar="TASKS")
    rounds: int = setting(2, "Rounds per task.", ge=1)
    teacher: Endpoint = nested(Endpoint)
    judge: Endpoint = nested(Endpoint, prefix="judge_", panel="Judge")


def _contest_app() -> tuple[typer.Typer, list[Contest]]:
    contest_app = typer.Typer(rich_markup_mode="rich", add_completion=False, pretty_exceptions_enable=False)
    seen: list[Contest] = []

    @contest_app.callback()
    def main() -> None:
        """A test app."""

    @settings_command(contest_app, "contest", Contest)
    def contest_command(cfg: Contest) -> None:
        """Run a contest."""
        seen.append(cfg)

    return contest_app, seen


def test_a_prefixed_nested_model_gets_prefixed_flags_in_its_own_panel(tmp_path: Path) -> None:
    contest_app, seen = _contest_app()
    specs = {spec.name: spec for spec in option_specs(Contest)}
    assert specs["judge_requests_per_minute"].flag == "--judge-rpm" and specs["judge_max_usd"].path == ("judge", "max_usd")
    assert specs["model"].flag == "--model" and specs["max_usd"].panel == "Limits" and specs["judge_max_usd"].panel == "Judge"
    text = wide_help(contest_app, "contest")
    for spec in option_specs(Contest):
        assert re.search(option_row(spec), text), spec.flag
    assert re.search(r"Judge --judge-model \S+ Model name at the endpoint\. --judge-rpm", text)

    runner = CliRunner()
    result = runner.invoke(contest_app, ["contest", "t.jsonl", "--model", "a", "--judge-model", "b", "--judge-rpm", "30", "--max-usd", "1"])
    assert result.exit_code == 0, result.output
    [cfg] = seen
    assert (cfg.teacher.model, cfg.teacher.max_usd, cfg.judge.model, cfg.judge.requests_per_minute) == ("a", 1.0, "b", 30.0)
    assert cfg.judge.max_usd is None and cfg.rounds == 2

    bad = runner.invoke(contest_app, ["contest", "t.jsonl", "--judge-max-usd", "-1"])
    assert bad.exit_code == 2 and bad.output == "error: --judge-max-usd: input should be greater than 0\n"

    config = tmp_path / "contest.yaml"
    config.write_text("tasks: t.jsonl\njudge-model: c\njudge_rpm: 5\nrpm: 7\n")
    result = runner.invoke(contest_app, ["contest", "--config", str(config), "--judge-model", "d"])
    assert result.exit_code == 0, result.output
    assert (seen[-1].judge.model, seen[-1].judge.requests_per_minute, seen[-1].teacher.requests_per_minute) == ("d", 5.0, 7.0)
    config.write_text("judge_colour: red\n")
    result = runner.invoke(contest_app, ["contest", "--config", str(config)])
    assert result.exit_code == 2 and "unknown setting 'judge_colour' (keys are the option names, e.g. judge_model)" in result.output


# --- the error tree ---------------------------------------------------------------------------


def test_every_error_class_is_drawn_in_the_tree_with_its_exit_code() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.SelfInstructError)]
    assert len(classes) >= 6
    for cls in classes:
        assert re.search(rf"\b{cls.__name__}\s+exit {cls.exit_code}\b", errors.__doc__ or ""), cls.__name__
    codes = {c.__name__: c.exit_code for c in classes}
    assert (codes["UserError"], codes["TeacherError"], codes["CapReached"], codes["TrainingInterrupted"]) == (2, 3, 4, 130)


def test_command_functions_do_not_shadow_library_functions() -> None:
    import selfinstruct.cli as cli

    assert {"generate_command", "dedup_command", "finetune_command", "ask_command", "models_command"} <= set(vars(cli))
    assert not {"generate", "dedup", "finetune", "ask", "models"} & set(vars(cli))
