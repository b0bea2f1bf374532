"""The dataset card (README.md with Hugging Face front matter) written beside every export.

    text = dataset_card(CardFacts(...))

It records where the data came from, so it can be trusted and reproduced: the teacher model and
endpoint host (credentials redacted), the recipe and each prompt template with its SHA-256, the
seed file and its SHA-256, the resolved config, the funnel counts and rejection table, cost and
wall time, the quality-flag counts, the selfinstruct version, and the license note (the data
inherits the teacher's terms of use).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel

from selfinstruct.endpoint_settings import redact_url

LICENSE_NOTE = (
    "This data was written by a language model (the teacher above). It inherits that model's terms of use: "
    "check them before training a model on it or sharing it, especially for commercial use. "
    "selfinstruct itself is Apache-2.0; that license does not cover generated data."
)



class CardFacts(BaseModel):
    """Everything the card states; gathered by the exporter, rendered here."""

    name: str
    format: str
    files: list[str]
    version: str
    source_kind: str
    rows: int
    instructions: int
    dropped_flagged: int
    flag_counts: dict[str, int]
    splits: dict[str, int] | None = None
    parquet: dict[str, str] | None = None
    teacher_model: str | None = None
    endpoint_host: str | None = None
    recipe: str | None = None
    templates: dict[str, str] = {}
    seed_file: str | None = None
    seed_sha256: str | None = None
    config: dict[str, Any] | None = None
    funnel: list[tuple[str, int, int]] = []
    rejections: list[tuple[str, str, int]] = []
    tokens: dict[str, int] | None = None
    usd: float | None = None
    price_known: bool = True
    wall_seconds: float | None = None
    user_message: str = ""
    review: str | None = None  # the review's figure (selfinstruct review), when the data has reviews
    dropped_rejected: int = 0
    edited: int = 0


def teacher_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The teacher's settings from a run's config.json, flat (older runs) or nested under "teacher"."""
    nested = config.get("teacher")
    return {**config, **nested} if isinstance(nested, dict) else config


def endpoint_host(config: dict[str, Any], model: str | None = None) -> str:
    """Host of the run's endpoint, never its credentials; the embedded local model says so.

    A run records where its requests went (`resolved_endpoint`: --base-url, else OPENAI_BASE_URL, else the
    client's default); older runs recorded only --base-url, so without it the default is not a certainty."""
    settings = teacher_settings(config)
    if "resolved_endpoint" in config:
        recorded = redact_url(config["resolved_endpoint"])
        return (urlsplit(recorded).hostname or recorded) if recorded else "embedded llama.cpp (local, no network)"
    url = redact_url(settings.get("base_url"))
    if url:
        return urlsplit(url).hostname or url
    local = str(settings.get("local_model") or "")
    if settings.get("teacher") == "local" or (model and local and Path(local).stem.lower().startswith(model.lower())):
        return "embedded llama.cpp (local, no network)"
    return "api.openai.com, unless OPENAI_BASE_URL was set (this run did not record its endpoint)"


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "n>1M"


def dataset_card(facts: CardFacts) -> str:
    front: dict[str, Any] = {
        "pretty_name": facts.name,
        "license": "other",
        "license_name": "teacher-model-terms",
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "self-instruct", "instruction-tuning", "selfinstruct"],
        "size_categories": [_size_category(facts.rows)],
    }
    if facts.parquet:
        front["configs"] = [{"config_name": "default", "data_files": [{"split": s, "path": p} for s, p in facts.parquet.items()]}]
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "", f"# {facts.name}", ""]
    lines += [
        f"Instruction-tuning data made by selfinstruct {facts.version}, exported as `{facts.format}`.",
        "",
        f"- Rows: {facts.rows} ({facts.instructions} instructions)" + (f"; {facts.dropped_flagged} flagged rows dropped (`--drop-flagged`)" if facts.dropped_flagged else "; no rows dropped"),
        f"- Files: {', '.join(f'`{f}`' for f in facts.files)}",
    ]
    if facts.splits:
        lines.append("- Splits: " + ", ".join(f"{k} {v}" for k, v in facts.splits.items()))
    if facts.review:
        lines.append(f"- Human review (`selfinstruct review`): {facts.review}")
        if facts.dropped_rejected or facts.edited:
            lines.append(f"- Applied (`--drop-rejected`): {facts.dropped_rejected} rows marked wrong left out, {facts.edited} edited outputs used")
    if facts.user_message:
        lines += ["", "## Prompt format", "", facts.user_message]
    lines += ["", "## Provenance", ""]
    if facts.source_kind == "run":
        lines += [
            f"- Teacher model: `{facts.teacher_model or 'unknown'}`",
            f"- Endpoint host: {facts.endpoint_host or 'unknown'}",
            f"- Recipe: `{facts.recipe or 'unknown'}`",
            f"- Seed file: `{facts.seed_file or 'unknown'}`, SHA-256 `{facts.seed_sha256 or 'unavailable (file not found)'}`",
        ]
    else:
        lines.append("- Source: an Alpaca dataset file, not a selfinstruct run; teacher, recipe and seeds are not known.")
    if facts.templates:
        lines += ["", "| prompt template | SHA-256 |", "|---|---|"] + [f"| `{k}` | `{v}` |" for k, v in facts.templates.items()]
    if facts.funnel:
        lines += ["", "## Counts", "", "| step | remaining | dropped |", "|---|---:|---:|"]
        lines += [f"| {name} | {count} | {dropped or ''} |" for name, count, dropped in facts.funnel]
    if facts.rejections:
        lines += ["", "| rejection reason | stage | count |", "|---|---|---:|"] + [f"| {r} | {s} | {n} |" for r, s, n in facts.rejections]
    if facts.tokens is not None:
        usd = f"${facts.usd:.4f}" if facts.price_known and facts.usd is not None else "unknown (no price for this model)"
        wall = f"{facts.wall_seconds / 60:.1f} min" if facts.wall_seconds is not None else "unknown"
        lines += ["", "## Cost and time", "", f"- Tokens: {facts.tokens.get('prompt', 0)} prompt + {facts.tokens.get('completion', 0)} completion",
                  f"- Cost: {usd}", f"- Wall time: {wall}"]  # fmt: skip
    lines += ["", "## Quality flags", "", "| flag | rows |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in facts.flag_counts.items()]
    if facts.config:
        lines += ["", "## Resolved config", "", "```json", json.dumps(facts.config, indent=2, ensure_ascii=False), "```"]
    lines += ["", "## License", "", LICENSE_NOTE, ""]
    return "\n".join(lines)
