"""Recipe grounded: the real CLI against the mock teacher over HTTP; products, checks, tracing, resume, dry run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.conftest import ROOT
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import cli_command, read_journal, run_cli, subprocess_env

DOCS = ROOT / "examples" / "grounded" / "docs"
ANNOTATIONS = ROOT / "examples" / "grounded" / "annotations.jsonl"


def _args(mock: MockTeacher, out: Path, budget: int, *extra: str, context: Path = DOCS) -> list[str]:
    return [
        "generate", "--recipe", "grounded", "--context", str(context), "--budget", str(budget), "--out", str(out),
        "--base-url", mock.url, "--api-key", "sk-test-secret-123", "--model", "mock-teacher", "--timeout", "5", *extra,
    ]  # fmt: skip


def _run(runner: CliRunner, args: list[str]):  # noqa: ANN202
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def _json(path: Path):  # noqa: ANN202
    return json.loads(path.read_text(encoding="utf-8"))


def _examples(out: Path) -> dict[str, dict]:
    """Journal candidates by id, for the examples in conversations.json."""
    cands = {r["id"]: r for r in read_journal(out) if r["kind"] == "candidate"}
    return {c["id"]: cands[c["id"]] for c in _json(out / "conversations.json")}


def test_documents_give_the_budget_in_examples_each_traced_to_its_chunk(mock_teacher, runner, tmp_path):
    out = tmp_path / "run"
    result = _run(runner, _args(mock_teacher, out, 9, "--chunk-tokens", "150"))
    assert "wrote 9 grounded examples" in result.output
    convs = _json(out / "conversations.json")
    assert len(convs) == 9
    examples = _examples(out)
    types = [c["source"]["type"] for c in examples.values()]
    assert set(types) == {"conversation", "detail", "reasoning"}
    alpaca = _json(out / "alpaca_data.json")
    for conv in convs:
        cand = examples[conv["id"]]
        src = cand["source"]
        # Traceable: the file, the chunk's offset, and the chunk's text is exactly that slice of the file.
        text = Path(src["file"]).read_text(encoding="utf-8")
        assert text[src["offset"] : src["offset"] + len(src["text"])] == src["text"]
        assert src["context"] == f"{src['file']}#{src['offset']}"
        turns = conv["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert turns[0]["value"].startswith(src["text"] + "\n\n")  # the context above the first question
        pairs = len(turns) // 2
        assert pairs >= 2 if src["type"] == "conversation" else pairs == 1
    assert len(alpaca) == sum(len(c["conversations"]) // 2 for c in convs)
    assert all(set(r) == {"instruction", "input", "output"} and r["input"] for r in alpaca)
    assert not (out / "llava_instruct.json").exists()
    summary = _json(out / "summary.json")
    assert summary["examples"] == 9 and sum(summary["examples_per_type"].values()) == 9
    assert sum(summary["examples_per_source"].values()) == 9 and len(summary["examples_per_source"]) >= 2
    assert summary["grounding_checks"] == {"refusal": 0, "ungrounded_number": 0, "ungrounded_name": 0, "near_duplicate": 0, "unsupported": 0}
    # The end-of-run table speaks of examples, pairs and contexts, not instructions and classification.
    table = {cells[0]: cells[1] for line in result.output.splitlines() if len(cells := [c.strip() for c in line.split("│")[1:-1]]) == 2}
    assert table["examples (budget)"] == "9 / 9" and table["question/answer pairs (rows)"] == str(len(alpaca))
    assert "classification tasks" not in table and "instructions (budget)" not in table
    # One request per context and type; those still in flight when the budget is met (at most the default
    # ceiling of 8) are cancelled and not journaled. A rerun asks for nothing.
    asked = len(mock_teacher.requests)
    assert summary["proposal_requests"] <= asked <= summary["proposal_requests"] + 8
    _run(runner, _args(mock_teacher, out, 9, "--chunk-tokens", "150"))
    assert len(mock_teacher.requests) == asked


def test_no_context_in_input_leaves_the_context_out(mock_teacher, runner, tmp_path):
    out = tmp_path / "run"
    _run(runner, _args(mock_teacher, out, 3, "--no-context-in-input", "--types", "detail,reasoning"))
    assert all(r["input"] == "" for r in _json(out / "alpaca_data.json"))
    examples = _examples(out)
    for conv in _json(out / "conversations.json"):
        assert conv["conversations"][0]["value"] == examples[conv["id"]]["instances"][0]["input"]
    assert mock_teacher.count("grounded_conversation") == 0


def test_annotations_write_llava_instruct_in_llavas_format(mock_teacher, runner, tmp_path):
    out = tmp_path / "run"
    _run(runner, _args(mock_teacher, out, 6, context=ANNOTATIONS))
    llava = _json(out / "llava_instruct.json")
    images = {json.loads(line)["id"]: json.loads(line)["image"] for line in ANNOTATIONS.read_text().splitlines()}
    assert len(llava) == 6
    for rec in llava:
        assert set(rec) == {"id", "image", "conversations"}
        assert rec["image"] == images[rec["id"]]
        turns = rec["conversations"]
        assert all(set(t) == {"from", "value"} for t in turns)
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert turns[0]["value"].startswith("<image>\n") and not any("<image>" in t["value"] for t in turns[1:])
    # The teacher saw the image template: captions and normalised boxes, never the pixels.
    body = next(r for r in mock_teacher.requests if r["stage"].startswith("grounded_"))["body"]
    assert body["messages"][0]["content"].startswith("You are an AI visual assistant")
    assert re.search(r"^[a-z ]+: \[0\.\d{3}, 0\.\d{3}, 0\.\d{3}, 0\.\d{3}\]$", body["messages"][-1]["content"], re.MULTILINE)


@pytest.mark.parametrize(
    ("fault", "check"),
    [("refusal", "refusal"), ("number", "ungrounded_number"), ("name", "ungrounded_name"), ("duplicate", "near_duplicate")],
)
def test_each_cheap_check_drops_ungrounded_answers_with_its_reason(mock_teacher, runner, tmp_path, fault, check):
    # Every reasoning answer is ungrounded in this way; conversation and detail stay grounded. A context's
    # conversation is checked before its reasoning question repeats the conversation's first (request order).
    mock_teacher.grounded_fault = lambda rtype, prompt: fault if rtype == "reasoning" else None
    out = tmp_path / "run"
    _run(runner, _args(mock_teacher, out, 6, "--chunk-tokens", "150"))
    examples = _examples(out)
    assert len(examples) == 6
    assert all(c["source"]["type"] != "reasoning" for c in examples.values())
    rejected = [r for r in read_journal(out) if r["kind"] == "completed" and r.get("reason")]
    assert rejected and all(r["reason"] == check for r in rejected)
    assert all(d["reason"].split(":")[0] == check for r in rejected for d in r["dropped"])
    summary = _json(out / "summary.json")
    assert summary["grounding_checks"][check] >= len(rejected)
    assert summary["rejected"] == {check: len(rejected)}


def test_near_duplicate_questions_within_a_conversation_leave_it_too_short(mock_teacher, runner, tmp_path):
    mock_teacher.grounded_fault = lambda rtype, prompt: "duplicate" if rtype == "conversation" else None
    out = tmp_path / "run"
    _run(runner, _args(mock_teacher, out, 3, "--types", "conversation,detail"))
    rejected = [r for r in read_journal(out) if r["kind"] == "completed" and r.get("reason")]
    assert {r["reason"] for r in rejected} == {"conversation_too_short"}
    assert all(d["reason"] == "near_duplicate" and d["score"] > 0.7 for r in rejected for d in r["dropped"])


def test_verify_drops_unsupported_answers_that_pass_the_cheap_checks(mock_teacher, runner, tmp_path):
    mock_teacher.grounded_fault = lambda rtype, prompt: "unsupported" if rtype == "detail" else None
    # The budget's 4 examples are the first 4 to pass in request order, however many are in flight: the detail
    # answers (requests 1 and 4) are judged before the budget is met, though the mock's detail replies are the
    # longest and so finish last.
    out = tmp_path / "run"
    _run(runner, _args(mock_teacher, out, 4, "--verify", "--chunk-tokens", "150"))
    assert all(c["source"]["type"] != "detail" for c in _examples(out).values())
    assert _json(out / "summary.json")["grounding_checks"]["unsupported"] >= 1
    assert mock_teacher.count("verify") >= 4
    # Without --verify the same answers pass: only the judge catches a claim with no number or name.
    out2 = tmp_path / "run2"
    _run(runner, _args(mock_teacher, out2, 4, "--chunk-tokens", "150"))
    assert any(c["source"]["type"] == "detail" for c in _examples(out2).values())


def test_the_product_is_the_same_whichever_answer_finishes_first(mock_teacher, runner, tmp_path):
    """One request at a time, then 16 at once with every answer and verdict delayed by its own 0-0.3 s: the same examples, in the same order, with the same checks. Detail answers are unsupported and
    each reasoning question repeats its conversation's first, so both the judge and the pool's order matter."""
    faults = {"detail": "unsupported", "reasoning": "duplicate"}
    mock_teacher.grounded_fault = lambda rtype, prompt: faults.get(rtype)
    products = []
    for name, extra in (("one", ["--concurrency", "1"]), ("many", ["--concurrency", "16"])):
        if name == "many":  # each request its own latency, 0-0.3 s, so answers and verdicts come back scrambled
            mock_teacher.latency_fn = lambda body: 0.05 * (zlib.crc32(json.dumps(body, sort_keys=True).encode()) % 7)
        out = tmp_path / name
        _run(runner, _args(mock_teacher, out, 7, "--verify", "--chunk-tokens", "150", *extra))
        summary = _json(out / "summary.json")
        completed = [r["id"] for r in read_journal(out) if r["kind"] == "completed"]
        products.append((_json(out / "conversations.json"), _json(out / "alpaca_data.json"), summary["grounding_checks"],
                         summary["examples_per_type"], completed == sorted(completed)))  # fmt: skip
    assert products[0] == products[1]
    assert products[0][4], "examples journaled in request order"
    assert products[0][2]["unsupported"] >= 1 and products[0][2]["near_duplicate"] >= 1


def test_an_unreadable_verdict_drops_the_answer(mock_teacher, runner, tmp_path):
    mock_teacher.verify_unreadable = True
    out = tmp_path / "run"
    result = runner.invoke(app, _args(mock_teacher, out, 2, "--verify", "--max-proposals", "6"))
    assert result.exit_code == 4, result.output
    dropped = [d for r in read_journal(out) if r["kind"] == "completed" for d in r.get("dropped", [])]
    assert dropped and {d["reason"] for d in dropped} == {"unsupported:unreadable_verdict"}


def test_unparsable_answers_are_rejected_and_running_out_of_contexts_stops_cleanly(mock_teacher, runner, tmp_path):
    mock_teacher.grounded_fault = lambda rtype, prompt: "unparsable"
    out = tmp_path / "run"
    ctx = tmp_path / "one.jsonl"
    ctx.write_text(json.dumps({"id": "a", "context": "The pump lifts water 12 metres. It weighs 6.5 kilograms."}) + "\n")
    result = runner.invoke(app, _args(mock_teacher, out, 2, context=ctx))
    assert result.exit_code == 4
    assert "every context has been used" in result.output
    assert _json(out / "summary.json")["rejected"] == {"unparsable": 3}


def test_dry_run_counts_requests_per_type(runner, tmp_path):
    args = ["generate", "--recipe", "grounded", "--context", str(DOCS), "--budget", "14", "--dry-run", "--verify", "--chunk-tokens", "150",
            "--base-url", "http://127.0.0.1:9/v1", "--api-key", "sk-test-123456", "--model", "gpt-4o-mini"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = {cells[0]: cells[1] for line in result.output.splitlines() if (cells := [c.strip() for c in line.split("│")[1:-1]])}
    assert table["grounded_conversation"] == "7" and table["grounded_detail"] == "7" and table["grounded_reasoning"] == "6"
    assert table["verify"] == "34"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--context is required for --recipe grounded"),
        (["--context", "nowhere"], "--context nowhere: no such file or folder"),
        (["--types", "poetry"], "--types"),
    ],
)
def test_bad_grounded_input_is_one_red_line(mock_teacher, runner, tmp_path, extra, message):
    args = ["generate", "--recipe", "grounded", "--budget", "2", "--out", str(tmp_path / "run"), "--base-url", mock_teacher.url,
            "--api-key", "sk-test-123456", "--model", "mock-teacher", *extra]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_bad_annotation_line_is_named_by_file_and_line(mock_teacher, runner, tmp_path):
    bad = tmp_path / "ann.jsonl"
    bad.write_text(ANNOTATIONS.read_text().splitlines()[0] + "\n" + json.dumps({"id": "x", "image": "x.jpg", "captions": ["c"],
                   "instances": [{"category": "dog", "bbox": [10, 10, 50, 50]}]}) + "\n")  # fmt: skip
    result = runner.invoke(app, _args(mock_teacher, tmp_path / "run", 2, context=bad))
    assert result.exit_code == 2 and f"{bad}:2:" in result.output


def _generated(out: Path) -> int:
    path = out / "journal.jsonl"
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if '"kind":"candidate"' in line.replace(" ", "")) if path.exists() else 0


def test_killed_mid_run_resumes_without_asking_for_a_response_again(tmp_path):
    """SIGKILL after some responses are journaled; the rerun asks only for the ones the journal lacks."""
    mock = MockTeacher().start()
    try:
        mock.latency = 0.05
        out = tmp_path / "run"
        args = _args(mock, out, 12, "--chunk-tokens", "150", "--concurrency", "2", "--verify")
        proc = subprocess.Popen(cli_command(*args), cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while _generated(out) < 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        journaled = [r for r in read_journal(out) if r["kind"] == "candidate"]
        before = [r["id"] for r in journaled]
        done_jobs = {(f"grounded_{r['source']['type']}", r["source"]["text"]) for r in journaled}
        asked = len(mock.requests)
        result = run_cli(args)
        assert result.returncode == 0, result.stderr
        journal = read_journal(out)
        after = [r["id"] for r in journal if r["kind"] == "candidate"]
        assert after[: len(before)] == before and len(after) == len(set(after)), "a response was asked for twice"
        # The rerun asked for no response the journal already held (a job is its type and its context).
        rerun = [r for r in mock.requests[asked:] if r["stage"].startswith("grounded_")]
        assert rerun and not any((r["stage"], r["body"]["messages"][-1]["content"].split("Excerpt:\n", 1)[-1]) in done_jobs for r in rerun)
        completed = [r["id"] for r in journal if r["kind"] == "completed"]
        assert len(completed) == len(set(completed))
        convs = _json(out / "conversations.json")
        assert len(convs) == 12 and len({c["id"] for c in convs}) == 12
    finally:
        mock.stop()
