"""A parallel print-PDF writer (prototype): the body is laid out in chunks by worker processes.

Same output as pipeline.pdf.write_pdf (same pages, folios, TOC numbers, links, bookmarks,
metadata, boxes), from the same print HTML (pipeline.pdf.render_html), cut into pieces:

* front matter (title page, copyright page, TOC) and `chunks` body pieces laid out by a pool
  of `workers` processes (started before the print HTML is built), each piece
  starting at an item that begins on a right-hand page (chapter, appendix, part title), so
  every page keeps its left/right parity;
* every piece but the last ends with an empty *sentinel* section shaped like the next
  piece's first item: the blank verso the whole book would insert before it is laid out
  exactly as in the single pass, and the sentinel's own page is dropped;
* the folios: page numbers only appear in margin boxes, and WeasyPrint lays out the margin
  boxes after pagination (layout_document's last loop). A worker reports its page count at
  that point and waits for its offset (the pages of the chunks before it); the parent answers
  as soon as the counts of the earlier chunks are in, and the worker shifts the page counter
  of its margin boxes. No chunk is laid out twice;
* the TOC needs every chapter's folio: the front matter is laid out last (in the parent, while
  the workers write their PDFs), with the numbers written in (`data-page` + attr()) instead of
  target-counter();
* links to an anchor in another piece would be dropped by WeasyPrint; they are written as
  URI links to `x-chunk:<anchor>` and turned back into named destinations when the pieces
  are merged (qpdf, through pikepdf); the /Dests name tree is rebuilt over the merged pages.

PDF/X falls back to the single-pass writer (one OutputIntent, one document).

Known limits of the prototype: every piece embeds its own font subsets, so the file is larger
(580 pages: 3.2 MB single pass, ~5.6 MB with 2 pieces, ~7.5 MB with 4); the second /ID
element (a hash of the file) differs; the folio hook uses WeasyPrint internals
(weasyprint.layout.make_margin_boxes, LayoutContext.page_maker) checked against WeasyPrint 70.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import multiprocessing.connection
import os
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from pipeline import pdf as single
from pipeline import textlayer
from pipeline.book import Book
from pipeline.errors import PipelineError
from pipeline.fsutil import atomic_output, atomic_write_text
from pipeline.tree import visible_strings

CHUNK_SCHEME = "x-chunk:"
# The last call's figures, for benchmarks: seconds since the start at the end of each step
# (html, layout, front, written, merge) and each process's peak RSS in MB (*_peak_mb).
TIMINGS: dict[str, float] = {}
# Page references print literal numbers; when one changes a line break, the pages it points
# at can move, so the layout is run again until they settle (LaTeX's reruns), at most this often.
MAX_ROUNDS = 3
PAGES_CACHE = "pdf-pages.json"


@dataclass
class Piece:
    name: str
    html: str
    sentinel: bool          # the last page is a sentinel page, dropped


# ---------------------------------------------------------------- public API

# Below about 60,000 characters of text (~100 pages) process start-up costs more than the
# second core gains: the 36-page bundled book takes 3.1 s in parallel, 1.8 s in one pass.
PARALLEL_MIN_TEXT_CHARS = 60_000


def write_book_pdf(book: Book, out_path: Path, *, variant: str | None = None,
                   crop_marks: bool | None = None, progress=None, diagnostics=None,
                   cache_dir: Path | None = None) -> Path:
    """The print PDF, in one pass or in parallel as book.yaml's print.parallel says."""
    mode, cores = book.config.print.parallel, os.cpu_count() or 1
    big = sum(len(text) for s in book.sections() for text in visible_strings(s.body)) >= PARALLEL_MIN_TEXT_CHARS
    if cores >= 2 and (mode == "on" or (mode == "auto" and big)):
        return write_pdf_parallel(book, out_path, variant=variant, crop_marks=crop_marks,
                                  workers=min(cores, 4), progress=progress, diagnostics=diagnostics,
                                  cache_dir=cache_dir)
    return single.write_pdf(book, out_path, variant=variant, crop_marks=crop_marks, progress=progress,
                            diagnostics=diagnostics, cache_dir=cache_dir)


def write_pdf_parallel(book: Book, out_path: Path, *, variant: str | None = None,
                       crop_marks: bool | None = None, workers: int = 2, progress=None,
                       chunks: int | None = None, start_method: str = "spawn", diagnostics=None,
                       cache_dir: Path | None = None) -> Path:
    """Write the print PDF like pipeline.pdf.write_pdf, laying the body out in `workers` processes.

    chunks: how many body pieces (default: 2 x workers, at most one per chapter-like item);
    more pieces than workers lowers each process's memory (580 pages, 2 workers: 4 pieces
    1.36 GB summed peak RSS, 2 pieces 1.76 GB) for about one more process start-up each. start_method: multiprocessing
    context ("spawn": fresh interpreters that do not inherit the caller's memory; "fork").
    cache_dir keeps the folios of the last build, so that page references usually settle in one round.
    """
    out_path = Path(out_path).resolve()
    options = single.resolve_options(book, variant, crop_marks, cache_dir)
    if options.pdfx or workers < 2:
        return single.write_pdf(book, out_path, variant=variant, crop_marks=crop_marks, progress=progress,
                                diagnostics=diagnostics, cache_dir=cache_dir)
    advance = progress or (lambda done, total: None)
    started = time.perf_counter()
    TIMINGS.clear()
    single.check_fonts(book, options)
    single.report_missing_glyphs(book, diagnostics)
    pages_file = Path(cache_dir) / PAGES_CACHE if cache_dir else None
    known = _read_pages(pages_file)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    base_url = str(book.config.root) + "/"
    fetch_args = (single.allowed_roots(book, out_path), single.readable_files(book, options))
    # The workers start now: they import WeasyPrint while this process builds the print HTML.
    with single.font_timestamps(book), \
            _Pool(mp.get_context(start_method), workers, (base_url, fetch_args, single.pdf_options(book, options))) \
            as pool, tempfile.TemporaryDirectory(prefix=".pdfpar-", dir=out_path.parent) as tmp:
        for round_number in range(1, MAX_ROUNDS + 1):
            document = single.print_document(book, options, pages=known)
            TIMINGS["html"] = round(time.perf_counter() - started, 2)
            advance(1, single.STAGES)
            refs = set().union(*(item.page_refs for item in document.items))
            anchors, warnings, paths, text_layers = _lay_out(book, options, document, Path(tmp), pool, chunks,
                                                             advance, started)
            settled = all(known.get(ref) == anchors.get(ref) for ref in refs)
            known = anchors
            if settled:
                break
        else:
            if diagnostics is not None:
                diagnostics.add("pdf-layout", f"page references still moved after {MAX_ROUNDS} layouts; "
                                "some may be one page off.", hint="Build again; the next build starts from these pages.")
        single.report_layout_warnings(warnings, diagnostics, book)
        merge(paths, out_path)
        textlayer.report(textlayer.Stats.total(text_layers), diagnostics)
        TIMINGS["merge"] = round(time.perf_counter() - started, 2)
        TIMINGS["rounds"] = round_number
    _write_pages(pages_file, known)
    TIMINGS["parent_peak_mb"] = _hwm_mb()
    advance(single.STAGES, single.STAGES)
    return out_path


def _read_pages(path: Path | None) -> dict[str, int]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def _write_pages(path: Path | None, pages: dict[str, int]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(pages, sort_keys=True))


def _lay_out(book: Book, options, document, tmp: Path, pool: "_Pool", chunks: int | None,
             advance, started: float) -> tuple[dict[str, int], list[str], list[Path]]:
    """One layout of the whole book: the body pieces in the pool's workers, the front matter here.
    Returns every anchor's folio, WeasyPrint's warnings and the PDFs to merge, in order."""
    def lap(name):
        TIMINGS[name] = round(time.perf_counter() - started, 2)

    items = glue_articles(document.items)
    groups = balance([len(item.html) for item in items], chunks or 2 * len(pool.workers))
    base_url, fetch_args, pdf_options = pool.arguments
    pieces = []
    for n, (start, stop) in enumerate(groups):
        body = "".join(item.html for item in items[start:stop])
        last = stop == len(items)
        body += "" if last else single.sentinel_html(items[stop])
        pieces.append(Piece(f"body{n}", document.head + body + document.tail, sentinel=not last))

    idle = list(pool.workers)
    running: dict[int, tuple] = {}          # piece index -> (process, connection) laying it out
    counts: dict[int, int] = {}
    anchors: dict[str, int] = {}            # anchor -> folio (arabic page counter)
    warnings: list[str] = []
    laid_out, written = set(), set()
    text_layers: list = []                  # each piece's text-layer pass (textlayer.Stats)
    next_piece, next_offset, offset = 0, 0, 0
    front_pdf = tmp / "front.pdf"
    front_done = False
    while len(written) < len(pieces) or not front_done:
        # Pieces go to idle workers in order, so every piece a running one waits for is
        # running or done (no deadlock).
        while next_piece < len(pieces) and idle:
            piece = pieces[next_piece]
            proc, conn = idle.pop(0)
            conn.send((piece, str(tmp / f"{piece.name}.pdf")))
            running[next_piece] = (proc, conn)
            next_piece += 1
        if len(laid_out) == len(pieces) and not front_done:
            advance(2, single.STAGES)
            lap("layout")
            # The front matter, TOC numbers written in, while the workers write their PDFs.
            front = (single.head_html(book, options, literal_pages=True)
                     + single.front_html(book, options, anchors)
                     + single.sentinel_html(items[0]) + document.tail)
            with single.layout_warnings() as caught:
                text_layers.append(_render_piece(Piece("front", front, sentinel=True), base_url, fetch_args,
                                                 pdf_options, str(front_pdf), conn=None))
            warnings += caught
            front_done = True
            lap("front")
            continue
        if not running:
            continue
        ready = mp.connection.wait([c for _, c in running.values()]
                                   + [p.sentinel for p, _ in running.values()])
        for index, (proc, conn) in list(running.items()):
            if conn not in ready and proc.sentinel not in ready:
                continue
            if not conn.poll():
                if proc.is_alive():
                    continue
                raise PipelineError(f"parallel PDF: the worker {proc.name} exited "
                                    f"(code {proc.exitcode}) before it finished.")
            kind, value = conn.recv()
            if kind == "error":
                raise PipelineError(f"laying out the PDF failed in {proc.name}: {value}")
            if kind == "count":
                counts[index] = value
                # Folios: piece k starts after the pages of pieces 0..k-1 (piece 0 resets to 1).
                while next_offset in counts:
                    running_piece = running.get(next_offset)
                    running_piece[1].send(offset)
                    offset += counts[next_offset]
                    next_offset += 1
            elif kind == "laid-out":
                laid_out.add(index)
                for name, folio in value["anchors"].items():
                    anchors.setdefault(name, folio)
            elif kind == "written":
                written.add(index)
                TIMINGS[f"worker{index}_peak_mb"] = value["peak_mb"]
                warnings += value["warnings"]
                text_layers.append(textlayer.Stats(**value["text_layer"]))
                idle.append(running.pop(index))
    lap("written")
    return anchors, warnings, [front_pdf, *(tmp / f"{p.name}.pdf" for p in pieces)], text_layers


def glue_articles(items: list) -> list:
    """Pieces are cut only where a new right-hand page begins (chapter, appendix, part title):
    an article (break-before: page) stays with what precedes it."""
    glued = []
    for item in items:
        if item.recto or not glued:
            glued.append(dataclasses.replace(item))
        else:
            last = glued[-1]
            glued[-1] = dataclasses.replace(last, html=last.html + item.html,
                                            page_refs=last.page_refs | item.page_refs)
    return glued


def balance(weights: list[int], parts: int) -> list[tuple[int, int]]:
    """Cut the items into at most `parts` consecutive groups of about equal weight."""
    parts = max(1, min(parts, len(weights)))
    total = sum(weights)
    groups, start, acc = [], 0, 0
    for i, w in enumerate(weights):
        acc += w
        left = parts - len(groups) - 1          # cuts still to make after this group
        if left and i + 1 < len(weights) and acc >= total * (len(groups) + 1) / parts - w / 2 \
                and len(weights) - (i + 1) >= left:
            groups.append((start, i + 1))
            start = i + 1
    groups.append((start, len(weights)))
    return groups


# ---------------------------------------------------------------- workers

def _hwm_mb() -> float:
    """This process's peak RSS (VmHWM) in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return 0.0


class _Pool:
    """`size` worker processes, each laying out one piece after another as the parent sends
    them (a piece and the path of its PDF; None to stop). Started before the print HTML is
    built, so that their start-up (0.7 s: Python, WeasyPrint, Pango) overlaps it; one process
    a worker rather than one a piece saves that start-up for every piece after the first."""

    def __init__(self, ctx, size: int, arguments: tuple):
        self.arguments = arguments
        self.workers = []
        for number in range(size):
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_worker, name=f"pdf-worker{number}", args=(child_end, *arguments))
            proc.start()
            child_end.close()
            self.workers.append((proc, parent_end))

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        for proc, conn in self.workers:
            try:
                if kind is None:
                    conn.send(None)
            except OSError:
                pass
            conn.close()
            if kind is not None:
                proc.kill()
            proc.join()
        return False


def _worker(conn, base_url, fetch_args, pdf_options):
    try:
        while (task := conn.recv()) is not None:
            piece, out = task
            try:
                _render_piece(piece, base_url, fetch_args, pdf_options, out, conn)
            except PipelineError as error:
                conn.send(("error", str(error)))
            except BaseException as error:   # noqa: BLE001 - reported to the parent as a message
                conn.send(("error", f"{type(error).__name__}: {error} "
                                    f"(at {traceback.extract_tb(error.__traceback__)[-1].name})"))
    except EOFError:
        pass                            # the parent is gone
    finally:
        conn.close()
        os._exit(0)


def _render_piece(piece: Piece, base_url, fetch_args, pdf_options, out, conn):
    """Lay out one piece; with conn, report the page count and shift the folios by the answer."""
    import weasyprint.layout as wlayout
    from weasyprint import HTML

    original = wlayout.make_margin_boxes
    shift = {"offset": None}

    def margin_boxes(context, page, state):
        if shift["offset"] is None:
            count = len(context.page_maker) - 1 - (1 if piece.sentinel else 0)
            if conn is not None:
                conn.send(("count", count))
                shift["offset"] = conn.recv()
            else:
                shift["offset"] = 0
        if shift["offset"]:
            quote_depth, counters, *rest = state
            counters = dict(counters)
            counters["page"] = [v + shift["offset"] for v in counters["page"]]
            state = (quote_depth, counters, *rest)
        return original(context, page, state)

    fetcher = single.SafeFetcher(fetch_args[0], extra_files=fetch_args[1])
    wlayout.make_margin_boxes = margin_boxes
    try:
        with single.layout_warnings() as warnings:
            document = HTML(string=piece.html, base_url=base_url, url_fetcher=fetcher).render()
    except single.RefusedURL as exc:
        raise PipelineError(str(exc)) from None
    finally:
        wlayout.make_margin_boxes = original
    if piece.sentinel:
        del document.pages[-1]
    offset = shift["offset"] or 0
    anchors, present = {}, set()
    for number, page in enumerate(document.pages, start=1):
        for name in page.anchors:
            anchors.setdefault(name, offset + number)
            present.add(name)
    # Links to anchors in other pieces: URI links for now, named destinations after the merge.
    for page in document.pages:
        page.links[:] = [("external", CHUNK_SCHEME + target, rect, box)
                         if kind == "internal" and target not in present else (kind, target, rect, box)
                         for kind, target, rect, box in page.links]
    if conn is not None:
        conn.send(("laid-out", {"pages": len(document.pages), "anchors": anchors}))
    # The text layer without the justification spaces (pipeline/textlayer.py), piece by piece,
    # so that the pass runs in the workers rather than once over the merged book.
    stats = textlayer.clean_text_layer(document.write_pdf(**pdf_options), Path(out))
    if conn is not None:
        conn.send(("written", {"peak_mb": _hwm_mb(), "warnings": warnings, "text_layer": dataclasses.asdict(stats)}))
    return stats


# ---------------------------------------------------------------- merging

def merge(paths: list[Path], out_path: Path) -> None:
    """One PDF of the pieces, in order, with qpdf (pikepdf): pages, bookmarks, every named
    destination, links across pieces, and the front piece's metadata, language and /ID.
    (pypdf took 1.5 s over the 576-page bench book, this 0.2 s.)"""
    sources = [pikepdf.open(str(p)) for p in paths]
    out = pikepdf.new()
    dests: dict[str, pikepdf.Array] = {}
    for source in sources:
        start = len(out.pages)
        out.add_pages_from(source, forms="strip", layers="ignore", outlines="preserve")
        copied = {page.objgen: out.pages[start + index].obj for index, page in enumerate(source.pages)}
        # Every anchor, first one wins (as WeasyPrint's resolve_links); add_pages_from carries only
        # the destinations its own pages' links use, and links into other pieces are URIs yet.
        for name, dest in _named_destinations(source):
            if name not in dests and isinstance(dest, pikepdf.Array) and len(dest) and dest[0].objgen in copied:
                dests[name] = pikepdf.Array([copied[dest[0].objgen], *(out.copy_foreign(v) if isinstance(
                    v, pikepdf.Object) and v.is_indirect else v for v in list(dest)[1:])])
    names = pikepdf.Array()
    for name in sorted(dests):
        names.append(pikepdf.String(name))
        names.append(dests[name])
    out.Root.Names = pikepdf.Dictionary(Dests=out.make_indirect(pikepdf.Dictionary(Names=names)))
    if "/Dests" in out.Root:
        del out.Root["/Dests"]
    for page in out.pages:
        for annot in page.obj.get("/Annots", []):
            action = annot.get("/A")
            uri = str(action.get("/URI", "")) if action is not None else ""
            if uri.startswith(CHUNK_SCHEME):
                del annot["/A"]
                annot.Dest = pikepdf.String(uri[len(CHUNK_SCHEME):])
    front = sources[0]
    out.docinfo = out.copy_foreign(front.docinfo)
    if "/Lang" in front.Root:
        out.Root.Lang = pikepdf.String(str(front.Root.Lang))
    if "/ID" in front.trailer:
        out.trailer.ID = pikepdf.Array([pikepdf.String(bytes(v)) for v in front.trailer.ID])
    with atomic_output(out_path) as temp:
        # the front's first /ID element (WeasyPrint's identifier) stays; the second is the content's
        out.save(str(temp), deterministic_id=True, fix_metadata_version=False, min_version=front.pdf_version)
    for source in sources:
        source.close()


def _named_destinations(pdf):
    """(name, destination array) of a PDF's /Names /Dests tree (WeasyPrint writes it flat)."""
    names = pdf.Root.get("/Names")
    tree = names.get("/Dests") if names is not None else None
    if tree is None:
        return
    stack = [tree]
    while stack:
        node = stack.pop()
        array = node.get("/Names")
        if array is not None:
            for index in range(0, len(array) - 1, 2):
                dest = array[index + 1]
                if isinstance(dest, pikepdf.Dictionary) and "/D" in dest:
                    dest = dest.D
                yield str(array[index]), dest
        stack.extend(reversed(list(node.get("/Kids", []))))
