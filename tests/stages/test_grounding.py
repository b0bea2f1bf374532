"""The grounding checks and the Question/Answer parser, each with cases that pass and cases that fail."""

from __future__ import annotations

import pytest

from selfinstruct.stages.grounding import (
    cheap_problem,
    is_refusal,
    parse_pairs,
    parse_verdict,
    ungrounded_names,
    ungrounded_numbers,
)

CONTEXT = (
    "The Harbor Line ferry links Pier 4 with Gull Island. The crossing takes 25 minutes, and tickets cost 3 euros "
    "(1.50 euros for children). The Tern carries up to 1,200 kilograms of cargo."
)


def test_parse_pairs_reads_llava_layout_and_common_variants():
    text = "Question:\nHow long is the crossing?\n===\nAnswer:\nIt takes 25 minutes.\n===\nQuestion: And the price?\nAnswer: 3 euros."
    assert parse_pairs(text) == [("How long is the crossing?", "It takes 25 minutes."), ("And the price?", "3 euros.")]
    assert parse_pairs("**Q1:** Where?\n**A1:** Pier 4.") == [("Where?", "Pier 4.")]
    assert parse_pairs("Sure! Here it is.\nUser: Where does it go?\nAssistant: To Gull Island.\nQuestion: dangling") == [
        ("Where does it go?", "To Gull Island.")
    ]
    assert parse_pairs("The ferry is nice.") == []


@pytest.mark.parametrize(
    "answer",
    ["As an AI, I cannot know that.", "The context does not say how old the boat is.", "I cannot see the image, but it seems sunny.",
     "The price is not mentioned in the text.", "Based on the captions, a man rides a bike."],
)  # fmt: skip
def test_refusals_and_talk_about_the_source_are_caught(answer):
    assert is_refusal(answer) and cheap_problem(answer, CONTEXT) == "refusal"


def test_a_plain_answer_is_not_a_refusal():
    assert not is_refusal("The crossing takes 25 minutes, so you can see the island from the deck.")


def test_numbers_must_appear_in_the_context():
    assert ungrounded_numbers("It takes 25 minutes and costs 3 euros, or 1.50 for children.", CONTEXT) == []
    assert ungrounded_numbers("It carries 1200 kilograms.", CONTEXT) == []  # 1,200 in the context
    assert ungrounded_numbers("It takes 30 minutes.", CONTEXT) == ["30"]
    # Step markers are layout, not claims.
    assert ungrounded_numbers("1. Buy a ticket.\n2. Board.\nStep 7: wait 25 minutes.", CONTEXT) == []
    assert cheap_problem("The boat was built in 1987.", CONTEXT) == "ungrounded_number:1987"


def test_proper_nouns_must_appear_in_the_context():
    assert ungrounded_names("You take the ferry from Pier 4 to Gull Island on the Tern.", CONTEXT) == []
    # The first word of a sentence may be capitalised without being a name.
    assert ungrounded_names("Tickets are cheap. Children pay less.", CONTEXT) == []
    assert ungrounded_names("The ferry is run by Captain Jones of Baltic Shipping.", CONTEXT) == ["Captain", "Jones", "Baltic", "Shipping"]
    assert cheap_problem("You can buy tickets from Ryanair.", CONTEXT) == "ungrounded_name:Ryanair"
    assert cheap_problem("The crossing takes 25 minutes.", CONTEXT) is None


def test_parse_verdict():
    assert parse_verdict("All claims are supported.\nVerdict: Yes") is True
    assert parse_verdict("The year is invented.\nVerdict: **No**") is False
    assert parse_verdict("No, the answer adds a name.") is False
    assert parse_verdict("Yes.") is True
    assert parse_verdict("It is hard to say.") is None
