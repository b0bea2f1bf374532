"""`selfinstruct export` in every format, read back by its real consumer: datasets, TRL's SFTTrainer, Datasette."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.finetune.data import PromptTemplate, split_indices
from tests.report.runs import CLEAN_ROWS, FLAGGED_ROWS, make_run, write_dataset


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("export") / "run", 20)


def export(runner: CliRunner, source: Path, fmt: str, out: Path, *extra: str) -> Path:
    result = runner.invoke(app, ["export", str(source), "--format", fmt, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


def rows_of(run: Path) -> list[dict]:
    return json.loads((run / "alpaca_data.json").read_text())


def test_alpaca_messages_and_sharegpt_rows(runner: CliRunner, run_dir: Path, tmp_path: Path) -> None:
    rows = rows_of(run_dir)
    alpaca = json.loads((export(runner, run_dir, "alpaca", tmp_path / "a") / "alpaca_data.json").read_text())
    assert alpaca == rows
    template = PromptTemplate.load()
    lines = (export(runner, run_dir, "messages", tmp_path / "m") / "messages.jsonl").read_text().splitlines()
    sharegpt = json.loads((export(runner, run_dir, "sharegpt", tmp_path / "s") / "sharegpt.json").read_text())
    assert len(lines) == len(sharegpt) == len(rows)
    for line, conv, row in zip(lines, sharegpt, rows):
        messages = json.loads(line)["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant"]
        assert messages[2]["content"] == row["output"]
        # The chat turns are finetune's Alpaca prompt, cut at its response header: one shared choice.
        assert template.render(row["instruction"], row["input"]) == f"{messages[0]['content']}\n\n{messages[1]['content']}\n\n### Response:\n"
        assert [(t["from"], t["value"]) for t in conv["conversations"]] == [("system", messages[0]["content"]), ("human", messages[1]["content"]), ("gpt", row["output"])]
    assert len({c["id"] for c in sharegpt}) == len(sharegpt)


def test_hf_export_loads_back_with_equal_rows(runner: CliRunner, run_dir: Path, tmp_path: Path) -> None:
    from datasets import load_dataset, load_from_disk

    out = export(runner, run_dir, "hf", tmp_path / "hf", "--val-size", "0.2", "--seed", "7")
    rows = rows_of(run_dir)
    train_idx, val_idx = split_indices(len(rows), 0.2, 7)
    expected = {"train": [rows[i] for i in train_idx], "validation": [rows[i] for i in val_idx]}
    on_disk = load_from_disk(str(out))
    parquet = load_dataset("parquet", data_files={s: str(out / "data" / f"{s}-00000-of-00001.parquet") for s in expected}, cache_dir=str(tmp_path / "cache"))
    by_card = load_dataset(str(out), cache_dir=str(tmp_path / "cache2"))  # the card's front matter names the Parquet files
    for split, want in expected.items():
        assert on_disk[split].to_list() == want
        assert parquet[split].to_list() == want
        assert by_card[split].to_list() == want


def test_messages_export_trains_one_step_with_trl(runner: CliRunner, run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from tests.finetune.tiny import build_model

    out = export(runner, run_dir, "messages", tmp_path / "m")
    model_dir = build_model(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    data = load_dataset("json", data_files=str(out / "messages.jsonl"), split="train", cache_dir=str(tmp_path / "cache"))
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(model_dir)),
        args=SFTConfig(output_dir=str(tmp_path / "trl"), max_steps=1, per_device_train_batch_size=4, report_to=[], save_strategy="no",
                       use_cpu=True, max_length=256, logging_steps=1, dataloader_num_workers=0),
        train_dataset=data,
        processing_class=tokenizer,
    )  # fmt: skip
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0


def test_sqlite_export_is_served_by_datasette(runner: CliRunner, run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("datasette")
    from datasette.app import Datasette

    out = export(runner, run_dir, "sqlite", tmp_path / "db")
    rows = rows_of(run_dir)
    records = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    rejected = [r for r in records if r["kind"] == "candidate" and r["status"] == "rejected"]

    async def query() -> dict:
        ds = Datasette([str(out / "dataset.db")])
        await ds.invoke_startup()
        get = lambda url: ds.client.get(url)  # noqa: E731
        found = {}
        found["instances"] = (await get("/dataset/instances.json?_shape=array&_size=max")).json()
        sql = "select i.instruction, n.output from instances n join instructions i on n.instruction_id = i.id order by n.id"
        found["joined"] = (await get(f"/dataset.json?sql={sql}&_shape=array")).json()
        word = rows[0]["instruction"].split()[0]
        found["search"] = (await get(f"/dataset/instructions.json?_search={word}&_shape=array")).json()
        found["rejected"] = (await get("/dataset/rejected.json?_shape=array&_size=max")).json()
        found["fks"] = (await get("/dataset.json?sql=select * from pragma_foreign_key_list('instances')&_shape=array")).json()
        return found

    found = asyncio.run(query())
    assert [(r["input"], r["output"]) for r in found["instances"]] == [(r["input"], r["output"]) for r in rows]
    assert [(r["instruction"], r["output"]) for r in found["joined"]] == [(r["instruction"], r["output"]) for r in rows]
    assert found["search"] and all(rows[0]["instruction"].split()[0].lower() in r["instruction"].lower() for r in found["search"])
    assert len(found["rejected"]) == len(rejected)
    dup = next(r for r in found["rejected"] if r["reason"] == "near_duplicate")
    assert dup["most_similar"] and dup["score"] > 0.7
    assert [(f["from"], f["table"], f["to"]) for f in found["fks"]] == [("instruction_id", "instructions", "id")]


def test_card_records_provenance_without_credentials(runner: CliRunner, run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    config = json.loads((run / "config.json").read_text())
    settings = config["teacher"] if isinstance(config.get("teacher"), dict) else config
    settings["base_url"] = settings["base_url"].replace("http://", "http://alice:hunter2@") + "?api_key=sk-secret"
    (run / "config.json").write_text(json.dumps(config))
    card = (export(runner, run, "alpaca", tmp_path / "a") / "README.md").read_text()
    assert card.startswith("---\n") and "license: other" in card
    assert "hunter2" not in card and "sk-secret" not in card and "Endpoint host: 127.0.0.1" in card
    assert "mock-teacher" in card and "Recipe: `self-instruct`" in card and "seed_tasks.jsonl" in card
    for name in ("propose_instructions.txt", "classify.txt", "instances_input_first.txt"):
        assert f"| `{name}` | `" in card
    assert "| near_duplicate | filter |" in card and "| proposed |" in card and "## Cost and time" in card
    assert "| wrong_arithmetic |" in card and "terms of use" in card and "made by selfinstruct 0." in card
    assert '"budget": 20' in card


def test_drop_flagged_removes_flagged_rows_and_the_card_says_so(runner: CliRunner, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "rows.json")
    out = export(runner, data, "alpaca", tmp_path / "clean", "--drop-flagged")
    assert json.loads((out / "alpaca_data.json").read_text()) == CLEAN_ROWS
    card = (out / "README.md").read_text()
    assert f"{len(FLAGGED_ROWS)} flagged rows dropped" in card and "not a selfinstruct run" in card
    full = export(runner, data, "alpaca", tmp_path / "all")
    assert len(json.loads((full / "alpaca_data.json").read_text())) == len(FLAGGED_ROWS) + len(CLEAN_ROWS)


def test_existing_out_needs_force_and_failed_exports_leave_nothing(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_dataset(tmp_path / "rows.json")
    out = export(runner, data, "alpaca", tmp_path / "out")
    before = (out / "alpaca_data.json").read_text()
    again = runner.invoke(app, ["export", str(data), "--format", "messages", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    monkeypatch.setattr("selfinstruct.export.to_messages", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    failed = runner.invoke(app, ["export", str(data), "--format", "messages", "--out", str(out), "--force"])
    assert failed.exit_code != 0 and (out / "alpaca_data.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "rows.json"]  # no temp dir left behind
    monkeypatch.undo()
    export(runner, data, "messages", out, "--force")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "messages.jsonl"]


@pytest.mark.parametrize("make", [
    lambda p: p / "missing",
    lambda p: (p / "empty").mkdir() or p / "empty",
    lambda p: (p / "notes.txt").write_text("hello") and p / "notes.txt",
    lambda p: (p / "bad.jsonl").write_text('{"instruction": "a", "output": "b"}\nnot json\n') and p / "bad.jsonl",
])  # fmt: skip
def test_unreadable_source_is_one_line_and_exit_2(runner: CliRunner, tmp_path: Path, make) -> None:
    source = make(tmp_path)
    result = runner.invoke(app, ["export", str(source), "--format", "alpaca", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()


def test_settings_come_from_a_config_file_and_flags_win(runner: CliRunner, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "rows.json")
    config = tmp_path / "export.yaml"
    config.write_text(f"format: sharegpt\nout: {tmp_path / 'from-yaml'}\ndrop-flagged: true\n")
    result = runner.invoke(app, ["export", str(data), "--config", str(config), "--format", "messages"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-yaml" / "messages.jsonl").read_text().count("\n") == len(CLEAN_ROWS)
    bad = runner.invoke(app, ["export", str(data), "--format", "csv", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--format" in bad.output


def test_the_card_names_the_endpoint_the_run_reached_through_openai_base_url(mock_teacher, runner: CliRunner, tmp_path: Path) -> None:
    """No --base-url: the requests went to OPENAI_BASE_URL, and config.json and the card say so (redacted), not api.openai.com."""
    from tests.conftest import mock_args

    args = mock_args(mock_teacher, tmp_path / "run", 4)
    at = args.index("--base-url")
    del args[at : at + 2]
    url = mock_teacher.url.replace("http://", "http://alice:hunter2@")
    result = runner.invoke(app, args, env={"OPENAI_BASE_URL": url})
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    settings = config["teacher"] if isinstance(config.get("teacher"), dict) else config
    assert settings["base_url"] is None and config["resolved_endpoint"] == mock_teacher.url.replace("http://", "http://***@")
    card = (export(runner, tmp_path / "run", "alpaca", tmp_path / "a") / "README.md").read_text()
    assert "Endpoint host: 127.0.0.1" in card and "api.openai.com" not in card and "hunter2" not in card
