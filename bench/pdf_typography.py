"""Measure Chinese line setting in a PDF, from the PDF itself.

    .venv/bin/python bench/pdf_typography.py build/book.pdf [--json]

Reads glyph-line boxes with `pdftotext -bbox-layout` (poppler) and reports:
- ragged: non-final lines of running text whose right end falls more than
  TOLERANCE_PT short of the text block's right edge on that page;
- line-start violations: a line beginning with a closing mark (，。）」 ...);
- line-end violations: a line ending with an opening mark (（「“ ...).

A line is "final" (allowed to be short) when the next line is missing, starts
indented (a new paragraph's 2em indent) or off the left edge, or lies more
than a line below. Only lines starting at the page's commonest left edge or
at the 2em indent count as body lines, so headings, lists, tables, folios
and running heads are ignored.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.etree import ElementTree

NO_START = set("，。、；：？！）」』】〕〉》〗〙｝］”’")
NO_END = set("（「『【〔〈《〖〘｛［“‘")
TOLERANCE_PT = 1.0
BULLETS = set("•◦▪–-·0123456789")
NS = "{http://www.w3.org/1999/xhtml}"


@dataclass
class Line:
    page: int
    x_min: float
    x_max: float
    y: float
    height: float
    text: str


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
    """Every text line per page, top to bottom (pdftotext's blocks are not paragraphs)."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True,
                         check=True).stdout
    root = ElementTree.fromstring(xml)
    pages: dict[int, list[Line]] = {}
    for number, page in enumerate(root.iter(f"{NS}page"), 1):
        lines = []
        for line in page.iter(f"{NS}line"):
            words = list(line.iter(f"{NS}word"))
            if words:
                y_min, y_max = float(line.get("yMin")), float(line.get("yMax"))
                lines.append(Line(number, float(line.get("xMin")), float(line.get("xMax")), y_min,
                                  y_max - y_min, "".join(w.text or "" for w in words)))
        pages[number] = sorted(lines, key=lambda l: (round(l.y), l.x_min))
    return pages


def text_edges(lines: list[Line]) -> tuple[float, float] | None:
    """The body's left edge (the commonest line start) and right edge (the farthest end of a body line)."""
    starts = Counter(round(line.x_min) for line in lines)
    if not starts or starts.most_common(1)[0][1] < 3:
        return None
    left = starts.most_common(1)[0][0]
    ends = [line.x_max for line in lines if abs(line.x_min - left) < 1.5]
    return left, max(ends)


def measure(pages: dict[int, list[Line]]) -> Report:
    body = non_final = ragged = starts = ends = 0
    examples = []
    for number, lines in pages.items():
        edges = text_edges(lines)
        if edges is None:
            continue
        left, right = edges
        body_height = Counter(round(l.height, 1) for l in lines).most_common(1)[0][0]
        lines = [l for l in lines if abs(l.height - body_height) < 0.3]   # drop headings, captions
        for index, line in enumerate(lines):
            em = line.height / 1.17   # poppler's line box is ~1.17 em tall for Noto CJK
            indent = line.x_min - left
            if line.text[:1] in BULLETS or not (abs(indent) < 1.5 or abs(indent - 2 * em) < 0.3 * em):
                continue            # headings, list items, tables, folios
            body += 1
            if line.text[:1] in NO_START:
                starts += 1
                examples.append(f"p{number} starts with {line.text[:12]!r}")
            if line.text[-1:] in NO_END:
                ends += 1
                examples.append(f"p{number} ends with {line.text[-12:]!r}")
            following = lines[index + 1] if index + 1 < len(lines) else None
            # The last line of a paragraph may be short: the next line is missing,
            # indented (new paragraph), off the body's left edge, or farther than one line below.
            if (following is None or abs(following.x_min - left) > 1.5 or following.text[:1] in BULLETS
                    or following.y - line.y > 2.2 * em):
                continue
            non_final += 1
            if right - line.x_max > TOLERANCE_PT:
                ragged += 1
                if len(examples) < 40:
                    examples.append(f"p{number} ragged by {right - line.x_max:.1f}pt: {line.text[-12:]!r}")
    return Report(body, non_final, ragged, starts, ends, examples)


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
