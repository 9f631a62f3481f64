"""The print-typography table of issue 11: each measure of bench/pdf_typography.py, one column a book.

    .venv/bin/python bench/typography_table.py                      # fixture, bundled manuscript, bench book
    .venv/bin/python bench/typography_table.py --fixture --manuscript manuscript
    .venv/bin/python bench/typography_table.py --book "chapter 6=manuscript" --bench --json build/typography.json
    .venv/bin/python bench/typography_table.py --bench --reuse      # measure the last build again

Each book is built with `python -m pipeline pdf` and `epub` (this checkout's code) into
`--work`/<label>/ (default build/typography/), then measured from its PDF: glyph boxes for the
line measures, `pdftotext` and the EPUB for the text layer. The page geometry comes from the
book's own book.yaml. Books:
- `--fixture`: tests/books/typography (two chapters of mixed text, notes as English references);
- `--manuscript DIR` / `--book LABEL=DIR`: any manuscript folder (the bundled one is chapter 6);
- `--bench`: the synthetic 30-chapter, 40-diagram book of bench/synth.py (580 pages), generated
  into `--work`/bench-manuscript/ when missing.
With none of these, all three: the fixture, the bundled manuscript and the bench book.
`--reuse` measures an existing book.pdf/book.epub again instead of building.
Prints a Markdown table (and `--json FILE` writes every figure); the last row is the time the
checker took on each book (glyph measures, then the text layer, which is mostly pdftotext).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import pdf_typography as pt  # noqa: E402

FIXTURE = ROOT / "tests" / "books" / "typography"
MANUSCRIPT = ROOT / "manuscript"


def build(manuscript: Path, out: Path, reuse: bool) -> dict:
    """Build the PDF and EPUB of a manuscript into out; return the wall times."""
    times = {}
    for target in ("pdf", "epub"):
        if reuse and (out / f"book.{target}").is_file():
            continue
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pipeline", target, "--manuscript", str(manuscript),
                               "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"building the {target} of {manuscript} failed")
        times[f"build_{target}_s"] = round(time.monotonic() - started, 1)
    return times


def measure_book(manuscript: Path, out: Path) -> dict:
    geometry = pt.Geometry.from_manuscript(manuscript)
    pdf, epub = out / "book.pdf", out / "book.epub"
    started = time.monotonic()
    report = pt.measure(pt.read_pages(pdf, geometry), geometry)
    glyphs_s = time.monotonic() - started
    started = time.monotonic()
    layer = pt.text_layer(pdf, epub)
    layer_s = time.monotonic() - started
    return {"report": {**asdict(report), "ragged_share": report.ragged_share, "spaced_share": report.spaced_share},
            "text_layer": asdict(layer), "check_glyphs_s": round(glyphs_s, 1), "check_text_layer_s": round(layer_s, 1)}


def _of(part: int, whole: int) -> str:
    return f"{part} of {whole}"


def _pct(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f} %)" if whole else str(part)


ROWS = [
    ("pages", lambda r, t: str(r["pages"])),
    ("body lines (running text, 10.5 pt serif)", lambda r, t: str(r["body_lines"])),
    ("letter-spaced lines (median Han gap > 0.05 em), share of body lines",
     lambda r, t: _pct(r["spaced_lines"], r["body_lines"])),
    ("… of which a paragraph's or list item's first line (no line before it to share with)",
     lambda r, t: str(r.get("spaced_first_lines", 0))),
    ("worst median Han gap of a line", lambda r, t: f'{r["worst_median_gap_em"]:.3f} em'),
    ("Han gaps: 95th percentile / over 0.1 em",
     lambda r, t: f'{r["han_gap_p95_em"]:.3f} em / {r["han_gaps_over_01"]} of {r["han_gaps"]}'),
    ("ragged non-final lines (real text-block edges)", lambda r, t: _of(r["ragged_lines"], r["non_final_lines"])),
    ("overfull lines (past their container's right end)", lambda r, t: str(r["overfull_lines"])),
    ("ragged non-final footnote lines", lambda r, t: _of(r["ragged_note_lines"], r["non_final_note_lines"])),
    ("kinsoku: line starts with a closing mark (running text / elsewhere)",
     lambda r, t: f'{r["start_violations"]} / {r["start_violations_other"]}'),
    ("kinsoku: line ends with an opening mark (running text / elsewhere)",
     lambda r, t: f'{r["end_violations"]} / {r["end_violations_other"]}'),
    ("footnote call at a line start", lambda r, t: str(r["call_starts"])),
    ("Han/Latin gap < 0.1 em: running text", lambda r, t: _of(r["han_latin_tight"], r["han_latin_boundaries"])),
    ("Han/Latin gap < 0.1 em: notes", lambda r, t: _of(r["han_latin_tight_notes"], r["han_latin_boundaries_notes"])),
    ("Han/Latin gap < 0.1 em: headings (no spaces by design)",
     lambda r, t: _of(r["han_latin_tight_headings"], r["han_latin_boundaries_headings"])),
    ("Han/Latin gap < 0.1 em: tables, captions, contents, diagrams",
     lambda r, t: _of(r["han_latin_tight_other"], r["han_latin_boundaries_other"])),
    ("one-character last lines (of paragraphs of 2+ lines)",
     lambda r, t: _of(r["one_char_last_lines"], r["paragraph_last_lines"])),
    ("mid-line ，。？！ squeezed (narrower than 0.97 em)", lambda r, t: str(r["squeezed_marks"])),
    ("… mid-line ：；、 squeezed where a line must shrink (clreq 6.2.2.3 allows it)",
     lambda r, t: str(r.get("squeezed_pauses", "–"))),
    ("Latin words run together (EPUB vs pdftotext)",
     lambda r, t: f'{t["run_together"]} (EPUB has {t["run_together_pairs"]} spaced pairs)'),
    ("body paragraphs in `pdftotext -`, spaces stripped", lambda r, t: _of(t["found_stripped"], t["paragraphs"])),
    ("… with the spaces between Latin words kept", lambda r, t: _of(t["found_spaced"], t["paragraphs"])),
    ("… found only with hyphens ignored (pdftotext dehyphenation)", lambda r, t: str(t["hyphen_lost"])),
    ("`grep -cP '\\p{Han} \\p{Han}'` on `pdftotext -`", lambda r, t: str(t["han_space_han_lines"])),
]


def table(results: dict[str, dict]) -> str:
    labels = list(results)
    lines = ["| measure | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name, cell in ROWS:
        lines.append(f"| {name} | " + " | ".join(cell(results[l]["report"], results[l]["text_layer"])
                                               for l in labels) + " |")
    lines.append("| checker time: glyph measures + text layer | " + " | ".join(
        f'{results[l]["check_glyphs_s"]} s + {results[l]["check_text_layer_s"]} s' for l in labels) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", action="store_true", help="tests/books/typography")
    parser.add_argument("--manuscript", type=Path, action="append", default=[], help="a manuscript folder")
    parser.add_argument("--book", action="append", default=[], metavar="LABEL=DIR", help="a manuscript with a label")
    parser.add_argument("--bench", action="store_true", help="the synthetic 580-page bench book")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "typography")
    parser.add_argument("--reuse", action="store_true", help="measure existing builds instead of building")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--examples", action="store_true", help="print each book's offending lines too")
    args = parser.parse_args(argv)

    books: dict[str, Path] = {}
    if args.fixture:
        books["fixture"] = FIXTURE
    for folder in args.manuscript:
        books[folder.resolve().name if folder.resolve() != MANUSCRIPT else "chapter 6"] = folder
    for item in args.book:
        label, _, folder = item.partition("=")
        books[label] = Path(folder)
    if not (books or args.bench):
        books = {"fixture": FIXTURE, "chapter 6": MANUSCRIPT}
        args.bench = True
    if args.bench:
        bench_manuscript = args.work / "bench-manuscript"
        if not (bench_manuscript / "book.yaml").is_file():
            import synth
            synth.generate(bench_manuscript)
        books["bench book"] = bench_manuscript

    results: dict[str, dict] = {}
    for label, manuscript in books.items():
        out = args.work / label.replace(" ", "-")
        print(f"{label}: building {manuscript} into {out}" if not args.reuse else f"{label}: {out}", file=sys.stderr)
        times = build(manuscript.resolve(), out, args.reuse)
        results[label] = {**measure_book(manuscript.resolve(), out), **times, "manuscript": str(manuscript)}
        if args.examples:
            print(f"\n{label}:\n" + "\n".join(results[label]["report"]["examples"]
                                              + results[label]["text_layer"]["examples"]), file=sys.stderr)
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
