"""Prompt templates: plain-text files with {placeholders}, loaded from prompts/ or a user's --prompts dir.

    messages = templates.messages("instances_input_first", instruction=..., max_instances=5)

A template is a chat transcript: lines `=== system ===`, `=== user ===` and `=== assistant ===`
start its turns, so worked examples are given as a user turn with the example task and an
assistant turn with its answer, before the real task in the last user turn (small models copy
an example far less often this way than from one long prompt). A `=== text format ===` part
says how to lay out the answer as text; it joins the system turn only when the endpoint cannot
constrain the answer to a JSON schema. A file without markers is one user turn, as before.

Templates put their fixed text first and the varying text last, so llama.cpp and hosted APIs can
reuse the cached prefix. Only the named placeholders are substituted; other braces stay literal.

A run in another language (`generate --language German`) fills the optional `{language}`
placeholder where a template has one, and a template without one gets LANGUAGE_NOTE added to
its system turn (or above a single-turn prompt). In English nothing is added and the prompts are
exactly the files' text.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from selfinstruct.errors import UserError
from selfinstruct.prompt_files import default_prompts_dir, load_template
from selfinstruct.teacher.client import Message

DEFAULT_LANGUAGE = "English"
LANGUAGE_NOTE = "Write everything you write, tasks, inputs, outputs and messages alike, in {language}."
_MARKER = re.compile(r"^=== (system|user|assistant|text format) ===[ \t]*$", re.MULTILINE)




@functools.lru_cache(maxsize=256)
def fixed_turn(role: str, content: str) -> Message:
    """A turn that every request of a kind repeats (system text, worked examples), made once and shared.

    Requests waiting for a slot hold their prompts: sharing these turns keeps that to the varying last turn
    each, and skips validating the same turns again for every request.
    """
    return Message(role=role, content=content)  # type: ignore[arg-type]


def _add_to_system(turns: list[Message], text: str) -> None:
    """Append text to the system turn, or open the prompt with one; shared unless it is the request's only turn."""
    if turns and turns[0].role == "system":
        content = f"{turns[0].content}\n\n{text}"
        turns[0] = fixed_turn("system", content) if len(turns) > 1 else Message(role="system", content=content)
    else:
        turns.insert(0, fixed_turn("system", text))


class Templates:
    """The set of templates a run uses, validated up front so a bad --prompts dir fails before spending."""

    def __init__(
        self, directory: Path | None, required: dict[str, tuple[str, ...]], language: str = DEFAULT_LANGUAGE
    ) -> None:
        """Load and check `required` (template name -> placeholders: a recipe's TEMPLATES, or recipes.all_templates())."""
        self.required = required
        self.language = language.strip() or DEFAULT_LANGUAGE
        self.foreign = self.language.casefold() != DEFAULT_LANGUAGE.casefold()
        self.directory = directory or default_prompts_dir()
        if not self.directory.is_dir():
            raise UserError(f"{self.directory}: prompts directory not found")
        self.text = {name: load_template(self.directory, f"{name}.txt", keys) for name, keys in self.required.items()}

    def messages(self, name: str, *, text_format: bool = True, **values: object) -> list[Message]:
        """The template's chat turns with placeholders filled; `text_format` keeps its answer-layout part."""
        parts = _MARKER.split(self._fill(name, values))
        if len(parts) == 1:
            return [Message(role="user", content=self._note(name, parts[0].strip()))]
        turns: list[Message] = []
        layout = ""
        pairs = [(role, content.strip()) for role, content in zip(parts[1::2], parts[2::2])]
        last = max((i for i, (role, _) in enumerate(pairs) if role != "text format"), default=-1)
        for i, (role, content) in enumerate(pairs):
            if role == "text format":
                layout = content
            else:
                # The last turn holds the request's own text; the ones before it repeat from request to request.
                turns.append(Message(role=role, content=content) if i == last else fixed_turn(role, content))  # type: ignore[arg-type]
        if layout and text_format:
            _add_to_system(turns, layout)
        if self._needs_note(name):
            _add_to_system(turns, self._language_note())
        return turns

    def render(self, name: str, **values: object) -> str:
        """Fill a template's placeholders; trailing whitespace is trimmed so completions start cleanly."""
        return self._note(name, self._fill(name, values))

    def _fill(self, name: str, values: dict[str, object]) -> str:
        values = {**values, "language": self.language}
        keys = (*self.required[name], "language")
        # One pass, so a value that happens to contain "{instruction}" is never substituted again.
        pattern = re.compile("|".join(re.escape("{" + key + "}") for key in keys))
        text = pattern.sub(lambda m: str(values[m.group(0)[1:-1]]), self.text[name])
        return text.rstrip() + "\n"

    def _needs_note(self, name: str) -> bool:
        return self.foreign and "{language}" not in self.text[name]

    def _language_note(self) -> str:
        return LANGUAGE_NOTE.format(language=self.language)

    def _note(self, name: str, text: str) -> str:
        """A single-turn prompt of a run in another language, with the language note above it."""
        return f"{self._language_note()}\n\n{text}" if self._needs_note(name) else text
