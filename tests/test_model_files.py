"""Packaged-model assembly: chunks concatenated in order, checked before use, trusted afterwards through the marker."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from selfinstruct import model_files
from selfinstruct.errors import UserError
from selfinstruct.model_files import assemble, assemble_once, cache_dir, file_sha256, is_verified, marker_path


def _chunks(tmp_path: Path, n: int = 3) -> tuple[list[Path], bytes]:
    """n chunk files whose concatenation starts with the GGUF magic, and that concatenation."""
    parts = [b"GGUF" + os.urandom(1000)] + [os.urandom(1500 + i) for i in range(1, n)]
    paths = []
    for i, data in enumerate(parts, 1):
        p = tmp_path / "site" / f"part{i}" / "data" / f"part{i:02d}.bin"
        p.parent.mkdir(parents=True)
        p.write_bytes(data)
        paths.append(p)
    return paths, b"".join(parts)


def test_assemble_concatenates_in_part_order_and_writes_marker(tmp_path: Path) -> None:
    chunks, whole = _chunks(tmp_path)
    dest = tmp_path / "cache" / "m.gguf"
    out = assemble(chunks, dest, hashlib.sha256(whole).hexdigest())
    assert out == dest and dest.read_bytes() == whole
    marker = json.loads((tmp_path / "cache" / "m.gguf.verified").read_text())
    assert marker["sha256"] == hashlib.sha256(whole).hexdigest() and marker["size"] == len(whole)


def test_assemble_refuses_checksum_mismatch_and_removes_temp_file(tmp_path: Path) -> None:
    chunks, _ = _chunks(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match=r"SHA-256 .* expected 0+: .*reinstall"):
        assemble(chunks, cache / "m.gguf", "0" * 64)
    assert list(cache.iterdir()) == []


def test_assemble_refuses_wrong_order(tmp_path: Path) -> None:
    chunks, whole = _chunks(tmp_path)
    with pytest.raises(UserError, match="SHA-256"):
        assemble(list(reversed(chunks)), tmp_path / "m.gguf", hashlib.sha256(whole).hexdigest())


def test_the_message_carries_the_callers_label_and_hint(tmp_path: Path) -> None:
    chunks, _ = _chunks(tmp_path)
    with pytest.raises(UserError, match=r"^assembled tiny.gguf has SHA-256 [0-9a-f]{64}, .*refusing to use it: reinstall tiny-pkg$"):
        assemble(chunks, tmp_path / "m.gguf", "0" * 64, label="tiny.gguf", reinstall="reinstall tiny-pkg")


def test_not_enough_disk_space_is_said_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks, whole = _chunks(tmp_path)
    monkeypatch.setattr(model_files.shutil, "disk_usage", lambda p: type("Usage", (), {"free": 10})())
    with pytest.raises(UserError, match=r"not enough disk space .* to assemble m: need"):
        assemble(chunks, tmp_path / "cache" / "m.gguf", hashlib.sha256(whole).hexdigest(), label="m")
    assert list((tmp_path / "cache").iterdir()) == []


def test_assemble_once_trusts_the_marker_and_notices_a_changed_file(tmp_path: Path) -> None:
    chunks, whole = _chunks(tmp_path)
    sha = hashlib.sha256(whole).hexdigest()
    dest = tmp_path / "cache" / "m.gguf"
    asked: list[int] = []

    def find() -> list[Path]:
        asked.append(1)
        return chunks

    assert assemble_once(dest, sha, find) == dest and len(asked) == 1
    assert assemble_once(dest, sha, find) == dest and len(asked) == 1  # reused: chunks not even looked up
    assert is_verified(dest, sha) and is_verified(dest, sha, len(whole)) and not is_verified(dest, sha, len(whole) + 1)
    assert not is_verified(dest, "0" * 64)
    dest.write_bytes(b"GGUF" + b"\0" * (len(whole) - 4))  # same size, new mtime: the marker no longer matches
    assert not is_verified(dest, sha)
    assert assemble_once(dest, sha, find).read_bytes() == whole and len(asked) == 2


def test_a_damaged_marker_means_not_verified(tmp_path: Path) -> None:
    chunks, whole = _chunks(tmp_path)
    sha = hashlib.sha256(whole).hexdigest()
    dest = assemble(chunks, tmp_path / "m.gguf", sha)
    for damage in ("not json", "[1, 2]", ""):
        marker_path(dest).write_text(damage)
        assert not is_verified(dest, sha)
    marker_path(dest).unlink()
    assert not is_verified(dest, sha)


def test_cache_dir_and_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SELFINSTRUCT_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "selfinstruct"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(model_files.COPY_BLOCK + 17))  # more than one block
    assert file_sha256(big) == hashlib.sha256(big.read_bytes()).hexdigest()
