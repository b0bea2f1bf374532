"""Read what `report` and `export` work on: a run directory, or any Alpaca JSON / JSONL dataset.

    source = load_source(Path("outputs/run-1"))      # a run: rows plus journal, requests, config, summary
    source = load_source(Path("alpaca_data.json"))   # a dataset: rows only; run-only sections are left out
    source.rows[0]        # Row(instruction, input, output, instruction_id)
    source.run.candidates # every journaled candidate, in journal order

Nothing here writes or locks: a report may be made while a run is still going. A malformed line
is a UserError naming the file and line; only a torn last line (a crash mid-write) is skipped,
as the run directory itself does on resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from selfinstruct.errors import UserError
from selfinstruct.readers import read_records
from selfinstruct.recipes import recipe_of_run
from selfinstruct.records import Candidate, Classified, Completed, Proposed, SeedTask, read_seed_tasks
from selfinstruct.run import CONFIG, DATA, JOURNAL, REQUESTS, SUMMARY
from selfinstruct.safe_files import JsonlReader

_RECORDS: dict[str, type[BaseModel]] = {"candidate": Candidate, "classified": Classified, "completed": Completed, "proposed": Proposed}


class Row(BaseModel):
    """One example as the dataset holds it; instruction_id links a run's row to its journaled candidate."""

    instruction: str
    input: str = ""
    output: str
    instruction_id: str | None = None


class RequestRecord(BaseModel):
    """One line of requests.jsonl: a single attempt at one teacher request."""

    model_config = ConfigDict(extra="allow")
    ts: float | None = None
    stage: str = "unknown"
    model: str | None = None
    api: str | None = None
    request: int | None = None
    attempt: int = 1
    ok: bool = True
    status: int | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    finish_reason: str | None = None
    error: str | None = None
    retry_after_s: float | None = None


class RunData(BaseModel):
    """Everything a run directory records, as typed records."""

    path: Path
    config: dict[str, Any] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(default_factory=dict)
    candidates: list[Candidate] = Field(default_factory=list)
    classified: dict[str, Classified] = Field(default_factory=dict)
    completed: dict[str, Completed] = Field(default_factory=dict)
    proposals: list[Proposed] = Field(default_factory=list)
    requests: list[RequestRecord] = Field(default_factory=list)
    data_written: bool = False

    @property
    def kept(self) -> dict[str, Candidate]:
        return {c.id: c for c in self.candidates if c.status == "kept"}

    def done_ids(self) -> list[str]:
        """Kept instructions with at least one valid instance, in keep order (as the run emits them). An instruction whose
        last completed line is marked unchecked (a stop during the checks that ask the teacher) is not done: a resumed run
        checks those instances again and may drop them."""
        return [i for i in self.kept if i in self.completed and self.completed[i].instances and not self.completed[i].unchecked]


class Source(BaseModel):
    """A report's or an export's input: the rows, and the run behind them when there is one."""

    path: Path
    kind: Literal["run", "dataset"]
    rows: list[Row]
    run: RunData | None = None
    seeds: list[SeedTask] = Field(default_factory=list)
    seeds_path: Path | None = None

    @property
    def instructions(self) -> list[str]:
        """Distinct instructions in row order."""
        return list(dict.fromkeys(r.instruction for r in self.rows))


def load_source(path: Path, seeds: Path | None = None) -> Source:
    """A run directory or a dataset file; anything else is a UserError. `seeds` overrides the run's seed file."""
    if not path.exists():
        raise UserError(f"{path}: not found; give a run directory or an Alpaca JSON/JSONL file")
    if path.is_dir():
        if not (path / JOURNAL).is_file() and not (path / DATA).is_file():
            raise UserError(f"{path}: not a run directory (no {JOURNAL} or {DATA} in it)")
        name = (_read_json(path / CONFIG) or {}).get("recipe")
        recipe = recipe_of_run(name)
        if recipe is not None and not recipe.INSTRUCTION_ROWS:
            products = " and ".join(str(path / product) for product in recipe.PRODUCTS)
            raise UserError(
                f"{path}: a {name} run; report and export read instruction data (instruction, input, output). "
                f"Its rows are in {products}, and its counts in summary.json"
            )
        run = _load_run(path)
        rows = _run_rows(run)
        source = Source(path=path, kind="run", rows=rows, run=run)
        configured = run.config.get("seeds")
        seeds_path = seeds or (Path(configured) if configured else None)
    else:
        source = Source(path=path, kind="dataset", rows=read_dataset(path))
        seeds_path = seeds
    if seeds_path is not None:
        if seeds_path.is_file():
            source.seeds, source.seeds_path = read_seed_tasks(seeds_path), seeds_path
        elif seeds is not None:
            raise UserError(f"--seeds {seeds}: seed file not found")
    return source


# --- datasets ---------------------------------------------------------------------------


def read_dataset(path: Path, allow_empty: bool = False) -> list[Row]:
    """Rows of an Alpaca JSON list or JSONL file; extra keys are ignored, a missing input is ""."""
    if path.suffix not in (".json", ".jsonl"):
        raise UserError(f"{path}: not a run directory or a dataset (expected a directory, .json or .jsonl)")
    items = read_records(path, "dataset", "jsonl" if path.suffix == ".jsonl" else "json").located()
    if not items and not allow_empty:
        raise UserError(f"{path}: no rows (the dataset is empty)")
    return [_row(where, obj) for where, obj in items]


def _row(where: str, obj: Any) -> Row:
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected an object with instruction, input, output; got {type(obj).__name__}")
    for key in ("instruction", "output"):
        if not isinstance(obj.get(key), str):
            problem = "missing" if key not in obj else f"not a string ({type(obj[key]).__name__})"
            raise UserError(f"{where}: field '{key}' is {problem}")
    inp = obj.get("input")
    if inp is not None and not isinstance(inp, str):
        raise UserError(f"{where}: field 'input' is not a string ({type(inp).__name__})")
    return Row(instruction=obj["instruction"], input=inp or "", output=obj["output"])


# --- run directories --------------------------------------------------------------------


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) per line; a torn last line is dropped (the next generate run cuts it too), any other bad line is an error."""
    reader = JsonlReader(path, damaged="unreadable line; the run directory is damaged")
    return [(reader.lineno, obj) for obj in reader]


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path}: not valid JSON") from None


def _load_run(path: Path) -> RunData:
    run = RunData(path=path, config=_read_json(path / CONFIG) or {}, summary=_read_json(path / SUMMARY) or {})
    for lineno, obj in _jsonl(path / JOURNAL):
        try:
            record = _RECORDS[obj["kind"]].model_validate(obj)
        except (KeyError, TypeError, ValidationError):
            raise UserError(f"{path / JOURNAL}:{lineno}: not a journal record this version reads") from None
        if isinstance(record, Candidate):
            run.candidates.append(record)
        elif isinstance(record, Classified):
            run.classified[record.id] = record
        elif isinstance(record, Completed):
            run.completed[record.id] = record
        elif isinstance(record, Proposed):
            run.proposals.append(record)
    for lineno, obj in _jsonl(path / REQUESTS):
        try:
            run.requests.append(RequestRecord.model_validate(obj))
        except ValidationError:
            raise UserError(f"{path / REQUESTS}:{lineno}: not a request record this version reads") from None
    run.data_written = (path / DATA).is_file()
    return run


def _run_rows(run: RunData) -> list[Row]:
    """The product when it was written (alpaca_data.json), else what the journal has finished so far."""
    ids_by_instruction: dict[str, str] = {}
    for cid in run.done_ids():
        ids_by_instruction.setdefault(run.kept[cid].instruction, cid)
    if run.data_written:
        rows = read_dataset(run.path / DATA, allow_empty=True)
        for row in rows:
            row.instruction_id = ids_by_instruction.get(row.instruction)
        return rows
    budget = run.config.get("budget")
    done = run.done_ids()[: budget if isinstance(budget, int) else None]
    return [
        Row(instruction=run.kept[cid].instruction, input=inst.input, output=inst.output, instruction_id=cid)
        for cid in done
        for inst in run.completed[cid].instances
    ]
