"""The report's pictures, drawn with matplotlib as inline SVG: no script, no network, text kept as text.

    svg = funnel_chart(report.funnel)      # "<svg ...>...</svg>", ready to paste into the page

One function per picture; each takes a report section and returns an SVG string.
"""

from __future__ import annotations

import io
import re
from typing import Any

from selfinstruct.report.cost import Timeline
from selfinstruct.report.diversity import Histogram, VerbNoun
from selfinstruct.report.funnel import Funnel
from selfinstruct.report.shape import Shape

BLUE, ORANGE, RED, GREY = "#4c72b0", "#dd8452", "#c44e52", "#8c8c8c"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "selfinstruct"})
    return plt


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG sits inside HTML


def funnel_chart(funnel: Funnel) -> str:
    plt = _plt()
    steps = funnel.steps
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(steps) + 0.8))
    names = [s.name for s in steps][::-1]
    counts = [s.count for s in steps][::-1]
    ax.barh(names, counts, color=BLUE)
    for y, step in enumerate(steps[::-1]):
        label = f"{step.count}" + (f"  (-{step.dropped})" if step.dropped else "") + (f"  ({step.pending} not reached)" if step.pending else "")
        ax.text(step.count, y, " " + label, va="center", fontsize=9)
    ax.set_xlabel("candidates / instructions")
    ax.set_xlim(0, max(counts + [1]) * 1.25)
    return _svg(fig)


def histogram_chart(hist: Histogram, xlabel: str, threshold: float | None = None) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3))
    widths = [b - a for a, b in zip(hist.edges, hist.edges[1:])]
    ax.bar(hist.edges[:-1], hist.counts, width=widths, align="edge", color=BLUE, edgecolor="white")
    if threshold is not None:
        ax.axvline(threshold, color=RED, linestyle="--")
        ax.text(threshold, ax.get_ylim()[1] * 0.95, f" filter threshold {threshold}", color=RED, va="top", fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("instructions")
    return _svg(fig)


def sunburst_chart(verbs: VerbNoun) -> str:
    """Self-Instruct's Figure 2: root verbs on the inner ring, each one's top direct objects outside it."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 8))
    if not verbs.top:
        ax.text(0.5, 0.5, "no verb-object pairs found", ha="center", va="center")
        ax.axis("off")
        return _svg(fig)
    cmap = plt.get_cmap("tab20")
    inner = [v.count for v in verbs.top]
    outer, outer_labels, outer_colors = [], [], []
    for i, verb in enumerate(verbs.top):
        shown = sum(n for _, n in verb.objects)
        for noun, n in verb.objects:
            outer.append(n)
            outer_labels.append(noun if n / sum(inner) > 0.008 else "")
            outer_colors.append((*cmap(i % 20)[:3], 0.55))
        if verb.count > shown:
            outer.append(verb.count - shown)
            outer_labels.append("")
            outer_colors.append((1, 1, 1, 0))
    ax.pie(inner, radius=0.62, labels=[v.verb for v in verbs.top], labeldistance=0.62, colors=[cmap(i % 20) for i in range(len(inner))],
           wedgeprops={"width": 0.37, "edgecolor": "white"}, textprops={"fontsize": 8}, rotatelabels=True, startangle=90, counterclock=False)
    ax.pie(outer, radius=1.0, labels=outer_labels, labeldistance=0.8, colors=outer_colors,
           wedgeprops={"width": 0.38, "edgecolor": "white"}, textprops={"fontsize": 7}, rotatelabels=True, startangle=90, counterclock=False)  # fmt: skip
    ax.set(aspect="equal")
    return _svg(fig)


def lengths_chart(shape: Shape) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    for ax, field in zip(axes, ("instruction", "input", "output")):
        stats = shape.lengths[field]
        if stats.lengths:
            ax.hist(stats.lengths, bins=min(30, max(5, len(set(stats.lengths)))), color=BLUE, edgecolor="white")
        ax.set_title(f"{field} ({stats.values} non-empty)", fontsize=10)
        ax.set_xlabel("tokens")
    axes[0].set_ylabel("count")
    fig.tight_layout()
    return _svg(fig)


def instances_chart(shape: Shape) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 2.6))
    keys = list(shape.instances_per_instruction)
    ax.bar([str(k) for k in keys], [shape.instances_per_instruction[k] for k in keys], color=BLUE)
    ax.set_xlabel("instances per instruction")
    ax.set_ylabel("instructions")
    return _svg(fig)


def timeline_chart(timeline: Timeline) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 2.8))
    x = [s / 60 for s in timeline.starts]
    width = timeline.bin_seconds / 60 * 0.9
    ax.bar(x, timeline.requests, width=width, align="edge", color=BLUE, label="requests")
    ax.bar(x, timeline.retries, width=width, align="edge", bottom=timeline.requests, color=ORANGE, label="retries")
    if any(timeline.failures):
        ax.plot([v + width / 2 for v in x], timeline.failures, "x", color=RED, label="failed attempts")
    ax.set_xlabel(f"minutes since the first request (bins of {timeline.bin_seconds:g} s)")
    ax.set_ylabel("attempts")
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def strip_ids(svg: str, prefix: str) -> str:
    """Give an SVG's internal ids a per-chart prefix, so several charts can share one page."""
    return re.sub(r'(id="|url\(#|href="#)([^"\)]+)', lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
