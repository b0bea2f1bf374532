"""The judge asked one yes/no question about an instruction: does it ask for code, or for the result itself?

    judge = AnswerKindJudge(teacher)
    verdict = await judge.ask("Generate a list of 10 random numbers.", "")
    verdict.p_code                     # 0.51: the judge's probability of "Yes"
    verdict.asks_for_code              # False: under MIN_P_CODE

Code for "Generate a list of 10 random numbers" is well-formed, runs, and answers another request:
the numbers were asked for, not a program that makes them. Whether an output holds code is read by
rule (stages/verifiers/kind.py); which kind of answer the instruction wants is what the judge
decides, from its probability of "Yes" against "No" at the verdict token (judge/probabilities.py:
one generated token, temperature 0, instruction last so the fixed question is a cached prefix).
An endpoint that sends no log-probabilities gets the same question with a three-token text reply.
An unreadable verdict decides nothing: a check must not drop data because the judge failed.

MIN_P_CODE was chosen on 21 instructions (15 that want a result, 6 that want code) with the packaged
1.5B teacher: those wanting a result scored 0.19-0.72, those wanting code 0.84-0.94 (the slow test
in tests/judge/test_answer_kind.py keeps them). The prompt is prompts/judge_answer_kind.txt
({instruction}, {input}); a --prompts folder without it uses the shipped one.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from pydantic import BaseModel

from selfinstruct.judge.probabilities import LogprobSupport, option_probabilities
from selfinstruct.prompt_files import load_template
from selfinstruct.teacher.client import Decoding, Teacher

TEMPLATE = "judge_answer_kind.txt"
STAGE = "answer_kind"  # the requests log's stage name
OPTIONS = {"yes": ("yes",), "no": ("no",)}
MIN_P_CODE = 0.8


class KindVerdict(BaseModel):
    """The judge's probability that the instruction asks for code (None: unreadable)."""

    p_code: float | None
    raw: str = ""

    @property
    def asks_for_code(self) -> bool | None:
        return None if self.p_code is None else self.p_code >= MIN_P_CODE


class AnswerKindJudge:
    """Asks one Teacher whether instructions ask for code; each instruction and input is asked about once."""

    def __init__(self, teacher: Teacher, prompts_dir: Path | None = None) -> None:
        self.teacher = teacher
        self.template = load_template(prompts_dir, TEMPLATE, ("instruction", "input"), what="answer kind prompt template", shipped_fallback=True)
        self.support = LogprobSupport()
        self.decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=1, top_logprobs=10)
        self.text_decoding = Decoding(temperature=0.0, top_p=1.0, max_tokens=3)
        self._asked: dict[tuple[str, str], asyncio.Future[KindVerdict]] = {}

    def prompt(self, instruction: str, inp: str) -> str:
        values = {"instruction": instruction.strip(), "input": inp.strip() or "(none)"}
        return re.sub(r"\{(instruction|input)\}", lambda m: values[m.group(1)], self.template)

    async def ask(self, instruction: str, inp: str) -> KindVerdict:
        """The verdict on one instruction and input; the instances of one task that ask at once share one request."""
        key = (instruction.strip(), inp.strip())
        if key not in self._asked:
            self._asked[key] = asyncio.ensure_future(self._ask(self.prompt(instruction, inp)))
            # A failed or cancelled ask is asked again next time.
            self._asked[key].add_done_callback(lambda f, k=key: self._asked.pop(k) if f.cancelled() or f.exception() is not None else None)
        return await asyncio.shield(self._asked[key])

    async def _ask(self, prompt: str) -> KindVerdict:
        done = await self.support.ask(lambda: self.teacher.complete(prompt, self.decoding, stage=STAGE))
        if done is not None:
            probs = option_probabilities(done.top_logprobs, OPTIONS)
            return KindVerdict(p_code=None if probs is None else round(probs.p["yes"], 3), raw=done.text)
        done = await self.teacher.complete(prompt, self.text_decoding, stage=STAGE)
        word = re.match(r"\W*(yes|no)\b", done.text, re.IGNORECASE)
        return KindVerdict(p_code=None if word is None else float(word.group(1).lower() == "yes"), raw=done.text)
