"""Pydantic settings for each command: the single source of every option's default, help text and panel.

    class DedupConfig(_Config):
        threshold: float = setting(0.7, "Drop an item whose ROUGE-L F ... is above this.", ge=0, le=1)

`selfinstruct.cli` turns each model into its command's options (`cli_options.py`); how a field
declares its option (`setting()`, `nested()`) and how settings are validated (`build_config`)
is in `settings.py`. Settings are validated before any work starts.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import ConfigDict, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from selfinstruct.settings import _Config, nested, setting

# --- the teacher (generate) and, with a prefix, the judge (eval) ------------------------

TEACHER = "Teacher"
LIMITS = "Limits and spend"
LOCAL = "Local teacher"


class TeacherSettings(_Config):
    """Which model answers and how it is called: endpoint, key, pacing, retries, spend caps, local model.

    Resolved once into an endpoint by `selfinstruct.teacher.endpoint.resolve_endpoint`.
    """

    teacher: Literal["auto", "openai", "local"] = setting(
        "auto", "auto: an OpenAI-compatible endpoint if OPENAI_API_KEY/OPENAI_BASE_URL/--base-url/--api-key is set, else the embedded local model. openai or local to force one.", panel=TEACHER)
    model: str | None = setting(
        None, "Model name at the endpoint. Default: gpt-4o-mini (OpenAI); the packaged model when local. With several --base-url, one model for all, or one per endpoint separated by commas (in --base-url order). A path to a .gguf file (and no --base-url) runs that file on the embedded llama.cpp server.", panel=TEACHER)
    base_url: list[str] = setting(
        [], "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1. Overrides OPENAI_BASE_URL. Repeat it to spread requests over several servers (least in-flight work first; one that keeps failing is set aside for a cool-down).", panel=TEACHER, metavar="URL")
    api_key: SecretStr | None = setting(None, "API key; prefer the OPENAI_API_KEY variable, which this overrides. Never written to disk.", panel=TEACHER, exclude=True)
    api: Literal["chat", "completions"] = setting("chat", "chat: /chat/completions (instruct models). completions: legacy /completions (base models).", panel=TEACHER)
    structured: Literal["auto", "json-schema", "json-object", "off"] = setting(
        "auto", "Ask for answers constrained to a JSON schema where the endpoint supports it. auto: llama.cpp's schema grammar for the local teacher, OpenAI's structured outputs for api.openai.com, text formats for other servers. json-schema: OpenAI's form. json-object: llama.cpp's form. off: text formats everywhere.", panel=TEACHER)
    # None, not 8: the endpoint picks the default, so an explicit --concurrency 8 is kept for a local teacher too.
    concurrency: int | None = setting(
        None, "Most requests in flight at once. Default: 8 for a hosted endpoint; for the local teacher, the requests its server decodes at once (--local-slots; 1 with --local-engine python).", panel=TEACHER, ge=1, le=4096)
    concurrency_fixed: bool = setting(
        False, "Keep --concurrency requests in flight from the start, following no rate-limit headers (Retry-After still holds requests back). Default: start low and adapt (AIMD) up to --concurrency: grow while requests succeed, halve on a timeout (and on a 429 from an endpoint without headers), stop growing when latency rises with load; requests leave only when the x-ratelimit-* headers (requests and tokens) say the limit has room, or, without headers, at the rate learned from the 429s.", panel=TEACHER)
    requests_per_minute: float | None = setting(None, "Pace request starts to at most this many per minute.", panel=TEACHER, flag="--rpm", gt=0)
    timeout: float = setting(120.0, "Seconds before a request counts as timed out and is retried (local: at least 1800).", panel=TEACHER, gt=0)
    max_attempts: int = setting(
        6, "Tries per request on 429, 5xx, timeouts and dropped connections, with exponential backoff; Retry-After is honoured.", panel=TEACHER, ge=1, le=50)
    retry_wait: float = setting(
        1.0, "Backoff scale in seconds: retry n waits a random time up to retry_wait * 2^n (capped at 60x), unless Retry-After says otherwise.", panel=TEACHER, ge=0)
    max_usd: float | None = setting(None, "Stop before a request could take total spend past this many US dollars.", panel=LIMITS, gt=0)
    max_total_tokens: int | None = setting(None, "Stop before a request could take total tokens (in + out) past this.", panel=LIMITS, gt=0)
    price_input: float | None = setting(None, "USD per 1M prompt tokens, for models not in the built-in price table.", panel=LIMITS, ge=0)
    price_output: float | None = setting(None, "USD per 1M completion tokens, for models not in the built-in price table.", panel=LIMITS, ge=0)
    local_model: str = setting(
        "qwen2.5-coder-1.5b", "Local teacher: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b (faster, rougher) or a path to your own .gguf file.", panel=LOCAL)
    local_ctx: int = setting(4096, "Local teacher context size in tokens.", panel=LOCAL, ge=512)
    local_threads: int | None = setting(None, "Local teacher CPU threads. Default: the cores this process may use.", panel=LOCAL, ge=1)
    local_engine: Literal["native", "python"] = setting(
        "native", "Local teacher's server. native: llama.cpp's own llama-server (built by `make llama-server`), --local-slots requests at once, "
        "each slot's prompt kept in cache. python: llama-cpp-python's server, one request at a time, no prompt cache beyond the last request "
        "(make demo took over 1.6x as long on 2 cores, at the same memory).", panel=LOCAL)
    local_slots: int | None = setting(
        None, "Requests the local teacher's llama-server decodes at once (--local-engine native), each slot with its own context and prompt cache. Default: 1 below 8 usable cores (more slots only share few cores), else 4.", panel=LOCAL, ge=1, le=64)

    @field_validator("base_url", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        """One URL (as config.json held it before endpoints were repeatable) or none, as a list."""
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _models_match_endpoints(self) -> TeacherSettings:
        if self.model and self.model.lower().endswith(".gguf") and not self.base_url and self.teacher != "openai":
            # A GGUF file is a model the embedded llama.cpp server runs, whatever option names it (--judge-model x.gguf).
            object.__setattr__(self, "local_model", self.model)
            object.__setattr__(self, "teacher", "local")
            object.__setattr__(self, "model", None)
        if self.model and "," in self.model and len(self.models) != max(1, len(self.base_url)):
            raise ValueError(f"--model names {len(self.models)} models for {len(self.base_url)} --base-url endpoints; give one model, or one per endpoint")
        return self

    @property
    def models(self) -> list[str]:
        """The model of each endpoint (one name may stand for all)."""
        return [m.strip() for m in self.model.split(",")] if self.model else []


# --- generate -------------------------------------------------------------------------

RECIPE = "Recipe"
GROUNDED = "Grounded recipe"
RESPONSE_TYPES = ("conversation", "detail", "reasoning")
QUALITY = "Quality gate"
BATCH = "Batch API"


class BatchSettings(_Config):
    """`generate --batch`: requests go through the provider's Batch API (/v1/files + /v1/batches) at half price."""

    batch: bool = setting(
        False, "Send each stage's requests through the OpenAI Batch API (or any server with /v1/files and /v1/batches): half the price, results within 24 h. Batches are journaled; rerun to resume polling.", panel=BATCH)
    batch_poll: float | None = setting(
        None, "Seconds between polls of submitted batches. Default: back off from 30 s up to 5 min.", panel=BATCH, gt=0)
    batch_min_requests: int = setting(
        1000, "Requests of a stage that make a batch worth sending while other batches are still out; a stage with nothing left in flight sends what it has.", panel=BATCH, ge=1)
    batch_max_requests: int = setting(50_000, "Most requests in one batch (the provider's limit); a larger stage is split. Files are also split at 200 MB.", panel=BATCH, ge=1, le=50_000)
    batch_price_input: float | None = setting(None, "Batch USD per 1M prompt tokens. Default: half the online price.", panel=BATCH, ge=0)
    batch_price_output: float | None = setting(None, "Batch USD per 1M completion tokens. Default: half the online price.", panel=BATCH, ge=0)


def fresh_run_dir() -> Path:
    """A new folder under outputs/ named by the start time; never reuses an existing one."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("outputs") / f"run-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path("outputs") / f"run-{stamp}-{n}"
    return path


class GenerateConfig(_Config):
    """Settings of one `generate` run; written to the run directory (without secrets) as config.json.

    The teacher's settings sit in `teacher` but are written, and accepted, flat (`model`, `max_usd`),
    as config.json has always held them.
    """

    model_config = ConfigDict(json_schema_extra={"config_example": "max_usd: 5"})

    # Required by every recipe but grounded, whose --context takes the seeds' place (checked below).
    seeds: Path | None = setting(None, "Seed tasks, JSONL in the Self-Instruct/Alpaca format (id, name, instruction, instances, is_classification). Not used by --recipe grounded.")
    budget: int = setting(help="New instructions to end with, each with at least one valid instance. The run stops as soon as it has them.", gt=0)
    out: Path = setting(
        help="Run directory. Default: a fresh folder under outputs/. Rerun with the same --out to resume.", default_factory=fresh_run_dir)
    # Checked against recipes.RECIPES, so a new recipe module needs no change here beyond this help line.
    recipe: str = setting(
        "self-instruct", "self-instruct: propose, filter, classify, then instances (output-first for classification). alpaca: one pass, 3 seed examples in, complete tasks out. "
        "conversation: multi-turn chats, the teacher as assistant and as user simulator, from the seeds' (and --from's) instructions, then proposed ones; writes conversations.json (ShareGPT) and messages.jsonl; --budget counts conversations. "
        "grounded: questions and answers written from your own --context documents and image annotations (LLaVA's recipe), checked against them; writes alpaca_data.json, conversations.json and, for annotations, llava_instruct.json; --budget counts examples.", panel=RECIPE)
    teacher: TeacherSettings = nested(TeacherSettings)
    batch_api: BatchSettings = nested(BatchSettings)
    seed: int = setting(42, "Random seed for sampling example tasks; the same seed gives the same prompts.", panel=RECIPE)
    prompts: Path | None = setting(None, "Directory of prompt templates overriding the shipped ones (same file names and placeholders).", panel=RECIPE)
    num_instructions_per_request: int = setting(20, "Instructions the teacher is asked for in each proposal request.", panel=RECIPE, ge=1, le=100)
    num_seed_examples: int | None = setting(None, "Seed tasks shown per proposal request. Default: 6 (self-instruct), 3 (alpaca).", panel=RECIPE, ge=0)
    num_machine_examples: int | None = setting(
        None, "Already generated tasks shown per proposal request, once any exist. Default: 2 (self-instruct), 0 (alpaca).", panel=RECIPE, ge=0)
    turns: int = setting(
        3, "conversation: user turns per conversation, each answered by the assistant; the simulator may end one earlier with its stop marker.", panel=RECIPE, ge=1, le=10)
    openers_from: Path | None = setting(
        None, "conversation: also open conversations with the instructions an earlier run kept: its run directory or an alpaca_data.json (JSON or JSONL).", panel=RECIPE, flag="--from", metavar="PATH")
    context: list[Path] = setting(
        [], "grounded: a document or folder to write from (repeatable): .txt/.md (chunked at paragraphs and headings), .pdf (its text layer), "
        ".jsonl of ready contexts {\"id\", \"context\"} or of LLaVA/COCO image annotations {\"id\", \"image\", \"captions\", \"instances\": [{\"category\", \"bbox\"}]} (optional \"width\"/\"height\" to normalise pixel boxes).",
        panel=GROUNDED, metavar="PATH")
    chunk_tokens: int = setting(400, "grounded: most tokens in one chunk of a text, Markdown or PDF document.", panel=GROUNDED, ge=32, le=8000)
    chunk_overlap: int = setting(
        40, "grounded: tokens of whole paragraphs or sentences a chunk repeats from the end of the one before (none across a heading).", panel=GROUNDED, ge=0)
    types: list[str] = setting(
        help="grounded: response types written for each context (repeatable, or comma-separated): conversation (2-5 questions with definite answers), "
        "detail (a thorough description or summary), reasoning (a question needing step-by-step reasoning). Default: all three.", panel=GROUNDED,
        default_factory=lambda: list(RESPONSE_TYPES))
    verify: bool = setting(
        False, "grounded: after the cheap checks, ask the teacher as a judge whether every claim of each answer is supported by its context (one yes/no request per answer); drop the unsupported.", panel=GROUNDED)
    # None until validated: on (an on/off option with None shows both its flags).
    context_in_input: bool | None = setting(
        None, "grounded: put the context in alpaca_data.json's input (and above the first question in conversations.json). Default: on; --no-context-in-input leaves it out, for closed-book tuning on your documents.", panel=GROUNDED)
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
        "to tasks with one) until half the proposal cap is spent. --no-seed-mix keeps whatever the teacher proposes.", panel=RECIPE)
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
        "and drop an instance whose new answers mostly disagree with it; the summary prints the agreement rate. 0 turns it off.", panel=QUALITY, ge=0, le=10)
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
        from selfinstruct.recipes import RECIPES

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

    @field_validator("types", mode="before")
    @classmethod
    def _comma_types(cls, value: Any) -> Any:
        """--types conversation,reasoning as well as --types conversation --types reasoning; each type once."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            value = list(dict.fromkeys(t.strip() for v in value for t in str(v).split(",") if t.strip()))
            unknown = [t for t in value if t not in RESPONSE_TYPES]
            if unknown:
                raise PydanticCustomError("unknown_type", f"{unknown[0]!r} is not one of {', '.join(map(repr, RESPONSE_TYPES))}.")
        return value

    @model_validator(mode="after")
    def _seeds_or_context(self) -> GenerateConfig:
        """--seeds is required unless the recipe writes from --context instead (recipe grounded)."""
        from selfinstruct.errors import UserError
        from selfinstruct.recipes import RECIPES

        if self.seeds is None and getattr(RECIPES[self.recipe], "NEEDS_SEEDS", True):
            raise UserError("--seeds is required (on the command line or in --config)")
        if not self.types:
            raise UserError("--types: name at least one of conversation, detail, reasoning")
        if self.context_in_input is None:
            object.__setattr__(self, "context_in_input", True)
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
        from selfinstruct.recipes import RECIPES

        # A recipe whose request writes one item (grounded: one response type for one context) says so.
        per_request = getattr(RECIPES[self.recipe], "ITEMS_PER_REQUEST", self.num_instructions_per_request)
        return max(10, 5 * -(-self.budget // per_request) + 5)

    def identity(self) -> dict[str, object]:
        """Settings that must match for a directory to be resumed (budget may grow or shrink)."""
        identity: dict[str, object] = {"recipe": self.recipe, "num_instructions_per_request": self.num_instructions_per_request}
        if self.context:  # grounded: request n is a response type for one context, so these fix what n means
            identity.update(context=[str(p) for p in self.context], types=list(self.types), chunk_tokens=self.chunk_tokens,
                            chunk_overlap=self.chunk_overlap, seed=self.seed)  # fmt: skip
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


def redact_urls(urls: list[str]) -> str | list[str] | None:
    """The endpoints as config.json holds them, redacted: none, one URL, or a list of them."""
    redacted = [redact_url(u) or "" for u in urls]
    return None if not redacted else redacted[0] if len(redacted) == 1 else redacted


def redact_url(url: str | list[str] | None) -> Any:
    """Drop user:password@ and secret-looking query values from a URL before it is written anywhere
    (each of them, for a list of endpoints)."""
    if isinstance(url, list):
        return redact_urls(url)
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    query = "&".join(
        f"{k}=***" if any(s in k.lower() for s in ("key", "token", "secret", "sig", "password")) else f"{k}={v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class StatusConfig(_Config):
    """Settings of `status`: which run directory to describe."""

    model_config = ConfigDict(json_schema_extra={"config_example": "run_dir: outputs/run-1"})

    run_dir: Path = setting(help="A generate run directory (--out of generate).", argument=True, metavar="RUN_DIR")


# --- dedup ----------------------------------------------------------------------------


class DedupConfig(_Config):
    """Settings of one `dedup` run: which file to filter, against what, and where results go."""

    model_config = ConfigDict(json_schema_extra={"config_example": "threshold: 0.8"})

    input: Path = setting(
        help="Dataset to filter: alpaca_data.json (a JSON list of records), a .jsonl of records, or a text file with one instruction per line.", argument=True, metavar="INPUT")
    out: Path = setting(help="Where the kept records go, in INPUT's own format. May equal INPUT: it is replaced only once the result is complete.", metavar="OUT")
    against: list[Path] = setting(
        [], "Reference instructions (seed tasks .jsonl, Alpaca .json or text) that items are also compared with; never written out. Repeatable.", metavar="FILE")
    threshold: float = setting(
        0.7, "Drop an item whose ROUGE-L F against a reference or earlier kept item is above this (exactly 0.7 is kept).", ge=0, le=1, allow_inf_nan=False)
    field: str = setting("instruction", "Record field holding the text to compare (JSON and JSONL inputs).", min_length=1)
    against_field: str | None = setting(None, "Field to compare in the --against files. Default: the same as --field.", min_length=1)
    report: Path | None = setting(
        None, "JSONL report of every dropped item with its most similar item and score. Default: OUT's name with .dropped.jsonl.", metavar="FILE")
    tokenizer: Literal["rouge", "unicode"] = setting(
        "rouge", "rouge: exactly rouge_score's tokens (ASCII letters and digits only). unicode: words of any script, each CJK/Thai character a token; for non-English data, not rouge_score-compatible.")
    engine: Literal["local", "ray"] = setting(
        "local", "Where the checks run: local (this process and --workers - 1 forked ones) or ray (a Ray cluster; needs selfinstruct[ray]). Both make the same decisions.")
    workers: int | None = setting(None, "Processes (local) or Ray workers checking blocks at once. Default: the CPUs this process may use (local), every CPU of the cluster (ray).", ge=1)
    ray_address: str | None = setting(
        None, "With --engine ray: the cluster to join (its head's address, e.g. 10.0.0.5:6379 or auto for the one `ray start` began here). Default: start a Ray instance on this machine's CPUs.", metavar="ADDRESS")


# --- finetune / ask -------------------------------------------------------------------

LORA = "LoRA"
EVALUATION = "Evaluation (--eval)"
TRAIN = "Training"
GGUF_PANEL = "GGUF export"
GgufQuant = Literal["Q4_K_M", "Q8_0", "F16"]
# Alpaca used 2e-5 for full fine-tuning; LoRA adapters start at zero and need ~10x more.
DEFAULT_LR = {"lora": 2e-4, "full": 2e-5}


class FinetuneConfig(_Config):
    """Settings of one `finetune` run; written into the output dir's training_summary.json."""

    model_config = ConfigDict(json_schema_extra={"config_example": "lora_r: 8"})

    data: list[str] = setting(
        help="Data to train on, repeatable to mix: FILE or FILE:WEIGHT. Alpaca JSON/JSONL ({instruction, input, output}), ShareGPT JSON/JSONL "
        "({conversations: [{from, value}]}) or messages JSONL ({messages: [{role, content}]}). A weight below 1 samples that share of the rows "
        "(with --seed), above 1 repeats them (2.5: twice, plus half again). Any conversation data trains with a chat template (required here or in --config). "
        "A run directory stands for its alpaca_data.json (conversations.json for a conversation run); data reviewed with `selfinstruct review` "
        "loses the rows marked wrong and takes the edited outputs.",
        metavar="FILE[:WEIGHT]", min_length=1)
    format: Literal["auto", "alpaca", "sharegpt", "messages"] = setting(
        "auto", "Format of every --data file: auto detects it from the first record; alpaca, sharegpt or messages forces it.")
    mix_dedup: bool = setting(
        False, "Before training, drop rows whose first user turn is a near-duplicate (ROUGE-L F > 0.7) of an earlier row's, across all --data files.")
    base_model: str = setting("gemma-3-270m", "gemma-3-270m (packaged, works offline), a local model directory, a .gguf file, or a Hugging Face model id.")
    method: Literal["lora", "full"] = setting("lora", "lora: train a small adapter (PEFT). full: update every weight.")
    out: Path | None = setting(None, "Output directory. Default: outputs/<run>/model/ for a run's alpaca_data.json, else a new folder under outputs/.")
    epochs: float = setting(3.0, "Passes over the training split.", panel=TRAIN, gt=0)
    lr: float | None = setting(None, "Peak learning rate (cosine schedule, 3% warmup). Default: 2e-4 for lora, 2e-5 for full.", panel=TRAIN, gt=0, lt=1)
    max_length: int = setting(
        512, "Longest sample in tokens. An over-long row's input is shortened from the middle so the response keeps a quarter of it "
        "(a row is dropped only when its instruction alone does not fit); a conversation is split at turn boundaries. All counted in the summary.", panel=TRAIN, ge=8, le=131072)
    batch_size: int = setting(8, "Samples per step on each device.", panel=TRAIN, ge=1)
    grad_accum: int = setting(1, "Steps whose gradients are summed before each optimizer update.", panel=TRAIN, ge=1)
    lora_r: int = setting(16, "LoRA rank.", panel=LORA, ge=1)
    lora_alpha: float = setting(32, "LoRA alpha; updates are scaled by alpha/r.", panel=LORA, gt=0)
    lora_dropout: float = setting(0.05, "Dropout on the LoRA input.", panel=LORA, ge=0, lt=1)
    lora_targets: str = setting("all-linear", "Modules that get adapters: all-linear, or comma-separated names such as q_proj,v_proj.", panel=LORA, min_length=1)
    val_size: float = setting(0.05, "Fraction of rows held out (chosen with --seed) for the validation loss; 0 for none.", panel=TRAIN, ge=0, le=0.5)
    max_steps: int | None = setting(None, "Stop after this many optimizer steps (overrides --epochs).", panel=TRAIN, ge=1)
    save_steps: int = setting(100, "Checkpoint (and validate) every this many steps, and at the end.", panel=TRAIN, ge=1)
    merge: bool = setting(False, "LoRA: also save the base with the adapter merged in, loadable without PEFT (the adapter goes to OUT/adapter/).")
    resume: bool = setting(False, "Continue from the last checkpoint in --out (e.g. after Ctrl-C, or with a larger --max-steps).")
    seed: int = setting(42, "Seed for the validation split, adapter initialisation and data order.", panel=TRAIN)
    batching: Literal["auto", "grouped", "padding-free", "padded"] = setting(
        "auto", "auto: padding-free on CPU, grouped on GPU. grouped: batches of similar length, padded to their longest. padding-free: samples concatenated, no pad tokens. padded: every batch padded to --max-length.", panel=TRAIN)
    precision: Literal["auto", "bf16", "fp32"] = setting("auto", "auto: bf16 where the GPU or CPU computes it natively, else fp32. Or bf16, fp32.", panel=TRAIN)
    eval: bool = setting(
        False, "After training, judge the tuned model against its base (`selfinstruct eval`, both answer orders); the win rate and its 95% CI go into training_summary.json and the model card.", panel=EVALUATION)
    eval_tasks: Path | None = setting(
        None, "Tasks for --eval: Self-Instruct evaluation JSONL or Alpaca JSON/JSONL. Default: the shipped eval_tasks/eval_tasks.jsonl (never trained on).", panel=EVALUATION, metavar="FILE")
    eval_limit: int | None = setting(None, "--eval on only the first N tasks.", panel=EVALUATION, ge=1)
    eval_max_new_tokens: int = setting(256, "--eval: most tokens in each model's answer.", panel=EVALUATION, ge=1)
    judge: TeacherSettings = nested(TeacherSettings, prefix="judge_", panel=EVALUATION)
    gguf: Path | None = setting(
        None, "After training, also export the model as this .gguf file for llama.cpp, quantized with --quant and verified (see export-model).", panel=GGUF_PANEL, metavar="FILE")
    quant: GgufQuant = setting("Q4_K_M", "With --gguf: Q4_K_M (4-bit, smallest), Q8_0 (near-lossless) or F16 (no quantization).", panel=GGUF_PANEL)

    @field_validator("data", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        """One file (a --config value, or a Path in code) is a list of one."""
        if isinstance(value, (str, Path)):
            return [str(value)]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else value

    @property
    def sources(self) -> list[tuple[Path, float]]:
        """(path, weight) of each --data value."""
        from selfinstruct.finetune.sources import parse_data_spec

        return [parse_data_spec(spec) for spec in self.data]

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]


class AskConfig(_Config):
    """Settings of one `ask` call: which tuned model, what to ask, how long to answer."""

    model_config = ConfigDict(json_schema_extra={"config_example": "max_new_tokens: 64"})

    model_dir: Path = setting(
        help="Output directory of finetune (LoRA adapter, or full / merged model), or a .gguf exported from one (answered by the embedded llama.cpp server).", argument=True, metavar="MODEL")
    instruction: str | None = setting(
        None, "The instruction, as in alpaca_data.json; '-' reads user turns from stdin, one a line, for a model trained on conversations.",
        argument=True, metavar="INSTRUCTION", min_length=1)
    input: str = setting("", "Optional input for the instruction (the Alpaca 'input' field).")
    user: list[str] = setting(
        [], "A user turn; repeat it for a conversation: each is answered in turn with the history before it, through the model's chat template.",
        metavar="TEXT")
    system: str | None = setting(None, "A system message at the start of the conversation (chat-trained models).", metavar="TEXT")
    max_new_tokens: int = setting(256, "Most tokens to generate; generation also stops at EOS.", ge=1, le=32768)
    temperature: float = setting(0.0, "Sampling temperature; 0 means greedy decoding (deterministic).", ge=0, le=5)


class ExportModelConfig(_Config):
    """Settings of one `export-model` call: which tuned model, which GGUF file, which quantization."""

    model_config = ConfigDict(json_schema_extra={"config_example": "quant: Q8_0"})

    model_dir: Path = setting(help="Output directory of finetune (LoRA adapter, merged or full model).", argument=True, metavar="MODEL_DIR")
    gguf: Path = setting(help="The .gguf file to write; it appears only once llama.cpp's logits have been checked against the model's.", metavar="OUT.gguf")
    quant: GgufQuant = setting("Q4_K_M", "Q4_K_M (4-bit, smallest), Q8_0 (near-lossless) or F16 (no quantization). Quantized by llama.cpp itself.")
    force: bool = setting(False, "Replace OUT.gguf if it exists.")
    threads: int | None = setting(None, "CPU threads for quantizing and verifying. Default: the cores this process may use.", ge=1)


# --- models ---------------------------------------------------------------------------


class ModelsConfig(_Config):
    """Settings of `models`: how far to check the packaged teacher models."""

    model_config = ConfigDict(json_schema_extra={"config_example": "verify: true"})

    verify: bool = setting(
        False, "Re-hash each assembled model file (reads ~1.6 GB) instead of trusting the checksum marker written when it was assembled.")


# --- report / export (DESIGN section 8) ------------------------------------------------

ExportFormat = Literal["alpaca", "messages", "sharegpt", "hf", "sqlite"]


class ReportConfig(_Config):
    """Settings of `report`: what to look at, which seeds to compare with, and where the page goes."""

    model_config = ConfigDict(json_schema_extra={"config_example": "seeds: seed_tasks/seed_tasks.jsonl"})

    source: Path = setting(
        help="A run directory, or an Alpaca JSON/JSONL dataset (then the run-only sections, funnel and cost, are left out).", argument=True, metavar="SOURCE")
    seeds: Path | None = setting(
        None, "Seed tasks (JSONL) for the ROUGE-L-to-seed histogram. Default: the run's own seed file; none for a plain dataset.", metavar="FILE")
    out: Path | None = setting(
        None, "Directory for report.html and report.json. Default: the run directory, or beside a dataset file as NAME.report.html.", metavar="DIR")


class ExportConfig(_Config):
    """Settings of `export`: which data, in which format, written where (a directory with a dataset card)."""

    model_config = ConfigDict(json_schema_extra={"config_example": "format: messages"})

    source: Path = setting(help="A run directory or an Alpaca JSON/JSONL dataset.", argument=True, metavar="SOURCE")
    format: ExportFormat = setting(
        help="alpaca: JSON list of instruction/input/output. messages: JSONL chat (OpenAI fine-tuning, TRL SFTTrainer). "
        "sharegpt: conversations (Vicuna, LLaMA-Factory, Axolotl). hf: datasets save_to_disk + Parquet, train/validation. "
        "sqlite: tables, foreign keys and full-text search for Datasette.")
    out: Path = setting(help="Directory to write: the data files and README.md (the dataset card).", metavar="DIR")
    force: bool = setting(False, "Replace OUT if it already exists.")
    drop_flagged: bool = setting(False, "Leave out rows with any quality flag (see `selfinstruct report`); the card records how many.")
    drop_rejected: bool = setting(
        False, "Leave out rows marked wrong in `selfinstruct review` and use its edited outputs (a review of a row changed since is not used); the card records how many.")
    val_size: float = setting(
        0.05, "hf: fraction of rows in the validation split, chosen with --seed (the rows finetune holds out with the same values).", ge=0, le=0.5)
    seed: int = setting(42, "hf: seed for choosing the validation rows.")
    seeds: Path | None = setting(None, "Seed file to name and hash in the card when the run's own path no longer exists.", metavar="FILE")


# --- eval (DESIGN section 7) ---------------------------------------------------------------

JUDGE = "Judge"
CALIBRATION = "Calibration"
CONTESTANTS = "Contestants"


def fresh_eval_dir() -> Path:
    """A new folder under outputs/ named by the start time; never reuses an existing one."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("outputs") / f"eval-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path("outputs") / f"eval-{stamp}-{n}"
    return path


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
        for name in ("max_usd", "max_total_tokens"):
            mine, judge = getattr(self, name), getattr(self.judge, name)
            if mine is not None and judge is not None and mine != judge:
                raise ValueError(f"give --{name.replace('_', '-')} or --judge-{name.replace('_', '-')}, not both")
            if mine is not None:
                object.__setattr__(self.judge, name, mine)
        return self

    def public_dump(self) -> dict[str, object]:
        """The config as written to disk: no API key, credentials stripped from the judge's base URL."""
        data = self.model_dump(mode="json")
        data["judge"]["base_url"] = redact_urls(self.judge.base_url)
        return data
