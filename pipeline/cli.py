"""`python -m pipeline <command>`: the only place that prints errors and picks exit codes."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from pipeline.errors import PipelineError, display_path
from pipeline.progress import Reporter

EXIT_ERROR = 1
EXIT_WARNINGS = 2    # check --strict with warnings only


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manuscript", type=Path, default=Path("manuscript"),
                        help="folder holding book.yaml and the documents (default: manuscript)")
    parser.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    parser.add_argument("--quiet", action="store_true", help="print only errors")


def _build_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--release", action="store_true",
                        help="release build: refuse documents that are not final; no DRAFT marks")
    parser.add_argument("--draft", action="store_true",
                        help="draft build: broken diagrams and remote images become visible placeholders")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="validate metadata and measure every document")
    _common(check)
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.add_argument("--release", action="store_true", help="also refuse documents that are not final")
    check.add_argument("--fix-counts", action="store_true",
                       help="rewrite word_count and anecdote_count with the measured figures")

    status = commands.add_parser("status", help="the editors' report: terminal table and build/status.*")
    _common(status)
    status.add_argument("--history", action="store_true", help="measure every chapter across the git history")

    for name, text in (("diagrams", "render every mermaid block to SVG"),
                       ("assemble", "build the book model and write build/book.html"),
                       ("epub", "write build/book.epub"), ("pdf", "write build/book.pdf"),
                       ("all", "write build/book.epub and build/book.pdf")):
        sub = commands.add_parser(name, help=text)
        _common(sub)
        _build_flags(sub)
        if name in ("pdf", "all"):
            sub.add_argument("--variant", choices=("rgb", "pdfx"), help="print variant (default: book.yaml)")
            sub.add_argument("--marks", action="store_true", default=None, help="add crop marks")

    validate = commands.add_parser("validate", help="run EPUBCheck and Ace on build/book.epub")
    _common(validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    reporter = Reporter(quiet=args.quiet)
    _route_stage_warnings(args.quiet)
    try:
        return COMMANDS[args.command](args, reporter)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; the last complete outputs were left in place.", file=sys.stderr)
        return 130


def _route_stage_warnings(quiet: bool) -> None:
    """Stages log their warnings (pipeline.*); show them once, as 'warning: …', unless --quiet."""
    import logging
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("pipeline")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.ERROR if quiet else logging.WARNING)
    logging.addLevelName(logging.WARNING, "warning")


def _print_problems(problems, reporter: Reporter) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def cmd_check(args, reporter: Reporter) -> int:
    from pipeline.check import check_manuscript, fix_counts, release_problems
    from pipeline.config import load_config

    config = load_config(args.manuscript)
    report = check_manuscript(config)
    if args.fix_counts:
        for path in fix_counts(report):
            reporter.say(f"updated word_count/anecdote_count in {display_path(path)}")
        report = check_manuscript(config)
    problems = report.all_problems() + (release_problems(report) if args.release else [])
    _print_problems(problems, reporter)
    for d in report.documents:
        declared = d.declared_length if d.declared_length is not None else "–"
        reporter.say(f"{display_path(d.document.path)}: {d.status}, declared {declared}, "
                     f"measured {d.measurement.length}, {len(d.measurement.anecdotes)} anecdote(s)")
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    reporter.say(f"checked {len(report.documents)} document(s): {len(errors)} error(s), {len(warnings)} warning(s)")
    if errors:
        return EXIT_ERROR
    if warnings and args.strict:
        print("error: warnings count as errors with --strict.", file=sys.stderr)
        return EXIT_WARNINGS
    return 0


def cmd_status(args, reporter: Reporter) -> int:
    from rich.console import Console

    from pipeline.check import check_manuscript
    from pipeline.config import load_config
    from pipeline.status import build_status, measure_history, print_table, write_status_files

    config = load_config(args.manuscript)
    report = check_manuscript(config)
    summary = build_status(report, dt.date.today())
    if args.history:
        summary.history = measure_history(config.root, [d.document.path for d in report.documents])
    print_table(summary, Console(width=160) if not sys.stdout.isatty() else Console())
    for path in write_status_files(summary, args.out):
        reporter.say(f"wrote {display_path(path)}")
    return 0


def _book(args, reporter: Reporter):
    from pipeline.build import build_book_checked
    return build_book_checked(args.manuscript, args.out, release=args.release, draft=args.draft, reporter=reporter)


def cmd_diagrams(args, reporter: Reporter) -> int:
    from pipeline.build import render_manuscript_diagrams
    from pipeline.config import load_config
    rendered = render_manuscript_diagrams(load_config(args.manuscript), args.out, draft=args.draft, reporter=reporter)
    count = sum(len(diagrams) for diagrams in rendered.values())
    reporter.say(f"{count} diagram(s) ready in {display_path(args.out / 'cache' / 'diagrams')}")
    return 0


def cmd_assemble(args, reporter: Reporter) -> int:
    from pipeline.build import write_book_html
    book = _book(args, reporter)
    reporter.say(f"wrote {display_path(write_book_html(book, args.out / 'book.html'))}")
    return 0


def _write_epub(book, args, reporter: Reporter) -> None:
    from pipeline.epub import write_epub
    from pipeline.epub import progress_total
    with reporter.bar("writing the EPUB", progress_total(book)) as advance:
        path = write_epub(book, args.out / "book.epub", cache_dir=args.out / "cache", progress=advance)
    reporter.say(f"wrote {display_path(path)}")


def _write_pdf(book, args, reporter: Reporter) -> None:
    from pipeline.pdf_parallel import write_book_pdf
    with reporter.bar("laying out the PDF", 3) as advance:
        path = write_book_pdf(book, args.out / "book.pdf", variant=args.variant, crop_marks=args.marks,
                         progress=advance)
    reporter.say(f"wrote {display_path(path)}")


def cmd_epub(args, reporter: Reporter) -> int:
    _write_epub(_book(args, reporter), args, reporter)
    return 0


def cmd_pdf(args, reporter: Reporter) -> int:
    _write_pdf(_book(args, reporter), args, reporter)
    return 0


def cmd_all(args, reporter: Reporter) -> int:
    book = _book(args, reporter)
    _write_epub(book, args, reporter)
    _write_pdf(book, args, reporter)
    return 0


def cmd_validate(args, reporter: Reporter) -> int:
    from pipeline.validate import validate_main
    return validate_main(args.out / "book.epub", args.out, reporter)


COMMANDS = {"check": cmd_check, "status": cmd_status, "diagrams": cmd_diagrams, "assemble": cmd_assemble,
            "epub": cmd_epub, "pdf": cmd_pdf, "all": cmd_all, "validate": cmd_validate}
