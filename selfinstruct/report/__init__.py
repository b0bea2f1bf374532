"""`selfinstruct report`: what a run made, in one self-contained HTML page and a JSON file of its numbers.

    from selfinstruct.report import make_report
    html, data = make_report(Path("outputs/run-1"))      # -> outputs/run-1/report.html, report.json

    source.py      read a run directory or an Alpaca JSON/JSONL dataset (rows, journal, requests, config)
    funnel.py      proposed -> each filter -> kept -> classified -> with instances -> emitted, rejections by reason
    diversity.py   ROUGE-L to the closest seed; the verb-noun chart's data
    verbs.py       root verb and direct object per instruction (spaCy, verified model)
    shape.py       token lengths, input share, classification share, instances per instruction
    flags.py       quality flags per row (AlpacaDataCleaned's error classes); the arithmetic checker behind
                   the wrong-arithmetic flag is generate's filter too (stages/verifiers/arithmetic.py)
    cost.py        tokens, dollars and time per stage, over time, slowest requests
    charts.py      the pictures, as inline SVG
    build.py       assemble the Report, render report.html, write both files
"""

from __future__ import annotations

from pathlib import Path

from selfinstruct.report.build import Report, build_report, write_report
from selfinstruct.report.settings import ReportConfig
from selfinstruct.report.source import load_source


def run_report(cfg: ReportConfig) -> tuple[Path, Path, Report]:
    """`selfinstruct report`: the command's settings in, the two files written."""
    return make_report(cfg.source, cfg.seeds, cfg.out)


def make_report(source: Path, seeds: Path | None = None, out: Path | None = None) -> tuple[Path, Path, Report]:
    """Report on a run directory (written into it) or a dataset (written beside it as <name>.report.html/.json)."""
    loaded = load_source(source, seeds)
    report = build_report(loaded)
    if out is not None:
        html, data = write_report(report, out)
    elif loaded.kind == "run":
        html, data = write_report(report, source)
    else:
        html, data = write_report(report, source.parent, stem=f"{source.stem}.report")
    return html, data, report


__all__ = ["Report", "build_report", "load_source", "make_report", "run_report", "write_report"]
