"""Each contestant's answers to the tasks: read from its file, generated locally, or asked through the teacher seam.

    side = collect_answers(contestant, tasks, options, judge_settings, run, state, console)
    side.answers["task_7"], side.missing, side.generated

Generated answers are journaled as they arrive (a batch at a time locally, one by one from an
endpoint), so an interrupted run keeps them and a rerun asks only for the rest. A `.gguf` model
runs in the embedded llama.cpp server and answers through the same Teacher as any hosted model:
the completions API with the Alpaca-style prompt, or the chat API with the model's chat template.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from selfinstruct.endpoint_settings import TeacherSettings
from selfinstruct.errors import UserError
from selfinstruct.evaluate.answer_files import match_answers, read_answer_rows
from selfinstruct.evaluate.contestants import Contestant, TemplateChoice
from selfinstruct.evaluate.generation import batched_answers, load_contestant, render_prompt, user_message
from selfinstruct.evaluate.journal import Answer, EvalState, key_hash, prior_usage
from selfinstruct.evaluate.tasks import EvalTask
from selfinstruct.run import RunDir
from selfinstruct.teacher.client import Decoding
from selfinstruct.teacher.endpoint import open_teacher, resolve_endpoint


class AnswerOptions(BaseModel):
    """How local and API contestants are prompted and decoded."""

    template: TemplateChoice | None = None
    max_new_tokens: int = 256
    batch_size: int = 8
    temperature: float = 0.0
    precision: str = "auto"  # local transformers models: auto, bf16 or fp32


class SideAnswers(BaseModel):
    """One contestant's answers by task id, and what is missing."""

    answers: dict[str, str]
    missing: list[str] = []
    extra: int = 0  # answer-file rows that match no task
    conflicting: list[str] = []
    generated: int = 0  # answers produced by this invocation
    reused: int = 0  # answers taken from the journal
    seconds: float = 0.0
    description: str = ""


def contestant_id(contestant: Contestant, options: AnswerOptions) -> str:
    """Everything that changes a contestant's answers; journaled answers are reused only under the same id."""
    fmt = contestant.prompt_format(options.template)
    dtype = f"|precision={options.precision}" if contestant.kind == "transformers" else ""
    return f"{contestant.source}|prompt={fmt}|max_new_tokens={options.max_new_tokens}|temperature={options.temperature:g}{dtype}"


def contestant_settings(contestant: Contestant, options: AnswerOptions, judge: TeacherSettings) -> TeacherSettings:
    """Teacher settings for a contestant that answers through the seam; spend caps are the run's (the judge's)."""
    caps = {"max_usd": judge.max_usd, "max_total_tokens": judge.max_total_tokens, "max_attempts": judge.max_attempts,
            "retry_wait": judge.retry_wait, "timeout": judge.timeout}  # fmt: skip
    if contestant.kind == "gguf":
        model = str(contestant.path) if contestant.path else contestant.spec
        api = "completions" if contestant.prompt_format(options.template) != "chat" else "chat"
        return TeacherSettings(teacher="local", local_model=model, api=api, local_ctx=judge.local_ctx, local_threads=judge.local_threads,
                               local_engine=judge.local_engine, local_slots=judge.local_slots, **caps)  # fmt: skip
    # openai:MODEL answers at its own base URL, or where the judge is hosted (with the judge's key).
    endpoint = {"base_url": contestant.base_url or judge.base_url, "api_key": judge.api_key}
    return TeacherSettings(teacher="openai", model=contestant.model, api="chat", requests_per_minute=judge.requests_per_minute, **endpoint, **caps)


def collect_answers(
    contestant: Contestant,
    tasks: list[EvalTask],
    options: AnswerOptions,
    judge: TeacherSettings,
    run: RunDir,
    state: EvalState,
    console: Console,
) -> SideAnswers:
    """Answers for every task this contestant can answer; generates and journals whatever is not yet known."""
    if contestant.kind == "file":
        return file_answers(contestant, tasks)
    cid = contestant_id(contestant, options)
    known = {t.id: a.response for t in tasks if (a := state.answer_for(cid, t)) is not None}
    todo = [t for t in tasks if t.id not in known]
    side = SideAnswers(answers=known, reused=len(known))
    if not todo:
        side.description = f"{contestant.spec}: all {len(known)} answers from the journal"
        return side
    started = time.monotonic()
    record = _recorder(cid, run, state, side)
    if contestant.kind == "transformers":
        side.description = _generate_locally(contestant, todo, options, record, console)
    else:
        side.description = asyncio.run(_answer_through_teacher(contestant, todo, options, judge, run, record, console))
    side.seconds = time.monotonic() - started
    side.answers = {t.id: side.answers[t.id] for t in tasks if t.id in side.answers}
    return side


def file_answers(contestant: Contestant, tasks: list[EvalTask]) -> SideAnswers:
    """A file contestant's answers matched to the tasks; UserError when it answers none of them."""
    assert contestant.path is not None
    matched = match_answers(read_answer_rows(contestant.path, contestant.side), tasks)
    if not matched.answers:
        raise UserError(f"--{contestant.side} {contestant.spec}: none of its answers matches a task of the task file")
    return SideAnswers(answers=matched.answers, missing=matched.missing, extra=matched.extra, conflicting=matched.conflicting,
                       description=f"answers from {contestant.path}")  # fmt: skip


def _recorder(cid: str, run: RunDir, state: EvalState, side: SideAnswers) -> Callable[..., None]:
    def record(task: EvalTask, text: str, finish: str | None, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        answer = Answer(contestant=cid, task=task.id, key=key_hash(task), response=text, finish_reason=finish,
                        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, seconds=round(seconds, 3))  # fmt: skip
        run.append(answer)
        state.add(answer)
        side.answers[task.id] = text
        side.generated += 1

    return record


def _generate_locally(contestant: Contestant, todo: list[EvalTask], options: AnswerOptions, record: Callable[..., None], console: Console) -> str:
    template = contestant.template(options.template)
    console.print(f"loading {contestant.spec} for --{contestant.side}", highlight=False, soft_wrap=True)
    model, tokenizer = load_contestant(contestant, options.precision)
    prompts = [render_prompt(t, template, tokenizer, contestant.spec) for t in todo]
    done = 0
    started = time.monotonic()
    for batch in batched_answers(model, tokenizer, prompts, template=template, max_new_tokens=options.max_new_tokens,
                                 batch_size=options.batch_size, temperature=options.temperature):  # fmt: skip
        # Answers of one batch finish together: each is charged its share of the batch's time.
        now = time.monotonic()
        for index, answer in batch:
            record(todo[index], answer.text, answer.finish_reason, answer.prompt_tokens, answer.completion_tokens, (now - started) / len(batch))
        started = now
        done += len(batch)
        console.print(f"  --{contestant.side}: {done}/{len(todo)} answers", highlight=False, soft_wrap=True)
    return f"{contestant.spec}: generated locally with transformers ({contestant.prompt_format(options.template)} prompt)"


async def _answer_through_teacher(
    contestant: Contestant, todo: list[EvalTask], options: AnswerOptions, judge: TeacherSettings, run: RunDir,
    record: Callable[..., None], console: Console,
) -> str:  # fmt: skip
    settings = contestant_settings(contestant, options, judge)
    endpoint = resolve_endpoint(settings)
    if settings.max_usd is not None and endpoint.price is None:
        raise UserError(f"--max-usd: no built-in price for --{contestant.side} model '{endpoint.model}'; cap the run with --max-total-tokens instead")
    template = contestant.template(options.template) if contestant.kind == "gguf" else None
    decoding = Decoding(temperature=options.temperature, top_p=1.0, max_tokens=options.max_new_tokens, stop=template.headers() if template else None)
    log = run.path / f"contestant_{contestant.side}.log"
    with open_teacher(endpoint, server_log=log, log=run.log_request, spent=prior_usage(run.path)) as teacher:
        console.print(f"--{contestant.side}: {teacher.description}", highlight=False, soft_wrap=True)
        try:
            done = 0

            async def answer(task: EvalTask) -> None:
                nonlocal done
                prompt = template.render(task.instruction, task.input) if template else user_message(task)
                reply = await teacher.complete(prompt, decoding, stage="answer")
                text = template.cut(reply.text.strip())[0] if template else reply.text.strip()
                record(task, text, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens, reply.latency_s)
                done += 1
                if done % 10 == 0 or done == len(todo):
                    console.print(f"  --{contestant.side}: {done}/{len(todo)} answers", highlight=False, soft_wrap=True)

            await run_all([answer(t) for t in todo])
        finally:
            await teacher.aclose()
        return teacher.description


async def run_all(jobs: list[Awaitable[Any]]) -> None:
    """Run coroutines concurrently (the teacher bounds how many are in flight); the first failure cancels the rest."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    if not tasks:
        return
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
