"""Pictures for the README's typography section: the spread that holds a phrase, and one line.

    .venv/bin/python bench/typography_pictures.py BOOK.pdf --phrase 一家成立 --out docs/typography-after.png
    .venv/bin/python bench/typography_pictures.py BOOK.pdf --line 13:Nvidia --out docs/worst-line.png

The phrase is looked for with spaces ignored (an old PDF's text layer has "一 家 成 立"); the
spread is the left and right pages around it, side by side. --line PAGE:TEXT crops the line of
page PAGE that starts with TEXT (spaces ignored), with a little of the lines around it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pymupdf


def _find_page(doc, phrase: str) -> int:
    for number, page in enumerate(doc):
        if phrase in "".join(page.get_text().split()):
            return number
    raise SystemExit(f"'{phrase}' is on no page")


def spread(doc, number: int, dpi: int) -> pymupdf.Pixmap:
    """The two facing pages around page `number` (0-based; even index = right-hand page 1, 3, …)."""
    left = number - 1 if number % 2 == 0 else number
    pages = [doc[i] for i in (left, left + 1) if 0 <= i < doc.page_count]
    pixmaps = [page.get_pixmap(dpi=dpi) for page in pages]
    width, height = sum(p.width for p in pixmaps), max(p.height for p in pixmaps)
    out = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, width, height), False)
    out.clear_with(255)
    x = 0
    for pixmap in pixmaps:
        pixmap.set_origin(x, 0)
        out.copy(pixmap, pixmap.irect)
        x += pixmap.width
    return out


def line(doc, number: int, start: str, dpi: int) -> pymupdf.Pixmap:
    page = doc[number]
    for block in page.get_text("dict")["blocks"]:
        for text_line in block.get("lines", []):
            text = "".join("".join(span["text"] for span in text_line["spans"]).split())
            if text.startswith(start):
                x0, y0, x1, y1 = text_line["bbox"]
                clip = pymupdf.Rect(x0 - 12, y0 - 20, x1 + 12, y1 + 20)
                return page.get_pixmap(dpi=dpi, clip=clip)
    raise SystemExit(f"no line of page {number + 1} starts with '{start}'")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--phrase")
    parser.add_argument("--line", help="PAGE:TEXT, 1-based page")
    parser.add_argument("--dpi", type=int, default=100)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    doc = pymupdf.open(args.pdf)
    if args.line:
        page, _, start = args.line.partition(":")
        pixmap = line(doc, int(page) - 1, "".join(start.split()), args.dpi)
    else:
        pixmap = spread(doc, _find_page(doc, "".join(args.phrase.split())), args.dpi)
    pixmap.save(args.out)
    print(f"{args.out}: {pixmap.width} x {pixmap.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
