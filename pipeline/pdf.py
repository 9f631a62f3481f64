"""The print PDF writer: Book -> one HTML document (jinja2) -> WeasyPrint -> PDF.

Everything print-specific lives here and in templates/pdf, styles/print.css and
pipeline/typeset.py: page geometry from book.yaml, book furniture (title page,
copyright page, TOC, running heads, folios), clreq typography, DRAFT marks and
the PDF/X-4 variant. The Book itself is never modified.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from html import escape
from pathlib import Path

import jinja2
from lxml import etree
from markupsafe import Markup

from pipeline.book import Book, Section
from pipeline.config import FontSettings
from pipeline.diagnostics import Diagnostics
from pipeline.diagrams import FIGURE_HEIGHT_SHARE
from pipeline.epub_images import FORMATS as IMAGE_FORMATS, prune as prune_scaled_images, reading_copy
from pipeline.errors import PipelineError
from pipeline.fonts import BookFonts, book_fonts, collection_face, css_quoted, font_stack, font_url
from pipeline.fsutil import atomic_output, atomic_write_text
from pipeline import cache, textlayer
from pipeline.transforms import transform, writer_tree
from pipeline.tree import line_of, to_html, visible_strings
from pipeline.typeset import plain_autospace, typeset_inline, typeset_tree
from pipeline.subject_index import INDEX_ID, index_anchors
from pipeline.xref import PAGE_CLASS

PROJECT = Path(__file__).resolve().parent.parent
TEMPLATES = PROJECT / "templates" / "pdf"
PRINT_CSS = PROJECT / "styles" / "print.css"

# The CMYK profile for the PDF/X OutputIntent. Debian ships no free FOGRA/GRACoL
# profile; Ghostscript's default CMYK profile (package libgs-common) is a
# SWOP-like press profile and is what `make setup` installs.
CMYK_PROFILES = (
    Path("/usr/share/color/icc/ghostscript/default_cmyk.icc"),
    Path("/usr/share/ghostscript/iccprofiles/default_cmyk.icc"),
)
# Emoji are RGB bitmaps: PDF/X gets this text mark instead.
EMOJI_TEXT_MARK = "※"
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B50\u2B55]\uFE0F?|\u200D|\uFE0F")
# A house emoji face serves these alone: in a family list, Pango would otherwise take digits and spaces from it.
EMOJI_RANGE = "U+1F000-1FAFF, U+2600-27BF, U+2B50, U+2B55, U+200D, U+FE0F, U+20E3"
REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)
VARIANTS = ("rgb", "pdfx")
STAGES = 3


@dataclass(frozen=True)
class TocEntry:
    kind: str            # chapter | heading | part | article | appendix
    text: str
    href: str | None
    label: str | None = None


@dataclass(frozen=True)
class FontRule:
    """An @font-face of a house face (pipeline/fonts.py), read from fonts/, or, for a face of a
    collection, from its own copy in the build cache (a data: URL without one)."""
    family: str
    weight: int
    path: Path | None
    data: bytes | None = None
    unicode_range: str = ""

    @property
    def css_family(self) -> Markup:
        return Markup(css_quoted(self.family))

    @property
    def url(self) -> str:
        return font_url(self.path, self.data)


@dataclass(frozen=True)
class Options:
    variant: str
    crop_marks: bool
    # the justification spaces' fonts (pipeline/textlayer.py), as files in the build cache when
    # the writer has one
    space_faces: tuple = ()
    cache_dir: Path | None = None     # the build cache: typeset sections are kept there
    fonts: BookFonts | None = None    # the face of each role (pipeline/fonts.py)
    font_rules: tuple[FontRule, ...] = ()
    target: str = "print"             # print: trim + bleed for the printer | screen: trim, for readers
    tagged: bool = False              # a structure tree (pipeline/pdf_tags.py)
    link_color: str | None = None     # the screen PDF's links
    cover: bool = False               # the cover image as the first page
    # (asset file, the file the PDF shows instead): the screen PDF's pictures as the EPUB packs them
    images: tuple[tuple[Path, Path], ...] = ()

    @property
    def pdfx(self) -> bool:
        return self.variant == "pdfx"

    @property
    def screen(self) -> bool:
        return self.target == "screen"

    @property
    def cache_suffix(self) -> str:
        """The print and the screen layout are cached apart: a build of one keeps the other's."""
        return "" if self.target == "print" else f"-{self.target}"


# ---------------------------------------------------------------- public API

def write_pdf(book: Book, out_path: Path, *, variant: str | None = None,
              crop_marks: bool | None = None, progress=None, diagnostics: Diagnostics | None = None,
              cache_dir: Path | None = None, settle_index: bool = True, target: str = "print") -> Path:
    """Write the print PDF atomically in one layout pass; return its path.

    progress, if given, is called as progress(done, total) after each of the
    STAGES steps (fonts and HTML, layout, PDF). cache_dir keeps the space fonts (pipeline.textlayer).
    A book with an index is laid out twice, unless settle_index is False (the index then lists
    each occurrence's page, unmerged: the benchmark's one-pass baseline).
    """
    out_path = Path(out_path).resolve()
    options = resolve_options(book, variant, crop_marks, cache_dir, diagnostics, target)
    advance = progress or (lambda done, total: None)
    report_missing_glyphs(book, options, diagnostics)
    printed = print_document(book, options)
    advance(1, STAGES)
    # The book's registered assets (e.g. diagrams in a build cache elsewhere) are allowed one by one.
    fetcher = (allowed_roots(book, out_path), readable_files(book, options))
    index = next((s for s in book.appendices if s.id == INDEX_ID), None) if settle_index else None
    with layout_warnings() as warnings, font_timestamps(book):
        if index is None:
            document = _render(book, printed.whole(), fetcher)
        else:
            # The index merges its pages into ranges, which needs them known: every folio is written
            # in, from the last build's (cache_dir), and laid out again until none moved.
            pages_file = Path(cache_dir) / pages_cache(options) if cache_dir else None
            known = read_pages(pages_file)
            refs = index_anchors(index)
            for _round in range(MAX_ROUNDS):
                printed = print_document(book, options, pages=known)
                refs |= set().union(*(item.page_refs for item in printed.items))
                document = _render(book, printed.whole(), fetcher)
                folios = body_folios(document, printed.items)
                settled = all(known.get(ref) == folios.get(ref) for ref in refs)
                known = folios
                if settled:
                    break
            else:
                report_unsettled(diagnostics, "the index's pages")
            write_pages(pages_file, known)
    report_layout_warnings(warnings, diagnostics, book)
    advance(2, STAGES)
    with atomic_output(out_path) as temp, font_timestamps(book):
        # The text layer without the justification spaces (pipeline/textlayer.py).
        textlayer.report(textlayer.clean_text_layer(document.write_pdf(**pdf_options(book, options)), temp,
                                                    finish=lambda pdf: finish_pdf(pdf, book, options)),
                         diagnostics)
    prune_typeset_cache(options.cache_dir)
    advance(STAGES, STAGES)
    return out_path


PAGES_CACHE = "pdf-pages.json"      # every anchor's folio in the last build (build/cache/)
MAX_ROUNDS = 3


def pages_cache(options: Options) -> str:
    return PAGES_CACHE.replace(".json", f"{options.cache_suffix}.json")


def finish_pdf(pdf, book: Book, options: Options, tree=None) -> None:
    """What the options add to the laid-out pages (pikepdf, before saving): the cover as the first
    page (the screen PDF), and a structure tree whose page furniture is marked as artifacts (a
    tagged PDF; `tree` is the merged one of the parallel writer)."""
    from pipeline import pdf_tags
    if options.tagged and tree is None:
        tree = pdf_tags.collect(pdf)        # WeasyPrint's own tree, laid out in one pass
    if options.cover:
        from pipeline.cover import cover_alt, cover_image
        pdf_tags.add_cover(pdf, cover_image(book.config), cover_alt(book.config), tree)
    if tree is not None:
        pdf_tags.finish(tree)


def report_unsettled(diagnostics: Diagnostics | None, what: str) -> None:
    if diagnostics is not None:
        diagnostics.add("pdf-layout", f"{what} still moved after {MAX_ROUNDS} layouts; some may be one page off.",
                        hint="Build again; the next build starts from these pages.")


def read_pages(path: Path | None) -> dict[str, int]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def write_pages(path: Path | None, pages: dict[str, int]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(pages, sort_keys=True))


def _render(book: Book, html: str, fetcher):
    from pipeline.weasy import RefusedURL, render
    try:
        return render(html, str(book.config.root) + "/", *fetcher)
    except RefusedURL as exc:
        raise PipelineError(str(exc), hint="The PDF reads only files inside the project; "
                            "download the file into the manuscript folder.") from None


def body_folios(document, items: list["PrintItem"]) -> dict[str, int]:
    """Every anchor's folio in a laid-out book: the body counts from 1 at its first item."""
    where: dict[str, int] = {}
    for number, page in enumerate(document.pages):
        for name in page.anchors:
            where.setdefault(name, number)
    start = where.get(items[0].id, 0) if items else 0
    return {name: number - start + 1 for name, number in where.items() if number >= start}


@contextlib.contextmanager
def font_timestamps(book: Book):
    """The book's date as SOURCE_DATE_EPOCH while fonts are written: WeasyPrint rebuilds the colour
    emoji font with fontTools, which stamps it with the time of day unless that is set, so the
    same book gave a different PDF every build. A value the user set is kept; worker processes
    started inside inherit it."""
    if book.modified is None or "SOURCE_DATE_EPOCH" in os.environ:
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = str(int(book.modified.timestamp()))
    try:
        yield
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]


def pdf_options(book: Book, options: Options) -> dict:
    result = {"pdf_variant": "pdf/x-4"} if options.pdfx else {}
    if options.tagged:
        result["pdf_tags"] = True
    if book.modified:
        # Reproducible builds: the same book gives the same PDF identifier.
        result["pdf_identifier"] = f"{book.config.identifier}-{book.modified.isoformat()}".encode()
    return result


@contextlib.contextmanager
def layout_warnings():
    """WeasyPrint's own warnings during a layout (CSS it ignores, images it cannot read), as text."""
    caught: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            caught.append(record.getMessage())
    handler, logger = Collect(logging.WARNING), logging.getLogger("weasyprint")
    previous = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield caught
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous


def report_layout_warnings(messages: list[str], diagnostics: Diagnostics | None, book: Book) -> None:
    if diagnostics is None:
        return
    for message in dict.fromkeys(messages):
        source, line = _style_source(book, message)
        diagnostics.add("pdf-layout", f"WeasyPrint: {message}", source, line,
                        hint="The PDF is written without it; check the CSS or HTML it names.")


def _style_source(book: Book, message: str):
    """Where a declaration WeasyPrint ignored was written, when it is an author's style attribute."""
    quoted = re.search(r"`([^`]+)`", message)
    if quoted:
        for section in book.sections():
            for node in section.body.iter():
                if isinstance(node.tag, str) and quoted[1] in (node.get("style") or ""):
                    return section.source, line_of(node) or _line_in_file(section.source, quoted[1])
    return None, None


def _line_in_file(path: Path | None, needle: str) -> int | None:
    """Raw HTML blocks carry no source position; the text itself says where they are."""
    if path is None:
        return None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    return None


@dataclass
class PrintItem:
    """One piece of the body that starts on a new page: a chapter, a part title, an appendix."""
    id: str
    classes: str
    html: str
    recto: bool               # starts on a right-hand page, so the parallel writer may cut before it
    page_refs: frozenset[str] = frozenset()   # ids its page references point at


@dataclass
class PrintHtml:
    head: str
    front: str
    items: list[PrintItem]
    tail: str

    def whole(self) -> str:
        return self.head + self.front + "".join(item.html for item in self.items) + self.tail


def print_document(book: Book, options: Options | None = None, *, typeset: bool = True,
                   pages: dict[str, int] | None = None) -> PrintHtml:
    """The print HTML in its pieces. With `pages` (id -> folio), the TOC and the page references
    print those numbers instead of asking the layout (the parallel writer's way).

    typeset=False leaves out the clreq transform, to measure what it buys.
    """
    options = options or resolve_options(book, None, None)
    macros = _macros()
    items = []
    for item in body_items(book, options, typeset, pages):
        if "part" in item:
            items.append(PrintItem(f"part-{item['part'].id}", "part-title",
                                   "\n" + str(macros.part(item["part"], item["first"])) + "\n", recto=True))
        else:
            items.append(_print_item(item, macros))
    return PrintHtml(head_html(book, options, literal_pages=pages is not None),
                     front_html(book, options, pages), items, "\n" + str(macros.tail()))


def _print_item(item: dict, macros) -> PrintItem:
    section = item["section"]
    return PrintItem(section.id, item["classes"], "\n" + str(macros.section(item)) + "\n",
                     recto=section.kind != "article", page_refs=item["page_refs"])


def section_print_item(book: Book, section: Section, options: Options, *, pages: dict[str, int] | None = None,
                       typeset: bool = True) -> PrintItem:
    """One section's item as print_document makes it (not the book's first: no counter reset)."""
    return _print_item(_section_item(book, section, options, typeset, False, pages), _macros())


def head_html(book: Book, options: Options, *, literal_pages: bool = False) -> str:
    env = _environment()
    printing = book.config.print
    text_width, text_height = printing.text_block_mm()
    geometry = env.get_template("geometry.css.j2").render(
        p=printing, crop_marks=options.crop_marks and not options.pdfx and not options.screen, pdfx=options.pdfx,
        screen=options.screen, link_color=options.link_color, css=css_string,
        running_title=css_string(plain_autospace(book.config.title)), text_width_mm=round(text_width, 2),
        text_height_mm=round(text_height, 2), figure_height_mm=round(text_height * FIGURE_HEIGHT_SHARE, 1),
        cmyk_profile=find_cmyk_profile().as_uri() if options.pdfx else "",
        space_faces=options.space_faces, font_rules=options.font_rules, stacks=font_stacks(options.fonts))
    return str(_macros().head(book.config, book.config.language or "zh-CN",
                              book.modified.strftime("%Y-%m-%dT%H:%M:%SZ") if book.modified else None,
                              options.pdfx, Markup(geometry), Markup(PRINT_CSS.read_text(encoding="utf-8")),
                              Markup(LITERAL_PAGES_CSS) if literal_pages else ""))


def front_html(book: Book, options: Options, pages: dict[str, int] | None = None) -> str:
    """Title page, copyright page and TOC; with `pages`, the TOC prints those folios."""
    toc = [TocEntry(e.kind, Markup(typeset_inline(e.text)), e.href, e.label) for e in toc_entries(book, options)]
    return str(_macros().front(book.config, book.release, toc,
                               _PagesOrQuestion(pages) if pages is not None else None))


@functools.lru_cache(maxsize=1)
def _macros():
    # compiled once a process: 40 ms each time, six times a build
    return _environment().get_template("book.html.j2").module


def sentinel_html(item: PrintItem) -> str:
    """An empty section shaped like `item` (same page name, same break before it)."""
    return f'<section class="{escape(item.classes)}"></section>\n'


def render_html(book: Book, *, variant: str | None = None, crop_marks: bool | None = None,
                typeset: bool = True) -> str:
    """The complete print HTML (also the single-pass baseline for benchmarks)."""
    return print_document(book, resolve_options(book, variant, crop_marks), typeset=typeset).whole()


# The TOC and page references get literal numbers: same text, so the same layout as target-counter().
LITERAL_PAGES_CSS = ('.toc a::after { content: leader("·····") attr(data-page); }\n'
                   'a.page[data-page]::after { content: "第 " attr(data-page) " 页"; }\n'
                   'a.page.page-with-text[data-page]::after { content: "（第 " attr(data-page) " 页）"; }\n')


class _PagesOrQuestion(dict):
    """A folio for every id; '?' for one not laid out yet (the first round of a parallel build)."""

    def __init__(self, pages):
        super().__init__(pages)

    def __missing__(self, key):
        return "?"


# ---------------------------------------------------------------- options, fonts, profiles

def resolve_options(book: Book, variant: str | None, crop_marks: bool | None,
                    cache_dir: Path | None = None, diagnostics: Diagnostics | None = None,
                    target: str = "print") -> Options:
    """The variant, the marks and the fonts: the print PDF's from book.yaml and the command line; the
    screen PDF is RGB at trim size without marks, tagged and with its cover, as book.yaml's screen:
    says. A font the book is set in that cannot be found stops the build here, with the fix
    (pipeline/fonts.py): WeasyPrint would silently set the text in another font (often the Japanese
    variant) or draw tofu."""
    screen = target == "screen"
    variant = "rgb" if screen else (variant or book.config.print.variant)
    if variant not in VARIANTS:
        raise PipelineError(f"the PDF variant {variant!r} is not one of {', '.join(VARIANTS)}.",
                            hint="Use rgb (screen and digital print) or pdfx (PDF/X-4 for offset print).")
    fonts = book_fonts(book.config, print_roles(book, variant == "pdfx"), diagnostics)
    common = {"space_faces": textlayer.space_faces(fonts, cache_dir),
              "cache_dir": Path(cache_dir) if cache_dir else None, "fonts": fonts,
              "font_rules": font_rules(fonts, cache_dir)}
    if screen:
        settings = book.config.screen
        return Options("rgb", False, **common, target="screen", tagged=settings.tagged,
                       link_color=settings.link_color, cover=settings.cover, images=_reading_copies(book, cache_dir))
    return Options(variant, book.config.print.crop_marks if crop_marks is None else crop_marks, **common,
                   tagged=book.config.print.tagged)


def _reading_copies(book: Book, cache_dir: Path | None) -> tuple[tuple[Path, Path], ...]:
    """The screen PDF is read where the EPUB is: its pictures are the EPUB's, scaled to
    epub.max_image_px. The print PDF keeps every pixel of the originals for the press."""
    if cache_dir is None:
        return ()
    copies = [(asset.path, reading_copy(asset, book, cache_dir)) for asset in book.assets
              if asset.media_type in IMAGE_FORMATS]
    prune_scaled_images(book, cache_dir)
    return tuple((source, copy) for source, copy in copies if copy != source)


def print_roles(book: Book, pdfx: bool) -> tuple[str, ...]:
    """The roles the PDF sets text in: emoji only when the book has some (PDF/X prints a mark)."""
    emoji = not pdfx and any(EMOJI.search(s.title) or any(EMOJI.search(t) for t in visible_strings(s.body))
                             for s in book.sections())
    return ("serif", "sans", "mono", "emoji") if emoji else ("serif", "sans", "mono")


def font_rules(fonts: BookFonts, cache_dir: Path | None) -> tuple[FontRule, ...]:
    """The house faces' @font-face rules. WeasyPrint gives every face of a collection the family and
    weight a rule declares, so a face of a TTC or OTC is declared as a file of its own."""
    rules = []
    for face in fonts.house():
        path, data = (face.path, None) if face.faces_in_file == 1 else collection_face(face, cache_dir)
        emoji = face == fonts.faces.get(("emoji", 400))
        rules.append(FontRule(face.family, face.weight, path, data if path is None else None,
                              EMOJI_RANGE if emoji else ""))
    return tuple(rules)


def font_stacks(fonts: BookFonts) -> dict[str, Markup]:
    """Each role's CSS family list: its family, then the default (Noto) family for characters a
    house face lacks, then a house emoji face, then the generic family. Faces found on the system
    need no rule: fontconfig finds them by name."""
    emoji = fonts.faces.get(("emoji", 400))
    house_emoji = [emoji.family] if emoji is not None and emoji.house else []
    return {role: Markup(font_stack([fonts.family(role), getattr(FontSettings, role), *house_emoji], generic))
            for role, generic in (("serif", "serif"), ("sans", "sans-serif"), ("mono", "monospace"))}


@functools.lru_cache(maxsize=None)
def _charset(command: tuple[str, ...], stamp: tuple = ()) -> list[tuple[int, int]]:
    """The code point ranges fontconfig lists for a face (empty if it cannot say): its own charset,
    6 ms, where reading the cmap of a Noto CJK face took 100. `stamp` (a file's size and mtime)
    makes a replaced file read again."""
    if shutil.which(command[0]) is None:
        return []
    listed = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    ranges = []
    for part in listed.split():
        first, _, last = part.partition("-")
        try:
            ranges.append((int(first, 16), int(last or first, 16)))
        except ValueError:
            return []
    return sorted(ranges)


def _face_charset(face) -> list[tuple[int, int]]:
    if face.house:      # not installed: fontconfig reads the file itself
        stat = face.path.stat()
        return _charset(("fc-query", "-i", str(face.index), "-f", "%{charset}", str(face.path)),
                        (stat.st_size, stat.st_mtime_ns))
    return _charset(("fc-match", "-f", "%{charset}", face.family))


def _covered(ranges: list[tuple[int, int]], code: int) -> bool:
    import bisect
    at = bisect.bisect_right(ranges, (code, 0x10FFFF)) - 1
    return at >= 0 and ranges[at][0] <= code <= ranges[at][1]


def _in_some_font(char: str) -> bool:
    found = subprocess.run(["fc-list", f":charset={ord(char):x}", "file"], capture_output=True, text=True,
                           check=False).stdout
    return bool(found.strip())


def report_missing_glyphs(book: Book, options: Options, diagnostics: Diagnostics | None) -> None:
    """A character no installed font has prints as an empty box: say where it is."""
    if diagnostics is None or shutil.which("fc-list") is None:
        return
    serif, sans = _face_charset(options.fonts.face("serif", 400)), _face_charset(options.fonts.face("sans", 400))
    invisible = {"\u200d", "\ufe0f", "\u200b", "\u2060", "\ufeff"}
    missing = [c for c in sorted(book.characters()) if not c.isspace() and c not in invisible and ord(c) >= 0x20
               and not _covered(serif, ord(c)) and not _covered(sans, ord(c)) and not _in_some_font(c)]
    for char in missing:
        section, line = _first_use(book, char)
        diagnostics.add("pdf-glyph-missing", f"no installed font has the character {char} (U+{ord(char):04X}); "
                        "the PDF shows an empty box.", section.source if section else None, line,
                        "Install a font that has it, or write the character another way.")


def _first_use(book: Book, char: str):
    for section in book.sections():
        for node in section.body.iter():
            if isinstance(node.tag, str) and char in (node.text or "") + (node.tail or ""):
                holder = node if char in (node.text or "") else node.getparent()
                return section, line_of(holder)
        if char in section.full_title:
            return section, None
    return None, None


def find_cmyk_profile() -> Path:
    for path in CMYK_PROFILES:
        if path.is_file():
            return path
    raise PipelineError("no CMYK ICC profile for the PDF/X OutputIntent was found.",
                        file=CMYK_PROFILES[0],
                        hint="Run `make setup`, or `apt-get install libgs-common` (Ghostscript's default_cmyk.icc).")


def _profile_files(options: Options) -> tuple[Path, ...]:
    return (find_cmyk_profile().resolve(),) if options.pdfx else ()


# ---------------------------------------------------------------- safe fetching

def readable_files(book: Book, options: Options) -> tuple[Path, ...]:
    """Files outside the manuscript folder the layout may read: the CMYK profile, the book's
    registered assets (diagrams in the build cache), the space fonts' cached copies, the house
    faces in the project's fonts/ (pipeline/fonts.py read only those inside the project)."""
    return (*_profile_files(options), *(a.path for a in book.assets), *(copy for _asset, copy in options.images),
            *(face.path for face in options.space_faces if face.path is not None),
            *(rule.path for rule in options.font_rules if rule.path is not None))


def allowed_roots(book: Book, out_path: Path) -> list[Path]:
    """Only the manuscript folder: the book's other files (diagrams in the build cache, the
    CMYK profile) are allowed one by one, and nothing else on the machine is readable."""
    return [book.config.root.resolve()]


# ---------------------------------------------------------------- content

def toc_entries(book: Book, options: Options | None = None) -> list[TocEntry]:
    entries = _toc_entries(book)
    if options and options.pdfx:
        entries = [TocEntry(e.kind, _strip_emoji(e.text), e.href, e.label) for e in entries]
    return entries


def _toc_entries(book: Book) -> list[TocEntry]:
    entries: list[TocEntry] = []
    for section in book.chapters:
        entries.append(TocEntry("chapter", section.title, section.id, section.label))
        entries += [TocEntry("heading", h.text, h.id) for h in section.headings if h.level == 2]
    for part in book.parts:
        entries.append(TocEntry("part", part.title, f"part-{part.id}"))
        entries += [TocEntry("article", s.title, s.id, s.label) for s in part.sections]
    entries += [TocEntry("appendix", s.title, s.id, s.label) for s in book.appendices]
    return entries


def body_items(book: Book, options: Options, typeset: bool = True, pages: dict[str, int] | None = None):
    """Parts and sections in reading order, each ready for the template."""
    first = True
    for section in book.chapters:
        yield _section_item(book, section, options, typeset, first, pages)
        first = False
    for part in book.parts:
        # the body's first page is a part title when the book opens with a part: numbering starts there
        yield {"part": part, "first": first}
        first = False
        for section in part.sections:
            yield _section_item(book, section, options, typeset, first, pages)
            first = False
    for section in book.appendices:
        yield _section_item(book, section, options, typeset, first, pages)
        first = False


def _section_item(book: Book, section: Section, options: Options, typeset: bool, first: bool,
                  pages: dict[str, int] | None) -> dict:
    draft = not book.release and not section.final
    classes = [section.kind] + (["draft"] if draft else []) + (["first-chapter"] if first else [])
    title = _strip_emoji(section.title) if options.pdfx else section.title
    root = section_tree(book, section, options, False, pages)
    refs = frozenset(a.get("href")[1:] for a in root.iter("a")
                     if PAGE_CLASS in (a.get("class") or "").split() and (a.get("href") or "").startswith("#"))

    html = to_html(root)
    if typeset:
        html = _typeset_section(root, html, book.config.print.latin_hyphenation, options.cache_dir)
    return {"section": section, "draft": draft, "classes": " ".join(classes),
            "title_html": Markup(typeset_inline(title)) if typeset else title,
            "running_title": plain_autospace(title) if typeset else title,
            "html": Markup(html), "page_refs": refs}


TYPESET_CACHE = "typeset"
_typeset_used: set[str] = set()         # file names of the typeset cache this process used


def prune_typeset_cache(cache_dir: Path | None) -> None:
    """Drop the typeset sections no build of this process used (one book a cache folder)."""
    folder = Path(cache_dir) / TYPESET_CACHE if cache_dir else None
    if folder is None or not folder.is_dir():
        return
    for path in folder.glob("*.html"):
        if path.name not in _typeset_used:
            path.unlink(missing_ok=True)


@functools.lru_cache(maxsize=1)
def _typeset_code() -> bytes:
    return (Path(__file__).parent / "typeset.py").read_bytes()


def _typeset_section(root, html: str, latin_hyphenation: str, cache_dir: Path | None) -> str:
    """The section typeset (pipeline/typeset.py, the slowest step before layout: 1.0 s for the
    bench book), kept in the build cache by its HTML, so that an edit typesets its section only."""
    key = hashlib.sha256(_typeset_code() + b"\0" + latin_hyphenation.encode() + b"\0" + html.encode()).hexdigest()
    path = cache_dir / TYPESET_CACHE / f"{key[:40]}.html" if cache_dir else None
    _typeset_used.add(f"{key[:40]}.html")
    stored = cache.read_entry(path) if path is not None else None
    if stored is not None:
        return stored.decode("utf-8")
    typeset_tree(root, latin_hyphenation)
    result = to_html(root)
    if path is not None:
        cache.write_entry(path, result.encode("utf-8"))
    return result


def section_tree(book: Book, section: Section, options: Options, typeset: bool = True,
                 pages: dict[str, int] | None = None):
    """The section body as a print tree, through the PDF's transforms."""
    return writer_tree("pdf", book, section, options=options, typeset=typeset, pages=pages)


@transform("pdf", order=10)
def strip_emoji_tree(root, context) -> None:
    """PDF/X takes no RGB bitmaps: emoji become a text mark."""
    if not context.options.pdfx:
        return
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        for attr in ("text", "tail"):
            value = getattr(node, attr)
            if value and EMOJI.search(value):
                setattr(node, attr, _strip_emoji(value))


@transform("pdf", order=20)
def resolve_images(root, context) -> None:
    """Point every <img> at its asset file; refuse remote images (placeholders in --draft)."""
    book, section = context.book, context.section
    shown_instead = dict(context.options.images)
    for img in root.iter("img"):
        src = img.get("src") or ""
        if REMOTE.match(src) and not src.startswith("data:"):
            if not book.draft:
                raise PipelineError(f"section {section.id} shows the remote image {src}; the PDF "
                                    "writer fetches nothing from the network.", file=section.source,
                                    hint="Download the image into the manuscript folder, or build with --draft.")
            _replace_with_placeholder(img, f"远程图片未嵌入：{src}")
            continue
        asset = book.asset_for(src)
        if asset is None:
            raise PipelineError(f"section {section.id} shows the image {src}, which is not among the "
                                "book's assets.", file=section.source, hint="Check the image path.")
        img.set("src", shown_instead.get(asset.path, asset.path).resolve().as_uri())


@transform("pdf", order=30)
def mark_landscape(root, context) -> None:
    """Wrap landscape figures in the rotated box print.css turns a quarter."""
    figure_ids = {f.id for f in context.section.figures if f.placement == "landscape"}
    if not figure_ids:
        return
    for figure in root.iter("figure"):
        if figure.get("id") not in figure_ids:
            continue
        classes = (figure.get("class") or "").split()
        figure.set("class", " ".join(classes + ([] if "landscape" in classes else ["landscape"])))
        box = etree.SubElement(figure, "div")
        box.set("class", "landscape-box")
        for child in list(figure)[:-1]:
            box.append(child)
        box.text, figure.text = figure.text, None


@transform("pdf", order=40)
def mark_page_references(root, context) -> None:
    """`[](#id){.page}` prints 第 N 页 (print.css); a link with text of its own adds （第 N 页）.
    With known pages (the parallel writer), the number is written in."""
    for link in root.iter("a"):
        if PAGE_CLASS not in (link.get("class") or "").split():
            continue
        if len(link) or (link.text or "").strip():
            link.set("class", link.get("class") + " page-with-text")
        if context.pages is not None:
            link.set("data-page", str(context.pages.get((link.get("href") or "#")[1:], "?")))


@transform("pdf", order=45)
def label_group_bookmarks(root, context) -> None:
    """An appendix group's heading sets its chapter's label on a line of its own; its bookmark
    reads as the chapter's full title does elsewhere ("第 6 章　标题")."""
    for heading in root.iterfind(".//section[@class='appendix-group']/h2"):
        label, title = heading.find("a/span[@class='label']"), heading.find("a/span[@class='title']")
        if label is not None and title is not None:
            heading.set("data-bm", f"{label.text}\u3000{title.text}")


@transform("pdf", order=90)
def typeset(root, context) -> None:
    """clreq typography last, on the final text (pipeline/typeset.py)."""
    if context.typeset:
        typeset_tree(root, context.book.config.print.latin_hyphenation)


def _strip_emoji(text: str) -> str:
    text = EMOJI.sub(lambda m: EMOJI_TEXT_MARK if m.group(0) not in ("\u200D", "\uFE0F") else "", text)
    return re.sub(EMOJI_TEXT_MARK + "+", EMOJI_TEXT_MARK, text)


def _replace_with_placeholder(img: etree._Element, text: str) -> None:
    box = etree.Element("span")
    box.set("class", "remote-placeholder")
    box.text = text
    box.tail = img.tail
    img.getparent().replace(img, box)


# ---------------------------------------------------------------- helpers

@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # Han/Latin spacing for the book's furniture (title page, copyright page, labels) as in its text.
    environment.filters["spaced"] = lambda text: Markup(typeset_inline(str(text)))
    return environment


def css_string(text: str) -> Markup:
    """Text for a CSS string literal between double quotes, safe inside an HTML <style> element:
    quotes, backslashes, line breaks and < > & become CSS escapes, so a title such as
    '</style><p>…' stays text on the running head instead of ending the stylesheet."""
    escaped = "".join(f"\\{ord(char):x} " if char in '"\\<>&\n\r' else char for char in text)
    return Markup(escaped)
