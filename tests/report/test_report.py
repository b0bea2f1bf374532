"""`selfinstruct report` on mock-teacher runs and plain datasets: numbers match the journal, bad input is one line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.report.source import read_dataset
from tests.conftest import SEEDS
from tests.report.runs import FLAGGED_ROWS, journal, make_run, write_dataset


def _report(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 0, result.output
    return result


def test_report_numbers_equal_counts_from_the_journal(runner: CliRunner, mock_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_teacher(*args: object, **kwargs: object) -> None:
        raise AssertionError("report called the teacher")

    monkeypatch.setattr("selfinstruct.teacher.client.Teacher.complete", no_teacher)
    result = _report(runner, str(mock_run))
    assert "report.html" in result.output
    report = json.loads((mock_run / "report.json").read_text())
    records = journal(mock_run)
    candidates = [r for r in records if r["kind"] == "candidate"]
    kept = [c["id"] for c in candidates if c["status"] == "kept"]
    completed = {r["id"]: r for r in records if r["kind"] == "completed"}
    classified = {r["id"]: r for r in records if r["kind"] == "classified"}
    data = json.loads((mock_run / "alpaca_data.json").read_text())
    steps = {s["name"]: s for s in report["funnel"]["steps"]}
    assert steps["proposed"]["count"] == len(candidates)
    assert steps["kept"]["count"] == len(kept)
    assert steps["near-duplicate (ROUGE-L)"]["count"] == len(kept)
    assert steps["classified"]["count"] == sum(1 for i in kept if i in classified)
    assert steps["with valid instances"]["count"] == sum(1 for i in kept if completed.get(i, {}).get("instances"))
    assert steps["emitted"]["count"] == len({r["instruction"] for r in data}) == 25
    rejected = Counter(c["reason"] for c in candidates if c["status"] == "rejected")
    assert {r["reason"]: r["count"] for r in report["funnel"]["rejections"] if r["stage"] == "filter"} == rejected
    # Every step between "proposed" and the last four (kept, classified, with valid instances, emitted) is a filter's.
    assert sum(s["dropped"] for s in report["funnel"]["steps"][1:-4]) == sum(rejected.values())
    for rejection in report["funnel"]["rejections"]:
        assert 1 <= len(rejection["examples"]) <= 3
        if rejection["reason"] == "near_duplicate":
            assert all(ex["most_similar"] and ex["score"] > 0.7 for ex in rejection["examples"])
    assert report["shape"]["rows"] == len(data)
    assert report["shape"]["instructions"] == 25
    assert sum(report["shape"]["instances_per_instruction"].values()) == 25
    emitted_ids = {c["id"] for c in candidates if c["instruction"] in {r["instruction"] for r in data}}
    yes = sum(1 for i in emitted_ids if classified[i]["is_classification"])
    assert report["shape"]["classification"] == {"yes": yes, "no": 25 - yes, "share": round(yes / 25, 4)}
    requests = [json.loads(line) for line in (mock_run / "requests.jsonl").read_text().splitlines()]
    assert report["cost"]["total"]["requests"] == sum(1 for r in requests if r["attempt"] == 1)
    assert report["cost"]["total"]["prompt_tokens"] == sum(r.get("prompt_tokens", 0) for r in requests)
    assert {s["stage"] for s in report["cost"]["stages"]} == {r["stage"] for r in requests}
    similarity = report["diversity"]["seed_similarity"]
    assert similarity["instructions"] == len(kept) and sum(similarity["histogram"]["counts"]) == len(kept)
    assert report["diversity"]["verb_noun"]["with_structure"] > 0


def test_seed_similarity_is_rouge_scores_exact_best(mock_run: Path) -> None:
    from rouge_score import rouge_scorer

    from selfinstruct.records import read_seed_tasks
    from selfinstruct.report.diversity import seed_similarity

    seeds = [s.instruction for s in read_seed_tasks(SEEDS)][:40]
    texts = [c["instruction"] for c in journal(mock_run) if c["kind"] == "candidate"][:15]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    result = seed_similarity(texts, seeds)
    best = sorted((max(scorer.score(s, t)["rougeL"].fmeasure for s in seeds) for t in texts), reverse=True)
    assert [c.score for c in result.closest] == [round(b, 4) for b in best[:5]]


def test_report_on_a_dataset_leaves_out_run_sections(runner: CliRunner, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "rows.json")
    _report(runner, str(data), "--seeds", str(SEEDS))
    report = json.loads((tmp_path / "rows.report.json").read_text())
    assert report["funnel"] is None and report["cost"] is None
    assert report["shape"]["rows"] == len(read_dataset(data))
    assert report["flags"]["flagged_rows"] == len(FLAGGED_ROWS)
    html = (tmp_path / "rows.report.html").read_text()
    assert 'id="flags"' in html and 'id="funnel"' not in html
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in json.loads(data.read_text())) + "\n")
    _report(runner, str(jsonl), "--out", str(tmp_path / "out"))
    assert (tmp_path / "out" / "report.html").is_file()


def test_report_on_an_unfinished_run_uses_the_journal(runner: CliRunner, tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 6)
    (run / "alpaca_data.json").unlink()
    _report(runner, str(run))
    report = json.loads((run / "report.json").read_text())
    assert report["shape"]["instructions"] == 6


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p, "not found"),
        (lambda p: (p.mkdir(), p)[1], "not a run directory"),
        (lambda p: (p.with_suffix(".txt").write_text("hi"), p.with_suffix(".txt"))[1], "not a run directory or a dataset"),
        (lambda p: (p.with_suffix(".jsonl").write_text('{"instruction": "a", "output": "b"}\n{oops\n'), p.with_suffix(".jsonl"))[1], "rows.jsonl:2: invalid JSON"),
        (lambda p: (p.with_suffix(".json").write_text('[{"instruction": "a"}]'), p.with_suffix(".json"))[1], "field 'output' is missing"),
        (lambda p: (p.with_suffix(".json").write_text('{"a": 1}'), p.with_suffix(".json"))[1], "expected a JSON list"),
    ],
)
def test_bad_sources_are_one_line_and_exit_2(runner: CliRunner, tmp_path: Path, setup, message: str) -> None:
    target = setup(tmp_path / "rows")
    result = runner.invoke(app, ["report", str(target)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["report", "export"])
def test_a_conversation_run_is_named_as_such_with_where_its_data_is(runner: CliRunner, tmp_path: Path, command: str) -> None:
    run = tmp_path / "chat-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"recipe": "conversation", "seeds": str(SEEDS)}))
    (run / "journal.jsonl").write_text('{"kind": "turn", "id": "s00000", "n": 1, "role": "assistant", "content": "Hi."}\n')
    args = [command, str(run)] + (["--format", "hf", "--out", str(tmp_path / "x")] if command == "export" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "a conversation run" in result.output and "conversations.json" in result.output, result.output
    assert "Traceback" not in result.output


def test_damaged_journal_names_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 3)
    lines = (run / "journal.jsonl").read_text().splitlines()
    lines.insert(2, '{"kind": "candidate", "broken"')
    (run / "journal.jsonl").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 2 and "journal.jsonl:3:" in result.output
    (run / "journal.jsonl").write_text("\n".join([ln for i, ln in enumerate(lines) if i != 2]) + '\n{"kind": "cand')
    _report(runner, str(run))  # a torn last line (crash mid-write) is skipped, as a resume does


def test_row_text_is_escaped_in_the_page(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "rows.json"
    data.write_text(json.dumps([{"instruction": "Explain <script>alert(1)</script> tags.", "input": "", "output": "<b>bold</b>\n```"}]))
    _report(runner, str(data))
    html = (tmp_path / "rows.report.html").read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html and "<b>bold" not in html
