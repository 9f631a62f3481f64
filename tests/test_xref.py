"""Cross-references on tests/books/xref: three chapters and a Hugo article that link to each other
in every form the pipeline resolves. Each link carries data-expect, the id it must land on.

Checked in the outputs themselves: the EPUB by following every href to its element, the PDF
by following every link annotation to its page and by reading the printed page references.
"""
from __future__ import annotations

import posixpath
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from conftest import BOOKS, copy_book, run_cli
from pipeline.check import check_manuscript
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.errors import BuildStopped
from pipeline.validate import run_epubcheck
from pipeline.xref import gfm_slug, pandoc_slug

NS = {"x": "http://www.w3.org/1999/xhtml"}
# A text that appears on the page of each link target, to check PDF pages independently of ids.
TARGET_TEXT = {
    "ch01": "起源篇", "ch01-s1": "背景介绍", "methods": "本节是研究方法", "summary": "起源篇的小结",
    "ch02": "成长篇", "scale": "规模不断扩大", "term-moe": "这里定义混合专家", "fig-arch": "系统架构",
    "ch02-summary": "成长篇的小结", "ch03": "未来篇", "raw-anchor": "开篇段落", "outlook": "展望",
    "box-1": "这是一个带id的框", "tbl-data": "年份",
}


def expected_links(book: Path) -> list[tuple[str, str]]:
    """(file, expected id) of every link written with data-expect in the fixture's sources."""
    found = []
    for path in sorted(book.rglob("*.md")):
        for expect in re.findall(r'data-expect="([^"]+)"', path.read_text(encoding="utf-8")):
            found.append((path.name, expect))
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("xref")
    result = run_cli("all", "--manuscript", str(BOOKS / "xref"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_the_fixture_has_twenty_or_more_links_of_every_form():
    links = expected_links(BOOKS / "xref")
    assert len(links) >= 20
    sources = "".join(p.read_text(encoding="utf-8") for p in (BOOKS / "xref").rglob("*.md"))
    for form in ("](#", "](02-growth.md)", "](02-growth.md#", "](/02-growth#", "](/02-growth/)", "](chapter:3)",
                 "](chapter:3#", "](../01-origins.md#", "{.page", "]{#term-moe}", '<a id="raw-anchor">',
                 "::: {#box-1", "#%E8"):
        assert form in sources, form


def test_check_resolves_every_link_and_warns_about_the_shared_id(tmp_path):
    diagnostics = Diagnostics()
    report = check_manuscript(load_config(BOOKS / "xref"), diagnostics, tmp_path)
    assert not diagnostics.errors, [str(d) for d in diagnostics.errors]
    (duplicate,) = [d for d in diagnostics if d.code == "id-duplicate"]
    assert duplicate.file.name == "02-growth.md" and duplicate.line
    assert "01-origins.md:" in duplicate.message and "'ch02-summary'" in duplicate.message
    links = [a for d in report.documents for a in d.document.tree.iter("a") if a.get("data-expect")]
    assert len(links) == len(expected_links(BOOKS / "xref"))
    assert all(a.get("href") == "#" + a.get("data-expect") for a in links)


@pytest.mark.slow
def test_epub_is_valid(built, tmp_path):
    out, _ = built
    verdict = run_epubcheck(out / "book.epub", tmp_path / "epubcheck.json")
    assert verdict.counts["fatal"] == verdict.counts["error"] == 0, "\n".join(verdict.messages)


@pytest.mark.slow
def test_every_epub_link_lands_on_its_element(built):
    out, _ = built
    with zipfile.ZipFile(out / "book.epub") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    checked = 0
    for name, data in files.items():
        if not name.endswith(".xhtml"):
            continue
        for link in etree.fromstring(data).xpath("//x:a[@data-expect]", namespaces=NS):
            path, _, fragment = link.get("href").partition("#")
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), path)) if path else name
            page = etree.fromstring(files[target])
            landing = page.xpath(f"//*[@id='{fragment}']") if fragment else page.xpath("//x:section", namespaces=NS)
            assert landing and landing[0].get("id") == link.get("data-expect"), (name, link.get("href"))
            checked += 1
    assert checked == len(expected_links(BOOKS / "xref"))


@pytest.mark.slow
def test_empty_links_take_the_title_of_their_target(built):
    out, _ = built
    with zipfile.ZipFile(out / "book.epub") as archive:
        chapter3 = etree.fromstring(archive.read("EPUB/text/ch03.xhtml"))
        chapter1 = etree.fromstring(archive.read("EPUB/text/ch01.xhtml"))
    texts = {"".join(a.itertext()) for a in chapter3.xpath("//x:a[@data-expect]", namespaces=NS)}
    assert "图2-1　系统架构" in texts and "第2章　成长篇" in texts
    first = chapter1.xpath("//x:a[@data-expect='methods']", namespaces=NS)
    assert ["".join(a.itertext()) for a in first] == ["研究方法", "研究方法"]
    page_refs = chapter1.xpath("//x:a[contains(@class, 'page')]", namespaces=NS)
    assert "".join(page_refs[0].itertext()) == "规模的扩大"   # an e-book has no page numbers


def _pdf_pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return [re.sub(r"\s+", "", page) for page in text.split("\f")]


def _folio_offset(pages: list[str]) -> int:
    """PDF page index of folio 1: the first chapter's opening page."""
    return next(i for i, page in enumerate(pages) if "第1章" in page and "起源篇" in page and "目录" not in page)


def _link_targets(pdf: Path) -> list[tuple[int, str, int]]:
    """(page index, destination name, destination page index) of every internal link annotation."""
    reader = PdfReader(pdf)
    dests = reader.named_destinations
    found = []
    for index, page in enumerate(reader.pages):
        for annot in page.get("/Annots", []) or []:
            dest = annot.get_object().get("/Dest")
            if dest is not None:
                found.append((index, str(dest), reader.get_destination_page_number(dests[str(dest)])))
    return found


def _check_pdf(pdf: Path) -> None:
    pages = _pdf_pages(pdf)
    targets = _link_targets(pdf)
    body_links = [(i, name, page) for i, name, page in targets if "目录" not in pages[i]]
    assert {name for _, name, _ in body_links} >= set(TARGET_TEXT) - {"ch01"}
    for _, name, page in targets:
        if name in TARGET_TEXT:
            assert TARGET_TEXT[name] in pages[page], (name, page)
    # page references print the folio of their target's page
    offset = _folio_offset(pages)
    printed = re.findall(r"第(\d+)页", "".join(pages[offset:]))
    scale_folio = next(i for i, p in enumerate(pages) if TARGET_TEXT["scale"] in p) - offset + 1
    figure_folio = next(i for i, p in enumerate(pages) if "图2-1" in p and "智能体" not in p) - offset + 1
    assert printed == [str(scale_folio), str(scale_folio), str(figure_folio)]


@pytest.mark.slow
def test_pdf_links_and_page_references(built):
    _check_pdf(built[0] / "book.pdf")


@pytest.mark.slow
def test_parallel_pdf_links_and_page_references(tmp_path):
    book = copy_book("xref", tmp_path)
    with open(book / "book.yaml", "a", encoding="utf-8") as config:
        config.write("print:\n  parallel: on\n")
    out = tmp_path / "out"
    result = run_cli("pdf", "--manuscript", str(book), "--out", str(out))
    assert result.returncode == 0, result.stderr
    _check_pdf(out / "book.pdf")
    assert (out / "cache" / "pdf-pages.json").is_file()


def test_derived_heading_ids():
    assert pandoc_slug("2.1 DeepSeek-V2：效率的胜利") == "deepseek-v2效率的胜利"
    assert gfm_slug("DeepSeek-V2：效率的胜利") == "deepseek-v2效率的胜利"
    assert gfm_slug("Hello World!") == "hello-world"
    assert pandoc_slug("背景介绍") == gfm_slug("背景介绍") == "背景介绍"


def test_site_paths_find_the_page_whose_folders_they_name(tmp_path):
    """A Hugo site's pages in their folders: two share the name labels.md, and each site path
    finds the one it names (the language prefix may be left out; _index.md is its folder; slug
    and aliases are addresses too). Before, the file name alone decided, so a link to the
    tasks page could land on the concepts page without a word."""
    book = BOOKS / "sitepaths"
    diagnostics = Diagnostics()
    report = check_manuscript(load_config(book), diagnostics, tmp_path)
    links = [a for d in report.documents for a in d.document.tree.iter("a") if a.get("data-expect")]
    assert len(links) == len(expected_links(book)) == 8
    assert [a.get("href") for a in links] == ["#" + a.get("data-expect") for a in links]
    problems = sorted((d.line, d.code, d.message) for d in diagnostics.errors)
    assert [(line, code) for line, code, _ in problems] == [(13, "link-unresolved"), (14, "link-unresolved")]
    assert "could be any of" in problems[0][2] and "concepts/labels.md" in problems[0][2] \
        and "tasks/labels.md" in problems[0][2]
    assert "no document of the book is at '/zh-cn/docs/reference/labels/'" in problems[1][2]
    assert not diagnostics.warnings, [str(d) for d in diagnostics.warnings]


def test_site_paths_the_book_does_not_hold_link_to_the_site(tmp_path):
    """With site_url (Hugo's baseURL), a page of the site that is not in the book is a web link
    to it instead of an error; an ambiguous path stays an error, and pages of the book are
    still found in the book."""
    book = copy_book("sitepaths", tmp_path)
    text = (book / "book.yaml").read_text(encoding="utf-8")
    (book / "book.yaml").write_text(text + "site_url: https://example.org/\n", encoding="utf-8")
    diagnostics = Diagnostics()
    report = check_manuscript(load_config(book), diagnostics, tmp_path / "cache")
    assert [(d.line, d.code) for d in diagnostics.errors] == [(13, "link-unresolved")]
    links = {a.text: a.get("href") for d in report.documents for a in d.document.tree.iter("a")}
    assert links["参考里的标签"] == "https://example.org/zh-cn/docs/reference/labels/"
    assert links["概念里的标签"] == "#doc-labels"
    diagnostics = Diagnostics()
    (book / "book.yaml").write_text(text + "site_url: example.org\n", encoding="utf-8")
    with pytest.raises(BuildStopped):
        load_config(book, diagnostics)
    assert [d.code for d in diagnostics.errors] == ["config-invalid"]
    assert "not the address of a web site" in diagnostics.errors[0].message
