"""`selfinstruct dedup`: greedy exact ROUGE-L filtering of existing datasets, in their own format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.dedup import DedupConfig, dedup, read_dataset

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well."},
    {"instruction": "Give three tips for staying healthy!", "input": "", "output": "Sleep."},
    {"instruction": "Translate the sentence into French.", "input": "I like tea.", "output": "J'aime le thé."},
    {"instruction": "Give 3 tips for staying healthy and happy.", "input": "", "output": "Walk."},
    {"instruction": "Translate the sentence into German.", "input": "I like tea.", "output": "Ich mag Tee."},
]
SEEDS = [
    {"id": "seed_task_0", "name": "poem", "instruction": "Write a poem about the sea.", "instances": [], "is_classification": False},
]


def reference_keep(texts: list[str], threshold: float, against: list[str] = ()) -> list[bool]:
    kept = list(against)
    decisions = []
    for text in texts:
        duplicate = any(SCORER.score(k, text)["rougeL"].fmeasure > threshold for k in kept)
        decisions.append(not duplicate)
        if not duplicate:
            kept.append(text)
    return decisions


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["dedup", *args])
    return result.exit_code, result.output


def test_alpaca_json_keeps_records_in_order_and_reports_drops(tmp_path: Path) -> None:
    source = tmp_path / "alpaca_data.json"
    source.write_text(json.dumps(ALPACA), encoding="utf-8")
    code, output = run([str(source), "--out", str(tmp_path / "clean.json")])
    assert code == 0, output
    kept = json.loads((tmp_path / "clean.json").read_text(encoding="utf-8"))
    expected = [r for r, keep in zip(ALPACA, reference_keep([r["instruction"] for r in ALPACA], 0.7)) if keep]
    assert kept == expected  # whole records, input and output included, nothing added
    report = [json.loads(line) for line in (tmp_path / "clean.dropped.jsonl").read_text().splitlines()]
    first = ALPACA[0]["instruction"]
    assert report[0] == {"index": 1, "instruction": ALPACA[1]["instruction"], "most_similar": first,
                         "most_similar_source": "input", "most_similar_file": str(source), "most_similar_index": 0,
                         "score": SCORER.score(first, ALPACA[1]["instruction"])["rougeL"].fmeasure}
    assert [row["index"] for row in report] == [i for i, r in enumerate(ALPACA) if r not in kept]
    assert "kept 2 of 5" in output  # the French and German translation requests score 0.8


def test_jsonl_against_seeds_are_compared_but_never_written(tmp_path: Path) -> None:
    seeds = tmp_path / "seed_tasks.jsonl"
    seeds.write_text("".join(json.dumps(s) + "\n" for s in SEEDS), encoding="utf-8")
    more = tmp_path / "more.txt"
    more.write_text("Name three primary colors.\nTell me a story about a cat.\n", encoding="utf-8")
    rows = [{"instruction": "Write a poem about the sea!", "id": 1}, {"instruction": "Write a story about a dog.", "id": 2},
            {"instruction": "Tell me a story about a cat!", "id": 3}]
    source = tmp_path / "data.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = tmp_path / "dropped.jsonl"
    code, output = run([str(source), "--against", str(seeds), "--against", str(more),
                        "--out", str(tmp_path / "out.jsonl"), "--report", str(report)])
    assert code == 0, output
    assert [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [rows[1]]
    found = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["index"], r["most_similar_source"], r["most_similar_file"], r["most_similar_index"]) for r in found] == [
        (0, "against", str(seeds), 0), (2, "against", str(more), 1)]
    assert "and 3 reference items" in output


def test_text_input_written_in_place_without_losing_it(tmp_path: Path) -> None:
    source = tmp_path / "instructions.txt"
    source.write_text("Tell me a joke.\n\nTell me a joke!\nName the planets in order.\n", encoding="utf-8")
    code, output = run([str(source), "--out", str(source)])
    assert code == 0, output
    assert source.read_text(encoding="utf-8") == "Tell me a joke.\nName the planets in order.\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_jsonl_saved_as_json_is_read_as_jsonl(tmp_path: Path) -> None:
    source = tmp_path / "data.json"
    source.write_text('{"instruction": "a b c"}\n{"instruction": "d e f"}\n', encoding="utf-8")
    assert read_dataset(source, "instruction").texts == ["a b c", "d e f"]


def test_field_and_threshold_and_unicode_tokenizer(tmp_path: Path) -> None:
    source = tmp_path / "zh.jsonl"
    rows = [{"prompt": "写一首关于大海的诗"}, {"prompt": "写一首关于大海的短诗"}]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    # rouge_score sees no tokens in Chinese, so nothing is a duplicate; the unicode tokenizer sees them.
    assert dedup(DedupConfig(input=source, out=out, field="prompt")).kept == 2
    assert dedup(DedupConfig(input=source, out=out, field="prompt", tokenizer="unicode")).kept == 1
    assert dedup(DedupConfig(input=source, out=out, field="prompt", tokenizer="unicode", threshold=1.0)).kept == 2


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["missing.json"], "cannot read"),
        ("[{\"prompt\": \"x\"}]", ["data.json"], "no field 'instruction'"),
        ("[{\"instruction\": 3}]", ["data.json"], "non-string field 'instruction'"),
        ("[{\"instruction\": \"x\"}", ["data.json"], "data.json:1: invalid JSON"),
        ("{\"instruction\": \"x\"}", ["data.json"], "expected a JSON list"),
        ("[{\"instruction\": \"x\"}]", ["data.json", "--field", "prompt"], "no field 'prompt'"),
        ("{\"a\": 1}", ["data.jsonl"], "no field 'instruction'"),
        ("not json\n", ["data.jsonl"], "data.jsonl:1: invalid JSON"),
        ("[1, 2]", ["data.json"], "data.json:1: row 0 (counting from 0): expected a JSON object, got int"),
        ("a line\n", ["data.txt", "--threshold", "1.5"], "--threshold"),
        ("a line\n", ["data.txt", "--threshold", "-0.1"], "--threshold"),
        ("a line\n", ["data.txt", "--threshold", "nan"], "--threshold"),
        ("a line\n", ["data.txt", "--against", "missing.jsonl"], "cannot read"),
        ("a line\n", ["data.txt", "--tokenizer", "bpe"], "--tokenizer"),
        ("a line\n", ["data.txt", "--report", "data.txt"], "--report"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                setup: str | None, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        Path(args[0]).write_text(setup, encoding="utf-8")
    code, output = run([*args, "--out", "out" + Path(args[0]).suffix])
    assert code == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], output
    assert "Traceback" not in output
    assert not Path("out" + Path(args[0]).suffix).exists()


def test_non_utf8_input_is_a_user_error(tmp_path: Path) -> None:
    source = tmp_path / "latin1.txt"
    source.write_bytes("café\n".encode("latin-1"))
    code, output = run([str(source), "--out", str(tmp_path / "out.txt")])
    assert code == 2 and "not UTF-8" in output


words = st.sampled_from(["write", "a", "poem", "about", "the", "sea", "moon", "tell", "me", "joke", "!", "3", "é"])
instruction = st.lists(words, min_size=0, max_size=9).map(" ".join)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(texts=st.lists(instruction, max_size=25), against=st.lists(instruction, max_size=4),
       threshold=st.sampled_from([0.7, 0.5, 0.0, 1.0]))
def test_command_keeps_exactly_what_rouge_score_keeps(tmp_path: Path, texts: list[str], against: list[str],
                                                      threshold: float) -> None:
    source, reference, out = tmp_path / "in.json", tmp_path / "ref.json", tmp_path / "out.json"
    source.write_text(json.dumps([{"instruction": t, "n": i} for i, t in enumerate(texts)]), encoding="utf-8")
    reference.write_text(json.dumps([{"instruction": t} for t in against]), encoding="utf-8")
    summary = dedup(DedupConfig(input=source, out=out, against=[reference], threshold=threshold))
    keep = reference_keep(texts, threshold, against)
    assert [r["n"] for r in json.loads(out.read_text(encoding="utf-8"))] == [i for i, k in enumerate(keep) if k]
    assert summary.dropped == keep.count(False)
