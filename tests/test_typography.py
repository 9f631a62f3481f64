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
    assert url.text.split(ZERO_WIDTH_SPACE) == ["https://", "doi", ".org", "/10", ".48550", "/arXiv", ".2310", ".06770"]
    words, address = split_pieces(f"Retrieved{AUTHOR_SPACE}from{AUTHOR_SPACE}blog.samaltman.com/reflections", "en")
    assert (words.text, words.css_class) == ("Retrieved from ", "lat")
    assert address.text.replace(ZERO_WIDTH_SPACE, "") == "blog.samaltman.com/reflections"
    assert [p.css_class for p in split_pieces("Qwen2.5", "en")] == [None]
    assert [p.css_class for p in split_pieces("e.g.", "en")] == [None]
