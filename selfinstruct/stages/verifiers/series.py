"""Questions about a named run of numbers, worked out exactly: "the sum of all prime numbers less than 50" is 328.

    series_question("Calculate the sum of all prime numbers less than 50.")
    # SeriesQuestion(text="sum of all prime numbers less than 50", values=[328.0])

A teacher asked for such a sum writes the terms out and a total ("2 + 3 + ... + 47 = 286"), and
the total is what it gets wrong; the terms alone cannot be checked once they are elided. The
question names the run instead: which numbers (primes, even, odd, natural numbers, integers,
squares, cubes, multiples of k), over which range ("less than N", "up to N", "from A to B",
"between A and B", "the first N"), and what is done with them (sum, product, count, average).
Where the wording allows two readings ("between 1 and 100" with or without its ends, "multiples
of 3 and 5" as either or both), every reading's value is acceptable. Ranges are bounded, so a
question about the primes below 10^12 is not worked out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from pydantic import BaseModel

MAX_TERMS = 100_000
_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+)"
_WORDS = {"ten": 10, "twenty": 20, "fifty": 50, "hundred": 100, "one hundred": 100, "a hundred": 100, "thousand": 1000, "one thousand": 1000,
          "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "three": 3, "four": 4, "two": 2}  # fmt: skip
_OPERATION = r"(?P<op>sum|total|product|number|count|average|mean)"
# What the numbers are. "of the squares of the first 10 natural numbers" puts the power first.
_POWER = r"(?:(?P<power>squares|cubes)\s+of\s+(?:all\s+)?(?:the\s+)?)?"
_KIND = (
    r"(?P<kind>prime\s+numbers|primes|even\s+(?:natural\s+|positive\s+|whole\s+)?(?:numbers|integers)|odd\s+(?:natural\s+|positive\s+|whole\s+)?"
    r"(?:numbers|integers)|(?:natural|whole|positive|counting)\s+(?:numbers|integers)|integers|numbers|perfect\s+squares|squares|cubes"
    r"|multiples\s+of\s+(?P<m1>\d+)(?:\s*(?P<conj>or|and)\s*(?P<m2>\d+))?)"
)
_FIRST = rf"(?:the\s+)?first\s+(?P<first>{_NUMBER}|\w+)\s+"
_RANGE = (
    rf"(?:(?P<below>less\s+than|below|under|smaller\s+than|lower\s+than)\s+{_NUMBER.replace('(', '(?P<below_n>', 1)}"
    rf"|(?P<upto>up\s+to|up\s+to\s+and\s+including|not\s+exceeding|at\s+most|no\s+more\s+than|less\s+than\s+or\s+equal\s+to)\s+{_NUMBER.replace('(', '(?P<upto_n>', 1)}"
    rf"|(?:from|between)\s+{_NUMBER.replace('(', '(?P<lo>', 1)}\s+(?P<join>to|and|through)\s+{_NUMBER.replace('(', '(?P<hi>', 1)}"
    rf"|(?:in\s+the\s+range\s+(?:of\s+)?|in\s+)\[?{_NUMBER.replace('(', '(?P<rlo>', 1)}\s*(?:-|to|,)\s*{_NUMBER.replace('(', '(?P<rhi>', 1)}\]?)"
)
_QUESTION = re.compile(
    rf"\b{_OPERATION}\s+of\s+(?:all\s+)?(?:the\s+)?{_POWER}(?:{_FIRST})?(?:all\s+)?(?:the\s+)?{_KIND}(?:\s+(?:that\s+are\s+|which\s+are\s+)?{_RANGE})?",
    re.IGNORECASE,
)
_HOW_MANY = re.compile(rf"\bhow\s+many\s+{_KIND}\s+(?:are\s+there\s+)?{_RANGE}", re.IGNORECASE)


class SeriesQuestion(BaseModel):
    """The question as matched, and every value a right answer may give."""

    text: str
    values: list[float]


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.lower().replace(",", "")
    return int(text) if text.isdigit() else _WORDS.get(text)


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


def _member(kind: str, m1: int | None, m2: int | None, conj: str | None) -> list[Callable[[int], bool]]:
    """A test for each reading of the kind of number named."""
    kind = " ".join(kind.lower().split())
    if kind.startswith("prime"):
        return [_is_prime]
    if kind.startswith("even"):
        return [lambda n: n % 2 == 0]
    if kind.startswith("odd"):
        return [lambda n: n % 2 == 1]
    if kind in ("squares", "perfect squares"):
        return [lambda n: math.isqrt(n) ** 2 == n]
    if kind == "cubes":
        return [lambda n: round(n ** (1 / 3)) ** 3 == n]
    if kind.startswith("multiples"):
        if not m1 or (m2 is not None and not m2):
            return []
        if m2 is None:
            return [lambda n: n % m1 == 0]
        either, both = (lambda n: n % m1 == 0 or n % m2 == 0), (lambda n: n % m1 == 0 and n % m2 == 0)
        return [either] if conj == "or" else [either, both]
    return [lambda n: True]  # numbers, integers, natural, whole, positive, counting


def _ranges(match: re.Match[str]) -> list[range] | None:
    """Each reading of the range the question names (None: no range, or too large to work out).

    "Below 10" may start at 0 or at 1: the same sum, but not the same count, average or product.
    """
    groups = match.groupdict()
    if groups.get("below_n") or groups.get("upto_n"):
        end = (_int(groups["below_n"]) or 0) if groups.get("below_n") else (_int(groups["upto_n"]) or 0) + 1
        ranges = [range(0, end), range(1, end)]
    elif groups.get("lo") or groups.get("rlo"):
        lo, hi = (_int(groups["lo"]), _int(groups["hi"])) if groups.get("lo") else (_int(groups["rlo"]), _int(groups["rhi"]))
        if lo is None or hi is None or hi < lo:
            return None
        # "from 1 to 100" and "in the range 1-100" hold both ends; "between 1 and 100" may or may not.
        exclusive = "between" in match.group(0).lower()
        ranges = [range(lo, hi + 1)] + ([range(lo + 1, hi)] if exclusive else [])
    else:
        return None
    return ranges if all(len(r) <= MAX_TERMS for r in ranges) else None


def _first_n(n: int, tests: Iterable[Callable[[int], bool]], start: int) -> list[list[int]]:
    runs = []
    for test in tests:
        found: list[int] = []
        k = start
        while len(found) < n and k < start + 50 * MAX_TERMS:
            if test(k):
                found.append(k)
            k += 1
        if len(found) == n:
            runs.append(found)
    return runs


def _combine(op: str, terms: list[int]) -> float | None:
    if op in ("number", "count"):
        return float(len(terms))
    if not terms:
        return None
    if op in ("average", "mean"):
        return sum(terms) / len(terms)
    if op == "product":
        product = math.prod(terms)
        return float(product) if product < 10**15 else None
    return float(sum(terms))


def series_question(text: str) -> SeriesQuestion | None:
    """The named run of numbers a question asks about, worked out; None when it names none this module knows."""
    for pattern in (_QUESTION, _HOW_MANY):
        for match in pattern.finditer(text):
            groups = match.groupdict()
            op = (groups.get("op") or "count").lower()
            if op == "total":
                op = "sum"
            tests = _member(groups["kind"], _int(groups.get("m1")), _int(groups.get("m2")), (groups.get("conj") or "").lower() or None)
            if not tests:
                continue
            if groups.get("first"):
                n = _int(groups["first"])
                if not n or n > MAX_TERMS:
                    continue
                runs = _first_n(n, tests, 1)  # "the first 5 even numbers": 2, 4, ..., 10
            else:
                ranges = _ranges(match)
                if ranges is None:
                    continue
                runs = [[k for k in r if test(k)] for r in ranges for test in tests]
            power = {"squares": 2, "cubes": 3}.get((groups.get("power") or "").lower(), 1)
            values = {v for terms in runs if (v := _combine(op, [t**power for t in terms])) is not None}
            if values:
                return SeriesQuestion(text=" ".join(match.group(0).split()), values=sorted(values))
    return None
