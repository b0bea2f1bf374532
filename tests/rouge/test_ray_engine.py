"""The Ray engine on a local 2-CPU Ray instance decides exactly as the local engine, and joins a running cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.rouge import dedup_texts
from tests.fixtures.sharegpt_rows import sharegpt_rows


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[str]:
    """A Ray instance with 2 CPUs for this module; yields its address."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_twenty_thousand_real_rows_decided_as_the_local_engine(ray_instance: str) -> None:
    texts = sharegpt_rows(20_000)
    # Small blocks: ten pool updates reach the actors, each block split between the two.
    on_ray = dedup_texts(texts, engine="ray", workers=2, block_texts=2_000)
    local = dedup_texts(texts, workers=1)
    assert local.duplicate.sum() > 2_000
    assert on_ray.duplicate.tolist() == local.duplicate.tolist()
    assert on_ray.match.tolist() == local.match.tolist()
    assert on_ray.score.tolist() == local.score.tolist()


@pytest.mark.slow
def test_dedup_joins_a_running_cluster(ray_instance: str, tmp_path: Path) -> None:
    texts = ["Write a poem about the sea.", "Write a poem about the sea!", "Tell me a joke.", "Tell me a joke please."]
    source, out = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(json.dumps([{"instruction": t} for t in texts]), encoding="utf-8")
    command = [sys.executable, "-m", "selfinstruct.cli", "dedup", str(source), "--out", str(out), "--engine", "ray",
               "--ray-address", ray_instance]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert [r["instruction"] for r in json.loads(out.read_text(encoding="utf-8"))] == [texts[0], texts[2]]


@pytest.mark.slow
def test_clean_joins_a_running_cluster(ray_instance: str, tmp_path: Path) -> None:
    rows = [{"instruction": t, "input": "", "output": f"Answer {i}."} for i, t in enumerate(
        ["Write a poem about the sea.", "Write a poem about the sea!", "Tell me a joke.", "Tell me a joke please."])]
    source, out = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(json.dumps(rows), encoding="utf-8")
    command = [sys.executable, "-m", "selfinstruct.cli", "clean", str(source), "--out", str(out), "--no-gate", "--no-verifiers",
               "--engine", "ray", "--ray-address", ray_instance]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert [r["instruction"] for r in json.loads(out.read_text(encoding="utf-8"))] == [rows[0]["instruction"], rows[2]["instruction"]]


def test_without_ray_installed_the_engine_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(UserError, match=r"selfinstruct\[ray\]"):
        dedup_texts(["a b c", "a b c"], engine="ray")


@pytest.mark.parametrize(("address", "message"), [("127.0.0.1:1", "nothing answers there"), ("head-node", "expected HOST:PORT")])
def test_a_bad_address_is_one_line_at_once(tmp_path: Path, address: str, message: str) -> None:
    pytest.importorskip("ray")
    source = tmp_path / "in.txt"
    source.write_text("a b c\n", encoding="utf-8")
    command = [sys.executable, "-m", "selfinstruct.cli", "dedup", str(source), "--out", str(tmp_path / "out.txt"),
               "--engine", "ray", "--ray-address", address]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], done.stderr
