"""Pictures in the print PDF stay inside the text block, however an author wrote them.

A book from GitHub centres its pictures with raw HTML (`<div align=center><img width="500"
src="…"/></div>`, as datawhalechina's books do), and puts small ones in a line of text. Outside a
<figure> WeasyPrint set such an image at its pixel size: a 6,537 px wide scan ran a metre and a
half off the page. The mini book gets a chapter of such pictures, generated here: a very wide one
in raw HTML with a web width and a caption centred by align=center, a very tall one in raw HTML,
and one in a line of text. The screen PDF shows them as the EPUB packs them, scaled down.
"""
from __future__ import annotations

import sys

import pymupdf
import pytest
from PIL import Image

from conftest import ROOT, copy_book
from pipeline.build import build_book
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.pdf import write_pdf

sys.path.insert(0, str(ROOT / "bench"))
import pdf_typography  # noqa: E402

PICTURES = """

## 网页式的插图

<div align=center>
<img width="500" src="images/wide.png" alt="一幅很宽的示意图"/>
</div>
<div align=center>图 9.1 一幅很宽的示意图</div>

<div align=center><img src="images/tall.png" alt="一幅很高的示意图"/></div>

正文中的小图 ![一个图标](images/wide.png) 也不能超出版心。

![远程图片](https://example.org/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789)
"""


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    root = copy_book("mini", tmp_path_factory.mktemp("book"))
    Image.new("RGB", (6500, 1200), (40, 120, 200)).save(root / "images" / "wide.png")
    Image.new("RGB", (500, 6000), (200, 120, 40)).save(root / "images" / "tall.png")
    chapter = root / "ch2.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + PICTURES, encoding="utf-8")
    diagnostics = Diagnostics(draft=True)
    book = build_book(load_config(root, diagnostics), out_dir=root / "build", diagnostics=diagnostics, draft=True)
    assert not diagnostics.errors, [str(d) for d in diagnostics.errors]
    # align="center" is honoured (a class), not removed with a warning
    assert not [d for d in diagnostics if d.code == "html-removed"], [str(d) for d in diagnostics]
    return write_pdf(book, root / "build" / "book.pdf", diagnostics=diagnostics), book.config.print, book


def test_the_screen_pdf_shows_the_pictures_the_epub_packs_and_the_print_the_originals(pdf, tmp_path):
    path, _printing, book = pdf
    screen = write_pdf(book, tmp_path / "book-screen.pdf", target="screen", cache_dir=tmp_path / "cache")

    def sizes(pdf_path):     # the generated pictures: not the mini book's own small ones, nor the cover
        return sorted({(info["width"], info["height"]) for page in pymupdf.open(pdf_path) if page.number
                       for info in page.get_image_info() if max(info["width"], info["height"]) >= 1000})

    assert sizes(path) == [(500, 6000), (6500, 1200)]
    limit = book.config.epub.max_image_px
    assert sizes(screen) == [(round(limit * 500 / 6000), limit), (limit, round(limit * 1200 / 6500))]


def test_a_caption_centred_with_align_is_centred(pdf):
    path, printing, _book = pdf
    geometry = pdf_typography.Geometry.from_settings(printing)
    document = pymupdf.open(path)
    [(page, line)] = [(page, pymupdf.Rect(line["bbox"])) for page in document
                      for block in page.get_text("dict")["blocks"] for line in block.get("lines", [])
                      if "示意图" in "".join(span["text"] for span in line["spans"])]
    left, _top, right, _bottom = pdf_typography.text_block(document, page, geometry)
    assert abs((line.x0 + line.x1) / 2 - (left + right) / 2) < 2, (line, left, right)


def test_every_picture_lies_inside_the_text_block(pdf):
    path, printing, _book = pdf
    geometry = pdf_typography.Geometry.from_settings(printing)
    pictures = []
    document = pymupdf.open(path)
    for page in document:
        left, top, right, bottom = pdf_typography.text_block(document, page, geometry)
        for info in page.get_image_info():
            if info["width"] < 400:           # the mini book's own small pictures are not the subject
                continue
            box = pymupdf.Rect(info["bbox"])
            pictures.append((info["width"], info["height"], box, right - left))
            assert left - 0.5 <= box.x0 and box.x1 <= right + 0.5 and top - 0.5 <= box.y0 and box.y1 <= bottom + 0.5, \
                (page.number, info["width"], box, (left, top, right, bottom))
    assert sorted((width, height) for width, height, _box, _measure in pictures) == [
        (500, 6000), (6500, 1200), (6500, 1200)], pictures
    # the wide one is set as wide as the text block, not shrunk to nothing
    assert any(width == 6500 and box.width > measure - 1 for width, _height, box, measure in pictures), pictures


def test_a_draft_placeholder_for_a_long_address_breaks_inside_the_text_block(pdf):
    # a draft shows a remote picture as its address, here 100 digits with no break of their own
    path, printing, _book = pdf
    geometry = pdf_typography.Geometry.from_settings(printing)
    document = pymupdf.open(path)
    found = False
    for page in document:
        left, top, right, bottom = pdf_typography.text_block(document, page, geometry)
        for block in page.get_text("dict")["blocks"]:
            for line in block.get("lines", []):
                text = "".join(span["text"] for span in line["spans"])
                if "0123456789" in text:
                    found = True
                    assert line["bbox"][2] <= right + 0.5, (text, line["bbox"], right)
    assert found
