"""The tokenizer half of a GGUF: vocabulary, scores, token types, merges, special token ids, templates.

    vocab = tokenizer_metadata(tokenizer, model_dir, source_gguf=None)
    vocab.write(writer, n_vocab=embedding_rows, prompt_template=template)

Three sources, tried in this order:
- the GGUF the base model came from (the packaged Gemma 3, or a `--base-model x.gguf`): its
  `tokenizer.ggml.*` keys are llama.cpp's own reading of this very vocabulary, so they are copied
  as they are once the tuned tokenizer is checked to be the same vocabulary;
- a byte-level BPE `tokenizer.json` (GPT-2, Llama 3, Qwen2 style): tokens and types from the
  tokenizer, merges through gguf-py's `SpecialVocab`, and llama.cpp's pre-tokenizer name read off
  the pre-tokenizer's split pattern (only patterns we know map to a llama.cpp name);
- a SentencePiece-style BPE with byte fallback (Llama 2, Gemma): gguf-py's `LlamaHfVocab`.
Special token ids and whether BOS/EOS are added come from the tuned tokenizer itself (finetune may
have chosen a new pad token). The prompt template the model was trained with goes in twice: as
JSON under `selfinstruct.prompt_template` (read back by `ask` and `eval`), and as a Jinja
`tokenizer.chat_template` that renders a chat's last user message with the no-input variant, so
llama.cpp's servers answer OpenAI-style chat requests with the prompt the model knows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.finetune.data import PromptTemplate

PROMPT_TEMPLATE_KEY = "selfinstruct.prompt_template"
_COPY_PREFIX = "tokenizer.ggml."
# Set from the tuned tokenizer, never copied: finetune may have changed them.
_OWN_KEYS = {"bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id", "seperator_token_id",
             "cls_token_id", "mask_token_id", "add_bos_token", "add_eos_token", "add_sep_token"}  # fmt: skip
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
# Split patterns of byte-level BPE pre-tokenizers and llama.cpp's name for each (llama-vocab.cpp).
_KNOWN_SPLITS = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+": "llama-bpe",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+": "qwen2",
}


def alpaca_chat_template(template: PromptTemplate, add_bos: bool) -> str:
    """A Jinja chat template that renders the last user message as the instruction of the training prompt.

    It starts with BOS when the tokenizer adds one, as Hugging Face chat templates do: chat servers
    tokenize a rendered chat without adding special tokens themselves (or drop a doubled BOS).
    """
    before, _, after = template.no_input.partition("{instruction}")
    return (
        ("{{ bos_token }}" if add_bos else "")
        + "{%- set ns = namespace(instruction='') -%}"
        "{%- for message in messages -%}{%- if message['role'] == 'user' -%}{%- set ns.instruction = message['content'] -%}"
        "{%- endif -%}{%- endfor -%}"
        f"{{{{ {json.dumps(before, ensure_ascii=False)} }}}}{{{{ ns.instruction }}}}{{{{ {json.dumps(after, ensure_ascii=False)} }}}}"
    )


class VocabMetadata:
    """Tokenizer keys ready to write: a copied set from a source GGUF, or one built from the tokenizer."""

    def __init__(self, tokenizer: Any, source: str, fields: list[tuple[str, Any, Any, Any]] | None = None,
                 built: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.tokenizer = tokenizer
        self.source = source  # said in the export's output: where the vocabulary came from
        self.fields = fields or []  # (key, value, GGUFValueType, sub type) copied from the source GGUF
        self.built = built or {}

    def write(self, writer: Any, n_vocab: int, prompt_template: PromptTemplate) -> None:
        import gguf

        if self.fields:
            for key, value, vtype, sub_type in self.fields:
                writer.add_key_value(key, value, vtype, sub_type=sub_type)
        else:
            tokens, scores, types = self.built["tokens"], self.built.get("scores"), self.built["types"]
            if len(tokens) > n_vocab:
                raise UserError(f"the tokenizer has {len(tokens)} tokens but the embedding only {n_vocab} rows; cannot export")
            # Rows past the tokenizer (vocab padded to a round size) get placeholder tokens, as llama.cpp's converter does.
            for i in range(len(tokens), n_vocab):
                tokens.append(f"[PAD{i}]")
                types.append(gguf.TokenType.UNUSED)
                if scores is not None:
                    scores.append(-1000.0)
            writer.add_tokenizer_model(self.built["model"])
            writer.add_tokenizer_pre(self.built["pre"])
            writer.add_token_list(tokens)
            writer.add_token_types(types)
            if scores is not None:
                writer.add_token_scores(scores)
            if self.built.get("merges"):
                writer.add_token_merges(self.built["merges"])
            if "add_space_prefix" in self.built:
                writer.add_add_space_prefix(self.built["add_space_prefix"])
        tok = self.tokenizer
        for name, token_id in (("bos", tok.bos_token_id), ("eos", tok.eos_token_id), ("unk", tok.unk_token_id), ("pad", tok.pad_token_id)):
            if token_id is not None:
                getattr(writer, f"add_{name}_token_id")(int(token_id))
        ids = tok("a", add_special_tokens=True)["input_ids"]
        add_bos = bool(ids) and tok.bos_token_id is not None and ids[0] == tok.bos_token_id
        writer.add_add_bos_token(add_bos)
        writer.add_add_eos_token(bool(ids) and tok.eos_token_id is not None and ids[-1] == tok.eos_token_id)
        writer.add_chat_template(alpaca_chat_template(prompt_template, add_bos))
        writer.add_string(PROMPT_TEMPLATE_KEY, prompt_template.model_dump_json())


def tokenizer_metadata(tokenizer: Any, model_dir: Path, source_gguf: Path | None = None) -> VocabMetadata:
    """The tokenizer keys for the export, from the base's GGUF when it has the same vocabulary, else from tokenizer.json."""
    if source_gguf is not None:
        copied = _copy_from_gguf(tokenizer, source_gguf)
        if copied is not None:
            return copied
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"{model_dir}: no tokenizer.json, so the vocabulary cannot be written into the GGUF")
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec.get("model", {})
    if model.get("type") == "BPE" and not model.get("byte_fallback", False):
        return _byte_level_bpe(tokenizer, model_dir, spec)
    if model.get("type") == "BPE" and model.get("byte_fallback"):
        return _sentencepiece_bpe(tokenizer, model_dir, _prepends_space(spec))
    raise UserError(f"{path}: a {model.get('type')} tokenizer cannot be exported; supported: byte-level BPE (GPT-2, Llama 3, Qwen2) and SentencePiece-style BPE (Llama 2, Gemma)")


def _copy_from_gguf(tokenizer: Any, source: Path) -> VocabMetadata | None:
    """The source GGUF's tokenizer keys, if its token list is the tuned tokenizer's vocabulary; else None."""
    import gguf

    reader = gguf.GGUFReader(str(source))
    tokens_field = reader.get_field(_COPY_PREFIX + "tokens")
    if tokens_field is None:
        return None
    tokens = tokens_field.contents()
    vocab = tokenizer.get_vocab()
    if len(tokens) != len(vocab) or any(vocab.get(tokens[i]) != i for i in range(0, len(tokens), max(1, len(tokens) // 997))):
        return None
    fields = []
    for key, field in reader.fields.items():
        if not key.startswith(_COPY_PREFIX) or key[len(_COPY_PREFIX):] in _OWN_KEYS:
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        fields.append((key, field.contents(), vtype, sub_type))
    return VocabMetadata(tokenizer, f"copied from {source.name}", fields=fields)


def _byte_level_bpe(tokenizer: Any, model_dir: Path, spec: dict[str, Any]) -> VocabMetadata:
    import gguf

    pre = _pre_tokenizer_name(spec.get("pre_tokenizer"), model_dir)
    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for i in range(max(reverse) + 1):
        token = reverse.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    merges = gguf.SpecialVocab(model_dir, load_merges=True).merges
    if not merges:
        raise UserError(f"{model_dir / 'tokenizer.json'}: a BPE tokenizer without merges cannot be exported")
    return VocabMetadata(tokenizer, f"byte-level BPE ({pre} pre-tokenizer)",
                         built={"model": "gpt2", "pre": pre, "tokens": tokens, "types": types, "merges": merges})  # fmt: skip


def _pre_tokenizer_name(pre: Any, model_dir: Path) -> str:
    """llama.cpp's name for a byte-level pre-tokenizer, from its structure; UserError for one we cannot vouch for."""
    steps = pre.get("pretokenizers", []) if isinstance(pre, dict) and pre.get("type") == "Sequence" else [pre]
    steps = [s for s in steps if isinstance(s, dict)]
    splits = [s for s in steps if s.get("type") == "Split"]
    levels = [s for s in steps if s.get("type") == "ByteLevel"]
    if not splits and len(levels) == 1 and levels[0].get("use_regex", True) and not levels[0].get("add_prefix_space", False):
        return "gpt-2"
    if len(splits) == 1 and levels and not any(s.get("use_regex", True) for s in levels):
        pattern = splits[0].get("pattern", {})
        name = _KNOWN_SPLITS.get(pattern.get("Regex", "") if isinstance(pattern, dict) else "")
        if name:
            return name
    raise UserError(f"{model_dir / 'tokenizer.json'}: its pre-tokenizer is not one llama.cpp is known to split the same way "
                    f"(supported: GPT-2, Llama 3 and Qwen2 byte-level BPE, SentencePiece-style BPE)")  # fmt: skip


def _prepends_space(spec: dict[str, Any]) -> bool:
    """Whether the tokenizer puts "▁" before the text (Llama 2 does, Gemma 3 does not): llama.cpp's add_space_prefix."""
    def steps(part: Any) -> list[dict[str, Any]]:
        if not isinstance(part, dict):
            return []
        inner = part.get("normalizers") or part.get("pretokenizers")
        return [s for p in inner for s in steps(p)] if inner else [part]

    for step in steps(spec.get("normalizer")) + steps(spec.get("pre_tokenizer")):
        if step.get("type") == "Prepend" and step.get("prepend") == "\u2581":
            return True
        if step.get("type") == "Metaspace" and step.get("prepend_scheme", "always") != "never":
            return True
    return False


def _sentencepiece_bpe(tokenizer: Any, model_dir: Path, add_space_prefix: bool) -> VocabMetadata:
    import gguf

    try:
        vocab = gguf.LlamaHfVocab(model_dir)
    except (FileNotFoundError, TypeError) as exc:
        raise UserError(f"{model_dir / 'tokenizer.json'}: cannot read it as a SentencePiece-style vocabulary ({exc})") from None
    tokens, scores, types = [], [], []
    for text, score, token_type in vocab.all_tokens():
        tokens.append(text)
        scores.append(score)
        types.append(token_type)
    return VocabMetadata(tokenizer, "SentencePiece-style BPE",
                         built={"model": "llama", "pre": "default", "tokens": tokens, "scores": scores, "types": types,
                                "add_space_prefix": add_space_prefix})  # fmt: skip


def read_prompt_template(path: Path) -> PromptTemplate | None:
    """The training prompt template stored in a GGUF we exported, or None for any other GGUF."""
    try:
        import gguf
    except ImportError:
        return None
    try:
        field = gguf.GGUFReader(str(path)).get_field(PROMPT_TEMPLATE_KEY)
    except (ValueError, OSError):
        return None
    if field is None:
        return None
    try:
        return PromptTemplate.model_validate_json(field.contents())
    except ValueError:
        raise UserError(f"{path}: its {PROMPT_TEMPLATE_KEY} metadata is not a prompt template (expected with_input and no_input)") from None
