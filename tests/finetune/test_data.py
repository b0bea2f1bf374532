"""Fine-tuning data: reading alpaca_data.json, the Alpaca prompt, response-only labels, truncation, split, pad token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.finetune.data import (
    IGNORE_INDEX,
    PromptTemplate,
    encode_example,
    prepare_data,
    read_alpaca_data,
    split_indices,
)
from selfinstruct.records import AlpacaExample
from tests.finetune.tiny import ANIMALS, COLORS, build_tokenizer, repetitive_rows


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    return build_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def template() -> PromptTemplate:
    return PromptTemplate.load()


def _write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# --- reading -------------------------------------------------------------------------


def test_reads_rows_and_defaults_missing_or_null_input(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.json", [
        {"instruction": "a", "input": "x", "output": "y"},
        {"instruction": "b", "output": "z"},
        {"instruction": "c", "input": None, "output": "w"},
    ])  # fmt: skip
    rows = read_alpaca_data(path)
    assert [r.input for r in rows] == ["x", "", ""]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "data file is empty"),
        ("[]", "no examples"),
        ("{not json", "invalid JSON"),
        ('{"instruction": "a"}', "expected a JSON list"),
    ],
)
def test_bad_files_are_one_line_user_errors(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        read_alpaca_data(_write(tmp_path / "d.json", content))
    assert "\n" not in str(err.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        read_alpaca_data(tmp_path / "nope.json")
    with pytest.raises(UserError, match="is a directory"):
        read_alpaca_data(tmp_path)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"prompt": "a", "completion": "b"}, "unexpected key 'completion'"),
        ({"instruction": "a", "input": "", "output": "b", "text": "c"}, "unexpected key 'text'"),
        ({"instruction": "a", "input": ""}, "missing key 'output'"),
        ({"instruction": "a", "input": 3, "output": "b"}, "'input' must be a string"),
        ({"instruction": " ", "input": "", "output": "b"}, "'instruction' is empty"),
        ({"instruction": "a", "input": "", "output": ""}, "'output' is empty"),
        ("just a string", "expected an object"),
    ],
)
def test_first_bad_row_is_reported_by_index(tmp_path: Path, bad: object, message: str) -> None:
    good = {"instruction": "a", "input": "", "output": "b"}
    path = _write(tmp_path / "d.json", [good, good, bad, bad])
    with pytest.raises(UserError, match=f"row 2 .*{message}"):
        read_alpaca_data(path)


def test_reads_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "a", "input": "", "output": "b"}\n\n{"instruction": "c", "output": "d"}\n')
    assert len(read_alpaca_data(path)) == 2


def test_bad_rows_are_named_by_file_and_line(tmp_path: Path) -> None:
    good = {"instruction": "a", "input": "", "output": "b"}
    path = _write(tmp_path / "d.json", json.dumps([good, good, {"instruction": "a", "output": ""}], indent=2))
    with pytest.raises(UserError, match=rf"^{path}:12: row 2 \(counting from 0\): 'output' is empty"):
        read_alpaca_data(path)
    path = _write(tmp_path / "d.jsonl", json.dumps(good) + "\n\n" + json.dumps({**good, "extra": 1}) + "\n")
    with pytest.raises(UserError, match=rf"^{path}:3: unexpected key 'extra'"):
        read_alpaca_data(path)
    path = _write(tmp_path / "e.jsonl", json.dumps(good) + "\n{oops\n")
    with pytest.raises(UserError, match=rf"^{path}:2: invalid JSON \("):
        read_alpaca_data(path)


# --- prompt --------------------------------------------------------------------------


def test_template_has_both_alpaca_variants(template: PromptTemplate) -> None:
    with_input = template.render("Sum these.", "2 and 3")
    assert with_input.startswith("Below is an instruction that describes a task, paired with an input")
    assert "### Instruction:\nSum these.\n\n### Input:\n2 and 3\n\n### Response:\n" in with_input
    no_input = template.render("Name a color.", "")
    assert "### Input:" not in no_input and no_input.endswith("### Instruction:\nName a color.\n\n### Response:\n")
    assert template.render("x", "   ") == template.render("x", "")


def test_placeholders_in_values_are_not_substituted_again(template: PromptTemplate) -> None:
    prompt = template.render("Explain {input} and {instruction}.", "value")
    assert "Explain {input} and {instruction}." in prompt


def test_an_answer_is_cut_at_the_first_header_of_its_template(template: PromptTemplate) -> None:
    assert template.headers() == ["\n### Input:", "\n### Instruction:", "\n### Response:"]
    assert template.cut("Paris.\n\n### Response:\nParis.\n\n### Instruction:\nName a city.") == ("Paris.", True)
    assert template.cut("Use ### for a heading: ### Response: stays when it starts no line.") == (
        "Use ### for a heading: ### Response: stays when it starts no line.", False)
    custom = PromptTemplate(with_input="Q: {instruction}\nContext: {input}\nA:\n", no_input="Q: {instruction}\nA:\n")
    assert custom.headers() == ["\nA:"] and custom.cut("42\nA:\n43") == ("42", True)


def test_template_round_trips_through_a_model_dir(tmp_path: Path, template: PromptTemplate) -> None:
    (tmp_path / "prompt_template.json").write_text(template.model_dump_json())
    assert PromptTemplate.from_model_dir(tmp_path) == template
    assert PromptTemplate.from_model_dir(tmp_path / "elsewhere") == template


@pytest.mark.parametrize("content", ["{not json", '{"with_input": "x"}', "[]"])
def test_a_broken_template_in_a_model_dir_is_a_user_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "prompt_template.json").write_text(content)
    with pytest.raises(UserError, match=r"prompt_template.json: not a prompt template with with_input and no_input \(") as err:
        PromptTemplate.from_model_dir(tmp_path)
    assert "\n" not in str(err.value)


# --- labels --------------------------------------------------------------------------


@pytest.mark.parametrize("row", repetitive_rows(6))
def test_labels_mask_exactly_the_prompt_and_train_eos(tokenizer, template: PromptTemplate, row: dict[str, str]) -> None:
    prompt = template.render(row["instruction"], row["input"])
    sample, truncated = encode_example(tokenizer, prompt, row["output"], max_length=512)
    ids, labels = sample["input_ids"], sample["labels"]
    assert not truncated
    # The prompt's tokens, from the tokenizer's own offsets: every one masked, every later token trained.
    enc = tokenizer(prompt + row["output"], return_offsets_mapping=True)
    n_prompt = sum(end <= len(prompt) for _, end in enc["offset_mapping"])
    assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert ids[0] == tokenizer.bos_token_id
    assert ids[-1] == labels[-1] == tokenizer.eos_token_id
    assert ids.count(tokenizer.eos_token_id) == 1
    assert tokenizer.decode(ids[n_prompt:-1]) == row["output"]
    assert tokenizer.decode(ids[:n_prompt], skip_special_tokens=True) == prompt


def test_special_token_text_in_a_response_is_not_eos(tokenizer, template: PromptTemplate) -> None:
    sample, _ = encode_example(tokenizer, template.render("Say it.", ""), "the end <eos> really", max_length=512)
    assert sample["input_ids"].count(tokenizer.eos_token_id) == 1


def test_a_tokenizer_that_appends_eos_gets_exactly_one(tmp_path: Path, template: PromptTemplate) -> None:
    from tokenizers import processors

    tok = build_tokenizer(tmp_path)
    bos, eos = tok.bos_token_id, tok.eos_token_id
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", bos), ("<eos>", eos)]
    )
    sample, _ = encode_example(tok, template.render("Name a red thing.", ""), "A red cat.", max_length=512)
    assert sample["input_ids"].count(eos) == 1 and sample["labels"][-1] == eos


def test_long_sample_loses_the_end_of_its_response(tokenizer, template: PromptTemplate) -> None:
    prompt = template.render("Repeat the word three times.", "red")
    full, _ = encode_example(tokenizer, prompt, "red " * 40, max_length=1000)
    cut, truncated = encode_example(tokenizer, prompt, "red " * 40, max_length=len(full["input_ids"]) - 10)
    assert truncated and len(cut["input_ids"]) == len(full["input_ids"]) - 10
    assert cut["input_ids"] == full["input_ids"][: len(cut["input_ids"])]
    assert cut["labels"][-1] != tokenizer.eos_token_id  # the answer did not end there


def test_prepare_counts_truncations_and_splits(tokenizer, template: PromptTemplate) -> None:
    rows = [AlpacaExample(**r) for r in repetitive_rows(40)]
    rows[5] = AlpacaExample(instruction="Repeat the word three times.", input="red", output="red " * 200)
    data = prepare_data(rows, template, tokenizer, max_length=160, val_size=0.1, seed=1)
    assert data.stats.truncated_rows == [5]
    assert data.stats.truncated_train + data.stats.truncated_validation == 1
    assert (data.stats.train, data.stats.validation) == (36, 4)
    assert all(len(s["input_ids"]) <= 160 for s in data.train + data.validation)
    assert data.stats.trained_tokens == sum(label != IGNORE_INDEX for s in data.train + data.validation for label in s["labels"])


def test_a_row_whose_instruction_alone_does_not_fit_is_dropped_with_a_warning(tokenizer, template: PromptTemplate) -> None:
    rows = [AlpacaExample(**r) for r in repetitive_rows(12)]
    long_prompt = "Explain this carefully. " * 30
    rows[3] = AlpacaExample(instruction=long_prompt, input="", output="ok")
    rows[7] = AlpacaExample(instruction=long_prompt, input="", output="ok")
    warnings: list[str] = []
    data = prepare_data(rows, template, tokenizer, max_length=120, val_size=0.1, seed=0, warn=warnings.append)
    assert data.stats.dropped_rows == ["row 3", "row 7"] and data.stats.rows == 12
    assert data.stats.train + data.stats.validation == 10
    assert [w.split(":")[0] for w in warnings] == ["warning", "warning"] and "row 3 " in warnings[0] and "row 7 " in warnings[1]
    assert all("instruction alone does not fit --max-length 120" in w for w in warnings)


def test_an_over_long_input_is_shortened_from_the_middle_so_the_response_keeps_a_quarter(tokenizer, template: PromptTemplate) -> None:
    from selfinstruct.finetune.fit import INPUT_CUT

    rows = [AlpacaExample(**r) for r in repetitive_rows(12)]
    words = " ".join(f"{c} {a}" for c, a in zip(COLORS * 20, ANIMALS * 30))
    rows[2] = AlpacaExample(instruction="Repeat the word three times.", input=f"START {words} END", output="red red red " * 40)
    warnings: list[str] = []
    max_length = 200
    data = prepare_data(rows, template, tokenizer, max_length=max_length, val_size=0.0, seed=0, warn=warnings.append)
    assert data.stats.truncated_inputs == 1 and data.stats.dropped_rows == []
    assert len(warnings) == 1 and "row 2 " in warnings[0] and "input shortened" in warnings[0]
    sample = data.train[2]
    assert len(sample["input_ids"]) <= max_length
    trained = sum(label != IGNORE_INDEX for label in sample["labels"])
    assert trained >= max_length // 4  # the response keeps at least a quarter of --max-length
    text = tokenizer.decode(sample["input_ids"])
    assert INPUT_CUT.strip() in text and "START" in text and "END" in text  # both ends of the input survive
    # A short response keeps all of its room: it is trained in full, EOS included.
    rows[2] = AlpacaExample(instruction="Repeat the word three times.", input=f"START {words} END", output="red red red")
    data = prepare_data(rows, template, tokenizer, max_length=max_length, val_size=0.0, seed=0)
    assert data.train[2]["labels"][-1] == tokenizer.eos_token_id and data.stats.truncated_rows == []


def test_max_length_too_small_for_any_response(tokenizer, template: PromptTemplate) -> None:
    rows = [AlpacaExample(**r) for r in repetitive_rows(12)]
    with pytest.raises(UserError, match=r"--max-length 16 is too small for any response.*shortest prompt is \d+ tokens"):
        prepare_data(rows, template, tokenizer, max_length=16, val_size=0.1, seed=0)


def test_split_is_seeded_disjoint_and_complete() -> None:
    train, val = split_indices(200, 0.05, seed=42)
    assert len(val) == 10 and len(train) == 190 and not set(train) & set(val)
    assert split_indices(200, 0.05, seed=42) == (train, val)
    assert split_indices(200, 0.05, seed=43)[1] != val
    assert split_indices(3, 0.0, seed=0) == ([0, 1, 2], [])
    assert len(split_indices(5, 0.01, seed=0)[1]) == 1
    with pytest.raises(UserError, match="--val-size"):
        split_indices(1, 0.5, seed=0)


# --- pad token -----------------------------------------------------------------------


def _tiny_model(vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    return LlamaForCausalLM(cfg)


@pytest.mark.parametrize(
    ("pad", "unk", "expected"),
    [("<pad>", "<unk>", "<pad>"), (None, "<unk>", "<unk>"), (None, None, "<|pad|>"), ("<eos>", None, "<|pad|>")],
)
def test_pad_token_is_never_eos(tmp_path: Path, pad: str | None, unk: str | None, expected: str) -> None:
    from selfinstruct.finetune.base import ensure_pad_token

    tok = build_tokenizer(tmp_path, pad=pad, unk=unk)
    model = _tiny_model(len(tok))
    choice = ensure_pad_token(tok, model)
    assert tok.pad_token == expected and choice.startswith(expected)
    assert tok.pad_token_id != tok.eos_token_id
    assert model.config.pad_token_id == tok.pad_token_id
    rows = model.get_input_embeddings().weight
    assert rows.shape[0] == len(tok)
    if expected == "<|pad|>":
        assert rows[tok.pad_token_id].abs().sum() == 0  # deterministic, so training and ask agree
