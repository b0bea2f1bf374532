"""The grounded recipe's product: the files a finished run writes from its rows, and the line generate prints.

    alpaca_data.json     one row per question/answer pair, the context as input (unless --no-context-in-input)
    conversations.json   ShareGPT: each example's pairs as one conversation, the context above the first question
    llava_instruct.json  LLaVA's training format, for the examples written from an image annotation
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfinstruct.safe_files import write_json_atomic

if TYPE_CHECKING:
    from selfinstruct.run import RunDir

DATA, CONVERSATIONS, LLAVA = "alpaca_data.json", "conversations.json", "llava_instruct.json"
IMAGE_TOKEN = "<image>"


def write_product(run: RunDir, rows: list[dict[str, Any]]) -> None:
    """alpaca_data.json, conversations.json (ShareGPT) and, when any example comes from an image annotation, llava_instruct.json."""
    alpaca = [{"instruction": q, "input": row["context"], "output": a} for row in rows for q, a in row["pairs"]]
    write_json_atomic(run.path / DATA, alpaca)
    sharegpt = []
    for row in rows:
        turns = []
        for n, (q, a) in enumerate(row["pairs"]):
            first = n == 0 and row["context"]
            turns += [{"from": "human", "value": f"{row['context']}\n\n{q}" if first else q}, {"from": "gpt", "value": a}]
        sharegpt.append({"id": row["id"], "conversations": turns})
    write_json_atomic(run.path / CONVERSATIONS, sharegpt)
    llava = [llava_record(row) for row in rows if row["source"].get("kind") == "annotation"]
    if llava:
        write_json_atomic(run.path / LLAVA, llava)


def llava_record(row: dict[str, Any]) -> dict[str, Any]:
    """One example in LLaVA's training format: the annotation's id and image, "<image>\\n" opening the first human turn."""
    turns = []
    for n, (q, a) in enumerate(row["pairs"]):
        turns += [{"from": "human", "value": f"{IMAGE_TOKEN}\n{q}" if n == 0 else q}, {"from": "gpt", "value": a}]
    return {"id": row["source"]["id"], "image": row["source"]["image"], "conversations": turns}


def product_message(summary: dict[str, Any], run_dir: Path) -> str:
    """What `generate` prints when a grounded run completes: the files written and the pair count."""
    files = [name for name in (DATA, CONVERSATIONS, LLAVA) if (run_dir / name).exists()]
    where = ", ".join(str(run_dir / name) for name in files)
    return f"wrote {summary['examples']} grounded examples ({summary['qa_pairs']} question/answer pairs) to {where}"
