"""Settings of `generate` and `status`: the single source of their options' defaults, help text and panels.

The teacher's settings (endpoint_settings.py) are nested flat, a recipe's own options are inherited
from its options class; the recipe's name is checked against recipes.RECIPES, and what a recipe needs
(--seeds or not, items per request, what a resumed directory must match) is read from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError

from selfinstruct.endpoint_settings import LIMITS, BatchSettings, TeacherSettings, redact_url, redact_urls
from selfinstruct.errors import UserError
from selfinstruct.recipes import DEFAULT as DEFAULT_RECIPE
from selfinstruct.recipes import RECIPES
from selfinstruct.recipes.base import RECIPE
from selfinstruct.settings import _Config, fresh_dir, nested, setting

QUALITY = "Quality gate"


def fresh_run_dir() -> Path:
    """A new folder under outputs/ named by the start time (run-YYYYmmdd-HHMMSS); never reuses an existing one."""
    return fresh_dir("run")


class _GenerateBase(_Config):
    """The options every recipe reads first: inputs, budget, run directory, recipe, teacher; then each recipe's own
    (Recipe.OPTIONS, in RECIPES' order) and the rest of GenerateConfig's, in this order in --help and config.json."""

    # Required by every recipe but grounded, whose --context takes the seeds' place (checked below).
    seeds: Path | None = setting(None, "Seed tasks, JSONL in the Self-Instruct/Alpaca format (id, name, instruction, instances, is_classification). Not used by --recipe grounded.")
    budget: int = setting(help="New instructions to end with, each with at least one valid instance. The run stops as soon as it has them.", gt=0)
    out: Path = setting(
        help="Run directory. Default: a fresh folder under outputs/. Rerun with the same --out to resume.", default_factory=fresh_run_dir)
    # Checked against recipes.RECIPES, and its help lists them, so a new recipe needs no change here.
    recipe: str = setting(
        DEFAULT_RECIPE, " ".join(f"{name}: {recipe.HELP}" for name, recipe in RECIPES.items()), panel=RECIPE)
    teacher: TeacherSettings = nested(TeacherSettings)
    batch_api: BatchSettings = nested(BatchSettings)
    seed: int = setting(42, "Random seed for sampling example tasks; the same seed gives the same prompts.", panel=RECIPE)
    prompts: Path | None = setting(None, "Directory of prompt templates overriding the shipped ones (same file names and placeholders).", panel=RECIPE)
    num_instructions_per_request: int = setting(20, "Instructions the teacher is asked for in each proposal request.", panel=RECIPE, ge=1, le=100)
    num_seed_examples: int | None = setting(None, "Seed tasks shown per proposal request. Default: 6 (self-instruct), 3 (alpaca).", panel=RECIPE, ge=0)
    num_machine_examples: int | None = setting(
        None, "Already generated tasks shown per proposal request, once any exist. Default: 2 (self-instruct), 0 (alpaca).", panel=RECIPE, ge=0)


# Each recipe's own options class, last recipe first: pydantic lists the fields of the bases from the last, so --help and
# config.json show them in RECIPES' order, after _GenerateBase's. A new recipe's options join here without an edit.
_RECIPE_OPTIONS = tuple(reversed([recipe.OPTIONS for recipe in RECIPES.values() if recipe.OPTIONS is not None]))


class GenerateConfig(*_RECIPE_OPTIONS, _GenerateBase):  # type: ignore[misc]
    """Settings of one `generate` run; written to the run directory (without secrets) as config.json.

    A recipe's own options come from its options class (recipes/base.py's OPTIONS), which this class
    extends, so `generate --help` shows them from that one source. The teacher's settings sit in
    `teacher` but are written, and accepted, flat (`model`, `max_usd`),
    as config.json has always held them.
    """

    model_config = ConfigDict(json_schema_extra={"config_example": "max_usd: 5"})

    max_instances: int = setting(5, "Most input/output instances kept per instruction.", panel=RECIPE, ge=1, le=20)
    classify_batch: int = setting(5, "Instructions judged per classification request.", panel=RECIPE, ge=1, le=50)
    temperature: float | None = setting(None, "Proposal temperature. Default: 0.7 (self-instruct), 1.0 (alpaca).", panel=RECIPE, ge=0, le=2)
    top_p: float | None = setting(None, "Proposal top_p. Default: 0.5 (self-instruct), 1.0 (alpaca).", panel=RECIPE, gt=0, le=1)
    presence_penalty: float | None = setting(None, "Proposal presence penalty. Default: 2.0 (self-instruct), 0 (alpaca).", panel=RECIPE, ge=-2, le=2)
    max_tokens: int | None = setting(
        None, "Token limit per response. Default: sized to the request (about 50 per proposed instruction).", panel=RECIPE, ge=16)
    rouge_threshold: float = setting(
        0.7, "Drop a candidate whose ROUGE-L F against any seed or kept instruction is above this.", panel=RECIPE, ge=0, le=1)
    # None until validated: rouge for English, unicode for any other --language (a given value is kept).
    rouge_tokenizer: Literal["rouge", "unicode"] | None = setting(
        None, "rouge: exactly rouge_score's tokens ([a-z0-9] runs; non-Latin text never counts as a duplicate). unicode: words of any script, for non-English runs (not rouge_score-compatible). Default: rouge; unicode with a --language other than English.", panel=RECIPE)
    allow_non_ascii: bool = setting(False, "Keep instructions that start with a non-ASCII character (for non-English runs).", panel=RECIPE)
    language: str = setting(
        "English", "Language of the data: every prompt tells the teacher to write tasks, inputs and outputs in it (e.g. German, Japanese). "
        "Any other than English also keeps instructions that start with a non-ASCII character and switches the near-duplicate check to the unicode tokenizer.", panel=RECIPE, min_length=1)
    keywords: Path | None = setting(
        None, "File of keywords (one a line) that reject an instruction holding one as a whole word, instead of the built-in English list (image, graph, draw, ...); for non-English runs.",
        panel=RECIPE, metavar="FILE")
    include_seeds: bool = setting(False, "Also write the seed tasks' instances into alpaca_data.json.", panel=RECIPE)
    seed_mix: bool = setting(
        True, "self-instruct: keep the run's task mix within reach of the seeds': proposals show seed examples stratified by kind (code, classification, with an input, open), "
        "and a proposed task whose kind is full is rejected (code past the seeds' share + 10 points of the budget, or no input past what leaves the seeds' share - 10 points "
        "to tasks with one); the mix gives way for the rest of the run once 90 of the last 100 tasks it judged were of a full kind, or half the proposal cap is spent "
        "(the end-of-run table says why). --no-seed-mix keeps whatever the teacher proposes.", panel=RECIPE)
    verifiers: bool = setting(
        True, "Check every instance without a judge before the quality gate and drop the wrong ones: an instruction that works on missing input "
        "(\"Given a paragraph, ...\" with none), wrong arithmetic or unit conversions, SQL that does not parse, Python that does not parse, raises, "
        "times out or prints other than its output says (run in a sandbox: no network, no writes outside an empty temporary folder, CPU, memory and time limits), "
        "an output of another kind than asked (code for \"a list of 10 random numbers\": the judge decides, asked one yes/no token where the form looks wrong), "
        "a short answer the teacher does not repeat (--consistency). --no-verifiers keeps them all.", panel=QUALITY)
    run_code: bool = setting(
        True, "With the verifiers on: run the Python an output holds in the sandbox; --no-run-code only parses it.", panel=QUALITY)
    consistency: int = setting(
        2, "With the verifiers on: ask the teacher this many more times for each short answer (a label, a number, a short fact), at the proposal temperature, "
        "and drop an instance whose new answers mostly disagree with it; the summary prints the agreement rate. 0 turns it off. "
        "Online only: with --batch it and the answer-kind judge are off, since each would cost another batch round trip.", panel=QUALITY, ge=0, le=10)
    quality_judge: bool | None = setting(
        None, "Score each finished instruction's instances 1-5 with the judge (correctness, relevance to the instruction, completeness) and drop those under --min-quality. Default: on for the embedded local teacher, off for a hosted one.", panel=QUALITY)
    min_quality: float = setting(
        3.5, "Lowest quality score (1-5) an instance needs to be kept while the quality judge is on: the judge's expected score (sum of k * p(k) over the digits) where the endpoint gives log-probabilities, else its digit. "
        "3.5 separated better from worse outputs best on the calibration set (README, Judge calibration).", panel=QUALITY, ge=1, le=5)
    judge_own_answer: bool = setting(
        True, "With the quality judge on: a short output (40 words or fewer: a label, a number, a name) is scored against the judge's own answer to the instruction, "
        "asked once per instruction and input (greedy, at most 64 tokens; not used if cut off). Catches confident wrong facts a judge passes on their own; "
        "costs one short request per short-answer instruction. An answer known for the same instruction (a seed's) is used instead.", panel=QUALITY)
    # Left at its defaults, the judge is the teacher itself: the same endpoint, spend and caps.
    judge: TeacherSettings = nested(TeacherSettings, prefix="judge_", panel=QUALITY)
    max_proposals: int | None = setting(
        None, "Attempt cap: most proposal requests for the whole run. Default: enough for a 20% keep rate, at least 10. grounded: counts response requests (one per context and type).", panel=LIMITS, ge=1)
    # A mode of the command, not a setting of the run: never written to config.json.
    dry_run: bool = setting(
        False, "Print the estimated requests, tokens and cost for this budget and recipe, and exit without sending anything.", panel=LIMITS, exclude=True)

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, name: str) -> str:
        if name not in RECIPES:
            choices = ", ".join(repr(n) for n in RECIPES)
            raise PydanticCustomError("unknown_recipe", f"{name!r} is not one of {choices}.")
        return name

    @model_validator(mode="before")
    @classmethod
    def _accept_flat_teacher(cls, data: Any) -> Any:
        """Take teacher and batch settings flat as well (`model=...`, `batch=...`, a config.json), as before they were nested."""
        if not isinstance(data, dict):
            return data
        batch = {k: data[k] for k in BatchSettings.model_fields if k in data}
        if batch:  # --batch and friends, flat in config.json like the teacher's settings
            inner_batch = data.get("batch_api", {})
            if isinstance(inner_batch, BatchSettings):
                inner_batch = {k: getattr(inner_batch, k) for k in inner_batch.model_fields_set}
            data = {**{k: v for k, v in data.items() if k not in batch}, "batch_api": {**inner_batch, **batch}}
        flat = {k: data[k] for k in TeacherSettings.model_fields if k in data and not (k == "teacher" and not isinstance(data[k], str))}
        if not flat:
            return data
        rest = {k: v for k, v in data.items() if k not in flat}
        inner = rest.get("teacher", {})
        if isinstance(inner, TeacherSettings):
            inner = {k: getattr(inner, k) for k in inner.model_fields_set}
        return {**rest, "teacher": {**inner, **flat}}

    @model_validator(mode="after")
    def _seeds_or_context(self) -> GenerateConfig:
        """--seeds is required unless the recipe writes from --context instead (recipe grounded)."""
        if self.seeds is None and RECIPES[self.recipe].NEEDS_SEEDS:
            raise UserError("--seeds is required (on the command line or in --config)")
        return self

    @model_validator(mode="after")
    def _language_defaults(self) -> GenerateConfig:
        """A non-English run: no ASCII-first-character filter, and words of any script for ROUGE-L (unless set)."""
        if self.foreign_language:
            object.__setattr__(self, "allow_non_ascii", True)
        if self.rouge_tokenizer is None:
            object.__setattr__(self, "rouge_tokenizer", "unicode" if self.foreign_language else "rouge")
        return self

    @property
    def foreign_language(self) -> bool:
        return self.language.strip().casefold() != "english"

    @property
    def proposal_cap(self) -> int:
        """Most proposal requests a run may make: room for a keep rate down to 20%, at least 10."""
        if self.max_proposals is not None:
            return self.max_proposals
        # A recipe whose request writes one item (grounded: one response type for one context) says so.
        per_request = RECIPES[self.recipe].ITEMS_PER_REQUEST or self.num_instructions_per_request
        return max(10, 5 * -(-self.budget // per_request) + 5)

    def identity(self) -> dict[str, object]:
        """Settings that must match for a directory to be resumed (budget may grow or shrink)."""
        identity: dict[str, object] = {"recipe": self.recipe, "num_instructions_per_request": self.num_instructions_per_request}
        identity.update(RECIPES[self.recipe].identity(self))  # what else fixes what request n means, for this recipe
        return identity

    def public_dump(self) -> dict[str, object]:
        """The config as written to disk, flat: no API key, and credentials stripped from the base URL."""
        data: dict[str, object] = {}
        for key, value in self.model_dump(mode="json").items():
            data.update(value if key in ("teacher", "batch_api") else {key: value})
        data["base_url"] = redact_urls(self.teacher.base_url)
        data["judge"]["base_url"] = redact_url(self.judge.base_url)  # type: ignore[index]
        return data

    @property
    def judge_is_teacher(self) -> bool:
        """No judge setting was given: the quality judge is the teacher's own endpoint."""
        return self.judge == TeacherSettings()


class StatusConfig(_Config):
    """Settings of `status`: which run directory to describe."""

    model_config = ConfigDict(json_schema_extra={"config_example": "run_dir: outputs/run-1"})

    run_dir: Path = setting(help="A generate run directory (--out of generate).", argument=True, metavar="RUN_DIR")
