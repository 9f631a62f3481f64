"""The PDF text layer (pipeline/textlayer.py): the justification spaces leave the text, no glyph moves.

WeasyPrint lays out a justified Chinese paragraph the way the print PDF does (an inserted
U+0020 between Han characters, set in the space font cut from the text face and cancelled by
word-spacing); the post-pass must take those spaces and the justification gaps out of what
pdftotext, pypdf and MuPDF extract, while every glyph stays where it was drawn.
"""
from __future__ import annotations

import re
import subprocess

import pymupdf
import pytest
import weasyprint
from pypdf import PdfReader

from conftest import justified_paragraph_html
from pipeline import textlayer

SOURCE = ("2024年1月，一家成立不到两年的中国公司发布了一个开源模型。DeepSeek由前高频交易量化团队创立，"
          "低调但技术实力雄厚，选择了一条不同的道路：Mixture of Experts架构的极致优化。")


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    """(the PDF as WeasyPrint wrote it, the same after the text-layer pass, the pass's Stats)."""
    root = tmp_path_factory.mktemp("textlayer")
    html = justified_paragraph_html(root / "cache", SOURCE, page="120mm 80mm")
    raw = weasyprint.HTML(string=html).write_pdf()
    before, after = root / "before.pdf", root / "after.pdf"
    before.write_bytes(raw)
    stats = textlayer.clean_text_layer(raw, after)
    return before, after, stats


def _glyphs(path):
    """(character, origin) of every drawn glyph but spaces, in drawing order."""
    page = pymupdf.open(path)[0]
    out = []
    for block in page.get_text("rawdict")["blocks"]:
        for line in block.get("lines", []):
            for span in line["spans"]:
                out += [(char["c"], tuple(round(v, 2) for v in char["origin"]))
                        for char in span["chars"] if not char["c"].isspace()]
    return out


def test_the_paragraph_is_justified_over_several_lines(pdfs):
    before, _, _ = pdfs
    text = subprocess.run(["pdftotext", str(before), "-"], capture_output=True, text=True, check=True).stdout
    assert text.count("\n") >= 4
    # what the issue saw: the inserted spaces and the justification gaps are in the text
    assert len(re.findall(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", text)) > 10, text


def test_the_pass_takes_the_spaces_out(pdfs):
    _, after, stats = pdfs
    assert stats.removed > 50 and stats.folded > 0 and stats.left == 0 and stats.skipped == 0, stats
    pdftotext = subprocess.run(["pdftotext", str(after), "-"], capture_output=True, text=True, check=True).stdout
    mupdf = pymupdf.open(after)[0].get_text()
    pypdf = PdfReader(after).pages[0].extract_text()
    for extracted in (pdftotext, mupdf, pypdf):
        joined = "".join(extracted.split())
        assert "一家成立不到两年的中国公司" in joined
        assert "".join(SOURCE.split()) in joined, extracted
    assert re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", pdftotext) is None, pdftotext
    # the spaces between Latin words are text, and stay
    assert "Mixture of Experts" in " ".join(pdftotext.split())


def test_no_glyph_moves_and_the_page_looks_the_same(pdfs):
    before, after, _ = pdfs
    assert _glyphs(before) == _glyphs(after)
    pixels = [pymupdf.open(path)[0].get_pixmap(dpi=150).samples for path in (before, after)]
    assert pixels[0] == pixels[1]


def test_the_space_font_is_gone_and_the_pass_is_deterministic(pdfs, tmp_path):
    before, after, _ = pdfs
    fonts = {font[3] for font in pymupdf.open(after)[0].get_fonts()}
    assert not any(textlayer.JUSTIFY_BASEFONT in name for name in fonts), fonts
    again = tmp_path / "again.pdf"
    textlayer.clean_text_layer(before.read_bytes(), again)
    assert again.read_bytes() == after.read_bytes()
