"""`selfinstruct report`: compute every section, then write report.json and a self-contained report.html.

    report = build_report(load_source(Path("outputs/run-1")))
    paths = write_report(report, Path("outputs/run-1"))     # report.html, report.json

The report never calls the teacher: it reads the run directory (or dataset) and nothing else.
Run-only sections (funnel, cost) are None for a plain dataset. Both files are written to a
temp file and renamed into place.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from selfinstruct import __version__
from selfinstruct.report.cleaned import Cleaned, load_cleaned
from selfinstruct.report.cost import Cost, build_cost
from selfinstruct.report.diversity import SeedSimilarity, VerbNoun, seed_similarity, verb_noun_chart
from selfinstruct.report.flags import Flags, build_flags
from selfinstruct.report.funnel import Funnel, build_funnel
from selfinstruct.report.shape import Shape, build_shape
from selfinstruct.report.source import Source
from selfinstruct.report.verified import Verified, build_verified
from selfinstruct.reviews import ReviewFigure, dataset_review, row_digest
from selfinstruct.safe_files import write_json_atomic, write_text_atomic

SECTIONS = [("cleaned", "Cleaning"), ("funnel", "Funnel"), ("diversity", "Diversity"), ("shape", "Shape"), ("flags", "Quality flags"), ("review", "Human review"), ("cost", "Cost and time")]


class SourceInfo(BaseModel):
    path: str
    name: str
    kind: str
    seeds: str | None
    status: str | None


class Diversity(BaseModel):
    seed_similarity: SeedSimilarity | None
    verb_noun: VerbNoun


class Report(BaseModel):
    """Everything report.html shows, as written to report.json."""

    version: str
    source: SourceInfo
    funnel: Funnel | None
    diversity: Diversity
    shape: Shape
    flags: Flags
    cost: Cost | None
    review: ReviewFigure | None = None  # the share marked right in `selfinstruct review`, when the data has reviews
    verified: Verified | None = None  # what generate's verifiers dropped and checked (a run only)
    cleaned: Cleaned | None = None  # what `selfinstruct clean` dropped to make this dataset


def build_report(source: Source) -> Report:
    run = source.run
    # Both diversity pictures describe every instruction the filters kept (for a dataset: its instructions).
    if run is not None:
        kept = [c.instruction for c in run.kept.values()]
        tokenizer = run.config.get("rouge_tokenizer", "rouge")
        threshold = float(run.config.get("rouge_threshold", 0.7))
    else:
        kept, tokenizer, threshold = source.instructions, "rouge", 0.7
    similarity = seed_similarity(kept, [s.instruction for s in source.seeds], tokenizer, threshold) if source.seeds else None
    classified = {cid: c.is_classification for cid, c in run.classified.items()} if run else None
    shape = build_shape(source.rows, classified)
    emitted_rows = [r for r in source.rows if r.instruction_id] if run else source.rows
    review = dataset_review(source.path, [row_digest(r.instruction, r.input, r.output) for r in source.rows])
    return Report(
        version=__version__,
        source=SourceInfo(
            path=str(source.path),
            name=source.path.name,
            kind="run directory" if run else "dataset",
            seeds=str(source.seeds_path) if source.seeds_path else None,
            status=run.summary.get("status") if run else None,
        ),
        funnel=build_funnel(run, source.rows) if run else None,
        diversity=Diversity(seed_similarity=similarity, verb_noun=verb_noun_chart(kept)),
        shape=shape,
        flags=build_flags(source.rows),
        cost=build_cost(run, len({r.instruction_id for r in emitted_rows}), len(emitted_rows)) if run else None,
        review=review.figure if review else None,
        verified=build_verified(run) if run else None,
        cleaned=None if run else load_cleaned(source.path),
    )


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _money(usd: float | None, known: bool = True) -> str:
    if usd is None:
        return "-"
    if not known:
        return "unknown"
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{seconds:.1f} s"


def render_html(report: Report) -> str:
    """The page: jinja2 template with autoescaping, charts inline as SVG."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from selfinstruct.report import charts

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html", "j2"]))
    drawn: dict[str, Any] = {}
    if report.funnel:
        drawn["funnel"] = charts.funnel_chart(report.funnel)
    if report.diversity.seed_similarity:
        drawn["rouge"] = charts.histogram_chart(report.diversity.seed_similarity.histogram, "ROUGE-L F to the most similar seed", report.diversity.seed_similarity.threshold)
    drawn["sunburst"] = charts.sunburst_chart(report.diversity.verb_noun)
    drawn["lengths"] = charts.lengths_chart(report.shape)
    drawn["instances"] = charts.instances_chart(report.shape)
    if report.cost and report.cost.timeline:
        drawn["timeline"] = charts.timeline_chart(report.cost.timeline)
    drawn = {name: charts.strip_ids(svg, name) for name, svg in drawn.items()}
    kept = next((s.count for s in report.funnel.steps if s.name == "kept"), 0) if report.funnel else 0
    sections = [(i, t) for i, t in SECTIONS if getattr(report, i, True) is not None]
    return env.get_template("report.html.j2").render(
        r=report, charts=drawn, sections=sections, kept=kept, pct=_pct, money=_money, duration=_duration
    )


def write_report(report: Report, out_dir: Path, stem: str = "report") -> tuple[Path, Path]:
    """Write `<stem>.html` and `<stem>.json` into out_dir atomically; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out_dir / f"{stem}.html", out_dir / f"{stem}.json"
    write_json_atomic(json_path, report.model_dump(mode="json"))
    write_text_atomic(html_path, render_html(report))
    return html_path, json_path
