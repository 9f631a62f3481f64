"""Writer-scoped transforms: each writer runs its own on a copy; the Book's trees never change."""
from lxml import etree

from conftest import BOOKS
import pipeline.epub  # noqa: F401  (importing a writer registers its transforms)
from pipeline import pdf
from pipeline.book import Book, Section
from pipeline.config import load_config
from pipeline.transforms import transforms_for, writer_tree
from pipeline.tree import parse_html
from pipeline.typeset import drop_spaces_between_cjk


def names(writer):
    return [f.__name__ for f in transforms_for(writer)]


def test_each_writer_has_its_own_transforms_in_order():
    assert names("pdf") == ["author_spaces_between_cjk", "strip_emoji_tree", "resolve_images", "print_notes",
                            "print_link_addresses",
                            "mark_landscape", "printed_index", "mark_page_references", "label_group_bookmarks",
                            "math_to_svg", "typeset"]
    assert names("epub") == ["author_spaces_between_cjk", "epub_notes", "link_to_pages", "epub_index",
                             "package_images", "math_to_mathml"]
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


def test_a_space_typed_between_chinese_characters_is_set_in_neither_format():
    # An author's space beside markup between two Chinese characters is dropped (as xeCJK does);
    # spaces at a Han/Latin boundary, next to code or an image, and in code stay.
    body = parse_html('<p><em>多模态能力</em> 和<strong>Agent 自主性</strong> 的 <b>AI</b> 汉 <code>a b</code> 汉，'
                      '<a href="#x">链接</a> 。图 <img src="a.png"> 一　二 三\n四</p>')
    drop_spaces_between_cjk(body)
    assert etree.tostring(body, encoding="unicode", method="html") == (
        '<div><p><em>多模态能力</em>和<strong>Agent 自主性</strong>的 <b>AI</b> 汉 <code>a b</code> 汉，'
        '<a href="#x">链接</a>。图 <img src="a.png"> 一　二三四</p></div>')
    # a run of spaces split between an element's text and its tail goes as a whole
    body = parse_html("<p><em>强调 </em> 之后</p>")
    drop_spaces_between_cjk(body)
    assert etree.tostring(body, encoding="unicode", method="html") == "<div><p><em>强调</em>之后</p></div>"
