"""The judge: verdicts as small judges really write them, the prompt, and the both-orders rule."""

import json
from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.evaluate.tasks import EvalTask
from selfinstruct.judge.pairwise import JudgePrompts, combine, parse_verdict, winner_of

REPLIES = Path(__file__).parent / "fixtures" / "small_judge_replies.jsonl"


def test_replies_of_the_packaged_models():
    """Replies the packaged 0.5B and 1.5B models wrote as judges of this project's prompt, with the verdicts they gave."""
    rows = [json.loads(line) for line in REPLIES.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 20 and {r["judge"] for r in rows} == {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    for row in rows:
        assert parse_verdict(row["reply"]) == row["verdict"], row["reply"]
    # The set holds the hard kinds: explanations that praise both sides before the verdict line, a lone
    # "Answer A is better.", "The verdict is: A", a tie said in words, and a ramble with no verdict at all.
    assert {r["verdict"] for r in rows} == {"A", "B", "tie", None}


@pytest.mark.parametrize(("reply", "verdict"), [
    ("Both are fine.\nVerdict: B", "B"),
    ("**Verdict:** Answer B", "B"),
    ("Verdict: a tie", "tie"),
    ("Final verdict: [[A]]", "A"),
    ("[[C]]", "tie"),
    ("verdict: b.", "B"),
    ("Verdict: a good try, but", None),
    ("The answers differ in tone.\n\n**B**", "B"),
    ("I prefer Response A.", "A"),
    ("Both answers are equally helpful.", "tie"),
    ("Answer B is not better than A, and Answer A is not better either.", None),
    ('Verdict: A\nor\nVerdict: B\nor\nVerdict: tie', None),  # the format line copied back
    ("The verdict is: A", "A"),
    ("Therefore, the verdict is Verdict: B.", "B"),
    ("Answer A is better. Answer B is better.", None),
    ("", None),
])  # fmt: skip
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) == verdict


def test_winner_by_order_and_disagreement_is_a_tie():
    assert winner_of("A", "ab") == "a" and winner_of("A", "ba") == "b"
    assert winner_of("B", "ab") == "b" and winner_of("B", "ba") == "a"
    assert winner_of("tie", "ba") == "tie"
    assert combine("a", "a") == ("a", True)
    assert combine("tie", "tie") == ("tie", True)
    # A judge that always says "A" names a different contestant in each order: that pair is a tie.
    assert combine(winner_of("A", "ab"), winner_of("A", "ba")) == ("tie", False)
    assert combine("a", "tie") == ("tie", False)


def test_prompt_has_fixed_text_first_and_the_reference_only_when_asked():
    prompts = JudgePrompts.load()
    task = EvalTask(id="t", instruction="Add 2 and 3.", input="", reference="5")
    plain = prompts.render(task, "5", "6", reference=False)
    graded = prompts.render(task, "5", "6", reference=True)
    other = prompts.render(EvalTask(id="u", instruction="Name a fruit."), "Apple.", "", reference=False)
    fixed = plain.split("[Request]")[0]
    assert other.startswith(fixed) and len(fixed) > 500  # everything before the task is shared, for prefix caching
    for text in (plain, graded):
        assert "Ignore length" in text and "Ignore position" in text
        assert text.index("[Start of Answer A]\n5\n") < text.index("[Start of Answer B]\n6\n")
    assert "[Reference answer]\n5\n" in graded and "Reference" not in plain and "reference" in graded.split("[Request]")[0]
    assert "[Input]\n(none)" in plain and "(empty answer)" in other
    # Without a reference to show, --reference falls back to the plain prompt.
    assert prompts.render(EvalTask(id="v", instruction="Hi."), "a", "b", reference=True).startswith(fixed)


def test_placeholder_text_in_an_answer_is_not_substituted():
    task = EvalTask(id="t", instruction="Echo.")
    text = JudgePrompts.load().render(task, "{answer_b}", "B", reference=False)
    assert "[Start of Answer A]\n{answer_b}\n" in text


def test_bad_prompt_dir(tmp_path):
    with pytest.raises(UserError, match="judge prompt template missing"):
        JudgePrompts.load(tmp_path)
    (tmp_path / "judge_pairwise.txt").write_text("no placeholders")
    (tmp_path / "judge_pairwise_reference.txt").write_text("none")
    with pytest.raises(UserError, match="lacks the placeholder"):
        JudgePrompts.load(tmp_path)
