"""Measure Chinese line setting in a PDF, from the PDF itself.

    .venv/bin/python bench/pdf_typography.py build/book.pdf [--json] [--examples]

Reads glyph-line boxes with `pdftotext -bbox-layout` (poppler) and reports:
- ragged: non-final lines of running text whose right end falls more than
  TOLERANCE_PT short of the right edge of their own text block;
- line-start violations: a line beginning with a closing mark (，。）」 ...);
- line-end violations: a line ending with an opening mark (（「“ ...).

Running text is every line in the body type size (the document's commonest
line height): paragraphs, list items, anecdote boxes. Headings, captions,
table cells, block quotes, folios and running heads have other sizes and are
ignored.

Paragraphs are followed line by line. Each line gets the left edge its
paragraph's following lines start at ("continuation edge"):
- a list item's first line starts with a marker word (•, 1.) and continues
  at the text after the marker;
- a line that starts 2 em right of where some line starts on a page of the
  same side (left/right) is an indented first line and continues 2 em
  further left;
- any other line continues at its own start (unindented paragraphs, and lines
  after the first).
A line is non-final when the next line lies exactly one line step below, has
no list marker and starts at the continuation edge. The right edge of a text
block is the farthest line end among the lines sharing its continuation
edge on that page, so anecdote boxes (inset on both sides) and list items
(inset on the left) are measured against their own edges. A block whose
non-final lines are all short on a page therefore goes unnoticed (none in
the seed book).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.etree import ElementTree

NO_START = set("，。、；：？！）」』】〕〉》〗〙｝］”’")
NO_END = set("（「『【〔〈《〖〘｛［“‘")
TOLERANCE_PT = 1.0
MARKER = re.compile(r"^(?:[•◦▪‣–·]|\d{1,3}[.)])$")
NS = "{http://www.w3.org/1999/xhtml}"


@dataclass
class Line:
    page: int
    x_min: float
    x_max: float
    y: float
    height: float
    text: str
    content_left: float | None = None   # after a list marker word, else None
    char_width: float | None = None      # commonest width of an ideograph (the em)


@dataclass
class Report:
    body_lines: int
    non_final_lines: int
    ragged_lines: int
    start_violations: int
    end_violations: int
    examples: list

    @property
    def ragged_share(self) -> float:
        return self.ragged_lines / self.non_final_lines if self.non_final_lines else 0.0


def read_pages(pdf: Path) -> dict[int, list[Line]]:
    """Every text line per page, top to bottom (pdftotext's blocks are not paragraphs).

    Poppler splits a line where glyphs overlap (a half-width "halt" mark);
    pieces on the same baseline are joined again.
    """
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True,
                         check=True).stdout
    root = ElementTree.fromstring(xml)
    pages: dict[int, list[Line]] = {}
    for number, page in enumerate(root.iter(f"{NS}page"), 1):
        pieces = []
        for line in page.iter(f"{NS}line"):
            words = list(line.iter(f"{NS}word"))
            if words:
                pieces.append((float(line.get("yMin")), float(line.get("yMax")), words))
        pieces.sort(key=lambda p: (round(p[0], 1), float(p[2][0].get("xMin"))))
        merged: list[tuple[float, float, list]] = []
        for y_min, y_max, words in pieces:
            if merged and abs(merged[-1][0] - y_min) < 0.5 and abs(merged[-1][1] - y_max) < 0.5:
                merged[-1][2].extend(words)
            else:
                merged.append((y_min, y_max, list(words)))
        pages[number] = [_line(number, y_min, y_max, words) for y_min, y_max, words in merged]
    return pages


def _line(number: int, y_min: float, y_max: float, words: list) -> Line:
    words.sort(key=lambda w: float(w.get("xMin")))
    text = "".join(w.text or "" for w in words)
    content_left = None
    if len(words) > 1 and MARKER.match(words[0].text or ""):
        content_left = float(words[1].get("xMin"))
    widths = Counter(round((float(w.get("xMax")) - float(w.get("xMin"))) / len(w.text), 1) for w in words
                     if w.text and all("\u4e00" <= ch <= "\u9fff" for ch in w.text))
    return Line(number, float(words[0].get("xMin")), max(float(w.get("xMax")) for w in words),
                y_min, y_max - y_min, text, content_left,
                widths.most_common(1)[0][0] if widths else None)


def _commonest(values, default=None):
    counts = Counter(values)
    return counts.most_common(1)[0][0] if counts else default


def measure(pages: dict[int, list[Line]]) -> Report:
    every = [line for lines in pages.values() for line in lines]
    body_height = _commonest(round(l.height, 1) for l in every)
    if body_height is None:
        return Report(0, 0, 0, 0, 0, [])
    runs = {number: [l for l in lines if abs(l.height - body_height) < 0.3]
            for number, lines in pages.items()}
    em = _commonest(l.char_width for l in every if l.char_width and abs(l.height - body_height) < 0.3)
    step = _commonest(round(b.y - a.y, 1) for lines in runs.values() for a, b in zip(lines, lines[1:]))
    body = non_final = ragged = starts = ends = 0
    examples = []
    # Where lines start, per side of the spread (margins are mirrored), in any type size:
    # the running head and headings give the body's left edge even on a page of short paragraphs.
    sides: dict[int, set[float]] = {0: set(), 1: set()}
    for number, lines in pages.items():
        sides[number % 2].update(round(l.x_min, 1) for l in lines)
    for number, lines in runs.items():
        edges = _continuation_edges(lines, em, step, sides[number % 2])
        rights: dict[int, float] = {}
        for line, edge in zip(lines, edges):
            key = round(edge)
            rights[key] = max(rights.get(key, 0.0), line.x_max)
        for index, (line, edge) in enumerate(zip(lines, edges)):
            body += 1
            if line.text[:1] in NO_START:
                starts += 1
                examples.append(f"p{number} starts with {line.text[:12]!r}")
            if line.text[-1:] in NO_END:
                ends += 1
                examples.append(f"p{number} ends with {line.text[-12:]!r}")
            following = lines[index + 1] if index + 1 < len(lines) else None
            if following is None or not _continues(line, edge, following, step):
                continue            # the last line of a paragraph may be short
            non_final += 1
            right = rights[round(edge)]
            if right - line.x_max > TOLERANCE_PT:
                ragged += 1
                if len(examples) < 40:
                    examples.append(f"p{number} ragged by {right - line.x_max:.1f}pt: {line.text[-12:]!r}")
    return Report(body, non_final, ragged, starts, ends, examples)


def _continues(line: Line, edge: float, following: Line, step: float) -> bool:
    """Is `following` the next line of the paragraph `line` belongs to?"""
    return (abs(following.y - line.y - step) < 1.0 and following.content_left is None
            and abs(following.x_min - edge) < 1.5)


def _continuation_edges(lines: list[Line], em: float, step: float, starts) -> list[float]:
    """For each line, the left edge its paragraph's following lines start at.

    starts: where lines start on pages of this side; a line 2 em right of one of
    them is an indented first line.
    """
    edges: list[float] = []
    for index, line in enumerate(lines):
        previous = lines[index - 1] if index else None
        if previous is not None and _continues(previous, edges[-1], line, step):
            edges.append(edges[-1])
        elif line.content_left is not None:
            edges.append(line.content_left)
        elif any(abs(line.x_min - 2 * em - x) < 1.5 for x in starts):
            edges.append(line.x_min - 2 * em)
        else:
            edges.append(line.x_min)
    return edges


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--examples", action="store_true", help="list offending lines")
    args = parser.parse_args(argv)
    report = measure(read_pages(args.pdf))
    if args.json:
        print(json.dumps({**asdict(report), "ragged_share": report.ragged_share}, ensure_ascii=False, indent=1))
        return 0
    print(f"body lines:             {report.body_lines}")
    print(f"non-final lines:        {report.non_final_lines}")
    print(f"ragged non-final lines: {report.ragged_lines} ({100 * report.ragged_share:.1f} %)")
    print(f"line-start violations:  {report.start_violations} (closing punctuation at line start)")
    print(f"line-end violations:    {report.end_violations} (opening punctuation at line end)")
    if args.examples:
        print("\n".join(report.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
