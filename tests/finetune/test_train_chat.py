"""`finetune` on conversations mixed with Alpaca rows, on a tiny offline Llama; then `ask` holds a conversation with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.finetune.tiny import build_model, repetitive_rows, write_data

pytest.importorskip("trl")
slow = pytest.mark.slow  # runs the Trainer


def sharegpt_rows(n: int = 24) -> list[dict]:
    """Two-turn conversations from the tiny data: a question, its answer, then 'Again?' and the same answer."""
    rows = []
    for i, r in enumerate(repetitive_rows(n)):
        question = r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "")
        rows.append({"id": f"c{i}", "conversations": [
            {"from": "human", "value": question}, {"from": "gpt", "value": r["output"]},
            {"from": "human", "value": "Again?"}, {"from": "gpt", "value": r["output"]},
        ]})  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("tiny") / "model", init_std=0.2)


@slow
def test_conversations_mixed_with_alpaca_train_on_assistant_turns_and_ask_holds_a_conversation(tiny: Path, tmp_path: Path) -> None:
    conversations = tmp_path / "conversations.json"
    # As shared conversations come: one opens with the assistant, one holds nothing to train on.
    shared = [{"id": "lead", "conversations": [{"from": "gpt", "value": "Hello!"}, *sharegpt_rows(1)[0]["conversations"]]},
              {"id": "empty", "conversations": [{"from": "gpt", "value": "Hi"}, {"from": "human", "value": ""}]}]  # fmt: skip
    conversations.write_text(json.dumps(sharegpt_rows() + shared), encoding="utf-8")
    alpaca = write_data(tmp_path / "alpaca_data.json", repetitive_rows(12))
    out = tmp_path / "model"
    args = ["finetune", "--data", str(conversations), "--data", f"{alpaca}:0.5", "--base-model", str(tiny), "--out", str(out),
            "--precision", "fp32", "--batch-size", "8", "--val-size", "0.1", "--max-steps", "30", "--lr", "1e-2", "--max-length", "160"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "chat template: Vicuna v1.1" in result.output and f'try it: selfinstruct ask {out} --user "..." --user "..."' in result.output
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["chat_template"] == "vicuna" and summary["data"]["format"] == "chat"
    sources = summary["data"]["sources"]
    assert [(Path(s["path"]).name, s["format"], s["rows_read"], s["rows_used"], s["weight"]) for s in sources] == [
        ("conversations.json", "sharegpt", 25, 25, 1.0), ("alpaca_data.json", "alpaca", 12, 6, 0.5),
    ]  # fmt: skip
    assert sources[0]["repairs"] == {"empty_turns_dropped": 1, "leading_assistant_turns_dropped": 2} and sources[0]["conversations_dropped"] == 1
    assert "warning: " in result.output and "2 leading assistant turns dropped" in result.output
    assert all(len(s["sha256"]) == 64 for s in sources)
    assert summary["data"]["rows"] == 31
    losses = [loss for _, loss in summary["train_loss_curve"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3
    # The chat template travels with the tokenizer; no Alpaca prompt_template.json, so ask and eval use the chat template.
    assert not (out / "prompt_template.json").exists()
    tokenizer_files = "".join(p.read_text(encoding="utf-8") for p in out.glob("*") if p.name.startswith(("tokenizer_config", "chat_template")))
    assert "ASSISTANT:" in tokenizer_files
    # The sample shown to the user: its assistant turns trained, each through its end token; the rest masked.
    shown = (out / "label_mask_sample.txt").read_text(encoding="utf-8")
    assert shown.startswith("[[masked: <bos>A chat between") and " ASSISTANT:]] " in shown, shown
    trained = re.split(r"\[\[masked: .*?\]\]", shown.rstrip("\n"), flags=re.DOTALL)[1:]
    assert trained and all(re.fullmatch(r" (\w+) \1 \1<eos>", t) for t in trained), shown
    card = (out / "README.md").read_text()
    assert "conversations.json" in card and "weight 0.5" in card and "assistant turns only" in card and "repaired as FastChat does" in card
    ask = CliRunner().invoke(app, ["ask", str(out), "--user", "Repeat the word three times.\n\nred", "--user", "Again?", "--max-new-tokens", "12"])
    assert ask.exit_code == 0, ask.output
    turns = [line for line in ask.output.splitlines() if line.startswith(("user:", "assistant:"))]
    assert [t.split(":")[0] for t in turns] == ["user", "assistant", "user", "assistant"]
    # The tuned model learned the answer's form (a colour three times) and stopped at the end of its turn.
    assert re.fullmatch(r"assistant: (\w+) \1 \1", turns[1]), turns
    assert len(turns[3]) > len("assistant: "), turns


def test_ask_keeps_the_history_of_a_conversation(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each --user turn is answered with the conversation so far, rendered with the model's chat template."""
    from selfinstruct.finetune import ask as ask_module

    out = tmp_path / "chat-model"
    out.mkdir()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    tokenizer.chat_template = (Path(__file__).resolve().parents[2] / "prompts" / "chat_template_vicuna.jinja").read_text()
    tokenizer.save_pretrained(str(out))
    prompts: list[str] = []
    replies = iter(["red red red", "blue blue blue"])

    def fake_answer(model, tok, prompt, max_new_tokens, temperature, chat=False, stop=None):  # noqa: ANN001, ANN202
        assert chat and tok.eos_token_id in stop
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(ask_module, "load_tuned", lambda model_dir: (None, AutoTokenizer.from_pretrained(str(model_dir))))
    monkeypatch.setattr(ask_module, "answer", fake_answer)
    result = CliRunner().invoke(app, ["ask", str(out), "--user", "Say red.", "--user", "Now blue?", "--system", "Be brief."])
    assert result.exit_code == 0, result.output
    assert prompts == [
        "<bos>Be brief. USER: Say red. ASSISTANT:",
        "<bos>Be brief. USER: Say red. ASSISTANT: red red red<eos>USER: Now blue? ASSISTANT:",
    ]
    assert result.output == "user: Say red.\nassistant: red red red\n\nuser: Now blue?\nassistant: blue blue blue\n\n"
    # An Alpaca-trained output (it has a prompt_template.json) cannot hold a conversation: one red line.
    (out / "prompt_template.json").write_text("{}")
    result = CliRunner().invoke(app, ["ask", str(out), "--user", "Say red."])
    assert result.exit_code == 2 and "single-turn Alpaca prompts" in result.output
