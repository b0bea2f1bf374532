"""Grounded answers: reading the teacher's question/answer pairs, and the checks that keep them true to the context.

    pairs = parse_pairs(text)                               # [(question, answer), ...]
    reason = cheap_problem(question, answer, context)       # "refusal", "ungrounded_number:42", ... or None
    verdict = parse_verdict("Verdict: Yes")                 # True / False / None (unreadable)

The checks run cheapest first, in this order, and the first that fails names the reason:
1. refusal: the answer admits it cannot see the source ("as an AI", "the context does not say",
   "I cannot see the image"); the data must read as if the assistant sees it.
2. ungrounded_number / ungrounded_name: every number, and every capitalised word that is not
   the first of a sentence (a proper noun, roughly), must appear in the context. A step marker
   ("1.", "Step 2") is not a claim. This is a cheap net for invented facts, not a proof.
3. near_duplicate: a question whose ROUGE-L F against an earlier kept question of the same
   context is above the threshold (the recipe holds one index per context).
4. unsupported: with --verify, the teacher as a judge answers whether every claim of the answer
   is supported by the context (VERIFY_TEMPLATE); "No", or no readable verdict, drops it.
"""

from __future__ import annotations

import re

from selfinstruct.teacher.client import Message
from selfinstruct.templates import Templates

VERIFY_TEMPLATE = "grounded_verify"

# Phrases of an answer that says it cannot see its source, or talks about the text it was given
# instead of the thing itself: written as if seeing the source, none of these can appear.
REFUSAL_PHRASES = (
    r"as an ai\b",
    r"as a language model",
    r"\bi (?:cannot|can ?not|can't|am unable to|am not able to|don't|do not) (?:see|view|look at|access) the (?:image|picture|photo|document|text|context|source)",
    r"\bthe (?:context|text|passage|document|description|excerpt|caption|captions|annotation|information provided|provided (?:text|context|information))"
    r" (?:does not|doesn't|did not|didn't|do not|don't) (?:say|mention|specify|state|provide|include|contain|give|indicate|describe)",
    r"\b(?:is|are) not (?:mentioned|specified|stated|provided|given|described|indicated) in the (?:context|text|passage|document|description|image|captions?)",
    r"\bnot (?:enough|sufficient) information",
    r"\bcannot be determined from",
    r"\bbased on the (?:given |provided )?(?:context|captions?|description|bounding box|annotations?)",
)
_REFUSAL = re.compile("|".join(REFUSAL_PHRASES), re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_STEP_MARKER = re.compile(r"(?im)^\s*(?:[-*]\s*)?(?:\(?\d{1,2}[.):]|step\s+\d+[.:]?)(?=\s)|\bstep\s+\d+\b")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*(?:[-*•]|\d+[.)])?\s*|[\"“(]\s*)$")
# Capitalised words that are not names wherever they stand.
_NOT_NAMES = {"i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "yes", "no", "step"}
# Labels of the question/answer layout the templates ask for (and small models vary).
_LABEL = re.compile(
    r"^[ \t]*(?:[-*#>]+[ \t]*)?(?:\*\*|__)?(question|q|user|human|instruction|answer|a|assistant|gpt|response)(?:\*\*|__)?[ \t]*\d*[ \t]*[:：][ \t]*(?:\*\*|__)?",
    re.IGNORECASE | re.MULTILINE,
)
_QUESTION_LABELS = {"question", "q", "user", "human", "instruction"}


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """(question, answer) pairs from "Question: ... Answer: ..." blocks (LLaVA's layout; "===" separators
    and label variants tolerated). A question without an answer is left out."""
    parts = _LABEL.split(text)
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for label, body in zip(parts[1::2], parts[2::2]):
        body = re.sub(r"(?m)^\s*={3,}\s*$", "", body).strip().strip("*_").strip()
        if label.lower() in _QUESTION_LABELS:
            question = body
        elif question:
            if body:
                pairs.append((question, body))
            question = None
    return pairs


def is_refusal(answer: str) -> bool:
    return bool(_REFUSAL.search(answer))


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def ungrounded_numbers(answer: str, context: str) -> list[str]:
    """Numbers of the answer (step markers aside) that the context does not hold."""
    allowed = _numbers(context)
    return sorted(n for n in _numbers(_STEP_MARKER.sub(" ", answer)) if n not in allowed)


def ungrounded_names(answer: str, context: str) -> list[str]:
    """Capitalised words that do not start a sentence (names, places, brands) and that the context lacks."""
    known = {w.lower() for w in _WORD.findall(context)}
    missing = []
    for match in _WORD.finditer(answer):
        word = match.group()
        if not word[0].isupper() or word.lower() in _NOT_NAMES or word.lower() in known:
            continue
        if _SENTENCE_START.search(answer[: match.start()]):
            continue
        stem = re.sub(r"(?:'s|’s|s)$", "", word)  # "Kyoto's", "Alps" against "Kyoto", "Alp"
        if stem.lower() in known:
            continue
        missing.append(word)
    return list(dict.fromkeys(missing))


def cheap_problem(answer: str, context: str) -> str | None:
    """The first cheap check an answer fails (refusal, then numbers, then names), with what failed; None if it passes."""
    if is_refusal(answer):
        return "refusal"
    numbers = ungrounded_numbers(answer, context)
    if numbers:
        return f"ungrounded_number:{numbers[0]}"
    names = ungrounded_names(answer, context)
    if names:
        return f"ungrounded_name:{names[0]}"
    return None


def check_name(reason: str) -> str:
    """The check a reason belongs to: "ungrounded_number:42" -> "ungrounded_number"."""
    return reason.split(":", 1)[0]


# --- 4: the judge -------------------------------------------------------------------------


def verify_prompt(templates: Templates, context: str, question: str, answer: str) -> list[Message]:
    return templates.messages(VERIFY_TEMPLATE, context=context, question=question, answer=answer)


_VERDICT = re.compile(r"verdict\s*[:：]?\s*\**\s*(yes|no)\b", re.IGNORECASE)
_BARE = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def parse_verdict(text: str) -> bool | None:
    """The judge's yes/no: a "Verdict: Yes/No" line (the last one), else a reply that starts with yes or no."""
    found = _VERDICT.findall(text)
    if found:
        return found[-1].lower() == "yes"
    bare = _BARE.match(text.strip())
    return bare.group(1).lower() == "yes" if bare else None
