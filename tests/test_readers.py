"""Reading datasets: JSON lists, JSON Lines and text, with every problem named as `file:line: what is wrong`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.readers import detect_format, iter_jsonl, read_records, require_object

ROWS = [{"instruction": f"Task {i}.", "input": "", "output": f"Answer {i}."} for i in range(4)]


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(UserError) as err:
        read_records(path, "data file", **kwargs)  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("name", "fmt"), [("a.json", "json"), ("a.JSON", "json"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"), ("a.txt", "text"), ("a", "text")])
def test_format_follows_the_extension(name: str, fmt: str) -> None:
    assert detect_format(Path(name)) == fmt


def test_an_indented_json_list_names_each_record_by_its_first_line_and_index(tmp_path: Path) -> None:
    path = tmp_path / "alpaca_data.json"
    path.write_text(json.dumps(ROWS, indent=4))  # each record takes 5 lines after the "["
    data = read_records(path, "data file")
    assert data.format == "json" and data.values == ROWS
    assert [data.where(i) for i in range(4)] == [f"{path}:{2 + 5 * i}: row {i} (counting from 0)" for i in range(4)]
    assert data.located() == [(data.where(i), row) for i, row in enumerate(ROWS)]


def test_a_one_line_json_list_still_tells_its_records_apart(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text("\ufeff" + json.dumps(ROWS))  # a byte order mark, as some editors write
    data = read_records(path, "data file")
    assert data.values == ROWS
    assert data.where(3) == f"{path}:1: row 3 (counting from 0)"


def test_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n  \n" + json.dumps(ROWS[1]) + "\r\n")
    data = read_records(path, "data file")
    assert data.values == ROWS[:2] and data.where(1) == f"{path}:4"
    assert list(iter_jsonl(path, "data file")) == [(1, ROWS[0]), (4, ROWS[1])]


def test_a_line_separator_inside_a_string_does_not_split_a_record(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"instruction": "a\u2028b\x1cc"}, {"instruction": "d"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert read_records(path, "data file").values == rows


def test_json_lines_saved_as_json_are_read_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    data = read_records(path, "data file")
    assert data.format == "jsonl" and data.values == [{"a": 1}, {"a": 2}] and data.where(1) == f"{path}:3"
    path.write_text('{"a": 1}\n{"a": \n')
    assert _error(path).startswith(f"{path}:2: invalid JSON (")


def test_text_items_are_the_non_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b"Tell me a joke.\r\n\n  Name a color.\nLast line")
    data = read_records(path, "input file")
    assert data.values == ["Tell me a joke.", "  Name a color.", "Last line"]
    assert data.where(1) == f"{path}:3"


def test_a_format_can_be_forced(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text(json.dumps(ROWS))
    assert read_records(path, "data file", fmt="json").values == ROWS


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("d.json", b"", "{path}: data file is empty"),
        ("d.json", b"  \n", "{path}: data file is empty"),
        ("d.json", b'[\n  {"a": 1},\n  {"a": 2\n]', "{path}:4: invalid JSON (Expecting ',' delimiter at column 1)"),
        ("d.json", b'{"a": 1}', "{path}: expected a JSON list of records (like alpaca_data.json), got dict"),
        ("d.json", b'[{"a": 1},\n{"a": "caf\xe9"}]', "{path}:2: not UTF-8 text"),
        ("d.jsonl", b'{"a": 1}\n{"a": 1\n', "{path}:2: invalid JSON (Expecting ',' delimiter at column 8)"),
        ("d.jsonl", b'{"a": 1}\n\n{"a": "caf\xe9"}\n', "{path}:3: not UTF-8 text"),
        ("d.txt", b"fine\ncaf\xe9\n", "{path}:2: not UTF-8 text"),
    ],
)
def test_bad_content_is_file_line_and_what_is_wrong(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert _error(path) == expected.format(path=path)


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    assert _error(tmp_path / "missing.json") == f"cannot read {tmp_path / 'missing.json'}: data file not found"
    assert _error(tmp_path) == f"cannot read {tmp_path}: is a directory, expected a data file"


def test_jsonl_is_streamed_and_a_long_line_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"a": 1}\n' + '{"a": "' + "x" * 5000 + '"}\n' + "never read\n")
    lines = iter_jsonl(path, "seed file", max_line_bytes=4096)
    assert next(lines) == (1, {"a": 1})  # the first record arrives before the rest is read
    with pytest.raises(UserError, match=rf"^{path}:2: line is longer than 4,096 bytes; is this a seed file\?$"):
        next(lines)
    path.write_text('{"a": "' + "x" * (2 << 20) + '"}\n')
    with pytest.raises(UserError, match=r":1: line is longer than 1 MiB; is this a seed file\?$"):
        list(iter_jsonl(path, "seed file", max_line_bytes=1 << 20))


def test_require_object_names_what_it_got_instead() -> None:
    assert require_object({"a": 1}, "f:1") == {"a": 1}
    for value, kind in (([1], "list"), ("x", "str"), (None, "NoneType"), (3, "int")):
        with pytest.raises(UserError, match=rf"^f:1: expected a JSON object, got {kind}$"):
            require_object(value, "f:1")
