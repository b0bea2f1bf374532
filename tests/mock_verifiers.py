"""The mock teacher's answers to the verifiers' requests: the answer-kind judge and short answers asked again.

The answer-kind judge (prompts/judge_answer_kind.txt) says the task asks for code ("Yes") when it names
code, a function, a program, a script or a query, else "No"; knob: mock.answer_kind(instruction, input) -> bool. A short answer asked
again (prompts/answer_short.txt) is the label an output-first input names ("... that is clearly
positive"), else "Mock answer"; knob: mock.short_answer(instruction, input) -> str.
"""

from __future__ import annotations

import re
from typing import Any

ANSWER_KIND_MARK = "Does it ask for code?"
SHORT_ANSWER_MARK = "Reply with the answer alone"


def _between(prompt: str, start: str, end: str) -> str:
    return prompt.split(start, 1)[-1].split(end, 1)[0].strip()


def verifier_stage(prompt: str) -> str | None:
    """"answer_kind" or "consistency" for the verifiers' prompts, else None."""
    if ANSWER_KIND_MARK in prompt:
        return "answer_kind"
    if SHORT_ANSWER_MARK in prompt:
        return "consistency"
    return None


def verifier_answer(mock: Any, prompt: str) -> str | None:
    """The reply to a verifier's prompt, or None for other prompts."""
    stage = verifier_stage(prompt)
    if stage == "answer_kind":
        instruction, given = _between(prompt, "[Instruction]", "[Input]"), _between(prompt, "[Input]", ANSWER_KIND_MARK)
        rule = getattr(mock, "answer_kind", None)
        if rule is not None:
            return "Yes" if rule(instruction, given) else "No"
        return "Yes" if re.search(r"code|function|program|python|script|query", instruction, re.IGNORECASE) else "No"
    if stage == "consistency":
        instruction, given = _between(prompt, "Task:", "\nInput:"), prompt.split("\nInput:", 1)[-1].strip()
        rule = getattr(mock, "short_answer", None)
        if rule is not None:
            return rule(instruction, given)
        label = re.search(r"clearly (.+?)\.?$", given)
        return label.group(1).capitalize() if label else "Mock answer"
    return None
