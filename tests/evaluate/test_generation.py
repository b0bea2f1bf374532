"""Local answers with transformers on a tiny model built here: batched equals one at a time, limits, EOS, journal reuse."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from selfinstruct.cli import app
from tests.evaluate.conftest import eval_args, jsonl

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.finetune.tiny import build_model

    return build_model(tmp_path_factory.mktemp("eval-tiny") / "model")


@pytest.fixture(scope="module")
def loaded(tiny: Path):
    from selfinstruct.evaluate.contestants import parse_contestant
    from selfinstruct.evaluate.generation import load_contestant

    return load_contestant(parse_contestant(str(tiny), "a"), "fp32")


def _template():
    from selfinstruct.finetune.data import PromptTemplate

    return PromptTemplate.load()


def _prompts(tokenizer) -> list[str]:
    from selfinstruct.evaluate.generation import render_prompt
    from selfinstruct.evaluate.tasks import EvalTask
    from selfinstruct.finetune.data import PromptTemplate

    template = PromptTemplate.load()
    words = ["red", "green", "blue", "yellow", "purple"]
    tasks = [EvalTask(id=str(i), instruction=f"Name a {w} thing." + " Be brief." * i, input=w if i % 2 else "") for i, w in enumerate(words)]
    return [render_prompt(t, template, tokenizer) for t in tasks]


def test_batched_answers_equal_one_at_a_time_and_ask(loaded):
    from selfinstruct.evaluate.generation import batched_answers, encode, generate_batch
    from selfinstruct.finetune.ask import answer

    model, tokenizer = loaded
    prompts = _prompts(tokenizer)
    batched = {i: g for batch in batched_answers(model, tokenizer, prompts, template=_template(), max_new_tokens=12, batch_size=3) for i, g in batch}
    assert sorted(batched) == list(range(len(prompts)))
    for i, prompt in enumerate(prompts):
        alone = generate_batch(model, tokenizer, [encode(tokenizer, prompt, chat=False)], 12)[0]
        assert batched[i].text == alone.text  # left padding changes nothing for greedy decoding
        assert batched[i].completion_tokens <= 12 and batched[i].finish_reason == "length"
        assert batched[i].prompt_tokens == len(tokenizer(prompt)["input_ids"])
    # The same answer `selfinstruct ask` gives: same prompt tokens, same greedy decoding.
    assert answer(model, tokenizer, prompts[1], 12, 0.0) == batched[1].text


def test_generation_stops_at_the_models_end_token(loaded):
    """An end token the model's generation config adds (a chat model's <end_of_turn>) stops the answer like EOS."""
    from selfinstruct.evaluate.generation import encode, generate_batch

    model, tokenizer = loaded
    ids = encode(tokenizer, _prompts(tokenizer)[0], chat=False)
    said = model.generate(input_ids=torch.tensor([ids]), max_new_tokens=3, do_sample=False)[0, len(ids) :].tolist()
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, said[2]]  # the token it says third ends the turn
    try:
        stopped = generate_batch(model, tokenizer, [ids], 6)[0]
    finally:
        model.generation_config.eos_token_id = saved
    first = said.index(said[2])  # where that token first appears
    assert stopped.finish_reason == "stop" and stopped.completion_tokens == first + 1
    assert stopped.text == tokenizer.decode(said[:first], skip_special_tokens=True).strip()


def test_an_answer_ends_where_the_model_writes_a_header_of_its_template(loaded, monkeypatch):
    """A student that goes on to write "### Instruction:" has finished: batched eval and `ask` stop there."""
    from selfinstruct.evaluate.generation import batched_answers
    from selfinstruct.finetune.ask import answer
    from selfinstruct.finetune.data import PromptTemplate

    model, tokenizer = loaded
    prompts = _prompts(tokenizer)
    free = {i: g for batch in batched_answers(model, tokenizer, prompts, template=_template(), max_new_tokens=12, batch_size=5) for i, g in batch}
    # Pretend a word one answer writes part-way through is a header of the template.
    row, found = next((i, m) for i, g in free.items() for m in re.finditer(r"[a-z]{4,}", g.text) if m.start() > 0)
    header, said = found.group(), free[row].text
    monkeypatch.setattr(PromptTemplate, "headers", lambda self: [header])
    cut = {i: g for batch in batched_answers(model, tokenizer, prompts, template=_template(), max_new_tokens=12, batch_size=5) for i, g in batch}
    assert cut[row].text == said[: found.start()].strip() and cut[row].finish_reason == "stop"
    assert cut[row].completion_tokens < free[row].completion_tokens  # decoding stopped there, not only the text
    for i, g in free.items():  # the other rows of the batch decode on, unchanged, unless they wrote it too
        if header not in g.text:
            assert cut[i].text == g.text and cut[i].finish_reason == "length"
    assert answer(model, tokenizer, prompts[row], 12, 0.0, template=_template()) == cut[row].text


def test_local_model_end_to_end_and_answers_are_reused(runner, mock_teacher, eval_files, tmp_path, tiny):
    model = tmp_path / "tiny"
    shutil.copytree(tiny, model)
    out = tmp_path / "ev"
    args = eval_args(eval_files, out, mock_teacher, str(model), "bad", "--template", "alpaca", "--max-new-tokens", "8", "--batch-size", "3")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines() if '"answer"' in line]
    assert len([a for a in answers if a["kind"] == "answer"]) == 8
    assert all(a["completion_tokens"] <= 8 and "prompt=alpaca" in a["contestant"] for a in answers if a["kind"] == "answer")
    assert len(jsonl(out / "answers_a.jsonl")) == 8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["contestants"]["a"]["generated"] == 8 and summary["contestants"]["a"]["prompt"] == "alpaca"
    # Every answer is journaled: a rerun needs neither the model nor the judge.
    for weights in model.glob("*.safetensors"):
        weights.unlink()
    asked = len(mock_teacher.requests)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(mock_teacher.requests) == asked and "all 8 answers from the journal" in again.output


def test_chat_template_prompt(tmp_path, tiny):
    from selfinstruct.evaluate.contestants import parse_contestant
    from selfinstruct.evaluate.generation import load_contestant, render_prompt
    from selfinstruct.evaluate.tasks import EvalTask

    model = tmp_path / "chatty"
    shutil.copytree(tiny, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    contestant = parse_contestant(str(model), "a")
    assert contestant.template("chat") is None
    _, tokenizer = load_contestant(contestant)
    text = render_prompt(EvalTask(id="t", instruction="Sum these.", input="1, 2"), None, tokenizer)
    assert text == "<user>Sum these.\n\n1, 2\n<assistant>"
    from selfinstruct.errors import UserError

    _, plain = load_contestant(parse_contestant(str(tiny), "a"))
    with pytest.raises(UserError, match="no chat template"):
        render_prompt(EvalTask(id="t", instruction="Hi."), None, plain, str(tiny))


def test_a_model_that_cannot_be_loaded_is_exit_2(runner, mock_teacher, eval_files, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama"}')
    for spec in (str(broken), "no-such-org/no-such-model"):
        result = runner.invoke(app, eval_args(eval_files, tmp_path / "ev", mock_teacher, spec, "bad", "--template", "alpaca"))
        assert result.exit_code == 2, result.output
        assert f"--a {spec}: cannot be loaded" in result.output and "Traceback" not in result.output
    assert not mock_teacher.requests


def test_tuned_against_base_for_finetune_eval(mock_teacher, eval_files, tmp_path, tiny):
    """finetune --eval's step: the student (its own template) against its base (the Alpaca template), on the default tasks."""
    from selfinstruct.endpoint_settings import TeacherSettings
    from selfinstruct.evaluate.loop import card_section, eval_tuned
    from selfinstruct.finetune.data import PromptTemplate
    from tests.finetune.tiny import build_model

    student = tmp_path / "student"
    shutil.copytree(tiny, student)
    (student / "prompt_template.json").write_text(PromptTemplate.load().model_dump_json())
    base = build_model(tmp_path / "base", seed=1)
    judge = TeacherSettings(base_url=mock_teacher.url, api_key="sk-test-judge-123456", model="mock-judge", timeout=5)
    outcome = eval_tuned(student, str(base), judge=judge, limit=4, max_new_tokens=6)
    assert outcome.n == 4 and outcome.wins + outcome.ties + outcome.losses == 4
    assert outcome.tasks.endswith("eval_tasks.jsonl") and outcome.out == str(student / "eval")
    assert outcome.ci_low <= outcome.win_rate <= outcome.ci_high
    summary = json.loads((student / "eval" / "summary.json").read_text())
    assert summary["contestants"]["a"]["prompt"] == "trained" and summary["contestants"]["b"]["prompt"] == "alpaca"
    card = card_section(outcome)
    assert "win rate against" in card and "95% bootstrap CI" in card and "position consistency" in card
