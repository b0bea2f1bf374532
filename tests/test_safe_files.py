"""Crash-safe files: the target is replaced whole or left as it was, no temp file outlives a write, and a JSONL
file reads back whole but for a torn last line."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from selfinstruct import safe_files
from selfinstruct.errors import UserError
from selfinstruct.safe_files import (
    JsonlAppender,
    JsonlReader,
    atomic_dir,
    atomic_file,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_writers_produce_exactly_these_bytes(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "a.json", {"é": [1, 2]})
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == '{\n  "é": [\n    1,\n    2\n  ]\n}\n'
    write_json_atomic(tmp_path / "b.json", [{"x": 1}], indent=4)
    assert (tmp_path / "b.json").read_text() == '[\n    {\n        "x": 1\n    }\n]\n'
    write_jsonl_atomic(tmp_path / "c.jsonl", [{"a": 1, "b": "é"}, [2]])
    assert (tmp_path / "c.jsonl").read_text(encoding="utf-8") == '{"a":1,"b":"é"}\n[2]\n'
    write_text_atomic(tmp_path / "d.txt", "one\ntwo\n")
    assert (tmp_path / "d.txt").read_bytes() == b"one\ntwo\n"
    assert _names(tmp_path) == ["a.json", "b.json", "c.jsonl", "d.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_json_atomic(target, {"version": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"version": 2, "bad": object()})  # fails halfway through the dump
    assert json.loads(target.read_text()) == {"version": 1}
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as fh:
        fh.write("half")
        raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"version": 1}
    assert _names(tmp_path) == ["summary.json"]


def test_the_output_may_be_the_input(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("a\nb\n")
    lines = path.read_text().splitlines()
    write_text_atomic(path, "".join(f"{line}!\n" for line in lines))
    assert path.read_text() == "a!\nb!\n"


def test_binary_files_and_missing_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "model.bin"
    with atomic_file(target, "wb") as fh:
        fh.write(b"\x00\xff" * 10)
    assert target.read_bytes() == b"\x00\xff" * 10


def test_permissions_are_those_of_a_plain_open_or_kept(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_text_atomic(tmp_path / "new.txt", "x")
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    os.chmod(plain, 0o600)
    write_text_atomic(plain, "y")
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600 and plain.read_text() == "y"


def test_atomic_dir_swaps_in_a_whole_directory_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model-dense"
    with atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
        assert not target.exists()
    assert _names(target) == ["config.json"]
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "weights").write_text("partial")
        raise RuntimeError("conversion failed")
    assert _names(target) == ["config.json"] and _names(tmp_path) == ["model-dense"]
    with atomic_dir(target) as tmp:
        (tmp / "new.json").write_text("{}")
    assert _names(target) == ["new.json"] and _names(tmp_path) == ["model-dense"]  # the old one is gone


def test_atomic_dir_keeps_the_old_directory_when_the_swap_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.json").write_text("{}")
    real_replace = os.replace

    def replace(src: object, dst: object) -> None:
        if str(src).endswith(".tmp"):
            raise OSError("simulated: another process got there first")
        real_replace(src, dst)

    monkeypatch.setattr(safe_files.os, "replace", replace)
    with pytest.raises(OSError, match="simulated"), atomic_dir(target) as tmp:
        (tmp / "new.json").write_text("{}")
    assert _names(target) == ["old.json"] and _names(tmp_path) == ["out"]


def test_appender_writes_whole_lines_visible_at_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    log = JsonlAppender(path)
    log.append({"kind": "candidate", "text": "é"})
    assert path.read_text(encoding="utf-8") == '{"kind": "candidate", "text": "é"}\n'  # flushed, not buffered
    log.append({"n": 2})
    log.close()
    JsonlAppender(path).close()  # reopening appends, never truncates
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"kind": "candidate", "text": "é"}, {"n": 2}]


def test_the_data_is_fsynced_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(safe_files.os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(safe_files.os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    write_text_atomic(tmp_path / "a.txt", "x")
    assert events[:2] == ["fsync", "replace"]


def test_jsonl_reads_back_what_was_appended_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = JsonlAppender(path)
    log.append({"a": 1, "t": "é"})
    log.append_line('{"b":2}')
    log.close()
    assert path.read_bytes() == '{"a": 1, "t": "é"}\n{"b":2}\n'.encode()
    reader = JsonlReader(path)
    seen = [(record, reader.lineno, reader.line) for record in reader]
    assert seen == [({"a": 1, "t": "é"}, 1, '{"a": 1, "t": "é"}'), ({"b": 2}, 2, '{"b":2}')]
    assert list(JsonlReader(tmp_path / "missing.jsonl")) == []


@pytest.mark.parametrize("tail", [b'{"c": "cut sho', b'{"c": "cut sho\n', b'{"c": "cut sho\n\n  \n'])
def test_a_torn_last_line_is_left_out(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b": 2}\n' + tail)
    reader = JsonlReader(path)
    assert [(r, reader.lineno) for r in reader] == [({"a": 1}, 1), ({"b": 2}, 3)]


@pytest.mark.parametrize("bad", [b'{"c": "cut sho', b"[1, 2]", b"null", b'"text"', b"\xff\xfe"])
def test_an_unreadable_line_before_the_last_names_its_file_and_line(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n' + bad + b'\n{"b": 2}\n')
    with pytest.raises(UserError, match=rf"^{path}:2: unreadable line; is this a run directory\?$"):
        list(JsonlReader(path, damaged="unreadable line; is this a run directory?"))
