"""`selfinstruct finetune` end to end on a tiny offline Llama: LoRA and full runs learn, resume, merge, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.finetune.tiny import build_model, write_data

pytest.importorskip("trl")
slow = pytest.mark.slow  # runs the Trainer: seconds each on two CPU cores; the error paths below stop before it


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("data") / "alpaca_data.json")


def run(*args: str) -> object:
    return CliRunner().invoke(app, ["finetune", *args])


def train_args(data: Path, tiny: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--base-model", str(tiny), "--out", str(out), "--precision", "fp32",
            "--batch-size", "8", "--val-size", "0.1", *extra]  # fmt: skip


def summary(out: Path) -> dict:
    return json.loads((out / "training_summary.json").read_text())


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@slow
def test_lora_run_learns_and_saves_a_checked_adapter(tiny: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "lora"
    result = run(*train_args(data, tiny, out, "--max-steps", "16", "--lr", "1e-2"))
    assert result.exit_code == 0, result.output
    assert "step 16/16" in result.output and "tok/s" in result.output and "eta" in result.output
    s = summary(out)
    losses = [loss for _, loss in s["train_loss_curve"]]
    assert mean(losses[-4:]) < mean(losses[:4]) - 0.3
    assert s["val_loss_final"] < s["val_loss_before"]
    assert s["steps"] == 16 and s["method"] == "lora" and s["batching"] == "padding-free"
    assert s["data"]["rows"] == 48 and s["data"]["train"] + s["data"]["validation"] == 48
    assert s["data"]["truncated_train"] == 0 and s["tokens_per_second"] > 0 and s["wall_time_s"] > 0
    assert s["pad_token"].startswith("<pad>") and s["eos_token"] == "<eos>"
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "prompt_template.json", "README.md"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text()
    assert str(tiny) in card and "LoRA (r=16" in card and str(data) in card
    assert (out / "adapter_model.safetensors").stat().st_size > 10_000


@slow
def test_full_run_learns(tiny: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "full"
    result = run(*train_args(data, tiny, out, "--method", "full", "--max-steps", "12", "--lr", "3e-3", "--batching", "grouped"))
    assert result.exit_code == 0, result.output
    s = summary(out)
    losses = [loss for _, loss in s["train_loss_curve"]]
    assert mean(losses[-3:]) < mean(losses[:3]) - 0.3
    assert s["val_loss_final"] < s["val_loss_before"]
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert s["settings"]["lr"] == 3e-3 and s["batching"] == "grouped"


@slow
def test_resume_continues_the_step_count(tiny: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    first = run(*train_args(data, tiny, out, "--max-steps", "4", "--save-steps", "2"))
    assert first.exit_code == 0, first.output
    assert (out / "checkpoints" / "checkpoint-4").is_dir()
    again = run(*train_args(data, tiny, out, "--max-steps", "4"))
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = run(*train_args(data, tiny, out, "--max-steps", "7", "--resume"))
    assert resumed.exit_code == 0, resumed.output
    assert "resuming after step 4" in resumed.output and "step 5/7" in resumed.output and "step 1/7" not in resumed.output
    s = summary(out)
    assert s["steps"] == 7 and [step for step, _ in s["train_loss_curve"]][-1] == 7


def test_resume_without_a_checkpoint_is_an_error(tiny: Path, data: Path, tmp_path: Path) -> None:
    result = run(*train_args(data, tiny, tmp_path / "none", "--resume"))
    assert result.exit_code == 2 and "no checkpoint" in result.output


@slow
def test_merge_gives_a_model_that_loads_alone_and_matches_the_adapter(tiny: Path, data: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    result = run(*train_args(data, tiny, out, "--max-steps", "3", "--lr", "1e-2", "--merge"))
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file() and (out / "adapter" / "adapter_model.safetensors").is_file()
    merged = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny)), str(out / "adapter")).eval()
    ids = torch.tensor([[0, 5, 17, 33, 42]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, with_adapter(ids).logits, atol=1e-4)


@slow
def test_yaml_config_with_command_line_overrides(tiny: Path, data: Path, tmp_path: Path) -> None:
    config = tmp_path / "ft.yaml"
    config.write_text(f"data: {data}\nbase_model: {tiny}\nmax_steps: 2\nlora_r: 4\nval_size: 0\nprecision: fp32\nlr: 0.5\n")
    out = tmp_path / "yaml"
    result = run("--config", str(config), "--out", str(out), "--lr", "1e-3")
    assert result.exit_code == 0, result.output
    settings = summary(out)["settings"]
    assert settings["lora_r"] == 4 and settings["max_steps"] == 2 and settings["lr"] == 1e-3
    assert summary(out)["val_loss_before"] is None
    config.write_text("lora_rank: 4\n")
    bad = run("--config", str(config), "--data", str(data))
    assert bad.exit_code == 2 and "unknown setting 'lora_rank'" in bad.output


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "no examples"),
        ([{"instruction": "a", "input": "", "output": "b"}, {"instruction": "a", "answer": "b"}], "row 1 (counting from 0): unexpected key 'answer'"),
    ],
)
def test_bad_data_exits_2_with_one_line(tmp_path: Path, tiny: Path, rows: list, message: str) -> None:
    path = tmp_path / "alpaca_data.json"
    path.write_text(json.dumps(rows))
    result = run("--data", str(path), "--base-model", str(tiny), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_missing_data_file_and_option(tmp_path: Path) -> None:
    result = run("--data", str(tmp_path / "missing.json"))
    assert result.exit_code == 2 and "data file not found" in result.output
    result = run("--base-model", "x")
    assert result.exit_code == 2 and "--data is required" in result.output


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("./no/such/model", "tried the packaged gemma-3-270m, a local directory or .gguf file"),
        ("no-such-org/no-such-model-xyz", "Hugging Face Hub id 'no-such-org/no-such-model-xyz' in offline mode"),
    ],
)
def test_unknown_base_model_says_what_was_tried(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, message: str) -> None:
    from huggingface_hub import constants

    # The Hub library reads HF_HUB_OFFLINE once, at import, possibly before the test environment set it.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = run("--data", str(data), "--base-model", spec, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_max_length_too_small_for_any_response(tiny: Path, data: Path, tmp_path: Path) -> None:
    result = run(*train_args(data, tiny, tmp_path / "o", "--max-length", "12"))
    assert result.exit_code == 2 and "too small for any response" in result.output


def test_merge_needs_lora(tiny: Path, data: Path, tmp_path: Path) -> None:
    result = run(*train_args(data, tiny, tmp_path / "o", "--method", "full", "--merge"))
    assert result.exit_code == 2 and "--merge applies to --method lora" in result.output


def test_default_out_dir(tmp_path: Path) -> None:
    from selfinstruct.finetune.train import default_out_dir

    run_data = write_data(tmp_path / "outputs" / "run-1" / "alpaca_data.json")
    assert default_out_dir(run_data, "lora") == run_data.parent.resolve() / "model"
    loose = write_data(tmp_path / "mine.json")
    first = default_out_dir(loose, "lora")
    assert first.parent == Path("outputs") and first.name.startswith("finetune-mine-") and first == default_out_dir(loose, "lora")
    assert default_out_dir(loose, "full") != first


def test_cli_import_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, selfinstruct.cli; print(any(m in sys.modules for m in ('torch', 'transformers', 'trl', 'peft')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@slow
def test_eval_judges_the_tuned_model_against_its_base(tiny: Path, data: Path, tmp_path: Path, mock_teacher) -> None:
    """finetune --eval: train, then both models answer the tasks and the judge (the mock over HTTP) compares them."""
    out = tmp_path / "lora"
    judge = ["--judge-base-url", mock_teacher.url, "--judge-api-key", "sk-judge-secret-1", "--judge-model", "mock-judge"]
    result = run(*train_args(data, tiny, out, "--max-steps", "2", "--eval", "--eval-limit", "3", "--eval-max-new-tokens", "4", *judge))
    assert result.exit_code == 0, result.output
    assert "eval against" in result.output and "win rate" in result.output
    s = summary(out)
    assert s["eval"]["n"] == 3 and s["eval"]["out"] == str(out / "eval")
    assert s["eval"]["ci_low"] <= s["eval"]["win_rate"] <= s["eval"]["ci_high"]
    assert "## Evaluation against the base model" in (out / "README.md").read_text()
    assert "sk-judge-secret-1" not in (out / "training_summary.json").read_text()


def test_a_bad_eval_tasks_file_stops_before_training(tiny: Path, data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "tasks.jsonl"
    bad.write_text('{"id": "t1", "instruction": "Say hi."}\nnot json\n')
    result = run(*train_args(data, tiny, tmp_path / "out", "--eval", "--eval-tasks", str(bad)))
    assert result.exit_code == 2 and "tasks.jsonl:2" in result.output
    assert not (tmp_path / "out").exists()
