"""An mdBook book (tests/books/mdbook): init reads src/SUMMARY.md; pages without front matter are
titled by their first heading, whatever its level; code comes from listings/ by mdBook's
includes; Rust's hidden lines are left out; a stranger's include reads nothing outside."""
from __future__ import annotations

import re
import zipfile

import pymupdf
import pytest
import yaml
from lxml import etree

from conftest import BOOKS, copy_book, run_cli, tree_of
from pipeline.check import check_manuscript
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.includes import select_lines
from pipeline.validate import run_epubcheck

NS = {"x": "http://www.w3.org/1999/xhtml"}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    diagnostics = Diagnostics()
    report = check_manuscript(load_config(BOOKS / "mdbook"), diagnostics, tmp_path_factory.mktemp("cache"))
    return report, diagnostics


def codes(tree) -> list[str]:
    return [code.text for code in tree.iter("code") if code.getparent().tag == "pre"]


def test_init_follows_summary(tmp_path):
    book = copy_book("mdbook", tmp_path)
    (book / "book.yaml").unlink()
    result = run_cli("init", str(book))
    assert result.returncode == 0, result.stderr
    assert "3 article(s) in 2 parts, as SUMMARY.md has them" in result.stderr
    assert "left out 1 other file(s): SUMMARY.md does not list them" in result.stderr      # listings' output.txt
    written = yaml.safe_load((book / "book.yaml").read_text(encoding="utf-8"))
    assert written["title"] == "小书" and written["authors"] == ["测试作者"]        # book.toml's
    assert [(p["title"], p["documents"]) for p in written["contents"]["parts"]] == [
        ("正文", ["src/preface.md"]), ("第一部分", ["src/ch01.md", "src/ch01-01.md"])]


def test_init_on_a_gitbook_takes_the_title_of_book_json(tmp_path):
    """GitBook's SUMMARY.md opens with "## 目录", which is no title: book.json has it."""
    (tmp_path / "ch1").mkdir()
    (tmp_path / "SUMMARY.md").write_text("## 目录\n\n* [前言](README.md)\n\n## 第一部分\n\n"
                                         "* [第一章](ch1/README.md)\n  * [1.1 小节](ch1/1.1%20section.md)\n",
                                         encoding="utf-8")
    (tmp_path / "README.md").write_text("# 前言\n\n序。\n", encoding="utf-8")
    (tmp_path / "ch1" / "README.md").write_text("# 第一章\n\n开篇。\n", encoding="utf-8")
    (tmp_path / "ch1" / "1.1 section.md").write_text("## 1.1 小节\n\n正文。\n", encoding="utf-8")
    (tmp_path / "book.json").write_text('{"title": "容器实践", "author": "某作者"}', encoding="utf-8")
    result = run_cli("init", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = yaml.safe_load((tmp_path / "book.yaml").read_text(encoding="utf-8"))
    assert (written["title"], written["authors"]) == ("容器实践", ["某作者"])
    assert [(p["title"], p["documents"]) for p in written["contents"]["parts"]] == [
        ("正文", ["README.md"]), ("第一部分", ["ch1/README.md", "ch1/1.1 section.md"])]      # %20 read as a space


def test_the_book_checks_clean_and_pages_are_titled_by_their_first_heading(checked):
    report, diagnostics = checked
    assert [str(d) for d in diagnostics] == []
    assert [d.document.meta["title"] for d in report.documents] == ["前言", "开始", "变量"]
    # "## 变量" is the page's title: its ### and a quotation's #### move up a level each
    page = tree_of(report, "ch01-01")
    assert [(h.tag, h.text) for h in page.iter("h2", "h3", "h4")] == [("h2", "遮蔽"), ("h3", "注意")]


def test_includes_take_what_mdbook_takes(checked):
    whole, io, lines, listing, hidden = codes(tree_of(checked[0], "ch01"))
    assert "ANCHOR" not in whole and whole.startswith("use std::io;\n\nfn main() {") and whole.endswith("}")
    assert io == "use std::io;"
    assert lines == "   Compiling guessing_game v0.1.0\n    Finished `dev` profile"
    assert listing.startswith("fn main() {") and listing.endswith("}") and "use std" not in listing
    # hidden lines ("# fn main() {") go; "##" stands for "#"
    assert hidden == "let x = 5;\n# 这一行以一个井号开头"


def test_a_file_name_above_a_listing_is_its_label(checked):
    (label,) = [p for p in tree_of(checked[0], "ch01").iter("p") if "code-label" in (p.get("class") or "")]
    assert "".join(label.itertext()) == "文件名：src/main.rs" and label.getnext().tag == "pre"


def test_marked_captions_go_to_their_listing_and_table(checked):
    """<span class="caption"> after a listing makes a listing figure (with the file-name label
    above it); before a table, the table's own caption."""
    page = tree_of(checked[0], "ch01-01")
    (figure,) = page.iter("figure")
    assert [child.tag for child in figure] == ["p", "pre", "figcaption"]
    assert figure.get("class") == "listing" and figure[2].text == "示例 1-2：用同名变量遮蔽旧值"
    (table,) = page.iter("table")
    assert table[0].tag == "caption" and table[0].text == "表 1-1：遮蔽与可变"
    assert not [span for span in page.iter("span") if span.get("class") == "caption"]


def test_links_to_a_page_by_its_title_heading_land_on_the_page(checked):
    links = {a.text: a.get("href") for a in tree_of(checked[0], "ch01").iter("a")}
    assert links == {"变量": "#doc-ch01-01", "遮蔽": "#doc-ch01-01-s1"}


@pytest.mark.parametrize("selector, expected", [
    ("", ["a", "b", "c", "d"]), ("2", ["b"]), ("2:3", ["b", "c"]), (":2", ["a", "b"]), ("3:", ["c", "d"]),
    ("nowhere", None)])
def test_line_selection(selector, expected):
    assert select_lines(["a", "b", "c", "d"], selector) == expected


def test_an_anchor_is_found_by_its_whole_name():
    lines = ["// ANCHOR: main-2", "two", "// ANCHOR_END: main-2", "// ANCHOR: main", "one", "// ANCHOR_END: main"]
    assert select_lines(lines, "main") == ["one"] and select_lines(lines, "main-2") == ["two"]


def test_a_strangers_includes_read_nothing_outside_and_keep_every_line(tmp_path):
    book = copy_book("mdbook", tmp_path)
    page = book / "src" / "ch01.md"
    page.write_text(page.read_text(encoding="utf-8") + (
        "\n```\n{{#include ../../../../../../../../etc/passwd}}\n```\n"
        "\n```rust\n{{#include ../listings/guess/main.rs:nowhere}}\n```\n"
        "\n{{#include ../listings/guess/output.txt}}\n"
        "\n[断链](#nowhere)\n"), encoding="utf-8")
    lines = page.read_text(encoding="utf-8").splitlines()
    diagnostics = Diagnostics()
    report = check_manuscript(load_config(book), diagnostics, tmp_path / "cache")
    found = {(d.code, d.line): d.message for d in diagnostics}
    outside = lines.index("{{#include ../../../../../../../../etc/passwd}}") + 1
    assert "is outside the manuscript folder" in found[("include-invalid", outside)]
    anchor = lines.index("{{#include ../listings/guess/main.rs:nowhere}}") + 1
    assert "has no anchor 'nowhere'" in found[("include-invalid", anchor)]
    assert ("include-outside-code", lines.index("{{#include ../listings/guess/output.txt}}") + 1) in found
    # the includes above it took several lines each, yet the broken link is reported at its own line
    assert ("link-unresolved", lines.index("[断链](#nowhere)") + 1) in found
    assert "root:" not in "".join(tree_of(report, "ch01").itertext())


@pytest.mark.slow
def test_both_outputs(tmp_path):
    out = tmp_path / "out"
    result = run_cli("all", "--manuscript", str(BOOKS / "mdbook"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    verdict = run_epubcheck(out / "book.epub", tmp_path / "epubcheck.json")
    assert verdict.counts["fatal"] == verdict.counts["error"] == 0, "\n".join(verdict.messages)
    with zipfile.ZipFile(out / "book.epub") as archive:
        page = etree.fromstring(archive.read("EPUB/text/doc-ch01.xhtml"))
    assert page.xpath("string(//x:figure[@class='listing']//x:code)", namespaces=NS).startswith("fn main() {")
    # the label and the table's caption are set in the sans face, and add no space to the text layer
    # (MuPDF, which reads the justification spaces pdftotext drops for their width)
    text = "".join(pdf_page.get_text() for pdf_page in pymupdf.open(out / "book.pdf"))
    assert "文件名：src/main.rs" in text and re.search("表 ?1-1：遮蔽与可变", text)
    assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", text)
    # the file name above a listing is set as a label, in the sans face
    spans = [span for pdf_page in pymupdf.open(out / "book.pdf") for block in pdf_page.get_text("dict")["blocks"]
             for line in block.get("lines", []) for span in line["spans"] if "src/main.rs" in span["text"]]
    assert spans and all("Sans" in span["font"] for span in spans), [(s["text"], s["font"]) for s in spans]
    # a listing's code is set flush left like any code, not centred as a figure's picture is:
    # "fn main() {" starts where the "}" three lines below it does
    for pdf_page in pymupdf.open(out / "book.pdf"):
        lines = [(round(line["bbox"][0], 1), "".join(span["text"] for span in line["spans"]).strip())
                 for block in pdf_page.get_text("dict")["blocks"] for line in block.get("lines", [])]
        for index, (x, text) in enumerate(lines):
            if text == "fn main() {":
                assert lines[index + 3] == (x, "}"), lines[index:index + 4]


def test_a_heading_named_as_the_title_keeps_its_own_id(tmp_path):
    book = copy_book("mdbook", tmp_path)
    page = book / "src" / "ch01-01.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n### 变量\n\n再说变量。\n", encoding="utf-8")
    report = check_manuscript(load_config(book), Diagnostics(), tmp_path / "cache")
    links = {a.text: a.get("href") for a in tree_of(report, "ch01").iter("a")}
    assert links["变量"] == "#doc-ch01-01-s2"
