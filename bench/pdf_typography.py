r"""Measure Chinese line setting in a PDF, from the PDF itself.

    .venv/bin/python bench/pdf_typography.py build/book.pdf [--manuscript DIR] [--epub book.epub]
                                             [--pages FIRST-LAST] [--json] [--examples]

Glyphs are read one by one with PyMuPDF (`page.get_texttrace()`: each glyph's character, font,
size, origin and box, no spaces made up from gaps). Space glyphs (the inserted justification
and Han/Latin spaces) are invisible and skipped: a gap is the blank between two visible glyphs,
from the end of the first one's box (its advance in the PDF's /W widths) to the start of the
next one's; after a Han character, from its origin plus 1 em, its advance in every CJK font, so
that a text-layer post-pass folding the justification gap into /W (research/text-layer.md, R2)
does not hide the gap (a gap after a Latin letter would still be hidden by one). Glyphs are
grouped into lines by baseline; a small glyph raised above a line (a footnote call) belongs to
that line but is kept apart from its text ("calls").

The text block is the page geometry of book.yaml (`--manuscript`, else the pipeline's defaults,
which are the bundled book's): the TrimBox of each page less the margins, inside/outside by
page parity (the first page is a right-hand page, as WeasyPrint sets it). Lines outside it
(running heads, folios) are ignored; rotated text (landscape figures) and invisible text too.

Running text ("body lines") is every line whose commonest glyph size is the body size
(print.font_size, 10.5 pt) in the serif face (fonts.serif): paragraphs, list items,
anecdote boxes, the takeaways box. Headings (sans), code (monospace), tables (9 pt), block
quotes, captions, notes (8.5 pt) and contents entries (a dot leader) are not running text.
The em is the body size.

Paragraphs are followed line by line, per page and across a page break. A line's
"continuation edge" is where its paragraph's next line starts: after a list marker (•, 1.),
where the text after the marker starts; for a line that continues the line above, that line's
edge; for a paragraph's first line, 2 em left of its start when that is still inside its box
(an indented first line), else its own start. A line is non-final when the next line lies one
line step below, has no list marker and starts at its continuation edge; the last line of a
page is non-final when the next page's first line (at the top of the block) does so and could
not be the indented first line of a new paragraph (a list item's lines continue 2 em in, where
a paragraph's first line also starts: a list item cut by a page break is not judged).

Measures, for running text unless said otherwise:

- ragged: a non-final line whose right end is more than TOLERANCE_PT short of the right end of
  its own container. The container is taken from the real text block and the line's
  continuation edge E: everything the book sets in running text is either flush with both block
  edges, indented on the left only by a multiple of 2 em (list levels, first-line indents:
  right end = the block's right edge), or inset by the same distance d < 2 em on both sides
  (anecdote boxes: 4 mm padding; the takeaways box: 4 mm + its 0.6 pt border; lists inside them
  add 2 em on the left). So d = (E - block left) modulo 2 em (0 when within 1.5 pt of 0 or 2 em)
  and the container's right end is block right - d. A line that begins or ends with an inline
  picture (a formula: vector paths or an image, less than 3 em high, in the line's band) reaches
  to the picture's edge. Not covered: boxes whose left and right insets differ (Hugo callouts:
  2 pt border on the left only, their lines read 2 pt "overfull"). Table cells are left-aligned
  (not justified) and block quotes are not body size, so neither is judged.
  Footnotes are judged the same way as their own population (8.5 pt lines, em 8.5 pt: a hanging
  2 em number, lines flush with the block's right edge): `ragged_note_lines`.
- overfull: a non-final or final line whose right end passes its container's right end by more
  than TOLERANCE_PT (text in the margin). A closing mark at the end of a line whose box passes
  the edge by half an em is taken as compressed (halt) and its box shortened by that half.
- line-start / line-end violations (kinsoku): a line whose first glyph (after a list marker; not
  after an inline formula, also one that opens a list item) is a closing mark (，。）」 ...) / whose last glyph (not before a formula)
  is an opening mark (（「“ ...); `*_other` counts the
  same in every other line of the text block (headings, notes, tables, captions, contents).
- letter-spaced lines: lines whose median gap between adjacent Han characters (two ideographs
  side by side, no other visible glyph between, and no inline formula, which is drawn as paths)
  is more than SPACED_EM (0.05 em); their share of body lines, the worst median, the 95th
  percentile of all Han gaps, how many exceed 0.1 em, and the widest.
- Han/Latin with no space: a Han character directly followed by a Latin letter or digit, or the
  reverse, with a gap under TIGHT_EM (0.1 em of the Han glyph's size), neither glyph in a
  monospace (code) font, footnote calls apart: in running text, and apart in the other lines of
  the text block: `_notes` (8.5 pt serif), `_headings` (sans at body size or larger: headings,
  chapter titles; they get no inserted spaces by design) and `_other` (tables, captions, the
  contents, diagram labels).
- note calls at a line start: a line of running text whose first glyph is a footnote call
  (`call_starts`, of `note_calls`, which counts the glyphs of calls roughly: "10" may count 2).
- one-character last lines: the last line of a paragraph of two lines or more holding a single
  Han character, optionally followed by punctuation.
- squeezed marks: a full-width ，。？！ in the middle of a line, between two glyphs that are not
  punctuation, whose advance is under 0.97 em (any squeeze, not only Typst's halving): the
  distance from its left edge to the next glyph's, less the line's median Han gap when a
  (justification) space glyph follows it. ：；、 squeezed so are counted apart: clreq 6.2.2.3
  lets a line that must shrink take them in (its tier 5), and pipeline/justify.py does, where
  ，。 stay full width (a ，only with book.yaml's print.squeeze_commas).

Three checks need the text as extracted rather than glyph boxes (function `text_layer`, option
`--epub`), from `pdftotext book.pdf -` and the same book's EPUB:
- how many of the EPUB's body paragraphs (each <p>, and each <li> without one, outside notes,
  tables and figures) the text holds, compared with every space removed on both sides, and with
  only the spaces between Latin words kept (ASCII hyphens ignored in both: pdftotext drops the
  hyphen of a word broken after one at a line end); a paragraph may be cut by a page break;
- how many of its lines have a space between two Han characters (`grep -cP '\p{Han} \p{Han}'`);
- Latin words run together: words of the PDF's text that are two or more words of the EPUB's
  text (any block, notes included) standing side by side there with a space between
  ("atperma.cc", "Codd.A").

API: `read_pages(pdf, geometry)` -> {page: [Line]}, `measure(pages, geometry)` -> Report,
`text_layer(pdf, epub)` -> TextLayer; `geometry` defaults to the pipeline's print defaults and
`Geometry.from_manuscript(folder)` reads a book.yaml. bench/typography_table.py prints the lot
for several books.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import pymupdf
except ImportError:         # pragma: no cover - the `test` extras install it
    pymupdf = None

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NO_START = set("，。、；：？！）」』】〕〉》〗〙｝］”’")
NO_END = set("（「『【〔〈《〖〘｛［“‘")
CLOSING = set("，。、；：？！）」』】〕〉》〗〙｝］”’")   # marks whose blank half is on the right
PAUSE_STOP = set("，。、；：？！")
ADJUSTABLE_PAUSES = set("：；、")      # clreq 6.2.2.3 tier 5 marks this project squeezes (not ，)
TOLERANCE_PT = 1.0
SPACED_EM = 0.05
TIGHT_EM = 0.1
SQUEEZED_EM = 0.97         # full width, less what rounding the glyph boxes may take
NOTE_SIZE = 8.5             # print.css: .fn { font-size: 8.5pt }
LEADER = re.compile(r"[·.]{4,}")   # a contents entry: title, dot leader, page
MARKER = re.compile(r"^(?:[•◦▪‣–·]|\d{1,3}[.)])")
SPACES = set(" \u00a0\u2009\u200b\u3000\u00ad\t\n\r")
PT_PER_MM = 72 / 25.4
EXAMPLES_PER_KIND = int(__import__("os").environ.get("EXAMPLES_PER_KIND", "12"))


# ----------------------------------------------------------------------------- characters

def is_han(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x3FFFF
            or 0xF900 <= code <= 0xFAFF or 0x3040 <= code <= 0x30FF or ch in "〇々〻")


def is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum() or "\u00C0" <= ch <= "\u024F"


def is_punct(ch: str) -> bool:
    return not (is_han(ch) or is_latin(ch) or ch.isspace())


# ----------------------------------------------------------------------------- geometry

@dataclass(frozen=True)
class Geometry:
    """book.yaml's print geometry in points (the text block is the trim less the margins)."""
    top: float
    bottom: float
    inside: float
    outside: float
    font_size: float
    serif_font: str

    @classmethod
    def from_settings(cls, settings=None, serif_font: str = "Noto Serif CJK SC") -> "Geometry":
        from pipeline.config import PrintSettings, length_mm
        settings = settings or PrintSettings()
        size = settings.font_size.strip()
        font_size = float(size[:-2]) if size.endswith("pt") else length_mm(size) * PT_PER_MM
        return cls(*(length_mm(v) * PT_PER_MM for v in (settings.margin_top, settings.margin_bottom,
                                                        settings.margin_inside, settings.margin_outside)),
                   font_size, serif_font)

    @classmethod
    def from_manuscript(cls, manuscript: Path) -> "Geometry":
        from pipeline.config import load_config
        config = load_config(Path(manuscript))
        return cls.from_settings(config.print, config.fonts.serif)


def _font_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.split("+", 1)[-1].lower())


# ----------------------------------------------------------------------------- lines

@dataclass
class Glyph:
    c: str
    x0: float
    x1: float
    size: float
    font: str
    baseline: float
    top: float
    bottom: float
    space_after: bool = False           # a space glyph follows it in the content stream

    @property
    def mono(self) -> bool:
        return "mono" in self.font.lower()


@dataclass
class Line:
    page: int
    x_min: float
    x_max: float
    y: float
    height: float
    text: str
    content_left: float | None = None   # after a list marker, else None
    char_width: float | None = None      # commonest width of an ideograph (the em)
    glyphs: list = field(default_factory=list, repr=False)   # visible glyphs, left to right
    calls: list = field(default_factory=list, repr=False)    # raised small glyphs (note calls)
    size: float = 0.0                   # commonest glyph size
    font: str = ""                      # commonest font
    block: tuple = (0.0, 0.0, 0.0, 0.0)  # the page's text block: left, top, right, bottom
    baseline: float = 0.0
    marker_end: int = 0                 # index of the first glyph after a list marker
    object_start: bool = False          # begins with an inline picture (a formula), not a glyph
    object_end: bool = False            # ends with one
    objects: list = field(default_factory=list, repr=False)  # (left, right) of the pictures set in the line

    @property
    def in_block(self) -> bool:
        left, top, right, bottom = self.block
        return top - 2 <= self.y and self.y + self.height <= bottom + 4 and left - 2 <= self.x_min

    @property
    def text_glyphs(self) -> list:
        return self.glyphs[self.marker_end:]


def _boxes(doc, page) -> tuple[float, float, float, float]:
    """The page's TrimBox (else CropBox, MediaBox) in PyMuPDF's top-down coordinates."""
    for key in ("TrimBox", "CropBox", "MediaBox"):
        kind, value = doc.xref_get_key(page.xref, key)
        if kind == "array":
            numbers = [float(v) for v in value.strip("[]").split()]
            rect = pymupdf.Rect(numbers) * page.transformation_matrix
            rect.normalize()
            return rect.x0, rect.y0, rect.x1, rect.y1
    rect = page.rect
    return rect.x0, rect.y0, rect.x1, rect.y1


def text_block(doc, page, geometry: Geometry) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = _boxes(doc, page)
    recto = page.number % 2 == 0          # page 1 is a right-hand page
    left, right = (geometry.inside, geometry.outside) if recto else (geometry.outside, geometry.inside)
    return x0 + left, y0 + geometry.top, x1 - right, y1 - geometry.bottom


def read_pages(pdf: Path, geometry: Geometry | None = None) -> dict[int, list[Line]]:
    """Every text line per page (1-based), top to bottom, with its glyphs."""
    if pymupdf is None:
        raise RuntimeError("bench/pdf_typography.py needs PyMuPDF: pip install -e '.[test]'")
    geometry = geometry or Geometry.from_settings()
    pages: dict[int, list[Line]] = {}
    with pymupdf.open(pdf) as doc:
        for page in doc:
            block = text_block(doc, page, geometry)
            glyphs = []
            for span in page.get_texttrace():
                if span["type"] == 3 or span["opacity"] == 0 or abs(span["dir"][0] - 1) > 1e-3:
                    continue        # invisible or rotated text
                size, font = round(span["size"], 2), span["font"]
                previous = None
                for code, _gid, origin, bbox in span["chars"]:
                    ch = chr(code) if code > 0 else ""
                    if not ch or ch in SPACES:
                        if previous is not None:
                            previous.space_after = True
                        continue
                    previous = Glyph(ch, bbox[0], bbox[2], size, font, origin[1], bbox[1], bbox[3])
                    glyphs.append(previous)
            lines = _lines(page.number + 1, glyphs, block, geometry)
            _inline_objects(page, lines, block, geometry)
            pages[page.number + 1] = lines
    return pages


def _inline_objects(page, lines: list[Line], block, geometry: Geometry) -> None:
    """Extend lines that begin or end with an inline picture (a MathJax formula is drawn as
    paths, a raster as an image) to the picture's edge."""
    limit = 3 * geometry.font_size
    width = 0.8 * (block[2] - block[0])
    rects = [d["rect"] for d in page.get_drawings()] + [pymupdf.Rect(i["bbox"]) for i in page.get_image_info()]
    rects = [r for r in rects if 0.5 < r.height < limit and r.width < width and block[0] - 2 <= r.x0
             and r.x1 <= block[2] + 2]
    if not rects:
        return
    for line in lines:
        band = [r for r in rects if line.y <= (r.y0 + r.y1) / 2 <= line.y + line.height]
        line.objects = [(r.x0, r.x1) for r in band]
        before = [r.x0 for r in band if r.x1 <= line.x_min + 1]
        after = [r.x1 for r in band if r.x0 >= line.glyphs[-1].x1 - 1]
        if before:
            line.x_min, line.object_start = min(before), True
        if after and max(after) > line.x_max:
            line.x_max, line.object_end = max(after), True
        if line.marker_end and line.content_left is not None:
            # a list item whose text starts with a formula ("• s' 可以看成…"): the item's text starts there
            marker_right = line.glyphs[line.marker_end - 1].x1
            inside = [r.x0 for r in band if r.x0 >= marker_right - 1 and r.x1 <= line.content_left + 1]
            if inside:
                line.content_left, line.object_start = min(inside), True


def _lines(number: int, glyphs: list[Glyph], block, geometry: Geometry) -> list[Line]:
    glyphs.sort(key=lambda g: (g.baseline, g.x0))
    rows: list[list[Glyph]] = []
    for glyph in glyphs:
        if rows and glyph.baseline - rows[-1][0].baseline < 0.3:
            rows[-1].append(glyph)
        else:
            rows.append([glyph])
    body_key = _font_key(geometry.serif_font)
    segments: list[list[Glyph]] = []
    for row in rows:
        row.sort(key=lambda g: g.x0)
        size = _commonest(g.size for g in row)
        body = abs(size - geometry.font_size) < 0.05 and _font_key(_commonest(g.font for g in row)).startswith(body_key)
        current = [row[0]]
        for glyph in row[1:]:
            # running text is one column; elsewhere (tables, contents) a wide gap separates cells
            if not body and glyph.x0 - current[-1].x1 > 1.5 * max(glyph.size, current[-1].size):
                segments.append(current)
                current = []
            current.append(glyph)
        segments.append(current)
    # small raised glyphs (footnote calls) join the line they are raised above
    lines: list[Line] = []
    calls: dict[int, list[Glyph]] = {}
    owners = [(s, s[0].baseline, max(g.size for g in s)) for s in segments]
    for segment in segments:
        size = max(g.size for g in segment)
        owner = next((i for i, (other, base, other_size) in enumerate(owners)
                      if other is not segment and size < 0.8 * other_size
                      and 0.1 * other_size < base - segment[0].baseline < 0.7 * other_size
                      and other[0].x0 - 1 <= segment[0].x0 <= other[-1].x1 + other_size), None)
        if owner is not None:
            calls.setdefault(owner, []).extend(segment)
    called = {id(g) for group in calls.values() for g in group}
    for index, segment in enumerate(segments):
        if any(id(g) in called for g in segment):
            continue
        lines.append(_line(number, segment, calls.get(index, []), block))
    lines.sort(key=lambda l: (round(l.baseline, 1), l.x_min))
    return lines


def _line(number: int, glyphs: list[Glyph], calls: list[Glyph], block) -> Line:
    text = "".join(g.c for g in glyphs)
    top, bottom = min(g.top for g in glyphs), max(g.bottom for g in glyphs)
    marker_end, content_left = 0, None
    match = MARKER.match(text)
    if match and len(glyphs) > match.end():
        following = glyphs[match.end()]
        if not (match.group(0)[0].isdigit() and following.c.isdigit()):
            marker_end, content_left = match.end(), following.x0
    widths = Counter(round(g.x1 - g.x0, 1) for g in glyphs if is_han(g.c))
    right = max([g.x1 for g in glyphs] + [g.x1 for g in calls])      # a note call may end the line
    return Line(number, glyphs[0].x0, right, top, bottom - top, text, content_left,
                widths.most_common(1)[0][0] if widths else None, glyphs, calls,
                _commonest(g.size for g in glyphs), _commonest(g.font for g in glyphs), block,
                glyphs[0].baseline, marker_end)


def _commonest(values, default=None):
    counts = Counter(values)
    return counts.most_common(1)[0][0] if counts else default


# ----------------------------------------------------------------------------- the measure

@dataclass
class Report:
    body_lines: int
    non_final_lines: int
    ragged_lines: int
    start_violations: int
    end_violations: int
    examples: list
    pages: int = 0
    overfull_lines: int = 0
    spaced_lines: int = 0               # median Han gap > SPACED_EM
    spaced_first_lines: int = 0         # ... of which a paragraph's (or list item's) first line
    worst_median_gap_em: float = 0.0
    han_gap_p95_em: float = 0.0
    han_gaps: int = 0
    han_gaps_over_01: int = 0
    han_gap_max_em: float = 0.0         # the widest gap between two Han characters
    han_latin_boundaries: int = 0       # measured in running text
    han_latin_tight: int = 0            # ... with a gap < TIGHT_EM
    han_latin_boundaries_notes: int = 0
    han_latin_tight_notes: int = 0
    han_latin_boundaries_headings: int = 0
    han_latin_tight_headings: int = 0
    han_latin_boundaries_other: int = 0     # tables, captions, contents, diagrams
    han_latin_tight_other: int = 0
    paragraph_last_lines: int = 0       # last lines of paragraphs of 2+ lines
    one_char_last_lines: int = 0
    squeezed_marks: int = 0             # mid-line ，。？！ squeezed: never wanted
    squeezed_pauses: int = 0            # mid-line ：；、 squeezed by line adjustment (clreq 6.2.2.3, tier 5)
    other_lines: int = 0                # lines of the text block that are not running text
    start_violations_other: int = 0
    end_violations_other: int = 0
    note_lines: int = 0
    non_final_note_lines: int = 0
    ragged_note_lines: int = 0
    note_calls: int = 0                 # footnote calls (small raised glyphs) in running text
    call_starts: int = 0                # ... of which the first glyph of a line

    @property
    def ragged_share(self) -> float:
        return self.ragged_lines / self.non_final_lines if self.non_final_lines else 0.0

    @property
    def spaced_share(self) -> float:
        return self.spaced_lines / self.body_lines if self.body_lines else 0.0


class _Examples:
    def __init__(self):
        self.items: list[str] = []
        self.counts: Counter = Counter()

    def add(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= EXAMPLES_PER_KIND:
            self.items.append(f"{kind}: {text}")


def measure(pages: dict[int, list[Line]], geometry: Geometry | None = None) -> Report:
    geometry = geometry or Geometry.from_settings()
    em = geometry.font_size
    body_key = _font_key(geometry.serif_font)
    examples = _Examples()
    report = Report(0, 0, 0, 0, 0, examples.items, pages=len(pages))

    def serif(line):
        return _font_key(line.font).startswith(body_key)

    body = {n: [l for l in lines if l.in_block and abs(l.size - em) < 0.05 and serif(l) and not LEADER.search(l.text)]
            for n, lines in pages.items()}
    notes = {n: [l for l in lines if l.in_block and abs(l.size - NOTE_SIZE) < 0.05 and serif(l)]
             for n, lines in pages.items()}
    others = {}
    for number, lines in pages.items():
        running = {id(l) for l in body[number]}
        others[number] = [l for l in lines if l.in_block and id(l) not in running and not all(g.mono for g in l.glyphs)]

    # --- paragraphs: ragged, overfull, one-character last lines
    first_lines: set = set()            # (page, index) of body lines no line above continues into
    for population, size in ((body, em), (notes, NOTE_SIZE)):
        flow = _Flow(population, size)
        for number, lines in population.items():
            for index, line in enumerate(lines):
                edge, following = flow.edges[number][index], flow.next_line(number, index)
                right = _container_right(line, edge, size)
                x_max = _right_end(line, right, size)
                is_body = population is body
                if is_body and not flow.continued(number, index):
                    first_lines.add((number, index))
                if is_body and x_max - right > TOLERANCE_PT:
                    report.overfull_lines += 1
                    examples.add("overfull", f"p{number} by {x_max - right:.1f}pt: {line.text[-12:]!r}")
                if is_body and flow.continued(number, index):
                    if following is None:
                        report.paragraph_last_lines += 1
                        if _one_character(line):
                            report.one_char_last_lines += 1
                            examples.add("one-character last line", f"p{number}: {line.text!r}")
                if following is None:
                    continue
                if is_body:
                    report.non_final_lines += 1
                else:
                    report.non_final_note_lines += 1
                if right - x_max > TOLERANCE_PT:
                    if is_body:
                        report.ragged_lines += 1
                        examples.add("ragged", f"p{number} by {right - x_max:.1f}pt: {line.text[-12:]!r}")
                    else:
                        report.ragged_note_lines += 1
                        examples.add("ragged note", f"p{number} by {right - x_max:.1f}pt: {line.text[-12:]!r}")

    medians = []
    all_gaps = []
    for number, lines in body.items():
        for line_index, line in enumerate(lines):
            report.body_lines += 1
            text = line.text_glyphs
            starts, ends = _kinsoku(line, text, number, examples, "")
            report.start_violations += starts
            report.end_violations += ends
            # (not where a formula meets the gap: "是 π 函数" is no gap of 2 em, nor "文字 基线" of
            # \text{基线} one of the formula's own spacing)
            gaps = [_gap(a, b) / a.size for a, b in zip(text, text[1:])
                    if is_han(a.c) and is_han(b.c) and not a.mono and not b.mono
                    and not any(left <= b.x0 + 1 and right >= a.x1 - 1 for left, right in line.objects)]
            median = statistics.median(gaps) if gaps else 0.0
            all_gaps += gaps
            if gaps:
                medians.append(median)
            if median > SPACED_EM:
                report.spaced_lines += 1
                report.spaced_first_lines += (number, line_index) in first_lines
                examples.add("letter-spaced", f"p{number} median {median:.3f} em: {line.text!r}")
            if line.calls:
                report.note_calls += len({round(g.x0) for g in line.calls})
                if min(g.x0 for g in line.calls) < line.x_min:
                    report.call_starts += 1
                    examples.add("note call at line start", f"p{number}: {line.text[:12]!r}")
            boundaries, tight = _han_latin(line, examples, "Han/Latin tight")
            report.han_latin_boundaries += boundaries
            report.han_latin_tight += tight
            for index in range(1, len(text) - 1):
                before, mark, after = text[index - 1], text[index], text[index + 1]
                if mark.c in PAUSE_STOP and not is_punct(before.c) and not is_punct(after.c):
                    advance = (after.x0 - mark.x0) / mark.size - (median if mark.space_after else 0.0)
                    if advance < SQUEEZED_EM and mark.c in ADJUSTABLE_PAUSES:
                        report.squeezed_pauses += 1
                    elif advance < SQUEEZED_EM:
                        report.squeezed_marks += 1
                        examples.add("squeezed", f"p{number} {mark.c} advance {advance:.2f} em: "
                                                 f"{''.join(g.c for g in text[max(0, index - 6):index + 6])!r}")
    if medians:
        report.worst_median_gap_em = round(max(medians), 3)
    if all_gaps:
        all_gaps.sort()
        report.han_gaps = len(all_gaps)
        report.han_gap_p95_em = round(all_gaps[int(0.95 * (len(all_gaps) - 1))], 3)
        report.han_gaps_over_01 = sum(g > 0.1 for g in all_gaps)
        report.han_gap_max_em = round(all_gaps[-1], 3)

    for number, lines in others.items():
        for line in lines:
            report.other_lines += 1
            text = [g for g in line.text_glyphs if not g.mono]
            # a line of a code block is not measured; one that starts with inline code ("budget_tokens。")
            # does not start with its mark
            starts, ends = _kinsoku(line, line.text_glyphs if text else [], number, examples, " (other)")
            report.start_violations_other += starts
            report.end_violations_other += ends
            role = _role(line, geometry)
            boundaries, tight = _han_latin(line, examples, f"Han/Latin tight ({role})")
            for name, value in ((f"han_latin_boundaries_{role}", boundaries), (f"han_latin_tight_{role}", tight)):
                setattr(report, name, getattr(report, name) + value)
    report.note_lines = sum(len(lines) for lines in notes.values())
    return report


def _role(line: Line, geometry: Geometry) -> str:
    """notes (serif, NOTE_SIZE), headings (sans, body size or larger), other."""
    font = line.font.lower()
    if abs(line.size - NOTE_SIZE) < 0.05 and _font_key(font).startswith(_font_key(geometry.serif_font)):
        return "notes"
    if "sans" in font and "mono" not in font and line.size >= geometry.font_size - 0.05:
        return "headings"
    return "other"


def _han_latin(line: Line, examples: _Examples, kind: str) -> tuple[int, int]:
    boundaries = tight = 0
    glyphs = line.text_glyphs
    for index, (a, b) in enumerate(zip(glyphs, glyphs[1:])):
        if a.mono or b.mono or not ((is_han(a.c) and is_latin(b.c)) or (is_latin(a.c) and is_han(b.c))):
            continue
        boundaries += 1
        han = a if is_han(a.c) else b
        if _gap(a, b) < (TIGHT_EM - 0.005) * han.size:      # 0.005 em: rounding (letter-spacing: 0.1em is not tight)
            tight += 1
            examples.add(kind, f"p{line.page} {_gap(a, b) / han.size:.2f} em: "
                               f"{''.join(g.c for g in glyphs[max(0, index - 5):index + 6])!r}")
    return boundaries, tight


def _gap(a: Glyph, b: Glyph) -> float:
    """The blank between two glyphs side by side. After a Han character, from its origin plus its
    advance, 1 em in every CJK font (so a post-pass that folds the justification gap into the
    font's /W widths cannot hide it); after anything else, from the end of its box (its /W width)."""
    return b.x0 - (a.x0 + a.size if is_han(a.c) else a.x1)


def _one_character(line: Line) -> bool:
    text = "".join(g.c for g in line.text_glyphs)
    return bool(text) and is_han(text[0]) and all(is_punct(ch) for ch in text[1:])


def _container_right(line: Line, edge: float, size: float) -> float:
    """The right end of the box the line is set in (see the module docstring)."""
    left, _, right, _ = line.block
    step = 2 * size
    inset = (edge - left) % step
    slack = 0.3 * size if line.object_start else 1.5    # a formula keeps a quarter em of margin
    if inset < slack or step - inset < slack or edge < left:
        inset = 0.0
    return right - inset


def _right_end(line: Line, right: float, size: float) -> float:
    """The line's right end; a closing mark half an em past the edge is a half-width (halt) one."""
    last = line.glyphs[-1]
    if last.x1 >= line.x_max and last.c in CLOSING and abs(last.x1 - right - 0.5 * last.size) < TOLERANCE_PT:
        return last.x1 - 0.5 * last.size
    return line.x_max


class _Flow:
    """Which line continues which: continuation edges, per page and across page breaks."""

    def __init__(self, pages: dict[int, list[Line]], size: float):
        self.pages, self.size = pages, size
        self.step = _commonest(round(b.baseline - a.baseline, 1) for lines in pages.values()
                               for a, b in zip(lines, lines[1:])) or 1.75 * size
        self.edges: dict[int, list[float]] = {}
        self.nexts: dict[int, list[Line | None]] = {}
        self._previous: set[tuple[int, int]] = set()
        numbers = sorted(pages)
        for number in numbers:
            lines = pages[number]
            edges: list[float] = []
            carried = self._carried(number)
            for index, line in enumerate(lines):
                if index == 0 and carried is not None:
                    edges.append(line.block[0] + carried)
                elif index and self._continues(lines[index - 1], edges[-1], line):
                    edges.append(edges[-1])
                elif line.content_left is not None:
                    edges.append(line.content_left)
                elif line.x_min - 2 * self.size >= _box_left(line, self.size) - 1.5:
                    edges.append(line.x_min - 2 * self.size)
                else:
                    edges.append(line.x_min)
            self.edges[number] = edges
            nexts: list[Line | None] = []
            for index, line in enumerate(lines):
                if index + 1 < len(lines):
                    following = lines[index + 1]
                    nexts.append(following if self._continues(line, edges[index], following) else None)
                else:
                    nexts.append(self._across(number, line, edges[index]))
                if nexts[-1] is not None:
                    self._previous.add((number, index + 1) if index + 1 < len(lines) else (number + 1, 0))
            self.nexts[number] = nexts

    def _carried(self, number: int) -> float | None:
        """The continuation edge (relative to the block) of a paragraph carried over from the page before."""
        before = self.pages.get(number - 1)
        lines = self.pages[number]
        if not before or not lines or number - 1 not in self.edges:
            return None
        last, edge = before[-1], self.edges[number - 1][-1]
        first = lines[0]
        if self._across(number - 1, last, edge) is first:
            return edge - last.block[0]
        return None

    def _across(self, number: int, line: Line, edge: float) -> Line | None:
        following = self.pages.get(number + 1)
        if not following:
            return None
        first = following[0]
        top = first.block[1]
        if first.content_left is not None or first.baseline - top > 1.2 * self.step:
            return None           # a list item, or something above the line on its page
        if abs((first.x_min - first.block[0]) - (edge - line.block[0])) >= 1.5:
            return None
        if first.x_min - 2 * self.size >= _box_left(first, self.size) - 1.5:
            return None           # as well the indented first line of a new paragraph: not judged
        return first

    def _continues(self, line: Line, edge: float, following: Line) -> bool:
        return (abs(following.baseline - line.baseline - self.step) < 1.0 and following.content_left is None
                and abs(following.x_min - edge) < 1.5)

    def next_line(self, number: int, index: int) -> Line | None:
        return self.nexts[number][index]

    def continued(self, number: int, index: int) -> bool:
        """Does the line above (or at the foot of the page before) continue into this one?"""
        return (number, index) in self._previous


def _kinsoku(line: Line, text: list, number: int, examples, kind: str) -> tuple[bool, bool]:
    """(starts with a closing mark, ends with an opening mark), each noted in the examples."""
    starts = bool(text) and text[0].c in NO_START and not line.object_start
    ends = bool(text) and text[-1].c in NO_END and not line.object_end
    if starts:
        examples.add(f"line start{kind}", f"p{number}: {line.text[:12]!r}")
    if ends:
        examples.add(f"line end{kind}", f"p{number}: {line.text[-12:]!r}")
    return starts, ends


def _box_left(line: Line, size: float) -> float:
    """The left edge of the box a line's start lies in: the block's, or an inset box's."""
    left = line.block[0]
    step = 2 * size
    inset = (line.x_min - left) % step
    if inset < 1.5 or step - inset < 1.5:
        return left
    return left + inset


# ----------------------------------------------------------------------------- text layer

HAN_CLASS = "\u2E80-\u2E99\u2E9B-\u2EF3\u2F00-\u2FD5\u3005\u3007\u3021-\u3029\u3038-\u303B\u3400-\u4DBF" \
            "\u4E00-\u9FFF\uF900-\uFA6D\uFA70-\uFAD9\U00020000-\U0003FFFF"   # Unicode script Han
HAN_SPACE_HAN = re.compile(f"[{HAN_CLASS}] [{HAN_CLASS}]")
CJK_CLASS = "\u2E80-\u9FFF\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFFEF\U00020000-\U0003FFFF“”‘’—…·"
SEARCH_BACK = 3000          # characters: how far before the last paragraph's end the next one may start
SEARCH_WINDOW = 6000        # characters between two parts of a paragraph cut by a page break
NOT_CJK_SPACE = re.compile(f"(?<![{CJK_CLASS}\\s]) (?![{CJK_CLASS}\\s])")


@dataclass
class TextLayer:
    paragraphs: int
    found_stripped: int         # found with every space (and ASCII hyphen) removed on both sides
    found_spaced: int           # found with the spaces between Latin words kept
    hyphen_lost: int            # found only when hyphens are ignored (pdftotext's dehyphenation)
    han_space_han_lines: int    # grep -cP '\p{Han} \p{Han}'
    run_together: int           # Latin words the EPUB separates and the PDF's text joins
    run_together_pairs: int     # Latin word pairs separated by a space in the EPUB
    examples: list


def pdftotext(pdf: Path) -> str:
    """`pdftotext book.pdf -`, run on page ranges in parallel (the same text: poppler extracts each
    page on its own; about 35 ms a page)."""
    with pymupdf.open(pdf) as doc:
        count = doc.page_count
    workers = max(1, min(os.cpu_count() or 1, count // 40))
    bounds = [round(count * k / workers) for k in range(workers + 1)]
    processes = [subprocess.Popen(["pdftotext", "-f", str(first + 1), "-l", str(last), str(pdf), "-"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for first, last in zip(bounds, bounds[1:])]
    texts = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, process.args, out, err)
        texts.append(out.decode("utf-8"))
    return "".join(texts)


XHTML = "{http://www.w3.org/1999/xhtml}"
OPS_TYPE = "{http://www.idpf.org/2007/ops}type"
BLOCK_TAGS = {f"{XHTML}{tag}" for tag in ("p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd",
                                           "figcaption", "caption", "blockquote", "div", "aside", "section")}


def epub_paragraphs(epub: Path, everything: bool = False) -> list[list[str]]:
    """The running text of the EPUB: each <p> and each <li> without paragraphs, as the pieces
    between its note calls. Notes, tables, figures, headings, navigation and the title page are
    left out; with `everything`, the text of every block is taken (notes, tables, headings too)."""
    xhtml, ops = XHTML, OPS_TYPE
    paragraphs: list[list[str]] = []
    for body in _epub_bodies(epub):
        if everything:
            for element in body.iter(*BLOCK_TAGS):
                pieces = _pieces(element, xhtml, ops, skip_blocks=True)
                if "".join(pieces).strip():
                    paragraphs.append(pieces)
            continue
        for element in body.iter(f"{xhtml}p", f"{xhtml}li"):
            if element.get("class") or _inside(element, xhtml, ops):
                continue
            if element.tag == f"{xhtml}li" and element.find(f"{xhtml}p") is not None:
                continue
            pieces = _pieces(element, xhtml, ops)
            if "".join(pieces).strip():
                paragraphs.append(pieces)
    return paragraphs


def _epub_bodies(epub: Path):
    """The <body> of each spine document but the cover, the title page and the navigation."""
    from lxml import etree
    xhtml = XHTML
    with zipfile.ZipFile(epub) as archive:
        opf_name = next(n for n in archive.namelist() if n.endswith(".opf"))
        opf = etree.fromstring(archive.read(opf_name))
        base = opf_name.rsplit("/", 1)[0] + "/" if "/" in opf_name else ""
        items = {i.get("id"): i for i in opf.iter("{http://www.idpf.org/2007/opf}item")}
        for ref in opf.iter("{http://www.idpf.org/2007/opf}itemref"):
            item = items[ref.get("idref")]
            if "nav" in (item.get("properties") or "") or not item.get("media-type", "").endswith("xhtml+xml"):
                continue
            root = etree.fromstring(archive.read(base + item.get("href")))
            body = root.find(f"{xhtml}body")
            if body is None or (body.get("class") or "") in ("cover", "titlepage"):
                continue
            yield body


def _inside(element, xhtml: str, ops: str) -> bool:
    for ancestor in element.iterancestors():
        tag = ancestor.tag.replace(xhtml, "")
        if tag in ("table", "figure", "nav", "header") or "footnote" in (ancestor.get(ops) or "") \
                or "footnotes" in (ancestor.get("class") or ""):
            return True
    return False


def _pieces(element, xhtml: str, ops: str, skip_blocks: bool = False) -> list[str]:
    """The element's text, cut at note calls (which the PDF raises and may extract elsewhere);
    nested lists (with `skip_blocks`, any nested block) left out."""
    pieces = [""]

    def visit(node, top=False):
        if not isinstance(node.tag, str):
            pieces[-1] += node.tail or ""
            return
        if not top:
            if "noteref" in (node.get(ops) or ""):
                pieces.append("")
                pieces[-1] += node.tail or ""
                return
            if node.tag in (f"{xhtml}ul", f"{xhtml}ol") or (skip_blocks and node.tag in BLOCK_TAGS):
                pieces.append("")       # a block boundary: no word runs across it
                pieces[-1] += node.tail or ""
                return
        pieces[-1] += node.text or ""
        for child in node:
            visit(child)
        if not top:
            pieces[-1] += node.tail or ""

    visit(element, top=True)
    return pieces


def _strip(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _spaced(text: str) -> str:
    """Whitespace as one space, kept only between two characters that are neither CJK nor space."""
    return NOT_CJK_SPACE.sub("\x00", re.sub(r"\s+", " ", text)).replace(" ", "").replace("\x00", " ")


def _find(paragraph: list[str], haystack: str, start: int, extra_pieces: int = 2) -> int | None:
    """Where `paragraph` ends in `haystack`, found in order from a little before `start`; else None.

    Each piece (the text between note calls) must be found in order, whole or cut in parts
    `extra_pieces` times at most in all (a page break puts the folio, running head and footnotes
    inside a paragraph's text); the parts after the first lie within SEARCH_WINDOW characters of
    the part before, and every part but a piece's last is at least 2 characters long. The first
    part is looked for near `start` first (near-identical paragraphs, as in a references list,
    would otherwise pull it away), then anywhere after it, then anywhere (an identical paragraph
    found further on may have moved `start` past this one).
    """
    for begin, first_window in ((max(0, start - SEARCH_BACK), 4 * SEARCH_WINDOW), (max(0, start - SEARCH_BACK),
                                len(haystack)), (0, len(haystack))):
        end = _find_from(paragraph, haystack, begin, extra_pieces, first_window)
        if end is not None:
            return end
    return None


def _find_from(paragraph: list[str], haystack: str, position: int, extra_pieces: int,
               first_window: int, anchored: bool = False) -> int | None:
    if not paragraph:
        return position
    piece, others = paragraph[0], paragraph[1:]
    window = SEARCH_WINDOW if anchored else first_window
    where = haystack.find(piece, position, position + window + len(piece))
    if where >= 0:
        return _find_from(others, haystack, where + len(piece), extra_pieces, first_window, True)
    if extra_pieces == 0 or len(piece) < 3:
        return None
    # cut: the piece's text runs up to a page break at one of the places where its start is found
    for seed in (piece[:min(6, len(piece) - 1)], piece[:2]):
        start, tries = position, 0
        while tries < 30:
            at = haystack.find(seed, start, position + window + len(seed))
            if at < 0:
                break
            length = len(seed)
            while length < len(piece) - 1 and at + length < len(haystack) and haystack[at + length] == piece[length]:
                length += 1
            end = _find_from([piece[length:], *others], haystack, at + length, extra_pieces - 1, first_window, True)
            if end is not None:
                return end
            start, tries = at + 1, tries + 1
    return None


def text_layer(pdf: Path, epub: Path, text: str | None = None) -> TextLayer:
    text = pdftotext(pdf) if text is None else text
    paragraphs = epub_paragraphs(epub)
    examples = _Examples()
    # pdftotext joins a word broken after a hyphen at a line end and drops the hyphen
    # (C-|Eval -> CEval): both comparisons ignore ASCII hyphens, `hyphen_lost` counts the paragraphs
    # that are found only so.
    stripped, spaced = _strip(text), _spaced(text)
    unhyphenated, spaced_unhyphenated = stripped.replace("-", ""), spaced.replace("-", "")
    found_stripped = found_spaced = hyphen_lost = 0
    cursors = [0, 0, 0]
    for pieces in paragraphs:
        parts = [_strip(p) for p in pieces if _strip(p)]
        end = _find(parts, stripped, cursors[0])
        if end is not None:
            cursors[0] = end
        end_loose = _find([p.replace("-", "") for p in parts if p.replace("-", "")], unhyphenated, cursors[1])
        if end_loose is not None:
            cursors[1] = end_loose
            found_stripped += 1
            hyphen_lost += end is None
        else:
            examples.add("paragraph not found", repr(_strip("".join(pieces))[:40]))
        end = _find([s for s in (_spaced(p).strip().replace("-", "") for p in pieces) if s],
                    spaced_unhyphenated, cursors[2])
        if end is not None:
            found_spaced += 1
            cursors[2] = end
        elif end_loose is not None:
            examples.add("paragraph found only without spaces", repr(re.sub(r"\s+", " ", "".join(pieces))[:50]))
    han_lines = sum(1 for line in text.splitlines() if HAN_SPACE_HAN.search(line))
    joined, pairs, run_examples = run_together(text, epub_paragraphs(epub, everything=True))
    for item in run_examples:
        examples.add("run together", item)
    return TextLayer(len(paragraphs), found_stripped, found_spaced, hyphen_lost, han_lines, joined, pairs,
                     examples.items)


LATIN_TOKEN = re.compile(f"[^\\s{CJK_CLASS}]+")


def run_together(text: str, paragraphs: list[list[str]]) -> tuple[int, int, list[str]]:
    """Latin words that the EPUB separates by a space and the PDF's text has as one word.

    `paragraphs`: the EPUB's text, every block of it (notes, tables and headings included).
    Words are the runs of characters that are neither CJK nor space. A word of the PDF that is
    not a word of the EPUB but is two or more EPUB words that stand side by side there, separated
    by a space, counts once for each missing space ("atperma.cc", "Codd.A").
    """
    words: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    pair_count = 0
    for pieces in paragraphs:
        for piece in pieces:
            for run in re.split(f"[{CJK_CLASS}]+", piece):
                tokens = run.split()
                words.update(tokens)
                for a, b in zip(tokens, tokens[1:]):
                    pairs.add((a, b))
                    pair_count += 1
    joined = 0
    examples: list[str] = []
    for token in LATIN_TOKEN.findall(text):
        if token in words or len(token) < 2:
            continue
        spaces = _segment(token, words, pairs)
        if spaces:
            joined += spaces
            if len(examples) < EXAMPLES_PER_KIND:
                examples.append(repr(token))
    return joined, pair_count, examples


def _segment(token: str, words: set[str], pairs: set[tuple[str, str]]) -> int:
    """How many spaces are missing if `token` is EPUB words run together (0: it is not)."""
    best: dict[int, tuple[int, str]] = {0: (0, "")}   # end -> (missing spaces, last word)
    for end in range(1, len(token) + 1):
        for start in list(best):
            if start >= end:
                continue
            word = token[start:end]
            if word not in words:
                continue
            count, last = best[start]
            if start and (last, word) not in pairs:
                continue
            candidate = (count + (1 if start else 0), word)
            if end not in best or candidate[0] < best[end][0]:
                best[end] = candidate
    return best[len(token)][0] if len(token) in best and best[len(token)][0] else 0


# ----------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--manuscript", type=Path, help="read the page geometry from this book.yaml's folder")
    parser.add_argument("--epub", type=Path, help="the same book's EPUB: adds the text-layer checks")
    parser.add_argument("--pages", help="measure the lines of these pages only, as FIRST-LAST (1-based)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--examples", action="store_true", help="list offending lines")
    args = parser.parse_args(argv)
    geometry = Geometry.from_manuscript(args.manuscript) if args.manuscript else Geometry.from_settings()
    pages = read_pages(args.pdf, geometry)
    if args.pages:
        first, _, last = args.pages.partition("-")
        pages = {n: lines for n, lines in pages.items() if int(first) <= n <= int(last or first)}
    report = measure(pages, geometry)
    layer = text_layer(args.pdf, args.epub) if args.epub else None
    if args.json:
        figures = {**asdict(report), "ragged_share": report.ragged_share, "spaced_share": report.spaced_share}
        if layer:
            figures["text_layer"] = asdict(layer)
        print(json.dumps(figures, ensure_ascii=False, indent=1))
        return 0
    print(f"pages:                  {report.pages}")
    print(f"body lines:             {report.body_lines}")
    print(f"non-final lines:        {report.non_final_lines}")
    print(f"ragged non-final lines: {report.ragged_lines} ({100 * report.ragged_share:.1f} %)")
    print(f"overfull lines:         {report.overfull_lines}")
    print(f"line-start violations:  {report.start_violations} (closing punctuation at line start); "
          f"elsewhere {report.start_violations_other}")
    print(f"line-end violations:    {report.end_violations} (opening punctuation at line end); "
          f"elsewhere {report.end_violations_other}")
    print(f"letter-spaced lines:    {report.spaced_lines} ({100 * report.spaced_share:.1f} %, "
          f"{report.spaced_first_lines} of them first lines), "
          f"worst median gap {report.worst_median_gap_em:.3f} em, p95 gap {report.han_gap_p95_em:.3f} em")
    print(f"Han/Latin, no space:    {report.han_latin_tight} of {report.han_latin_boundaries}; "
          f"notes {report.han_latin_tight_notes} of {report.han_latin_boundaries_notes}; "
          f"headings {report.han_latin_tight_headings} of {report.han_latin_boundaries_headings}; "
          f"elsewhere {report.han_latin_tight_other} of {report.han_latin_boundaries_other}")
    print(f"one-character last lines: {report.one_char_last_lines} of {report.paragraph_last_lines}")
    print(f"squeezed ，。 mid-line:   {report.squeezed_marks} (and ：；、 in line adjustment: {report.squeezed_pauses})")
    print(f"note lines ragged:      {report.ragged_note_lines} of {report.non_final_note_lines}")
    print(f"note calls at line start: {report.call_starts}")
    if layer:
        print(f"paragraphs in pdftotext: {layer.found_stripped} of {layer.paragraphs} (spaces stripped), "
              f"{layer.found_spaced} (Latin spaces kept); {layer.hyphen_lost} only without hyphens")
        print(f"Han␣Han lines:          {layer.han_space_han_lines}")
        print(f"Latin words run together: {layer.run_together} (of {layer.run_together_pairs} spaced pairs)")
    if args.examples:
        print("\n".join(report.examples + (layer.examples if layer else [])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
