"""The parallel PDF writer gives the same book as the single-pass writer (fixture book tests/books/mini).

The mini book is far below the size at which write_book_pdf would go parallel, so the tests
call write_pdf_parallel themselves, with the pieces forced: two pieces with two workers, and
one piece per right-hand item with three workers.
"""
import dataclasses
import json
import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import copy_book
from pipeline import pdf as single_pdf
from pipeline import pdf_parallel
from pipeline.build import build_book
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.pdf import print_document, render_html, write_pdf
from pipeline.pdf_parallel import balance, glue_articles, write_book_pdf, write_pdf_parallel

slow = pytest.mark.slow

# name -> write_pdf_parallel arguments. The mini book has five right-hand items (two chapters,
# the part title with its article, two appendices): "w3" cuts before each of them.
VARIANTS = {"w2c2": {"workers": 2, "chunks": 2}, "w3": {"workers": 3, "chunks": None}}


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    out = tmp_path_factory.mktemp("pdfpar")
    diagnostics = Diagnostics()
    book = build_book(load_config(copy_book("mini", out)), out_dir=out / "build", diagnostics=diagnostics)
    assert not diagnostics.errors, diagnostics.errors
    paths = {"single": write_pdf(book, out / "single.pdf")}
    timings = {}
    for name, arguments in VARIANTS.items():
        paths[name] = write_pdf_parallel(book, out / f"{name}.pdf", cache_dir=out / f"cache-{name}", **arguments)
        timings[name] = dict(pdf_parallel.TIMINGS)
    return book, paths, timings


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


def page_of(reader: PdfReader, ident: str) -> int:
    return reader.get_destination_page_number(reader.named_destinations[ident])


@slow
def test_the_parallel_writer_really_cut_the_book(books):
    """Each run laid the body out in several worker processes, cut where the variant says."""
    book, _, timings = books
    items = glue_articles(print_document(book).items)
    assert len(items) == 5
    for name, arguments in VARIANTS.items():
        expected = len(balance([len(i.html) for i in items], arguments["chunks"] or 2 * arguments["workers"]))
        workers = [key for key in timings[name] if key.startswith("worker") and key.endswith("_peak_mb")]
        assert len(workers) == expected >= 2, (name, timings[name])
    assert len(balance([len(i.html) for i in items], 2 * VARIANTS["w3"]["workers"])) == len(items)


@slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_same_pages_and_text(books, variant):
    book, paths, _ = books
    single, parallel = page_texts(paths["single"]), page_texts(paths[variant])
    # title page, copyright, TOC, then at least a page per section and part title
    assert len(parallel) == len(single) >= 3 + len(book.sections()) + len(book.parts)
    for number, (a, b) in enumerate(zip(single, parallel), start=1):
        assert a == b, f"page {number} differs"


@slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_same_outline_links_and_destinations(books, variant):
    book, paths, _ = books
    single, parallel = PdfReader(paths["single"]), PdfReader(paths[variant])
    assert outline(parallel) == outline(single)
    assert len(outline(single)) > len(book.sections()) + len(book.parts)
    single_links, parallel_links = links(single), links(parallel)
    assert len(single_links) > 0
    assert parallel_links == single_links
    # Every internal link resolves (nothing left as an x-chunk: URI).
    assert not any(len(link) == 3 and link[2].startswith(pdf_parallel.CHUNK_SCHEME) for link in parallel_links)
    assert all(link[3] is not None for link in parallel_links if len(link) == 4)
    assert {k: single.get_destination_page_number(v) for k, v in single.named_destinations.items()} == \
           {k: parallel.get_destination_page_number(v) for k, v in parallel.named_destinations.items()}


@slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_cross_piece_links_exist(books, variant):
    """The TOC (laid out in the parent) and the appendices link into the first chapter,
    which another worker laid out."""
    book, paths, _ = books
    items = glue_articles(print_document(book).items)
    arguments = VARIANTS[variant]
    groups = balance([len(i.html) for i in items], arguments["chunks"] or 2 * arguments["workers"])

    def piece(ident):
        index = next(n for n, item in enumerate(items) if item.id == ident)
        return next(n for n, (start, stop) in enumerate(groups) if start <= index < stop)
    assert piece(book.chapters[0].id) != piece(book.appendices[0].id)
    reader = PdfReader(paths[variant])
    chapter = book.chapters[0].id
    chapter_page = page_of(reader, chapter)
    found = [link for link in links(reader) if len(link) == 4]
    assert any(link[0] == page_of(reader, "toc") and link[3] == chapter_page for link in found)
    appendix_first = page_of(reader, book.appendices[0].id)
    assert any(link[0] >= appendix_first and link[2] == chapter and link[3] == chapter_page for link in found)


@slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_same_metadata_and_boxes(books, variant):
    _, paths, _ = books
    single, parallel = PdfReader(paths["single"]), PdfReader(paths[variant])
    assert dict(parallel.metadata) == dict(single.metadata)
    assert parallel.pdf_header == single.pdf_header
    assert parallel.trailer["/Root"].get("/Lang") == single.trailer["/Root"].get("/Lang")
    assert parallel.trailer["/ID"][0] == single.trailer["/ID"][0]
    for a, b in zip(single.pages, parallel.pages):
        for box in ("/MediaBox", "/TrimBox", "/BleedBox"):
            assert [float(v) for v in a[box]] == [float(v) for v in b[box]]


@slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_pages_cache_holds_the_folios(books, variant):
    """cache_dir keeps each anchor's folio for the next build's page references."""
    book, paths, _ = books
    pages = json.loads((paths[variant].parent / f"cache-{variant}" / pdf_parallel.PAGES_CACHE).read_text())
    reader = PdfReader(paths["single"])
    opening = page_of(reader, book.chapters[0].id)
    for ident in [s.id for s in book.sections()] + [f"part-{p.id}" for p in book.parts]:
        assert pages[ident] == page_of(reader, ident) - opening + 1, ident


@slow
def test_pieces_and_glued_items(books):
    book, _, _ = books
    document = print_document(book)
    assert document.whole() == render_html(book)
    assert "<body" in document.head and document.head.rstrip().endswith(">")
    assert 'id="toc"' in document.front and 'id="titlepage"' in document.front
    assert document.tail.strip().endswith("</html>") and "<section" not in document.tail
    # One item per part title and section, in reading order; each holds its own section.
    expected = [s.id for s in book.chapters]
    for part in book.parts:
        expected += [f"part-{part.id}", *(s.id for s in part.sections)]
    expected += [s.id for s in book.appendices]
    assert [item.id for item in document.items] == expected
    for item in document.items:
        assert f'id="{item.id}"' in item.html
    # Chapters, part titles and appendices start on a right-hand page; articles do not.
    kinds = {s.id: s.kind for s in book.sections()}
    for item in document.items:
        assert item.recto == (kinds.get(item.id) != "article"), item.id
        assert item.classes.split()[0] == ("part-title" if item.id.startswith("part-") else kinds[item.id])
    articles = [i for i in document.items if not i.recto]
    assert articles, "the fixture's part holds an article"
    # Glued: an article stays with what precedes it (its part title); the input is left alone.
    before = [(i.id, i.html) for i in document.items]
    glued = glue_articles(document.items)
    assert [(i.id, i.html) for i in document.items] == before
    assert [i.id for i in glued] == [i.id for i in document.items if i.recto]
    assert all(i.recto for i in glued)
    assert "".join(i.html for i in glued) == "".join(i.html for i in document.items)
    for part in book.parts:
        title = next(i for i in glued if i.id == f"part-{part.id}")
        for section in part.sections:
            assert f'id="{section.id}"' in title.html
    # A glued item carries the page references of what was glued to it.
    marked = [type(i)(i.id, i.classes, i.html, i.recto, frozenset({f"ref-{i.id}"})) for i in document.items]
    assert set().union(*(i.page_refs for i in glue_articles(marked))) == {f"ref-{i.id}" for i in document.items}


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


@slow
def test_pdfx_falls_back_to_single_pass(monkeypatch, books, tmp_path):
    book, _, _ = books
    calls = []
    monkeypatch.setattr(single_pdf, "write_pdf", lambda *a, **k: calls.append(k) or Path(a[1]))
    write_pdf_parallel(book, tmp_path / "x.pdf", variant="pdfx", workers=2)
    assert calls and calls[0]["variant"] == "pdfx"


@slow
@pytest.mark.parametrize("mode, parallel", [("auto", False), ("off", False), ("on", True)])
def test_write_book_pdf_goes_parallel_as_book_yaml_says(monkeypatch, books, tmp_path, mode, parallel):
    """print.parallel: auto keeps a book as small as the fixture in one pass; on forces workers."""
    book, _, _ = books
    printing = dataclasses.replace(book.config.print, parallel=mode)
    configured = dataclasses.replace(book, config=dataclasses.replace(book.config, print=printing))
    calls = []
    monkeypatch.setattr(pdf_parallel.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(single_pdf, "write_pdf", lambda *a, **k: calls.append("single") or Path(a[1]))
    monkeypatch.setattr(pdf_parallel, "write_pdf_parallel", lambda *a, **k: calls.append(k["workers"]) or Path(a[1]))
    write_book_pdf(configured, tmp_path / "x.pdf")
    assert calls == ([4] if parallel else ["single"])


@slow
def test_the_same_book_gives_the_same_bytes(books, tmp_path):
    """Reproducible builds, in one pass and in parallel (WeasyPrint's rebuilt emoji font was
    stamped with the time of day until the book's date was set as SOURCE_DATE_EPOCH)."""
    book, paths, _ = books
    assert write_pdf(book, tmp_path / "single.pdf").read_bytes() == paths["single"].read_bytes()
    again = write_pdf_parallel(book, tmp_path / "w2c2.pdf", cache_dir=tmp_path / "cache", **VARIANTS["w2c2"])
    assert again.read_bytes() == paths["w2c2"].read_bytes()


@slow
def test_workers_grown_too_big_are_replaced(books, tmp_path, monkeypatch):
    """A worker whose memory passed pdf_parallel.RETIRE_RSS_MB stops after its piece and a fresh one
    takes the next; with the limit at 0 every piece has its own process, and the book is the same."""
    book, paths, _ = books
    monkeypatch.setattr(pdf_parallel, "RETIRE_RSS_MB", 0)
    path = write_pdf_parallel(book, tmp_path / "retired.pdf", cache_dir=tmp_path / "cache", **VARIANTS["w3"])
    assert pdf_parallel.TIMINGS["workers_started"] == len(glue_articles(print_document(book).items)) == 5
    assert page_texts(path) == page_texts(paths["single"])
    assert links(PdfReader(path)) == links(PdfReader(paths["single"]))


@slow
def test_a_book_that_opens_with_a_part_numbers_alike(tmp_path):
    """tests/books/hugo has parts only: its body opens with a part title, which is page 1 in both
    writers (the parallel one counted from the part title, the single pass from its first article)."""
    book = build_book(load_config(copy_book("hugo", tmp_path)), out_dir=tmp_path / "build", diagnostics=Diagnostics())
    single = write_pdf(book, tmp_path / "single.pdf")
    parallel = write_pdf_parallel(book, tmp_path / "parallel.pdf", workers=2, cache_dir=tmp_path / "cache")
    assert page_texts(parallel) == page_texts(single)
    assert links(PdfReader(parallel)) == links(PdfReader(single))
    reader = PdfReader(single)
    opening = page_of(reader, f"part-{book.parts[0].id}")
    toc = page_texts(single)[page_of(reader, "toc")]
    assert re.search(r"\S+\s*·+\s*1\n", toc), toc
    assert opening == page_of(reader, "toc") + 2        # the TOC's verso is blank, then the part title


def font_programs(path: Path) -> dict[str, set]:
    """Font name (without the subset tag) -> the embedded programs of that face."""
    import pikepdf
    found: dict[str, set] = {}
    with pikepdf.open(path) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/FontDescriptor" and "/FontFile3" in obj:
                found.setdefault(str(obj.FontName).split("+", 1)[-1], set()).add(obj.FontFile3.objgen)
    return found


def page_images(path: Path, out: Path) -> list[bytes]:
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(out)], check=True)
    return [image.read_bytes() for image in sorted(out.parent.glob(out.name + "*.png"))]


@slow
def test_one_font_program_per_face_and_the_same_pages(books, tmp_path, monkeypatch):
    """The pieces' subsets of one face become one program (pipeline/font_subsets.py) and every page
    renders as it did with a program per piece."""
    book, paths, _ = books
    merged = font_programs(paths["w3"])
    assert merged and all(len(programs) == 1 for programs in merged.values()), merged
    monkeypatch.setattr(pdf_parallel.font_subsets, "merge_font_subsets", lambda pdf, cache_dir=None: pdf_parallel.font_subsets.Merged())
    apart = write_pdf_parallel(book, tmp_path / "apart.pdf", cache_dir=tmp_path / "cache", **VARIANTS["w3"])
    assert max(len(programs) for programs in font_programs(apart).values()) > 1
    assert paths["w3"].stat().st_size < apart.stat().st_size
    assert page_images(paths["w3"], tmp_path / "merged") == page_images(apart, tmp_path / "apart")
