"""`clean --dry-run`: what the gate would ask, its tokens and cost, after the cheap checks; nothing is sent, run or written.

    print_estimate(cfg, table, console)     # table: DATA read, repaired, deduplicated and flagged (command.prepare)

The gate's prompts are rendered from the real template with the real rows and counted with tiktoken.
The verifiers do not run in a dry run (they run code), so rows they would drop are still counted as
asked: the figure is an upper bound. With the gate on, the verifiers' judge questions (answer kind, and
--consistency's answers) are counted too. Scores already in the work directory's journal are not counted.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from selfinstruct.clean.gate import gate_asks
from selfinstruct.clean.journal import load_state
from selfinstruct.clean.rows import CleanRow, Exchange, RowTable
from selfinstruct.clean.settings import CleanConfig
from selfinstruct.judge.pointwise import SELF_ANSWER_TOKENS, SHORT_OUTPUT_WORDS, QualityJudge
from selfinstruct.teacher.spend import count_tokens

CHAT_OVERHEAD = 8
DIGIT_TOKENS = 3  # the digit-only reply (max_tokens of a probability score)
TEXT_TOKENS = 96  # a text score, where the endpoint sends no log-probabilities: the worst case


def judge_check_asks(rows: list[CleanRow], cfg: CleanConfig) -> tuple[set[tuple[str, str]], list[Exchange]]:
    """The verifiers' judge questions a run would ask (clean/judged.py): one answer-kind question per distinct instruction and
    input whose output's form the rules doubt, and the short answers --consistency asks again."""
    from selfinstruct.records import Instance
    from selfinstruct.stages.verifiers.consistency import short_answer
    from selfinstruct.stages.verifiers.kind import suspect_kind

    exchanges = [e for r in rows if r.kept for e in r.exchanges]
    kind = {(e.instruction.strip(), e.input.strip()) for e in exchanges if suspect_kind(e.instruction, e.input, e.output) is not None}
    short = [e for e in exchanges if cfg.consistency and short_answer(e.instruction, Instance(input=e.input, output=e.output), False)]
    return kind, short


def print_estimate(cfg: CleanConfig, table: RowTable, console: Console) -> None:
    from selfinstruct.teacher.endpoint import resolve_endpoint

    rows = table.rows
    reasons: Counter[str] = Counter(reason for r in rows for reason in r.reasons)
    out = Table(title=f"selfinstruct clean --dry-run: {len(rows):,} {table.format} rows, nothing sent", show_header=False, title_justify="left")
    out.add_column(style="bold")
    out.add_column(justify="right")
    out.add_column()
    out.add_row("rows", f"{len(rows):,}", f"of {table.total:,} in {table.path}")
    for reason, n in reasons.most_common():
        out.add_row(f"  dropped: {reason}", f"{n:,}", "")
    for name, n in table.repairs.items():
        out.add_row(f"  repaired: {name.replace('_', ' ')}", f"{n:,}", "")
    left = sum(1 for r in rows if r.kept)
    out.add_row("left for the verifiers", f"{left:,}", "and the gate" if cfg.gate else "")
    if cfg.gate:
        endpoint = resolve_endpoint(cfg.judge)
        asks = gate_asks(rows, QualityJudge(None, own_reference=cfg.judge_own_answer), endpoint.model, cfg)  # type: ignore[arg-type]
        done = load_state(cfg.work_dir).scored if cfg.work_dir.is_dir() else {}
        todo = {a.key: a for a in asks if a.key not in done}
        judge = QualityJudge(None, own_reference=cfg.judge_own_answer)  # type: ignore[arg-type]
        prompt = sum(count_tokens(judge.score_prompt(a.instruction, a.input, a.output, a.reference)) + CHAT_OVERHEAD for a in todo.values())
        expected, worst = len(todo) * DIGIT_TOKENS, len(todo) * TEXT_TOKENS
        # Short outputs without a reference: the judge first answers the request itself, once per request.
        own = {(a.instruction, a.input) for a in todo.values() if cfg.judge_own_answer and not a.reference and a.output.strip()
               and len(a.output.split()) <= SHORT_OUTPUT_WORDS}  # fmt: skip
        prompt += sum(count_tokens(judge.self_answer_prompt(i, x)) + CHAT_OVERHEAD for i, x in own)
        expected, worst = expected + len(own) * SELF_ANSWER_TOKENS // 2, worst + len(own) * SELF_ANSWER_TOKENS
        out.add_row("gate requests", f"{len(todo) + len(own):,}", f"{len(todo):,} scores and {len(own):,} own answers to short-answer requests; "
                    f"{len(asks) - len(todo):,} scores already journaled; at most this many (the verifiers may drop rows first)")  # fmt: skip
        out.add_row("gate tokens", f"{prompt + expected:,}", f"prompt {prompt:,}, completion {expected:,} (worst {worst:,}); judge {endpoint.model}")
        if endpoint.price is not None:
            usd = (prompt * endpoint.price[0] + expected * endpoint.price[1]) / 1e6
            worst_usd = (prompt * endpoint.price[0] + worst * endpoint.price[1]) / 1e6
            out.add_row("gate cost", f"${usd:.4f}", f"worst ${worst_usd:.4f}")
        else:
            out.add_row("gate cost", "unknown", "no built-in price; pass --judge-price-input and --judge-price-output")
    if cfg.gate and cfg.verifiers and cfg.judge_checks:
        kind, short = judge_check_asks(rows, cfg)
        out.add_row("judge checks", f"{len(kind) + len(short) * cfg.consistency:,}",
                    f"{len(kind):,} answer-kind questions" + (f", {len(short) * cfg.consistency:,} answers to {len(short):,} short answers "
                    f"(--consistency {cfg.consistency})" if cfg.consistency else "") + "; at most this many")  # fmt: skip
    console.print(out)
    if cfg.gate and resolve_endpoint(cfg.judge).local:
        console.print("the local judge costs nothing but time: on 2 CPU cores the packaged 1.5B scores a short row in about 2-3 s, longer ones slower",
                      highlight=False, soft_wrap=True)  # fmt: skip
