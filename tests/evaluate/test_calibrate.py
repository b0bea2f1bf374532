"""`selfinstruct eval --calibrate` end to end through the CLI, the judge being the mock teacher over real HTTP."""

from __future__ import annotations

import json

from selfinstruct.cli import app
from selfinstruct.judge.calibration import default_calibration_path, read_pairs, roc_auc
from tests.evaluate.conftest import jsonl, judge_args, write_jsonl
from tests.mock_teacher import count_judge


def _pairs(n: int = 6) -> list[dict]:
    """The mock judge prefers the answer with more words; the longer one is the labelled better one."""
    rows = []
    for i in range(n):
        full, short = f"Step {i} is checked twice, then signed off by a second person.", f"Step {i}."
        label = 1 + i % 2
        rows.append({"id": f"p{i}", "instruction": f"Explain step {i}.", "output_1": full if label == 1 else short,
                     "output_2": short if label == 1 else full, "label": label})  # fmt: skip
    return rows


def _calibrate(runner, mock, path, out, *extra):
    return runner.invoke(app, ["eval", "--calibrate", "--calibration-set", str(path), "--out", str(out), *judge_args(mock), *extra])


def test_a_judge_that_reads_the_pairs_right_agrees_fully(runner, mock_teacher, tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", _pairs())
    result = _calibrate(runner, mock_teacher, path, tmp_path / "cal")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    figures = summary["pairwise"]
    assert (figures["n"], figures["agreement"], figures["position_consistency"], figures["first_position_wins"]) == (6, 1.0, 1.0, 0.5)
    assert figures["verdicts"] == "probability" and summary["asked_now"] == 12 and summary["seconds_per_verdict"] > 0
    assert figures["agreement_by_margin"]["0.05"] == 1.0
    for line in ("agreement with the labels", "100.0%", "position consistency", "first-position wins", "s per verdict"):
        assert line in result.output
    assert len(jsonl(tmp_path / "cal" / "calibration.jsonl")) == 6
    # A rerun reads the journal and asks nothing again.
    asked = count_judge(mock_teacher)
    assert _calibrate(runner, mock_teacher, path, tmp_path / "cal").exit_code == 0
    assert count_judge(mock_teacher) == asked


def test_a_judge_that_always_names_the_first_answer_is_at_chance(runner, mock_teacher, tmp_path):
    mock_teacher.judge_position_bias = 1.0
    path = write_jsonl(tmp_path / "pairs.jsonl", _pairs())
    assert _calibrate(runner, mock_teacher, path, tmp_path / "cal").exit_code == 0
    figures = json.loads((tmp_path / "cal" / "calibration.json").read_text())["pairwise"]
    assert (figures["agreement"], figures["position_consistency"], figures["first_position_wins"], figures["ties"]) == (0.5, 0.0, 1.0, 6)


def test_text_verdicts_are_calibrated_the_same_way(runner, mock_teacher, tmp_path):
    mock_teacher.no_logprobs = True
    path = write_jsonl(tmp_path / "pairs.jsonl", _pairs(4))
    assert _calibrate(runner, mock_teacher, path, tmp_path / "cal", "--judge-concurrency", "1").exit_code == 0
    figures = json.loads((tmp_path / "cal" / "calibration.json").read_text())["pairwise"]
    assert (figures["agreement"], figures["verdicts"]) == (1.0, "text")


def test_the_gate_is_calibrated_by_how_well_it_separates_better_from_worse(runner, mock_teacher, tmp_path):
    rows = [{"id": f"g{i}", "instruction": "Can you explain what a neural network is?", "output_1": "Neutral",
             "output_2": f"A program that learns from examples, version {i}.", "label": 2} for i in range(3)]  # fmt: skip
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = _calibrate(runner, mock_teacher, path, tmp_path / "cal", "--calibrate-gate")
    assert result.exit_code == 0, result.output
    gate = json.loads((tmp_path / "cal" / "calibration.json").read_text())["gate"]
    assert (gate["pairs"], gate["roc_auc"], gate["better_kept"], gate["worse_kept"], gate["method"]) == (3, 1.0, 1.0, 0.0, "probability")
    # Six scores, and one own answer of the judge's that the six short outputs of one instruction are checked against.
    assert "gate ROC AUC" in result.output and len(mock_teacher.requests) == 7


def test_bad_calibration_input_is_one_line_and_exit_2(runner, mock_teacher, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_pairs(1)[0]) + "\n" + json.dumps({"instruction": "x", "output_1": "a", "output_2": "b", "label": 3}) + "\n")
    result = _calibrate(runner, mock_teacher, bad, tmp_path / "cal")
    assert result.exit_code == 2 and f"{bad}:2" in result.output and "label" in result.output
    result = runner.invoke(app, ["eval", "--calibrate", "--a", "x.jsonl", *judge_args(mock_teacher)])
    assert result.exit_code == 2 and "takes no --a or --b" in result.output
    result = runner.invoke(app, ["eval", "--b", "x.jsonl", *judge_args(mock_teacher)])
    assert result.exit_code == 2 and "--a is required" in result.output


def test_the_shipped_set_is_labelled_pairs_with_its_licence_beside_it():
    pairs = read_pairs(default_calibration_path())
    assert len(pairs) == 100 and {p.label for p in pairs} == {1, 2} and all(p.source == "LLMBar/Natural" for p in pairs)
    folder = default_calibration_path().parent
    assert "MIT License" in (folder / "LICENSE-LLMBar").read_text() and "900616b" in (folder / "README.md").read_text()
    for name in ("llmbar_adversarial.jsonl", "mtbench_human.jsonl"):
        assert len(read_pairs(folder / name)) in (319, 200)


def test_roc_auc():
    assert roc_auc([3.0, 4.0], [1.0, 2.0]) == 1.0 and roc_auc([1.0], [1.0]) == 0.5 and roc_auc([1.0, 3.0], [2.0]) == 0.5


def test_a_gguf_path_as_the_judge_model_runs_on_the_embedded_server(runner, tmp_path):
    from selfinstruct.endpoint_settings import TeacherSettings

    settings = TeacherSettings(model=str(tmp_path / "judge.gguf"))
    assert (settings.teacher, settings.local_model, settings.model) == ("local", str(tmp_path / "judge.gguf"), None)
    assert TeacherSettings(model="x.gguf", base_url=["http://127.0.0.1:1/v1"]).model == "x.gguf"  # a server's own model name
    result = runner.invoke(app, ["eval", "--calibrate", "--limit", "1", "--judge-model", str(tmp_path / "missing.gguf"), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "no such model file" in result.output


def test_graded_verdicts_are_calibrated_with_no_position_to_prefer(runner, mock_teacher, tmp_path):
    mock_teacher.quality_score = lambda instruction, given, output: min(5, len(output.split()))
    mock_teacher.judge_position_bias = 1.0  # would name the first answer every time, were the answers shown side by side
    path = write_jsonl(tmp_path / "pairs.jsonl", _pairs())
    assert _calibrate(runner, mock_teacher, path, tmp_path / "cal", "--judge-verdicts", "scores").exit_code == 0
    figures = json.loads((tmp_path / "cal" / "calibration.json").read_text())["pairwise"]
    assert (figures["agreement"], figures["position_consistency"], figures["first_position_wins"], figures["verdicts"]) == (1.0, 1.0, 0.5, "scores")
    assert len(mock_teacher.requests) == 12  # each of the 12 outputs graded once
