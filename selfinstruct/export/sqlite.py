"""The SQLite export, for browsing in Datasette: one table per record kind, foreign keys, full-text search.

    write_sqlite(source, kept_rows, flags, out_dir / "dataset.db")
    # datasette out_dir/dataset.db   -> search instructions, follow instance -> instruction links

Tables (a plain dataset has only the first two):
    instructions  id, instruction, status, is_classification, classify_answer, proposal -> proposals
    instances     id, instruction_id -> instructions, input, output, flags
    rejected      id, instruction, stage, reason, most_similar, score, duplicate_of -> instructions, proposal -> proposals
    proposals     request, parsed, finish_reason
    requests      one row per attempt in requests.jsonl
Full-text indexes (FTS5, kept in step by triggers) cover instructions.instruction and
rejected.instruction. Built with sqlite-utils, the library Datasette's author maintains.
"""

from __future__ import annotations

from pathlib import Path

from selfinstruct.report.flags import Flag
from selfinstruct.report.source import Row, Source

DB_NAME = "dataset.db"


def write_sqlite(source: Source, rows: list[Row], flags: list[list[Flag]], path: Path) -> dict[str, int]:
    """`rows`/`flags` are the exported rows (after --drop-flagged); returns rows per table."""
    import sqlite_utils

    db = sqlite_utils.Database(path)
    db.execute("PRAGMA foreign_keys = ON")
    run = source.run
    has_proposals = bool(run and (run.proposals or run.candidates))
    if has_proposals:
        assert run is not None
        requests = sorted({c.request for c in run.candidates} | {p.request for p in run.proposals})
        parsed = {p.request: p for p in run.proposals}
        db["proposals"].insert_all(
            ({"request": r, "parsed": parsed[r].parsed if r in parsed else None, "finish_reason": parsed[r].finish_reason if r in parsed else None} for r in requests),
            pk="request", columns={"request": int, "parsed": int, "finish_reason": str},
        )  # fmt: skip
    proposal_fk = [("proposal", "proposals", "request")] if has_proposals else []
    db["instructions"].create(
        {"id": str, "instruction": str, "status": str, "is_classification": int, "classify_answer": str, "proposal": int},
        pk="id", foreign_keys=proposal_fk,
    )  # fmt: skip
    ids: dict[str, str] = {}
    instructions = []
    if run is not None:
        done = set(run.done_ids())
        exported = {r.instruction_id for r in rows if r.instruction_id}
        for cid, cand in run.kept.items():
            verdict = run.classified.get(cid)
            completed = run.completed.get(cid)
            status = "exported" if cid in exported else "done" if cid in done else (completed.reason or "no_valid_instances") if completed else "pending"
            instructions.append({
                "id": cid, "instruction": cand.instruction, "status": status,
                "is_classification": None if verdict is None else int(verdict.is_classification),
                "classify_answer": verdict.answer if verdict else None, "proposal": cand.request,
            })  # fmt: skip
            ids.setdefault(cand.instruction, cid)
    for row in rows:
        if row.instruction not in ids:  # a plain dataset, or seed rows a run included
            ids[row.instruction] = row.instruction_id or f"i{len(ids) + 1:06d}"
            instructions.append({"id": ids[row.instruction], "instruction": row.instruction, "status": "exported"})
    db["instructions"].insert_all(instructions)
    db["instances"].create(
        {"id": int, "instruction_id": str, "input": str, "output": str, "flags": str},
        pk="id", foreign_keys=[("instruction_id", "instructions", "id")],
    )  # fmt: skip
    db["instances"].insert_all(
        {"id": i + 1, "instruction_id": ids[row.instruction], "input": row.input, "output": row.output, "flags": ",".join(f.name for f in fl) or None}
        for i, (row, fl) in enumerate(zip(rows, flags))
    )
    db["instructions"].enable_fts(["instruction"], create_triggers=True)
    counts = {"instructions": db["instructions"].count, "instances": db["instances"].count}
    if run is not None:
        kept_ids = {c.instruction: c.id for c in run.kept.values()}
        db["rejected"].create(
            {"id": str, "instruction": str, "stage": str, "reason": str, "most_similar": str, "score": float, "duplicate_of": str, "proposal": int},
            pk="id", foreign_keys=[("duplicate_of", "instructions", "id"), *proposal_fk],
        )  # fmt: skip
        db["rejected"].insert_all(
            {"id": c.id, "instruction": c.instruction, "stage": "filter", "reason": c.reason, "most_similar": c.most_similar,
             "score": c.score, "duplicate_of": kept_ids.get(c.most_similar or ""), "proposal": c.request}
            for c in run.candidates if c.status == "rejected"
        )  # fmt: skip
        db["rejected"].enable_fts(["instruction"], create_triggers=True)
        db["requests"].insert_all(
            ({"id": i + 1, **{k: v for k, v in rec.model_dump().items() if not isinstance(v, (dict, list))}} for i, rec in enumerate(run.requests)),
            pk="id", alter=True,
        )  # fmt: skip
        counts |= {"rejected": db["rejected"].count, "requests": db["requests"].count if run.requests else 0}
        if has_proposals:
            counts["proposals"] = db["proposals"].count
    db.close()
    return counts
