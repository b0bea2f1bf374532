"""Chat samples: labels on assistant turns only, token by token, for the Vicuna template and a model's own; turn-boundary splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.finetune.chat import IGNORE_INDEX, ChatEncoder, chat_template_for, render_masked
from selfinstruct.finetune.chat_data import prepare_chat_data
from selfinstruct.finetune.sources import Row
from selfinstruct.records import AlpacaExample, ChatMessage
from tests.finetune.tiny import build_tokenizer

pytest.importorskip("transformers")

# A Gemma-style template: role markers and an end-of-turn token that is not EOS.
GEMMA_STYLE = (
    "{{ bos_token }}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def conversation(system: bool = True) -> list[ChatMessage]:
    turns = [("user", "Name a red thing."), ("assistant", "A red fox."), ("user", "And a blue one?"), ("assistant", "The blue sky.")]
    head = [ChatMessage(role="system", content="Be brief.")] if system else []
    return head + [ChatMessage(role=r, content=c) for r, c in turns]


@pytest.fixture
def tokenizer(tmp_path: Path):  # noqa: ANN201
    return build_tokenizer(tmp_path / "tok")


def runs(tokenizer, sample: dict[str, list[int]]) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """(trained runs, masked runs) of a sample, each decoded with its special tokens."""
    trained: list[str] = []
    masked: list[str] = []
    current: list[int] = []
    state = None
    for tok, label in zip(sample["input_ids"], sample["labels"]):
        assert label in (IGNORE_INDEX, tok), "a trained label must be the token itself"
        is_trained = label != IGNORE_INDEX
        if state is not None and is_trained != state:
            (trained if state else masked).append(tokenizer.decode(current))
            current = []
        current.append(tok)
        state = is_trained
    (trained if state else masked).append(tokenizer.decode(current))
    return trained, masked


def test_vicuna_template_trains_assistant_words_and_eos_only(tokenizer) -> None:
    template, origin = chat_template_for(tokenizer)
    assert origin == "vicuna"  # the tiny tokenizer has no chat template of its own
    encoder = ChatEncoder(tokenizer, template)
    assert encoder.render(conversation()) == "<bos>Be brief. USER: Name a red thing. ASSISTANT: A red fox.<eos>USER: And a blue one? ASSISTANT: The blue sky.<eos>"
    sample = encoder.encode(conversation())
    trained, masked = runs(tokenizer, sample)
    assert [t.strip() for t in trained] == ["A red fox.<eos>", "The blue sky.<eos>"]
    # System, user turns and the USER:/ASSISTANT: markers are all masked.
    assert masked == ["<bos>Be brief. USER: Name a red thing. ASSISTANT:", "USER: And a blue one? ASSISTANT:"]
    assert sample["labels"].count(tokenizer.eos_token_id) == 2
    assert render_masked(tokenizer, sample).startswith("[[masked: <bos>Be brief. USER: Name a red thing. ASSISTANT:]] A red fox.<eos>")
    # Without a system message, Vicuna's default system line stands in, masked.
    _, masked = runs(tokenizer, encoder.encode(conversation(system=False)))
    assert masked[0].startswith("<bos>A chat between a curious user and an artificial intelligence assistant.")


def test_a_model_chat_template_trains_assistant_words_and_its_end_of_turn_token(tokenizer) -> None:
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tokenizer.chat_template = GEMMA_STYLE
    template, origin = chat_template_for(tokenizer)
    assert origin == "model"
    sample = ChatEncoder(tokenizer, template).encode(conversation(system=False))
    trained, masked = runs(tokenizer, sample)
    assert trained == ["A red fox.<end_of_turn>", "The blue sky.<end_of_turn>"]
    assert masked == [
        "<bos><start_of_turn>user\nName a red thing.<end_of_turn>\n<start_of_turn>model\n",
        "\n<start_of_turn>user\nAnd a blue one?<end_of_turn>\n<start_of_turn>model\n",
        "\n",
    ]
    eot = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert [label for label in sample["labels"] if label == eot] == [eot, eot]  # one trained per assistant turn, none for the user's


def test_context_turns_before_train_from_are_masked(tokenizer) -> None:
    encoder = ChatEncoder(tokenizer, chat_template_for(tokenizer)[0])
    trained, _ = runs(tokenizer, encoder.encode(conversation(), train_from=3))
    assert [t.strip() for t in trained] == ["The blue sky.<eos>"]


def test_a_template_that_does_not_close_assistant_turns_is_refused(tokenizer) -> None:
    open_ended = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
    with pytest.raises(UserError, match="does not close an assistant turn"):
        ChatEncoder(tokenizer, open_ended).encode(conversation())


def test_a_long_conversation_is_split_at_turn_boundaries_with_earlier_turns_as_masked_context(tokenizer) -> None:
    encoder = ChatEncoder(tokenizer, chat_template_for(tokenizer)[0])
    messages = conversation()
    full = encoder.length(messages)
    fitted = encoder.fit(messages, full - 1)
    assert fitted.split and fitted.cut_turns == 0 and fitted.dropped_turns == 0
    first, second = fitted.samples
    assert [t.strip() for t in runs(tokenizer, first)[0]] == ["A red fox.<eos>"]
    trained, masked = runs(tokenizer, second)
    assert [t.strip() for t in trained] == ["The blue sky.<eos>"]
    assert all(len(s["input_ids"]) <= full - 1 for s in fitted.samples)
    # Room for the system message and the second pair only: the first pair is left out of its context.
    assert masked[0] == "<bos>Be brief. USER: And a blue one? ASSISTANT:"
    # With room for everything, one sample.
    assert len(encoder.fit(messages, full).samples) == 1


def test_a_turn_too_long_for_max_length_is_cut_and_counted_or_dropped(tokenizer) -> None:
    encoder = ChatEncoder(tokenizer, chat_template_for(tokenizer)[0])
    brief = ChatMessage(role="system", content="Be brief.")
    long = [brief, ChatMessage(role="user", content="Name a red thing."), ChatMessage(role="assistant", content="red " * 200)]
    fitted = encoder.fit(long, 60)
    assert fitted.cut_turns == 1 and len(fitted.samples) == 1 and len(fitted.samples[0]["input_ids"]) == 60
    assert tokenizer.eos_token_id not in fitted.samples[0]["labels"]
    huge_question = [brief, ChatMessage(role="user", content="Why? " * 100), ChatMessage(role="assistant", content="Because.")]
    fitted = encoder.fit(huge_question, 60)
    assert fitted.dropped_turns == 1 and not fitted.samples


def test_a_turn_cut_before_its_first_answer_token_is_dropped_not_trained_on_nothing(tokenizer) -> None:
    encoder = ChatEncoder(tokenizer, chat_template_for(tokenizer)[0])
    messages = [ChatMessage(role="user", content="Why? " * 30), ChatMessage(role="assistant", content="Because.")]
    prompt = len(tokenizer(encoder.render(messages[:1], add_generation_prompt=True), add_special_tokens=False)["input_ids"])
    first_trained = next(i for i, label in enumerate(encoder.encode(messages)["labels"]) if label != IGNORE_INDEX)
    assert first_trained > prompt  # the template puts masked tokens between the prompt and the answer
    nothing = encoder.fit(messages, first_trained)  # room for the prompt and the masked lead-in only
    assert nothing.dropped_turns == 1 and nothing.samples == []
    one = encoder.fit(messages, first_trained + 1)
    assert one.cut_turns == 1 and [sum(label != IGNORE_INDEX for label in s["labels"]) for s in one.samples] == [1]


def test_prepare_chat_data_mixes_alpaca_rows_and_keeps_validation_rows_whole(tokenizer) -> None:
    encoder = ChatEncoder(tokenizer, chat_template_for(tokenizer)[0])
    chat = [m if m.role != "assistant" else ChatMessage(role="assistant", content=" ".join([m.content] * 12)) for m in conversation()]
    rows = [Row(messages=chat, where=f"c.json:{i}", key=(0, i)) for i in range(6)]
    alpaca = AlpacaExample(instruction="Repeat the word three times.", input="red", output="red red red")
    from selfinstruct.stages.converse import opener_text

    alpaca_messages = [ChatMessage(role="user", content=opener_text(alpaca.instruction, alpaca.input)), ChatMessage(role="assistant", content=alpaca.output)]
    rows += [Row(messages=alpaca_messages, alpaca=alpaca, where=f"a.json:{i}", key=(1, i)) for i in range(4)]
    rows += rows[-2:]  # a weight above 1 repeats rows
    full = encoder.length(chat)
    assert encoder.length(alpaca_messages) < full - 1
    warnings: list[str] = []
    data = prepare_chat_data(rows, encoder, tokenizer, max_length=full - 1, val_size=0.2, seed=3, warn=warnings.append)
    s = data.stats
    assert s.format == "chat" and s.rows == 12 and s.split_conversations == 6
    # Conversations make 2 samples, alpaca rows 1; 2 of the 10 distinct rows are held out, once each however often repeated.
    from selfinstruct.finetune.data import split_indices

    keys = [row.key for row in rows[:10]]
    val_keys = {keys[i] for i in split_indices(10, 0.2, 3)[1]}
    per_row = {key: 2 if key[0] == 0 else 1 for key in keys}
    assert len(data.validation) == sum(per_row[k] for k in val_keys)
    assert len(data.train) == sum(per_row[row.key] for row in rows if row.key not in val_keys)
    assert len(data.train) + len(data.validation) == s.samples
    assert not warnings
    trained, masked = runs(tokenizer, data.train[-1])
    assert [t.strip() for t in trained] == ["red red red<eos>"] and "USER: Repeat the word three times.\n\nred ASSISTANT:" in masked[0]
