"""How often the classification stage calls a task a label task, against known answers, with the embedded teacher.

    .venv/bin/python bench/classify.py                      # this tree
    .venv/bin/python bench/classify.py --root /path/to/other/checkout   # another revision's prompt and code

The 197 packaged seeds (their `is_classification` is the truth) plus 25 tasks that small teachers have
misjudged in real runs (explanations, "Is it possible ...?", code, short facts) are classified in shuffled
batches of --batch, as the self-instruct recipe sends them, with the schema-constrained answer it asks for.
Prints, per group, how many were called label tasks by the teacher, and after the recipe's open-task
rule (stages/classify.py: `open_task`), and lists every wrong verdict.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

TRAPS_NO = [
    "Explain the difference between a cat and a dog.",
    'Can you explain what is meant by "big data" and how it is used?',
    "How can I use NLP to analyze the sentiment of customer reviews?",
    "Which planet is closest to the Sun?",
    "Is it possible to travel from New York to London without changing planes?",
    "What is the difference between a class and an object in Python?",
    "Explain the difference between synchronous and asynchronous programming.",
    "What is the chemical symbol for gold?",
    "Is it possible to generate a poem about love and loss?",
    "Is it possible to create a program that generates a random number between 1 and 100?",
    "Write a function that checks whether a string is a palindrome.",
    "Explain what a neural network is in simple terms.",
    "Implement a Python function that returns the frequency of each word.",
    "Who painted the Mona Lisa?",
    "What are the main differences between renewable and non-renewable energy?",
    "Describe how a spam filter decides whether an email is spam.",
    "Write a SQL query that counts the customers in each country.",
    "What year did the Second World War end?",
    "Why is it important to practice mindfulness?",
    "List three types of clouds and describe each.",
]
TRAPS_YES = [
    "Determine whether the email is spam or not.",
    "Is the following text an advertisement? Answer yes or no.",
    "Classify the animal in the sentence by type: mammal, bird or fish.",
    "Decide whether the movie review is positive or negative.",
    "Is the given year a leap year?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="checkout whose prompts and code are used")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="packaged teacher model")
    parser.add_argument("--batch", type=int, default=5, help="tasks per request (--classify-batch)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    from selfinstruct.stages import classify
    from selfinstruct.teacher.client import as_chat, response_format
    from selfinstruct.teacher.llama_server import local_server
    from selfinstruct.teacher.packaged import resolve_local_model
    from selfinstruct.templates import Templates

    open_task = getattr(classify, "open_task", lambda text: False)
    seeds = [json.loads(line) for line in (args.root / "seed_tasks" / "seed_tasks.jsonl").read_text().splitlines() if line.strip()]
    items = [(s["instruction"], bool(s["is_classification"]), "seeds") for s in seeds]
    items += [(t, False, "traps") for t in TRAPS_NO] + [(t, True, "traps") for t in TRAPS_YES]
    random.Random(0).shuffle(items)
    templates = Templates(args.root / "prompts")
    batches = [items[i : i + args.batch] for i in range(0, len(items), args.batch)]
    work = Path(__file__).parent / "_work"
    work.mkdir(exist_ok=True)
    with local_server(resolve_local_model(args.model), log_path=work / "classify-server.log") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)

        def ask(batch: list[tuple[str, bool, str]]) -> list[bool | None]:
            messages = classify.build_classify_prompt(templates, [b[0] for b in batch], True)
            body = {"response_format": response_format(classify.verdict_schema(len(batch)), "json_object")}
            reply = client.chat.completions.create(model=server.model, messages=as_chat(messages), temperature=0.0, top_p=1.0,
                                                   max_tokens=16 + 8 * len(batch), extra_body=body)  # fmt: skip
            return classify.parse_verdicts(reply.choices[0].message.content or "", len(batch))

        started = time.monotonic()
        with ThreadPoolExecutor(server.slots) as pool:
            verdicts = [v for answer in pool.map(ask, batches) for v in answer]
    print(f"{len(items)} tasks in {len(batches)} requests, {time.monotonic() - started:.0f} s ({args.root})")
    groups: dict[tuple[str, bool], list[int]] = {}
    for (text, truth, group), said in zip(items, verdicts):
        final = bool(said) and not open_task(text)
        counts = groups.setdefault((group, truth), [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += said is True
        counts[2] += final
        counts[3] += said is None
        if final != truth:
            print(f"  wrong ({group}, {'label task' if truth else 'not a label task'}): {text}")
    print(f"{'group':<28}{'tasks':>7}{'called label':>14}{'after open-task rule':>22}{'unreadable':>12}")
    for (group, truth), (n, said, final, unreadable) in sorted(groups.items()):
        print(f"{group + (', label tasks' if truth else ', other tasks'):<28}{n:>7}{said:>14}{final:>22}{unreadable:>12}")


if __name__ == "__main__":
    main()
