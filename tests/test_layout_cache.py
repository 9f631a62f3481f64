"""The parallel writer's layout cache (pipeline/layout_cache.py) on the mini book: an edit lays out
what it must, and the PDF is the one a cold build of the edited book gives.

The book is built once cold with a cache folder; then one sentence of chapter 2 changes (its page
count stays: only that chapter is laid out again), then chapter 1 grows by pages (it is laid out
again, and so is every item after it, whose folios moved). After each edit the book is also built
with an empty cache, and the two PDFs must agree page by page: text (folios, running heads, TOC
numbers), bookmarks, links and named destinations.
"""
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import copy_book
from pipeline import pdf_parallel
from pipeline.build import build_book
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.pdf_parallel import write_pdf_parallel
from test_pdf_parallel import links, outline, page_texts

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("layoutcache")
    manuscript = copy_book("mini", root)
    results = {}

    def build(name: str, cache: Path) -> None:
        book = build_book(load_config(manuscript), out_dir=root / "build", diagnostics=Diagnostics())
        path = write_pdf_parallel(book, root / f"{name}.pdf", workers=2, cache_dir=cache)
        results[name] = (path, dict(pdf_parallel.TIMINGS))

    cache = root / "cache"
    build("first", cache)
    build("again", cache)
    chapter2 = manuscript / "ch2.md"
    chapter2.write_text(chapter2.read_text(encoding="utf-8").replace(
        "下图展示了一个典型流程。", "下图展示了一个典型的流程。"), encoding="utf-8")
    build("sentence", cache)
    build("sentence-cold", root / "cold-sentence")
    chapter1 = manuscript / "ch1.md"
    text = chapter1.read_text(encoding="utf-8")
    heading = text.index("\n## ")
    added = "\n\n".join("这一段是为了让第一章多出几页而加入的文字，讲算力、数据与人才。" * 8 for _ in range(30))
    chapter1.write_text(text[:heading] + "\n\n" + added + "\n" + text[heading:], encoding="utf-8")
    build("pages", cache)
    build("pages-cold", root / "cold-pages")
    return results


def assert_same_pdf(a: Path, b: Path) -> None:
    texts_a, texts_b = page_texts(a), page_texts(b)
    assert len(texts_a) == len(texts_b)
    for number, (x, y) in enumerate(zip(texts_a, texts_b), start=1):
        assert x == y, f"page {number} differs"
    reader_a, reader_b = PdfReader(a), PdfReader(b)
    assert outline(reader_a) == outline(reader_b) and outline(reader_a)
    assert links(reader_a) == links(reader_b) and links(reader_a)
    assert {k: reader_a.get_destination_page_number(v) for k, v in reader_a.named_destinations.items()} == \
           {k: reader_b.get_destination_page_number(v) for k, v in reader_b.named_destinations.items()}


@slow
def test_a_cold_build_lays_out_every_item_and_a_rebuild_none(builds):
    first, again = builds["first"], builds["again"]
    assert first[1]["items_laid_out"] == 5                 # two chapters, the part, two appendices
    assert again[1]["items_laid_out"] == 0
    assert again[0].read_bytes() == first[0].read_bytes()


@slow
def test_a_sentence_lays_out_its_chapter_only(builds):
    path, timings = builds["sentence"]
    assert timings["items_laid_out"] == 1
    assert len(page_texts(path)) == len(page_texts(builds["first"][0]))
    assert "典型的流程" in "".join(page_texts(path))
    assert_same_pdf(path, builds["sentence-cold"][0])


@slow
def test_a_longer_chapter_moves_the_folios_after_it(builds):
    path, timings = builds["pages"]
    assert len(page_texts(path)) > len(page_texts(builds["sentence"][0]))
    assert timings["items_laid_out"] == 5                  # chapter 1, and all after it for their folios
    assert_same_pdf(path, builds["pages-cold"][0])
