"""The screen PDF (`pdf --target screen`): the print layout at trim size, tagged, its cover first,
links coloured; in one pass and merged from parallel pieces. On the fixture book tests/books/mini.

The structure is checked as bench/pdf_structure.py checks it: every text and image drawn is in
marked content, tagged (reachable from the root) or an artifact; figures have alt text."""
import re
import subprocess
import sys
from pathlib import Path

import fitz
import pikepdf
import pytest

from conftest import ROOT, build_fixture_book, copy_book, run_cli
from pipeline.cover import cover_alt
from pipeline.pdf import write_pdf
from pipeline.pdf_parallel import write_pdf_parallel

sys.path.insert(0, str(ROOT / "bench"))
import pdf_structure  # noqa: E402

pytestmark = pytest.mark.slow
TRIM_PT = (round(170 / 25.4 * 72, 1), round(240 / 25.4 * 72, 1))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("screen")
    book = build_fixture_book("mini", out, out / "build")
    paths = {"print": write_pdf(book, out / "print.pdf", cache_dir=out / "cache-print"),
             "screen": write_pdf(book, out / "screen.pdf", cache_dir=out / "cache-screen", target="screen"),
             "screen-parallel": write_pdf_parallel(book, out / "screen-parallel.pdf", workers=2, chunks=2,
                                                   cache_dir=out / "cache-parallel", target="screen")}
    # a warm parallel build: every piece from the layout cache, merged again
    paths["screen-warm"] = write_pdf_parallel(book, out / "screen-warm.pdf", workers=2, chunks=2,
                                              cache_dir=out / "cache-parallel", target="screen")
    return book, paths


def page_texts(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return [" ".join(page.split()) for page in text.split("\f")[:-1]]


@pytest.mark.parametrize("name", ["screen", "screen-parallel", "screen-warm"])
def test_the_screen_pdf_is_tagged_throughout(built, name):
    book, paths = built
    found = pdf_structure.check(paths[name])
    assert found.problems == 0, found
    assert found.unmarked_painting == found.mcids_without_element == found.figures_without_alt == 0
    assert found.artifacts > 0                       # running heads and folios
    for kind in ("/H1", "/H2", "/P", "/L", "/LI", "/Table", "/TH", "/TD", "/Figure", "/Link", "/Caption"):
        assert found.elements[kind] > 0, kind
    with pikepdf.open(paths[name]) as pdf:
        assert str(pdf.Root.Lang) == "zh-CN" and pdf.Root.MarkInfo.Marked
        elements = [e for e, *_ in pdf_structure.walk(pdf)]
        headers = [e for e in elements if e.S == "/TH"]
        assert headers and all(e.A.Scope in ("/Column", "/Row") for e in headers)
        # Latin runs the typesetter marked (lang="en") say their language
        assert any(str(e.get("/Lang", "")) == "en" for e in elements)
    info = subprocess.run(["pdfinfo", str(paths[name])], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Tagged:\s+yes", info)


@pytest.mark.parametrize("name", ["screen", "screen-parallel"])
def test_the_screen_pdf_is_the_print_layout_at_trim_size_after_its_cover(built, name):
    book, paths = built
    printed, screen = page_texts(paths["print"]), page_texts(paths[name])
    assert len(screen) == len(printed) + 1
    assert screen[1:] == printed                     # same pages, same folios, same TOC numbers
    with pikepdf.open(paths[name]) as pdf, pikepdf.open(paths["print"]) as print_pdf:
        sizes = {tuple(round(float(v), 1) for v in page.MediaBox[2:]) for page in pdf.pages}
        assert sizes == {TRIM_PT}                    # no bleed
        assert "/StructTreeRoot" not in print_pdf.Root     # print.tagged is off in the mini book
        media, trim = print_pdf.pages[0].MediaBox, print_pdf.pages[0].TrimBox
        assert float(media[2]) > float(trim[2]) + 1      # the print PDF has its bleed
        cover = pdf.pages[0]
        images = [cover.Resources.XObject[k] for k in cover.Resources.XObject.keys()]
        assert [i.Subtype for i in images] == ["/Image"] and not screen[0].strip()
        figures = [e for e, _, page, *_ in pdf_structure.walk(pdf) if e.S == "/Figure" and page is not None
                   and page.objgen == cover.obj.objgen]
        assert [str(f.Alt) for f in figures] == [cover_alt(book.config)]


def test_links_are_coloured_on_screen_only(built):
    book, paths = built
    colour = tuple(int(book.config.screen.link_color[i:i + 2], 16) for i in (1, 3, 5))

    def link_colours(path):
        found = set()
        with fitz.open(path) as document:
            for page in document:
                for link in page.get_links():
                    if "from" in link:
                        for block in page.get_text("dict", clip=link["from"])["blocks"]:
                            for line in block.get("lines", []):
                                found.update(span["color"] for span in line["spans"] if span["text"].strip())
        return {((c >> 16) & 255, (c >> 8) & 255, c & 255) for c in found}
    assert colour in link_colours(paths["screen"])
    assert colour not in link_colours(paths["print"])


def test_the_text_layer_of_the_tagged_pdf_has_no_inserted_spaces(built):
    book, paths = built
    for name in ("screen", "screen-parallel"):
        text = subprocess.run(["pdftotext", str(paths[name]), "-"], capture_output=True, text=True).stdout
        text = re.sub(r"第 ?\d+ ?章 ", "", text)    # a chapter's label and title are two words
        assert text.count("起点") >= 2 and not re.search("[\u4e00-\u9fff] [\u4e00-\u9fff]", text), name


def test_all_writes_three_outputs_readable_by_others(tmp_path):
    book = copy_book("mini", tmp_path)
    out = tmp_path / "out"
    result = run_cli("all", "--manuscript", str(book), "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("book.epub", "book.pdf", "book-screen.pdf"):
        path = out / name
        assert path.is_file() and (path.stat().st_mode & 0o777) == 0o644, name
        assert f"wrote {path}" in result.stderr
    info = subprocess.run(["pdfinfo", str(out / "book-screen.pdf")], capture_output=True, text=True).stdout
    assert re.search(r"Tagged:\s+yes", info) and "481.89 x 680.31" in info


def test_print_tagged_tags_the_print_pdf_and_keeps_its_bleed(built, tmp_path):
    import dataclasses
    book, paths = built
    config = dataclasses.replace(book.config, print=dataclasses.replace(book.config.print, tagged=True))
    tagged = write_pdf(dataclasses.replace(book, config=config), tmp_path / "tagged-print.pdf",
                       cache_dir=tmp_path / "cache")
    found = pdf_structure.check(tagged)
    assert found.problems == 0 and found.elements["/P"] > 0, found
    with pikepdf.open(tagged) as pdf:
        assert float(pdf.pages[0].MediaBox[2]) > float(pdf.pages[0].TrimBox[2]) + 1     # still the print PDF
    assert page_texts(tagged) == page_texts(paths["print"])                            # no cover, same pages
