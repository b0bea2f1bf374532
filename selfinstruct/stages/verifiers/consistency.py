"""Self-consistency for short answers: the teacher answers the same instance k more times, and the answers must agree.

    checker = Consistency(teacher, k=2, temperature=0.7)
    verdict = await checker.check(instruction, instance, labels=["Positive", "Negative"])
    verdict.agreed, verdict.answers, verdict.consistent      # 1, ["positive", "Neutral"], True

A confidently wrong fact or label is often one draw among several the teacher would give: asked
again at the proposal temperature, it answers otherwise. Only short answers are asked again,
where agreement can be read without a judge: a classification task's label (the other labels of
the task are offered as the choices), a number, a yes/no, or a few words answering a question
that has one right answer. Open requests ("suggest a name", "write a slogan") have many right
short answers and are left alone. An instance is dropped when most of the k new answers disagree
with the kept one (with k = 2: both). Two answers agree when they say the same after
normalising case, punctuation, articles and "The answer is", when one's words hold all of the
other's ("Paris" and "Paris, France"), or when they give the same number to the precision written.
The prompt is prompts/answer_short.txt ({instruction}, {input}, {choices}); a --prompts folder
without it uses the shipped one.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

from selfinstruct.prompt_files import load_template
from selfinstruct.records import Instance
from selfinstruct.stages.verifiers.code import find_code
from selfinstruct.teacher.client import Decoding, Teacher

TEMPLATE = "answer_short.txt"
STAGE = "consistency"  # the requests log's stage name
MAX_WORDS = 5
MAX_CHARS = 40
MAX_TOKENS = 24
# Requests whose short answer is one of many right ones: a new draw differs without being wrong.
_OPEN_REQUEST = re.compile(
    r"\b(suggest|propose|invent|imagine|brainstorm|come\s+up\s+with|think\s+of|make\s+up|create|compose|write|generate|design|draft|"
    r"give\s+(?:me\s+)?(?:an?\s+)?(?:example|name|title|nickname|synonym|antonym|word|slogan|tagline|idea)s?|name\s+(?:a|an|one|some|two|three|any)\b|"
    r"rewrite|rephrase|paraphrase|reword|shorten|simplify|edit|improve|title|slogan|headline|tagline|nickname|motto|hashtag|"
    r"synonyms?|antonyms?|rhymes?|describe|summari[sz]e|translate|opinion|favou?rite|recommend|predict|guess|estimate|random)\b",
    re.IGNORECASE,
)
_ANSWER_LEAD = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?(?:answer|label|class|category|output|result)\s*(?:is|:)\s*", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_ARTICLES = {"a", "an", "the"}


def short_answer(instruction: str, instance: Instance, is_label: bool) -> bool:
    """Whether the instance's output is a short answer that a new draw should repeat: a label, or a few words
    answering a request with one right answer."""
    output = instance.output.strip()
    if not output or "\n" in output or find_code(output, instruction):
        return False
    if is_label:
        return len(output.split()) <= 2 * MAX_WORDS
    return len(output.split()) <= MAX_WORDS and len(output) <= MAX_CHARS and not _OPEN_REQUEST.search(instruction)


def _normal(text: str) -> str:
    text = _ANSWER_LEAD.sub("", text.strip().splitlines()[0] if text.strip() else "")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,024 is 1024
    words = re.sub(r"[^\w\s.-]", " ", text.lower()).replace("-", " ").split()
    return " ".join(w.strip(".") for w in words if w.strip(".") and w.strip(".") not in _ARTICLES)


def _numbers(text: str) -> list[str]:
    return _NUMBER.findall(text)


def agree(kept: str, other: str) -> bool:
    """Whether a new answer says what the kept one says (see the module docstring)."""
    a, b = _normal(kept), _normal(other)
    if not a or not b:
        return False
    numbers_a, numbers_b = _numbers(a), _numbers(b)
    if numbers_a and numbers_b:
        target = float(numbers_a[-1].replace(",", ""))
        for token in numbers_b:
            decimals = min(len(token.split(".", 1)[1]) if "." in token else 0, len(numbers_a[-1].split(".", 1)[1]) if "." in numbers_a[-1] else 0)
            if abs(float(token.replace(",", "")) - target) <= 0.5 * 10**-decimals + 1e-9 * abs(target):
                return True
        return False
    if a == b:
        return True
    words_a, words_b = set(a.split()), set(b.split())
    if a.split()[0] in ("yes", "no") or b.split()[0] in ("yes", "no"):
        return a.split()[0] == b.split()[0]
    return words_a <= words_b or words_b <= words_a


@dataclass
class ConsistencyVerdict:
    """The k new answers and how many agreed with the kept one."""

    answers: list[str] = field(default_factory=list)
    agreed: int = 0

    @property
    def consistent(self) -> bool:
        """Kept unless most of the new answers disagree."""
        return 2 * (len(self.answers) - self.agreed) <= len(self.answers)


class Consistency:
    """Asks the teacher again for short answers; one prompt template, k answers per instance."""

    def __init__(self, teacher: Teacher, k: int = 2, temperature: float = 0.7, prompts_dir: Path | None = None) -> None:
        self.teacher, self.k = teacher, k
        self.template = load_template(prompts_dir, TEMPLATE, ("instruction", "input", "choices"), what="consistency prompt template", shipped_fallback=True)
        self.decoding = Decoding(temperature=temperature, top_p=1.0, max_tokens=MAX_TOKENS)

    def prompt(self, instruction: str, inp: str, labels: list[str] | None) -> str:
        choices = f", one of: {', '.join(labels)}" if labels else ""
        values = {"instruction": " ".join(instruction.split()), "input": inp.strip() or "(none)", "choices": choices}
        return re.sub(r"\{(instruction|input|choices)\}", lambda m: values[m.group(1)], self.template)

    async def check(self, instruction: str, instance: Instance, labels: list[str] | None = None) -> ConsistencyVerdict:
        """The k new answers to the instance, compared with its output."""
        prompt = self.prompt(instruction, instance.input, labels)
        done = await asyncio.gather(*(self.teacher.complete(prompt, self.decoding, stage=STAGE) for _ in range(self.k)))
        answers = [" ".join(d.text.split())[:200] for d in done]
        return ConsistencyVerdict(answers=answers, agreed=sum(agree(instance.output, a) for a in answers))
