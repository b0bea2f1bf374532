"""`selfinstruct ask`: loads base + adapter or a merged model, uses the training prompt, stops at EOS or the limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.finetune.tiny import build_model, write_data

pytest.importorskip("trl")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LoRA run with --merge, trained long enough to answer the repetitive tasks."""
    root = tmp_path_factory.mktemp("ask")
    tiny = build_model(root / "base")
    data = write_data(root / "alpaca_data.json")
    out = root / "out"
    result = CliRunner().invoke(app, [
        "finetune", "--data", str(data), "--base-model", str(tiny), "--out", str(out), "--precision", "fp32",
        "--max-steps", "40", "--lr", "5e-3", "--lora-r", "64", "--val-size", "0", "--merge",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def ask(*args: str) -> object:
    return CliRunner().invoke(app, ["ask", *args])


def test_ask_the_merged_model(tuned: Path) -> None:
    result = ask(str(tuned), "Repeat the word three times.", "--input", "blue")
    assert result.exit_code == 0, result.output
    assert result.output.strip()


def test_ask_base_plus_adapter_agrees_with_merged(tuned: Path) -> None:
    merged = ask(str(tuned), "Name a green thing.")
    adapter = ask(str(tuned / "adapter"), "Name a green thing.")
    assert adapter.exit_code == 0, adapter.output
    assert adapter.output == merged.output


def test_generation_stops_at_eos_or_the_limit(tuned: Path) -> None:
    from selfinstruct.finetune.ask import generate, load_tuned
    from selfinstruct.finetune.data import PromptTemplate

    model, tokenizer = load_tuned(tuned)
    prompt = PromptTemplate.from_model_dir(tuned).render("What sound does a cat make?")
    short = generate(model, tokenizer, prompt, max_new_tokens=3, temperature=0)
    assert len(tokenizer(short, add_special_tokens=False)["input_ids"]) <= 4
    answer = generate(model, tokenizer, prompt, max_new_tokens=200, temperature=0)
    assert "<eos>" not in answer and "<pad>" not in answer


def test_ask_bad_dirs(tmp_path: Path) -> None:
    missing = ask(str(tmp_path / "nope"), "hi")
    assert missing.exit_code == 2 and "no such directory" in missing.output
    empty = ask(str(tmp_path), "hi")
    assert empty.exit_code == 2 and "not a fine-tuned model" in empty.output
