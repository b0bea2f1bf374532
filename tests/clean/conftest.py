"""Datasets `clean` is tried on, and its command line against the mock teacher."""

from __future__ import annotations

import json
from pathlib import Path

from tests.mock_teacher import MockTeacher


def judge_args(mock: MockTeacher) -> list[str]:
    """The gate's judge: the mock teacher over HTTP, answering digit scores with log-probabilities."""
    return ["--judge-base-url", mock.url, "--judge-api-key", "sk-test-secret-123", "--judge-model", "mock-teacher", "--judge-timeout", "5"]


def write(path: Path, rows: list, jsonl: bool = False) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) if jsonl else json.dumps(rows, indent=2), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# One row for each way a row goes, and rows that stay. The mock's gate scores a bare sentiment label given to an
# instruction that does not ask to classify 1 (expected about 1.25), anything else 4 (about 3.9).
ALPACA = [
    {"instruction": "Explain why the sky looks blue during the day.", "input": "", "output": "Air molecules scatter short blue wavelengths of sunlight more than red ones, so blue light reaches the eye from every direction.", "id": "a"},
    {"instruction": "Explain why the sky looks blue during the day!", "input": "", "output": "Because of Rayleigh scattering.", "id": "near-duplicate"},
    {"instruction": "Classify the sentiment of the review.", "input": "I loved every minute.", "output": "Positive", "id": "instance 1"},
    {"instruction": "Classify the sentiment of the review.", "input": "It was a waste of money.", "output": "Negative", "id": "instance 2"},
    {"instruction": "Classify the sentiment of the review.", "input": "I loved every minute.", "output": "Positive", "id": "repeated input"},
    {"instruction": "Give a one-word answer to how you would describe rainy weather in spring.", "input": "", "output": "N/A", "id": "flagged"},
    {"instruction": "Summarize the following article in two sentences.", "input": "", "output": "The article says many things.", "id": "needs input"},
    {"instruction": "What is 15% of 80?", "input": "", "output": "15% of 80 is 14.", "id": "wrong arithmetic"},
    {"instruction": "Write a Python function that returns the reciprocal of a number, and show it on zero.", "input": "",
     "output": "```python\ndef reciprocal(x):\n    return 1 / x\n\nprint(reciprocal(0))\n```", "id": "code error"},
    {"instruction": "Describe how a rainbow forms after a storm.", "input": "", "output": "Positive", "id": "low quality"},
    {"instruction": "Name the capital of France.", "input": "", "output": "Paris is the capital of France.", "reference": "Paris", "id": "with reference"},
]  # fmt: skip
DROPPED = {"near-duplicate": "near_duplicate", "repeated input": "near_duplicate", "flagged": "empty_or_echo_output",
           "needs input": "needs_input", "wrong arithmetic": "wrong_arithmetic", "code error": "code_error", "low quality": "low_quality"}  # fmt: skip

SHAREGPT = [
    {"id": "opens-with-assistant", "conversations": [
        {"from": "gpt", "value": "...and that is the end of the first part."},
        {"from": "human", "value": "Tell me how tides work."},
        {"from": "gpt", "value": "The Moon's gravity pulls the ocean into two bulges that the Earth turns through each day."},
        {"from": "human", "value": ""},
        {"from": "human", "value": "And why are there two high tides a day?"},
        {"from": "gpt", "value": "One bulge faces the Moon and one faces away, and each place passes through both as the Earth turns."}]},
    {"id": "nothing", "conversations": [{"from": "gpt", "value": "Hello! How can I help?"}]},
    {"id": "clean", "conversations": [
        {"from": "system", "value": "You are a helpful assistant."},
        {"from": "human", "value": "Suggest a name for a grey cat."},
        {"from": "gpt", "value": "Ash, Smokey or Pebble would all suit a grey cat."}]},
    {"id": "echo", "conversations": [
        {"from": "human", "value": "Write a haiku about autumn leaves falling."},
        {"from": "gpt", "value": "Write a haiku about autumn leaves falling."}]},
]  # fmt: skip
