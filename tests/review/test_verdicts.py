"""reviews.jsonl, the sample, the Wilson interval and the figure, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.review.render import code_segments
from selfinstruct.review.serve import choose_rows
from selfinstruct.reviews import (
    ReviewLog,
    ReviewWriter,
    apply_reviews,
    review_figure,
    reviews_path,
    row_digest,
    wilson_interval,
)


def test_wilson_interval_matches_published_values() -> None:
    # Values from Newcombe (1998), Table I (method 3, Wilson score): 81/263 and 15/148, 0/20 and 1/29.
    for (k, n), (low, high) in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}.items():
        got = wilson_interval(k, n)
        assert got == pytest.approx((low, high), abs=1e-4), (k, n)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)


def test_later_lines_win_field_by_field_and_other_rows_are_untouched(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    writer = ReviewWriter(ReviewLog.read(path))
    writer.record(0, "aaaa", verdict="right")
    writer.record(1, "bbbb", verdict="right")
    writer.record(0, "aaaa", note="check the date")
    writer.record(0, "aaaa", verdict="wrong")  # a second tab, later
    writer.record(0, "aaaa", output="fixed")
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 5 and all({"ts", "row", "hash"} <= set(line) for line in lines)
    log = ReviewLog.read(path)
    zero, changed = log.lookup(0, "aaaa")
    assert zero is not None and not changed
    assert (zero.verdict, zero.output, zero.note) == ("wrong", "fixed", "check the date")
    assert log.lookup(1, "bbbb")[0].verdict == "right"  # type: ignore[union-attr]


def test_a_changed_row_is_shown_as_changed_and_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    writer = ReviewWriter(ReviewLog.read(path))
    writer.record(0, row_digest("Add 2 and 2.", "", "5"), verdict="wrong")
    writer.record(1, row_digest("Name a colour.", "", "Red"), verdict="wrong", )
    writer.close()
    log = ReviewLog.read(path)
    now = [row_digest("Add 2 and 2.", "", "4"), row_digest("Name a colour.", "", "Red")]  # row 0 was regenerated since
    assert log.lookup(0, now[0]) == (None, True)
    applied = apply_reviews(now, log)
    assert applied.keep == [0] and applied.dropped == 1 and applied.stale == 1
    figure = review_figure(log, now, range(2), sampled=False)
    assert (figure.reviewed, figure.wrong, figure.changed) == (1, 1, 1)


def test_a_torn_last_line_is_skipped_and_a_bad_line_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    good = json.dumps({"kind": "review", "ts": "t", "row": 3, "hash": "h", "verdict": "right"})
    path.write_text(good + "\n" + '{"kind": "review", "row": 4, "ha')  # killed mid-write
    assert list(ReviewLog.read(path).reviews) == [3]
    path.write_text('{"kind": "review", "row": 4}\n' + good + "\n")
    with pytest.raises(UserError, match=r"reviews.jsonl:1: not a review line"):
        ReviewLog.read(path)


def test_the_sample_is_uniform_extends_and_is_never_redrawn(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    first, sampled, _ = choose_rows(1000, ReviewWriter(ReviewLog.read(path)), 50, 7)
    assert sampled and len(first) == len(set(first)) == 50
    again, _, _ = choose_rows(1000, ReviewWriter(ReviewLog.read(path)), None, None)
    assert again == first  # a restart without --sample continues it
    more, _, notes = choose_rows(1000, ReviewWriter(ReviewLog.read(path)), 80, None)
    assert more[:50] == first and len(set(more)) == 80
    fewer, _, notes = choose_rows(1000, ReviewWriter(ReviewLog.read(path)), 10, None)
    assert fewer == more and "only grows" in notes[0]
    with pytest.raises(UserError, match="drawn with seed 7"):
        choose_rows(1000, ReviewWriter(ReviewLog.read(path)), 100, 8)
    small, _, _ = choose_rows(30, ReviewWriter(ReviewLog.read(tmp_path / "small.jsonl")), 50, None)
    assert sorted(small) == list(range(30))  # every row when there are fewer
    # Uniform: over many seeds, each of 20 rows is drawn into a sample of 5 about a quarter of the time.
    counts = [0] * 20
    for seed in range(800):
        rows, _, _ = choose_rows(20, ReviewWriter(ReviewLog.read(tmp_path / f"u{seed}.jsonl")), 5, seed)
        for i in rows:
            counts[i] += 1
    assert all(150 < c < 250 for c in counts), counts


def test_without_a_sample_every_row_is_listed(tmp_path: Path) -> None:
    rows, sampled, _ = choose_rows(50_000, ReviewWriter(ReviewLog.read(tmp_path / "r.jsonl")), None, None)
    assert rows == range(50_000) and not sampled
    assert not (tmp_path / "r.jsonl").exists()  # listing writes nothing


def test_reviews_live_in_the_run_or_beside_the_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "journal.jsonl").write_text("")
    (run / "alpaca_data.json").write_text("[]")
    assert reviews_path(run) == run / "reviews.jsonl"
    assert reviews_path(run / "alpaca_data.json") == run / "reviews.jsonl"
    assert reviews_path(tmp_path / "mine.json") == tmp_path / "mine.reviews.jsonl"


def test_figure_says_what_the_share_stands_for(tmp_path: Path) -> None:
    writer = ReviewWriter(ReviewLog.read(tmp_path / "r.jsonl"))
    digests = [f"d{i}" for i in range(100)]
    listed, _, _ = choose_rows(100, writer, 10, None)
    for j, i in enumerate(listed[:8]):
        writer.record(i, digests[i], verdict="wrong" if j == 0 else "right")
    writer.record(listed[8], digests[listed[8]], verdict="skip")
    figure = review_figure(writer.log, digests, listed, sampled=True)
    assert (figure.reviewed, figure.right, figure.skipped) == (8, 7, 1)
    assert figure.share == pytest.approx(0.875) and figure.low == pytest.approx(0.5291, abs=1e-4)
    assert "estimate for all 100 rows" in figure.line() and "95% Wilson interval 52.9%-97.8%" in figure.line()
    in_order = review_figure(writer.log, digests, range(100), sampled=False)
    assert "not a random sample" in in_order.line()


def test_code_fences_render_as_code_and_prose_as_written() -> None:
    parts = code_segments("Run this:\n```python\nprint(1)\n```\nthen *this*.")
    assert [(p.kind, p.lang) for p in parts] == [("text", ""), ("code", "python"), ("text", "")]
    assert parts[1].text == "print(1)" and parts[2].text == "then *this*."
    assert code_segments("```\nunclosed") == [("code", "", "unclosed")]
    assert code_segments("no code") == [("text", "", "no code")]
    # Unfenced code, as small teachers write it: a paragraph that starts like code, and its indented continuation.
    unfenced = code_segments("def total(xs):\n    s = sum(xs)\n\n    return s\n\nThis adds the numbers.")
    assert unfenced == [("code", "", "def total(xs):\n    s = sum(xs)\n\n    return s"), ("text", "", "This adds the numbers.")]
    assert code_segments("First, mix.\nThen bake for 20 minutes.")[0].kind == "text"
    tail = code_segments("Here is one:\nimport random\nprint(random.random())")
    assert [(p.kind, p.text) for p in tail] == [("text", "Here is one:"), ("code", "import random\nprint(random.random())")]
