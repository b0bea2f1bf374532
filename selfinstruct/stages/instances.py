"""Stage 4: generate input/output instances for each kept instruction.

Classification tasks go output-first (list the labels, then an input for each) so the inputs do
not all land in one class; the rest go input-first (an input, then its output, or the output
directly when no input is needed). Parsers accept the small variations real models produce.
"""

from __future__ import annotations

import re

from selfinstruct.records import Instance, normalize_input
from selfinstruct.templates import Templates


def build_instances_prompt(templates: Templates, instruction: str, is_classification: bool, max_instances: int) -> str:
    """The output-first prompt for classification tasks, input-first for the rest."""
    name = "instances_output_first" if is_classification else "instances_input_first"
    return templates.render(name, instruction=" ".join(instruction.split()), max_instances=max_instances)


_EXAMPLE_HEADER = re.compile(r"^\s*[#*_ ]*example\s*\d*\s*[:.]?[*_ ]*$", re.IGNORECASE)
_IO_FIELD = re.compile(r"^\s*[*_]{0,2}(input|output)[*_]{0,2}\s*:[*_]{0,2}\s?", re.IGNORECASE)
_LABEL_FIELD = re.compile(r"^\s*[*_]{0,2}(class\s*label|label|input)[*_]{0,2}\s*:[*_]{0,2}\s?", re.IGNORECASE)
_NEXT_TASK = re.compile(r"^\s*task\s*:", re.IGNORECASE)


def _fields(text: str, pattern: re.Pattern[str], split_on_header: bool) -> list[list[tuple[str, str]]]:
    """Split a response into blocks of (field, value) pairs; a repeated field starts a new block."""
    blocks: list[list[tuple[str, str]]] = [[]]
    field: str | None = None
    lines: list[str] = []

    def close() -> None:
        if field is not None:
            blocks[-1].append((field, "\n".join(lines).strip()))

    for line in text.replace("\r\n", "\n").split("\n"):
        if _NEXT_TASK.match(line):
            if field is not None or any(blocks):
                break  # the model started inventing the next task of the demonstration
            continue  # an echo of the task before the examples
        if split_on_header and _EXAMPLE_HEADER.match(line):
            close()
            field, lines = None, []
            blocks.append([])
            continue
        match = pattern.match(line)
        if match:
            close()
            name = re.sub(r"\s+", " ", match.group(1).lower())
            if any(f == name for f, _ in blocks[-1]):
                blocks.append([])
            field, lines = name, [line[match.end():]]
        elif field is not None:
            lines.append(line)
    close()
    return [b for b in blocks if b]


def parse_input_first(text: str, truncated: bool) -> list[Instance]:
    """Read 'Example n / Input: … / Output: …' blocks; a missing input means the task takes none."""
    blocks = _fields(text, _IO_FIELD, split_on_header=True)
    if truncated and blocks:
        blocks.pop()
    instances = []
    for block in blocks:
        fields = dict(block)
        if "output" not in fields:
            continue
        instances.append(Instance(input=normalize_input(fields.get("input", "")), output=fields["output"]))
    return instances


def parse_output_first(text: str, truncated: bool) -> list[Instance]:
    """Read 'Class label: … / Input: …' pairs into instances whose output is the label.

    Small models sometimes answer a classification prompt in the input/output format instead;
    when no label pair is found, that reading is used.
    """
    blocks = _fields(text, _LABEL_FIELD, split_on_header=False)
    if truncated and blocks:
        blocks.pop()
    instances = []
    for block in blocks:
        fields = {("label" if "label" in f else f): v for f, v in block}
        label = fields.get("label", "").strip()
        if not label or "input" not in fields:
            continue
        instances.append(Instance(input=normalize_input(fields["input"]), output=label))
    return instances or parse_input_first(text, truncated)
