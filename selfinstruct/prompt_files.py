"""Prompt template files: where the shipped ones are, and the one loader every template is read through.

    text = load_template(prompts_dir, "judge_quality.txt", ("instruction", "input", "output"), what="quality judge prompt template")

A template is UTF-8 text with {placeholders}. Loading checks that the file exists, is UTF-8 and names
every placeholder its user fills, so a bad --prompts directory fails with one line naming the file
before anything is spent. Editors disagree about final newlines: a loaded template ends with exactly one.
Generation's chat templates (templates.py), the judges, the consistency check and the training prompt
all load theirs here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from selfinstruct.errors import UserError


def default_prompts_dir() -> Path:
    """The shipped templates: inside the installed wheel, or the repository's prompts/ in a checkout."""
    packaged = Path(__file__).parent / "prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "prompts"


def load_template(
    directory: Path | None, name: str, placeholders: Iterable[str] = (), *, what: str = "prompt template", shipped_fallback: bool = False
) -> str:
    """The template file `name` from `directory` (None: the shipped prompts), checked for each of `placeholders`.

    `shipped_fallback`: a directory without this file falls back to the shipped one (for templates a user's
    --prompts directory need not replace); otherwise a missing file is an error.
    """
    if directory is None or (shipped_fallback and not (directory / name).is_file()):
        directory = default_prompts_dir()
    path = directory / name
    if not path.is_file():
        raise UserError(f"{path}: {what} missing (expected {name} in {directory})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: {what} is not UTF-8 text") from None
    for placeholder in placeholders:
        if "{" + placeholder + "}" not in text:
            raise UserError(f"{path}: {what} lacks the placeholder {{{placeholder}}}")
    return text.rstrip() + "\n"
