"""`selfinstruct export`: hand a run (or any Alpaca dataset) to a trainer or a viewer, with a dataset card.

    selfinstruct export outputs/run-1 --format messages --out exports/run-1-messages

    formats.py  alpaca, messages (OpenAI / TRL) and ShareGPT rows; the user message from the finetune template
    hf.py       datasets.DatasetDict saved to disk + Parquet per split
    sqlite.py   tables, foreign keys and full-text search for Datasette
    card.py     README.md with Hugging Face front matter: provenance, counts, cost, flags, license

OUT is a directory holding the data and README.md. It is built in a temp directory beside OUT
and renamed into place only when complete; an existing OUT needs --force and is replaced whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from selfinstruct import __version__
from selfinstruct.endpoint_settings import redact_url
from selfinstruct.errors import UserError
from selfinstruct.export.card import CardFacts, dataset_card, endpoint_host, teacher_settings
from selfinstruct.export.formats import to_alpaca, to_messages, to_sharegpt
from selfinstruct.export.settings import ExportConfig
from selfinstruct.model_files import file_sha256
from selfinstruct.prompt_files import default_prompts_dir
from selfinstruct.recipes import RECIPES
from selfinstruct.report.flags import DETECTORS, flag_rows
from selfinstruct.report.funnel import build_funnel
from selfinstruct.report.source import Source, load_source
from selfinstruct.reviews import dataset_review, reviews_path, row_digest
from selfinstruct.safe_files import atomic_dir

FILES = {"alpaca": "alpaca_data.json", "messages": "messages.jsonl", "sharegpt": "sharegpt.json", "sqlite": "dataset.db"}
TRAIN_TEMPLATES = ["alpaca_train_input", "alpaca_train_no_input"]
USER_MESSAGE_NOTE = (
    "Chat turns come from the Alpaca prompt that `selfinstruct finetune` trains with: its preamble is the system "
    "message, `### Instruction:` (and `### Input:` when there is one) the user message, the output the assistant reply."
)


class ExportResult(BaseModel):
    out: Path
    format: str
    rows: int
    dropped_flagged: int
    files: list[str]
    dropped_rejected: int = 0
    edited: int = 0


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")


def _templates(config: dict[str, Any], fmt: str) -> dict[str, str]:
    directory = Path(config["prompts"]) if config.get("prompts") else default_prompts_dir()
    recipe = RECIPES.get(config.get("recipe")) if isinstance(config.get("recipe"), str) else None  # the templates it rendered
    names = (list(recipe.TEMPLATES) if recipe is not None else []) + (TRAIN_TEMPLATES if fmt in ("messages", "sharegpt") else [])
    return {f"{name}.txt": file_sha256(directory / f"{name}.txt") if (directory / f"{name}.txt").is_file() else "file not found" for name in names}


def _facts(source: Source, cfg: ExportConfig, rows: int, instructions: int, dropped: int, flag_counts: dict[str, int], files: list[str]) -> CardFacts:
    facts = CardFacts(
        name=cfg.out.name, format=cfg.format, files=files, version=__version__, source_kind=source.kind, rows=rows,
        instructions=instructions, dropped_flagged=dropped, flag_counts=flag_counts,
        user_message=USER_MESSAGE_NOTE if cfg.format in ("messages", "sharegpt") else "",
    )  # fmt: skip
    run = source.run
    if run is None:
        return facts
    summary, config = run.summary, run.config
    models = {r.model for r in run.requests if r.model}
    facts.teacher_model = summary.get("model") or teacher_settings(config).get("model") or (sorted(models)[0] if models else None)
    facts.endpoint_host = endpoint_host(config, facts.teacher_model)
    facts.recipe = config.get("recipe")
    facts.templates = _templates(config, cfg.format)
    seeds = source.seeds_path or (Path(config["seeds"]) if config.get("seeds") else None)
    facts.seed_file = seeds.name if seeds else None
    facts.seed_sha256 = file_sha256(seeds) if seeds and seeds.is_file() else None
    facts.config = json.loads(json.dumps(config))
    for settings in (facts.config, facts.config.get("teacher")):
        if isinstance(settings, dict) and settings.get("base_url"):
            settings["base_url"] = redact_url(settings["base_url"])
    funnel = build_funnel(run, source.rows)
    facts.funnel = [(s.name, s.count, s.dropped) for s in funnel.steps]
    facts.rejections = [(r.reason, r.stage, r.count) for r in funnel.rejections]
    facts.tokens = {"prompt": sum(r.prompt_tokens for r in run.requests), "completion": sum(r.completion_tokens for r in run.requests)}
    facts.usd = round(sum(r.usd for r in run.requests), 6)
    facts.price_known = bool(summary.get("price_known", True))
    wall = summary.get("total_wall_seconds", summary.get("wall_seconds"))
    facts.wall_seconds = float(wall) if isinstance(wall, (int, float)) else None
    return facts


def _write_format(cfg: ExportConfig, source: Source, rows: list[Any], flags: list[Any], tmp: Path) -> tuple[list[str], dict[str, int] | None, dict[str, str] | None]:
    """Write the data files into tmp; returns (file names, split sizes, parquet paths by split)."""
    if cfg.format == "hf":
        from selfinstruct.export.hf import PARQUET_DIR, parquet_name, write_hf

        splits = write_hf(rows, tmp, cfg.val_size, cfg.seed)
        parquet = {name: parquet_name(name) for name in splits}
        return ["dataset_dict.json", *splits, f"{PARQUET_DIR}/"], splits, parquet
    name = FILES[cfg.format]
    if cfg.format == "sqlite":
        from selfinstruct.export.sqlite import write_sqlite

        write_sqlite(source, rows, flags, tmp / name)
        return [name], None, None
    from selfinstruct.finetune.data import PromptTemplate

    template = PromptTemplate.load()
    if cfg.format == "alpaca":
        _write_json(tmp / name, [to_alpaca(r) for r in rows])
    elif cfg.format == "messages":
        _write_jsonl(tmp / name, [to_messages(r, template) for r in rows])
    else:
        _write_json(tmp / name, [to_sharegpt(r, template, i) for i, r in enumerate(rows)])
    return [name], None, None


def export(cfg: ExportConfig) -> ExportResult:
    """Write cfg.source in cfg.format into the directory cfg.out, with README.md; returns what was written."""
    if cfg.out.exists() and not cfg.force:
        raise UserError(f"--out {cfg.out}: already exists; pass --force to replace it")
    source = load_source(cfg.source, cfg.seeds)
    review = dataset_review(cfg.source, [row_digest(r.instruction, r.input, r.output) for r in source.rows])
    reviewed_rows = source.rows
    if cfg.drop_rejected:
        if review is None:
            raise UserError(f"--drop-rejected: {cfg.source} has no reviews ({reviews_path(cfg.source)}); mark rows with `selfinstruct review {cfg.source}` first")
        reviewed_rows = [source.rows[i].model_copy(update={"output": review.edits[i]}) if i in review.edits else source.rows[i] for i in review.keep]
    flags = flag_rows(reviewed_rows)
    kept = [(row, f) for row, f in zip(reviewed_rows, flags) if not (cfg.drop_flagged and f)]
    rows, row_flags = [r for r, _ in kept], [f for _, f in kept]
    dropped, rejected = len(reviewed_rows) - len(rows), len(source.rows) - len(reviewed_rows)
    if not rows:
        raise UserError(f"{cfg.source}: no rows to export" + (" after --drop-flagged" if dropped else "") + (" after --drop-rejected" if rejected else ""))
    counts = {name: sum(1 for f in flags if any(x.name == name for x in f)) for name in DETECTORS}
    parent = cfg.out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"--out {cfg.out}: a parent of it is a file, not a directory") from None
    with atomic_dir(cfg.out) as tmp:
        files, splits, parquet = _write_format(cfg, source, rows, row_flags, tmp)
        facts = _facts(source, cfg, len(rows), len({r.instruction for r in rows}), dropped, counts, files)
        facts.splits, facts.parquet = splits, parquet
        if review is not None:
            facts.review = review.card_line()
            facts.dropped_rejected, facts.edited = (rejected, review.edited) if cfg.drop_rejected else (0, 0)
        (tmp / "README.md").write_text(dataset_card(facts), encoding="utf-8")
    return ExportResult(out=cfg.out, format=cfg.format, rows=len(rows), dropped_flagged=dropped, files=[*files, "README.md"],
                        dropped_rejected=rejected, edited=review.edited if review is not None and cfg.drop_rejected else 0)  # fmt: skip
