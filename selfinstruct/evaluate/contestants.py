"""What `--a` and `--b` name: a contestant, resolved from its SPEC without loading anything.

    a = parse_contestant("outputs/run/model", side="a")          # finetune output dir
    b = parse_contestant("openai:gpt-4o-mini", side="b")         # any OpenAI-compatible model
    check_distinct(a, b)

A SPEC is one of:
- `openai:MODEL` or `openai:MODEL@BASE_URL`: answers through the teacher seam (chat API);
- a `.json` / `.jsonl` file of precomputed answers (answer_files.py matches them to tasks);
- a `.gguf` file, or a packaged llama.cpp model name (qwen2.5-coder-0.5b, ...): answers through
  the embedded llama.cpp server;
- a `finetune` output directory (LoRA adapter, or full / merged model), a Hugging Face model
  directory, the packaged student base `gemma-3-270m`, or a Hugging Face model id: answers are
  generated locally with transformers (generation.py).

Local models are prompted the way they were trained: `prompt_template.json` when the directory
has one, the chat template for a finetune output trained on conversations, for a .gguf the template `export-model` stored in its metadata (or a prompt_template.json
beside it); otherwise the `--template` choice, `alpaca` (the Alpaca
prompt finetune trains with) or `chat` (the model's own chat template). There is no silent
default, since the wrong prompt makes a fair model look bad.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from selfinstruct.errors import UserError
from selfinstruct.finetune.data import PromptTemplate

Kind = Literal["openai", "file", "gguf", "transformers"]
TemplateChoice = Literal["alpaca", "chat"]
PACKAGED_STUDENT = "gemma-3-270m"
_OPENAI = re.compile(r"^openai:(?P<model>[^@\s]+)(?:@(?P<url>https?://\S+))?$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
TEMPLATE_FILE = "prompt_template.json"


class Contestant(BaseModel):
    """One side of the comparison, as far as can be known before loading it."""

    side: Literal["a", "b"]
    spec: str
    kind: Kind
    source: str  # what identifies the model or file, for the same-on-both-sides check
    path: Path | None = None
    model: str | None = None  # openai model name
    base_url: str | None = None  # openai: its own endpoint, else the judge's
    trained_template: PromptTemplate | None = None  # from prompt_template.json
    finetune_dir: bool = False  # a `finetune` output dir (load_tuned handles adapters)
    trained_on_chat: bool = False  # finetune trained it with a chat template (its summary names one)
    training_data: Path | None = None  # what a finetune output was trained on, to warn about overlap

    @property
    def label(self) -> str:
        """A short name for tables."""
        if self.kind == "openai":
            return f"openai:{self.model}"
        return self.path.name if self.path is not None else self.spec

    @property
    def local(self) -> bool:
        return self.kind in ("gguf", "transformers")

    def prompt_format(self, choice: TemplateChoice | None) -> Literal["trained", "alpaca", "chat"]:
        """How this contestant's prompts are written; UserError when a local model has no known template."""
        if self.kind in ("openai", "file"):
            return "chat"
        if self.trained_template is not None:
            return "trained"
        if self.trained_on_chat:
            return "chat"
        if choice is None:
            raise UserError(
                f"--{self.side} {self.spec}: no {TEMPLATE_FILE} says how this model was prompted in training; choose with "
                f"--template alpaca (the Alpaca prompt finetune trains with) or --template chat (the model's own chat template)"
            )
        return choice

    def template(self, choice: TemplateChoice | None) -> PromptTemplate | None:
        """The Alpaca-style template to render prompts with, or None for the chat template."""
        fmt = self.prompt_format(choice)
        if fmt == "trained":
            return self.trained_template
        return PromptTemplate.load() if fmt == "alpaca" else None


def _trained_template(directory: Path, side: str) -> PromptTemplate | None:
    path = directory / TEMPLATE_FILE
    if not path.is_file():
        return None
    try:
        return PromptTemplate.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        raise UserError(f"--{side}: {path} is not a valid prompt template (expected with_input and no_input)") from None


def _training_summary(directory: Path) -> dict:
    """A finetune output's training_summary.json (one level up for a merged model's adapter/), or {}."""
    import json

    for summary in (directory / "training_summary.json", directory.parent / "training_summary.json"):
        if summary.is_file():
            try:
                data = json.loads(summary.read_text(encoding="utf-8"))
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def _training_data(summary: dict) -> Path | None:
    data = summary.get("data")
    path = data.get("path") if isinstance(data, dict) else None
    return Path(path) if isinstance(path, str) else None


def parse_contestant(spec: str, side: Literal["a", "b"]) -> Contestant:
    """Classify a SPEC; raises UserError for one that names nothing usable."""
    spec = spec.strip()
    if not spec:
        raise UserError(f"--{side}: empty contestant; give a model directory, a .gguf file, openai:MODEL or an answers file")
    if spec.startswith("openai:"):
        match = _OPENAI.match(spec)
        if not match:
            raise UserError(f"--{side} {spec}: expected openai:MODEL or openai:MODEL@http(s)://HOST/v1")
        url = match.group("url")
        return Contestant(side=side, spec=spec, kind="openai", model=match.group("model"), base_url=url,
                          source=f"openai:{match.group('model')}@{url or 'judge endpoint'}")  # fmt: skip
    path = Path(spec).expanduser()
    if path.is_file():
        return _file_contestant(spec, path, side)
    if path.is_dir():
        return _dir_contestant(spec, path, side)
    from selfinstruct.teacher.packaged import PACKAGED_MODELS

    if spec in PACKAGED_MODELS:
        return Contestant(side=side, spec=spec, kind="gguf", source=f"packaged:{spec}")
    if spec == PACKAGED_STUDENT:
        return Contestant(side=side, spec=spec, kind="transformers", source=f"packaged:{spec}")
    looks_like_path = spec.startswith((".", "/", "~")) or spec.count("/") > 1 or path.suffix in (".json", ".jsonl", ".gguf")
    if looks_like_path or not _HUB_ID.match(spec):
        raise UserError(f"--{side} {spec}: no such file or directory (and not openai:MODEL, a packaged model or a Hugging Face id)")
    return Contestant(side=side, spec=spec, kind="transformers", model=spec, source=f"hub:{spec}")


def _file_contestant(spec: str, path: Path, side: Literal["a", "b"]) -> Contestant:
    resolved = path.resolve()
    if path.suffix == ".gguf":
        from selfinstruct.finetune.gguf_vocab import read_prompt_template
        from selfinstruct.teacher.packaged import check_gguf

        check_gguf(path)
        # A GGUF from export-model carries its training prompt; any other may have a prompt_template.json beside it.
        template = read_prompt_template(resolved) or _trained_template(resolved.parent, side)
        return Contestant(side=side, spec=spec, kind="gguf", path=resolved, source=f"gguf:{resolved}",
                          trained_template=template)  # fmt: skip
    if path.suffix in (".json", ".jsonl"):
        return Contestant(side=side, spec=spec, kind="file", path=resolved, source=f"file:{resolved}")
    raise UserError(f"--{side} {spec}: a file contestant must be answers (.json / .jsonl) or a model (.gguf)")


def _dir_contestant(spec: str, path: Path, side: Literal["a", "b"]) -> Contestant:
    resolved = path.resolve()
    has_adapter = (path / "adapter_config.json").is_file()
    if not has_adapter and not (path / "config.json").is_file():
        raise UserError(f"--{side} {spec}: not a model directory (no adapter_config.json or config.json)")
    tuned = has_adapter or (path / TEMPLATE_FILE).is_file() or (path / "training_summary.json").is_file()
    summary = _training_summary(path) if tuned else {}
    return Contestant(
        side=side, spec=spec, kind="transformers", path=resolved, source=f"dir:{resolved}", finetune_dir=tuned,
        trained_template=_trained_template(path, side), training_data=_training_data(summary), trained_on_chat=bool(summary.get("chat_template")),
    )  # fmt: skip


def check_distinct(a: Contestant, b: Contestant) -> None:
    """The same model or file on both sides compares nothing; say so before anything runs."""
    if a.source == b.source:
        raise UserError(f"--a and --b are the same contestant ({a.spec}); compare two different models or answer files")
