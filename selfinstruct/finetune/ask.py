"""`selfinstruct ask`: try a fine-tuned student on one instruction, or a conversation, with the prompt it was trained on.

    text = ask(AskConfig(model_dir=Path("outputs/run/model"), instruction="Name three primary colors."))
    text = ask(AskConfig(model_dir=..., user=["Name a colour.", "And another?"]), emit=print)   # chat-trained models

A model trained on conversations (no prompt_template.json; the chat template in its tokenizer) is
prompted through that chat template, with the history of the conversation; generation stops at
EOS or the template's end-of-turn token.

    model, tokenizer = load_tuned(model_dir)                  # or, step by step
    text = answer(model, tokenizer, PromptTemplate.from_model_dir(model_dir).render(instruction), 256, 0.0)

Loads a LoRA output (its base model plus the adapter) or a full / merged model, renders the
prompt from the output's own prompt_template.json, and decodes (greedily at temperature 0)
until EOS, a header of that template ("### Instruction:", ...) or max_new_tokens. A `.gguf`
exported by `export-model` is served by the embedded llama.cpp server instead and prompted with the template stored in its metadata.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.finetune.base import (
    BaseModelRef,
    load_model,
    match_vocab,
    prefer_offline,
    quiet_libraries,
    resolve_base_model,
)
from selfinstruct.finetune.data import PromptTemplate
from selfinstruct.finetune.settings import AskConfig


def _base_spec(model_dir: Path) -> str:
    """The base a LoRA output was trained on, as the user named it (so the packaged alias resolves on any machine)."""
    # With --merge the adapter sits in OUT/adapter/, and the summary one level up.
    for summary in (model_dir / "training_summary.json", model_dir.parent / "training_summary.json"):
        if summary.is_file():
            return _read_key(summary, "base_model")
    return _read_key(model_dir / "adapter_config.json", "base_model_name_or_path")


def _read_key(path: Path, key: str) -> str:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise UserError(f"{path}: unreadable, or has no {key!r}; is this the output of finetune?")
    return value


def load_tuned(model_dir: Path) -> tuple[Any, Any]:
    """The tuned model (base + adapter, or a full model) and its tokenizer, in eval mode."""
    if not model_dir.exists():
        raise UserError(f"{model_dir}: no such directory")
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: is a file; pass the --out directory of finetune")
    has_adapter = (model_dir / "adapter_config.json").is_file()
    has_model = (model_dir / "config.json").is_file()
    if not (has_adapter or has_model):
        raise UserError(f"{model_dir}: not a fine-tuned model (no adapter_config.json or config.json); pass the --out dir of finetune")
    prefer_offline(str(model_dir) if has_model else _base_spec(model_dir))
    import torch
    from transformers import AutoTokenizer

    quiet_libraries()
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{model_dir}: cannot load its tokenizer ({first})") from None
    if has_model:
        # A full or merged model is self-contained; prefer it over the adapter kept beside it.
        model = load_model(BaseModelRef(spec=str(model_dir), path=str(model_dir), kind="directory"), dtype)
    else:
        from peft import PeftModel

        base = load_model(resolve_base_model(_base_spec(model_dir)), dtype)
        match_vocab(tokenizer, base)
        model = PeftModel.from_pretrained(base, str(model_dir))
    if torch.cuda.is_available():
        model = model.to("cuda")
    model.eval()
    return model, tokenizer


def answer(
    model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, temperature: float, chat: bool = False,
    stop: list[int] | None = None, template: PromptTemplate | None = None,
) -> str:  # fmt: skip
    """The model's answer to a rendered prompt: new tokens only, up to EOS (or `stop`), special tokens dropped.

    A chat-template prompt (`chat`) already holds its special tokens, so none are added or split. With
    the Alpaca `template` the prompt came from, the answer also ends where the model starts a header of it.
    """
    import torch
    from transformers import GenerationConfig

    if chat:
        enc = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    else:
        enc = tokenizer(prompt, add_special_tokens=True, split_special_tokens=True, return_tensors="pt")
    ids = enc["input_ids"]
    if not chat and ids[0, -1].item() == tokenizer.eos_token_id:
        # Some tokenizers append EOS to every text; training stripped it from the prompt too.
        ids = ids[:, :-1]
    ids = ids.to(model.device)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=temperature > 0,
        temperature=temperature if temperature > 0 else None,
        top_p=None,
        top_k=None,
        eos_token_id=stop or tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        stop_strings=template.headers() if template else None,
    )
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config, tokenizer=tokenizer)
    text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
    return template.cut(text)[0] if template else text


def ask_gguf(cfg: AskConfig) -> str:
    """Answer with an exported .gguf through the embedded llama.cpp server, prompted with the template stored in it."""
    import asyncio
    import tempfile

    from selfinstruct.endpoint_settings import TeacherSettings
    from selfinstruct.finetune.gguf_vocab import read_prompt_template
    from selfinstruct.teacher.client import Decoding
    from selfinstruct.teacher.endpoint import open_teacher, resolve_endpoint
    from selfinstruct.teacher.packaged import check_gguf

    check_gguf(cfg.model_dir)
    template = read_prompt_template(cfg.model_dir) or PromptTemplate.load()
    prompt = template.render(cfg.instruction, cfg.input)
    endpoint = resolve_endpoint(TeacherSettings(teacher="local", local_model=str(cfg.model_dir), api="completions", concurrency=1))
    decoding = Decoding(temperature=cfg.temperature, top_p=1.0, max_tokens=cfg.max_new_tokens, stop=template.headers())

    async def complete(teacher: Any) -> str:
        try:
            return template.cut((await teacher.complete(prompt, decoding, stage="ask")).text.strip())[0]
        finally:
            await teacher.aclose()

    with tempfile.TemporaryDirectory(prefix="selfinstruct-ask-") as tmp, open_teacher(endpoint, server_log=Path(tmp) / "llama.log") as teacher:
        return asyncio.run(complete(teacher))


def trained_on_chat(model_dir: Path, tokenizer: Any) -> bool:
    """A model finetune trained on conversations: no prompt_template.json beside it, a chat template in its tokenizer."""
    has_alpaca = (model_dir / "prompt_template.json").is_file() or (model_dir.parent / "prompt_template.json").is_file()
    return not has_alpaca and bool(getattr(tokenizer, "chat_template", None))


def stop_tokens(tokenizer: Any) -> list[int]:
    """EOS and the chat template's end-of-turn token (Gemma's <end_of_turn>, ChatML's <|im_end|>), where it is one token."""
    from selfinstruct.finetune.chat import ChatEncoder
    from selfinstruct.records import ChatMessage

    stops = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    probe = [ChatMessage(role="user", content="Hi."), ChatMessage(role="assistant", content="Hello.")]
    try:
        text, spans = ChatEncoder(tokenizer, tokenizer.chat_template).trained_spans(probe)
    except UserError:
        return stops
    marker = text[spans[-1][0] : spans[-1][1]].removeprefix("Hello.").strip()
    ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
    if len(ids) == 1 and ids[0] not in stops:
        stops.append(ids[0])
    return stops


def ask(cfg: AskConfig, emit: Callable[[str, str], None] | None = None) -> str:
    """Answer one instruction (and optional input), or hold a conversation of several --user turns.

    Each (user turn, answer) of a conversation goes to `emit` as it is made (and the answers are returned joined).
    """
    conversation = bool(cfg.user) or cfg.instruction == "-"
    if cfg.instruction is None and not cfg.user:
        raise UserError("give an INSTRUCTION, or one or more --user turns (or '-' to read them from stdin)")
    if cfg.user and cfg.instruction is not None:
        raise UserError("give an INSTRUCTION or --user turns, not both")
    if cfg.model_dir.suffix == ".gguf" and not cfg.model_dir.is_dir():
        if conversation:
            raise UserError(f"{cfg.model_dir}: a .gguf answers one INSTRUCTION here; --user turns need the finetune output directory")
        return ask_gguf(cfg)
    model, tokenizer = load_tuned(cfg.model_dir)
    chat = trained_on_chat(cfg.model_dir, tokenizer)
    if not conversation:
        if chat:
            from selfinstruct.stages.converse import opener_text

            return _chat_turns(model, tokenizer, cfg, [opener_text(cfg.instruction or "", cfg.input)], None)
        template = PromptTemplate.from_model_dir(cfg.model_dir)
        prompt = template.render(cfg.instruction or "", cfg.input)
        return answer(model, tokenizer, prompt, cfg.max_new_tokens, cfg.temperature, template=template)
    if not chat:
        raise UserError(
            f"{cfg.model_dir} was trained on single-turn Alpaca prompts (it has a prompt_template.json, or no chat template); "
            "ask it one INSTRUCTION, or train on conversation data for --user turns"
        )
    turns: Iterable[str] = cfg.user if cfg.user else (line.strip() for line in sys.stdin if line.strip())
    return _chat_turns(model, tokenizer, cfg, turns, emit)


def _chat_turns(model: Any, tokenizer: Any, cfg: AskConfig, turns: Iterable[str], emit: Callable[[str, str], None] | None) -> str:
    """Answer each user turn with the conversation so far, rendered with the tokenizer's chat template."""
    from selfinstruct.finetune.chat import ChatEncoder
    from selfinstruct.records import ChatMessage

    encoder = ChatEncoder(tokenizer, tokenizer.chat_template)
    history = [ChatMessage(role="system", content=cfg.system)] if cfg.system else []
    stops = stop_tokens(tokenizer)
    answers = []
    for turn in turns:
        history.append(ChatMessage(role="user", content=turn))
        prompt = encoder.render(history, add_generation_prompt=True)
        reply = answer(model, tokenizer, prompt, cfg.max_new_tokens, cfg.temperature, chat=True, stop=stops)
        history.append(ChatMessage(role="assistant", content=reply or "..."))
        answers.append(reply)
        if emit is not None:
            emit(turn, reply)
    return "\n\n".join(answers)
