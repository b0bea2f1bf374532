"""Reading rows for `clean`: conversations repaired and split into exchanges; the cheap checks on them."""

from __future__ import annotations

from pathlib import Path

from selfinstruct.clean.checks import mark_duplicates, mark_flags
from selfinstruct.clean.rows import output_record, read_rows, reference_texts
from tests.clean.conftest import ALPACA, SHAREGPT, write


def test_conversations_repaired_per_row_with_exchanges(tmp_path: Path) -> None:
    table = read_rows(write(tmp_path / "c.jsonl", SHAREGPT, jsonl=True))
    assert table.format == "sharegpt" and table.layout == "jsonl" and table.total == 4
    first = table.rows[0]
    assert dict(first.repairs) == {"leading_assistant_turns_dropped": 1, "empty_turns_dropped": 1}
    assert [e.instruction for e in first.exchanges] == ["Tell me how tides work.", "And why are there two high tides a day?"]
    assert first.exchanges[0].context == "" and first.exchanges[1].context.startswith("user: Tell me how tides work.\n\nassistant: The Moon")
    assert table.rows[1].reasons.keys() == {"nothing_to_train_on"} and table.rows[1].exchanges == []
    record = output_record(first, "sharegpt")
    assert record["id"] == "opens-with-assistant" and record["conversations"][0] == {"from": "human", "value": "Tell me how tides work."}
    # The system message is the first exchange's context (the judge sees it); it stays in the written row.
    assert table.rows[2].exchanges[0].context == "system: You are a helpful assistant." and output_record(table.rows[2], "sharegpt")["conversations"][0]["from"] == "system"


def test_limit_and_a_forced_format(tmp_path: Path) -> None:
    table = read_rows(write(tmp_path / "a.json", ALPACA), "alpaca", limit=3)
    assert len(table.rows) == 3 and table.total == len(ALPACA)
    assert table.rows[0].exchanges[0].reference is None and read_rows(tmp_path / "a.json").rows[10].exchanges[0].reference == "Paris"


def test_flags_in_a_conversation_look_at_the_answers(tmp_path: Path) -> None:
    chats = [{"conversations": [{"from": "human", "value": "Here is a picture of my garden. 1. What grows well? 2. When to water?"},
                                {"from": "gpt", "value": "Tomatoes and beans grow well; water in the early morning."}]},
             {"conversations": [{"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "N/A"}]}]  # fmt: skip
    table = read_rows(write(tmp_path / "c.json", chats))
    mark_flags(table.rows)
    assert table.rows[0].kept  # a person may ask about a picture, in a numbered list
    assert list(table.rows[1].reasons) == ["empty_or_echo_output"]
    alpaca = read_rows(write(tmp_path / "a.json", [{"instruction": "Describe the picture.", "input": "", "output": "A dog."}]))
    mark_flags(alpaca.rows, ignore=[])
    assert list(alpaca.rows[0].reasons) == ["media_reference"]
    mark_flags(table.rows, ignore=["empty_or_echo_output"])  # an ignored flag drops nothing new


def test_duplicates_by_instruction_then_input(tmp_path: Path) -> None:
    table = read_rows(write(tmp_path / "a.json", ALPACA))
    against = reference_texts(write(tmp_path / "seeds.jsonl", [{"instruction": "Name the capital city of France.", "instances": []}], jsonl=True))
    mark_duplicates(table.rows, against)
    dropped = {r.value["id"]: r.reasons["near_duplicate"] for r in table.rows if "near_duplicate" in r.reasons}
    assert set(dropped) == {"near-duplicate", "repeated input", "with reference"}
    assert dropped["near-duplicate"].startswith("ROUGE-L F 1.000 with row 0")
    assert "row 2" in dropped["repeated input"] and "--against" in dropped["with reference"]
