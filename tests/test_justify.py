"""Line adjustment in the print PDF (pipeline/justify.py): a loose line squeezes instead, in clreq's order.

A paragraph is laid out by real WeasyPrint with the print PDF's way of setting Chinese (the
inserted, cancelled U+0020 between Han characters; pipeline/typeset.py), at a measure where a
greedy break leaves the first line 1.2 em short before "午，": nothing comes before a first
line to share that with, so it would be letter-spaced. Squeezed instead, the line-end comma
hangs its blank half and the brackets give up the rest: the first line takes "午，" in, its
Han characters stay solid, and the text layer is still the text.
"""
from __future__ import annotations

import subprocess

import pymupdf
import pytest
import weasyprint

from conftest import justified_paragraph_html
from pipeline import justify, textlayer

SIZE_PT = 10.5
SOURCE = "“甲乙”丙丁“戊己”庚辛壬癸子丑寅卯辰巳午，未申酉戌亥子丑寅卯辰巳。"


def test_tiers_are_used_up_in_order():
    assert justify.tier_shares({2: 1.0, 4: 2.0, 6: 1.0}, 0.5) == {2: 0.5}
    assert justify.tier_shares({2: 1.0, 4: 2.0, 6: 1.0}, 2.0) == {2: 1.0, 4: 0.5}
    assert justify.tier_shares({2: 1.0, 4: 2.0}, 3.5) is None


@pytest.fixture(scope="module")
def glyph_lines(tmp_path_factory):
    """(lines of (character, x origin, advance) by baseline, pdftotext's text) of the paragraph."""
    root = tmp_path_factory.mktemp("justify")
    html = justified_paragraph_html(root / "cache", SOURCE, page="150mm 60mm", paragraph_css="width: 21.2em;")
    pdf = root / "paragraph.pdf"
    textlayer.clean_text_layer(weasyprint.HTML(string=html).write_pdf(), pdf)
    lines: dict[float, list] = {}
    page = pymupdf.open(pdf)[0]
    for block in page.get_text("rawdict")["blocks"]:
        for line in block.get("lines", []):
            for span in line["spans"]:
                for char in span["chars"]:
                    if not char["c"].isspace():
                        lines.setdefault(round(char["origin"][1], 1), []).append(
                            (char["c"], char["origin"][0], char["bbox"][2] - char["bbox"][0]))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [sorted(chars, key=lambda c: c[1]) for _, chars in sorted(lines.items())], text


def test_the_first_line_takes_the_unit_in_by_squeezing(glyph_lines):
    lines, _ = glyph_lines
    first = "".join(c for c, _x, _w in lines[0])
    assert first.endswith("午，"), first
    x = {c: (x, w) for c, x, w in lines[0]}
    # the Han characters stay solid: one em from origin to origin
    han = [(a, b) for a, b in zip(lines[0], lines[0][1:]) if "\u4e00" <= a[0] <= "\u9fff" and "\u4e00" <= b[0] <= "\u9fff"]
    assert han and all(abs((b[1] - a[1]) / SIZE_PT - 1) < 0.01 for a, b in han), han
    # the brackets gave up some of their blank halves, never more
    chars = [c for c, _x, _w in lines[0]]
    close = chars.index("”")
    assert chars[close + 1] == "丙"
    after_close = (lines[0][close + 1][1] - lines[0][close][1]) / SIZE_PT
    assert 0.5 <= after_close < 0.95, after_close
    # the comma's blank half hangs: its ink ends inside the measure, its box half an em past it
    left = lines[1][0][1]
    measure_end = left + 21.2 * SIZE_PT
    assert abs(x["，"][0] + 0.5 * SIZE_PT - measure_end) < 0.3, (x["，"], measure_end)


def test_the_squeezed_paragraph_extracts_as_written(glyph_lines):
    _, text = glyph_lines
    assert "".join(text.split()) == SOURCE


def _lines(root, source: str, width_em: float, css: str = "") -> list[list[tuple[str, float]]]:
    """(character, x origin in em) of each line of a paragraph set width_em wide."""
    html = justified_paragraph_html(root / "cache", source, page="200mm 80mm",
                                    paragraph_css=f"width: {width_em}em; {css}")
    pdf = root / "paragraph.pdf"
    textlayer.clean_text_layer(weasyprint.HTML(string=html).write_pdf(), pdf)
    lines: dict[float, list] = {}
    for block in pymupdf.open(pdf)[0].get_text("rawdict")["blocks"]:
        for line in block.get("lines", []):
            for span in line["spans"]:
                for char in span["chars"]:
                    if not char["c"].isspace():
                        lines.setdefault(round(char["origin"][1], 1), []).append((char["c"], char["origin"][0] / SIZE_PT))
    return [sorted(chars, key=lambda c: c[1]) for _, chars in sorted(lines.items())]


def test_a_list_of_names_spreads_between_its_items(tmp_path):
    # Few Han gaps and a long name that does not fit, even with the 、 squeezed: spread over the
    # Han gaps alone, the first line came out at 0.27 em between 本章涉及; the gaps between the
    # items widen first.
    lines = _lines(tmp_path, "本章涉及DeepSeek-V2、GTC大会、GPT-4o、Mixtral-8x22B、OpenAI、Anthropic、Google、多模态和智能体。",
                   24)
    first = lines[0]
    assert "".join(c for c, _x in first).endswith("GPT-4o、"), first
    # a full-width character's origin to the next one's, less its em
    gaps = {a + b: round(xb - xa - 1, 3) for (a, xa), (b, xb) in zip(first, first[1:]) if a in "章涉及大、"}
    han = [gaps["章涉"], gaps["涉及"], gaps["大会"]]
    assert max(han) < 0.25, gaps
    assert gaps["、G"] > max(han) + 0.15, gaps


def test_a_quotation_mark_after_a_halved_colon_gives_its_outer_half(tmp_path):
    # "说：“我们": the colon is half-width already; the opening quote's blank half is what lets the
    # first line take "Human-" in instead of ending short before it.
    lines = _lines(tmp_path, "一位接近工信部的工程师回忆说：“我们当时并不确定HumanEval能否奏效，但训练效率的窗口期不会等人。”", 28.3)
    first = "".join(c for c, _x in lines[0])
    assert first.endswith("Human\u2010") or first.endswith("Human-"), first


def test_an_enumeration_comma_gives_its_blank_half_where_a_comma_does_not(tmp_path):
    # 18 em of text before "2024", 2 em short of the measure: the number and its Han/Latin space
    # come in only if the mid-line 、 gives up half an em (clreq's tier 5, the Kaiming style's
    # half-width pause). The ，stays full width, and so do the Han characters.
    lines = _lines(tmp_path, "甲乙丙丁、戊己庚辛，壬癸子丑寅卯辰巳2024年的事。", 20)
    first = lines[0]
    assert "".join(c for c, _x in first).endswith("巳2024"), first
    advance = {a: round(xb - xa, 3) for (a, xa), (_b, xb) in zip(first, first[1:])}
    assert 0.45 <= advance["、"] < 0.75, advance
    assert advance["，"] >= 0.99 and advance["甲"] >= 0.99, advance


def test_a_comma_gives_its_blank_half_only_where_the_book_allows_it(tmp_path):
    # As above, 2 em short before "2024", but with two commas and no 、: by default nothing may
    # give way, and the line ends before the number. With print.squeeze_commas (the print CSS's
    # --book-squeeze-commas: on) the commas give up their blank halves and the number comes in.
    source = "甲乙丙丁，戊己庚辛，壬癸子丑寅卯辰巳2024年的事。"
    strict = "".join(c for c, _x in _lines(tmp_path / "strict", source, 20)[0])
    assert strict.endswith("辰巳"), strict
    first = _lines(tmp_path / "commas", source, 20, "--book-squeeze-commas: on;")[0]
    assert "".join(c for c, _x in first).endswith("巳2024"), first
    advances = [(a, round(xb - xa, 3)) for (a, xa), (_b, xb) in zip(first, first[1:])]
    commas = [width for a, width in advances if a == "，"]
    assert len(commas) == 2 and all(0.45 <= width < 0.95 for width in commas), advances
    # the Han characters stay solid
    assert all(width >= 0.99 for a, width in advances if "\u4e00" <= a <= "\u9fff"), advances
