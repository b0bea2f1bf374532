"""Recipe conversation: openers, alternating assistant and simulator turns, the stop marker, turn filters, resume.

Most tests run the real CLI against the mock teacher over HTTP; the turn filters are also checked
with the in-process fake teacher, where each answer is chosen by the test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.recipes import RECIPES
from selfinstruct.stages.converse import (
    FOLLOW_UPS,
    SIMULATOR_TRIES,
    STOP_MARKER,
    clean_assistant_turn,
    clean_user_turn,
    echo_of_prompt,
    follow_up,
    in_assistant_voice,
    is_refusal,
    is_stop,
    opener_text,
    strip_marker,
    turn_problem,
)
from selfinstruct.teacher.client import Message
from tests.conftest import ROOT, SEEDS, FakeTeacher, drive, mock_args
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import cli_command, read_journal, run_cli, subprocess_env


def _generate(runner: CliRunner, mock: MockTeacher, out: Path, budget: int, *extra: str):  # noqa: ANN202
    result = runner.invoke(app, mock_args(mock, out, budget, "--recipe", "conversation", *extra))
    assert result.exit_code == 0, result.output
    return result


def _conversations(out: Path) -> list[dict]:
    return json.loads((out / "conversations.json").read_text(encoding="utf-8"))


def _check_schema(out: Path, budget: int) -> list[dict]:
    """conversations.json is ShareGPT and messages.jsonl holds the same chats as OpenAI/TRL messages."""
    convs = _conversations(out)
    assert len(convs) == budget
    assert len({c["id"] for c in convs}) == budget
    messages = [json.loads(line) for line in (out / "messages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(messages) == budget
    for conv, msg in zip(convs, messages):
        assert set(conv) == {"id", "conversations"}
        turns = conv["conversations"]
        assert all(set(t) == {"from", "value"} and isinstance(t["value"], str) and t["value"].strip() for t in turns)
        # Starts with a human turn, alternates, ends with the assistant's answer.
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) and len(turns) % 2 == 0
        assert set(msg) == {"messages"}
        assert msg["messages"] == [{"role": {"human": "user", "gpt": "assistant"}[t["from"]], "content": t["value"]} for t in turns]
    assert not (out / "alpaca_data.json").exists()
    return convs


def test_conversations_alternate_for_the_requested_turns_and_a_rerun_asks_nothing(mock_teacher, runner, tmp_path):
    out = tmp_path / "run"
    _generate(runner, mock_teacher, out, 4, "--turns", "3")
    convs = _check_schema(out, 4)
    assert all(len(c["conversations"]) == 6 for c in convs)
    seeds = [json.loads(line) for line in SEEDS.read_text(encoding="utf-8").splitlines()]
    # Openers are the seed tasks, in file order; one with an input holds both in one message.
    for conv, seed in zip(convs, seeds):
        inp = seed["instances"][0]["input"]
        assert conv["conversations"][0]["value"] == opener_text(seed["instruction"], inp)
    # The simulator's "User:" label is not part of the message.
    assert not any(t["value"].startswith("User:") for c in convs for t in c["conversations"])
    assert mock_teacher.count("assistant") == 12 and mock_teacher.count("simulator") == 8
    assert mock_teacher.count("propose") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conversations"] == 4 and summary["turns_per_conversation"] == {"3": 4}
    assert summary["ended"] == {"turn_limit": 4} and summary["mean_turns"] == 3.0
    # The assistant saw the whole conversation as chat turns under its system prompt.
    last = [r for r in mock_teacher.requests if r["stage"] == "assistant"][-1]["body"]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user", "assistant", "user"]
    before = len(mock_teacher.requests)
    _generate(runner, mock_teacher, out, 4, "--turns", "3")
    assert len(mock_teacher.requests) == before
    assert _conversations(out) == convs


def test_a_seed_with_an_input_opens_with_both_in_one_message(mock_teacher, runner, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        json.dumps({"id": "a", "instruction": "Fix the grammar of the sentence.", "instances": [{"input": "He go to school.", "output": "He goes to school."}]})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, 1, "--recipe", "conversation", "--turns", "1")
    args[args.index("--seeds") + 1] = str(seeds)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (conv,) = _check_schema(out, 1)
    assert conv["conversations"][0]["value"] == "Fix the grammar of the sentence.\n\nHe go to school."
    assert len(conv["conversations"]) == 2  # --turns 1: one answered user turn, no simulator request
    assert mock_teacher.count("simulator") == 0


def test_the_simulator_may_end_a_conversation_early_and_it_is_kept(mock_teacher, runner, tmp_path):
    mock_teacher.stop_after_turns = 2
    out = tmp_path / "run"
    _generate(runner, mock_teacher, out, 3, "--turns", "5")
    convs = _check_schema(out, 3)
    assert all(len(c["conversations"]) == 4 for c in convs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ended"] == {"stop_marker": 3} and summary["turns_per_conversation"] == {"2": 3}
    stops = [t for t in read_journal(out) if t["kind"] == "turn" and t["status"] == "stop"]
    assert len(stops) == 3 and all(t["reason"] == "stop_marker" for t in stops)


def test_a_simulator_that_copies_its_rules_is_no_stop_and_the_copy_is_no_user_turn(mock_teacher, runner, tmp_path):
    """Small models echo the rule that names the stop marker: a dropped turn, asked for again, never a stop."""
    mock_teacher.echo_rules = True
    out = tmp_path / "run"
    result = _generate(runner, mock_teacher, out, 2, "--turns", "3")
    # The end-of-run table: user turns per conversation, what was dropped and asked again, what ended the chats.
    table = " ".join(result.output.split())
    assert "user turns per conversation │ 1: 2 (mean 1.0)" in table
    assert f"echoed_prompt {2 * SIMULATOR_TRIES}; {2 * (SIMULATOR_TRIES - 1)} user turns asked again" in table
    assert "conversations ended by │ dropped_turn:echoed_prompt 2" in table
    convs = _check_schema(out, 2)
    assert all(len(c["conversations"]) == 2 and "[[END]]" not in json.dumps(c) for c in convs)
    summary = json.loads((out / "summary.json").read_text())
    # This simulator echoes every time: each chat's user turn is asked for SIMULATOR_TRIES times, then the chat ends.
    assert summary["ended"] == {"dropped_turn:echoed_prompt": 2}
    assert summary["user_turns_asked_again"] == 2 * (SIMULATOR_TRIES - 1)
    dropped = [t for t in read_journal(out) if t["kind"] == "turn" and t["status"] == "dropped"]
    assert [t["reason"] for t in dropped] == ["echoed_prompt"] * 2 * SIMULATOR_TRIES
    assert mock_teacher.count("simulator") == 2 * SIMULATOR_TRIES


def test_a_refused_opener_drops_the_conversation_and_the_next_opener_takes_its_place(mock_teacher, runner, tmp_path):
    seeds = [json.loads(line) for line in SEEDS.read_text(encoding="utf-8").splitlines()]
    first = seeds[0]["instruction"]
    mock_teacher.refuse = lambda prompt: prompt.startswith(first)
    out = tmp_path / "run"
    _generate(runner, mock_teacher, out, 2, "--turns", "2")
    convs = _check_schema(out, 2)
    assert [c["conversations"][0]["value"].split("\n\n")[0] for c in convs] == [seeds[1]["instruction"], seeds[2]["instruction"]]
    dropped = [r for r in read_journal(out) if r["kind"] == "completed" and r.get("reason")]
    assert [d["reason"] for d in dropped] == ["no_complete_pair:refusal"]
    assert dropped[0]["dropped"][0]["content"].startswith("I'm sorry")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rejected"] == {"no_complete_pair:refusal": 1} and summary["dropped_turns"] == {"refusal": 1}


def test_a_restated_user_turn_ends_the_conversation_at_the_last_good_answer(mock_teacher, runner, tmp_path):
    mock_teacher.restate = True
    out = tmp_path / "run"
    _generate(runner, mock_teacher, out, 2, "--turns", "3")
    convs = _check_schema(out, 2)
    assert all(len(c["conversations"]) == 2 for c in convs)
    turns = [t for t in read_journal(out) if t["kind"] == "turn" and t["status"] == "dropped"]
    assert {t["reason"] for t in turns} == {"restatement"} and all(t["score"] > 0.9 for t in turns)
    assert json.loads((out / "summary.json").read_text())["ended"] == {"dropped_turn:restatement": 2}


def test_turn_filters_with_the_in_process_teacher(tmp_path):
    """Each turn filter, with answers chosen turn by turn: cut off, empty (every ask), refusal later in a chat."""
    teacher = FakeTeacher({
        "assistant": ["A first answer about tides.", ("A second answer that was cut", "length"),   # chat 1: cut off on turn 2
                      "An answer.", "I'm sorry, but I cannot help with that.",                      # chat 2: refusal on turn 2
                      "Another answer.", "More detail on it."],                                     # chat 3: empty user turn 3
        "simulator": ["Why is that?", "What about the moon?", "Tell me more about it.", *["  "] * SIMULATOR_TRIES],
    })  # fmt: skip
    pipeline, run = drive(tmp_path, "conversation", teacher, budget=3, turns=3)
    rows = RECIPES["conversation"].rows(pipeline.state, pipeline.cfg, pipeline.seeds)
    lengths = [len(r["conversations"]) for r in rows]
    assert lengths == [2, 2, 4]
    journal = read_journal(run.path)
    dropped = [(t["id"], t["role"], t["reason"]) for t in journal if t["kind"] == "turn" and t["status"] == "dropped"]
    assert dropped == [("s00000", "assistant", "cut_off"), ("s00001", "assistant", "refusal"), *[("s00002", "user", "empty")] * SIMULATOR_TRIES]


def _asked_kinds(teacher: FakeTeacher) -> list[str]:
    """The kind of follow-up each simulator request asked for (the end of its last message)."""
    return [next(k for k in FOLLOW_UPS if prompt[-1].content.rstrip().endswith(k + ".")) for stage, prompt, _ in teacher.asked if stage == "simulator"]


def test_a_dropped_user_turn_is_asked_for_again_with_another_kind_of_follow_up(tmp_path):
    """A simulator that speaks as the assistant, or says too little, is asked again; the chat goes on to --turns."""
    teacher = FakeTeacher({
        "assistant": ["Tides come from the moon's pull.", "The near side is pulled more than the far side.", "Twice a day."],
        "simulator": ["Sure, what else would you like to know about tides?",           # the assistant's voice
                      "Thanks!",                                                        # asks nothing
                      "Why is the pull stronger on the side facing the moon?",
                      "How often does that happen at my beach in Maine?"],
    })  # fmt: skip
    pipeline, run = drive(tmp_path, "conversation", teacher, budget=1, turns=3)
    (row,) = RECIPES["conversation"].rows(pipeline.state, pipeline.cfg, pipeline.seeds)
    assert [t["value"] for t in row["conversations"][2::2]] == [
        "Why is the pull stronger on the side facing the moon?", "How often does that happen at my beach in Maine?"
    ]
    journal = [t for t in read_journal(run.path) if t["kind"] == "turn"]
    assert [(t["n"], t["status"], t.get("reason")) for t in journal] == [
        (1, "kept", None), (2, "dropped", "assistant_voice"), (2, "dropped", "too_short"), (2, "kept", None),
        (3, "kept", None), (4, "kept", None), (5, "kept", None),
    ]
    # Each new ask wants the next kind of follow-up; the next turn starts from its own kind again.
    cid = row["id"]
    assert _asked_kinds(teacher) == [follow_up(cid, 2, 0), follow_up(cid, 2, 1), follow_up(cid, 2, 2), follow_up(cid, 4, 0)]
    assert len(set(_asked_kinds(teacher)[:3])) == 3
    summary = RECIPES["conversation"].summary(pipeline.state, pipeline.cfg)
    assert summary["turns_per_conversation"] == {"3": 1} and summary["ended"] == {"turn_limit": 1}
    assert summary["user_turns_asked_again"] == 2 and summary["dropped_turns"] == {"assistant_voice": 1, "too_short": 1}


def test_a_user_turn_dropped_every_time_ends_the_chat_at_its_last_answer(tmp_path):
    teacher = FakeTeacher({"assistant": ["Tides come from the moon's pull."], "simulator": ["How can I help you today?"] * SIMULATOR_TRIES})
    pipeline, run = drive(tmp_path, "conversation", teacher, budget=1, turns=3)
    (row,) = RECIPES["conversation"].rows(pipeline.state, pipeline.cfg, pipeline.seeds)
    assert len(row["conversations"]) == 2 and teacher.count("simulator") == SIMULATOR_TRIES
    assert RECIPES["conversation"].summary(pipeline.state, pipeline.cfg)["ended"] == {"dropped_turn:assistant_voice": 1}


def test_a_run_stopped_between_two_asks_for_one_user_turn_resumes_with_the_next_ask(tmp_path):
    """The journal's dropped user turns count as asks made: the rerun sends the second ask, with the second kind."""
    first = FakeTeacher({"assistant": ["Tides come from the moon's pull."], "simulator": ["Okay."]})
    with pytest.raises(AssertionError, match="no canned answer left"):  # the run stops at its next request
        drive(tmp_path, "conversation", first, budget=1, turns=2)
    second = FakeTeacher({"simulator": ["Why does the moon pull the oceans more than the land?"], "assistant": ["Water moves freely."]})
    pipeline, run = drive(tmp_path, "conversation", second, budget=1, turns=2)
    (row,) = RECIPES["conversation"].rows(pipeline.state, pipeline.cfg, pipeline.seeds)
    assert len(row["conversations"]) == 4 and [s for s, _, _ in second.asked] == ["simulator", "assistant"]
    # The second ask had gone out unanswered; the rerun sends that one, not the first again.
    assert _asked_kinds(second) == _asked_kinds(first)[1:] == [follow_up(row["id"], 2, 1)]


def test_follow_up_kinds_rotate_per_turn_and_ask():
    kinds = [follow_up("s00003", n, 0) for n in (2, 4, 6, 8, 10)]
    assert sorted(kinds) == sorted(FOLLOW_UPS)  # five user turns: each kind once
    assert follow_up("s00003", 2, 1) == follow_up("s00003", 4, 0) != follow_up("s00003", 2, 0)
    assert len({follow_up(f"s{i:05d}", 2) for i in range(20)}) > 1  # chats do not all start alike


def test_turn_problem_rules():
    assert turn_problem("", "stop", "assistant", []) == ("empty", None)
    assert turn_problem("Half an answ", "length", "assistant", []) == ("cut_off", None)
    assert turn_problem("Sorry, I can't assist with that.", "stop", "assistant", []) == ("refusal", None)
    # Sympathy or an apology for a mistake, followed by the answer, is not a refusal.
    assert not is_refusal("I'm sorry to hear that. Here are three ways to sleep better: ...")
    assert not is_refusal("You are right, I made a mistake: 7 x 8 is 56, not 54.")
    from selfinstruct.records import ChatMessage

    history = [ChatMessage(role="user", content="How do tides work in the open ocean?"), ChatMessage(role="assistant", content="...")]
    reason, score = turn_problem("How do tides work in the open ocean?", "stop", "user", history)
    assert reason == "restatement" and score == 1.0
    assert turn_problem("How do tides work near the coast, then?", "stop", "user", history) == (None, None)
    # A turn that copies the one before it goes, either role; the first answer may return its opener's text.
    singer = [ChatMessage(role="user", content="Who is Taylor Swift?"),
              ChatMessage(role="assistant", content="Taylor Swift - American singer and songwriter.")]  # fmt: skip
    reason, score = turn_problem("Taylor Swift - American singer and songwriter", "stop", "user", singer)
    assert reason == "copies_previous_turn" and score == 1.0
    echoed = [*singer, ChatMessage(role="user", content="Which of her albums sold the most copies?")]
    assert turn_problem("Which of her albums sold the most copies? Her albums sold well.", "stop", "assistant", echoed)[0] == "copies_previous_turn"
    assert turn_problem("1989 and Fearless sold the most, each over ten million.", "stop", "assistant", echoed) == (None, None)
    edit = [ChatMessage(role="user", content="Fix the typo: The quick brown fox jumpd over the lazy dog.")]
    assert turn_problem("The quick brown fox jumped over the lazy dog.", "stop", "assistant", edit) == (None, None)
    assert is_stop(STOP_MARKER) and is_stop(" [[ end ]] ") and is_stop("[[END]].") and not is_stop("The end.")
    # A message that mentions the marker is no stop; one that ends with it keeps its message, less the marker.
    assert not is_stop("Write the user's next message (or [[END]] if the conversation is over).")
    assert not is_stop("Can you add an example? [[END]]") and strip_marker("Can you add an example? [[END]]") == "Can you add an example?"
    prompt = [Message(role="system", content="Rules:\n- If it is over, reply with exactly [[END]] and nothing else."),
              Message(role="user", content="The conversation so far:\n\nUser: Hi, how are you today?\n\nWrite the user's next message.")]  # fmt: skip
    assert echo_of_prompt("If it is over, reply with exactly [[END]] and nothing else.", prompt)
    assert echo_of_prompt("Sure.\nWrite the user's next message.", prompt) == "Write the user's next message."
    assert echo_of_prompt("Please write it again.", prompt) is None  # short lines may match by chance
    assert echo_of_prompt("Hi, how are you today? Fine.", prompt) is None  # the transcript is not the instructions
    # Small models label the turn, or go on to write the assistant's reply too.
    assert clean_user_turn('User: "Why is the sky blue?"\n\nAssistant: Because of Rayleigh scattering.') == "Why is the sky blue?"
    assert clean_user_turn("**User:** And at night?") == "And at night?"
    assert clean_assistant_turn("Assistant: It is blue because...") == "It is blue because..."
    # The 1.5B teacher's simulator, speaking as the assistant, or asking for nothing.
    for line in ["Sure, please provide more details about the task you would like me to help you with.",
                 "Okay, so what else can I help you with?", "Sure, can you tell me if there is a sentence you'd like to check?", "Do you have any questions about the grammatical correctness of your sentence?",
                 "Certainly! What kind of climate do you find most interesting or concerning?",
                 "The sky is a beautiful phenomenon. What would you like to know about the science behind it?",
                 "Sure, I'd be happy to explain that in more detail. A business license is crucial.",
                 "Sure, here's the next message with one change to make it shorter: what are fun games?"]:  # fmt: skip
        assert in_assistant_voice(line), line
        assert turn_problem(line, "stop", "user", history)[0] == "assistant_voice"
    for line in ["Great, but can you make it shorter?", "Could you help me pick one of them for a small kitchen?",
                 "What would happen if I used plastic jars instead?", "Let me think: is 2 liters right for a runner too?"]:  # fmt: skip
        assert not in_assistant_voice(line), line
    assert turn_problem("Sure!", "stop", "user", history) == ("too_short", None)
    # Narrating the chat instead of taking part in it.
    said = "The assistant said the sentence is correct. Is there something that might make you think otherwise?"
    assert turn_problem(said, "stop", "user", history) == ("names_roles", None)
    assert clean_user_turn("Should I use PayPal or Stripe?\n\nThe assistant would respond:") == "Should I use PayPal or Stripe?"
    assert clean_user_turn("Which is faster?\nAI chips are built for it: does that matter?") == "Which is faster?\nAI chips are built for it: does that matter?"
    assert turn_problem("Make it shorter.", "stop", "user", history) == (None, None)
    # A statement that asks nothing: the simulator answering its own question.
    answer = "The sentence is grammatically correct, as it follows the proper structure of a simple statement."
    assert turn_problem(answer, "stop", "user", history) == ("no_request", None)
    assert turn_problem("I think 2 liters is wrong for athletes.", "stop", "user", history) == (None, None)  # an objection
    # The opener's instruction asked again, its input left out, is a restatement too.
    dates = [ChatMessage(role="user", content="List every date mentioned in the passage, in YYYY-MM-DD format.\n\nSigned on March 3, 2021."),
             ChatMessage(role="assistant", content="2021-03-03")]  # fmt: skip
    assert turn_problem("List every date mentioned in the passage, in YYYY-MM-DD format.", "stop", "user", dates)[0] == "restatement"
    assert turn_problem("Yes.", "stop", "assistant", history) == (None, None)  # a short answer is fine
    # A reply that is the transcript's heading alone is an echo; the same words inside a message are not.
    heading = [prompt[0], Message(role="user", content="The conversation so far:\n\nUser: Hi.\n\nWrite the user's next message.")]
    assert echo_of_prompt("The conversation so far:", heading) == "The conversation so far:"
    assert echo_of_prompt("Going by the conversation so far, what is left?", heading) is None
    copied = "The conversation so far:\n\nUser: How much water should an adult drink per day?"  # a transcript, not a message
    assert echo_of_prompt(copied, heading) == "The conversation so far:"
    assert clean_user_turn("Is tap water fine?\n\nUser: And bottled?") == "Is tap water fine?"


def test_new_openers_come_from_proposals_when_the_budget_needs_more(mock_teacher, runner, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    lines = [SEEDS.read_text(encoding="utf-8").splitlines()[i] for i in range(2)]
    seeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, 5, "--recipe", "conversation", "--turns", "2")
    args[args.index("--seeds") + 1] = str(seeds)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    convs = _check_schema(out, 5)
    assert mock_teacher.count("propose") == 1
    journal = read_journal(out)
    proposed = [c for c in journal if c["kind"] == "candidate" and c["id"].startswith("r")]
    # The proposal stage's filters ran: the mock's sloppy items were rejected with reasons.
    reasons = {c["reason"] for c in proposed if c["status"] == "rejected"}
    assert {"too_short", "write_a_program"} <= reasons and any(r.startswith("keyword:") for r in reasons)
    assert [c["id"][0] for c in convs] == ["s", "s", "r", "r", "r"]


def test_openers_from_an_earlier_run_are_filtered_against_seeds_and_each_other(mock_teacher, runner, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(SEEDS.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    seed_instruction = json.loads(seeds.read_text())["instruction"]
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    rows = [
        {"instruction": "Explain how vaccines train the immune system.", "input": "", "output": "..."},
        {"instruction": "Explain how vaccines train the immune system.", "input": "", "output": "another instance"},
        {"instruction": "Explain how vaccines train the human immune system.", "input": "", "output": "..."},  # near-duplicate
        {"instruction": seed_instruction, "input": "", "output": "..."},  # a seed again
        {"instruction": "Translate the sentence into French.", "input": "The cat sleeps.", "output": "Le chat dort."},
    ]
    (earlier / "alpaca_data.json").write_text(json.dumps(rows), encoding="utf-8")
    out = tmp_path / "run"
    args = mock_args(mock_teacher, out, 3, "--recipe", "conversation", "--turns", "1", "--from", str(earlier))
    args[args.index("--seeds") + 1] = str(seeds)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    convs = _check_schema(out, 3)
    assert [c["conversations"][0]["value"] for c in convs][1:] == [
        "Explain how vaccines train the immune system.", "Translate the sentence into French.\n\nThe cat sleeps.",
    ]
    assert mock_teacher.count("propose") == 0
    from_cands = {c["id"]: c for c in read_journal(out) if c["kind"] == "candidate" and c["id"].startswith("f")}
    assert [c.get("reason") for c in from_cands.values()] == [None, "near_duplicate", "near_duplicate", None]


def test_from_a_run_that_has_no_data_is_one_red_line(mock_teacher, runner, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, mock_args(mock_teacher, tmp_path / "run", 2, "--recipe", "conversation", "--from", str(empty)))
    assert result.exit_code == 2
    assert "no alpaca_data.json in it" in result.output and "Traceback" not in result.output


def test_dry_run_counts_assistant_and_simulator_requests(runner, tmp_path):
    args = ["generate", "--seeds", str(SEEDS), "--budget", "10", "--recipe", "conversation", "--turns", "3", "--dry-run",
            "--base-url", "http://127.0.0.1:9/v1", "--api-key", "sk-test-123456", "--model", "gpt-4o-mini"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "assistant" in result.output and "simulator" in result.output
    assert "--dry-run: 10 conversations, recipe conversation" in result.output  # the budget counts conversations
    table = {cells[0]: cells[1] for line in result.output.splitlines() if (cells := [c.strip() for c in line.split("│")[1:-1]])}
    # The seed file has more openers than the budget needs: no proposals; 10 x 3 answers, 10 x 2 follow-ups.
    assert table["assistant"] == "30" and table["simulator"] == "20" and "propose" not in table


def _turn_lines(out: Path) -> int:
    path = out / "journal.jsonl"
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if '"kind":"turn"' in line.replace(" ", "")) if path.exists() else 0


def test_killed_mid_conversation_resumes_without_asking_for_a_finished_turn_again(tmp_path):
    """SIGKILL while conversations are half done; the rerun requests exactly the turns the journal lacks."""
    mock = MockTeacher().start()
    try:
        mock.latency = 0.05
        out = tmp_path / "run"
        args = mock_args(mock, out, 4, "--recipe", "conversation", "--turns", "3", "--concurrency", "2")
        proc = subprocess.Popen(cli_command(*args), cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while _turn_lines(out) < 7:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        turns_before = [(t["id"], t["n"]) for t in read_journal(out) if t["kind"] == "turn"]
        partial = {cid for cid, _ in turns_before} - {r["id"] for r in read_journal(out) if r["kind"] == "completed"}
        assert partial, "the kill should land mid-conversation"
        asked = len(mock.requests)
        result = run_cli(args)
        assert result.returncode == 0, result.stderr
        turns_after = [(t["id"], t["n"]) for t in read_journal(out) if t["kind"] == "turn"]
        assert len(turns_after) == len(set(turns_after)), "a turn was journaled twice"
        assert turns_after[: len(turns_before)] == turns_before
        # Every request of the rerun brought a turn the journal did not have.
        assert len(mock.requests) - asked == len(turns_after) - len(turns_before)
        convs = _check_schema(out, 4)
        assert all(len(c["conversations"]) == 6 for c in convs)
    finally:
        mock.stop()


@pytest.mark.parametrize("turns", ["0", "11"])
def test_turns_out_of_range_is_one_red_line(mock_teacher, runner, tmp_path, turns):
    result = runner.invoke(app, mock_args(mock_teacher, tmp_path / "run", 2, "--recipe", "conversation", "--turns", turns))
    assert result.exit_code == 2 and "--turns" in result.output
