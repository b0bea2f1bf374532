"""Which outputs the answer-kind judge is asked about: code where the wording asks for none, or none where it asks for code.

    suspect_kind("Generate a list of 10 random numbers.", "", "import random\\n...")   # "code"
    suspect_kind("Write a Python function that reverses a string.", "", "def f(s): ...")   # None: code was asked for

Whether an output holds code is read by rule (code.py's find_code, or a fence); whether the
instruction wants code is what the judge decides (judge/answer_kind.py). Asking it about every
instance would cost a request each, so rules pick the outputs where a mismatch is plausible:
  "code"     code in an output whose task neither asks for code in so many words ("write a
             function", "create a script") nor is about programming (names a language, code,
             an algorithm, a query ...): dropped unless the judge says the task asks for code;
  "no_code"  no code, and more than three words, for a task that asks in so many words to write
             code: dropped when the judge agrees that the task asks for code.
"""

from __future__ import annotations

import re

from selfinstruct.stages.verifiers.code import find_code

# Asking for code: a verb of making and a kind of program, or "in Python" / "using SQL" beside such a verb.
_WRITE_CODE = re.compile(
    r"\b(?:write|create|implement|code|develop|build|design|generate|construct|give|provide|show)\s+(?:me\s+)?(?:an?\s+|the\s+|some\s+)?"
    r"(?:\w+\s+){0,3}?(?:function|program|script|code|query|class|method|algorithm|regex|regular\s+expression|snippet|one-liner|"
    r"sql|html|css|test|unit\s+test|decorator|api|endpoint|loop)s?\b",
    re.IGNORECASE,
)
# A task about programming, where code in the answer is natural even when none is asked for outright.
_ABOUT_CODE = re.compile(
    r"\b(python|javascript|typescript|java|c\+\+|c#|rust|golang|ruby|php|kotlin|swift|bash|shell|sql|html|css|regex|regular\s+expression|"
    r"code|coding|program|programming|function|algorithm|script|api|json|yaml|csv|recursion|variable|loop|array|database|query|"
    r"compile|debug|syntax|library|framework|class|method|git|linux|terminal|command)(?:s|es)?\b",
    re.IGNORECASE,
)


def asks_for_code(instruction: str) -> bool:
    return bool(_WRITE_CODE.search(instruction))


def about_code(text: str) -> bool:
    return bool(_ABOUT_CODE.search(text))


def suspect_kind(instruction: str, inp: str, output: str) -> str | None:
    """"code", "no_code" (see the module docstring), or None when the output's form raises no doubt."""
    has_code = bool(find_code(output, instruction)) or "```" in output
    if has_code and not asks_for_code(instruction) and not about_code(f"{instruction}\n{inp}"):
        return "code"
    if asks_for_code(instruction) and not has_code and len(output.split()) > 3:
        return "no_code"
    return None
