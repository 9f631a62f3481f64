"""Notes (tests/books/notes: 41 notes over three chapters, in paragraphs, tables, lists and an
anecdote box, one about twenty lines long): page footnotes in print, EPUB 3 footnotes."""
from __future__ import annotations

import re
import subprocess
import zipfile

import pytest
from lxml import etree

from conftest import BOOKS, copy_book, run_cli
from pipeline.notes import WORD_JOINER, _page_footnotes, take_notes
from pipeline.tree import parse_html, to_html
from pipeline.typeset import typeset_tree
from pipeline.validate import run_ace, run_epubcheck

NS = {"x": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops"}
NOTES = 41


def pages_of(pdf) -> list[str]:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [re.sub(r"\s+", "", page) for page in text.split("\f")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("notes")
    result = run_cli("all", "--manuscript", str(BOOKS / "notes"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
def test_every_note_is_on_the_page_of_its_call(built):
    pages = pages_of(built / "book.pdf")
    calls = {m: i for i, page in enumerate(pages) for m in re.findall(r"K(\d\d)", page)}
    notes = {}
    for i, page in enumerate(pages):
        for m in re.findall(r"N(\d\d)", page):
            notes.setdefault(m, i)
    assert len(calls) == len(notes) == NOTES
    assert {k: (calls[k], notes[k]) for k in calls if calls[k] != notes[k]} == {}
    assert "↩" not in "".join(pages)


@pytest.mark.slow
def test_notes_are_numbered_per_chapter(built):
    text = subprocess.run(["pdftotext", "-layout", str(built / "book.pdf"), "-"], capture_output=True,
                          text=True).stdout
    numbers = [int(n) for n in re.findall(r"^\s*(\d+)\.\s+N\d\d", text, re.M)]
    assert numbers.count(1) == 3 and max(numbers) < NOTES     # three chapters, each from 1


@pytest.mark.slow
def test_epub_notes_are_epub3_footnotes_with_a_way_back(built, tmp_path):
    with zipfile.ZipFile(built / "book.epub") as archive:
        pages = {n: etree.fromstring(archive.read(n)) for n in archive.namelist() if n.startswith("EPUB/text/ch")}
    asides = [a for page in pages.values() for a in page.xpath("//x:aside[@epub:type='footnote']", namespaces=NS)]
    calls = [a for page in pages.values() for a in page.xpath("//x:a[@epub:type='noteref']", namespaces=NS)]
    assert len(asides) == len(calls) == NOTES
    for page in pages.values():
        for call in page.xpath("//x:a[@epub:type='noteref']", namespaces=NS):
            note = page.xpath(f"//*[@id='{call.get('href')[1:]}']")[0]
            back = note.xpath(".//x:a[@role='doc-backlink']", namespaces=NS)[0]
            assert back.get("href") == f"#{call.get('id')}" and back.text == "".join(call.itertext())
    assert all("↩" not in etree.tostring(p, encoding="unicode") for p in pages.values())
    verdict = run_epubcheck(built / "book.epub", tmp_path / "epubcheck.json")
    assert verdict.counts["fatal"] == verdict.counts["error"] == 0, verdict.messages
    ace = run_ace(built / "book.epub", tmp_path / "ace")
    assert ace.counts["critical"] == ace.counts["serious"] == 0, ace.messages


@pytest.mark.slow
def test_chapter_end_notes(tmp_path):
    book = copy_book("notes", tmp_path)
    with (book / "book.yaml").open("a", encoding="utf-8") as handle:
        handle.write("print:\n  notes: chapter-end\n")
    result = run_cli("pdf", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    pages = pages_of(tmp_path / "out" / "book.pdf")
    body = "".join(pages)
    assert body.count("注释") >= 3 and "↩" not in body
    # every note after the last call of its chapter: the notes close the chapter
    for chapter in ("ch1.md", "ch2.md", "ch3.md"):
        numbers = re.findall(r"\[\^n\d+\]: N(\d\d)", (book / chapter).read_text(encoding="utf-8"))
        last_call = max(i for i, p in enumerate(pages) if f"K{numbers[-1]}" in p)
        assert all(min(i for i, p in enumerate(pages) if f"N{n}" in p) >= last_call for n in numbers)


def test_page_footnote_transform():
    root = parse_html('<p>正文<a class="footnote-ref" href="#c-fn1" id="c-fnref1"><sup>1</sup></a>。</p>'
                      '<section class="footnotes"><hr><ol><li id="c-fn1"><p>注一，English text。'
                      '<a class="footnote-back" href="#c-fnref1">↩︎</a></p><p>第二段。</p></li></ol></section>')
    notes = take_notes(root)
    _page_footnotes(root, notes)
    html = to_html(root)
    assert "footnotes" not in html and "↩" not in html
    note = root.find(".//span[@class='fn']")
    assert note.get("id") == "c-fn1" and note.text.startswith("注一")
    assert note.find("span[@class='fn-block']").text == "第二段。"
    assert root.find("p").text.endswith(WORD_JOINER)          # no line break before the call
    typeset_tree(root)
    # the note is a flow of its own: no justification space between 文 and the note's first
    # character, and 正文 are the paragraph's last two Han characters, joined
    assert to_html(root).startswith('<p>正' + WORD_JOINER + '文' + WORD_JOINER + '<span class="fn"')
