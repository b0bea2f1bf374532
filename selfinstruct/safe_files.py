"""Crash-safe files: a file is replaced whole or not at all; a JSONL log loses at most a torn last line.

    write_json_atomic(run / "summary.json", summary)            # indent 2, UTF-8, trailing newline
    write_text_atomic(out / "README.md", card)
    write_jsonl_atomic(out / "dropped.jsonl", rows)
    with atomic_file(dest, "wb") as fh: ...                     # anything else, streamed
    with atomic_dir(cache / "model-dense") as tmp: ...          # a directory, filled then swapped in
    journal = JsonlAppender(run / "journal.jsonl"); journal.append({...}); journal.close()
    for record in JsonlReader(run / "journal.jsonl"): ...       # every JSONL file is read through this

A file is written to a temp file in its own directory (so the rename never crosses filesystems),
flushed and fsynced, then renamed over the target; on any error, Ctrl-C included, the temp file is
removed and the target is untouched. The output may therefore be the input (`dedup --out` the
same file). A new file gets the permissions a plain open() would give it; a replaced one keeps its own.
JSONL is read and written with `jsonlines`.
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

import jsonlines

from selfinstruct.errors import UserError


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
        jsonlines.Writer(fh, compact=True).write_all(records)


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


def _as_is(line: str) -> str:
    return line


class JsonlAppender:
    """An append-only JSONL file; each record is one full line, flushed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("a", encoding="utf-8")
        self._records = jsonlines.Writer(self._fh, flush=True)
        self._lines = jsonlines.Writer(self._fh, flush=True, dumps=_as_is)

    def append(self, record: dict[str, Any]) -> None:
        self._records.write(record)

    def append_line(self, line: str) -> None:
        """Append one line that is already JSON (no newline in it): the run journal keeps its lines as written."""
        self._lines.write(line)

    def close(self) -> None:
        self._fh.close()


class _CountedLines:
    """The lines of a binary file, remembering how many were read and the last one."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.count = 0
        self.last = b""

    def __iter__(self) -> Iterator[bytes]:
        for line in self._fh:
            self.count += 1
            self.last = line
            yield line


class JsonlReader:
    """The JSON objects of a JSONL file, in order, read with jsonlines; blank lines are skipped.

    The one rule for every JSONL file we read: a last line that does not parse is a write cut short by a
    kill, and is left out (the writer's next start cuts it); an unreadable line before it is damage, one
    UserError: the file and line, then `damaged` (what is wrong, what to do about it). A missing file reads
    as empty. `lineno` and `line` belong to the object last yielded, for the caller's own file:line
    messages and for a caller that keeps a line as it was written.
    """

    def __init__(self, path: Path, damaged: str = "unreadable line; the file is damaged") -> None:
        self.path = path
        self.damaged = damaged
        self.lineno = 0
        self._raw = b""

    @property
    def line(self) -> str:
        """The last object's line as written, without its newline."""
        return self._raw.decode("utf-8").strip()

    def error(self, lineno: int | None = None) -> UserError:
        """The error for an unreadable line (the last one yielded unless `lineno` says otherwise)."""
        return UserError(f"{self.path}:{lineno or self.lineno}: {self.damaged}")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            lines = _CountedLines(fh)
            reader = jsonlines.Reader(lines)
            bad: int | None = None  # an unreadable line, forgiven if nothing follows it
            while True:
                try:
                    value = reader.read(type=dict, skip_empty=True)
                except EOFError:
                    return
                except jsonlines.InvalidLineError as exc:
                    if bad is not None:
                        raise self.error(bad) from None
                    bad = exc.lineno
                    continue
                if bad is not None:
                    raise self.error(bad) from None
                self.lineno, self._raw = lines.count, lines.last
                yield value


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
