"""The print PDF laid out in worker processes, item by item, with a layout cache.

Same output as pipeline.pdf.write_pdf (same pages, folios, TOC numbers, links, bookmarks,
metadata, boxes), from the same print HTML (pipeline.pdf.print_document), cut into pieces:

* the body is cut before each item that begins on a right-hand page (chapter, appendix, part
  title with its articles), so every page keeps its left/right parity. Items the layout cache
  (pipeline/layout_cache.py) holds are not laid out again; the others are grouped into pieces
  of consecutive items (about 2 x workers pieces on a cold build) and laid out by a pool of
  `workers` processes started before the print HTML is built;
* every piece but the last ends with an empty *sentinel* section shaped like the next item:
  the blank verso the whole book would insert before it is laid out exactly as in the single
  pass, and the sentinel's own page is dropped;
* the folios: page numbers only appear in margin boxes, and WeasyPrint lays out the margin
  boxes after pagination (layout_document's last loop). A worker reports its page count at
  that point and waits for its offset (the pages of everything before it, known at once for
  cached items); the worker shifts the page counter of its margin boxes. A cached item whose
  offset moved (an item before it changed length) is laid out again, after the new ones;
* each piece's PDF is kept in the cache with an entry for each of its items (where its pages
  start, its anchors); the merge takes each item's pages from there, and the items of one
  piece share its font programs;
* the TOC needs every chapter's folio: the front matter is laid out in the parent as soon as
  they are known (while the workers write their PDFs), with the numbers written in
  (`data-page` + attr()) instead of target-counter(); it is cached too. The index (索引,
  pipeline/subject_index.py) prints the pages of everything before it: it is the *late* item,
  laid out in the parent once every other item's folios are known, before the front;
* links to an anchor in another piece would be dropped by WeasyPrint; they are written as
  URI links to `x-chunk:<anchor>` and turned back into named destinations when the items
  are merged (qpdf, through pikepdf); the /Dests name tree is rebuilt over the merged pages.

PDF/X falls back to the single-pass writer (one OutputIntent, one document).

Pieces laid out in different processes embed their own font subsets; the merge gives each face
one program again (pipeline/font_subsets.py; 580 pages: 3.2 MB single pass, 7.4 MB in 4
pieces before, 4.1 MB after). Limits: a change of length re-lays every later item for its folios
(stamping folios over cached pages would avoid it); the folio hook uses WeasyPrint internals
(weasyprint.layout.make_margin_boxes, LayoutContext.page_maker) checked against WeasyPrint 70.
"""
from __future__ import annotations

import atexit
import dataclasses
import gc
import multiprocessing as mp
import multiprocessing.connection
import os
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from pipeline import font_subsets, layout_cache, pdf_tags
from pipeline import pdf as single
from pipeline import textlayer
from pipeline.book import Book
from pipeline.errors import PipelineError
from pipeline.fsutil import save_pdf
from pipeline.subject_index import INDEX_ID
from pipeline.processes import return_memory
from pipeline.tree import visible_strings

CHUNK_SCHEME = "x-chunk:"
# The last call's figures, for benchmarks: seconds since the start at the end of each step
# (html, layout, front, written, merge) and each process's peak RSS in MB (*_peak_mb).
TIMINGS: dict[str, float] = {}
# Page references print literal numbers; when one changes a line break, the pages it points
# at can move, so the layout is run again until they settle (LaTeX's reruns), at most this often.
MAX_ROUNDS = single.MAX_ROUNDS
MAX_PIECE_HTML = 200_000    # characters of print HTML a piece (about 75 pages) in a long book: see _pieces
LONG_BOOK_HTML = 2_000_000  # (about 800 pages)
PAGES_CACHE = single.PAGES_CACHE


@dataclass
class Piece:
    name: str
    html: str
    sentinel: bool          # the last page is a sentinel page, dropped
    items: tuple = ()       # (item id, layout_cache key) of the items it holds, in order (None: from page 1)
    store: str = ""         # the layout cache's folder, where each item's PDF goes


# ---------------------------------------------------------------- public API

# Below about 60,000 characters of text (~100 pages) process start-up costs more than the
# second core gains: the 36-page bundled book takes 3.1 s in parallel, 1.8 s in one pass.
PARALLEL_MIN_TEXT_CHARS = 60_000


def write_book_pdf(book: Book, out_path: Path, *, variant: str | None = None,
                   crop_marks: bool | None = None, progress=None, diagnostics=None,
                   cache_dir: Path | None = None, target: str = "print") -> Path:
    """The print (or screen) PDF, in one pass or in parallel as book.yaml's print.parallel says."""
    mode, cores = book.config.print.parallel, os.cpu_count() or 1
    big = sum(len(text) for s in book.sections() for text in visible_strings(s.body)) >= PARALLEL_MIN_TEXT_CHARS
    if cores >= 2 and (mode == "on" or (mode == "auto" and big)):
        return write_pdf_parallel(book, out_path, variant=variant, crop_marks=crop_marks,
                                  workers=min(cores, 4), progress=progress, diagnostics=diagnostics,
                                  cache_dir=cache_dir, target=target)
    return single.write_pdf(book, out_path, variant=variant, crop_marks=crop_marks, progress=progress,
                            diagnostics=diagnostics, cache_dir=cache_dir, target=target)


def write_pdf_parallel(book: Book, out_path: Path, *, variant: str | None = None,
                       crop_marks: bool | None = None, workers: int = 2, progress=None,
                       chunks: int | None = None, start_method: str = "spawn", diagnostics=None,
                       cache_dir: Path | None = None, target: str = "print") -> Path:
    """Write the print PDF like pipeline.pdf.write_pdf, laying the body out in `workers` processes.

    chunks: how many body pieces (default: 2 x workers, 3 x for a tagged PDF; at most one per
    chapter-like item);
    more pieces than workers lowers each process's memory (580 pages, 2 workers: 4 pieces
    1.36 GB summed peak RSS, 2 pieces 1.76 GB) for about one more process start-up each. start_method: multiprocessing
    context ("spawn": fresh interpreters that do not inherit the caller's memory; "fork").
    cache_dir keeps the folios of the last build, so that page references usually settle in one round.
    """
    out_path = Path(out_path).resolve()
    options = single.resolve_options(book, variant, crop_marks, cache_dir, diagnostics, target)
    if options.pdfx or workers < 2:
        return single.write_pdf(book, out_path, variant=variant, crop_marks=crop_marks, progress=progress,
                                diagnostics=diagnostics, cache_dir=cache_dir, target=target)
    advance = progress or (lambda done, total: None)
    started = time.perf_counter()
    TIMINGS.clear()
    single.report_missing_glyphs(book, options, diagnostics)
    pages_file = Path(cache_dir) / single.pages_cache(options) if cache_dir else None
    known = single.read_pages(pages_file)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    base_url = str(book.config.root) + "/"
    fetch_args = (single.allowed_roots(book, out_path), single.readable_files(book, options))
    # The first worker starts now (unless the CLI started it before reading the manuscript), so
    # that it imports WeasyPrint while this process builds the print HTML.
    with single.font_timestamps(book), \
            _pool(start_method, workers) as pool, \
            tempfile.TemporaryDirectory(prefix=".pdfpar-", dir=out_path.parent) as tmp:
        pool.arguments = (base_url, fetch_args, single.pdf_options(book, options))
        cache = layout_cache.ItemCache(Path(cache_dir) / (layout_cache.FOLDER + options.cache_suffix) if cache_dir
                                       else Path(tmp) / "items")
        fingerprint = layout_cache.fingerprint(options.fonts.files())
        for round_number in range(1, MAX_ROUNDS + 1):
            document = single.print_document(book, options, pages=known)
            TIMINGS["html"] = round(time.perf_counter() - started, 2)
            advance(1, single.STAGES)
            refs = set().union(*(item.page_refs for item in document.items if item.id != INDEX_ID))
            anchors, warnings, parts, text_layers = _lay_out(book, options, document, Path(tmp), pool, chunks,
                                                             advance, started, cache, fingerprint)
            settled = all(known.get(ref) == anchors.get(ref) for ref in refs)
            known = anchors
            if settled:
                break
        else:
            single.report_unsettled(diagnostics, "page references")
        pool.close()            # the workers' memory goes back before the merge needs its own
        single.report_layout_warnings(warnings, diagnostics, book)
        merge(parts, out_path, cache_dir, finish=lambda pdf, tree: single.finish_pdf(pdf, book, options, tree),
              tagged=options.tagged)
        cache.prune()
        single.prune_typeset_cache(options.cache_dir)
        textlayer.report(textlayer.Stats.total(text_layers), diagnostics)
        TIMINGS["merge"] = round(time.perf_counter() - started, 2)
        TIMINGS["rounds"] = round_number
    single.write_pages(pages_file, known)
    TIMINGS["parent_peak_mb"] = _hwm_mb()
    advance(single.STAGES, single.STAGES)
    return out_path


@dataclass
class _Unit:
    """A right-hand item of the body as the cache sees it."""
    item: object                # pipeline.pdf.PrintItem
    html: str                   # the item and the sentinel after it
    sentinel: bool
    key: str                    # layout_cache.content_key
    pages: int | None           # known before any layout when the key is cached
    entry: layout_cache.Entry | None = None


def _lay_out(book: Book, options, document, tmp: Path, pool: "_Pool", chunks: int | None,
             advance, started: float, cache: layout_cache.ItemCache, fingerprint: str
             ) -> tuple[dict[str, int], list[str], list[Path], list]:
    """One layout of the whole book: the items the cache does not hold in the pool's workers, the
    front matter here. Returns every anchor's folio, WeasyPrint's warnings, the PDFs to merge in
    order, and the text-layer figures."""
    def lap(name):
        TIMINGS[name] = round(time.perf_counter() - started, 2)

    base_url, fetch_args, pdf_options = pool.arguments
    items = glue_articles(document.items)
    # The index prints the pages of everything before it: laid out last, once they are known.
    late = items[-1] if len(items) > 1 and items[-1].id == INDEX_ID else None
    settings = repr(sorted(pdf_options.items()))
    units = []
    for index, item in enumerate(items[:-1] if late else items):
        last = index + 1 == len(items)
        html = item.html + ("" if last else single.sentinel_html(items[index + 1]))
        key = layout_cache.content_key(fingerprint, document.head, html, document.tail, settings)
        units.append(_Unit(item, html, not last, key, cache.pages_of(key)))
    # A tagged piece takes a third more memory to write (its structure tree): smaller pieces.
    parts = chunks or (3 if options.tagged else 2) * pool.size

    def in_parent(name: str, html: str, item_id: str | None, key: str, offset: int, sentinel: bool):
        """One piece laid out here (a short one, once the folios are known), unless the cache has it."""
        entry = cache.lookup(key, offset)
        if entry is None:
            with single.layout_warnings() as caught:
                entry = _render_piece(Piece(name, html, sentinel=sentinel, items=((item_id, key),),
                                            store=str(cache.folder)),
                                      base_url, fetch_args, pdf_options, str(tmp / f"{name}.pdf"), conn=None,
                                      offset=offset)[0]
            entry.warnings = caught
            cache.add(entry)
        return entry

    def finish(anchors: dict[str, int], offset: int) -> tuple:
        """The late item (the index, its pages written in, after `offset` pages), then the front
        matter, whose TOC numbers (written in too) include the index's page."""
        late_entry = None
        if late is not None:
            item = single.section_print_item(book, next(s for s in book.appendices if s.id == INDEX_ID), options,
                                             pages=anchors)
            late_entry = in_parent(f"items{len(units)}", document.head + item.html + document.tail, item.id,
                                   layout_cache.content_key(fingerprint, document.head, item.html, document.tail,
                                                            settings), offset, sentinel=False)
            anchors = {**late_entry.anchors, **anchors}
        front = (single.head_html(book, options, literal_pages=True) + single.front_html(book, options, anchors)
                 + single.sentinel_html(items[0]) + document.tail)
        front_entry = in_parent("front", front, None, layout_cache.content_key(fingerprint, front, settings), 0,
                                sentinel=True)
        return late_entry, front_entry, anchors

    early: dict = {}

    def front_while_writing(layouts: dict[int, dict]) -> None:
        # When no cached item will have to be laid out again, every folio is known as soon as the
        # new items are laid out: the front is laid out while the workers write their PDFs.
        anchors, offset = {}, 0
        for number, unit in enumerate(units):
            if number in layouts:
                found, pages = layouts[number]["anchors"], layouts[number]["pages"]
            else:
                entry = cache.lookup(unit.key, offset)
                if entry is None:
                    return
                found, pages = entry.anchors, entry.pages
            for name, folio in found.items():
                anchors.setdefault(name, folio)
            offset += pages
        advance(2, single.STAGES)
        lap("layout")
        early["anchors"] = dict(anchors)
        early["finished"] = finish(anchors, offset)
        lap("front")

    # 1. The items never laid out: their page counts are not known until they are.
    fresh = [n for n, unit in enumerate(units) if unit.pages is None]
    _run(_pieces(units, fresh, parts, document, tmp, cache), units, pool, tmp, cache, front_while_writing)
    # 2. Every page count is known now, and so every item's first folio: the cached items whose
    # folios moved are laid out again (their text is the same; the numbers are not).
    offset, moved = 0, []
    for number, unit in enumerate(units):
        if unit.entry is None or unit.entry.offset != offset:
            unit.entry = cache.lookup(unit.key, offset)
            if unit.entry is None:
                moved.append(number)
        offset += unit.pages
    _run(_pieces(units, moved, parts, document, tmp, cache), units, pool, tmp, cache)
    TIMINGS["items_laid_out"] = TIMINGS.get("items_laid_out", 0) + len(fresh) + len(moved)

    anchors: dict[str, int] = {}
    warnings: list[str] = []
    text_layers = []
    for unit in units:
        for name, folio in unit.entry.anchors.items():
            anchors.setdefault(name, folio)
        warnings += unit.entry.warnings
        if unit.entry.text_layer:
            text_layers.append(textlayer.Stats(**unit.entry.text_layer))
    if early.get("anchors") == anchors:
        late_entry, front_entry, anchors = early["finished"]
    else:
        advance(2, single.STAGES)
        lap("layout")
        late_entry, front_entry, anchors = finish(anchors, offset)
        lap("front")
    for entry in (late_entry, front_entry):
        if entry is not None:
            warnings += entry.warnings
            if entry.text_layer:
                text_layers.append(textlayer.Stats(**entry.text_layer))
    lap("written")
    entries = (front_entry, *(u.entry for u in units), *((late_entry,) if late_entry else ()))
    parts = [(cache.pdf_path(entry), entry.first, entry.pages) for entry in entries]
    return anchors, warnings, parts, text_layers


def _pieces(units: list[_Unit], indexes: list[int], parts: int, document, tmp: Path,
            cache: layout_cache.ItemCache) -> list[tuple[Piece, list[int]]]:
    """The units to lay out, cut into pieces of consecutive items: about `parts` pieces in all,
    shared among the runs of consecutive units by length, at most one a unit."""
    runs: list[list[int]] = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    total = sum(len(units[i].html) for i in indexes) or 1
    # A worker's memory grows with the pages it lays out at once (WeasyPrint keeps the whole box
    # tree): 1,600 pages in 4 pieces peaked at 2.27 GB for the process tree, in pieces of about
    # 75 pages at 1.51 GB. Smaller pieces cost time (each writes its own fonts): 2.5 s more on the
    # 576-page book, whose 4 pieces stay at 1.36 GB; so only long books are cut finer.
    if total > LONG_BOOK_HTML:
        parts = max(parts, -(-total // MAX_PIECE_HTML))
    pieces = []
    for run in runs:
        weight = sum(len(units[i].html) for i in run)
        share = max(1, min(len(run), round(parts * weight / total)))
        for start, stop in balance([len(units[i].html) for i in run], share):
            members = run[start:stop]
            last = units[members[-1]]
            body = "".join(units[i].item.html for i in members) + (last.html[len(last.item.html):])
            name = f"items{members[0]}-{members[-1]}"
            pieces.append((Piece(name, document.head + body + document.tail, sentinel=last.sentinel,
                                 items=tuple((units[i].item.id, units[i].key) for i in members),
                                 store=str(cache.folder)), members))
    return pieces


def _run(pieces: list[tuple[Piece, list[int]]], units: list[_Unit], pool: "_Pool", tmp: Path,
         cache: layout_cache.ItemCache, when_laid_out=None) -> None:
    """Lay the pieces out in the pool's workers; each unit gets its cache entry (and page count).

    Folios: a worker reports its piece's page count and waits for the piece's offset, which is the
    pages of every unit before it: known at once for the units whose page count is cached, else
    as soon as the pieces holding them report theirs. Pieces go to idle workers in order, so
    every piece a running one waits for is running or done (no deadlock). when_laid_out(layouts),
    with each laid-out unit's {"pages", "anchors"}, runs here once every piece is laid out, while
    the workers write their PDFs."""
    if not pieces:
        if when_laid_out is not None:
            when_laid_out({})
        return
    layouts: dict[int, dict] = {}
    pool.ensure(len(pieces))
    idle = list(pool.workers)
    running: dict[int, tuple] = {}          # piece number -> (process, connection)
    counts: dict[int, int] = {}             # piece number -> its pages
    piece_of = {unit: number for number, (_piece, members) in enumerate(pieces) for unit in members}
    offset_sent: set[int] = set()
    next_piece, written = 0, 0

    def offset_of(number: int) -> int | None:
        first = pieces[number][1][0]
        total = 0
        seen_pieces = set()
        for index in range(first):
            owner = piece_of.get(index)
            if owner is None:
                if units[index].pages is None:
                    return None
                total += units[index].pages
            elif owner not in seen_pieces:
                seen_pieces.add(owner)
                if owner not in counts:
                    return None
                total += counts[owner]
        return total

    def send_offsets():
        for number, (proc, conn) in running.items():
            if number not in offset_sent and (offset := offset_of(number)) is not None:
                conn.send(offset)
                offset_sent.add(number)

    while written < len(pieces):
        while next_piece < len(pieces) and idle:
            piece = pieces[next_piece][0]
            proc, conn = idle.pop(0)
            conn.send((piece, str(tmp / f"{piece.name}.pdf"), pool.arguments, RETIRE_RSS_MB))
            running[next_piece] = (proc, conn)
            next_piece += 1
            send_offsets()
        ready = mp.connection.wait([c for _, c in running.values()] + [p.sentinel for p, _ in running.values()])
        for number, (proc, conn) in list(running.items()):
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
                counts[number] = value
                send_offsets()
            elif kind == "laid-out":
                layouts.update(zip(pieces[number][1], value))
                if when_laid_out is not None and len(layouts) == sum(len(m) for _p, m in pieces):
                    when_laid_out(layouts)
            elif kind == "written":
                written += 1
                TIMINGS[f"worker_{pieces[number][0].name}_peak_mb"] = value["peak_mb"]
                for index, data in zip(pieces[number][1], value["entries"]):
                    entry = layout_cache.Entry(**data)
                    cache.add(entry)
                    units[index].entry, units[index].pages = entry, entry.pages
                worker = running.pop(number)
                if value.get("retire"):
                    pool.retire(worker)
                    if next_piece < len(pieces):
                        pool.ensure(len(pool.workers) + 1)
                        idle.append(pool.workers[-1])
                else:
                    idle.append(worker)


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

def _hwm_mb(field: str = "VmHWM") -> float:
    """This process's peak RSS (VmHWM), or its RSS now (VmRSS), in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return 0.0


# A worker keeps the memory of the pieces it laid out (Python hands little back to the system):
# past this, it stops after its piece and a fresh one takes the next (0.7 s to start).
RETIRE_RSS_MB = 500


class _Pool:
    """Up to `size` worker processes, each laying out one piece after another as the parent sends
    them (a piece, the path of its PDF and the layout's settings; None to stop). The first starts
    early (see prestart), so that its start-up (0.7 s: Python, WeasyPrint, Pango) overlaps the
    parent's work; one process a worker rather than one a piece saves that start-up for every
    piece after the first."""

    def __init__(self, ctx, size: int):
        self.ctx, self.size = ctx, size
        self.arguments: tuple = ()
        self.workers = []
        # One now; the others when there is more than one piece to lay out (an edit has one, and
        # on two cores a third process would slow the parent building the HTML).
        self.ensure(1)

    def ensure(self, count: int) -> None:
        while len(self.workers) < min(count, self.size):
            parent_end, child_end = self.ctx.Pipe()
            proc = self.ctx.Process(target=_worker, name=f"pdf-worker{len(self.workers)}", args=(child_end,))
            proc.start()
            child_end.close()
            self.workers.append((proc, parent_end))
            TIMINGS["workers_started"] = TIMINGS.get("workers_started", 0) + 1

    def retire(self, worker) -> None:
        """Stop a worker that has grown too big (see RETIRE_RSS_MB)."""
        proc, conn = worker
        try:
            conn.send(None)
        except OSError:
            pass
        conn.close()
        proc.join()
        self.workers.remove(worker)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        self.close(failed=kind is not None)
        return False

    def close(self, failed: bool = False) -> None:
        # every worker is told first, so that they exit side by side
        for proc, conn in self.workers:
            try:
                if not failed:
                    conn.send(None)
            except OSError:
                pass
            conn.close()
            if failed:
                proc.kill()
        for proc, _conn in self.workers:
            proc.join()
        self.workers = []


_prestarted: list[_Pool] = []


def prestart(start_method: str = "spawn") -> None:
    """Start the first layout worker now: the CLI calls this before it reads the manuscript, so that
    the worker's start-up overlaps the reading and checking (an edited chapter's PDF is ready that
    much sooner). write_pdf_parallel takes it over; one nobody takes is stopped at exit."""
    if not _prestarted and (os.cpu_count() or 1) >= 2:
        pool = _Pool(mp.get_context(start_method), 1)
        _prestarted.append(pool)
        atexit.register(pool.close, failed=True)


def _pool(start_method: str, workers: int) -> _Pool:
    if _prestarted and _prestarted[0].ctx.get_start_method() == start_method:
        pool = _prestarted.pop()
        pool.size = workers
        return pool
    return _Pool(mp.get_context(start_method), workers)


def _worker(conn):
    import pipeline.weasy  # noqa: F401  (WeasyPrint's start-up, while the parent reads the manuscript)
    # A worker lays out a bounded piece and then collects explicitly (return_memory): the cyclic
    # collector's passes over a growing box tree in between cost 7 % of a 123-page piece's layout
    # (7.31 s against 6.61 s) and freed nothing the peak would miss (520 against 523 MB).
    gc.freeze()
    gc.disable()
    try:
        while (task := conn.recv()) is not None:
            piece, out, (base_url, fetch_args, pdf_options), retire_mb = task
            try:
                _render_piece(piece, base_url, fetch_args, pdf_options, out, conn, retire_mb)
                return_memory()     # while it waits, an idle worker holds only what it needs
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


def _render_piece(piece: Piece, base_url, fetch_args, pdf_options, out, conn, retire_mb: float = RETIRE_RSS_MB,
                  offset: int = 0):
    """Lay out one piece; with conn, report the page count and shift the folios by the answer."""
    import weasyprint.layout as wlayout

    from pipeline.weasy import RefusedURL, render

    original = wlayout.make_margin_boxes
    shift = {"offset": None}

    def margin_boxes(context, page, state):
        if shift["offset"] is None:
            count = len(context.page_maker) - 1 - (1 if piece.sentinel else 0)
            if conn is not None:
                conn.send(("count", count))
                shift["offset"] = conn.recv()
            else:
                shift["offset"] = offset
        if shift["offset"]:
            quote_depth, counters, *rest = state
            counters = dict(counters)
            counters["page"] = [v + shift["offset"] for v in counters["page"]]
            state = (quote_depth, counters, *rest)
        return original(context, page, state)

    wlayout.make_margin_boxes = margin_boxes
    try:
        with single.layout_warnings() as warnings:
            document = render(piece.html, base_url, *fetch_args)
    except RefusedURL as exc:
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
    ranges = _item_ranges(piece, offset, len(document.pages), anchors)
    if conn is not None:
        conn.send(("laid-out", [{"pages": stop - start, "anchors": mine} for start, stop, mine in ranges]))
    # The text layer without the justification spaces (pipeline/textlayer.py), piece by piece,
    # so that the pass runs in the workers rather than once over the merged book.
    # Written uncompressed: the text layer's save compresses every stream once, where WeasyPrint's
    # compression of the content streams that pass rewrites was work thrown away (53 pages: 1.4 s
    # written and cleaned, against 1.6 to 1.9 s).
    stats = textlayer.clean_text_layer(document.write_pdf(uncompressed_pdf=True, **pdf_options), Path(out),
                                       finish=pdf_tags.tidy if pdf_options.get("pdf_tags") else None)
    entries = _store_items(piece, Path(out), offset, ranges, warnings, stats)
    if conn is not None:
        conn.send(("written", {"peak_mb": _hwm_mb(), "retire": _hwm_mb("VmRSS") > retire_mb,
                               "entries": [dataclasses.asdict(e) for e in entries]}))
    return entries


def _item_ranges(piece: Piece, offset: int, pages: int, anchors: dict[str, int]) -> list[tuple[int, int, dict]]:
    """(first page, end page, anchors) of each item of the piece: an item starts on the page of its id."""
    firsts = [0 if ident is None else anchors[ident] - offset - 1 for ident, _key in piece.items]
    bounds = [*firsts, pages]
    return [(start, stop, {name: folio for name, folio in anchors.items() if offset + start < folio <= offset + stop})
            for start, stop in zip(bounds, bounds[1:])]


def _store_items(piece: Piece, pdf_path: Path, offset: int, ranges: list, warnings: list[str],
                 stats) -> list[layout_cache.Entry]:
    """Keep the piece's PDF in the layout cache and an entry for each of its items: where its
    pages start in the file and how many. The piece's warnings and text-layer figures go with
    its first item."""
    name, sha256, size = layout_cache.store_file(Path(piece.store), pdf_path)
    return [layout_cache.store_entry(Path(piece.store), layout_cache.Entry(
        key=key, offset=offset + start, pages=stop - start, anchors=mine, file=name, first=start,
        sha256=sha256, size=size, warnings=list(warnings) if number == 0 else [],
        text_layer=dataclasses.asdict(stats) if number == 0 else {}))
        for number, ((_ident, key), (start, stop, mine)) in enumerate(zip(piece.items, ranges))]


# ---------------------------------------------------------------- merging

def merge(parts: list[Path | tuple[Path, int, int]], out_path: Path, cache_dir: Path | None = None,
          finish=None, tagged: bool = False) -> None:
    """One PDF of the pieces, in order, with qpdf (pikepdf): pages, bookmarks, every named
    destination, links across pieces, and the first piece's metadata, language and /ID; one font
    program per face (pipeline/font_subsets.py); with `tagged`, one structure tree
    (pipeline/pdf_tags.py). A part is a whole PDF or (PDF, first page, page count).
    finish(pdf, tree) changes the merged PDF before it is saved.
    (pypdf took 1.5 s over the 576-page bench book, this 0.2 s.)"""
    opened: dict[Path, pikepdf.Pdf] = {}
    ranges = []
    for part in parts:
        path, first, count = (part, 0, None) if isinstance(part, (str, Path)) else part
        source = opened.get(Path(path))
        if source is None:
            source = opened[Path(path)] = pikepdf.open(str(path))
        count = len(source.pages) - first if count is None else count
        if ranges and ranges[-1][0] is source and ranges[-1][1] + ranges[-1][2] == first:
            ranges[-1] = (source, ranges[-1][1], ranges[-1][2] + count)    # one copy a run of pages
        else:
            ranges.append((source, first, count))
    out = pikepdf.new()
    dests: dict[str, pikepdf.Array] = {}
    placed = []
    for source, first, count in ranges:
        start = len(out.pages)
        placed.append((source, first, count, start))
        out.add_pages_from(source, range(first, first + count), forms="strip", layers="ignore", outlines="preserve")
        copied = {source.pages[first + index].objgen: out.pages[start + index].obj for index in range(count)}
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
    front = ranges[0][0]
    tree = None
    if tagged and pdf_tags.is_tagged(front):
        tree = pdf_tags.new_tree(out, front)
        for source, first, count, start in placed:
            pdf_tags.add_range(tree, source, first, count, start)
    if finish is not None:
        finish(out, tree)
    out.docinfo = out.copy_foreign(front.docinfo)
    if "/Lang" in front.Root:
        out.Root.Lang = pikepdf.String(str(front.Root.Lang))
    if "/ID" in front.trailer:
        out.trailer.ID = pikepdf.Array([pikepdf.String(bytes(v)) for v in front.trailer.ID])
    fonts = font_subsets.merge_font_subsets(out, cache_dir)
    TIMINGS["font_programs_merged"] = fonts.programs_before
    TIMINGS["font_bytes_saved"] = fonts.bytes_before - fonts.bytes_after
    # the front's first /ID element (WeasyPrint's identifier) stays; the second is the content's
    save_pdf(out, out_path, deterministic_id=True, fix_metadata_version=False, min_version=front.pdf_version,
             object_stream_mode=pdf_tags.object_streams(out))
    for source in opened.values():
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
