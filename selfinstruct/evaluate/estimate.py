"""`eval --dry-run`: the requests, tokens and cost an evaluation would take, with nothing sent or loaded.

    print_estimate(cfg, tasks, a, b, endpoint, prompts, console)

Judge prompts are rendered from the real template with the real tasks and counted with tiktoken.
Answers a contestant has not written yet are unknown; they are assumed to fill TYPICAL_ANSWER_SHARE
of --max-new-tokens, and the worst case (every answer and verdict at its token limit, which is what
the spend caps reserve per request) is shown beside the expected one. Verdicts run to about
TOKENS_PER_VERDICT tokens: a few sentences and the verdict line.
"""

from __future__ import annotations

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from selfinstruct.evaluate.answer_files import match_answers, read_answer_rows
from selfinstruct.evaluate.contestants import Contestant
from selfinstruct.evaluate.generation import user_message
from selfinstruct.evaluate.settings import EvalConfig
from selfinstruct.evaluate.tasks import EvalTask
from selfinstruct.judge.pairwise import JudgePrompts
from selfinstruct.teacher.endpoint import Endpoint
from selfinstruct.teacher.spend import count_tokens

TYPICAL_ANSWER_SHARE = 0.5
TOKENS_PER_VERDICT = 90
LETTER_TOKENS = 1
CHAT_OVERHEAD = 8


class Line(BaseModel):
    """Expected and worst-case tokens of one kind of request."""

    what: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    worst_completion_tokens: int
    price: tuple[float, float] | None

    def usd(self, worst: bool = False) -> float | None:
        if self.price is None:
            return None
        out = self.worst_completion_tokens if worst else self.completion_tokens
        return (self.prompt_tokens * self.price[0] + out * self.price[1]) / 1e6


def _answers(contestant: Contestant, tasks: list[EvalTask], max_new_tokens: int) -> dict[str, str]:
    """Known answers (file contestants), else placeholders of the assumed typical length."""
    if contestant.kind == "file" and contestant.path is not None:
        return match_answers(read_answer_rows(contestant.path, contestant.side), tasks).answers
    filler = " ".join(["word"] * int(max_new_tokens * TYPICAL_ANSWER_SHARE))
    return {t.id: filler for t in tasks}


def estimate_lines(cfg: EvalConfig, tasks: list[EvalTask], a: Contestant, b: Contestant, endpoint: Endpoint, prompts: JudgePrompts) -> list[Line]:
    lines = []
    for contestant in (a, b):
        if contestant.kind == "openai":
            prompt = sum(count_tokens(user_message(t)) + CHAT_OVERHEAD for t in tasks)
            lines.append(Line(what=f"answers --{contestant.side} ({contestant.model})", requests=len(tasks), prompt_tokens=prompt,
                              completion_tokens=int(len(tasks) * cfg.max_new_tokens * TYPICAL_ANSWER_SHARE),
                              worst_completion_tokens=len(tasks) * cfg.max_new_tokens, price=None))  # fmt: skip
    answers_a, answers_b = _answers(a, tasks, cfg.max_new_tokens), _answers(b, tasks, cfg.max_new_tokens)
    pairs = [t for t in tasks if t.id in answers_a and t.id in answers_b]
    prompt_tokens = 0
    for task in pairs:
        for first, second in ((answers_a[task.id], answers_b[task.id]), (answers_b[task.id], answers_a[task.id])):
            prompt_tokens += count_tokens(prompts.render(task, first, second, cfg.reference, cfg.judge_verdicts)) + CHAT_OVERHEAD
    # A probability verdict is one letter (a few tokens at most); an endpoint without log-probabilities turns it into a text verdict.
    expected, worst = (LETTER_TOKENS, cfg.judge_max_tokens) if cfg.judge_verdicts == "probability" else (TOKENS_PER_VERDICT, cfg.judge_max_tokens)
    lines.append(Line(what=f"judge ({endpoint.model})", requests=2 * len(pairs), prompt_tokens=prompt_tokens,
                      completion_tokens=2 * len(pairs) * expected, worst_completion_tokens=2 * len(pairs) * worst,
                      price=endpoint.price))  # fmt: skip
    return lines


def print_estimate(cfg: EvalConfig, tasks: list[EvalTask], a: Contestant, b: Contestant, endpoint: Endpoint, prompts: JudgePrompts, console: Console) -> None:
    """The dry-run table."""
    from selfinstruct.teacher.spend import price_for

    lines = estimate_lines(cfg, tasks, a, b, endpoint, prompts)
    for line in lines:
        if line.what.startswith("answers"):
            model = line.what.split("(", 1)[1].rstrip(")")
            line.price = price_for(model, None, None)
    table = Table(title=f"selfinstruct eval --dry-run: {len(tasks)} tasks, nothing sent", title_justify="left")
    for column in ("requests", "prompt tokens", "completion tokens (expected / worst)", "cost (expected / worst)"):
        table.add_column(column, justify="right")
    table.add_column("what", justify="left")

    def money(value: float | None) -> str:
        return "unknown price" if value is None else f"${value:.4f}"

    for line in lines:
        table.add_row(str(line.requests), f"{line.prompt_tokens:,}", f"{line.completion_tokens:,} / {line.worst_completion_tokens:,}",
                      f"{money(line.usd())} / {money(line.usd(worst=True))}", line.what)  # fmt: skip
    console.print(table)
    if endpoint.local or a.local or b.local:
        console.print("local models cost nothing but time: on 2 CPU cores the packaged 1.5B judge takes about 10-20 s per comparison", highlight=False, soft_wrap=True)
