"""The mock teacher's answers to the grounded recipe's prompts (prompts/grounded_*.txt), with knobs for ungrounded answers.

Answers are built from the context's own sentences (an annotation's captions), so by default every
answer is grounded and passes every check. A test makes answers fail one check with the knob on
its MockTeacher:

    mock.grounded_fault = lambda rtype, context: "number"    # None: grounded
        "refusal"      the answers admit they cannot see the source
        "number"       an invented year is added to each answer
        "name"         an invented person's name is added to each answer
        "duplicate"    a conversation asks its first question again; detail and reasoning ask it too
        "unsupported"  an invented claim with no number or name (only --verify catches it)
        "unparsable"   the answer lacks the Question:/Answer: layout
    mock.verify_unreadable = True                            # the judge answers without a verdict

The judge (prompts/grounded_verify.txt) says "Verdict: No" exactly for answers holding the invented claim.
"""

from __future__ import annotations

import re
from typing import Any

DOC_MARK = "You write training data for an AI assistant that"
IMAGE_MARK = "You are an AI visual assistant, and you are seeing a single image."
VERIFY_MARK = "You check training data for faithfulness."
TYPE_MARKS = {"conversation": "Write a conversation between", "detail": "Write one instruction asking for a", "reasoning": "needs reasoning to answer"}
INVENTED = {
    "number": " It was first built in 1887.",
    "name": " It was designed by the engineer Gustave Eiffel.",
    "unsupported": " Everyone who has tried it agrees that nothing else comes close.",
}
QUESTIONS = ["What is there to know about {0}?", "Can you tell me how {0} works here?", "Which details are given on {0}?",
             "How would you explain {0} to a newcomer?", "What stands out about {0}?"]  # fmt: skip


def grounded_stage(context: str) -> str | None:
    """grounded_<type> or verify for our grounded templates, None for any other prompt."""
    if VERIFY_MARK in context:
        return "verify"
    if DOC_MARK in context or IMAGE_MARK in context:
        for rtype, mark in TYPE_MARKS.items():
            if mark in context:
                return f"grounded_{rtype}"
    return None


def _sentences(context: str) -> list[str]:
    text = context.split("Excerpt:\n", 1)[-1].strip()
    lines = [ln for ln in text.splitlines() if ln.strip() and not re.match(r"^([\w ]+: \[|#)", ln)]  # captions, not boxes or headings
    parts = [s.strip() for ln in lines for s in re.split(r"(?<=[.!?])\s+", ln.strip()) if len(s.split()) >= 3]
    return parts or [text]


def _topic(sentence: str, n: int) -> str:
    words = re.findall(r"[A-Za-z]+", sentence)
    return " ".join(words[n % 3 : n % 3 + 3]).lower() or "this"


def grounded_answer(mock: Any, stage: str, prompt: str, context: str) -> str:
    if stage == "verify":
        if getattr(mock, "verify_unreadable", False):
            return "Hard to say."
        answer = prompt.split("\nAnswer:", 1)[-1]
        return "Verdict: No" if INVENTED["unsupported"].strip() in answer else "All claims are supported.\nVerdict: Yes"
    rtype = stage.removeprefix("grounded_")
    fault_of = getattr(mock, "grounded_fault", None)
    fault = fault_of(rtype, prompt) if fault_of else None
    sentences = _sentences(prompt)
    if rtype == "conversation":
        pairs = [(QUESTIONS[i].format(_topic(s, i)), s) for i, s in enumerate(sentences[:3])]
        if len(pairs) == 1:
            pairs.append((QUESTIONS[3].format(_topic(sentences[0], 4)), sentences[0]))
    elif rtype == "detail":
        pairs = [("Describe this in detail, covering every main point.", " ".join(sentences[:4]))]
    else:
        pairs = [(f"Why does it matter that {sentences[0][0].lower()}{sentences[0][1:].rstrip('.')}?",
                  f"Step 1: {sentences[0]} Step 2: {sentences[-1]} Putting these together answers the question.")]  # fmt: skip
    if fault == "duplicate":
        first = QUESTIONS[0].format(_topic(sentences[0], 0))
        pairs = [(first, a) for _, a in pairs]
    elif fault == "refusal":
        pairs = [(q, f"I cannot see the image, but {a[0].lower()}{a[1:]}") for q, a in pairs]
    elif fault in INVENTED:
        pairs = [(q, a + INVENTED[fault]) for q, a in pairs]
    if fault == "unparsable":
        return " ".join(a for _, a in pairs)
    return "\n===\n".join(f"Question: {q}\nAnswer: {a}" for q, a in pairs)
