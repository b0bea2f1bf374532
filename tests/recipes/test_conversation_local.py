"""Recipe conversation on llama.cpp's server with the packaged teachers: real chats, a rerun that asks nothing, chats that go on."""

from __future__ import annotations

import json

import pytest

from selfinstruct.cli import app
from tests.conftest import SEEDS

pytestmark = pytest.mark.slow


def test_packaged_small_model_writes_alternating_conversations_and_a_rerun_sends_nothing(runner, tmp_path):
    out = tmp_path / "run"
    args = ["generate", "--seeds", str(SEEDS), "--budget", "2", "--out", str(out), "--teacher", "local",
            "--local-model", "qwen2.5-coder-0.5b", "--recipe", "conversation", "--turns", "2", "--max-tokens", "256"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    convs = json.loads((out / "conversations.json").read_text())
    assert len(convs) == 2
    for conv in convs:
        turns = conv["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) and 2 <= len(turns) <= 4
        assert all(t["value"].strip() for t in turns)
    messages = (out / "messages.jsonl").read_text().splitlines()
    assert len(messages) == 2 and all(json.loads(m)["messages"][0]["role"] == "user" for m in messages)
    requests = (out / "requests.jsonl").read_text().splitlines()
    rerun = runner.invoke(app, args)
    assert rerun.exit_code == 0, rerun.output
    assert (out / "requests.jsonl").read_text().splitlines() == requests  # nothing asked again


def test_default_teacher_chats_reach_their_second_user_turn(runner, tmp_path):
    """The packaged 1.5B (the default teacher) at --turns 2: every chat reaches its second user turn (a user
    turn dropped for its voice, its length or a restatement is asked for again)."""
    out = tmp_path / "run"
    args = ["generate", "--seeds", str(SEEDS), "--budget", "2", "--out", str(out), "--teacher", "local",
            "--recipe", "conversation", "--turns", "2"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["turns_per_conversation"] == {"2": 2}, summary
