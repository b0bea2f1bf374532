"""Contexts for grounded generation: the user's documents and image annotations, read and cut into chunks.

    contexts = read_contexts([Path("docs/"), Path("coco.jsonl")], chunk_tokens=400, overlap=40)
    contexts[0].text, contexts[0].source      # the chunk as the teacher sees it, and where it came from

What `--context PATH` accepts (a file, or a folder searched recursively in name order):
- .txt / .md / .markdown: cut at paragraph boundaries into chunks of at most `chunk_tokens`
  tokens; a Markdown heading starts a new chunk once the current one is half full, a paragraph
  longer than a chunk is cut at sentence ends (and a sentence longer than that at words). The
  next chunk repeats up to `overlap` tokens of whole paragraphs or sentences from the end of the
  one before (not across a heading). Each chunk keeps its character offset in the file.
- .pdf: the text layer, page by page (pypdf), then chunked like text; a chunk also names the page
  it starts on. A PDF with no text layer is skipped with a warning.
- .jsonl: one object a line, either a ready context `{"id", "context"}` (used as it is) or an
  image annotation in LLaVA/COCO style `{"id", "image", "captions": [...], "instances":
  [{"category", "bbox": [x1, y1, x2, y2]}], "width"?, "height"?}`, rendered as LLaVA did: the
  captions, one a line, then one `category: [x1, y1, x2, y2]` line per object with coordinates
  in [0, 1] (divided by the image's width and height when given; without them every coordinate
  must already be in [0, 1]).

In a folder, files of other types are skipped (and named in a warning); given directly, such a
file is an error. Every problem is a one-line UserError (exit 2), a bad JSONL line as file:line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.readers import iter_jsonl, require_object
from selfinstruct.teacher.spend import count_tokens

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
READABLE = (*TEXT_SUFFIXES, ".pdf", ".jsonl")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_HEADING = re.compile(r"^(#{1,6}\s+\S|[^\n]+\n(=+|-+)[ \t]*$)")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+")


@dataclass
class Context:
    """One chunk the teacher writes from: its text, and where it came from (for the journal and the summary)."""

    text: str
    file: str
    kind: str = "document"  # "document" or "annotation"
    offset: int | None = None  # character offset in the file's (extracted) text
    page: int | None = None  # PDF: the 1-based page the chunk starts on
    id: str | None = None  # JSONL: the line's id
    image: str | None = None  # annotation: the image file name, kept for the multimodal trainer
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> dict[str, Any]:
        """Where the chunk came from, as the journal records it: file, then offset (and page) or id."""
        out: dict[str, Any] = {"file": self.file, "kind": self.kind}
        for key in ("offset", "page", "id", "image"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def read_contexts(
    paths: list[Path], chunk_tokens: int = 400, overlap: int = 40, warn: Callable[[str], None] = print
) -> list[Context]:
    """Every context of the given files and folders, in the order given (a folder's files in name order)."""
    if not paths:
        raise UserError("--context is required for --recipe grounded: a file or a folder of documents or annotations")
    contexts: list[Context] = []
    for path in paths:
        for file in _files(path, warn):
            contexts += _read_file(file, chunk_tokens, overlap, warn)
    if not contexts:
        raise UserError(f"--context {' '.join(map(str, paths))}: no text in it to write from")
    return contexts


def _files(path: Path, warn: Callable[[str], None]) -> list[Path]:
    if not path.exists():
        raise UserError(f"--context {path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() not in READABLE:
            raise UserError(f"--context {path}: cannot read {path.suffix or 'extension-less'} files (use .txt, .md, .pdf or .jsonl)")
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    readable = [p for p in files if p.suffix.lower() in READABLE]
    if not files:
        raise UserError(f"--context {path}: the folder is empty")
    if not readable:
        raise UserError(f"--context {path}: no .txt, .md, .pdf or .jsonl files in it")
    skipped = [p for p in files if p.suffix.lower() not in READABLE]
    if skipped:
        warn(f"warning: --context {path}: skipped {len(skipped)} file(s) of other types, e.g. {skipped[0].name}")
    return readable


def _read_file(path: Path, chunk_tokens: int, overlap: int, warn: Callable[[str], None]) -> list[Context]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl_contexts(path)
    if suffix == ".pdf":
        pages = read_pdf_pages(path)
        if not any(p.strip() for p in pages):
            warn(f"warning: {path}: no text layer (a scanned PDF?); skipped")
            return []
        text, starts = "", []
        for page in pages:
            starts.append(len(text))
            text += page.strip() + "\n\n"
        chunks = chunk_text(text, chunk_tokens, overlap)
        return [Context(text=t, file=str(path), offset=o, page=sum(1 for s in starts if s <= o)) for o, t in chunks]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    return [Context(text=t, file=str(path), offset=o) for o, t in chunk_text(text, chunk_tokens, overlap)]


# --- chunking ---------------------------------------------------------------------------


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    heading: bool


def _units(text: str, limit: int) -> Iterator[_Unit]:
    """Paragraphs with their offsets; one longer than `limit` tokens comes as sentences (or word runs)."""
    pos = 0
    for brk in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        raw = text[pos:end]
        if raw.strip():
            start = pos + len(raw) - len(raw.lstrip())
            stop = pos + len(raw.rstrip())
            para = text[start:stop]
            tokens = count_tokens(para)
            if tokens <= limit:
                yield _Unit(start, stop, tokens, bool(_HEADING.match(para)))
            else:
                yield from _split_long(text, start, stop, limit)
        pos = brk.end() if brk else len(text)


def _split_long(text: str, start: int, stop: int, limit: int) -> Iterator[_Unit]:
    """A paragraph over the limit, cut at sentence ends; a sentence still over it, cut between words."""
    bounds = [start] + [start + m.end() for m in _SENTENCE_END.finditer(text[start:stop])] + [stop]
    for a, b in zip(bounds, bounds[1:]):
        sentence = text[a:b].rstrip()
        if not sentence.strip():
            continue
        tokens = count_tokens(sentence)
        if tokens <= limit:
            yield _Unit(a, a + len(sentence), tokens, False)
            continue
        words = list(re.finditer(r"\S+", sentence))
        i = 0
        while i < len(words):
            j, used = i, 0
            while j < len(words) and (j == i or used + count_tokens(words[j].group()) + 1 <= limit):
                used += count_tokens(words[j].group()) + 1
                j += 1
            yield _Unit(a + words[i].start(), a + words[j - 1].end(), used, False)
            i = j


def chunk_text(text: str, chunk_tokens: int = 400, overlap: int = 40) -> list[tuple[int, str]]:
    """(offset, chunk) pairs: whole paragraphs (or sentences of a long one) packed up to `chunk_tokens`.

    A heading starts a new chunk once the current one is at least half full; the next chunk
    begins with the previous chunk's last units worth at most `overlap` tokens (never all of it).
    """
    units = list(_units(text, chunk_tokens))
    chunks: list[tuple[int, int]] = []
    current: list[int] = []  # unit indexes of the chunk being filled
    used = 0
    i = 0
    while i < len(units):
        unit = units[i]
        at_heading = unit.heading and used >= chunk_tokens / 2
        if current and (used + unit.tokens > chunk_tokens or at_heading):
            chunks.append((units[current[0]].start, units[current[-1]].end))
            carry: list[int] = []
            if not at_heading and overlap > 0:
                carried = 0
                for k in reversed(current[1:]):
                    if carried + units[k].tokens > overlap or carried + units[k].tokens + unit.tokens > chunk_tokens:
                        break
                    carry.insert(0, k)
                    carried += units[k].tokens
            current, used = carry, sum(units[k].tokens for k in carry)
            continue
        current.append(i)
        used += unit.tokens
        i += 1
    if current:
        chunks.append((units[current[0]].start, units[current[-1]].end))
    return [(a, text[a:b]) for a, b in chunks]


# --- PDF -----------------------------------------------------------------------------------


def read_pdf_pages(path: Path) -> list[str]:
    """Each page's text layer, extracted with pypdf (empty strings for a scanned PDF)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        return [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a readable PDF ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


# --- JSONL: ready contexts and image annotations ----------------------------------------


def read_jsonl_contexts(path: Path) -> list[Context]:
    """Ready contexts `{"id", "context"}` and LLaVA/COCO annotations, one a line; a bad line is file:line."""
    out: list[Context] = []
    seen: dict[str, int] = {}
    for lineno, value in iter_jsonl(path, "--context file"):
        where = f"{path}:{lineno}"
        obj = require_object(value, where)
        ident = obj.get("id")
        if not isinstance(ident, (str, int)) or isinstance(ident, bool) or str(ident).strip() == "":
            raise UserError(f"{where}: needs an 'id' (a string or a number)")
        ident = str(ident)
        if ident in seen:
            raise UserError(f"{where}: duplicate id '{ident}' (first on line {seen[ident]})")
        seen[ident] = lineno
        if "context" in obj:
            text = obj["context"]
            if not isinstance(text, str) or not text.strip():
                raise UserError(f"{where}: 'context' must be a non-empty string")
            out.append(Context(text=text.strip(), file=str(path), id=ident))
        elif "captions" in obj or "instances" in obj:
            out.append(Context(text=render_annotation(obj, where), file=str(path), kind="annotation", id=ident, image=_image(obj, where)))
        else:
            raise UserError(f"{where}: needs 'context' (a ready context) or 'image', 'captions' and 'instances' (an image annotation)")
    return out


def _image(obj: dict[str, Any], where: str) -> str:
    image = obj.get("image")
    if not isinstance(image, str) or not image.strip():
        raise UserError(f"{where}: an annotation needs 'image', the image's file name")
    return image.strip()


def render_annotation(obj: dict[str, Any], where: str) -> str:
    """An annotation as LLaVA showed it to its teacher: captions, then `category: [x1, y1, x2, y2]` lines in [0, 1]."""
    captions = obj.get("captions", [])
    instances = obj.get("instances", [])
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise UserError(f"{where}: 'captions' must be a list of strings")
    if not isinstance(instances, list):
        raise UserError(f"{where}: 'instances' must be a list of {{\"category\", \"bbox\"}} objects")
    captions = [c.strip() for c in captions if c.strip()]
    if not captions and not instances:
        raise UserError(f"{where}: an annotation needs at least one caption or instance")
    width, height = _size(obj, where)
    lines = []
    for n, inst in enumerate(instances):
        if not isinstance(inst, dict) or not isinstance(inst.get("category"), str) or not inst["category"].strip():
            raise UserError(f"{where}: instances[{n}] needs a 'category' string and a 'bbox'")
        lines.append(f"{inst['category'].strip()}: {_bbox(inst.get('bbox'), width, height, f'{where}: instances[{n}]')}")
    return "\n".join(captions + ([""] if captions and lines else []) + lines)


def _size(obj: dict[str, Any], where: str) -> tuple[float | None, float | None]:
    sizes = []
    for key in ("width", "height"):
        value = obj.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
            raise UserError(f"{where}: '{key}' must be a positive number of pixels")
        sizes.append(value)
    if (sizes[0] is None) != (sizes[1] is None):
        raise UserError(f"{where}: give both 'width' and 'height', or neither")
    return sizes[0], sizes[1]


def _bbox(box: Any, width: float | None, height: float | None, where: str) -> str:
    if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        raise UserError(f"{where}: 'bbox' must be four numbers [x1, y1, x2, y2]")
    x1, y1, x2, y2 = (float(v) for v in box)
    if width is not None and height is not None:
        x1, x2, y1, y2 = x1 / width, x2 / width, y1 / height, y2 / height
    elif max(x1, y1, x2, y2) > 1:
        raise UserError(f"{where}: bbox {box} is in pixels; add the image's 'width' and 'height' to the line to normalise it")
    if min(x1, y1, x2, y2) < 0 or max(x1, y1, x2, y2) > 1 + 1e-6 or x2 < x1 or y2 < y1:
        raise UserError(f"{where}: bbox {box} is not a box [x1, y1, x2, y2] inside the image")
    return "[" + ", ".join(f"{min(v, 1.0):.3f}" for v in (x1, y1, x2, y2)) + "]"
