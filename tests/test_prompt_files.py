"""The one template loader: a missing, non-UTF-8 or incomplete template is one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.prompt_files import default_prompts_dir, load_template


def test_a_template_ends_with_exactly_one_newline(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("Do {instruction} now.\n\n  \n", encoding="utf-8")
    assert load_template(tmp_path, "t.txt", ("instruction",)) == "Do {instruction} now.\n"


@pytest.mark.parametrize(("content", "message"), [
    (None, "{path}: judge prompt template missing (expected t.txt in {dir})"),
    (b"caf\xe9 {instruction}", "{path}: judge prompt template is not UTF-8 text"),
    (b"no placeholders here", "{path}: judge prompt template lacks the placeholder {{instruction}}"),
])  # fmt: skip
def test_a_bad_template_names_its_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "t.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError) as caught:
        load_template(tmp_path, "t.txt", ("instruction",), what="judge prompt template")
    assert str(caught.value) == message.format(path=path, dir=tmp_path)


def test_shipped_templates_stand_in_where_allowed(tmp_path: Path) -> None:
    shipped = load_template(None, "judge_answer_kind.txt", ("instruction", "input"))
    assert shipped == (default_prompts_dir() / "judge_answer_kind.txt").read_text(encoding="utf-8").rstrip() + "\n"
    assert load_template(tmp_path, "judge_answer_kind.txt", shipped_fallback=True) == shipped
    with pytest.raises(UserError, match="missing"):
        load_template(tmp_path, "judge_answer_kind.txt")
    (tmp_path / "judge_answer_kind.txt").write_text("mine: {instruction} {input}", encoding="utf-8")
    assert load_template(tmp_path, "judge_answer_kind.txt", shipped_fallback=True) == "mine: {instruction} {input}\n"
