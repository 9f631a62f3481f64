"""The print PDF, checked in the PDF itself with poppler and pypdf (no mocks)."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from pipeline.build import build_book
from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.pdf import SafeFetcher, check_fonts, resolve_options, write_pdf
from pipeline.typeset import clean_text, insert_spaces, typeset_html

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import pdf_typography  # noqa: E402

MM = 72 / 25.4


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    return build_book(load_config(ROOT / "manuscript"), out_dir=tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="session")
def draft_pdf(book, tmp_path_factory):
    return write_pdf(book, tmp_path_factory.mktemp("pdf") / "book.pdf")


@pytest.fixture(scope="session")
def release_pdf(book, tmp_path_factory):
    release = dataclasses.replace(book, release=True)
    return write_pdf(release, tmp_path_factory.mktemp("rel") / "book.pdf", crop_marks=True)


@pytest.fixture(scope="session")
def pdfx_pdf(book, tmp_path_factory):
    return write_pdf(book, tmp_path_factory.mktemp("pdfx") / "book.pdf", variant="pdfx")


def run(*args) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def page_texts(pdf: Path) -> list[str]:
    return run("pdftotext", "-layout", str(pdf), "-").split("\f")[:-1]


def test_page_size_includes_bleed_and_boxes_on_every_page(draft_pdf):
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", run("pdfinfo", str(draft_pdf)))
    assert abs(float(size[1]) - 176 * MM) < 0.5 and abs(float(size[2]) - 246 * MM) < 0.5
    for page in PdfReader(draft_pdf).pages:
        trim, bleed = page.trimbox, page.bleedbox
        assert abs(float(trim.width) - 170 * MM) < 0.5 and abs(float(trim.height) - 240 * MM) < 0.5
        assert float(bleed.width) > float(trim.width)


def test_fonts_all_embedded_and_subset(draft_pdf):
    rows = run("pdffonts", str(draft_pdf)).splitlines()[2:]
    assert any("Noto-Serif-CJK-SC" in r for r in rows) and any("Noto-Sans-CJK-SC-Bold" in r for r in rows)
    for row in rows:
        emb, sub = row.split()[-5:-3]
        assert (emb, sub) == ("yes", "yes"), row


def test_text_has_chapter_and_appendix_titles(book, draft_pdf):
    text = clean_text(run("pdftotext", str(draft_pdf), "-")).replace(" ", "")
    for section in [book.chapters[0], *book.appendices]:
        assert section.title.replace(" ", "") in text
    assert len(book.appendices) == 2


def test_toc_page_numbers_match_real_pages(book, draft_pdf):
    pages = page_texts(draft_pdf)
    toc = "".join(p for p in pages if "···" in p)
    first = book.chapters[0]
    # The chapter opening is the page whose folio reads 1.
    opening = next(i for i, p in enumerate(pages)
                   if "···" not in p and first.title[:6] in p.replace(" ", "")
                   and p.strip().splitlines()[-1].strip() == "1")
    for section in [first, *(s for part in book.parts for s in part.sections), *book.appendices]:
        line = next(l for l in toc.splitlines() if section.title.replace(" ", "")[:8] in l.replace(" ", ""))
        folio = int(re.search(r"(\d+)\s*$", line)[1])
        assert section.title[:6] in pages[opening + folio - 1].replace(" ", ""), section.id


def test_bookmarks_for_every_section_without_inserted_spaces(book, draft_pdf):
    def titles(outline):
        for item in outline:
            yield from titles(item) if isinstance(item, list) else [item.title]
    marks = list(titles(PdfReader(draft_pdf).outline))
    for section in book.sections():
        assert section.full_title in marks
    for heading in book.chapters[0].headings:
        assert heading.text in marks
    assert not any("\u2009" in m or re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", m) for m in marks)


def test_metadata(draft_pdf):
    reader = PdfReader(draft_pdf)
    assert reader.metadata.title == "智能纪元" and reader.metadata.author == "林知远"
    assert reader.trailer["/Root"]["/Lang"] == "zh-CN"


def test_draft_marks_only_when_not_release(book, draft_pdf, release_pdf):
    draft_pages = page_texts(draft_pdf)
    chapter_pages = [p for p in draft_pages if "DRAFT" in p]
    assert len(chapter_pages) > 5
    assert not any("DRAFT" in p for p in page_texts(release_pdf))


def test_crop_marks_widen_nothing_but_draw_marks(release_pdf):
    page = PdfReader(release_pdf).pages[5]
    assert float(page.bleedbox.width) > float(page.trimbox.width)


def test_typography_measured_in_the_pdf(draft_pdf):
    report = pdf_typography.measure(pdf_typography.read_pages(draft_pdf))
    assert report.body_lines > 500 and report.non_final_lines > 100
    assert report.start_violations == 0 and report.end_violations == 0
    assert report.ragged_lines == 0, report.examples


def test_pdfx_has_cmyk_output_intent_and_no_emoji_font(pdfx_pdf):
    root = PdfReader(pdfx_pdf).trailer["/Root"]
    intent = root["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFX"
    assert intent["/DestOutputProfile"].get_object()["/N"] == 4
    assert "Emoji" not in run("pdffonts", str(pdfx_pdf))


def test_fetcher_refuses_urls_and_outside_files(tmp_path):
    inside = tmp_path / "a.svg"
    inside.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    fetcher = SafeFetcher([tmp_path])
    assert fetcher.fetch(inside.as_uri()).read().startswith(b"<svg")
    for url in ("https://example.com/x.png", "file:///etc/passwd", (tmp_path / ".." / "x").as_uri()):
        with pytest.raises(BaseException, match="network|outside"):
            fetcher.fetch(url)


def test_remote_image_fails_and_keeps_the_last_good_pdf(book, draft_pdf, tmp_path):
    out = tmp_path / "book.pdf"
    out.write_bytes(draft_pdf.read_bytes())
    chapter = dataclasses.replace(book.chapters[0], html='<p>图<img src="https://example.com/x.png"></p>')
    bad = dataclasses.replace(book, chapters=[chapter])
    with pytest.raises(PipelineError, match="remote"):
        write_pdf(bad, out)
    assert out.read_bytes() == draft_pdf.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["book.pdf"]


def test_missing_font_names_the_package(book):
    printing = dataclasses.replace(book.config.print, serif_font="Nonexistent Serif CJK XX")
    broken = dataclasses.replace(book, config=dataclasses.replace(book.config, print=printing))
    with pytest.raises(PipelineError) as error:
        check_fonts(broken, resolve_options(broken, None, None))
    assert "fonts-noto-cjk" in str(error.value)


def test_typeset_rules():
    spaced = insert_spaces("他说：“好。”然后——走了……（完）")
    assert " ”" not in spaced and " 。" not in spaced and "（ " not in spaced
    assert "——" in spaced and "……" in spaced
    assert clean_text(insert_spaces("使用GPT-4模型")) == "使用GPT-4模型"
    assert typeset_html("<p>使用GPT-4模型</p>") == (
        '<p>使 用<span class="autospace"> </span>GPT-4<span class="autospace"> </span>模型</p>')
    assert clean_text("使 用 GPT-4 模 型，Llama 3.1 405B") == "使用GPT-4模型，Llama 3.1 405B"
    # no paragraph ends on a line holding a single character: its last two Han stay together
    assert insert_spaces("产生分歧。").endswith("分歧。") and insert_spaces("产生分歧", next_char="，").endswith("分 歧")
    html = typeset_html("<p>你好」「世界）。</p><pre><code>中文 代码</code></pre>")
    assert html.count('class="halt"') == 2 and "<code>中文 代码</code>" in html
