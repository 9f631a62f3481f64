"""The parallel PDF writer gives the same book as the single-pass writer (bundled manuscript)."""
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from pipeline import pdf as single_pdf
from pipeline import pdf_parallel
from pipeline.build import build_book
from pipeline.config import load_config
from pipeline.pdf import write_pdf
from pipeline.pdf_parallel import balance, split_html, write_pdf_parallel

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    out = tmp_path_factory.mktemp("pdfpar")
    book = build_book(load_config(ROOT / "manuscript"), out_dir=out)
    paths = {"single": write_pdf(book, out / "single.pdf")}
    for workers in (2, 3):
        paths[workers] = write_pdf_parallel(book, out / f"parallel{workers}.pdf", workers=workers)
    return book, paths


def page_texts(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    return text.split("\f")[:-1]


def outline(reader: PdfReader) -> list[tuple[int, str, int]]:
    found = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                found.append((depth, item.title, reader.get_destination_page_number(item)))
    walk(reader.outline, 0)
    return found


def links(reader: PdfReader) -> list[tuple]:
    dests = {name: reader.get_destination_page_number(d) for name, d in reader.named_destinations.items()}
    found = []
    for number, page in enumerate(reader.pages):
        for annot in page.get("/Annots", []) or []:
            annot = annot.get_object()
            rect = tuple(round(float(v), 2) for v in annot["/Rect"])
            if "/Dest" in annot:
                found.append((number, rect, str(annot["/Dest"]), dests.get(str(annot["/Dest"]))))
            else:
                found.append((number, rect, str(annot["/A"]["/URI"])))
    return found


@pytest.mark.parametrize("workers", [2, 3])
def test_same_pages_and_text(books, workers):
    _, paths = books
    single, parallel = page_texts(paths["single"]), page_texts(paths[workers])
    assert len(parallel) == len(single) > 20
    for number, (a, b) in enumerate(zip(single, parallel), start=1):
        assert a == b, f"page {number} differs"


@pytest.mark.parametrize("workers", [2, 3])
def test_same_outline_links_and_destinations(books, workers):
    _, paths = books
    single, parallel = PdfReader(paths["single"]), PdfReader(paths[workers])
    assert outline(parallel) == outline(single)
    assert len(outline(single)) > 10
    single_links, parallel_links = links(single), links(parallel)
    assert len(parallel_links) == len(single_links)
    assert parallel_links == single_links
    # Every internal link resolves (nothing left as an x-chunk: URI).
    assert not any(len(link) == 3 and link[2].startswith(pdf_parallel.CHUNK_SCHEME) for link in parallel_links)
    assert all(link[3] is not None for link in parallel_links if len(link) == 4)
    assert {k: single.get_destination_page_number(v) for k, v in single.named_destinations.items()} == \
           {k: parallel.get_destination_page_number(v) for k, v in parallel.named_destinations.items()}


def test_cross_piece_links_exist(books):
    """The appendices link back into the chapter, which is laid out by another worker."""
    book, paths = books
    reader = PdfReader(paths[2])
    chapter_anchors = {book.chapters[0].id} | {h.id for h in book.chapters[0].headings}
    toc_page, chapter_page = 2, reader.get_destination_page_number(reader.named_destinations[book.chapters[0].id])
    found = links(reader)
    assert any(link[0] == toc_page and link[3] == chapter_page for link in found if len(link) == 4)
    appendix_first = reader.get_destination_page_number(reader.named_destinations[book.appendices[0].id])
    assert any(link[0] >= appendix_first and (link[2] in chapter_anchors or link[3] < appendix_first)
               for link in found if len(link) == 4)


@pytest.mark.parametrize("workers", [2, 3])
def test_same_metadata_and_boxes(books, workers):
    _, paths = books
    single, parallel = PdfReader(paths["single"]), PdfReader(paths[workers])
    assert dict(parallel.metadata) == dict(single.metadata)
    assert parallel.pdf_header == single.pdf_header
    assert parallel.trailer["/Root"].get("/Lang") == single.trailer["/Root"].get("/Lang")
    assert parallel.trailer["/ID"][0] == single.trailer["/ID"][0]
    for a, b in zip(single.pages, parallel.pages):
        for box in ("/MediaBox", "/TrimBox", "/BleedBox"):
            assert [float(v) for v in a[box]] == [float(v) for v in b[box]]


def test_pieces_start_on_right_hand_items(books):
    book, _ = books
    head, front, items, tail = split_html(book, single_pdf.render_html(book))
    assert head.rstrip().endswith(">") and "<body" in head and 'id="toc"' in front
    assert tail.strip() == "</body>\n</html>".strip()
    # The article of the part stays with its part title; appendices are cut points.
    assert [classes.split()[0] for classes, _, _ in items] == ["chapter", "part-title", "appendix", "appendix"]
    assert "id=\"zhipu\"" in items[1][1]


def test_balance():
    assert balance([10, 10, 10, 10], 2) == [(0, 2), (2, 4)]
    assert balance([30, 5, 5, 5], 2) == [(0, 1), (1, 4)]
    assert balance([1, 1, 1], 5) == [(0, 1), (1, 2), (2, 3)]
    assert balance([5], 2) == [(0, 1)]
    for weights in ([3, 1, 4, 1, 5, 9, 2, 6], [1] * 30, [100, 1, 1, 1, 1]):
        for parts in (2, 3, 4):
            groups = balance(weights, parts)
            assert groups[0][0] == 0 and groups[-1][1] == len(weights)
            assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(groups, groups[1:]))
            assert len(groups) <= parts


def test_pdfx_falls_back_to_single_pass(monkeypatch, books, tmp_path):
    book, _ = books
    calls = []
    monkeypatch.setattr(single_pdf, "write_pdf", lambda *a, **k: calls.append(k) or Path(a[1]))
    write_pdf_parallel(book, tmp_path / "x.pdf", variant="pdfx")
    assert calls and calls[0]["variant"] == "pdfx"
