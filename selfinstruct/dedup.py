"""Near-duplicate filtering of an existing dataset, with the same exact ROUGE-L decisions `generate` makes.

    selfinstruct dedup alpaca_data.json --against seed_tasks.jsonl --out alpaca_dedup.json
    selfinstruct dedup merged.jsonl --out clean.jsonl --engine ray --ray-address auto

Items are kept greedily in input order, as generation keeps them: an item is dropped when its
ROUGE-L F against a reference item or an earlier kept item is above the threshold. Kept records
are written in the input's own format (Alpaca JSON list, JSONL of records, or plain text, one
instruction per line); every dropped item goes to a JSONL report with its most similar item.
The decisions come from `find_duplicates`, which `clean` calls too (the block engine, selfinstruct.rouge).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from selfinstruct.errors import UserError
from selfinstruct.readers import Format, read_records, require_object
from selfinstruct.rouge import DupCheck, Tokenizer, dedup_texts
from selfinstruct.rouge.engine import Engine
from selfinstruct.safe_files import write_json_atomic, write_jsonl_atomic, write_text_atomic
from selfinstruct.settings import _Config, setting


class DedupConfig(_Config):
    """Settings of one `dedup` run: which file to filter, against what, and where results go."""

    model_config = ConfigDict(json_schema_extra={"config_example": "threshold: 0.8"})

    input: Path = setting(
        help="Dataset to filter: alpaca_data.json (a JSON list of records), a .jsonl of records, or a text file with one instruction per line.", argument=True, metavar="INPUT")
    out: Path = setting(help="Where the kept records go, in INPUT's own format. May equal INPUT: it is replaced only once the result is complete.", metavar="OUT")
    against: list[Path] = setting(
        [], "Reference instructions (seed tasks .jsonl, Alpaca .json or text) that items are also compared with; never written out. Repeatable.", metavar="FILE")
    threshold: float = setting(
        0.7, "Drop an item whose ROUGE-L F against a reference or earlier kept item is above this (exactly 0.7 is kept).", ge=0, le=1, allow_inf_nan=False)
    field: str = setting("instruction", "Record field holding the text to compare (JSON and JSONL inputs).", min_length=1)
    against_field: str | None = setting(None, "Field to compare in the --against files. Default: the same as --field.", min_length=1)
    report: Path | None = setting(
        None, "JSONL report of every dropped item with its most similar item and score. Default: OUT's name with .dropped.jsonl.", metavar="FILE")
    tokenizer: Literal["rouge", "unicode"] = setting(
        "rouge", "rouge: exactly rouge_score's tokens (ASCII letters and digits only). unicode: words of any script, each CJK/Thai character a token; for non-English data, not rouge_score-compatible.")
    engine: Literal["local", "ray"] = setting(
        "local", "Where the checks run: local (this process and --workers - 1 forked ones) or ray (a Ray cluster; needs selfinstruct[ray]). Both make the same decisions.")
    workers: int | None = setting(None, "Processes (local) or Ray workers checking blocks at once. Default: the CPUs this process may use (local), every CPU of the cluster (ray).", ge=1)
    ray_address: str | None = setting(
        None, "With --engine ray: the cluster to join (its head's address, e.g. 10.0.0.5:6379 or auto for the one `ray start` began here). Default: start a Ray instance on this machine's CPUs.", metavar="ADDRESS")


class Dataset(BaseModel):
    """A file's records as read, in order, and the text of each that is compared."""

    path: Path
    format: Format
    records: list[Any]
    texts: list[str]


class DroppedItem(BaseModel):
    """One line of the report: a dropped input item and what it duplicates."""

    index: int
    instruction: str
    most_similar: str
    most_similar_source: Literal["input", "against"]
    most_similar_file: str
    most_similar_index: int
    score: float


class DedupSummary(BaseModel):
    """What a dedup run did, for the closing message and for callers."""

    read: int
    against: int
    kept: int
    dropped: int
    seconds: float
    out: Path
    report: Path


def read_dataset(path: Path, field: str, what: str = "input file") -> Dataset:
    """Read records and the text of `field` in each; any problem is a one-line UserError naming file and line."""
    data = read_records(path, what)
    if data.format == "text":
        return Dataset(path=path, format="text", records=data.values, texts=data.values)
    texts = []
    for index, value in enumerate(data.values):
        record = require_object(value, data.where(index))
        text = record.get(field)
        if not isinstance(text, str):
            fields = ", ".join(sorted(record)) or "none"
            problem = "has no field" if field not in record else "has a non-string field"
            raise UserError(f"{data.where(index)}: {problem} {field!r} (its fields: {fields}); choose one with --field")
        texts.append(text)
    return Dataset(path=path, format=data.format, records=data.values, texts=texts)


def write_dataset(path: Path, fmt: Format, records: list[Any]) -> None:
    """Write records in fmt (Alpaca-style indented JSON, compact JSONL, or text lines), replacing path atomically."""
    if fmt == "json":
        write_json_atomic(path, records, indent=4)
    elif fmt == "jsonl":
        write_jsonl_atomic(path, records)
    else:
        write_text_atomic(path, "".join(f"{line}\n" for line in records))


def default_report_path(out: Path) -> Path:
    """Where the report goes unless told: beside OUT, as OUT's stem plus .dropped.jsonl."""
    return out.with_name(f"{out.stem}.dropped.jsonl")


def find_duplicates(texts: Sequence[str], references: Sequence[str] = (), threshold: float = 0.7, tokenizer: Tokenizer = "rouge",
                    progress: Callable[[int], None] | None = None, *, engine: Engine = "local", workers: int | None = None,
                    ray_address: str | None = None) -> list[DupCheck]:  # fmt: skip
    """The near-duplicate verdict of each text, greedily in order: against every reference and every earlier text kept.

    The engine of `selfinstruct dedup` and `selfinstruct clean`; `progress(done)` is told as texts are decided.
    A duplicate's verdict names the kept text of the highest F (the earliest of equals) and that F; a kept text's
    is (False, None, 0.0). `engine`, `workers` and `ray_address` choose where the work runs (see `dedup_texts`);
    every choice gives the same verdicts.
    """
    result = dedup_texts(texts, references, threshold=threshold, tokenizer=tokenizer, engine=engine, workers=workers,
                         ray_address=ray_address, progress=progress)
    kept = DupCheck(False, None, 0.0)
    verdicts = [kept] * len(texts)
    for position in np.flatnonzero(result.duplicate).tolist():
        match = int(result.match[position])
        similar = references[match] if match < len(references) else texts[match - len(references)]
        verdicts[position] = DupCheck(True, similar, float(result.score[position]))
    return verdicts


def dedup(cfg: DedupConfig, console: Console | None = None) -> DedupSummary:
    """Drop near-duplicates from cfg.input greedily in order; write kept records and the report."""
    console = console or Console(stderr=True)
    report_path = cfg.report or default_report_path(cfg.out)
    if report_path.resolve() in (cfg.input.resolve(), cfg.out.resolve()):
        raise UserError(f"--report {report_path} would overwrite the input or the output; choose another path")
    dataset = read_dataset(cfg.input, cfg.field)
    references = [read_dataset(path, cfg.against_field or cfg.field, "reference file") for path in cfg.against]

    start = time.perf_counter()
    columns = (TextColumn("dedup"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # Off a terminal the bar would only leave blank lines in logs.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("dedup", total=len(dataset.texts))
        verdicts = find_duplicates(dataset.texts, [t for r in references for t in r.texts], cfg.threshold, cfg.tokenizer,
                                   progress=lambda done: progress.update(task, completed=done), engine=cfg.engine,
                                   workers=cfg.workers, ray_address=cfg.ray_address)  # fmt: skip
    seconds = time.perf_counter() - start
    # A verdict names its match by text; the earliest item with that text is the one it means.
    origin: dict[str, tuple[Literal["input", "against"], str, int]] = {}
    for reference in references:
        for position, text in enumerate(reference.texts):
            origin.setdefault(text, ("against", str(reference.path), position))
    kept: list[Any] = []
    dropped: list[DroppedItem] = []
    for position, (record, text, verdict) in enumerate(zip(dataset.records, dataset.texts, verdicts)):
        if verdict.is_duplicate:
            assert verdict.most_similar is not None
            source, file, match = origin[verdict.most_similar]
            dropped.append(DroppedItem(index=position, instruction=text, most_similar=verdict.most_similar,
                                       most_similar_source=source, most_similar_file=file,
                                       most_similar_index=match, score=verdict.score))
        else:
            kept.append(record)
            origin.setdefault(text, ("input", str(cfg.input), position))

    write_dataset(cfg.out, dataset.format, kept)
    write_dataset(report_path, "jsonl", [item.model_dump(mode="json") for item in dropped])
    summary = DedupSummary(read=len(dataset.texts), against=sum(len(r.texts) for r in references), kept=len(kept),
                           dropped=len(dropped),
                           seconds=seconds, out=cfg.out, report=report_path)
    _print_summary(console, summary, cfg.threshold)
    return summary


def _print_summary(console: Console, summary: DedupSummary, threshold: float) -> None:
    share = summary.dropped / summary.read if summary.read else 0.0
    against = f" and {summary.against:,} reference items" if summary.against else ""
    console.print(
        f"kept [bold]{summary.kept:,}[/bold] of {summary.read:,}; dropped {summary.dropped:,} ({share:.1%}) "
        f"with ROUGE-L F > {threshold} against earlier items{against}, in {summary.seconds:.1f} s",
        highlight=False, soft_wrap=True,
    )
    console.print(f"wrote {summary.out} ({summary.kept:,} records) and {summary.report} ({summary.dropped:,} dropped)",
                  highlight=False, soft_wrap=True)
