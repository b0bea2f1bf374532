"""Reading datasets: an Alpaca-style JSON list, JSON Lines, or plain text with one item per line.

    data = read_records(Path("alpaca_data.json"), "data file")    # format from the extension
    data.values[2], data.where(2)     # the third record, and "alpaca_data.json:14: row 2 (counting from 0)"
    for where, record in data.located(): ...

    for line, obj in iter_jsonl(Path("seed_tasks.jsonl"), "seed file", max_line_bytes=1 << 20):
        ...                           # streamed: one line in memory at a time

Used by the seed reader (records.py), `dedup` and `finetune`; what the records must contain is
theirs to check. Every problem is a one-line UserError (exit code 2): `cannot read PATH: why`
when the file cannot be opened, `PATH:LINE: what is wrong` for its content. Records of a JSON
list are named by the line they start on and their index, since a list may sit on one line.
A `.json` file that holds JSON Lines is read as JSON Lines. Blank lines are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from selfinstruct.errors import UserError

Format = Literal["json", "jsonl", "text"]
_SPACE = re.compile(r"[ \t\n\r]*")


def detect_format(path: Path) -> Format:
    """The format a file is read and written in, by its extension: .json, .jsonl/.ndjson, else text."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "text"


@dataclass
class DatasetFile:
    """A file's records in order, and where each one starts, for messages that point into the file."""

    path: Path
    format: Format
    values: list[Any]
    lines: list[int] = field(default_factory=list)  # empty for a JSON list until a message needs it
    _text: str | None = field(default=None, repr=False)

    def where(self, index: int) -> str:
        """`PATH:LINE` of record `index`, plus its index for a JSON list (whose records may share a line)."""
        if not self.lines and self._text is not None:
            self.lines = _item_lines(self._text)
        where = f"{self.path}:{self.lines[index]}"
        return f"{where}: row {index} (counting from 0)" if self.format == "json" else where

    def located(self) -> list[tuple[str, Any]]:
        """(where, value) for every record, for readers that check records one by one."""
        return [(self.where(index), value) for index, value in enumerate(self.values)]


def read_records(path: Path, what: str, fmt: Format | None = None) -> DatasetFile:
    """Every record of the file, in the format its extension names unless `fmt` is given.

    `what` names the file in messages ("data file", "seed file", ...).
    """
    fmt = fmt or detect_format(path)
    if fmt == "json":
        return _read_json_list(path, what)
    lines, values = [], []
    if fmt == "jsonl":
        for number, value in iter_jsonl(path, what):
            lines.append(number)
            values.append(value)
    else:
        for number, text in _text_lines(path, what):
            # Blank lines separate nothing in an instruction list; they are not items.
            if text.strip():
                lines.append(number)
                values.append(text)
    return DatasetFile(path=path, format=fmt, values=values, lines=lines)


def iter_jsonl(path: Path, what: str, *, max_line_bytes: int | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line, streamed; a line over `max_line_bytes` is an error."""
    for number, text in _text_lines(path, what, max_line_bytes):
        if text.strip():
            yield number, _parse_line(path, number, text)


def require_object(value: Any, where: str) -> dict[str, Any]:
    """The record as a dict, or a UserError at `where` saying what it is instead."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def open_for_reading(path: Path, what: str) -> IO[bytes]:
    """The file opened in binary mode, or a UserError: `cannot read PATH: <what> not found` and the like."""
    if path.is_dir():
        raise UserError(f"cannot read {path}: is a directory, expected a {what}")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise UserError(f"cannot read {path}: {what} not found") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {(exc.strerror or str(exc)).lower()}") from None


def _text_lines(path: Path, what: str, max_line_bytes: int | None = None) -> Iterator[tuple[int, str]]:
    """(line number, text without its line break), decoded one line at a time."""
    with open_for_reading(path, what) as fh:
        number = 0
        # A capped read: a gigabyte without a newline never lands in memory whole.
        while raw := fh.readline(-1 if max_line_bytes is None else max_line_bytes + 1):
            number += 1
            if max_line_bytes is not None and len(raw) > max_line_bytes:
                raise UserError(f"{path}:{number}: line is longer than {_size(max_line_bytes)}; is this a {what}?")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}:{number}: not UTF-8 text") from None
            if number == 1:
                text = text.removeprefix("\ufeff")  # a byte order mark some editors write
            yield number, text.rstrip("\r\n")


def _parse_line(path: Path, number: int, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{number}: invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})") from None


def _read_json_list(path: Path, what: str) -> DatasetFile:
    with open_for_reading(path, what) as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{path}:{line}: not UTF-8 text") from None
    if not text.strip():
        raise UserError(f"{path}: {what} is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # JSON Lines saved as .json: read it as such
            lines, values = [], []
            for number, line in enumerate(text.split("\n"), 1):
                if line.strip():
                    lines.append(number)
                    values.append(_parse_line(path, number, line))
            return DatasetFile(path=path, format="jsonl", values=values, lines=lines)
        raise UserError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})") from None
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of records (like alpaca_data.json), got {type(data).__name__}")
    return DatasetFile(path=path, format="json", values=data, _text=text)


def _item_lines(text: str) -> list[int]:
    """The line each item of a JSON list (known to be valid) starts on; computed only for a message."""
    decoder = json.JSONDecoder()
    lines: list[int] = []
    line, counted = 1, 0
    pos = _SPACE.match(text).end() + 1  # past the "["
    while True:
        pos = _SPACE.match(text, pos).end()
        if text[pos] == "]":
            return lines
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)
        pos = _SPACE.match(text, pos).end()
        if text[pos] == ",":
            pos += 1


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n:,} bytes"
