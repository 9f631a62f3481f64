"""Turns a Chinese book written in Markdown into an EPUB 3, a print-ready PDF and an editors' status report.

Every command reads the book from --manuscript (book.yaml and the documents it names) and
writes into --out. Problems are listed at the end, sorted by file and line.
"""
# This module is the only place that prints problems and picks exit codes.
from __future__ import annotations

import argparse
import datetime as dt
import errno
import signal
import sys
from pathlib import Path


from pipeline.diagnostics import Diagnostics, display_path
from pipeline.errors import BuildStopped, PipelineError
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


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535; 0 picks a free one)")
    return int(text)


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
                       ("epub", "write build/book.epub"),
                       ("pdf", "write build/book.pdf (--target screen: build/book-screen.pdf)"),
                       ("all", "write build/book.epub, build/book.pdf and build/book-screen.pdf")):
        sub = commands.add_parser(name, help=text)
        _common(sub)
        _build_flags(sub)
        if name in ("pdf", "all"):
            sub.add_argument("--variant", choices=("rgb", "pdfx"), help="print variant (default: book.yaml)")
            sub.add_argument("--marks", action="store_true", default=None, help="add crop marks")
        if name == "pdf":
            sub.add_argument("--target", choices=("print", "screen"), default="print",
                             help="print: trim size with bleed for the printer (book.pdf); screen: trim size, "
                                  "tagged, cover first, coloured links, for readers (book-screen.pdf)")

    preview = commands.add_parser("preview", help="serve the book as web pages on 127.0.0.1, rebuilt on every save")
    _common(preview)
    _build_flags(preview)
    preview.add_argument("--port", type=_port, default=8000,
                         help="port to listen on (default: 8000; 0 picks a free one)")

    validate = commands.add_parser("validate", help="run EPUBCheck and Ace on build/book.epub")
    _common(validate)

    init = commands.add_parser("init", help="write a first book.yaml for a folder of Markdown")
    init.add_argument("folder", type=Path, help="the folder of Markdown documents")
    init.add_argument("--quiet", action="store_true", help="print only errors")
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that every `finally` cleans up as for Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    reporter = Reporter(quiet=args.quiet)
    _route_stage_warnings(args.quiet)
    diagnostics = Diagnostics(draft=getattr(args, "draft", False))
    previous = signal.signal(signal.SIGTERM, _terminate)
    fatal, code = None, 0
    try:
        code = COMMANDS[args.command](args, reporter, diagnostics)
    except BuildStopped as stopped:
        code = EXIT_ERROR
        reporter.say(f"stopped after the {stopped.stage} stage; the last complete outputs were left in place")
    except PipelineError as error:
        fatal, code = error, EXIT_ERROR
    except OSError as error:
        fatal, code = os_error(error), EXIT_ERROR
    except Exception as error:     # noqa: BLE001 - a bug must still end in a message, not a traceback
        fatal, code = internal_error(error, args), EXIT_ERROR
    except (KeyboardInterrupt, Terminated) as stop:
        print(f"error: {'interrupted' if isinstance(stop, KeyboardInterrupt) else 'terminated'}; the last "
              "complete outputs were left in place.", file=sys.stderr)
        return 130 if isinstance(stop, KeyboardInterrupt) else 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.command != "status":
        print_diagnostics(diagnostics, quiet=args.quiet)
    if fatal is not None:
        print(f"error: {fatal}", file=sys.stderr)
    if diagnostics.errors and code == 0:
        code = EXIT_ERROR
    return code


def os_error(error: OSError) -> PipelineError:
    """What the machine refused, said as what to do about it."""
    what = error.strerror or str(error)
    hints = {errno.ENOSPC: "The disk is full: free some space and build again.",
             errno.EDQUOT: "The disk quota is used up: free some space and build again.",
             errno.EROFS: "That folder is read-only: build into another one with --out.",
             errno.EACCES: "You may not write there: build into another folder with --out.",
             errno.EPERM: "You may not write there: build into another folder with --out.",
             errno.ENOTDIR: "A path that should be a folder is a file: check --out and --manuscript.",
             errno.EISDIR: "A path that should be a file is a folder."}
    hint = hints.get(error.errno, "Check the file and the disk, then build again.")
    return PipelineError(f"{what}; the last complete outputs were left in place.",
                         file=error.filename, hint=hint)


def internal_error(error: Exception, args) -> PipelineError:
    """An unexpected failure: the message says where; the traceback goes to a file for the report."""
    import traceback
    report = Path(getattr(args, "out", Path("build"))) / "crash.log"
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        saved = f" The details are in {display_path(report)}."
    except OSError:
        saved = ""
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    place = f" (in {Path(where.filename).name}, {where.name})" if where else ""
    return PipelineError(f"the build failed unexpectedly: {type(error).__name__}: {error}{place}.{saved}",
                         hint="This is a bug in the pipeline or a library it uses; please report it with that file.")


def print_diagnostics(diagnostics: Diagnostics, *, quiet: bool = False) -> None:
    """Every problem of the run, once, sorted by file and line, then the count."""
    shown = [d for d in diagnostics.sorted() if d.is_error or not quiet]
    for item in shown:
        print(item, file=sys.stderr)
    errors, warnings = len(diagnostics.errors), len(diagnostics.warnings)
    if errors or (warnings and not quiet):
        print(f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)
    elif diagnostics.infos and not quiet:
        print(f"{len(diagnostics.infos)} note(s) on what the build adjusted", file=sys.stderr)


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


def cmd_check(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    from pipeline.check import check_manuscript, fix_counts
    from pipeline.config import load_config
    from pipeline.fsutil import prepare_output_folder

    config = load_config(args.manuscript, diagnostics)
    cache = prepare_output_folder(args.out) / "cache"
    report = check_manuscript(config, diagnostics, cache, release=args.release)
    if args.fix_counts:
        changed = fix_counts(report)
        for path in changed:
            reporter.say(f"updated word_count/anecdote_count in {display_path(path)}")
        if changed:
            diagnostics.clear()
            config = load_config(args.manuscript, diagnostics)
            report = check_manuscript(config, diagnostics, cache, release=args.release)
    for d in report.documents:
        declared = d.declared_length if d.declared_length is not None else "–"
        reporter.say(f"{display_path(d.document.path)}: {d.status}, declared {declared}, "
                     f"measured {d.measurement.length}, {len(d.measurement.anecdotes)} anecdote(s)")
    reporter.say(f"checked {len(report.documents)} document(s)")
    if diagnostics.errors:
        return EXIT_ERROR
    if diagnostics.warnings and args.strict:
        print("error: warnings count as errors with --strict.", file=sys.stderr)
        return EXIT_WARNINGS
    return 0


def cmd_status(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    from rich.console import Console

    from pipeline.check import check_manuscript
    from pipeline.config import load_config
    from pipeline.fsutil import prepare_output_folder
    from pipeline.status import build_status, measure_history, print_table, write_status_files

    config = load_config(args.manuscript, diagnostics)
    report = check_manuscript(config, diagnostics, prepare_output_folder(args.out) / "cache")
    summary = build_status(report, dt.date.today())
    if args.history:
        summary.history = measure_history(config.root, [(d.document.path, d.document.kind) for d in report.documents],
                                          args.out / "cache")
    print_table(summary, Console(width=160) if not sys.stdout.isatty() else Console())
    for path in write_status_files(summary, args.out):
        reporter.say(f"wrote {display_path(path)}")
    return 0


def _book(args, reporter: Reporter, diagnostics: Diagnostics):
    from pipeline.build import build_book_checked
    return build_book_checked(args.manuscript, args.out, diagnostics=diagnostics, release=args.release,
                              draft=args.draft, reporter=reporter)


def cmd_diagrams(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    from pipeline.build import render_manuscript_diagrams
    from pipeline.check import check_manuscript
    from pipeline.config import load_config
    from pipeline.fsutil import build_lock
    with build_lock(args.out):
        report = check_manuscript(load_config(args.manuscript, diagnostics), diagnostics, args.out / "cache")
        rendered = render_manuscript_diagrams(report, args.out, reporter=reporter)
    count = sum(len(diagrams) for diagrams in rendered.values())
    reporter.say(f"{count} diagram(s) ready in {display_path(args.out / 'cache' / 'diagrams')}")
    return 0


def cmd_assemble(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    from pipeline.build import write_book_html
    from pipeline.fsutil import build_lock
    with build_lock(args.out):
        book = _book(args, reporter, diagnostics)
        reporter.say(f"wrote {display_path(write_book_html(book, args.out / 'book.html'))}")
    return 0


def _write_epub(book, args, reporter: Reporter, diagnostics: Diagnostics, target: Path) -> None:
    from pipeline.epub import progress_total, write_epub
    with reporter.bar("writing the EPUB", progress_total(book)) as advance:
        write_epub(book, target, cache_dir=args.out / "cache", progress=advance, diagnostics=diagnostics)


def _write_pdf(book, args, reporter: Reporter, diagnostics: Diagnostics, target: Path) -> None:
    from pipeline.pdf_parallel import write_book_pdf
    with reporter.bar("laying out the PDF", 3) as advance:
        write_book_pdf(book, target, variant=args.variant, crop_marks=args.marks, progress=advance,
                       diagnostics=diagnostics, cache_dir=args.out / "cache")


def _write_screen_pdf(book, args, reporter: Reporter, diagnostics: Diagnostics, target: Path) -> None:
    from pipeline.pdf_parallel import write_book_pdf
    with reporter.bar("laying out the screen PDF", 3) as advance:
        write_book_pdf(book, target, progress=advance, diagnostics=diagnostics, cache_dir=args.out / "cache",
                       target="screen")


# format -> (file in --out, its writer), in the order `all` writes them
OUTPUTS = {"epub": ("book.epub", _write_epub), "pdf": ("book.pdf", _write_pdf),
           "pdf-screen": ("book-screen.pdf", _write_screen_pdf)}


def _build_outputs(args, reporter: Reporter, diagnostics: Diagnostics, formats: tuple[str, ...]) -> int:
    """Build, write each format into a staging folder, publish them together."""
    from pipeline.fsutil import build_lock, staged_outputs
    from pipeline.processes import return_memory
    with build_lock(args.out):
        if any(name.startswith("pdf") for name in formats):
            from pipeline.pdf_parallel import prestart
            prestart()          # a layout worker starts while the manuscript is read and checked
        book = _book(args, reporter, diagnostics)
        with staged_outputs(args.out) as staging:
            for number, name in enumerate(formats):
                if number or len(formats) > 1:
                    # What reading, diagrams or the last writer freed, before this writer starts its
                    # workers; a one-format build (the edit loop) skips the first (0.2 s).
                    return_memory()
                file_name, write = OUTPUTS[name]
                write(book, args, reporter, diagnostics, staging.path(file_name))
    for name in formats:
        reporter.say(f"wrote {display_path(args.out / OUTPUTS[name][0])}")
    return 0


def cmd_epub(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    return _build_outputs(args, reporter, diagnostics, ("epub",))


def cmd_pdf(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    return _build_outputs(args, reporter, diagnostics, ("pdf-screen",) if args.target == "screen" else ("pdf",))


def cmd_all(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    return _build_outputs(args, reporter, diagnostics, tuple(OUTPUTS))


def cmd_validate(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    from pipeline.validate import validate_main
    return validate_main(args.out / "book.epub", args.out, reporter)


def cmd_preview(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    from pipeline.preview import serve
    try:
        serve(args.manuscript, args.out, port=args.port, release=args.release, draft=args.draft, reporter=reporter)
    except (KeyboardInterrupt, Terminated):
        print("preview stopped.", file=sys.stderr)     # how a server is meant to end, not a failure
    return 0


def cmd_init(args, reporter: Reporter, diagnostics: Diagnostics) -> int:
    from pipeline.scaffold import scaffold
    made = scaffold(args.folder)
    parts = f"in {len(made.parts)} parts, as SUMMARY.md has them" if made.parts else "in one part"
    reporter.say(f"wrote {display_path(made.path)}: {len(made.chapters)} chapter(s), "
                 f"{len(made.articles)} article(s) {parts}")
    for name, why in made.skipped:
        reporter.say(f"  left out {name}: {why}")
    reporter.say("next: fill in title and authors in book.yaml, check the order, then run "
                 f"python -m pipeline check --manuscript {args.folder}")
    return 0


COMMANDS = {"init": cmd_init, "check": cmd_check, "status": cmd_status, "diagrams": cmd_diagrams, "assemble": cmd_assemble,
            "epub": cmd_epub, "pdf": cmd_pdf, "all": cmd_all, "validate": cmd_validate, "preview": cmd_preview}
