"""The verifiers stage: what counts as code, which instances each check drops and why, and that no seed is dropped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from selfinstruct.records import Instance
from selfinstruct.stages.verifiers import Verifier
from selfinstruct.stages.verifiers.code import find_code
from selfinstruct.stages.verifiers.inputs import needs_missing_input

SEEDS = Path(__file__).parents[2] / "seed_tasks" / "seed_tasks.jsonl"


def verify(instruction: str, *pairs: tuple[str, str], run_code: bool = True):  # noqa: ANN201
    instances = [Instance(input=i, output=o) for i, o in pairs]
    return asyncio.run(Verifier(run_code=run_code).verify(instruction, instances))


def reason(instruction: str, inp: str, output: str) -> str | None:
    _, dropped, _ = verify(instruction, (inp, output))
    return dropped[0]["reason"] if dropped else None


@pytest.mark.parametrize(
    ("output", "languages"),
    [
        ("Here it is:\n```python\ndef f(x):\n    return x * 2\n```\nDone.", ["python"]),
        ("```sql\nSELECT name FROM users;\n```", ["sql"]),
        ("```js\nconsole.log(1)\n```\n```\nimport os\nprint(os.sep)\n```", ["js", "python"]),
        ("import math\nprint(math.pi)", ["python"]),  # bare, two statements, code-shaped
        ("SELECT department, AVG(salary) FROM employees GROUP BY department;", ["sql"]),
        # Prose that happens to parse as Python is not code: annotations, names, numbers, assignments alone.
        ("Name: John\nAge: 30", []),
        ("Yes\nNo", []),
        ("x = 2\ny = 3", []),
        ("1. Preheat the oven.\n2. Mix the flour.", []),
        ("Select the best answer from the list.", []),
        ("print('one line')", []),
    ],
)
def test_what_counts_as_code(output: str, languages: list[str]) -> None:
    assert [b.language for b in find_code(output)] == languages


def test_a_stated_output_block_belongs_to_the_code_before_it():
    blocks = find_code("```python\nprint(sorted([3, 1, 2]))\n```\nOutput:\n```\n[1, 2, 3]\n```")
    assert len(blocks) == 1 and blocks[0].stated_output == "[1, 2, 3]"


def test_python_that_fails_is_dropped_with_a_readable_reason():
    instruction = "Write a Python function that divides two numbers."
    _, dropped, _ = verify(
        instruction,
        ("", "```python\ndef divide(a, b):\n    return a / b\n\nprint(divide(1, 0))\n```"),
        ("", "```python\ndef divide(a, b)\n    return a / b\n```"),
        ("", "```python\nwhile True:\n    pass\n```"),
    )
    assert [(d["reason"], d["detail"]) for d in dropped] == [
        ("code_error", "ZeroDivisionError: division by zero (line 2)"),
        ("code_syntax", "SyntaxError: expected ':' (line 1)"),
        ("code_timeout", "timed out (limits: 5 s wall, 3 s CPU)"),
    ]


def test_python_that_works_is_kept_and_counted():
    kept, dropped, checks = verify(
        "Write a Python function that reverses a string.",
        ("", "```python\ndef reverse(s):\n    return s[::-1]\n\nprint(reverse('abc'))\n```\nOutput:\n```\ncba\n```"),
        ("", ">>> 'abc'[::-1]\n'cba'"),
        ("", "```js\nconst r = s => [...s].reverse().join('')\n```"),
    )
    assert len(kept) == 3 and dropped == []
    assert checks == {"python_parsed": 2, "python_ran": 2, "python_output_matched": 1, "python_session": 1, "other_language:js": 1}


def test_a_stated_output_that_differs_from_what_the_program_prints_is_dropped():
    assert reason("Sort a list in Python.", "", "```python\nprint(sorted([3, 1, 2]))\n```\nOutput:\n```\n[3, 2, 1]\n```") == "code_wrong_output"
    assert reason("Show a Python session.", "", ">>> 2 + 2\n5") == "code_error"
    # Not compared where the program cannot print the same twice.
    assert reason("Pick a number.", "", "```python\nimport random\nprint(random.randint(1, 6))\n```\nOutput:\n```\n4\n```") is None


def test_what_the_sandbox_cannot_judge_is_kept_unchecked():
    kept, dropped, checks = verify(
        "Write Python that prints the sum of the list nums.",
        ("", "```python\nimport pandas as pd\nprint(pd.Series([1]).sum())\n```"),  # not in the standard library
        ("", "```python\nname = input('Name? ')\nprint(name)\n```"),  # stdin is empty
        ("", "```python\nprint(sum(nums))\n```"),  # nums is the task's own
        ("", "```python\nimport urllib.request\nprint(urllib.request.urlopen('http://example.com').read())\n```"),
    )
    assert len(kept) == 4 and dropped == []
    assert sorted(k for k in checks if k.startswith("python_unchecked")) == [
        "python_unchecked:EOFError", "python_unchecked:ModuleNotFoundError", "python_unchecked:NameError", "python_unchecked:URLError",
    ]  # fmt: skip


def test_sql_is_parsed_and_run_code_can_be_turned_off():
    assert reason("Write an SQL query.", "", "```sql\nSELECT FROM WHERE name = ;\n```") == "sql_syntax"
    assert reason("Write an SQL query.", "", "```sql\nSELECT name FROM users WHERE age > 30;\n```") is None
    kept, dropped, checks = verify("Write Python.", ("", "```python\n1 / 0\n```"), run_code=False)
    assert kept and checks == {"python_parsed": 1}


def test_wrong_arithmetic_and_missing_input_are_dropped():
    assert reason("What is 23 + 19?", "", "23 + 19 = 41") == "wrong_arithmetic"
    assert reason("What is 23 + 19?", "", "23 + 19 = 42") is None
    assert reason("Convert 5 kilometers to miles.", "", "That is 8 miles.") == "wrong_arithmetic"
    # Not arithmetic: a time range, a year and month.
    assert reason("What is this schedule? 14:00 - 16:00", "", "A two-hour slot, 22 minutes late.") is None
    assert reason("What is the report of 2021/11 about?", "", "It covers 12 funds.") is None
    assert reason("Given a paragraph, extract the main ideas.", "", "The main ideas are A and B.") == "needs_input"
    assert reason("Given a paragraph, extract the main ideas.", "Cats sleep. Dogs bark.", "Cats sleep; dogs bark.") is None


@pytest.mark.parametrize(
    ("instruction", "missing"),
    [
        ("Summarize the following article.", True),
        ("Rewrite this sentence in the passive voice.", True),
        ("Find the grammatical errors in the text below.", True),
        ("Classify the following animals as mammals or birds:", True),
        ("Explain what this code does.", True),
        ("Translate this sentence into French: Where is the station?", False),
        ("Correct the spelling of this word: recieve", False),
        ('Given the sentence "The cat sat", name its subject.', False),
        ("Given a list of numbers, write a function that returns the largest.", False),
        ("Write a story about this summer's heatwave.", False),
        ("Why did you choose this question?", False),
        ("Print the even numbers below 10 in Python.", False),
        # Material run into the instruction, as datasets that join instruction and input write it.
        ("Paraphrase this statement in your own words. AI is changing how we work.", False),
        ("Given a sequence of numbers, calculate the average 1, 2, 3, 4, 5", False),
        ("Give an example of a metaphor that uses the following object Stars", False),
        ("```\n14:00 - 16:00\n```\nWhat is this code doing?", False),
        ("Summarize the following entry", True),
        ("Write a summary of the article on climate change and its impact on marine life.", True),  # a make demo row
        ("Write an article on climate change.", False),
        ("Analyze the tone and structure of this letter for professionalism.", True),  # make demo rows
        ("Can you explain why this product is unique?", True),
        ("Write a cover letter for this job.", False),
    ],
)
def test_the_missing_input_rule(instruction: str, missing: bool) -> None:
    assert needs_missing_input(instruction, "") is missing
    assert needs_missing_input(instruction, "some text") is False


def test_no_seed_instance_is_dropped():
    seeds = [json.loads(line) for line in SEEDS.read_text(encoding="utf-8").splitlines() if line.strip()]
    verifier = Verifier()

    async def all_seeds() -> list[tuple[str, list[dict], dict[str, int]]]:
        results = []
        for seed in seeds:
            instances = [Instance(**i) for i in seed["instances"]]
            _, dropped, checks = await verifier.verify(seed["instruction"], instances)
            results.append((seed["instruction"], dropped, checks))
        return results

    results = asyncio.run(all_seeds())
    assert [(i, d) for i, d, _ in results if d] == []
    ran = sum(c.get("python_ran", 0) for _, _, c in results)
    unchecked = sum(n for _, _, c in results for k, n in c.items() if k.startswith("python_unchecked"))
    assert ran >= 4 and verifier.runs == ran + unchecked  # the seeds' code tasks did run


def test_a_call_the_input_gives_is_run_and_its_stated_result_checked():
    code = "```python\ndef factorial(n):\n    return 1 if n < 2 else n * factorial(n - 1)\n```\n"
    instruction = "Write a Python function that returns the factorial of a number."
    kept, _, checks = verify(instruction, ("factorial(5)", code + "Output: 120"))
    assert kept and checks["python_input_called"] == 1 and checks["python_output_matched"] == 1
    assert reason(instruction, "factorial(5)", code + "Output: 100") == "code_wrong_output"
    # Without a stated result the call is not made: there is nothing to compare it with.
    assert verify(instruction, ("factorial(5)", code))[2] == {"python_parsed": 1, "python_ran": 1}


def test_a_description_of_the_output_is_not_taken_for_the_output():
    code = "```python\nprint([n for n in range(10) if n % 2 == 0])\n```\n"
    assert reason("Print the even numbers below 10 in Python.", "", code + "Output: a list of the even numbers below ten") is None
    assert reason("Print the even numbers below 10 in Python.", "", code + "Output: [0, 2, 4, 6]") == "code_wrong_output"
