"""Settings of `selfinstruct clean`: the single source of its options and their help."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, field_validator, model_validator

from selfinstruct.endpoint_settings import LIMITS, TeacherSettings, carry_caps
from selfinstruct.report.cleaned import work_dir_for
from selfinstruct.settings import _Config, nested, setting

CHECKS = "Checks"
GATE = "Quality gate"
CALIBRATION = "Calibration (--calibrate)"


class CleanConfig(_Config):
    """Settings of one `clean` run: which data, which checks, which judge, and where the kept rows go."""

    model_config = ConfigDict(json_schema_extra={"config_example": "min_quality: 3.5"})

    data: Path | None = setting(
        None, "Dataset to clean: Alpaca JSON/JSONL ({instruction, input, output}, other keys kept), ShareGPT ({conversations: [{from, value}]}) "
        "or messages ({messages: [{role, content}]}), JSON list or JSONL; or a generate run directory (its alpaca_data.json, or conversations.json).",
        argument=True, metavar="DATA")
    out: Path | None = setting(
        None, "Where the kept rows go, in DATA's row format (conversations repaired); a .jsonl name is written as JSON Lines, any other as a JSON list. "
        "Beside it: OUT-stem.dropped.jsonl (each dropped row and why), OUT-stem.scores.jsonl (one line per input row: index, kept, score, reasons).",
        metavar="OUT")
    format: Literal["auto", "alpaca", "sharegpt", "messages"] = setting(
        "auto", "Row format of DATA: auto detects it from the first record; alpaca, sharegpt or messages forces it.")
    work: Path | None = setting(
        None, "Directory of the run's journal (every verifier result and gate score as it arrives), request log, config and summary. "
        "Default: OUT-stem.clean/ beside OUT. Rerun the same command to resume: nothing journaled is checked or paid for twice.", metavar="DIR")
    limit: int | None = setting(None, "Clean only the first N rows of DATA (OUT holds what they keep).", panel=LIMITS, ge=1, metavar="N")
    dedup: bool = setting(
        True, "Drop near-duplicates (ROUGE-L F above --threshold, the engine of `selfinstruct dedup`), greedily in order: Alpaca rows by instruction "
        "(rows of one instruction are its instances; a repeated input is a duplicate), conversations by their first request and answer.", panel=CHECKS)
    against: list[Path] = setting(
        [], "Other data rows are also compared with, never written out: seed tasks, Alpaca, ShareGPT or messages files, or a text file of one "
        "instruction a line. Repeatable.", panel=CHECKS, metavar="FILE")
    threshold: float = setting(0.7, "Near-duplicate threshold: drop a row whose ROUGE-L F is above this (exactly 0.7 is kept).", panel=CHECKS,
                               ge=0, le=1, allow_inf_nan=False)  # fmt: skip
    tokenizer: Literal["rouge", "unicode"] = setting(
        "rouge", "rouge: exactly rouge_score's tokens. unicode: words of any script, for non-English data (not rouge_score-compatible).", panel=CHECKS)
    engine: Literal["local", "ray"] = setting(
        "local", "Where the near-duplicate checks run: local (this process and --workers - 1 forked ones) or ray (a Ray cluster; needs selfinstruct[ray]). "
        "Both make the same decisions, those of `selfinstruct dedup`.", panel=CHECKS)
    workers: int | None = setting(None, "Processes (local) or Ray workers checking blocks of rows at once. Default: every CPU this process may use (local), "
                                  "every CPU of the cluster (ray).", panel=CHECKS, ge=1)  # fmt: skip
    ray_address: str | None = setting(
        None, "With --engine ray: the cluster to join (its head's address, e.g. 10.0.0.5:6379, or auto). Default: start a Ray instance on this machine's CPUs.",
        panel=CHECKS, metavar="ADDRESS")
    flags: bool = setting(
        True, "Drop rows with a quality flag of `selfinstruct report` (merged instructions, input placeholders, empty or echo outputs, "
        "references to media, URL-only inputs, control characters, unbalanced code fences, wrong arithmetic); in conversations, the assistant's answers.", panel=CHECKS)
    ignore: list[str] = setting(
        [], "A quality flag or verifier reason that drops nothing, e.g. media_reference for data that discusses pictures, or code_error for "
        "chats whose code is fragments of a larger program (a verifier stops at the first failure, so an ignored one leaves that "
        "turn's later checks unrun). Repeatable.", panel=CHECKS, metavar="REASON")
    verifiers: bool = setting(
        True, "Run generate's verifiers on every row (every turn of a conversation): material the instruction needs but lacks, wrong arithmetic "
        "and unit conversions, SQL and Python that do not parse, Python that raises, times out or prints other than its output says (sandboxed); "
        "with the gate on, also the answer-kind judge (--judge-checks) and, with --consistency K, short answers asked again.",
        panel=CHECKS)
    run_code: bool = setting(True, "With the verifiers: run the Python in outputs in the sandbox; --no-run-code only parses it.", panel=CHECKS)
    judge_checks: bool = setting(
        True, "With the gate on: the verifiers' checks that ask a model ask the gate's judge (--judge-*): an output whose form may "
        "not be what was asked (code for a list of numbers, no code for a program) is dropped as wrong_kind unless the judge says the "
        "instruction asks for what the output is. One short request per such instruction.", panel=CHECKS)
    consistency: int = setting(
        0, "With the gate on and --judge-checks: ask the judge this many times for each short answer (a label, a number, a short fact) "
        "and drop the row as inconsistent when most of its answers disagree. Off by default: the rows' author cannot be asked again, "
        "so this measures agreement with the judge, which the gate's --judge-own-answer already checks.", panel=CHECKS, ge=0, le=10)
    consistency_temperature: float = setting(0.7, "Sampling temperature of the judge's answers for --consistency (generate's proposal temperature).",
                                             panel=CHECKS, ge=0, le=2)  # fmt: skip
    gate: bool = setting(
        True, "Score the rows every other check kept with the judge (1-5: correct, relevant, complete; the expected score from the digit "
        "probabilities, against the row's reference answer when it has one) and drop those under --min-quality.", panel=GATE)
    min_quality: float = setting(
        3.5, "Lowest gate score a row keeps; a conversation's score is its lowest turn's. 3.5 separated better from worse outputs best on "
        "the calibration set (README, Judge calibration).", panel=GATE, ge=1, le=5)
    reference_field: str = setting(
        "reference", "Alpaca rows: the field holding a reference answer the gate checks the output against, where a row has one.", panel=GATE, min_length=1)
    judge_own_answer: bool = setting(
        True, "A short output (40 words or fewer) without a reference is scored against the judge's own answer to the request, asked once "
        "per request (greedy, at most 64 tokens; not used if cut off), as generate's gate does; one short request more per short answer.", panel=GATE)
    gate_turns: int | None = setting(
        None, "Conversations: score only the first N user/assistant exchanges. Default: every exchange (one judge request each).", panel=GATE, ge=1,
        metavar="N")
    gate_prompt_tokens: int = setting(
        2500, "Most tokens of row text in one gate prompt: a longer instruction, output or earlier conversation is shortened in the middle "
        "(marked) so the prompt fits the judge's context.", panel=GATE, ge=200)
    judge: TeacherSettings = nested(TeacherSettings, prefix="judge_", panel=GATE)
    max_usd: float | None = setting(None, "Stop before a gate request could take the run's total spend past this many US dollars.", panel=LIMITS, gt=0)
    max_total_tokens: int | None = setting(None, "Stop before a gate request could take the run's total tokens (in + out) past this.", panel=LIMITS, gt=0)
    dry_run: bool = setting(
        False, "Read DATA, run the cheap checks (repairs, dedup, flags) and print what the gate would ask, its tokens and cost; "
        "nothing is sent, run or written.", panel=LIMITS, exclude=True)
    calibrate: bool = setting(
        False, "Instead of cleaning: score the labelled outputs of --calibration-set with the gate and print how well its score separates "
        "the better outputs from the worse (ROC AUC; `eval --calibrate --calibrate-gate`). --limit takes the first N pairs; --work resumes.",
        panel=CALIBRATION)
    calibration_set: Path | None = setting(
        None, "Labelled pairs, JSONL {instruction, output_1, output_2, label: 1|2}. Default: the shipped LLMBar Natural set (eval_tasks/calibration/).",
        panel=CALIBRATION, metavar="FILE")

    @field_validator("ignore")
    @classmethod
    def _known_reasons(cls, names: list[str]) -> list[str]:
        from selfinstruct.report.flags import DETECTORS
        from selfinstruct.stages.verifiers import REASONS

        known = list(DETECTORS) + [r for r in REASONS if r not in DETECTORS]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a quality flag or verifier reason; they are {', '.join(known)}")
        return names

    @model_validator(mode="after")
    def _data_unless_calibrating(self) -> CleanConfig:
        from selfinstruct.errors import UserError

        if self.calibrate:
            if self.data is not None or self.out is not None:
                raise UserError("--calibrate measures the gate on labelled pairs; it takes no DATA or --out")
            return self
        if self.data is None:
            raise UserError("DATA is required (or --calibrate to measure the gate)")
        if self.out is None:
            raise UserError("--out is required: the file the kept rows go to")
        return self

    @model_validator(mode="after")
    def _caps_cover_the_run(self) -> CleanConfig:
        """--max-usd / --max-total-tokens are the run's caps; the judge settings carry them to the endpoint."""
        carry_caps(self, self.judge)
        return self

    @property
    def work_dir(self) -> Path:
        assert self.out is not None
        return self.work or work_dir_for(self.out)

    def public_dump(self) -> dict[str, object]:
        """The config as written to disk: no API key, credentials stripped from the judge's base URL."""
        from selfinstruct.endpoint_settings import redact_urls

        data = self.model_dump(mode="json")
        data["judge"]["base_url"] = redact_urls(self.judge.base_url)
        return data
