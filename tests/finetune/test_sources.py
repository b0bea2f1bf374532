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


# Shaped like the first conversations of the ShareGPT V3 dump: one opens with the assistant, one has an
# empty turn that leaves two user turns in a row, one holds nothing but a system message, one no turns.
SHARED = [
    {"id": "lead", "conversations": [{"from": "gpt", "value": "Sure, here is the rest of the list."},
                                     {"from": "human", "value": "Thanks. Now sort it."}, {"from": "gpt", "value": "Sorted: a, b, c."}]},
    {"id": "gap", "conversations": [{"from": "human", "value": "Write a haiku."}, {"from": "gpt", "value": ""},
                                    {"from": "human", "value": "About rain, please."}, {"from": "gpt", "value": "Rain on the tin roof."},
                                    {"from": "system", "value": "mid-conversation note"}, {"from": "human", "value": "More?"}]},
    {"id": "system-only", "conversations": [{"from": "system", "value": "You are helpful."}]},
    {"id": "none", "conversations": []},
    {"id": "clean", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
]  # fmt: skip


def test_conversations_are_repaired_as_fastchat_does_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "sharegpt.json", SHARED)
    with pytest.raises(UserError, match=r"row 0 .*turn 0 is 'assistant'"):
        read_source(path)  # without repair (review reads this way), a row that is not clean turn-taking is refused
    source = read_source(path, repair=True)
    assert [[(m.role, m.content) for m in r.messages] for r in source.rows] == [
        [("user", "Thanks. Now sort it."), ("assistant", "Sorted: a, b, c.")],
        [("user", "Write a haiku.\n\nAbout rain, please."), ("assistant", "Rain on the tin roof.")],
        [("user", "Hi"), ("assistant", "Hello!")],
    ]
    assert [r.key for r in source.rows] == [(0, 0), (0, 1), (0, 4)]
    assert source.extra["repairs"] == {"empty_turns_dropped": 1, "system_turns_dropped": 1, "leading_assistant_turns_dropped": 1,
                                       "turns_merged": 1, "trailing_user_turns_dropped": 1}  # fmt: skip
    described = source.describe()
    assert described["conversations_dropped"] == 2 and described["rows_read"] == 3
    assert [w.split(": ", 1)[1] for w in described["dropped_conversations"]] == ["row 2 (counting from 0)", "row 3 (counting from 0)"]


def test_only_a_file_with_nothing_trainable_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", [SHARED[2], SHARED[3], {"conversations": [{"from": "gpt", "value": "Hi"}, {"from": "robot", "value": "x"}]}])
    with pytest.raises(UserError, match=r"bad.json: nothing to train on: .*3 conversations left with nothing to train on"):
        read_source(path, repair=True)


def test_the_model_card_shows_the_repairs() -> None:
    from selfinstruct.finetune.output import model_card

    source = {"path": "sharegpt.json", "format": "sharegpt", "sha256": "0" * 64, "rows_read": 3, "rows_used": 3, "weight": 1.0,
              "repairs": {"leading_assistant_turns_dropped": 42, "empty_turns_dropped": 2}, "conversations_dropped": 1}  # fmt: skip
    settings = {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "lora_targets": "all", "seed": 42, "lr": 1e-4, "batch_size": 8, "grad_accum": 1}
    data = {"path": "sharegpt.json", "sha256": "0" * 64, "sources": [source], "rows": 3, "train": 2, "validation": 1, "truncated_train": 0,
            "truncated_validation": 0, "max_length": 512, "mean_sample": 40, "split_conversations": 0, "cut_turns": 0, "dropped_turns": 0}  # fmt: skip
    summary = {"method": "lora", "base_model": "tiny", "chat_template": "vicuna", "weights": "adapter", "data": data, "settings": settings,
               "eos_token": "</s>", "pad_token": "<pad>", "steps": 1, "epochs": 1, "processes": 1, "batching": "padding-free", "precision": "fp32",
               "train_loss_first": 1.0, "train_loss_final": 0.5, "val_loss_before": 1.0, "val_loss_final": 0.6, "tokens_per_second": 1,
               "device": "cpu", "wall_time_s": 1}  # fmt: skip
    card = model_card(summary)
    assert ("repaired as FastChat does: 2 empty turns dropped, 42 leading assistant turns dropped; "
            "1 conversation left with nothing to train on, dropped") in card
