"""Recipe grounded on llama.cpp's server with the packaged 0.5B teacher: image annotations in, llava_instruct.json out."""

from __future__ import annotations

import json

import pytest

from selfinstruct.cli import app
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ANNOTATIONS = ROOT / "examples" / "grounded" / "annotations.jsonl"


def test_packaged_small_model_writes_llava_examples_from_annotations_and_a_rerun_sends_nothing(runner, tmp_path):
    out = tmp_path / "run"
    args = ["generate", "--recipe", "grounded", "--context", str(ANNOTATIONS), "--budget", "2", "--out", str(out),
            "--teacher", "local", "--local-model", "qwen2.5-coder-0.5b", "--types", "detail", "--max-tokens", "256"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    llava = json.loads((out / "llava_instruct.json").read_text())
    images = {json.loads(line)["id"]: json.loads(line)["image"] for line in ANNOTATIONS.read_text().splitlines()}
    assert len(llava) == 2
    for rec in llava:
        assert set(rec) == {"id", "image", "conversations"} and rec["image"] == images[rec["id"]]
        human, gpt = rec["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n") and len(human["value"]) > len("<image>\n")
        assert gpt["from"] == "gpt" and gpt["value"].strip()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["examples_per_type"] == {"detail": 2}
    requests = (out / "requests.jsonl").read_text().splitlines()
    rerun = runner.invoke(app, args)
    assert rerun.exit_code == 0, rerun.output
    assert (out / "requests.jsonl").read_text().splitlines() == requests  # nothing asked again
