"""Chat fine-tuning samples: render conversations with a chat template, train on the assistant's turns only.

    template, origin = chat_template_for(tokenizer)      # the model's own, else prompts/chat_template_vicuna.jinja
    encoder = ChatEncoder(tokenizer, template)
    sample = encoder.encode(messages, train_from=1)      # {"input_ids": [...], "labels": [-100, ..., ids, eot]}
    samples, note = encoder.samples(messages, max_length=512)

Labels come from character spans of the rendered text, as for Alpaca rows (data.py): a token is
trained when it covers a character of an assistant message or of the end-of-turn marker the
template closes it with (Gemma's <end_of_turn>, Vicuna's </s>, ChatML's <|im_end|>). Every system
and user token, and the role markers around the turns, are -100. The spans are found by rendering
the conversation up to each assistant turn, so any chat template works whose renders of a
conversation's prefixes are prefixes of its render (true of the common ones; one that is not is
refused with a clear error, not trained on wrongly).

A conversation longer than max_length is cut at turn boundaries: each sample trains a run of
consecutive user/assistant pairs, preceded by as many of the earlier pairs as fit, as masked
context. A pair that does not fit even alone is cut inside its assistant turn (and counted as cut),
or, when its user turn alone fills max_length, dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.prompt_files import load_template
from selfinstruct.records import ChatMessage

IGNORE_INDEX = -100
VICUNA_TEMPLATE = "chat_template_vicuna.jinja"


def chat_template_for(tokenizer: Any, directory: Path | None = None) -> tuple[str, str]:
    """(Jinja chat template, origin): the base model's own ("model"), else the shipped Vicuna v1.1 one ("vicuna")."""
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, str) and own.strip():
        return own, "model"
    return load_template(directory, VICUNA_TEMPLATE, what="chat template"), "vicuna"


@dataclass
class Fitted:
    """A conversation's samples and what fitting it into max_length cost."""

    samples: list[dict[str, list[int]]] = field(default_factory=list)
    split: bool = False  # became more than one sample
    cut_turns: int = 0  # assistant turns cut short (their end-of-turn token lost)
    dropped_turns: int = 0  # pairs whose user turn alone fills max_length


class ChatEncoder:
    """Renders and tokenizes conversations with one chat template; labels on assistant turns only."""

    def __init__(self, tokenizer: Any, template: str) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise UserError("the base model's tokenizer has no fast (Rust) version, which assistant-turn masking needs for offsets")
        self.tokenizer = tokenizer
        self.template = template

    def render(self, messages: list[ChatMessage], add_generation_prompt: bool = False) -> str:
        turns = [{"role": m.role, "content": m.content} for m in messages]
        try:
            return self.tokenizer.apply_chat_template(turns, chat_template=self.template, tokenize=False, add_generation_prompt=add_generation_prompt)
        except Exception as exc:  # jinja2's TemplateError, or the template's own raise_exception()
            raise UserError(f"the chat template cannot render a conversation: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    def trained_spans(self, messages: list[ChatMessage], train_from: int = 0) -> tuple[str, list[tuple[int, int]]]:
        """The rendered text and the character spans to train: each assistant message at index >= train_from, with its end-of-turn marker."""
        text = self.render(messages)
        spans = []
        for k, message in enumerate(messages):
            if message.role != "assistant" or k < train_from:
                continue
            before = self.render(messages[:k], add_generation_prompt=True)
            through = self.render(messages[: k + 1])
            if not text.startswith(before) or not text.startswith(through):
                raise UserError("the chat template renders a conversation's beginning differently from the whole; it cannot be used to mask turns")
            content = message.content.strip()
            start = through.find(content, len(before)) if content else -1
            if start < 0:
                raise UserError("the chat template changes the assistant's words as it renders them; it cannot be used to mask turns")
            end = start + len(content)
            closing = through[end:]
            marker = closing.strip()
            if not marker:
                raise UserError("the chat template does not close an assistant turn with an end-of-turn token; the model could not learn to stop")
            spans.append((start, end + closing.index(marker) + len(marker)))
        return text, spans

    def encode(self, messages: list[ChatMessage], train_from: int = 0) -> dict[str, list[int]]:
        """input_ids and labels for a conversation; assistant turns before index train_from are context only."""
        text, spans = self.trained_spans(messages, train_from)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        labels = [tok if _covers(start, end, spans) else IGNORE_INDEX for tok, (start, end) in zip(ids, enc["offset_mapping"])]
        return {"input_ids": ids, "labels": labels}

    def length(self, messages: list[ChatMessage]) -> int:
        return len(self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"])

    def fit(self, messages: list[ChatMessage], max_length: int) -> Fitted:
        """Samples of at most max_length tokens, cut at turn boundaries (see the module docstring)."""
        system = messages[:1] if messages[0].role == "system" else []
        body = messages[len(system):]
        pairs = [body[i : i + 2] for i in range(0, len(body), 2)]

        def sub(context: int, first: int, last: int) -> tuple[list[ChatMessage], int]:
            """pairs[context:last] after the system message, training from pairs[first]."""
            chosen = system + [m for pair in pairs[context:last] for m in pair]
            return chosen, len(system) + 2 * (first - context)

        def fits(context: int, first: int, last: int) -> bool:
            return self.length(sub(context, first, last)[0]) <= max_length

        if fits(0, 0, len(pairs)):
            return Fitted(samples=[self.encode(messages)])
        fitted = Fitted(split=True)
        i = 0
        while i < len(pairs):
            j = i
            while j < len(pairs) and fits(i, i, j + 1):
                j += 1
            if j == i:
                chosen, train_from = sub(i, i, i + 1)
                prompt = self.tokenizer(self.render(chosen[:-1], add_generation_prompt=True), add_special_tokens=False)["input_ids"]
                sample = {k: v[:max_length] for k, v in self.encode(chosen, train_from).items()} if len(prompt) < max_length else None
                if sample is None or all(label == IGNORE_INDEX for label in sample["labels"]):
                    # The user's message fills max_length, or leaves room only for the answer's masked lead-in
                    # (real ShareGPT turns do): nothing of the answer would be learned.
                    fitted.dropped_turns += 1
                else:
                    fitted.samples.append(sample)
                    fitted.cut_turns += 1
                i += 1
                continue
            context = i
            while context > 0 and fits(context - 1, i, j):
                context -= 1
            chosen, train_from = sub(context, i, j)
            fitted.samples.append(self.encode(chosen, train_from))
            i = j
        fitted.split = len(fitted.samples) > 1
        return fitted


def _covers(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return end > start and any(start < s_end and end > s_start for s_start, s_end in spans)


def render_masked(tokenizer: Any, sample: dict[str, list[int]]) -> str:
    """A sample as text with its masked spans marked: [[masked: ...]] around what the loss ignores."""
    out, run, masked = [], [], None
    for tok, label in zip(sample["input_ids"], sample["labels"]):
        is_masked = label == IGNORE_INDEX
        if masked is not None and is_masked != masked:
            out.append(_span(tokenizer, run, masked))
            run = []
        run.append(tok)
        masked = is_masked
    if run:
        out.append(_span(tokenizer, run, bool(masked)))
    return "".join(out)


def _span(tokenizer: Any, ids: list[int], masked: bool) -> str:
    text = tokenizer.decode(ids, skip_special_tokens=False)
    return f"[[masked: {text}]]" if masked else text
