"""Settings of `eval`: contestants, tasks, the judge (a teacher under the `judge_` prefix) and calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, model_validator

from selfinstruct.endpoint_settings import LIMITS, TeacherSettings, carry_caps, redact_urls
from selfinstruct.settings import _Config, fresh_dir, nested, setting

JUDGE = "Judge"
CALIBRATION = "Calibration"
CONTESTANTS = "Contestants"


def fresh_eval_dir() -> Path:
    """A new folder under outputs/ named by the start time (eval-YYYYmmdd-HHMMSS); never reuses an existing one."""
    return fresh_dir("eval")


class EvalConfig(_Config):
    """Settings of one `eval` run; written to the eval directory (without secrets) as config.json.

    The judge is a teacher like generate's, under the `judge_` prefix (--judge-model, --judge-base-url,
    ...); with no endpoint configured it is the embedded local model. --max-usd and --max-total-tokens
    cap the whole run: the judge and any openai:MODEL contestant together.
    """

    model_config = ConfigDict(json_schema_extra={"config_example": "judge_model: gpt-4o"})

    a: str | None = setting(
        None, "Contestant A: a finetune output dir, a Hugging Face model dir or id, gemma-3-270m, a .gguf file or packaged model "
        "(qwen2.5-coder-0.5b), openai:MODEL or openai:MODEL@BASE_URL, or a .json/.jsonl file of answers.", metavar="SPEC")
    b: str | None = setting(None, "Contestant B, in any form --a takes.", metavar="SPEC")
    tasks: Path | None = setting(
        None, "Tasks: Self-Instruct user-oriented JSONL (id, instruction, instances) or Alpaca JSON/JSONL. Default: the shipped eval_tasks/eval_tasks.jsonl.", metavar="FILE")
    out: Path = setting(help="Eval directory. Default: a fresh folder under outputs/. Rerun with the same --out to resume.", default_factory=fresh_eval_dir)
    limit: int | None = setting(None, "Evaluate only the first N tasks of the file.", ge=1)
    template: Literal["alpaca", "chat"] | None = setting(
        None, "Prompt for a local model without a prompt_template.json: alpaca (the prompt finetune trains with) or chat (the model's own chat template).", panel=CONTESTANTS)
    max_new_tokens: int = setting(256, "Most tokens in a generated answer; generation also stops at EOS.", panel=CONTESTANTS, ge=1, le=32768)
    batch_size: int = setting(8, "Prompts a local transformers model answers together.", panel=CONTESTANTS, ge=1)
    temperature: float = setting(0.0, "Sampling temperature of generated answers; 0 is greedy (deterministic).", panel=CONTESTANTS, ge=0, le=2)
    precision: Literal["auto", "bf16", "fp32"] = setting(
        "auto", "Local transformers models: auto is bf16 where the GPU or CPU computes it natively (2-3x faster on an AVX512-BF16 CPU), else fp32.", panel=CONTESTANTS)
    reference: bool = setting(
        True, "Show the judge each task's reference output, where the task has one, and have it check correctness against it; --no-reference judges without.", panel=JUDGE)
    judge_verdicts: Literal["probability", "text", "scores"] = setting(
        "probability", "probability: ask for one letter and read the verdict from the judge's token probabilities (top_logprobs; falls back to text where the endpoint sends none). "
        "scores: grade each answer alone, 1-5 as the expected score from the digit probabilities (against the reference when shown), and compare the grades; no position to be biased by. "
        "text: the judge explains, then writes its verdict.", panel=JUDGE)
    judge_debias: bool = setting(
        True, "Probability verdicts: divide the judge's position prior out of every verdict (its mean P(first), P(second), P(tie) over the run's judgements, "
        "each pair counted in both orders) before reading each order's verdict and the pair's score; --no-judge-debias reads them as the judge gave them.", panel=JUDGE)
    judge_margin: float = setting(
        0.0, "Probability verdicts: a pair is a win only when A's win probability (mean over both orders) is more than this above or below 0.5; else a tie. "
        "0 agreed best with people on the calibration set (README, Judge calibration).", panel=JUDGE, ge=0, lt=0.5)
    judge: TeacherSettings = nested(TeacherSettings, prefix="judge_", panel=JUDGE)
    judge_max_tokens: int = setting(320, "Most tokens in one judge reply (a few sentences, then the verdict line).", panel=JUDGE, ge=16)
    prompts: Path | None = setting(
        None, "Directory whose judge templates replace the shipped ones: judge_pairwise.txt and judge_pairwise_reference.txt (text verdicts), "
        "judge_pairwise_verdict.txt and judge_pairwise_verdict_reference.txt (one-letter verdicts); all four must be there.", panel=JUDGE, metavar="DIR")
    calibrate: bool = setting(
        False, "Measure the judge instead of comparing contestants: judge labelled pairs (--calibration-set) in both orders and print agreement with the labels, position consistency, first-position wins and time per verdict.", panel=CALIBRATION)
    calibration_set: Path | None = setting(
        None, "Labelled pairs for --calibrate, JSONL {instruction, output_1, output_2, label: 1|2}. Default: the shipped LLMBar Natural set (eval_tasks/calibration/, with its licence).", panel=CALIBRATION, metavar="FILE")
    calibrate_gate: bool = setting(
        False, "With --calibrate: score every output with the quality gate instead, and print how well its score separates the better outputs from the worse (ROC AUC).", panel=CALIBRATION)
    min_quality: float = setting(3.5, "With --calibrate-gate: the gate threshold whose kept shares are printed (as generate --min-quality).", panel=CALIBRATION, ge=1, le=5)
    judge_own_answer: bool = setting(True, "With --calibrate-gate: check a short output against the judge's own answer, as generate's gate does (--judge-own-answer).", panel=CALIBRATION)
    max_usd: float | None = setting(None, "Stop before a request could take the run's total spend (judge and API contestants) past this many US dollars.", panel=LIMITS, gt=0)
    max_total_tokens: int | None = setting(None, "Stop before a request could take the run's total tokens (in + out) past this.", panel=LIMITS, gt=0)
    dry_run: bool = setting(
        False, "Print the requests, tokens and cost this evaluation would take, and exit without loading a model or sending anything.", panel=LIMITS, exclude=True)

    @model_validator(mode="after")
    def _contestants_unless_calibrating(self) -> EvalConfig:
        if not self.calibrate:
            for side in ("a", "b"):
                if getattr(self, side) is None:
                    raise ValueError(f"--{side} is required (or --calibrate to measure the judge)")
        elif self.a is not None or self.b is not None:
            raise ValueError("--calibrate measures the judge on labelled pairs; it takes no --a or --b")
        if self.calibrate_gate and not self.calibrate:
            raise ValueError("--calibrate-gate needs --calibrate")
        return self

    @model_validator(mode="after")
    def _caps_cover_the_run(self) -> EvalConfig:
        """--max-usd / --max-total-tokens are the run's caps; the judge settings carry them to every endpoint."""
        carry_caps(self, self.judge)
        return self

    def public_dump(self) -> dict[str, object]:
        """The config as written to disk: no API key, credentials stripped from the judge's base URL."""
        data = self.model_dump(mode="json")
        data["judge"]["base_url"] = redact_urls(self.judge.base_url)
        return data
