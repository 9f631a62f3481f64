"""Writer-scoped transforms: each writer runs its own on a copy; the Book's trees never change."""
from lxml import etree

from conftest import BOOKS
import pipeline.epub  # noqa: F401  (importing a writer registers its transforms)
from pipeline import pdf
from pipeline.book import Book, Section
from pipeline.config import load_config
from pipeline.transforms import transforms_for, writer_tree
from pipeline.tree import parse_html


def names(writer):
    return [f.__name__ for f in transforms_for(writer)]


def test_each_writer_has_its_own_transforms_in_order():
    assert names("pdf") == ["strip_emoji_tree", "resolve_images", "print_notes", "mark_landscape",
                            "printed_index", "mark_page_references", "math_to_svg", "typeset"]
    assert names("epub") == ["epub_notes", "link_to_pages", "epub_index", "package_images", "math_to_mathml"]
    assert "typeset" not in names("epub")


def test_pdf_transforms_work_on_a_copy():
    body = parse_html('<p data-line="3">使用GPT-4模型，见<a class="page" href="#x"></a>。</p>')
    before = etree.tostring(body)
    section = Section(id="ch01", kind="chapter", title="一", body=body)
    book = Book(config=load_config(BOOKS / "mini"), chapters=[section], parts=[], appendices=[], assets=[])
    printed = writer_tree("pdf", book, section, options=pdf.resolve_options(book, None, None), typeset=True,
                          pages={"x": 7})
    html = etree.tostring(printed, encoding="unicode")
    assert 'class="autospace"' in html and 'data-page="7"' in html and "data-line" not in html
    assert etree.tostring(body) == before
