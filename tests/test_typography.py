"""Print typography measured in the PDF (issue 11), on the fixture book tests/books/typography.

bench/pdf_typography.py reads every glyph's box from the PDF (PyMuPDF) and the text layer with
pdftotext; bench/typography_table.py prints the same figures for the bundled manuscript and the
580-page bench book. The fixture is built once per module, PDF and EPUB, from a private copy.

Asserted: no kinsoku violation, no ragged or overfull line of running text, no Han/Latin
boundary without its space (running text, notes, headings, furniture), no one-character last
line, no squeezed mid-line ，。, no line spread beyond 0.15 em (issue 11's limit for a gap); in
the text layer every body paragraph as written (spaces between Latin words included), no Latin
words run together, no space between two Han characters. The share of letter-spaced lines
is a figure for bench/typography_table.py, not a test. Before the typography work (commit
0f0b883) the fixture's first two chapters measured (15 pages; chapters 3 and 4, denser with
model names, code and notes, came later):

    body lines 122; letter-spaced lines (median Han gap > 0.05 em) 10 (8.2 %), worst median
    0.289 em, Han gaps p95 0.078 em; ragged 0 of 64 non-final; overfull 0; ragged footnote
    lines 1 of 12; kinsoku 0 / 0; Han/Latin gap < 0.1 em: running text 1 of 132, notes 1 of 7,
    headings 24 of 30, elsewhere 20 of 23; one-character last lines 2 of 30; squeezed marks 0;
    Latin words run together 6; paragraphs in pdftotext 58 of 58 spaces stripped, 57 with the
    spaces between Latin words kept; lines with Han␣Han in pdftotext 27.
"""
from __future__ import annotations

import re
import sys

import pymupdf
import pytest

from conftest import ROOT, copy_book, run_cli

sys.path.insert(0, str(ROOT / "bench"))
import pdf_typography  # noqa: E402

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(manuscript, out folder) of the fixture, its PDF and EPUB built through the CLI."""
    root = tmp_path_factory.mktemp("typography")
    manuscript = copy_book("typography", root)
    out = root / "out"
    for target in ("pdf", "epub"):
        done = run_cli(target, "--manuscript", str(manuscript), "--out", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
    return manuscript, out


@pytest.fixture(scope="module")
def report(built):
    manuscript, out = built
    geometry = pdf_typography.Geometry.from_manuscript(manuscript)
    return pdf_typography.measure(pdf_typography.read_pages(out / "book.pdf", geometry), geometry)


@pytest.fixture(scope="module")
def layer(built):
    _, out = built
    return pdf_typography.text_layer(out / "book.pdf", out / "book.epub")


@slow
def test_the_checker_sees_the_fixtures_text(report):
    # two chapters of running text, lists, an anecdote box, the takeaways box, footnotes
    assert report.body_lines > 100 and report.non_final_lines > 40, report
    assert report.paragraph_last_lines > 20, report
    assert report.han_gaps > 500 and report.han_latin_boundaries > 100, report
    assert report.note_lines > 10 and report.non_final_note_lines > 5, report
    # headings with Latin words ("多模态与Agent：2024年") are seen as headings, not running text
    assert report.han_latin_boundaries_headings > 10, report


@slow
def test_no_kinsoku_violation(report):
    assert (report.start_violations, report.end_violations) == (0, 0), report.examples
    assert (report.start_violations_other, report.end_violations_other) == (0, 0), report.examples


@slow
def test_running_text_is_flush_with_its_real_container(report):
    assert report.ragged_lines == 0, report.examples
    assert report.overfull_lines == 0, report.examples


@slow
def test_text_layer_holds_every_body_paragraph_when_spaces_are_stripped(layer):
    assert layer.paragraphs > 50, layer
    assert layer.found_stripped == layer.paragraphs, layer.examples
    assert layer.run_together_pairs > 100, layer      # the EPUB's text has the Latin word pairs to compare


@slow
def test_text_layer_is_the_text_as_written(layer, built):
    assert layer.found_spaced == layer.paragraphs, layer.examples
    assert layer.run_together == 0, layer.examples
    # No space between Han characters: none inserted, the author's "*多模态能力* 和" not set, and a
    # chapter's label apart from its title on a line of its own (contents, appendix groups).
    text = pdf_typography.pdftotext(built[1] / "book.pdf")
    lines = [line for line in text.splitlines() if re.search(r"[\u3400-\u9fff] [\u3400-\u9fff]", line)]
    assert lines == []
    assert "多模态能力和 Agent 自主性" in text and re.search(r"^第 ?1 ?章$", text, re.M), text


@slow
def test_han_and_latin_are_spaced_everywhere(report):
    assert report.han_latin_boundaries > 100 and report.han_latin_boundaries_other > 10, report
    tight = (report.han_latin_tight, report.han_latin_tight_notes, report.han_latin_tight_headings,
             report.han_latin_tight_other)
    assert tight == (0, 0, 0, 0), report.examples


@slow
def test_lines_end_well_and_stay_within_the_spread_limit(report):
    assert report.one_char_last_lines == 0, report.examples
    assert report.squeezed_marks == 0, report.examples
    assert report.worst_median_gap_em <= 0.15, report.examples


# --------------------------------------------------------------------------- the text-layer helpers

def test_run_together_counts_each_missing_space_between_epub_words():
    epub = [["archived at perma.cc/7XQK-2L9M.", ""], ["Codd, E. F. (1970). A relational model."]]
    pdf_text = "archived atperma.cc/7XQK-2L9M.\nCodd, E. F. (1970).A relational model.\nCodd.A and then"
    joined, pairs, examples = pdf_typography.run_together(pdf_text, epub)
    assert joined == 2 and examples == ["'atperma.cc/7XQK-2L9M.'", "'(1970).A'"]
    assert pairs == 8
    # words that never stood side by side in the EPUB are not "run together"
    assert pdf_typography.run_together("relationalCodd,", epub)[0] == 0


def test_a_paragraph_cut_by_a_page_break_and_a_note_call_is_found():
    paragraph = ["智能体可以调用工具浏览网页并完成多步任务", "这个循环看起来简单"]
    text = "前文。智能体可以调用工具浏12智能纪元DRAFT览网页并完成多步任务9这个循环看起来简单。后文"
    assert pdf_typography._find(paragraph, text, 0) is not None
    assert pdf_typography._find(["智能体可以调用工具浏览网页并完成多步任务但不在这里"], text, 0) is None


def test_spaces_are_kept_only_between_latin_words():
    assert pdf_typography._spaced("使用 GPT-4o 模型，Llama 3.1  405B\n与 Qwen") == "使用GPT-4o模型，Llama 3.1 405B与Qwen"


@slow
def test_no_hyphen_is_added_to_an_address(built):
    """Links' texts, bare URLs, DOIs and perma.cc addresses in the fixture's notes and text: each
    is in the PDF exactly, line breaks aside (MuPDF, which joins no hyphenated lines). Before,
    long words in them were hyphenated like English: "blog.samaltman.com/reflec-|tions",
    "https://spec.modelcontext-|protocol.io"."""
    manuscript, out = built
    source = "\n".join(path.read_text(encoding="utf-8") for path in sorted(manuscript.glob("*.md")))
    source = re.sub(r"\]\([^)]*\)", "]", source)          # a link's target is not printed, its text is
    addresses = {m.group(0).rstrip(".,;:)") for m in re.finditer(r"(?:https?://|\b[\w-]+\.(?:com|io|cc|org)\b)[^\s)\]>，。；]*",
                                                                 source)}
    assert len(addresses) >= 20
    text = "".join(page.get_text() for page in pymupdf.open(out / "book.pdf"))
    joined = re.sub(r"\s+", "", text.replace("\u200b", ""))
    missing = sorted(a for a in addresses if a.split("://")[-1] not in joined)
    assert not missing


def test_an_address_breaks_at_its_separators_and_keeps_no_language_hyphen():
    from pipeline.typeset import AUTHOR_SPACE, ZERO_WIDTH_SPACE, split_pieces
    (url,) = split_pieces("https://doi.org/10.48550/arXiv.2310.06770", "en")
    assert url.css_class == "lat url"
    # a break between any two characters, but not in the scheme nor in a part of three or fewer
    assert url.text.replace(ZERO_WIDTH_SPACE, "|") == "https://|doi|.|org|/|10|.|4|8|5|5|0|/|a|r|X|i|v|.|2|3|1|0|.|0|6|7|7|0"
    (name,) = split_pieces("modelcontextprotocol.io/specification", "en")
    assert name.text.replace(ZERO_WIDTH_SPACE, "|").endswith(".|io|/|s|p|e|c|i|fi|c|a|t|i|o|n")   # fi: a ligature
    assert url.lang is None and url.text.replace(ZERO_WIDTH_SPACE, "") == "https://doi.org/10.48550/arXiv.2310.06770"
    (end,) = split_pieces("perma.cc/X3LM-9QZD.", "en")
    assert end.text.endswith("D.")
    words, address = split_pieces(f"Retrieved{AUTHOR_SPACE}from{AUTHOR_SPACE}blog.samaltman.com/reflections", "en")
    assert (words.text, words.css_class) == ("Retrieved from ", "lat")
    assert address.text.replace(ZERO_WIDTH_SPACE, "") == "blog.samaltman.com/reflections"
    assert [p.css_class for p in split_pieces("Qwen2.5", "en")] == [None]
    # a name shaped like a domain is not hyphenated either, and stays whole
    assert [(p.text, p.css_class, p.lang) for p in split_pieces("Node.js", "en")] == [("Node.js", "lat url", None)]
    # in a heading (its text feeds the bookmarks) an address gets no break points
    assert [(p.text, p.css_class) for p in split_pieces("https://a.example/x", "", addresses=False)] == [
        ("https://a.example/x", None)]
    assert [p.css_class for p in split_pieces("e.g.", "en")] == [None]


@slow
def test_a_web_link_prints_its_address_at_the_foot_of_its_page(built):
    """On paper a link is only its text: "[官方文档](https://modelcontextprotocol.io/introduction)"
    gets its address as a footnote on the page of the link."""
    _, out = built
    pages = ["".join(re.sub(r"\s+", "", page.get_text()).split("\u200b")) for page in pymupdf.open(out / "book.pdf")]
    (page,) = [p for p in pages if "官方文档" in p and "AI应用的USB-C接口" in p]
    assert "https://modelcontextprotocol.io/introduction" in page
    (page,) = [p for p in pages if "LMSYSChatbotArena" in p and "HumanEval" in p and "88.7%" in p]
    assert "https://lmarena.ai" in page


def test_which_links_print_their_address_and_how():
    """A link showing its own address adds nothing; one in a note or a caption gets it in
    brackets (a note holds no note); elsewhere a footnote; none in the screen PDF."""
    from types import SimpleNamespace

    from pipeline.link_notes import print_link_addresses
    from pipeline.tree import parse_html, to_html
    html = ('<div><p><a href="https://chat.z.ai/">智谱官网</a>，<a href="https://www.example.org/">example.org</a>'
            '<span class="fn">Smith. <a href="https://doi.org/10.1/x">The paper</a>.</span></p>'
            '<figure><figcaption><a href="https://a.example/">图源</a></figcaption></figure>'
            '<h2><a href="https://h.example/">标题里的链接</a></h2>'
            '<p><a href="#ch01">内部</a> <a href="mailto:ed@example.org">编辑</a></p></div>')

    def printed(notes="footnote", link_urls="footnote", screen=False, kind="chapter"):
        root = parse_html(html)
        book = SimpleNamespace(config=SimpleNamespace(print=SimpleNamespace(notes=notes, link_urls=link_urls)))
        print_link_addresses(root, SimpleNamespace(book=book, section=SimpleNamespace(kind=kind),
                                                   options=SimpleNamespace(screen=screen)))
        return to_html(root)

    out = printed()
    assert '智谱官网\u2060</a><span class="fn fn-address"><a href="https://chat.z.ai/">https://chat.z.ai/</a></span>' in out
    assert 'example.org</a><span class="fn fn-address"' not in out          # shows its address already
    assert 'The paper</a><span class="link-address"> (<a href="https://doi.org/10.1/x">https://doi.org/10.1/x</a>)' in out
    assert '图源</a><span class="link-address">（<a href="https://a.example/">' in out
    assert '编辑\u2060</a><span class="fn fn-address"><a href="mailto:ed@example.org">ed@example.org</a>' in out
    assert out.count("fn-address") == 2 and 'href="#ch01">内部</a> ' in out
    assert '标题里的链接</a></h2>' in out                                       # a heading's text stays as it is
    assert printed(notes="chapter-end").count("link-address") == 4
    assert printed(kind="appendix").count("link-address") == 4
    assert printed(link_urls="inline").count("link-address") == 4
    assert "address" not in printed(link_urls="none") and "address" not in printed(screen=True)
