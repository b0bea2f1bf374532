"""Properties of the project's seed task file, seed_tasks/seed_tasks.jsonl.

The seeds are the examples every proposal request shows the teacher, so they must be valid,
varied, and pass the same filters that machine-generated instructions have to pass.
The file is read with plain json here so that this test does not depend on the seed reader.
"""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path

import pytest
from rouge_score import rouge_scorer, tokenizers

SEED_PATH = Path(__file__).resolve().parents[1] / "seed_tasks" / "seed_tasks.jsonl"

BLOCKED_WORDS = re.compile(
    r"\b(?:image|images|graph|graphs|picture|pictures|file|files|map|maps|draw|plot|go to"
    r"|video|audio|music|flowchart|diagram)\b",
    re.IGNORECASE,
)
TASK_KEYS = {"id", "name", "instruction", "instances", "is_classification"}
INSTANCE_KEYS = {"input", "output"}


@pytest.fixture(scope="module")
def tasks() -> list[dict]:
    rows = []
    with SEED_PATH.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            assert line.strip(), f"line {number} is blank"
            rows.append(json.loads(line))
    return rows


def test_enough_tasks_and_classification_tasks(tasks: list[dict]) -> None:
    assert len(tasks) >= 150
    assert sum(task["is_classification"] for task in tasks) >= 25


def test_share_of_tasks_with_input(tasks: list[dict]) -> None:
    with_input = sum(any(inst["input"].strip() for inst in task["instances"]) for task in tasks)
    assert 0.25 <= with_input / len(tasks) <= 0.45


def test_fields_and_types(tasks: list[dict]) -> None:
    for task in tasks:
        assert set(task) == TASK_KEYS, task.get("id")
        assert isinstance(task["id"], str)
        assert isinstance(task["name"], str) and re.fullmatch(r"[a-z0-9]+(?:_[a-z0-9]+)*", task["name"])
        assert isinstance(task["instruction"], str)
        assert isinstance(task["is_classification"], bool)
        assert isinstance(task["instances"], list) and 1 <= len(task["instances"]) <= 5
        for instance in task["instances"]:
            assert set(instance) == INSTANCE_KEYS, task["id"]
            assert isinstance(instance["input"], str) and isinstance(instance["output"], str)


def test_ids_are_sequential_and_names_unique(tasks: list[dict]) -> None:
    assert [task["id"] for task in tasks] == [f"seed_task_{i}" for i in range(len(tasks))]
    names = [task["name"] for task in tasks]
    assert len(set(names)) == len(names)


def test_instructions_pass_the_generation_filters(tasks: list[dict]) -> None:
    for task in tasks:
        instruction = task["instruction"]
        words = len(instruction.split())
        assert 3 < words <= 150, task["id"]
        assert not BLOCKED_WORDS.search(instruction), task["id"]
        assert not instruction.lower().startswith("write a program"), task["id"]
        assert re.match(r"[A-Za-z]", instruction), task["id"]
        assert instruction == instruction.strip(), task["id"]


def test_outputs_are_valid_instances(tasks: list[dict]) -> None:
    for task in tasks:
        inputs = [instance["input"] for instance in task["instances"]]
        assert len(set(inputs)) == len(inputs), task["id"]
        for instance in task["instances"]:
            output = instance["output"].strip()
            assert output, task["id"]
            assert output != instance["input"].strip(), task["id"]
            assert not output.endswith(":"), task["id"]


def test_no_near_duplicate_instructions(tasks: list[dict]) -> None:
    # Same tokens and LCS F-measure as RougeScorer(["rougeL"], use_stemmer=False).score,
    # but each instruction is tokenised once instead of once per pair.
    tokenizer = tokenizers.DefaultTokenizer(use_stemmer=False)
    tokens = [tokenizer.tokenize(task["instruction"]) for task in tasks]
    worst = max(
        (rouge_scorer._score_lcs(tokens[i], tokens[j]).fmeasure, i, j)
        for i, j in combinations(range(len(tasks)), 2)
    )
    score, i, j = worst
    reference = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    assert reference.score(tasks[i]["instruction"], tasks[j]["instruction"])["rougeL"].fmeasure == score
    assert score <= 0.7, (tasks[i]["instruction"], tasks[j]["instruction"], score)
