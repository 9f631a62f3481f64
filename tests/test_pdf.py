"""The print PDF of the fixture book tests/books/mini, checked in the PDF itself with poppler,
pypdf and Pillow (no mocks).

The book is built once per session from a private copy; expected values come from the Book,
its config (book.yaml's print settings are the defaults) or the fixture's own files, never
from the live manuscript/.
"""
from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from weasyprint import HTML

from conftest import ROOT, run_cli
from pipeline.config import length_mm
from pipeline.diagnostics import Diagnostics
from pipeline.errors import PipelineError
from pipeline import fonts
from pipeline.pdf import allowed_roots, render_html, resolve_options, toc_entries, write_pdf
from pipeline.tree import parse_html, text_of
from pipeline.typeset import WORD_JOINER, clean_text, insert_spaces, typeset_html
from pipeline.weasy import SafeFetcher

sys.path.insert(0, str(ROOT / "bench"))
import pdf_typography  # noqa: E402

MM = 72 / 25.4
slow = pytest.mark.slow

# Constants of the fixture book (tests/books/mini), visible in its files.
DRAFT_CHAPTER = "ch01"      # ch1.md: status draft, with an emoji in a heading (💡 轶事)
FINAL_CHAPTER = "ch02"      # ch2.md: status final


@pytest.fixture(scope="session")
def book(mini_book):
    return mini_book


@pytest.fixture(scope="session")
def draft_run(book, tmp_path_factory):
    diagnostics = Diagnostics()
    return write_pdf(book, tmp_path_factory.mktemp("pdf") / "book.pdf", diagnostics=diagnostics), diagnostics


@pytest.fixture(scope="session")
def draft_pdf(draft_run):
    return draft_run[0]


@pytest.fixture(scope="session")
def release_pdf(book, tmp_path_factory):
    release = dataclasses.replace(book, release=True)
    return write_pdf(release, tmp_path_factory.mktemp("rel") / "book.pdf", crop_marks=True)


@pytest.fixture(scope="session")
def release_unmarked_pdf(book, tmp_path_factory):
    release = dataclasses.replace(book, release=True)
    return write_pdf(release, tmp_path_factory.mktemp("relnm") / "book.pdf", crop_marks=False)


@pytest.fixture(scope="session")
def pdfx_pdf(book, tmp_path_factory):
    return write_pdf(book, tmp_path_factory.mktemp("pdfx") / "book.pdf", variant="pdfx")


def run(*args) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def page_texts(pdf: Path) -> list[str]:
    return run("pdftotext", "-layout", str(pdf), "-").split("\f")[:-1]


def squeeze(text: str) -> str:
    """Text without any whitespace: pdftotext -layout spreads CJK and breaks lines."""
    return re.sub(r"\s+", "", clean_text(text))


def folio(page: str) -> str | None:
    """The number at the foot of a page, if it has one."""
    lines = [line.strip() for line in page.splitlines() if line.strip()]
    return lines[-1] if lines and lines[-1].isdigit() else None


def page_of(reader: PdfReader, ident: str) -> int:
    """0-based index of the page holding the anchor `ident`."""
    return reader.get_destination_page_number(reader.named_destinations[ident])


def test_print_squeeze_commas_reaches_the_justifier_through_the_print_css(book):
    # pipeline/justify.py reads --book-squeeze-commas from the laid-out style (tests/test_justify.py)
    printing = dataclasses.replace(book.config.print, squeeze_commas=True)
    commas = dataclasses.replace(book, config=dataclasses.replace(book.config, print=printing))
    assert "--book-squeeze-commas: on;" in render_html(commas, typeset=False)
    assert "--book-squeeze-commas" not in render_html(book, typeset=False)


# --------------------------------------------------------------------------- geometry

@slow
def test_page_size_includes_bleed_and_boxes_on_every_page(book, draft_pdf):
    printing = book.config.print
    trim_w, trim_h, bleed = (length_mm(v) * MM for v in (printing.trim_width, printing.trim_height, printing.bleed))
    assert bleed > 0
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", run("pdfinfo", str(draft_pdf)))
    assert abs(float(size[1]) - (trim_w + 2 * bleed)) < 0.5 and abs(float(size[2]) - (trim_h + 2 * bleed)) < 0.5
    pages = PdfReader(draft_pdf).pages
    assert len(pages) > len(book.sections())
    for page in pages:
        media, trim, bleed_box = page.mediabox, page.trimbox, page.bleedbox
        assert abs(float(trim.width) - trim_w) < 0.5 and abs(float(trim.height) - trim_h) < 0.5
        assert [round(float(v), 2) for v in bleed_box] == [round(float(v), 2) for v in media]
        for inner, outer in ((trim.left, media.left), (trim.bottom, media.bottom),
                             (media.right, trim.right), (media.top, trim.top)):
            assert abs(float(inner) - float(outer) - bleed) < 0.5


def _corner_darkness(pdf: Path, page_index: int, tmp_path: Path) -> list[int]:
    """For each corner of the page outside the TrimBox (bleed and slug): how many dark pixels."""
    dpi = 72            # one pixel a point: the hairline marks come out solid black
    number = page_index + 1
    run("pdftoppm", "-r", str(dpi), "-f", str(number), "-l", str(number), "-png", str(pdf), str(tmp_path / pdf.stem))
    image = Image.open(next(tmp_path.glob(f"{pdf.stem}*.png"))).convert("L")
    page = PdfReader(pdf).pages[page_index]
    media, trim = page.mediabox, page.trimbox
    scale = dpi / 72
    left = (float(trim.left) - float(media.left)) * scale
    right = (float(trim.right) - float(media.left)) * scale
    top = (float(media.top) - float(trim.top)) * scale
    bottom = (float(media.top) - float(trim.bottom)) * scale
    width, height = image.size
    assert 2 <= left and right <= width - 2 and 2 <= top and bottom <= height - 2, "no room outside the trim"
    # Corner squares from the page corner to the trim corner; the marks continue the trim
    # lines, so the squares reach one pixel past them (the type area is far from there).
    xs = (range(0, math.ceil(left) + 1), range(math.floor(right) - 1, width))
    ys = (range(0, math.ceil(top) + 1), range(math.floor(bottom) - 1, height))
    pixels = image.load()
    return [sum(pixels[x, y] < 128 for x in xr for y in yr) for yr in ys for xr in xs]


@slow
def test_crop_marks_are_drawn_outside_the_trim_box_only_when_asked(book, release_pdf, release_unmarked_pdf,
                                                                    tmp_path):
    marked, plain = PdfReader(release_pdf), PdfReader(release_unmarked_pdf)
    assert len(marked.pages) == len(plain.pages)
    for a, b in zip(marked.pages, plain.pages):     # marks widen nothing
        for box in ("/MediaBox", "/TrimBox", "/BleedBox"):
            assert [float(v) for v in a[box]] == [float(v) for v in b[box]]
    opening = page_of(marked, book.chapters[0].id)
    (tmp_path / "marked").mkdir()
    (tmp_path / "plain").mkdir()
    with_marks = _corner_darkness(release_pdf, opening, tmp_path / "marked")
    without = _corner_darkness(release_unmarked_pdf, opening, tmp_path / "plain")
    assert all(count > 0 for count in with_marks), with_marks
    assert without == [0, 0, 0, 0]


# --------------------------------------------------------------------------- fonts

@slow
def test_fonts_all_embedded_and_subset(book, draft_pdf):
    rows = run("pdffonts", str(draft_pdf)).splitlines()[2:]
    for family in (book.config.fonts.serif, book.config.fonts.sans):
        assert any(family.replace(" ", "-") in r for r in rows), family
    for row in rows:
        emb, sub = row.split()[-5:-3]
        assert (emb, sub) == ("yes", "yes"), row
        assert re.match(r"[A-Z]{6}\+", row), row       # a subset's tag


@slow
def test_missing_font_names_the_package(book, monkeypatch):
    resolve_options(book, None, None)        # the real fonts pass
    monkeypatch.setattr(fonts, "font_installed", lambda family: family != "Noto Serif CJK SC")
    with pytest.raises(PipelineError) as error:
        resolve_options(book, None, None)
    assert "Noto Serif CJK SC" in str(error.value) and "fonts-noto-cjk" in str(error.value)


# --------------------------------------------------------------------------- text, TOC, bookmarks, metadata

@slow
def test_text_has_every_title_and_each_sections_opening(book, draft_pdf):
    text = squeeze(run("pdftotext", str(draft_pdf), "-"))
    assert squeeze(book.config.title) in text and squeeze(book.config.subtitle) in text
    for part in book.parts:
        assert squeeze(part.title) in text
    for section in book.sections():
        assert squeeze(section.title) in text, section.id
        first = next(p for p in section.body.iter("p", "li") if text_of(p))
        assert squeeze(text_of(first)) in text, section.id


@slow
def test_toc_page_numbers_match_real_pages(book, draft_pdf):
    pages = page_texts(draft_pdf)
    reader = PdfReader(draft_pdf)
    opening = page_of(reader, book.chapters[0].id)       # the page whose folio reads 1
    assert folio(pages[opening]) == "1"
    # Every folio printed on a body page is its place counted from the first chapter's opening.
    printed = [(i, folio(p)) for i, p in enumerate(pages) if i >= opening and folio(p)]
    assert len(printed) >= len(book.chapters) + len(book.appendices)
    assert all(int(number) == i - opening + 1 for i, number in printed), printed
    toc_page = page_of(reader, "toc")
    toc_lines = [line for line in pages[toc_page].splitlines() if "··" in line]
    entries = toc_entries(book)
    assert len(toc_lines) == len(entries)
    for entry, line in zip(entries, toc_lines):
        assert squeeze(entry.text) in squeeze(line), (entry, line)
        number = int(re.search(r"(\d+)\s*$", line)[1])
        index = opening + number - 1
        assert index == page_of(reader, entry.href), entry
        assert squeeze(entry.text) in squeeze(pages[index]), entry


@slow
def test_bookmarks_for_every_section_without_inserted_spaces(book, draft_pdf):
    reader = PdfReader(draft_pdf)

    def marks(outline):
        for item in outline:
            yield from marks(item) if isinstance(item, list) else [(item.title, reader.get_destination_page_number(item))]
    found = list(marks(reader.outline))
    titles = [title for title, _ in found]
    for section in book.sections():
        assert (section.full_title, page_of(reader, section.id)) in found, section.id
        for heading in section.headings:
            assert (heading.text, page_of(reader, heading.id)) in found, heading.id
    for part in book.parts:
        assert (part.title, page_of(reader, f"part-{part.id}")) in found
    assert len(found) == 1 + len(book.parts) + sum(1 + len(s.headings) for s in book.sections())
    assert not any("\u2009" in m or re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", m) for m in titles)


@slow
def test_metadata(book, draft_pdf):
    reader = PdfReader(draft_pdf)
    assert reader.metadata.title == book.config.title
    assert reader.metadata.author == ", ".join(book.config.authors)
    assert reader.metadata.subject == book.config.subtitle
    assert reader.metadata["/CreationDate"] == book.modified.strftime("D:%Y%m%d%H%M%SZ")
    assert reader.trailer["/Root"]["/Lang"] == book.config.language


@slow
def test_layout_raises_no_weasyprint_warning(draft_run):
    _, diagnostics = draft_run
    assert not [d for d in diagnostics if d.code == "pdf-layout"], [str(d) for d in diagnostics]


@slow
def test_draft_marks_only_when_not_release(book, draft_pdf, release_pdf):
    reader, pages = PdfReader(draft_pdf), page_texts(draft_pdf)
    draft = [s for s in book.sections() if not s.final]
    assert [s.id for s in draft] == [DRAFT_CHAPTER]
    start, stop = page_of(reader, DRAFT_CHAPTER), page_of(reader, FINAL_CHAPTER)
    draft_pages = [p for p in pages[start:stop] if p.strip()]
    assert len(draft_pages) >= 2 and all("DRAFT" in p for p in draft_pages)   # the flag, then the running head
    assert not any("DRAFT" in p for p in pages[stop:]), "a final section shows a DRAFT mark"
    assert "DRAFT" in pages[page_of(reader, "copyright")]
    assert not any("DRAFT" in p for p in page_texts(release_pdf))


@slow
def test_typography_measured_in_the_pdf(book, draft_pdf):
    report = pdf_typography.measure(pdf_typography.read_pages(draft_pdf))
    # The mini book has a few dozen lines of running text, some paragraphs of two lines or more.
    assert report.body_lines >= 20 and report.non_final_lines > 0, report
    assert report.start_violations == 0 and report.end_violations == 0, report.examples
    assert report.ragged_lines == 0, report.examples


def _words(pdf: Path, first: int, last: int) -> list[tuple[int, float, float, float, str]]:
    """(page, y, x_min, x_max, text) of every word pdftotext finds on pages first..last (0-based)."""
    xml = run("pdftotext", "-bbox", "-f", str(first + 1), "-l", str(last + 1), str(pdf), "-")
    found = []
    for number, page in enumerate(xml.split("<page ")[1:]):
        for x_min, y_min, x_max, text in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', page):
            found.append((number, round(float(y_min), 1), float(x_min), float(x_max), text))
    return found


@slow
def test_authors_spaces_in_references_keep_their_width(book, draft_pdf):
    reader = PdfReader(draft_pdf)
    first = page_of(reader, "references")
    items = [text_of(li) for li in book.appendices[-1].body.iter("li")]
    expected = sum(" (" in item for item in items)
    assert expected >= 4          # every reference of the fixture has ". (2024)."
    words = _words(draft_pdf, first, len(reader.pages) - 1)
    gaps = [word[2] - before[3] for before, word in zip(words, words[1:])
            if word[4].startswith("(") and before[:2] == word[:2]]
    assert len(gaps) == expected, gaps
    # a space is a quarter em or more (10.5 pt type: 2.6 pt); glyphs that touch are 0
    assert min(gaps) > 1.5, gaps


HAN = "智能体可以调用工具浏览网页并完成多步任务评测方法包括基准开源模型追上闭源多模态成为主流"
WORDS = ("GPT-4o", "Llama 3.1", "SWE-bench", "GAIA", "Qwen2-72B", "DeepSeek-V2", "Claude 3.5 Sonnet")


def mixed_paragraphs() -> str:
    """Test text that a plain layout sets ragged: Latin words of many widths among Han, and
    a comma, brackets and quotes moved across the line end one character at a time."""
    paragraphs = []
    for k in range(28, 44):
        paragraphs.append((HAN * 2)[:k] + "，" + (HAN * 3)[k:k + 50] + "（" + HAN[:6] + "）" + HAN[6:30]
                          + "“" + HAN[3:9] + "”。")
    for i in range(12):
        paragraphs.append("".join(HAN[(i * 3 + j * 5) % len(HAN):][:3 + (i + j) % 7] + WORDS[(i + j) % len(WORDS)]
                                  for j in range(10)) + "。")
    return "".join(f"<p>{text}</p>" for text in paragraphs)


@slow
def test_typesetting_is_what_keeps_mixed_text_flush(book, tmp_path):
    """On text made to provoke it, the PDF has no ragged line and no line-start or line-end
    violation, while the same HTML without the clreq transform has ragged lines: the measure
    sees what the transform does."""
    chapter = dataclasses.replace(book.chapters[-1], body=parse_html(mixed_paragraphs()), figures=[])
    provoking = dataclasses.replace(book, chapters=[*book.chapters[:-1], chapter])
    typeset = pdf_typography.measure(pdf_typography.read_pages(write_pdf(provoking, tmp_path / "typeset.pdf")))
    assert typeset.non_final_lines > 50, typeset
    assert (typeset.ragged_lines, typeset.start_violations, typeset.end_violations) == (0, 0, 0), typeset.examples
    plain_pdf = tmp_path / "plain.pdf"
    fetcher = SafeFetcher(allowed_roots(provoking, plain_pdf), extra_files=[a.path for a in provoking.assets])
    HTML(string=render_html(provoking, typeset=False), base_url=str(provoking.config.root) + "/",
         url_fetcher=fetcher).write_pdf(plain_pdf)
    plain = pdf_typography.measure(pdf_typography.read_pages(plain_pdf))
    assert plain.ragged_lines > 5, plain


# --------------------------------------------------------------------------- PDF/X

@slow
def test_pdfx_has_cmyk_output_intent_and_no_emoji_font(draft_pdf, pdfx_pdf):
    root = PdfReader(pdfx_pdf).trailer["/Root"]
    intent = root["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFX"
    assert intent["/DestOutputProfile"].get_object()["/N"] == 4
    # the fixture has an emoji (💡 in a heading): the RGB PDF draws it, PDF/X does not
    assert "Emoji" in run("pdffonts", str(draft_pdf))
    assert "Emoji" not in run("pdffonts", str(pdfx_pdf))
    assert "/OutputIntents" not in PdfReader(draft_pdf).trailer["/Root"]


# --------------------------------------------------------------------------- safety

def test_fetcher_refuses_urls_and_outside_files(tmp_path):
    inside = tmp_path / "a.svg"
    inside.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    fetcher = SafeFetcher([tmp_path])
    assert fetcher.fetch(inside.as_uri()).read().startswith(b"<svg")
    for url in ("https://example.com/x.png", "file:///etc/passwd", (tmp_path / ".." / "x").as_uri()):
        with pytest.raises(BaseException, match="network|outside"):
            fetcher.fetch(url)


@slow
def test_remote_image_fails_and_keeps_the_last_good_pdf(book, draft_pdf, tmp_path):
    out = tmp_path / "book.pdf"
    out.write_bytes(draft_pdf.read_bytes())
    chapter = dataclasses.replace(book.chapters[0], body=parse_html('<p>图<img src="https://example.com/x.png"></p>'))
    bad = dataclasses.replace(book, chapters=[chapter])
    with pytest.raises(PipelineError, match="remote"):
        write_pdf(bad, out)
    assert out.read_bytes() == draft_pdf.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["book.pdf"]


# --------------------------------------------------------------------------- typesetting rules

def test_typeset_rules():
    spaced = insert_spaces("他说：“好。”然后——走了……（完）")
    assert " ”" not in spaced and " 。" not in spaced and "（ " not in spaced
    assert "——" in spaced and "……" in spaced
    assert clean_text(insert_spaces("使用GPT-4模型")) == "使用GPT-4模型"
    assert typeset_html("<p>使用GPT-4模型</p>") == (
        '<p>使 用<span class="autospace"> </span>GPT-4<span class="autospace"> </span>模\u2060型</p>')
    assert clean_text("使 用 GPT-4 模 型，Llama 3.1 405B") == "使用GPT-4模型，Llama 3.1 405B"
    # no paragraph ends on a line holding a single character: its last two Han stay together
    assert insert_spaces("产生分歧。").endswith("分" + WORD_JOINER + "歧。")
    assert insert_spaces("产生分歧", next_char="，").endswith("分 歧")
    # ... also when they close an inline element that only punctuation follows
    assert typeset_html("<p>而是<strong>根本性分歧</strong>。</p>").endswith(
        '分\u2060歧</strong>。</p>')
    assert "分 歧" in typeset_html("<p>而是<strong>根本性分歧</strong>，后来又有了变化。</p>")
    # ... and after a closing bracket: "等。" never stands alone
    assert insert_spaces("和（文生图模型）等。").endswith("型）" + WORD_JOINER + "等。")
    # ... and before a line break or a display formula inside the paragraph ("迭|代：" then $$…$$)
    for breaking in ('<span class="math-display"><img src="x.svg"></span>', "<br>"):
        assert "迭\u2060代：" + breaking + "其 中" in typeset_html(f"<p>进行迭代：{breaking}其中的文字。</p>")
    # a full-width bracket next to Latin text gets a (cancelled) space: a break, and room to squeeze
    assert insert_spaces("Computer Use（计算机").startswith("Computer\ue000Use （计")
    assert "） Google" in insert_spaces("（模型）Google的")
    assert "“GPT" in insert_spaces("“GPT-4”是")
    # the break after a compressed mark stays inside its span: a text that starts with a space
    # after an inline box is one WeasyPrint will not break, and the line before came out short
    assert '<span class="halt">： </span>“' in typeset_html("<p>回忆说：“我们当时并不确定。”</p>")
    html = typeset_html("<p>你好」「世界）。</p><pre><code>中文 代码</code></pre>")
    assert html.count('class="halt"') == 2 and "<code>中文 代码</code>" in html


@slow
def test_a_relative_out_folder_builds(mini, tmp_path):
    """`make pdf` passes `--out build`: the space fonts' file: URLs must not come from a relative path
    (they did, and every PDF build from make stopped with a ValueError)."""
    done = run_cli("pdf", "--manuscript", str(mini), "--out", "relative-out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "relative-out" / "book.pdf").read_bytes().startswith(b"%PDF-")
