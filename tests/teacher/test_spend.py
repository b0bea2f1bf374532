"""Spend control: dollar and token caps stop a run before a request could cross them; prices, the
summary's cost lines, and the dry-run estimate checked against actual usage from the mock.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.errors import CapReached, UserError
from selfinstruct.generate.estimate import estimate_run
from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.teacher import llama_server as local_server
from selfinstruct.teacher import packaged as local
from selfinstruct.teacher.client import Decoding, Teacher
from selfinstruct.teacher.spend import PRICES_PER_M, SpendTracker, count_tokens, price_for
from tests.conftest import SEEDS, mock_args
from tests.mock_teacher import MockTeacher
from tests.reliability_checks import check_dataset, read_requests

MINI_IN, MINI_OUT = PRICES_PER_M["gpt-4o-mini"]


def _args(mock: MockTeacher, out: Path, budget: int, model: str, *extra: str) -> list[str]:
    args = mock_args(mock, out, budget, *extra)
    args[args.index("mock-teacher")] = model
    return args


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _one_error_line(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


# --- the reservation: tiktoken prompt estimate + max_tokens, settled to actual usage ----------


def test_reservation_is_the_tiktoken_prompt_plus_max_tokens(mock_teacher: MockTeacher) -> None:
    """A cap exactly at the estimate lets the request go; one token less stops it before anything is sent."""
    prompt = "Explain compound interest to a curious teenager in three short paragraphs."
    estimate = count_tokens(prompt) + 8 + 100  # chat framing, then the whole max_tokens

    async def send(cap: int) -> SpendTracker:
        spend = SpendTracker((MINI_IN, MINI_OUT), max_total_tokens=cap)
        teacher = Teacher(model="gpt-4o-mini", base_url=mock_teacher.url, api_key="sk-test-key-123", spend=spend, max_attempts=1)
        try:
            await teacher.complete(prompt, Decoding(max_tokens=100), stage="propose")
        finally:
            await teacher.aclose()
        return spend

    with pytest.raises(CapReached, match="token cap reached"):
        asyncio.run(send(estimate - 1))
    assert mock_teacher.requests == []

    spend = asyncio.run(send(estimate))
    assert len(mock_teacher.requests) == 1
    # Actuals come from the response's usage (the mock counts ~4 characters a token), not the estimate.
    assert spend.spent.prompt_tokens == len(prompt) // 4
    assert spend.spent.completion_tokens == len("I am a mock teacher.") // 4
    assert spend.spent.usd == pytest.approx((spend.spent.prompt_tokens * MINI_IN + spend.spent.completion_tokens * MINI_OUT) / 1e6)


def test_tracker_counts_requests_in_flight_against_the_cap() -> None:
    """Concurrent reservations add up, so requests in flight together can never overshoot."""
    spend = SpendTracker((1.0, 2.0), max_usd=0.001)  # $1 / $2 per 1M tokens
    first = spend.reserve(100, 200)  # worst case $0.0005
    second = spend.reserve(100, 200)
    with pytest.raises(CapReached, match="spend cap reached"):
        spend.reserve(1, 1)
    spend.release(first)
    spend.record(100, 50)  # actually cost $0.0002
    spend.release(second)
    assert spend.spent.usd == pytest.approx(0.0002)
    spend.reserve(100, 300)  # $0.0007 more fits exactly under $0.001


# --- caps on real runs --------------------------------------------------------------------


def test_max_usd_stops_before_the_next_request_could_cross(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cap = 0.002
    result = runner.invoke(app, _args(mock_teacher, out, 50, "gpt-4o-mini", "--concurrency", "1", "--max-usd", str(cap)))
    assert result.exit_code == 4, result.output
    line = _one_error_line(result.output)
    match = re.search(r"spend cap reached: \$([\d.]+) spent.*, the next request could cost up to \$([\d.]+) more", line)
    assert match, line
    spent = sum(r.get("usd", 0.0) for r in read_requests(out))
    assert spent <= cap
    # Not stopped early: requests already under way finished after the refusal (spend only grows), and
    # the refused request's worst case on top of the final spend would have crossed the cap.
    assert float(match.group(1)) <= spent + 1e-4
    assert spent + float(match.group(2)) > cap - 1e-4
    assert not (out / "alpaca_data.json").exists()
    assert _summary(out)["status"].startswith("stopped: spend cap reached")

    # The cap covers the whole run, across sessions: a rerun with the same cap never crosses it either.
    result = runner.invoke(app, _args(mock_teacher, out, 50, "gpt-4o-mini", "--concurrency", "4", "--max-usd", str(cap)))
    assert result.exit_code == 4
    assert sum(r.get("usd", 0.0) for r in read_requests(out)) <= cap
    # Raising the cap resumes and finishes.
    result = runner.invoke(app, _args(mock_teacher, out, 50, "gpt-4o-mini", "--concurrency", "4", "--max-usd", "1"))
    assert result.exit_code == 0, result.output
    check_dataset(out, 50)
    total = sum(r.get("usd", 0.0) for r in read_requests(out))
    assert _summary(out)["usd"] == pytest.approx(total, abs=1e-5)


def test_max_total_tokens_stops_before_the_cap(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cap = 8000
    result = runner.invoke(app, mock_args(mock_teacher, out, 50, "--concurrency", "3", "--max-total-tokens", str(cap)))
    assert result.exit_code == 4, result.output
    assert "token cap reached" in _one_error_line(result.output)
    log = read_requests(out)
    used = sum(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0) for r in log)
    assert 0 < used <= cap
    summary = _summary(out)
    assert summary["tokens"]["prompt"] + summary["tokens"]["completion"] == used
    assert not (out / "alpaca_data.json").exists()


# --- prices -------------------------------------------------------------------------------


def test_price_table_and_overrides() -> None:
    assert price_for("gpt-4o-mini", None, None) == (MINI_IN, MINI_OUT)
    assert price_for("gpt-4o-mini-2024-07-18", None, None) == (MINI_IN, MINI_OUT)  # dated snapshots
    assert price_for("openai/gpt-4o", None, None) == PRICES_PER_M["gpt-4o"]  # router prefixes
    assert price_for("gpt-4o-mini", 1.0, None) == (1.0, MINI_OUT)  # each side overrides on its own
    assert price_for("house-model", 3.0, 7.0) == (3.0, 7.0)
    assert price_for("house-model", 3.0, None) is None  # half a price is no price, never a silent $0
    assert price_for("house-model", None, None) is None


@pytest.mark.parametrize(
    ("model", "extra", "prices"),
    [("gpt-4o-mini", (), (MINI_IN, MINI_OUT)), ("house-model", ("--price-input", "3", "--price-output", "7"), (3.0, 7.0))],
    ids=["table", "override"],
)
def test_summary_shows_tokens_cost_and_cost_per_kept_instruction(
    mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, model: str, extra: tuple[str, ...], prices: tuple[float, float]
) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, _args(mock_teacher, out, 5, model, *extra))
    assert result.exit_code == 0, result.output
    summary = _summary(out)
    log = read_requests(out)
    prompt = sum(r.get("prompt_tokens", 0) for r in log)
    completion = sum(r.get("completion_tokens", 0) for r in log)
    usd = (prompt * prices[0] + completion * prices[1]) / 1e6
    assert summary["tokens"] == {"prompt": prompt, "completion": completion}
    assert summary["usd"] == pytest.approx(usd, abs=1e-6)
    assert summary["usd_per_instruction"] == pytest.approx(usd / 5, abs=1e-6)
    assert summary["usd_per_example"] == pytest.approx(usd / summary["examples"], abs=1e-6)
    assert summary["price_known"]
    assert f"{prompt:,} / {completion:,}" in result.output
    assert f"${usd:.4f}" in result.output and "per kept instruction" in result.output


def test_unknown_price_is_reported_as_unknown_not_zero(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, mock_args(mock_teacher, out, 3))
    assert result.exit_code == 0
    assert not _summary(out)["price_known"]
    assert "unknown: no price for this model" in result.output


@pytest.mark.parametrize("extra", [(), ("--price-input", "1")], ids=["no-price", "half-a-price"])
def test_max_usd_with_an_unknown_model_fails_up_front(mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, extra: tuple[str, ...]) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, _args(mock_teacher, out, 5, "house-model", "--max-usd", "1", *extra))
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --max-usd: no built-in price for model 'house-model'; pass --price-input and --price-output (USD per 1M tokens)"
    )
    assert mock_teacher.requests == [] and not out.exists()


def test_tracker_refuses_a_dollar_cap_without_a_price() -> None:
    with pytest.raises(UserError, match="--max-usd needs a price"):
        SpendTracker(None, max_usd=1.0)


# --- dry run -------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", ["self-instruct", "alpaca"])
def test_dry_run_sends_nothing_and_estimates_within_2x_of_actuals(
    mock_teacher: MockTeacher, runner: CliRunner, tmp_path: Path, recipe: str
) -> None:
    """The estimate is a forecast, not a bill: requests, tokens and cost within 0.5x-2x of a mock run's actuals."""
    out = tmp_path / "run"
    # The mock's alpaca outputs are all about 35 words, so its run asks no short answer again, where the estimate counts
    # --consistency requests for the seeds' share of short answers (20%, as real teachers write them): that stage is
    # compared on self-instruct, whose mock instances include short answers.
    extra = ("--consistency", "0") if recipe == "alpaca" else ()
    args = _args(mock_teacher, out, 50, "gpt-4o-mini", "--recipe", recipe, "--concurrency", "4", *extra)
    result = runner.invoke(app, [*args, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert mock_teacher.requests == [] and not out.exists()
    assert "estimated cost $" in result.output and "Nothing was sent" in result.output

    est = estimate_run(GenerateConfig(seeds=SEEDS, budget=50, out=out, recipe=recipe, model="gpt-4o-mini", base_url=mock_teacher.url,
                                      consistency=0 if recipe == "alpaca" else 2))
    assert runner.invoke(app, args).exit_code == 0
    summary = _summary(out)
    actual_tokens = summary["tokens"]["prompt"] + summary["tokens"]["completion"]
    pairs = {
        "requests": (est.requests, summary["requests"]),
        "tokens": (est.prompt_tokens + est.completion_tokens, actual_tokens),
        "usd": (est.usd, summary["usd"]),
    }
    for name, (estimated, actual) in pairs.items():
        assert 0.5 <= estimated / actual <= 2.0, (name, estimated, actual)
    # The worst case (every answer at max_tokens) is what the caps reserve: never below the actual bill.
    assert est.worst_usd >= summary["usd"]


def test_dry_run_prices_unknown_models_honestly(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--seeds", str(SEEDS), "--budget", "20", "--out", str(tmp_path / "run"),
                                 "--base-url", "http://127.0.0.1:9/v1", "--model", "house-model", "--dry-run"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "house-model: no known price" in result.output.replace("\n", " ")


def test_dry_run_with_the_local_teacher_starts_nothing(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dry run must not start or resolve the local model")

    monkeypatch.setattr(local, "resolve_local_model", forbidden)
    monkeypatch.setattr(local_server, "local_server", forbidden)
    result = runner.invoke(app, ["generate", "--seeds", str(SEEDS), "--budget", "20", "--out", str(tmp_path / "run"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "(local): free" in result.output
    assert not (tmp_path / "run").exists()
