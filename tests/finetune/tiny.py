"""Tiny offline models for fine-tuning tests: a BPE tokenizer trained here and a 2-layer Llama, saved to a dir.

Nothing is downloaded; each build takes well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]
ANIMALS = ["cat", "dog", "owl", "fox", "bee", "cow"]


def repetitive_rows(n: int = 48) -> list[dict[str, str]]:
    """A small dataset a tiny model learns quickly: fixed phrasings, a few slots, some rows with an input."""
    rows = []
    for i in range(n):
        color, animal = COLORS[i % len(COLORS)], ANIMALS[i % len(ANIMALS)]
        if i % 3 == 0:
            rows.append({"instruction": "Repeat the word three times.", "input": color, "output": f"{color} {color} {color}"})
        elif i % 3 == 1:
            rows.append({"instruction": f"What sound does a {animal} make?", "input": "", "output": f"The {animal} says hello {color}."})
        else:
            rows.append({"instruction": f"Name a {color} thing.", "input": "", "output": f"A {color} {animal}."})
    return rows


def write_data(path: Path, rows: list[dict[str, str]] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows if rows is not None else repetitive_rows(), indent=1), encoding="utf-8")
    return path


def build_tokenizer(directory: Path, pad: str | None = "<pad>", unk: str | None = "<unk>") -> object:
    """A byte-level BPE tokenizer trained on the template and the test data; BOS is added to every text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from selfinstruct.finetune.data import PromptTemplate

    template = PromptTemplate.load()
    corpus = [template.with_input, template.no_input] + [" ".join(r.values()) for r in repetitive_rows()] * 3
    specials = ["<bos>", "<eos>"] + [t for t in (pad, unk) if t]
    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token=pad, unk_token=unk)
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(directory))
    return fast


def build_model(
    directory: Path, pad: str | None = "<pad>", unk: str | None = "<unk>", seed: int = 0, init_std: float = 0.02, max_positions: int = 512
) -> Path:
    """A 2-layer, 64-wide Llama with its tokenizer, saved as a local model directory.

    LoRA leaves the final norm and the LM head frozen, so with the usual init (std 0.02) the logits
    stay within a few tenths of each other: greedy answers are right by slim margins. A larger
    `init_std` lets LoRA learn answers with confidence that survives another machine's arithmetic.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer(directory, pad=pad, unk=unk)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=max_positions, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False, initializer_range=init_std,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(str(directory))
    return directory
