"""`selfinstruct eval` end to end through the CLI, the judge being the mock teacher over real HTTP."""

from __future__ import annotations

import json

import pytest

from selfinstruct.cli import app
from tests.evaluate.conftest import KEY, answers, eval_args, jsonl, make_tasks, write_jsonl
from tests.mock_teacher import count_judge

N = 8  # tasks in the eval_files fixture


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_better_answers_win_and_every_file_is_written(runner, mock_teacher, eval_files, tmp_path):
    out = tmp_path / "ev"
    result = runner.invoke(app, eval_args(eval_files, out, mock_teacher))
    assert result.exit_code == 0, result.output
    assert count_judge(mock_teacher) == 2 * N  # each pair judged twice, nothing else
    summary = _summary(out)
    r = summary["result"]
    assert (r["n"], r["wins"], r["ties"], r["losses"]) == (N, N, 0, 0)
    assert r["win_rate"] == 1.0 and r["ci_low"] == 1.0 and r["position_consistency"] == 1.0
    assert summary["status"] == "complete" and summary["tasks"]["total"] == N
    assert "win rate of A" in result.output and "100.0%" in result.output
    verdicts = jsonl(out / "verdicts.jsonl")
    assert len(verdicts) == N
    first = verdicts[0]
    assert [j["order"] for j in first["judgements"]] == ["ab", "ba"]
    assert [j["verdict"] for j in first["judgements"]] == ["A", "B"]  # the better answer, in either position
    assert all(j["explanation"] for j in first["judgements"]) and first["final"] == "a" and first["consistent"]
    assert first["answer_a"].startswith("Idea 0 means") and first["answer_b"] == "Idea 0 means"
    # The answer files are contestants in their own right.
    assert [r["response"] for r in jsonl(out / "answers_a.jsonl")] == [r["response"] for r in jsonl(eval_files["good"])]
    requests = jsonl(out / "requests.jsonl")
    assert len(requests) == 2 * N and {r["stage"] for r in requests} == {"judge"}
    for name in ("requests.jsonl", "config.json", "summary.json", "journal.jsonl"):
        assert KEY not in (out / name).read_text()
    assert json.loads((out / "config.json").read_text())["judge"]["model"] == "mock-judge"


def test_swapping_the_contestants_mirrors_the_result(runner, mock_teacher, eval_files, tmp_path):
    out = tmp_path / "ev"
    assert runner.invoke(app, eval_args(eval_files, out, mock_teacher, "bad", "good")).exit_code == 0
    r = _summary(out)["result"]
    assert (r["wins"], r["losses"], r["win_rate"]) == (0, N, 0.0)


def test_a_judge_that_always_says_a_makes_every_pair_a_tie(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.judge_position_bias = 1.0
    out = tmp_path / "ev"
    assert runner.invoke(app, eval_args(eval_files, out, mock_teacher)).exit_code == 0
    r = _summary(out)["result"]
    assert (r["wins"], r["ties"], r["losses"]) == (0, N, 0)
    assert r["win_rate"] == 0.5 and r["position_consistency"] == 0.0
    assert all(not v["consistent"] and v["final"] == "tie" for v in jsonl(out / "verdicts.jsonl"))


def test_some_position_bias_lowers_consistency_and_the_win_rate(runner, mock_teacher, tmp_path):
    tasks = make_tasks(40)
    files = {"tasks": write_jsonl(tmp_path / "t.jsonl", tasks), "good": write_jsonl(tmp_path / "g.jsonl", answers(tasks)),
             "bad": write_jsonl(tmp_path / "b.jsonl", answers(tasks, truncate=3))}  # fmt: skip
    mock_teacher.judge_position_bias = 0.3
    out = tmp_path / "ev"
    assert runner.invoke(app, eval_args(files, out, mock_teacher)).exit_code == 0
    r = _summary(out)["result"]
    assert r["losses"] == 0 and 0 < r["ties"] < 40 and r["wins"] + r["ties"] == 40
    assert r["position_consistency"] == pytest.approx(r["wins"] / 40)
    assert r["ci_low"] < r["win_rate"] < 1.0


TEXT = ("--judge-verdicts", "text")


def test_an_unreadable_verdict_is_asked_again_once(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.judge_unreadable = 1.0  # no first reply has a verdict; the follow-up answers "Verdict: A"
    out = tmp_path / "ev"
    assert runner.invoke(app, eval_args(eval_files, out, mock_teacher, "good", "bad", *TEXT)).exit_code == 0
    assert count_judge(mock_teacher) == 4 * N
    verdict = jsonl(out / "verdicts.jsonl")[0]
    assert [j["follow_up"] for j in verdict["judgements"]] == ["Verdict: A", "Verdict: A"]
    assert all(j["reason"] is None for j in verdict["judgements"])
    assert _summary(out)["result"]["ties"] == N  # "A" in both orders: the orders disagree


def test_twice_unreadable_is_a_tie_with_reason_unreadable(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.judge_unreadable = 1.0
    mock_teacher.judge_unreadable_follow_up = True
    out = tmp_path / "ev"
    result = runner.invoke(app, eval_args(eval_files, out, mock_teacher, "good", "bad", *TEXT))
    assert result.exit_code == 0, result.output
    assert count_judge(mock_teacher) == 4 * N  # asked again once, never more
    judgements = [j for v in jsonl(out / "verdicts.jsonl") for j in v["judgements"]]
    assert {(j["verdict"], j["reason"]) for j in judgements} == {("tie", "unreadable")}
    r = _summary(out)["result"]
    assert r["unreadable"] == 2 * N and r["ties"] == N and r["position_consistency"] == 1.0


def test_verdict_styles_small_judges_write(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.judge_style = "**Final verdict:** [[{v}]]"
    out = tmp_path / "ev"
    assert runner.invoke(app, eval_args(eval_files, out, mock_teacher, "good", "bad", *TEXT)).exit_code == 0
    assert _summary(out)["result"]["wins"] == N


def test_verdicts_are_read_from_probabilities_with_one_token_each(runner, mock_teacher, eval_files, tmp_path):
    out = tmp_path / "ev"
    result = runner.invoke(app, eval_args(eval_files, out, mock_teacher))
    assert result.exit_code == 0, result.output
    bodies = [r["body"] for r in mock_teacher.requests]
    assert len(bodies) == 2 * N and all(b["logprobs"] is True and b["max_tokens"] <= 4 for b in bodies)
    summary = _summary(out)
    assert summary["judge"]["verdicts"].startswith("probability") and summary["judge"]["margin"] == 0.0
    verdict = jsonl(out / "verdicts.jsonl")[0]
    first, second = verdict["judgements"]
    # The mock gives the letter it means 0.9 and 0.05 to each other letter; a wins with 0.9 + 0.05 / 2 in each order.
    assert (first["p_first"], first["p_second"], second["p_first"], second["p_second"]) == pytest.approx((0.9, 0.05, 0.05, 0.9))
    assert verdict["score"] == pytest.approx(0.925) and verdict["final"] == "a" and verdict["consistent"]
    assert summary["result"]["wins"] == N


def test_a_probability_judge_that_always_says_a_cancels_out_to_ties(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.judge_position_bias = 1.0
    out = tmp_path / "ev"
    assert runner.invoke(app, eval_args(eval_files, out, mock_teacher)).exit_code == 0
    verdicts = jsonl(out / "verdicts.jsonl")
    assert {v["score"] for v in verdicts} == {0.5} and {v["final"] for v in verdicts} == {"tie"}
    assert _summary(out)["result"]["position_consistency"] == 0.0


def test_a_margin_turns_weak_preferences_into_ties(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.first_token_p = 0.5  # the meant letter 0.5, each other 0.25: a wins each order with 0.5 + 0.125
    out = tmp_path / "ev"
    assert runner.invoke(app, eval_args(eval_files, out, mock_teacher, "good", "bad", "--judge-margin", "0.2")).exit_code == 0
    assert _summary(out)["result"]["ties"] == N
    assert runner.invoke(app, eval_args(eval_files, tmp_path / "ev2", mock_teacher, "good", "bad", "--judge-margin", "0.1")).exit_code == 0
    assert _summary(tmp_path / "ev2")["result"]["wins"] == N


def test_an_endpoint_without_logprobs_falls_back_to_text_verdicts_and_says_so(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.no_logprobs = True
    out = tmp_path / "ev"
    result = runner.invoke(app, eval_args(eval_files, out, mock_teacher, "good", "bad", "--judge-concurrency", "1"))
    assert result.exit_code == 0, result.output
    summary = _summary(out)
    assert summary["result"]["wins"] == N and "no log-probabilities" in summary["judge"]["verdicts"]
    # One request found out; every verdict after it was asked as text.
    assert [b["body"].get("logprobs") for b in mock_teacher.requests] == [True] + [None] * 2 * N
    assert all(j["method"] == "text" and j["explanation"] for v in jsonl(out / "verdicts.jsonl") for j in v["judgements"])


def test_the_reference_is_shown_to_the_judge_by_default_and_not_with_no_reference(runner, mock_teacher, eval_files, tmp_path):
    assert runner.invoke(app, eval_args(eval_files, tmp_path / "plain", mock_teacher, "good", "bad", "--no-reference")).exit_code == 0
    assert runner.invoke(app, eval_args(eval_files, tmp_path / "ref", mock_teacher)).exit_code == 0
    prompts = [r["body"]["messages"][-1]["content"] for r in mock_teacher.requests]
    assert sum("[Reference answer]" in p for p in prompts) == 2 * N
    assert all("[Reference answer]" in p for p in prompts[2 * N:])
    assert _summary(tmp_path / "ref")["reference"] is True and _summary(tmp_path / "plain")["reference"] is False


def test_an_interrupted_run_resumes_without_paying_twice(runner, mock_teacher, eval_files, tmp_path, monkeypatch):
    out = tmp_path / "ev"
    args = eval_args(eval_files, out, mock_teacher, "good", "bad", "--judge-concurrency", "1")
    monkeypatch.setenv("SELFINSTRUCT_FAULT_AFTER_APPENDS", "5")  # a crash right after the 5th journaled judgement
    crashed = runner.invoke(app, args)
    assert crashed.exit_code != 0
    assert len(jsonl(out / "journal.jsonl")) == 5
    asked = count_judge(mock_teacher)
    assert asked <= 6  # the five journaled, and at most the one request in flight when it crashed
    monkeypatch.delenv("SELFINSTRUCT_FAULT_AFTER_APPENDS")
    resumed = runner.invoke(app, args)
    assert resumed.exit_code == 0, resumed.output
    assert "judging 11 of 16 comparisons (5 already in the journal)" in resumed.output
    assert count_judge(mock_teacher) == asked + 2 * N - 5  # nothing journaled was asked again
    again = runner.invoke(app, args)  # nothing left: no request, same result
    assert again.exit_code == 0 and count_judge(mock_teacher) == asked + 2 * N - 5
    assert _summary(out)["result"]["wins"] == N


def test_token_cap_stops_cleanly_and_a_rerun_finishes(runner, mock_teacher, eval_files, tmp_path):
    out = tmp_path / "ev"
    base = eval_args(eval_files, out, mock_teacher, "good", "bad", "--judge-concurrency", "1")
    stopped = runner.invoke(app, [*base, "--max-total-tokens", "3000"])
    assert stopped.exit_code == 4, stopped.output
    assert "token cap reached" in stopped.output
    summary = _summary(out)
    assert summary["status"].startswith("stopped: token cap reached")
    asked = count_judge(mock_teacher)
    assert 0 < asked < 2 * N and summary["tokens"]["prompt"] + summary["tokens"]["completion"] <= 3000
    finished = runner.invoke(app, [*base, "--max-total-tokens", "100000"])
    assert finished.exit_code == 0, finished.output
    assert count_judge(mock_teacher) == 2 * N  # the first run's judgements were kept
    assert _summary(out)["status"] == "complete"


def test_dollar_cap_needs_a_known_price(runner, mock_teacher, eval_files, tmp_path):
    result = runner.invoke(app, eval_args(eval_files, tmp_path / "ev", mock_teacher, "good", "bad", "--max-usd", "1"))
    assert result.exit_code == 2 and "no built-in price" in result.output
    assert not mock_teacher.requests and not (tmp_path / "ev").exists()
    priced = runner.invoke(app, eval_args(eval_files, tmp_path / "ev", mock_teacher, "good", "bad", "--max-usd", "0.0001",
                                          "--judge-price-input", "1", "--judge-price-output", "1"))  # fmt: skip
    assert priced.exit_code == 4 and "spend cap reached" in priced.output


def test_dry_run_sends_nothing(runner, mock_teacher, eval_files, tmp_path):
    result = runner.invoke(app, eval_args(eval_files, tmp_path / "ev", mock_teacher, "good", "bad", "--dry-run", "--judge-model", "gpt-4o-mini"))
    assert result.exit_code == 0, result.output
    assert "nothing sent" in result.output and "16" in result.output and "$" in result.output
    assert not mock_teacher.requests and not (tmp_path / "ev").exists()


def test_openai_contestant_answers_through_the_seam_and_is_reused(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.contestant_answer = lambda prompt: f"A thorough answer to: {prompt} It covers every step in detail."
    out = tmp_path / "ev"
    args = eval_args(eval_files, out, mock_teacher, "openai:mock-student", "bad")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    stages = [r["stage"] for r in jsonl(out / "requests.jsonl")]
    assert stages.count("answer") == N and stages.count("judge") == 2 * N
    answers_a = jsonl(out / "answers_a.jsonl")
    assert answers_a[1]["response"].startswith("A thorough answer to: Explain idea number 1 to a new colleague.\n\nIdea 1 is about")
    asked = len(mock_teacher.requests)
    assert runner.invoke(app, args).exit_code == 0
    assert len(mock_teacher.requests) == asked  # answers and judgements both came from the journal
    assert _summary(out)["result"]["wins"] == N


def test_file_contestants_with_missing_and_extra_tasks(runner, mock_teacher, eval_files, tmp_path):
    rows = jsonl(eval_files["good"])
    partial = write_jsonl(tmp_path / "partial.json", [])
    partial.write_text(json.dumps(rows[2:] + [{"instruction": "Not a task at all.", "output": "x"}]))  # a JSON list, alpaca-style keys
    out = tmp_path / "ev"
    result = runner.invoke(app, eval_args(eval_files, out, mock_teacher, str(partial), "bad"))
    assert result.exit_code == 0, result.output
    assert "no answer for 2 of 8 tasks (not judged): task_0, task_1" in result.output
    assert "1 answers match no task" in result.output
    summary = _summary(out)
    assert summary["unmatched"] == {"a": ["task_0", "task_1"], "b": []}
    assert summary["result"]["n"] == N - 2 and count_judge(mock_teacher) == 2 * (N - 2)
    assert "unanswered by A" in result.output


@pytest.mark.parametrize(("a", "b", "message"), [
    ("good", "good", "--a and --b are the same contestant"),
    ("./missing-dir/model", "bad", "--a ./missing-dir/model: no such file or directory"),
    ("good", "notes.txt", "notes.txt: a file contestant must be answers"),
    ("other", "bad", "--a "),  # a file with none of the tasks
    ("good", "openai:", "--b openai:: expected openai:MODEL"),
])  # fmt: skip
def test_bad_contestants_are_one_line_and_exit_2(runner, mock_teacher, eval_files, tmp_path, a, b, message):
    eval_files["other"] = write_jsonl(tmp_path / "other.jsonl", [{"instruction": "Unrelated.", "response": "x"}])
    (tmp_path / "notes.txt").write_text("hello")
    eval_files["notes.txt"] = tmp_path / "notes.txt"
    result = runner.invoke(app, eval_args(eval_files, tmp_path / "ev", mock_teacher, a, b))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1
    assert not mock_teacher.requests and not (tmp_path / "ev").exists()


def test_a_local_model_without_a_known_prompt_needs_template(runner, mock_teacher, eval_files, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    result = runner.invoke(app, eval_args(eval_files, tmp_path / "ev", mock_teacher, str(model), "bad"))
    assert result.exit_code == 2 and "--template alpaca" in result.output
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    result = runner.invoke(app, eval_args(eval_files, tmp_path / "ev", mock_teacher, str(not_a_model), "bad"))
    assert result.exit_code == 2 and "not a model directory" in result.output


def test_no_tasks_is_exit_2(runner, mock_teacher, eval_files, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    args = eval_args(eval_files, tmp_path / "ev", mock_teacher)
    args[args.index("--tasks") + 1] = str(empty)
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "no tasks" in result.output


def test_graded_verdicts_grade_each_answer_once_against_the_reference(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.quality_score = lambda instruction, given, output: min(5, len(output.split()))
    out = tmp_path / "ev"
    result = runner.invoke(app, eval_args(eval_files, out, mock_teacher, "good", "bad", "--judge-verdicts", "scores"))
    assert result.exit_code == 0, result.output
    prompts = [r["body"]["messages"][-1]["content"] for r in mock_teacher.requests]
    # Two answers per task, each graded once (the second order reuses both grades), each beside the task's reference.
    assert len(prompts) == 2 * N and all("[Reference answer]" in p and "Reply with the score alone" in p for p in prompts)
    assert not any("[Start of Answer B]" in p for p in prompts)
    summary = _summary(out)
    assert summary["judge"]["verdicts"].startswith("scores") and summary["result"]["wins"] == N
    assert summary["result"]["position_consistency"] == 1.0
    first, second = jsonl(out / "verdicts.jsonl")[0]["judgements"]
    # The mock gives the digit it means 0.9 and 0.025 to each other: 5 -> 4.75, 3 ("Idea 0 means") -> 3.0.
    assert (first["score_first"], first["score_second"], second["score_first"], second["score_second"]) == pytest.approx((4.75, 3.0, 3.0, 4.75))
    # A rerun finds every judgement in the journal and asks nothing.
    assert runner.invoke(app, eval_args(eval_files, out, mock_teacher, "good", "bad", "--judge-verdicts", "scores")).exit_code == 0
    assert len(mock_teacher.requests) == 2 * N


def test_graded_verdicts_fall_back_to_text_without_logprobs(runner, mock_teacher, eval_files, tmp_path):
    mock_teacher.no_logprobs = True
    out = tmp_path / "ev"
    result = runner.invoke(app, eval_args(eval_files, out, mock_teacher, "good", "bad", "--judge-verdicts", "scores", "--judge-concurrency", "1"))
    assert result.exit_code == 0, result.output
    summary = _summary(out)
    assert summary["result"]["wins"] == N and "no log-probabilities" in summary["judge"]["verdicts"]
