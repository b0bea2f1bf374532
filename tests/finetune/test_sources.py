"""Data files for finetune: Alpaca, ShareGPT and messages detected or forced, bad rows named, mixing weights, --mix-dedup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.finetune.sources import dedup_first_turns, mix, parse_data_spec, read_source

SHAREGPT = [
    {"id": "a", "conversations": [{"from": "human", "value": "Hi, name a colour."}, {"from": "gpt", "value": "Red."},
                                  {"from": "human", "value": "Another?"}, {"from": "gpt", "value": "Blue."}]},
    {"id": "b", "conversations": [{"from": "system", "value": "Be terse."}, {"from": "human", "value": "Name an animal."},
                                  {"from": "gpt", "value": "Owl."}, {"from": "human", "value": "left unanswered"}]},
]  # fmt: skip
MESSAGES = [{"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]}]


def write(path: Path, rows: list, jsonl: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows) if jsonl else json.dumps(rows)
    path.write_text(text, encoding="utf-8")
    return path


def alpaca_rows(n: int, prefix: str = "Task") -> list[dict[str, str]]:
    return [{"instruction": f"{prefix} number {i}: describe item {i} of the catalogue in detail", "input": "", "output": f"Item {i}."} for i in range(n)]


def test_formats_are_detected_and_read_into_chat_rows(tmp_path: Path) -> None:
    share = read_source(write(tmp_path / "c.json", SHAREGPT))
    assert share.format == "sharegpt" and len(share.rows) == 2
    assert [m.role for m in share.rows[0].messages] == ["user", "assistant", "user", "assistant"]
    # A trailing user turn has nothing to learn from and is left out; the system message stays.
    assert [m.role for m in share.rows[1].messages] == ["system", "user", "assistant"]
    msgs = read_source(write(tmp_path / "m.jsonl", MESSAGES, jsonl=True))
    assert msgs.format == "messages" and msgs.rows[0].messages[1].content == "4"
    alp = read_source(write(tmp_path / "a.json", [{"instruction": "Translate.", "input": "Hallo", "output": "Hello"}]))
    assert alp.format == "alpaca" and alp.rows[0].alpaca is not None
    assert [m.content for m in alp.rows[0].messages] == ["Translate.\n\nHallo", "Hello"]
    assert len(alp.sha256) == 64


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"conversations": [{"from": "gpt", "value": "Hi"}]}], r"c.json:1: row 0 \(counting from 0\): turn 0 is 'assistant' where 'user' was expected"),
        ([SHAREGPT[0], {"conversations": [{"from": "human", "value": "a"}, {"from": "robot", "value": "b"}]}], r"row 1 .*turn 1 has from 'robot'"),
        ([{"conversations": [{"from": "human", "value": "only a question"}]}], "no assistant turn, so nothing to learn"),
        ([{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "  "}]}], r"turn 1 \(assistant\) is empty"),
        ([{"conversations": "not a list"}], "expected an object with a list 'conversations'"),
        ([{"text": "what format is this?"}], "cannot tell the data format.*--format"),
    ],
)
def test_bad_rows_are_one_line_naming_file_row_and_turn(tmp_path: Path, rows: list, message: str) -> None:
    with pytest.raises(UserError, match=message):
        read_source(write(tmp_path / "c.json", rows))


def test_format_can_be_forced(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", MESSAGES, jsonl=True)
    with pytest.raises(UserError, match="expected an object with a list 'conversations'"):
        read_source(path, fmt="sharegpt")


def test_data_specs_carry_weights() -> None:
    assert parse_data_spec("a.json") == (Path("a.json"), 1.0)
    assert parse_data_spec("dir/b.jsonl:0.5") == (Path("dir/b.jsonl"), 0.5)
    assert parse_data_spec("c.json:2") == (Path("c.json"), 2.0)
    with pytest.raises(UserError, match="weight must be a number above 0"):
        parse_data_spec("c.json:0")


def test_mixing_weights_give_exact_row_counts_for_a_fixed_seed(tmp_path: Path) -> None:
    a = read_source(write(tmp_path / "a.json", alpaca_rows(10, "Alpha")), 1.0, index=0)
    b = read_source(write(tmp_path / "b.json", alpaca_rows(5, "Beta")), 0.5, index=1)
    c = read_source(write(tmp_path / "c.json", alpaca_rows(4, "Gamma")), 2.5, index=2)
    rows = mix([a, b, c], seed=7)
    # 10 x 1 + round-half-up(5 x 0.5) = 3 + 4 x 2 + round(4 x 0.5) = 2
    assert (a.used, b.used, c.used) == (10, 3, 10) and len(rows) == 23
    keys = [row.key for row in rows]
    assert keys[:10] == [(0, i) for i in range(10)]
    sampled_b = [k for k in keys if k[0] == 1]
    assert len(set(sampled_b)) == 3  # a sample, without repeats
    counts_c = {i: sum(1 for k in keys if k == (2, i)) for i in range(4)}
    assert sorted(counts_c.values()) == [2, 2, 3, 3]  # every row twice, half of them a third time
    # The same seed gives the same mix; another seed another sample.
    again = mix([read_source(tmp_path / n, w, index=i) for i, (n, w) in enumerate([("a.json", 1.0), ("b.json", 0.5), ("c.json", 2.5)])], seed=7)
    assert [r.key for r in again] == keys
    other = mix([read_source(tmp_path / n, w, index=i) for i, (n, w) in enumerate([("a.json", 1.0), ("b.json", 0.5), ("c.json", 2.5)])], seed=8)
    assert [r.key for r in other] != keys


def test_mix_dedup_drops_near_duplicate_first_user_turns_across_sources(tmp_path: Path) -> None:
    a = read_source(write(tmp_path / "a.json", [
        {"instruction": "Explain how vaccines train the immune system.", "input": "", "output": "..."},
        {"instruction": "Write a haiku about autumn rain.", "input": "", "output": "..."},
    ]), index=0)  # fmt: skip
    share = [{"conversations": [{"from": "human", "value": "Explain how vaccines train the human immune system."}, {"from": "gpt", "value": "They..."}]},
             {"conversations": [{"from": "human", "value": "Plan a three-day trip to Kyoto."}, {"from": "gpt", "value": "Day 1..."}]}]  # fmt: skip
    b = read_source(write(tmp_path / "b.json", share), 2.0, index=1)
    rows = mix([a, b], seed=0)
    kept, dropped = dedup_first_turns(rows, [a, b])
    assert dropped == 2  # the near-duplicate conversation, in both of its repeats
    assert [r.messages[0].content for r in kept] == [
        "Explain how vaccines train the immune system.", "Write a haiku about autumn rain.",
        "Plan a three-day trip to Kyoto.", "Plan a three-day trip to Kyoto.",
    ]  # fmt: skip
    assert (a.used, b.used) == (2, 2) and b.dropped_as_duplicates == 1
    assert b.describe()["rows_used"] == 2 and b.describe()["rows_read"] == 2 and b.describe()["weight"] == 2.0
