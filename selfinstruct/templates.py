"""Prompt templates: plain-text files with {placeholders}, loaded from prompts/ or a user's --prompts dir.

Templates put their fixed text first and the varying text last, so llama.cpp and hosted APIs can
reuse the cached prefix. Only the named placeholders are substituted; other braces stay literal.
"""

from __future__ import annotations

import re
from pathlib import Path

from selfinstruct.errors import UserError


def all_templates() -> dict[str, tuple[str, ...]]:
    """Every recipe's templates with their required placeholders (each recipe declares its own)."""
    from selfinstruct.recipes import RECIPES

    required: dict[str, tuple[str, ...]] = {}
    for recipe in RECIPES.values():
        required.update(recipe.TEMPLATES)
    return required


def default_prompts_dir() -> Path:
    """The shipped templates: inside the installed wheel, or the repository's prompts/ in a checkout."""
    packaged = Path(__file__).parent / "prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "prompts"


class Templates:
    """The set of templates a run uses, validated up front so a bad --prompts dir fails before spending."""

    def __init__(self, directory: Path | None = None, required: dict[str, tuple[str, ...]] | None = None) -> None:
        """Load and check `required` (template name -> placeholders; default: every recipe's templates)."""
        self.required = required if required is not None else all_templates()
        self.directory = directory or default_prompts_dir()
        if not self.directory.is_dir():
            raise UserError(f"{self.directory}: prompts directory not found")
        self.text: dict[str, str] = {}
        for name in self.required:
            path = self.directory / f"{name}.txt"
            if not path.is_file():
                raise UserError(f"{path}: prompt template missing (expected {name}.txt in {self.directory})")
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}: prompt template is not UTF-8 text") from None
            for key in self.required[name]:
                if "{" + key + "}" not in text:
                    raise UserError(f"{path}: prompt template lacks the placeholder {{{key}}}")
            self.text[name] = text

    def render(self, name: str, **values: object) -> str:
        """Fill a template's placeholders; trailing whitespace is trimmed so completions start cleanly."""
        # One pass, so a value that happens to contain "{instruction}" is never substituted again.
        pattern = re.compile("|".join(re.escape("{" + key + "}") for key in self.required[name]))
        text = pattern.sub(lambda m: str(values[m.group(0)[1:-1]]), self.text[name])
        return text.rstrip() + "\n"
