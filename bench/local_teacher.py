"""How fast is the embedded teacher on this machine, and what does prefix reuse buy?

    .venv/bin/python bench/local_teacher.py                      # both packaged models
    .venv/bin/python bench/local_teacher.py --models qwen2.5-coder-0.5b --threads 1

For each packaged model it starts the same llama.cpp server `generate` uses and reports:
- prompt tokens/s (a ~500-token prompt nothing is cached for) and generation tokens/s (streamed);
- prefix reuse: ~10 classification-style requests sharing a long fixed prefix, laid out
  fixed-part-first (llama.cpp reuses the KV cache of the prefix shared with the previous
  prompt) against varying-part-first (nothing to reuse), side by side, as a ratio;
- interleaving: the same requests alternating between two different prefixes, which defeats the
  reuse of the previous prompt alone, with the server's RAM state cache on (our default) and off;
- concurrency: three requests sent at once, to show whether the server overlaps or queues them.
Server logs go to bench/_work/. Numbers depend on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from pathlib import Path

import openai

from selfinstruct.teacher.packaged import PACKAGED_MODELS, resolve_local_model
from selfinstruct.teacher.llama_server import DEFAULT_N_CTX, LocalEndpoint, default_threads, local_server

WORK = Path(__file__).parent / "_work"

QUESTION = "Can the following task be regarded as a classification task with finite output labels?"
DEMOS = [
    ("Given my personality and the job, tell me if I would be suitable.", "Yes"),
    ("Give me an example of a time when you had to use your sense of humor.", "No"),
    ("Replace the placeholders in the given text with appropriate named entities.", "No"),
    ("Fact checking - tell me if the statement is true, false, or unknown, based on your knowledge.", "Yes"),
    ("Return the SSN number for the person.", "No"),
    ("Detect if the Reddit thread contains hate speech.", "Yes"),
    ("Analyze the sentences below to identify biases.", "No"),
    ("Select the longest sentence in terms of the number of words in the paragraph.", "No"),
    ("Find out the toxic word or phrase in the sentence.", "No"),
    ("Rank these countries by their population.", "No"),
    ("You are provided with a news article, and you need to identify all the categories it belongs to.", "Yes"),
    ("Given a credit card statement, categorize each transaction as groceries, travel, dining or other.", "Yes"),
    ("Write a poem about the sea in the style of a pirate shanty.", "No"),
    ("Decide whether the email is spam or not spam.", "Yes"),
    ("Summarize the following meeting notes in three bullet points.", "No"),
    ("Is the sentiment of this product review positive, negative or neutral?", "Yes"),
    ("Translate the sentence into French.", "No"),
    ("Tell me which programming language this code snippet is written in.", "Yes"),
    ("Suggest a name for a new coffee shop near a university.", "No"),
    ("Identify whether the given number is prime.", "Yes"),
    ("Explain the difference between weather and climate to a ten-year-old.", "No"),
    ("Classify the animal as a mammal, bird, reptile, amphibian or fish.", "Yes"),
    ("Give three tips for staying focused while working from home.", "No"),
    ("Label the grammatical mood of the sentence: indicative, imperative or subjunctive.", "Yes"),
]
FIXED = QUESTION + "\n\n" + "\n\n".join(f"Task: {t}\nIs it classification? {a}" for t, a in DEMOS)
# A second fixed part of the same length, for the interleaving test.
FIXED_B = FIXED.replace("Is it classification?", "Classification task?")
NEW_TASKS = [
    "Determine whether the tweet is sarcastic.",
    "Write a cover letter for a junior data analyst position.",
    "Tell me if the sentence is in the past, present or future tense.",
    "Plan a three-day trip to Lisbon on a budget.",
    "Decide whether the restaurant review mentions the service, the food or the price.",
    "Give an example of a metaphor about time.",
    "Is the following triangle acute, right or obtuse, given its angles?",
    "Describe how a bill becomes a law in the United States.",
    "Which of the two sentences is more formal?",
    "Generate a list of five interview questions for a nurse.",
]


def shared_first(fixed: str, task: str) -> str:
    return f"{fixed}\n\nTask: {task}\nIs it classification?"


def varying_first(fixed: str, task: str) -> str:
    # Same tokens, but the part that changes comes first, so no two prompts share a prefix.
    return f"Task: {task}\n\n{fixed}\n\nAnswer for the task given at the top. Is it classification?"


def ask(client: openai.OpenAI, ep: LocalEndpoint, prompt: str, max_tokens: int) -> tuple[float, int]:
    """Send one chat request; return its wall time and prompt token count."""
    start = time.perf_counter()
    r = client.chat.completions.create(
        model=ep.model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0
    )
    return time.perf_counter() - start, r.usage.prompt_tokens if r.usage else 0


def prompt_speed(client: openai.OpenAI, ep: LocalEndpoint) -> float:
    # A fresh nonce first means no prefix of this prompt was seen before.
    seconds, n = ask(client, ep, f"[{uuid.uuid4()}]\n{FIXED}\n\nTask: {NEW_TASKS[0]}\nIs it classification?", 1)
    return n / seconds


def generation_speed(client: openai.OpenAI, ep: LocalEndpoint, tokens: int) -> tuple[float, int]:
    """Streamed decode rate: chunks after the first over the time they took (prompt time excluded)."""
    stream = client.chat.completions.create(
        model=ep.model,
        messages=[{"role": "user", "content": "Count from 1 to 500, separated by commas, and nothing else."}],
        max_tokens=tokens, temperature=0, stream=True,
    )  # fmt: skip
    stamps = [time.perf_counter() for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]), len(stamps)


def batch(client: openai.OpenAI, ep: LocalEndpoint, prompts: list[str]) -> tuple[float, float, int]:
    """Total time, time of the first request, and mean prompt tokens for prompts sent one by one."""
    times, sizes = zip(*(ask(client, ep, p, 3) for p in prompts))
    return sum(times), times[0], sum(sizes) // len(sizes)


CONCURRENT_PROMPT = "Write one sentence about the number seven."


def concurrency(client: openai.OpenAI, ep: LocalEndpoint) -> list[tuple[float, float]]:
    """Start and end of three identical requests sent at once, relative to the send."""
    spans: dict[int, tuple[float, float]] = {}
    t0 = time.perf_counter()

    def one(i: int) -> None:
        s = time.perf_counter()
        ask(client, ep, CONCURRENT_PROMPT, 24)
        spans[i] = (s - t0, time.perf_counter() - t0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(spans.values(), key=lambda s: s[1])


def bench_model(key: str, n_ctx: int, threads: int, gen_tokens: int, interleave: bool) -> None:
    model = resolve_local_model(key)
    print(f"\n== {key}: {model.path.stat().st_size / 1e6:,.0f} MB, n_ctx {n_ctx}, {threads} threads")
    start = time.perf_counter()
    with local_server(model, n_ctx, threads, log_path=WORK / f"{key}.log") as ep:
        print(f"server ready in {time.perf_counter() - start:.1f} s")
        client = openai.OpenAI(base_url=ep.base_url, api_key=ep.api_key, max_retries=0, timeout=900)
        ask(client, ep, "Say hi.", 4)  # warm-up: page in the weights
        print(f"prompt processing : {prompt_speed(client, ep):6.1f} tokens/s")
        rate, n = generation_speed(client, ep, gen_tokens)
        print(f"generation        : {rate:6.1f} tokens/s ({n} tokens streamed)")

        vary_total, vary_first, size = batch(client, ep, [varying_first(FIXED, t) for t in NEW_TASKS])
        share_total, share_first, _ = batch(client, ep, [shared_first(FIXED, t) for t in NEW_TASKS])
        print(f"prefix reuse, {len(NEW_TASKS)} requests of ~{size} prompt tokens, 3 output tokens each:")
        print(f"  varying part first : {vary_total:6.1f} s  (first request {vary_first:.1f} s)")
        print(f"  fixed part first   : {share_total:6.1f} s  (first request {share_first:.1f} s, later ones reuse the prefix)")
        print(f"  speed-up           : {vary_total / share_total:6.1f}x")
        alternating = [shared_first(FIXED if i % 2 == 0 else FIXED_B, t) for i, t in enumerate(NEW_TASKS)]
        if interleave:
            on, _, _ = batch(client, ep, alternating)

        spans = concurrency(client, ep)
        first = spans[0][1] - spans[0][0]
        gaps = [b[1] - a[1] for a, b in zip(spans, spans[1:])]
        # Served together, identical requests end together; queued, each ends about one
        # request's time after the previous (later ones a bit sooner: the prompt is cached).
        verdict = "served one at a time (queued)" if min(gaps) > 0.4 * first else "overlapped"
        shown = ", ".join(f"{s:.1f}-{e:.1f} s" for s, e in spans)
        print(f"3 concurrent requests: {shown}; ends {', '.join(f'{g:.1f}' for g in gaps)} s apart -> {verdict}")

    if interleave:
        with local_server(model, n_ctx, threads, log_path=WORK / f"{key}-nocache.log", ram_cache_mb=0) as ep:
            client = openai.OpenAI(base_url=ep.base_url, api_key=ep.api_key, max_retries=0, timeout=900)
            ask(client, ep, "Say hi.", 4)
            off, _, _ = batch(client, ep, alternating)
        print(f"two prefixes alternating, {len(NEW_TASKS)} requests:")
        print(f"  RAM state cache off (reuses the previous prompt only) : {off:6.1f} s")
        print(f"  RAM state cache on (default)                          : {on:6.1f} s  -> {off / on:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(PACKAGED_MODELS), choices=list(PACKAGED_MODELS))
    parser.add_argument("--ctx", type=int, default=DEFAULT_N_CTX, help="context size (default: what generate uses)")
    parser.add_argument("--threads", type=int, default=default_threads(), help="CPU threads (default: available cores)")
    parser.add_argument("--gen-tokens", type=int, default=128, help="tokens to stream for the generation speed")
    parser.add_argument("--no-interleave", action="store_true", help="skip the two-prefix RAM cache comparison")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, {default_threads()} usable; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    for key in args.models:
        bench_model(key, args.ctx, args.threads, args.gen_tokens, not args.no_interleave)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
