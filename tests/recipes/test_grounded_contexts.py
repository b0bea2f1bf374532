"""Context readers for grounded generation: chunking, PDF text, JSONL contexts, annotation rendering, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.errors import UserError
from selfinstruct.recipes.grounded.contexts import chunk_text, read_contexts, read_pdf_pages, render_annotation
from selfinstruct.teacher.spend import count_tokens


def _paragraph(n: int, word: str = "boat") -> str:
    return " ".join(word if i % 2 else "the" for i in range(n)) + "."


def test_markdown_chunks_break_at_headings_and_paragraphs_with_offsets():
    doc = "# Title\n\nIntro paragraph about the harbour.\n\n## Tides\n\n" + _paragraph(60) + "\n\n## Boats\n\n" + _paragraph(60, "ship") + "\n"
    chunks = chunk_text(doc, chunk_tokens=100, overlap=0)
    # Each chunk is an exact slice of the file at its offset.
    assert all(doc[o : o + len(t)] == t for o, t in chunks)
    assert all(count_tokens(t) <= 100 for _, t in chunks)
    # The second section's heading starts a chunk once the first is half full.
    assert [t.split("\n")[0] for _, t in chunks] == ["# Title", "## Boats"]
    assert chunks[0][1].endswith("the boat.") and "## Tides" in chunks[0][1] and "ship" in chunks[1][1]


def test_a_long_paragraph_is_cut_at_sentences_and_overlap_repeats_the_last_ones():
    sentences = [f"Sentence number {i} talks about the lighthouse keeper and the boats." for i in range(40)]
    doc = " ".join(sentences)
    chunks = chunk_text(doc, chunk_tokens=60, overlap=20)
    assert len(chunks) > 4
    assert all(count_tokens(t) <= 60 for _, t in chunks)
    assert all(t.endswith(".") for _, t in chunks)  # whole sentences only
    for (o1, t1), (o2, _) in zip(chunks, chunks[1:]):
        assert o1 < o2 < o1 + len(t1)  # the next chunk starts inside the previous one: overlap, and progress
    covered = {i for o, t in chunks for i in range(o, o + len(t))}
    assert covered >= {i for i, c in enumerate(doc) if not c.isspace()}  # nothing lost


def test_a_sentence_longer_than_a_chunk_is_cut_between_words():
    doc = _paragraph(500)
    chunks = chunk_text(doc, chunk_tokens=50, overlap=0)
    assert len(chunks) > 5 and all(count_tokens(t) <= 50 for _, t in chunks)
    assert " ".join(t for _, t in chunks) == doc


def test_unicode_text_keeps_its_characters_and_offsets():
    doc = "## Über Gezeiten\n\nDie Flut kommt zweimal täglich. 潮汐は一日に二回来ます。 Ça marche.\n\n" + "Ünïcödé wörds ärë hérë. " * 80
    chunks = chunk_text(doc, chunk_tokens=80, overlap=10)
    assert chunks[0][1].startswith("## Über Gezeiten")
    assert "潮汐は一日に二回来ます。" in chunks[0][1]
    assert all(doc[o : o + len(t)] == t for o, t in chunks)


def _minimal_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one Helvetica text line per page, xref offsets computed (pypdf cannot write text)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        page_no, content_no = len(objects) + 1, len(objects) + 2
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_no} 0 R "
                       f"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        kids.append(f"{page_no} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_text_is_extracted_per_page_and_chunks_name_their_page(tmp_path):
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(_minimal_pdf(["The pump runs at 40 litres per minute.", "Clean the filter every month."]))
    assert [p.strip() for p in read_pdf_pages(pdf)] == ["The pump runs at 40 litres per minute.", "Clean the filter every month."]
    (ctx,) = read_contexts([pdf], chunk_tokens=400)
    assert "40 litres" in ctx.text and "filter every month" in ctx.text
    assert ctx.source == {"file": str(pdf), "kind": "document", "offset": 0, "page": 1}
    small = read_contexts([pdf], chunk_tokens=12, overlap=0)
    assert [c.page for c in small] == [1, 2]


def test_a_pdf_without_a_text_layer_is_skipped_with_a_warning(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(_minimal_pdf([""]))
    (tmp_path / "notes.md").write_text("Some notes.\n", encoding="utf-8")
    warnings: list[str] = []
    contexts = read_contexts([tmp_path], warn=warnings.append)
    assert [c.text for c in contexts] == ["Some notes."]
    assert any("no text layer" in w for w in warnings)


def test_a_broken_pdf_is_one_line(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(UserError, match="bad.pdf"):
        read_contexts([bad])


def test_annotations_render_captions_then_normalised_boxes(tmp_path):
    line = {"id": "img1", "image": "000000001.jpg", "width": 640, "height": 480,
            "captions": ["A dog on a red sofa.", "A brown dog resting indoors."],
            "instances": [{"category": "dog", "bbox": [64, 48, 320, 240]}, {"category": "couch", "bbox": [0, 100, 640, 480]}]}
    assert render_annotation(line, "x") == (
        "A dog on a red sofa.\nA brown dog resting indoors.\n\ndog: [0.100, 0.100, 0.500, 0.500]\ncouch: [0.000, 0.208, 1.000, 1.000]"
    )
    path = tmp_path / "ann.jsonl"
    normalised = {"id": 7, "image": "b.jpg", "captions": ["A cat."], "instances": [{"category": "cat", "bbox": [0.1, 0.2, 0.3, 0.4]}]}
    path.write_text(json.dumps(line) + "\n" + json.dumps(normalised) + "\n" + json.dumps({"id": "c", "context": "Ready text."}) + "\n")
    contexts = read_contexts([path])
    assert [c.kind for c in contexts] == ["annotation", "annotation", "document"]
    assert contexts[1].text == "A cat.\n\ncat: [0.100, 0.200, 0.300, 0.400]"
    assert contexts[1].source == {"file": str(path), "kind": "annotation", "id": "7", "image": "b.jpg"}
    assert contexts[2].text == "Ready text." and contexts[2].source["id"] == "c"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"context": "no id"}, ":2: needs an 'id'"),
        ({"id": "x"}, ":2: needs 'context'"),
        ({"id": "x", "context": ""}, ":2: 'context' must be a non-empty string"),
        ({"id": "x", "image": "a.jpg", "captions": ["c"], "instances": [{"category": "dog", "bbox": [10, 10, 50, 50]}]}, "add the image's 'width'"),
        ({"id": "x", "image": "a.jpg", "captions": ["c"], "instances": [{"category": "dog", "bbox": [1, 2]}]}, "four numbers"),
        ({"id": "x", "captions": ["c"], "instances": []}, "needs 'image'"),
        ({"id": "a", "context": "dup"}, "duplicate id 'a'"),
    ],
)
def test_bad_jsonl_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "context": "fine"}) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(UserError, match=message) as err:
        read_contexts([path])
    assert f"{path}:2" in str(err.value)


def test_bad_paths_are_one_line(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        read_contexts([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="the folder is empty"):
        read_contexts([empty])
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG")
    with pytest.raises(UserError, match=r"cannot read \.png files"):
        read_contexts([image])
    with pytest.raises(UserError, match="--context is required"):
        read_contexts([])


def test_a_folder_is_read_recursively_in_name_order(tmp_path: Path):
    (tmp_path / "b.md").write_text("Bee.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("Ant.\n", encoding="utf-8")
    (tmp_path / "a.md").write_text("Aardvark.\n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"x")
    warnings: list[str] = []
    assert [c.text for c in read_contexts([tmp_path], warn=warnings.append)] == ["Aardvark.", "Bee.", "Ant."]
    assert "skipped 1 file" in warnings[0]
