"""Crash-safe file writes: a file is replaced whole or not at all; a JSONL log loses at most a torn last line.

    write_json_atomic(run / "summary.json", summary)            # indent 2, UTF-8, trailing newline
    write_text_atomic(out / "README.md", card)
    write_jsonl_atomic(out / "dropped.jsonl", rows)
    with atomic_file(dest, "wb") as fh: ...                     # anything else, streamed
    with atomic_dir(cache / "model-dense") as tmp: ...          # a directory, filled then swapped in
    journal = JsonlAppender(run / "journal.jsonl"); journal.append({...}); journal.close()

A file is written to a temp file in its own directory (so the rename never crosses filesystems),
flushed and fsynced, then renamed over the target; on any error, Ctrl-C included, the temp file is
removed and the target is untouched. The output may therefore be the input (`dedup --out` the
same file). A new file gets the permissions a plain open() would give it; a replaced one keeps its own.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal


def _read_umask() -> int:
    # Only os.umask reads it, by setting it; done once, at import, before any thread could be creating files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextmanager
def atomic_file(path: Path, mode: Literal["w", "wb"] = "w") -> Iterator[IO[Any]]:
    """A handle on a temp file beside `path` that replaces `path` when the block ends without an error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        permissions = path.stat().st_mode & 0o7777
    except OSError:
        permissions = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, permissions)  # mkstemp makes every file private
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **text) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8, newlines as given)."""
    with atomic_file(path) as fh:
        fh.write(text)


def write_json_atomic(path: Path, obj: Any, *, indent: int = 2) -> None:
    """Replace `path` with `obj` as indented JSON (non-ASCII kept as is) and a final newline."""
    with atomic_file(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=indent)
        fh.write("\n")


def write_jsonl_atomic(path: Path, records: Iterable[Any]) -> None:
    """Replace `path` with one compact JSON value per line."""
    with atomic_file(path) as fh:
        fh.writelines(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n" for record in records)


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """A temp directory beside `path` that replaces `path` (and whatever it held) when the block succeeds.

    An existing `path` is moved aside first and deleted only once the new one is in place, so a crash
    leaves one of the two whole. If another process puts a directory at `path` in between, the
    rename raises OSError and that directory stays.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        tmp.chmod(0o777 & ~_UMASK)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)  # left by an earlier crash
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if old is not None and not path.exists():
                os.replace(old, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class JsonlAppender:
    """An append-only JSONL file; each record is one write of one full line, flushed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        self.append_line(json.dumps(record, ensure_ascii=False))

    def append_line(self, line: str) -> None:
        """Append one line that is already JSON (no newline in it)."""
        self._fh.write(line + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` survive a power cut; some filesystems cannot, and that is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
