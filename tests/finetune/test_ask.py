"""`selfinstruct ask`: a tuned model gives the answers it learned, with its own prompt template, greedily, up to EOS or the limit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from selfinstruct.cli import app
from tests.finetune.tiny import build_model, repetitive_rows, write_data

pytest.importorskip("trl")
slow = pytest.mark.slow  # these share a fixture that trains for 30 steps

ROWS = repetitive_rows(6)  # two of each task, one with an input
LONG = ROWS[1]  # "What sound does a dog make?" -> "The dog says hello green.": several tokens to cut


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LoRA run with --merge that has learned six answers by heart."""
    root = tmp_path_factory.mktemp("ask")
    tiny = build_model(root / "base", init_std=0.2)
    data = write_data(root / "alpaca_data.json", ROWS)
    out = root / "out"
    result = CliRunner().invoke(app, [
        "finetune", "--data", str(data), "--base-model", str(tiny), "--out", str(out), "--precision", "fp32",
        "--max-steps", "30", "--lr", "1e-2", "--val-size", "0", "--merge",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def loaded(tuned: Path) -> tuple[Any, Any]:
    from selfinstruct.finetune.ask import load_tuned

    return load_tuned(tuned)


def ask(*args: str) -> Result:
    return CliRunner().invoke(app, ["ask", *args])


def question(row: dict[str, str]) -> list[str]:
    return [row["instruction"], *(["--input", row["input"]] if row["input"] else [])]


def prompt_for(tuned: Path, row: dict[str, str]) -> str:
    from selfinstruct.finetune.data import PromptTemplate

    return PromptTemplate.from_model_dir(tuned).render(row["instruction"], row["input"])


def spy_on_generate(model: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the token ids each model.generate call returns."""
    calls: list[Any] = []
    original = model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        calls.append(out[0].tolist())
        return out

    monkeypatch.setattr(model, "generate", generate)
    return calls


@slow
@pytest.mark.parametrize("row", ROWS, ids=[f"row{i}" for i in range(len(ROWS))])
def test_the_merged_model_gives_the_answers_it_learned(tuned: Path, row: dict[str, str]) -> None:
    result = ask(str(tuned), *question(row))
    assert result.exit_code == 0, result.output
    assert result.output == row["output"] + "\n"


@slow
def test_base_plus_adapter_agrees_with_merged(tuned: Path) -> None:
    for row in (ROWS[2], ROWS[3]):  # without and with an input
        merged = ask(str(tuned), *question(row))
        adapter = ask(str(tuned / "adapter"), *question(row))
        assert adapter.exit_code == 0, adapter.output
        assert adapter.output == merged.output == row["output"] + "\n"


@slow
def test_greedy_decoding_is_deterministic_and_stops_at_eos(tuned: Path, loaded: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from selfinstruct.finetune.ask import answer

    model, tokenizer = loaded
    calls = spy_on_generate(model, monkeypatch)
    prompt = prompt_for(tuned, LONG)
    first = answer(model, tokenizer, prompt, max_new_tokens=200, temperature=0)
    assert first == LONG["output"]
    assert [answer(model, tokenizer, prompt, max_new_tokens=200, temperature=0) for _ in range(2)] == [first, first]
    assert calls[0] == calls[1] == calls[2]
    n_prompt = len(tokenizer(prompt)["input_ids"])
    generated = calls[0][n_prompt:]
    assert generated[-1] == tokenizer.eos_token_id and generated.count(tokenizer.eos_token_id) == 1
    assert len(generated) < 20  # stopped at EOS, far below the limit
    assert "<eos>" not in first and "<pad>" not in first


@slow
@pytest.mark.parametrize("limit", [1, 3])
def test_max_new_tokens_cuts_the_answer_there(tuned: Path, loaded: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    from selfinstruct.finetune.ask import answer

    model, tokenizer = loaded
    calls = spy_on_generate(model, monkeypatch)
    prompt = prompt_for(tuned, LONG)
    short = answer(model, tokenizer, prompt, max_new_tokens=limit, temperature=0)
    assert len(calls[0]) - len(tokenizer(prompt)["input_ids"]) == limit
    assert short and LONG["output"].startswith(short) and short != LONG["output"]
    result = ask(str(tuned), *question(LONG), "--max-new-tokens", str(limit))
    assert result.exit_code == 0, result.output
    assert result.output == short + "\n"


@slow
def test_the_prompt_comes_from_the_models_prompt_template_json(tuned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selfinstruct.finetune import ask as ask_module
    from selfinstruct.finetune.settings import AskConfig

    copy = tmp_path / "model"
    shutil.copytree(tuned, copy)
    custom = {"with_input": "Q: {instruction}\nGiven: {input}\nA:\n", "no_input": "Q: {instruction}\nA:\n"}
    (copy / "prompt_template.json").write_text(json.dumps(custom))
    prompts: list[str] = []
    monkeypatch.setattr(ask_module, "answer", lambda model, tokenizer, prompt, *rest, **options: prompts.append(prompt) or "")
    ask_module.ask(AskConfig(model_dir=copy, instruction="Name a red thing."))
    ask_module.ask(AskConfig(model_dir=copy, instruction="Repeat the word three times.", input="red"))
    ask_module.ask(AskConfig(model_dir=tuned, instruction="Name a red thing."))
    assert prompts[:2] == ["Q: Name a red thing.\nA:\n", "Q: Repeat the word three times.\nGiven: red\nA:\n"]
    assert prompts[2].startswith("Below is an instruction") and prompts[2].endswith("### Instruction:\nName a red thing.\n\n### Response:\n")


def _one_line_error(result: Result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert expected in result.output, result.output


def test_ask_bad_dirs(tmp_path: Path) -> None:
    missing = ask(str(tmp_path / "nope"), "hi")
    assert missing.exit_code == 2 and "no such directory" in missing.output
    empty = ask(str(tmp_path), "hi")
    assert empty.exit_code == 2 and "not a fine-tuned model" in empty.output
    a_file = tmp_path / "model.safetensors"
    a_file.write_bytes(b"")
    _one_line_error(ask(str(a_file), "hi"), "is a file; pass the --out directory of finetune")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{not json")
    _one_line_error(ask(str(broken), "hi"), "adapter_config.json: unreadable, or has no 'base_model_name_or_path'")


@slow
def test_ask_a_model_whose_base_or_template_is_gone(tuned: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "moved" / "adapter"  # no training_summary.json beside it: the adapter names its base
    shutil.copytree(tuned / "adapter", adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": str(tmp_path / "gone")}))
    _one_line_error(ask(str(adapter), "hi"), "tried the packaged gemma-3-270m, a local directory or .gguf file")
    merged = tmp_path / "merged"
    shutil.copytree(tuned, merged)
    (merged / "prompt_template.json").write_text('{"with_input": "x"}')
    _one_line_error(ask(str(merged), "hi"), "prompt_template.json: not a prompt template")
