"""The report's verifiers section, counted from a run's journal: drops by reason with examples and why, checks passed."""

from __future__ import annotations

import json

from selfinstruct.report import make_report
from selfinstruct.run import CONFIG
from tests.conftest import FakeTeacher, drive

TASKS = """###
1. Instruction: What is 15% of 80?
1. Input:
<noinput>
1. Output:
15% of 80 is 14.
###
2. Instruction: Write a Python loop that prints the squares of 1 to 3.
2. Input:
<noinput>
2. Output:
```python
for n in range(1, 4):
    print(n * n)
```"""


def test_the_report_shows_what_each_verifier_dropped_and_why(tmp_path):
    pipeline, run = drive(tmp_path, "alpaca", FakeTeacher({"propose": [TASKS]}), budget=1)
    run.write_json(CONFIG, pipeline.cfg.public_dump())
    html, data, _ = make_report(run.path)
    verified = json.loads(data.read_text())["verified"]
    assert verified == {
        "on": True,
        "dropped": [{"reason": "wrong_arithmetic", "count": 1, "examples": [
            {"instruction": "What is 15% of 80?", "output": "15% of 80 is 14.", "why": "15% of 80 = 12, the output says 14"}]}],
        "checks": {"python_parsed": 1, "python_ran": 1},
        "agreement": None,  # summary.json's figures: this driven run wrote none
        "mix": None,
    }  # fmt: skip
    page = html.read_text()
    assert "<h3>Verifiers</h3>" in page and "why: 15% of 80 = 12, the output says 14" in page and "python_ran 1" in page
