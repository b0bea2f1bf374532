"""The row formats trainers read: Alpaca, chat messages (OpenAI, TRL) and ShareGPT (Vicuna, LLaMA-Factory, Axolotl).

    system, user = chat_prompt(template, "Translate to French.", "Good morning")
    to_messages(row, template)   # {"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}]}
    to_sharegpt(row, template)   # {"id": ..., "conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}

How a chat turn is built from instruction + input is one choice, shared with `finetune`: the
Alpaca prompt template in prompts/ (alpaca_train_input.txt / alpaca_train_no_input.txt), split
at its first "###" header. Its preamble ("Below is an instruction that describes a task...")
is the system message, the "### Instruction: ... ### Input: ..." part is the user message, and
the output is the assistant's reply; the closing "### Response:" header is what a chat template
adds instead. A student trained on either export sees the same words as one trained by
`selfinstruct finetune`. A template without a preamble gives no system message.
"""

from __future__ import annotations

from typing import Any

from selfinstruct.finetune.data import PromptTemplate
from selfinstruct.report.source import Row


def _split(template: str) -> tuple[str, str]:
    """(preamble, response header) of a template: the text before its first '###' line, and its last line."""
    lines = template.rstrip("\n").split("\n")
    header = lines[-1] if lines[-1].lstrip().startswith("#") or lines[-1].rstrip().endswith(":") else ""
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith("###")), 0)
    return "\n".join(lines[:first]).strip(), header


def chat_prompt(template: PromptTemplate, instruction: str, inp: str = "") -> tuple[str, str]:
    """(system message, user message) for one row: the Alpaca prompt without its response header."""
    raw = template.with_input if inp.strip() else template.no_input
    preamble, header = _split(raw)
    prompt = template.render(instruction, inp).rstrip("\n")
    if header and prompt.endswith(header):
        prompt = prompt[: -len(header)]
    if preamble and prompt.startswith(preamble):
        prompt = prompt[len(preamble):]
    return preamble, prompt.strip()


def to_alpaca(row: Row) -> dict[str, str]:
    return {"instruction": row.instruction, "input": row.input, "output": row.output}


def to_messages(row: Row, template: PromptTemplate) -> dict[str, Any]:
    system, user = chat_prompt(template, row.instruction, row.input)
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": row.output}]
    return {"messages": messages}


def to_sharegpt(row: Row, template: PromptTemplate, index: int) -> dict[str, Any]:
    system, user = chat_prompt(template, row.instruction, row.input)
    turns = [{"from": "system", "value": system}] if system else []
    turns += [{"from": "human", "value": user}, {"from": "gpt", "value": row.output}]
    return {"id": row.instruction_id and f"{row.instruction_id}-{index}" or f"row-{index}", "conversations": turns}
