"""What reviews do elsewhere: a run's context on the page, export --drop-rejected, report, the dataset card, finetune --data RUN."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.finetune.sources import parse_data_spec, read_source
from selfinstruct.records import Candidate, ChatMessage, Completed, Instance, QualityNote
from selfinstruct.report import make_report
from selfinstruct.review.rows import load_rows
from selfinstruct.reviews import ReviewLog, ReviewWriter, chat_digest, row_digest
from tests.review.serving import alpaca_rows, serving, write_rows


def _run_dir(path: Path, recipe: str = "self-instruct") -> Path:
    """A finished run directory written with the journal's own record models: two instructions, gate notes, a dropped sibling."""
    path.mkdir()
    grounded = recipe == "grounded"
    chunk = {"file": "guide.md", "offset": 0, "type": "detail", "context": "guide.md#0", "text": "The pump runs at 40 litres a minute."}
    records = [
        Candidate(id="i1", instruction="How fast does the pump run?" if grounded else "Name two prime numbers.", status="kept", request=0,
                  source=chunk if grounded else None),
        Candidate(id="i2", instruction="Spell 'cat' backwards.", status="kept", request=0),
        Completed(id="i1", instances=[Instance(input="How fast does the pump run?" if grounded else "", output="2 and 3." if not grounded else "40 litres a minute.")],
                  quality=[QualityNote(score=5, reason="correct and complete")],
                  dropped=[{"input": "", "output": "2 and 4.", "reason": "low_quality", "score": 1}]),
        Completed(id="i2", instances=[Instance(input="", output="tac")], quality=[QualityNote(score=2, reason="terse")]),
    ]  # fmt: skip
    (path / "journal.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    (path / "config.json").write_text(json.dumps({"recipe": recipe, "budget": 2}))
    rows = [{"instruction": r.instruction if not grounded else "How fast does the pump run?", "input": "", "output": c.instances[0].output}
            for r, c in zip(records[:2], records[2:])]  # fmt: skip
    (path / "alpaca_data.json").write_text(json.dumps(rows))
    return path


def test_a_run_shows_each_rows_gate_note_siblings_and_flags(tmp_path: Path) -> None:
    run = _run_dir(tmp_path / "run")
    data = load_rows(run)
    assert data.reviews == run / "reviews.jsonl" and [r.key for r in data.rows] == ["i1", "i2"]
    first = data.context(0)
    assert first.gate == {"score": 5, "reason": "correct and complete"}
    assert first.siblings[0]["reason"] == "low_quality" and first.siblings[0]["output"] == "2 and 4."
    assert data.context(1).gate == {"score": 2, "reason": "terse"} and data.context(1).siblings == []
    with serving(run) as s:
        page = httpx.get(s.url).text
    assert "Quality gate: score 5 — correct and complete" in page and "1 sibling the run rejected" in page and "low_quality" in page


def test_a_grounded_run_shows_its_context_chunk(tmp_path: Path) -> None:
    run = _run_dir(tmp_path / "run", recipe="grounded")
    ctx = load_rows(run).context(0)
    assert ctx.chunk is not None and ctx.chunk["text"] == "The pump runs at 40 litres a minute." and ctx.chunk["file"] == "guide.md"
    with serving(run) as s:
        page = httpx.get(s.url).text
    assert "Context chunk: guide.md" in page and "The pump runs at 40 litres a minute." in page


def test_conversations_show_every_turn_and_an_edit_replaces_the_last_answer(tmp_path: Path) -> None:
    conversations = [{"id": "c1", "conversations": [{"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "Red."},
                                                    {"from": "human", "value": "Another?"}, {"from": "gpt", "value": "Bleu."}]},
                     {"id": "c2", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."}]}]  # fmt: skip
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(conversations))
    data = load_rows(path)
    assert data.conversation and data.rows[0].messages == [("user", "Name a colour."), ("assistant", "Red."), ("user", "Another?"), ("assistant", "Bleu.")]
    with serving(path) as s:
        page = httpx.get(s.url).text
        assert all(text in page for text in ("Name a colour.", "Red.", "Another?", "Bleu.")) and "edit last answer" in page
        auth = {"X-Review-Token": s.token, "Content-Type": "application/json"}
        httpx.post(f"{s.base}/api/review", json={"row": 0, "hash": data.digests[0], "output": "Blue."}, headers=auth).raise_for_status()
        httpx.post(f"{s.base}/api/review", json={"row": 1, "hash": data.digests[1], "verdict": "wrong"}, headers=auth).raise_for_status()
    again = load_rows(path)  # the review itself still shows every row as the file has it
    assert len(again.rows) == 2 and again.rows[0].messages[-1] == ("assistant", "Bleu.") and again.digests == data.digests
    source = read_source(path)  # what finetune trains on
    assert len(source.rows) == 1 and source.rows[0].messages[-1].content == "Blue." and source.rows[0].messages[1].content == "Red."
    assert source.describe()["reviews"] == {"path": str(tmp_path / "chat.reviews.jsonl"), "dropped_wrong": 1, "edited": 1, "stale_reviews": 0}
    assert chat_digest(data.rows[0].messages) == data.digests[0]


def _mark(path: Path, rows: list[dict], marks: dict[int, dict]) -> None:
    writer = ReviewWriter(ReviewLog.read(path))
    for i, change in marks.items():
        row = rows[i]
        writer.record(i, row_digest(row["instruction"], row["input"], row["output"]), **change)
    writer.close()


def test_export_report_card_and_finetune_use_a_runs_reviews(tmp_path: Path) -> None:
    run = _run_dir(tmp_path / "run")
    rows = json.loads((run / "alpaca_data.json").read_text())
    runner = CliRunner()
    refused = runner.invoke(app, ["export", str(run), "--format", "alpaca", "--out", str(tmp_path / "x"), "--drop-rejected"])
    assert refused.exit_code == 2 and "has no reviews" in refused.output and "Traceback" not in refused.output

    _mark(run / "reviews.jsonl", rows, {0: {"verdict": "right"}, 1: {"verdict": "wrong"}})
    _mark(run / "reviews.jsonl", rows, {0: {"output": "2 and 3 are both prime."}})
    result = runner.invoke(app, ["export", str(run), "--format", "alpaca", "--out", str(tmp_path / "out"), "--drop-rejected"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "alpaca_data.json").read_text()) == [{"instruction": "Name two prime numbers.", "input": "", "output": "2 and 3 are both prime."}]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "1 of 2 reviewed rows right: 50.0% (95% Wilson interval 9.5%-90.5%)" in card and "1 rows marked wrong left out, 1 edited outputs used" in card
    plain = runner.invoke(app, ["export", str(run), "--format", "alpaca", "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0 and len(json.loads((tmp_path / "plain" / "alpaca_data.json").read_text())) == 2  # reviews change nothing unasked
    assert "Human review" in (tmp_path / "plain" / "README.md").read_text()

    html, data, report = make_report(run, out=tmp_path / "report")
    assert report.review is not None and (report.review.right, report.review.wrong) == (1, 1)
    assert json.loads(data.read_text())["review"]["low"] == report.review.low
    page = html.read_text()
    assert 'id="review"' in page and "9.5–90.5%" in page

    path, _ = parse_data_spec(str(run))  # finetune --data RUN
    assert path == run / "alpaca_data.json"
    source = read_source(path)
    assert [r.alpaca.output for r in source.rows if r.alpaca] == ["2 and 3 are both prime."]
    assert source.describe()["reviews"]["dropped_wrong"] == 1


def test_a_row_changed_since_review_is_shown_as_changed_and_not_applied(tmp_path: Path) -> None:
    rows = alpaca_rows(3)
    data = write_rows(tmp_path / "data.json", rows)
    _mark(tmp_path / "data.reviews.jsonl", rows, {0: {"verdict": "wrong"}, 1: {"verdict": "wrong"}})
    rows[0]["output"] = "A regenerated answer."
    write_rows(data, rows)
    with serving(data) as s:
        page = httpx.get(s.url).text
        state = httpx.get(f"{s.base}/api/page?page=1", headers={"X-Review-Token": s.token}).json()
    assert "changed since reviewed (was wrong)" in page
    assert state["rows"][0]["changed"] and state["rows"][0]["review"] is None and state["figure"]["changed"] == 1
    kept = read_source(data).rows
    assert [r.alpaca.output for r in kept if r.alpaca] == ["A regenerated answer.", rows[2]["output"]]  # only row 1's verdict applies


def test_a_restart_resumes_where_the_person_stopped(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "data.json", alpaca_rows(45))
    with serving(data) as s:
        auth = {"X-Review-Token": s.token, "Content-Type": "application/json"}
        for row in range(23):
            httpx.post(f"{s.base}/api/review", json={"row": row, "hash": s.session.data.digests[row], "verdict": "right"}, headers=auth).raise_for_status()
        old = s.url
    with serving(data) as s:  # a new server: a new token, the same reviews
        assert httpx.get(old.replace(old.split("/?")[0], s.base)).status_code == 403
        page = httpx.get(s.url).text
    assert 'data-page="2"' in page and 'data-focus="3"' in page  # row 23 is the first without a verdict: page 2, its 4th row
    assert "23 reviewed of 45" in page


def test_a_conversation_run_is_reviewed_from_its_conversations(tmp_path: Path) -> None:
    run = tmp_path / "chat-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"recipe": "conversation"}))
    turns = [ChatMessage(role="user", content="Plan a picnic."), ChatMessage(role="assistant", content="Bring bread and fruit.")]
    (run / "journal.jsonl").write_text(Completed(id="c00001", instances=[], conversation=turns, ended="turn_limit").model_dump_json() + "\n")
    (run / "conversations.json").write_text(json.dumps([{"id": "c00001", "conversations": [{"from": "human", "value": "Plan a picnic."},
                                                                                          {"from": "gpt", "value": "Bring bread and fruit."}]}]))  # fmt: skip
    data = load_rows(run)
    assert data.conversation and data.reviews == run / "reviews.jsonl" and data.context(0).ended == "turn_limit"
    with serving(run) as s:
        page = httpx.get(s.url).text
    assert "Conversation ended: turn_limit" in page and "Bring bread and fruit." in page
    assert parse_data_spec(f"{run}:0.5") == (run / "conversations.json", 0.5)  # finetune --data RUN:WEIGHT
