"""Check the arithmetic a row asks for against the number its output gives: correct, wrong, or uncheckable.

    check_arithmetic("What is 23 + 19?", "", "23 + 19 = 41")        # status "wrong", expected 42
    check_arithmetic("Convert 5 kilometers to miles.", "", "About 3.11 miles.")   # "correct"
    check_arithmetic("Write a poem about 3 cats.", "", "...")         # "uncheckable"

One checker for two users: generate drops a "wrong" instance (stages/verifiers), and the report
flags a wrong row of any dataset (report/flags.py). It lives with the stages so that generate needs
neither the report package nor its extra.

AlpacaDataCleaned found most of Alpaca's math answers wrong. Only what can be checked for sure
is judged: a plain expression (digits, + - * / ^ and parentheses, or the words plus, minus,
times, divided by) in a task that asks for a calculation, "N% of M", unit conversions
("convert 5 km to miles", "how many feet are in 2 miles") and a named run of numbers ("the sum
of all prime numbers less than 50", series.py). Expressions are evaluated by
simpleeval with arithmetic operators only (no names, no calls, bounded powers; never `eval`),
conversions by pint. An output is correct when any number in it equals the result to the
precision it is written with (conversions: within 2%, since people round factors); wrong when
it gives a different number; uncheckable when it gives none besides the question's own.
Whatever the question, a calculation the output states ("3 + 4 + 5 = 13", "2 * (3 + 4) = 2 * 7 = 14",
"1 + 2 + 3 + ... + 100 = 5050" where the terms shown before the dots step evenly) must hold too;
code, the task's own material and calculations in another base are left alone.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel

from selfinstruct.stages.verifiers.kind import asks_for_code
from selfinstruct.stages.verifiers.series import series_question

Status = Literal["correct", "wrong", "uncheckable"]
MAX_EXPRESSION_CHARS = 120
MAX_WORDS_BEFORE = 3  # "Evaluate the expression 2 * 7": words between a cue and the expression it asks about
# A question's answer is read from an output this long at most: in a longer one (a chat's explanation) the last
# number is no longer the answer, and a wrong one is only said when a right one is nowhere in it.
MAX_ANSWER_WORDS = 80
CONVERSION_TOLERANCE = 0.02

_CUE = re.compile(
    r"\b(calculate|compute|evaluate|solve|simplify|what\s+is|what's|how\s+much\s+is|result\s+of|value\s+of|"
    r"sum\s+of|product\s+of|difference\s+between|add|subtract|multiply|divide|answer)\b",
    re.IGNORECASE,
)
_WORD_OPERATORS = [
    (re.compile(r"(?<=\d),(?=\d{3}\b)"), ""),
    (re.compile(r"\bmultiplied\s+by\b|\btimes\b", re.I), " * "),
    (re.compile(r"\bdivided\s+by\b", re.I), " / "),
    (re.compile(r"\bplus\b", re.I), " + "),
    (re.compile(r"\bminus\b", re.I), " - "),
    (re.compile(r"(?<=\d)\s*[x×]\s*(?=\d)"), " * "),
    (re.compile(r"÷"), " / "),
    (re.compile(r"\*\*|\^"), " ^ "),
    (re.compile(r"[−–]"), "-"),
]
_NUM = r"\d+(?:\.\d+)?"
_EXPRESSION = re.compile(rf"[(\s]*-?{_NUM}[)\s]*(?:[-+*/^][(\s]*-?{_NUM}[)\s]*)+")
_DATE = re.compile(r"\d{1,4}[/-]\d{1,2}[/-]\d{1,4}")
_YEAR_MONTH = re.compile(r"(?:19|20)\d\d\s*/\s*(?:0?[1-9]|1[0-2])|(?:0?[1-9]|1[0-2])\s*/\s*(?:19|20)\d\d")  # "2021/11", "since 1/2022"
# "10-100 - 0-1000": ranges joined by a spaced operator, not a subtraction.
_RANGES = re.compile(r"\d-\d")
_SPACED_OPERATOR = re.compile(r"\s[-+*/^]\s")
# A fraction written tight ("3/4") among spaced operators ("3/4 / 1/6") is one number, as people read it.
_TIGHT_FRACTION = re.compile(r"(?<![\d.)])(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)(?![\d.(^])")
# Where an instruction asks its question, the expression is in the same sentence after the cue ("What is 23 + 19?");
# a number elsewhere in a long request (a pasted document's "6/15", a table's "10-100 - 0-1000") is not what it asks.
_SENTENCE_END = re.compile(r"[?!]|\.(?=\s|$)|(?<!:)\s*\n")
_PERCENT = re.compile(rf"({_NUM})\s*(?:%|percent)\s+of\s+\$?({_NUM})", re.IGNORECASE)
_OUTPUT_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
_CONVERT = re.compile(rf"\bconvert\s+(-?{_NUM})\s*([a-zA-Z°][a-zA-Z° ]{{0,30}}?)\s+(?:to|into|in)\s+([a-zA-Z°][a-zA-Z°]*(?:\s+[a-zA-Z]+)?)", re.I)
_HOW_MANY = re.compile(rf"\bhow\s+many\s+([a-zA-Z]+(?:\s+(?!are\b|there\b|in\b)[a-zA-Z]+)?)\s+(?:are\s+)?(?:there\s+)?in\s+(-?{_NUM})\s*([a-zA-Z°][a-zA-Z° ]{{0,30}}?)\s*[?.]?\s*$", re.I)
_TEMPERATURES = {
    "f": "degF", "°f": "degF", "fahrenheit": "degF", "degrees fahrenheit": "degF", "degree fahrenheit": "degF",
    "c": "degC", "°c": "degC", "celsius": "degC", "degrees celsius": "degC", "degree celsius": "degC",
    "centigrade": "degC", "k": "kelvin", "kelvin": "kelvin", "kelvins": "kelvin",
}  # fmt: skip


class ArithmeticCheck(BaseModel):
    """The verdict on one row, with what was computed and which number in the output was compared."""

    status: Status
    kind: Literal["expression", "percentage", "conversion", "series", "stated"] | None = None
    question: str | None = None
    expected: float | None = None
    answer: float | None = None
    # Other values a right answer may give, where the question reads two ways ("between 1 and 100").
    also: list[float] = []


def _bounded_power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > 64 or abs(base) > 1e6:
        raise ValueError("power too large to check")
    return operator.pow(base, exponent)


@lru_cache(maxsize=1)
def _evaluator() -> Any:
    from simpleeval import SimpleEval

    operators = {
        ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: _bounded_power, ast.USub: operator.neg, ast.UAdd: operator.pos,
    }  # fmt: skip
    return SimpleEval(operators=operators, functions={}, names={})


def evaluate(expression: str) -> float | None:
    """The value of a plain arithmetic expression, or None when it is not one (or too large, or divides by zero)."""
    # One line only: "1\n- 20" is a list item under a number, not a subtraction.
    if len(expression) > MAX_EXPRESSION_CHARS or "\n" in expression or not re.fullmatch(r"[\d.\s+\-*/^()]+", expression):
        return None
    if _SPACED_OPERATOR.search(expression):
        if _RANGES.search(expression):
            return None
        expression = _TIGHT_FRACTION.sub(r"(\1/\2)", expression)
    try:
        value = _evaluator().eval(expression.replace("^", "**"))
    except Exception:  # noqa: BLE001 - anything simpleeval refuses is simply not checkable
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value)


def _find_expression(text: str, asked: bool = False) -> tuple[str, float] | None:
    """The first plain expression in `text` and its value. `asked`: text right after a cue ("What is ..."), where the
    expression must be the cue's object (at most MAX_WORDS_BEFORE words before it) and a lone fraction before a word
    is a quantity ("add 1/2 a teaspoon")."""
    normal = text
    for pattern, replacement in _WORD_OPERATORS:
        normal = pattern.sub(replacement, normal)
    for match in _EXPRESSION.finditer(normal):
        raw = match.group(0)
        span = raw.strip()
        start = match.start() + len(raw) - len(raw.lstrip())
        end = match.end() - (len(raw) - len(raw.rstrip()))
        before, after = normal[max(0, start - 1):start], normal[end:end + 1]
        if after.isalnum() or before.isalnum() or ":" in (before, after):
            continue  # "2x + 3", "version 2.0-3" or "14:00 - 16:00": a variable, a token or a time, not arithmetic
        if _DATE.search(span) or _YEAR_MONTH.fullmatch(span):
            continue
        operators = re.findall(r"(?<=[\d)\s])[-+*/^]", span)
        if operators and all(op == "-" for op in operators) and not re.search(r"\s-\s", span):
            continue  # "3-5 sentences" is a range
        if asked and (len(re.findall(r"[A-Za-z]+", normal[:start])) > MAX_WORDS_BEFORE or
                      (re.fullmatch(r"\d+/\d+", span) and re.match(r"\s*[A-Za-z]", normal[end:]))):  # fmt: skip
            continue
        if span.count("(") != span.count(")"):
            span = span.strip("()").strip()
        value = evaluate(span)
        if value is not None:
            return " ".join(span.split()), value
    return None


@lru_cache(maxsize=1)
def _units() -> Any:
    import pint

    return pint.UnitRegistry()


def _unit(text: str) -> Any:
    name = " ".join(text.lower().split()).rstrip(".?")
    name = _TEMPERATURES.get(name, name.replace("degrees ", "degree_").replace(" ", "_"))
    ureg = _units()
    try:
        unit = ureg.parse_units(name)
    except Exception:  # noqa: BLE001 - pint raises several kinds for words that are not units
        return None
    return unit if unit != ureg.dimensionless else None


def _convert(value: float, source: str, target: str) -> float | None:
    src, dst = _unit(source), _unit(target)
    if src is None or dst is None:
        return None
    try:
        return float(_units().Quantity(value, src).to(dst).magnitude)
    except Exception:  # noqa: BLE001 - incompatible dimensions: not a conversion we can check
        return None


def _question(instruction: str, inp: str) -> tuple[Literal["expression", "percentage", "conversion", "series"], str, list[float]] | None:
    text = f"{instruction}\n{inp}".strip()
    for pattern, order in ((_CONVERT, (1, 2, 3)), (_HOW_MANY, (2, 3, 1))):
        for line in text.splitlines():
            match = pattern.search(line)
            if match:
                value, source, target = (match.group(i) for i in order)
                result = _convert(float(value), source, target)
                if result is not None:
                    return "conversion", f"{value} {source.strip()} to {target.strip()}", [result]
    percent = _PERCENT.search(text)
    if percent and _CUE.search(instruction):
        return "percentage", percent.group(0), [float(percent.group(1)) * float(percent.group(2)) / 100]
    series = series_question(text) if _CUE.search(instruction) or re.search(r"\bhow\s+many\b", text, re.I) else None
    if series is not None:
        return "series", series.text, series.values
    # An expression counts when the task asks for a result in the sentence that holds it, or when the input is nothing
    # but the expression.
    found = _find_expression(inp) if inp.strip() else None
    if found and found[0] != inp.strip().rstrip("=?. "):
        found = None
    for cue in _CUE.finditer(instruction) if found is None else ():
        found = _find_expression(_SENTENCE_END.split(instruction[cue.end() :], maxsplit=1)[0], asked=True)
        if found:
            break
    if found:
        return "expression", found[0], [found[1]]
    return None


def _decimals(token: str) -> int:
    return len(token.split(".", 1)[1]) if "." in token else 0


def _matches(token: str, value: float, expected: float, kind: str) -> bool:
    """Whether `value` (written as `token`) is `expected` to the precision written, rounded or cut off ("2/3 = 0.66")."""
    if kind == "conversion":
        return abs(value - expected) <= max(CONVERSION_TOLERANCE * abs(expected), 0.5 * 10 ** -_decimals(token))
    scale = 10 ** _decimals(token)
    truncated = math.trunc(expected * scale + math.copysign(1e-9, expected)) / scale
    return abs(value - expected) <= 0.5 / scale + 1e-9 * abs(expected) or abs(value - truncated) <= 1e-9 * max(1.0, abs(expected))


def check_arithmetic(instruction: str, inp: str, output: str) -> ArithmeticCheck:
    """Judge one row; anything that is not clearly a checkable calculation is "uncheckable"."""
    check = _check_question(instruction, inp, output)
    if check.status != "wrong":
        stated = stated_calculation_error(instruction, inp, output)
        if stated is not None:
            return stated
    return check


def _check_question(instruction: str, inp: str, output: str) -> ArithmeticCheck:
    question = _question(instruction, inp) if not asks_for_code(instruction) else None  # "write a program for the sum of ..."
    if question is None:
        return ArithmeticCheck(status="uncheckable")
    kind, text, accepted = question
    expected, also = accepted[0], accepted[1:]
    tokens = _OUTPUT_NUMBER.findall(_FENCED.sub("\n", output))  # a program's numbers are not its answer ("write a program for the sum ...")
    numbers = [(t, float(t.replace(",", ""))) for t in tokens]
    for token, value in numbers:
        for candidate in accepted:
            if _matches(token, value, candidate, kind):
                return ArithmeticCheck(status="correct", kind=kind, question=text, expected=candidate, answer=value, also=also)
    operands = {float(n) for n in re.findall(_NUM, text)}
    answers = [value for _, value in numbers if value not in operands]
    if not answers or len(output.split()) > MAX_ANSWER_WORDS:
        return ArithmeticCheck(status="uncheckable", kind=kind, question=text, expected=expected, also=also)
    return ArithmeticCheck(status="wrong", kind=kind, question=text, expected=expected, answer=answers[-1], also=also)


# --- calculations the output states ------------------------------------------------------------

_FENCED = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
_LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+", re.MULTILINE)
_CHAIN = re.compile(r"[\d(.][\d.\s+\-*/^()]*(?:=[\d.\s+\-*/^()]*)+[\d)]")
_ELLIPSIS = re.compile(r"\.{3}|…")
_OTHER_BASE = re.compile(r"\b(binary|base[\s-]?\d+|hexadecimal|octal|modulo|mod|modular|remainder|boolean|logic)\b", re.IGNORECASE)
_REMAINDER_AFTER = re.compile(r"\A\s*(?:r\b|R\b|rem|remainder|with a remainder)")
MAX_SERIES_TERMS = 10_000


def _series_sum(piece: str) -> float | None:
    """The sum "a + b + c + ... + z" stands for, when the terms before the dots step evenly by a whole number."""
    if "+" not in piece:
        return None
    parts = [p.strip() for p in piece.split("+")]
    dots = [i for i, p in enumerate(parts) if _ELLIPSIS.fullmatch(p)]
    if len(dots) != 1 or not all(re.fullmatch(r"-?\d+", p) for i, p in enumerate(parts) if i != dots[0]):
        return None
    before, after = [int(p) for p in parts[: dots[0]]], [int(p) for p in parts[dots[0] + 1 :]]
    if len(before) < 3 or not after:
        return None
    step = before[1] - before[0]
    if step == 0 or any(b - a != step for a, b in zip(before, before[1:])) or any(b - a != step for a, b in zip(after, after[1:])):
        return None
    span = after[0] - before[-1]
    if span <= 0 if step > 0 else span >= 0 or span % step:
        return None
    terms = (after[-1] - before[0]) // step + 1
    if terms > MAX_SERIES_TERMS:
        return None
    return float(terms * (before[0] + after[-1]) / 2)


def _value(piece: str) -> float | None:
    piece = piece.strip()
    if _ELLIPSIS.search(piece):
        return _series_sum(piece)
    if _DATE.search(piece) or _YEAR_MONTH.fullmatch(piece):
        return None
    return evaluate(piece)


def _is_calculation(piece: str) -> bool:
    return bool(re.search(r"(?<=[\d).\s])[-+*/^]", piece.strip()))


def stated_calculation_error(instruction: str, inp: str, output: str) -> ArithmeticCheck | None:
    """The first calculation the output states ("A op B ... = C") that does not hold, as a "wrong" check; None if all hold."""
    material = f"{instruction}\n{inp}"
    if _OTHER_BASE.search(material) or _OTHER_BASE.search(output):
        return None
    text = _FENCED.sub("\n", output).replace("−", "-").replace("–", "-").replace("\\*", "*")  # "2 \\* 3": Markdown's escaped star
    text = _LIST_MARK.sub("", text)
    text = re.sub(r"\$(?=\d)", "", text)
    for pattern, replacement in _WORD_OPERATORS:
        text = pattern.sub(replacement, text)
    for line in text.splitlines():
        for match in _CHAIN.finditer(line):
            chain = match.group(0)
            before = line[: match.start()].rstrip()[-1:]
            after = line[match.end() :]
            pieces = chain.split("=")
            # A piece that runs on into words or symbols ("x + 1 = 5", "= 75%", "20% * 50 = 10") is only part of a term.
            # So is one that continues a calculation started before it ("plus 4 = 10" after "6, ").
            if before and (before.isalnum() or before in "%)]}_'\".,+-*/^"):
                pieces[0] = ""
            if (after[:1] and (after[:1].isalnum() or after[:1] in "%([_'\"")) or _REMAINDER_AFTER.match(after):
                pieces[-1] = ""
            for left, right in zip(pieces, pieces[1:]):
                if not left.strip() or not right.strip() or not (_is_calculation(left) or _is_calculation(right)):
                    continue
                if " ".join(f"{left}={right}".split()) in " ".join(material.split()):
                    continue  # the task's own material, perhaps a wrong calculation it asks to correct
                lv, rv = _value(left), _value(right)
                if lv is None or rv is None:
                    continue
                token = right.strip()
                if re.fullmatch(r"-?\d+(?:\.\d+)?", token):
                    if _matches(token, rv, lv, "expression") or (_ELLIPSIS.search(left) and abs(rv - lv) <= 1e-9 * abs(lv)):
                        continue
                else:
                    first = re.match(r"\(?\s*(-?\d+(?:\.\d+)?)", token)
                    # "2 + 3 = 5 + 4 = 9": a running calculation that carries the result on. Its terms may be rounded
                    # ("100 + (100 / 3) = 100 + 33.33"): each is off by up to half its last digit.
                    rounded = [t for t in re.findall(_NUM, token) if "." in t]
                    slack = max(len(rounded) * 0.5 * 10 ** -min(map(_decimals, rounded)), 1e-3 * abs(lv)) if rounded else 1e-9 * max(1.0, abs(lv))
                    if abs(rv - lv) <= slack or (first and _matches(first.group(1), float(first.group(1)), lv, "expression")):
                        continue
                return ArithmeticCheck(status="wrong", kind="stated", question=" ".join(left.split()), expected=lv, answer=rv, also=[])
    return None
