"""book.yaml: the one configuration object every stage reads.

Everything a stage can be told lives here, parsed and checked once; the stages
never open book.yaml themselves.
"""
from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.diagnostics import Diagnostics, shown
from pipeline.errors import BuildStopped, PipelineError

CONFIG_NAME = "book.yaml"


class NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses YAML aliases (*name): a few nested aliases expand to gigabytes
    (the 'billion laughs'), and neither book.yaml nor front matter needs them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)
GENERATED_APPENDICES = ("takeaways", "references", "glossary", "index")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocRef:
    """One manuscript file named in book.yaml."""
    path: Path
    id: str | None = None


@dataclass(frozen=True)
class PartRef:
    id: str
    title: str
    documents: tuple[DocRef, ...]


@dataclass(frozen=True)
class CheckSettings:
    word_count_tolerance: float = 0.05
    statuses: tuple[str, ...] = ("outline", "draft", "review", "copyedit", "final")
    registry: str = "data"
    # Limits that keep a hostile or mistaken file from exhausting the machine.
    max_document_kb: float = 2048
    max_image_pixels: float = 40_000_000
    # Front-matter keys each kind of document must have; the others are checked when present.
    # Hugo needs nothing but a title; a house style can ask for more (the bundled book does).
    require: tuple[tuple[str, tuple[str, ...]], ...] = (("chapter", ("chapter_number", "title")),
                                                         ("article", ("title",)))
    # Front-matter keys of the author's own (a Hugo site's params: content_type, card) that the
    # book does not use and does not warn about.
    extra_keys: tuple[str, ...] = ()

    def required(self, kind: str) -> tuple[str, ...]:
        return dict(self.require).get(kind, ())

    @property
    def final_status(self) -> str:
        return self.statuses[-1]


@dataclass(frozen=True)
class AssembleSettings:
    takeaways_box_in_chapter: bool = True
    # MkDocs content tabs (=== "Python") to keep, by label, where a group of tabs has one of them;
    # empty: every tab, one box after another (pipeline/admonitions.py)
    tabs: tuple[str, ...] = ()
    # A site's own Hugo shortcodes, as the book prints them (pipeline/shortcodes.py): name ->
    # a template ("{text}", "{0}") or ((first positional argument, text), ...)
    shortcodes: tuple[tuple[str, str | tuple[tuple[str, str], ...]], ...] = ()


@dataclass(frozen=True)
class CitationSettings:
    """`[@key]` citations (pipeline/citations.py): the bibliography in the manuscript, the CSL style."""
    bibliography: str | None = None     # a CSL-JSON, CSL-YAML or BibTeX file of the manuscript
    style: str = "gb-t-7714-2015-numeric"
    numbering: str = "chapter"          # chapter: [1] again in each chapter | book: one sequence


@dataclass(frozen=True)
class IndexSettings:
    """Where the index (contents.appendices: index) looks for its entries besides the prose."""
    in_headings: bool = False
    in_notes: bool = False


@dataclass(frozen=True)
class DiagramSettings:
    renderer: str = "local"
    server: str | None = None
    timeout: float = 60.0
    layout: str = "auto"          # auto | scale | landscape | transpose (flowcharts; else as auto)
    min_text_pt: float = 6.5
    default_caption: str | None = None

    @property
    def server_url(self) -> str | None:
        return os.environ.get("MERMAID_INK_SERVER") or self.server


@dataclass(frozen=True)
class PrintSettings:
    trim_width: str = "170mm"
    trim_height: str = "240mm"
    bleed: str = "3mm"
    margin_top: str = "20mm"
    margin_bottom: str = "22mm"
    margin_inside: str = "22mm"
    margin_outside: str = "18mm"
    crop_marks: bool = False
    variant: str = "rgb"
    font_size: str = "10.5pt"
    parallel: str = "auto"     # auto | on | off: lay chapters out in several processes
    notes: str = "footnote"    # footnote (at the foot of the page) | chapter-end
    # A web link's address on paper (pipeline/link_notes.py): footnote | inline (in brackets) | none
    link_urls: str = "footnote"
    # The language Latin words in the Chinese text are hyphenated in (pyphen's dictionaries);
    # "" leaves them whole. A long English word at a line end otherwise letter-spaces the line.
    latin_hyphenation: str = "en"
    # A line that must shrink to take in a unit may, as a last resort, set a mid-line ，half-width
    # (clreq 6.2.2.3, tier 5). Off by default: a squeezed comma reads as a shorter pause.
    squeeze_commas: bool = False
    tagged: bool = False       # a tagged (accessible) print PDF too; the screen PDF always is

    def text_block_mm(self) -> tuple[float, float]:
        """Width and height of the text block: the trim less the margins."""
        width = length_mm(self.trim_width) - length_mm(self.margin_inside) - length_mm(self.margin_outside)
        height = length_mm(self.trim_height) - length_mm(self.margin_top) - length_mm(self.margin_bottom)
        return width, height


FONT_ROLES = ("serif", "sans", "mono", "emoji")


@dataclass(frozen=True)
class FontSettings:
    """fonts: the family each role is set in. pipeline/fonts.py looks for it in the project's
    fonts/ folders first, by the names inside the font files, then among the system's fonts."""
    serif: str = "Noto Serif CJK SC"      # body text: regular and bold
    sans: str = "Noto Sans CJK SC"        # headings, captions, running heads: bold (and regular if it has one)
    mono: str = "Noto Sans Mono CJK SC"   # code
    emoji: str = "Noto Color Emoji"
    missing: str = "error"                # error | fallback: the role's default family, with a warning
    lines: tuple[tuple[str, int | None], ...] = ()   # (role, line of book.yaml) for each family it names

    def line(self, role: str) -> int | None:
        return dict(self.lines).get(role)


def project_root() -> Path:
    """The project whose fonts/ folder a book may use: this checkout, or BOOK_PROJECT_DIR for a
    book kept with its own fonts/ elsewhere (a publisher's repository, a test's copy)."""
    return Path(os.environ.get("BOOK_PROJECT_DIR") or Path(__file__).resolve().parent.parent).resolve()


@dataclass(frozen=True)
class ScreenSettings:
    """The screen PDF (`pdf --target screen`): the print layout at trim size, for readers."""
    tagged: bool = True
    link_color: str = "#1f4e8c"
    cover: bool = True         # the EPUB's cover image as the first page


@dataclass(frozen=True)
class EpubSettings:
    cover: Path | None = None
    accessibility_summary: str = ""
    # Raster images are scaled to at most this many pixels on the long side for the EPUB only
    # (pipeline.epub_images); 0 packs every image as it is.
    max_image_px: int = 1600
    jpeg_quality: int = 85      # 1-100, for JPEG and lossy WebP images the EPUB recompresses


@dataclass(frozen=True)
class DocumentPlan:
    """What the plan expects of one document: its length, when each status is due, who owes it."""
    target: int | None = None
    due: tuple[tuple[str, dt.date], ...] = ()        # (status, date), in workflow order
    owners: tuple[tuple[str, str], ...] = ()          # (role, name): author, editor…


@dataclass(frozen=True)
class PlanSettings:
    """The editors' plan (book.yaml `plan:`), which the status report measures the book against."""
    target: int | None = None                         # the whole book's length
    chapter_target: int | None = None                 # each chapter's, unless its entry says otherwise
    due: tuple[tuple[str, dt.date], ...] = ()
    owners: tuple[tuple[str, str], ...] = ()
    documents: tuple[tuple[str, DocumentPlan], ...] = ()   # by file name, as contents: lists it

    @property
    def exists(self) -> bool:
        return self != PlanSettings()

    def for_document(self, name: str, kind: str) -> DocumentPlan:
        """The book's plan with the document's own entry laid over it."""
        own = dict(self.documents).get(name, DocumentPlan())
        target = own.target if own.target is not None else (self.chapter_target if kind == "chapter" else None)
        due = {**dict(self.due), **dict(own.due)}
        return DocumentPlan(target, tuple(sorted(due.items(), key=lambda item: item[1])),
                            tuple({**dict(self.owners), **dict(own.owners)}.items()))


@dataclass(frozen=True)
class BookConfig:
    root: Path
    title: str
    subtitle: str | None
    authors: tuple[str, ...]
    language: str
    identifier: str
    publisher: str | None
    edition: str | None
    date: dt.date
    rights: str | None
    chapters: tuple[DocRef, ...]
    parts: tuple[PartRef, ...]
    appendices: tuple[str, ...]
    check: CheckSettings = field(default_factory=CheckSettings)
    assemble: AssembleSettings = field(default_factory=AssembleSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    citations: CitationSettings = field(default_factory=CitationSettings)
    diagrams: DiagramSettings = field(default_factory=DiagramSettings)
    print: PrintSettings = field(default_factory=PrintSettings)
    screen: ScreenSettings = field(default_factory=ScreenSettings)
    epub: EpubSettings = field(default_factory=EpubSettings)
    plan: PlanSettings = field(default_factory=PlanSettings)
    fonts: FontSettings = field(default_factory=FontSettings)
    static: Path | None = None      # Hugo's static/ folder, inside the manuscript
    # The site the documents come from (Hugo's baseURL): a site path that finds no document of
    # the book links to that page of the site instead of being an error.
    site_url: str | None = None
    project: Path = field(default_factory=project_root)   # nothing outside it is read for fonts

    @property
    def path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def static_dir(self) -> Path:
        """Where root-relative paths (/images/x.png, Hugo's static/) start."""
        return self.static or self.root

    @property
    def registry_dir(self) -> Path:
        return self.root / self.check.registry

    def documents(self) -> list[DocRef]:
        """Every manuscript file, chapters first, then each part's documents."""
        return [*self.chapters, *(d for p in self.parts for d in p.documents)]


def load_config(root: Path, diagnostics: Diagnostics | None = None) -> BookConfig:
    """Parse book.yaml, reporting every problem in it at once.

    A file that cannot be read as a YAML mapping stops at once (PipelineError). Everything
    else is collected: value errors as `config-invalid`, unknown keys as `config-unknown-key`.
    With `diagnostics`, errors end in BuildStopped (they are in the list); without, in one
    PipelineError that lists them all, and warnings go to the log.
    """
    root = Path(root)
    path = root / CONFIG_NAME
    if not root.is_dir():
        raise PipelineError("the manuscript folder does not exist.", file=root,
                            hint="Pass an existing folder with --manuscript.")
    if not path.is_file():
        if not any(root.iterdir()):
            raise PipelineError("the manuscript folder is empty.", file=root,
                                hint=f"Add a {CONFIG_NAME} and the chapter files it names.")
        raise PipelineError(f"there is no {CONFIG_NAME} in the manuscript folder.", file=root,
                            hint=f"Run 'python -m pipeline init {root}' to write a first one from the documents "
                                 "there, or create it with the book's title and the documents it contains.")
    text, data = _read_yaml(path, "Start with 'title: ...'.")
    collector = diagnostics if diagnostics is not None else Diagnostics()
    first = len(collector.items)
    context = _Context(root.resolve(), path, yaml.compose(text, Loader=NoAliasLoader), collector)
    config = _parse(context, data)
    context.report_unknown_keys()
    _check_registry(context, config)

    found = collector.items[first:]
    errors = [d for d in found if d.is_error]
    if diagnostics is not None:
        if errors:
            raise BuildStopped(CONFIG_NAME)
        return config
    if errors:
        raise _as_one_error(path, sorted(found, key=lambda d: d.sort_key()))
    for item in found:
        log.warning("%s: %s%s", item.location(), item.message, f" ({item.hint})" if item.hint else "")
    return config


def _as_one_error(path: Path, found: list) -> PipelineError:
    if len(found) == 1:
        # One problem reads exactly as it did before problems were collected.
        only = found[0]
        return PipelineError(only.message, file=only.file, line=only.line, hint=only.hint)
    lines = "\n".join(f"  {item}" for item in found)
    return PipelineError(f"{len(found)} problems:\n{lines}", file=path)


def read_yaml_mapping(path: Path, shape_hint: str) -> dict:
    """A YAML file that must hold a mapping; every failure names the file and, where known, the line."""
    return _read_yaml(path, shape_hint)[1]


def _read_yaml(path: Path, shape_hint: str) -> tuple[str, dict]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"the file is not UTF-8 (byte {exc.start}).", file=path,
                            line=raw[:exc.start].count(b"\n") + 1, hint="Save it as UTF-8.") from None
    try:
        data = yaml.load(text, Loader=NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise PipelineError(f"the YAML cannot be read: {exc.problem}.", file=path, line=line,
                            hint="Fix the indentation or quoting on that line.") from None
    if data is None:
        return text, {}
    if not isinstance(data, dict):
        raise PipelineError("the file must be a YAML mapping of 'key: value' lines.", file=path, hint=shape_hint)
    return text, data


KeyPath = tuple  # of str (mapping keys) and int (list indexes), e.g. ("contents", "parts", 0, "title")


def _dotted(keypath: KeyPath) -> str:
    text = ""
    for step in keypath:
        text += f"[{step}]" if isinstance(step, int) and not isinstance(step, bool) else f".{step}"
    return text.lstrip(".")


def _line_of(node, keypath: KeyPath) -> int | None:
    """The 1-based line of the key or list item at keypath in the composed YAML.

    When the path is absent (a missing key), the nearest ancestor that is present
    answers, so a problem still points into the right block.
    """
    line = None
    for step in keypath:
        if isinstance(node, yaml.MappingNode):
            # The last duplicate wins, as it does in safe_load.
            matches = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(step)]
            if not matches:
                break
            key, node = matches[-1]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line


class _Context:
    """One load of book.yaml: where problems go, and which keys each mapping was read for."""

    def __init__(self, root: Path, path: Path, tree, diagnostics: Diagnostics):
        self.root, self.path, self.tree, self.diagnostics = root, path, tree, diagnostics
        # keypath -> (the mapping, the keys _parse read from it). The keys read are the schema:
        # a setting becomes known by being read, so there is no second list to keep in step.
        self.mappings: dict[KeyPath, tuple[dict, dict[str, None]]] = {}

    def invalid(self, keypath: KeyPath, message: str, hint: str, severity: str | None = None) -> None:
        self.diagnostics.add("config-invalid", message, file=self.path, line=_line_of(self.tree, keypath),
                             hint=hint, severity=severity)

    def report_unknown_keys(self) -> None:
        for keypath, (data, known) in self.mappings.items():
            for key in data:
                if key in known:
                    continue
                close = difflib.get_close_matches(str(key), list(known), n=1)
                hint = f"Did you mean '{close[0]}'?" if close else f"Known keys here: {', '.join(known)}."
                self.diagnostics.add("config-unknown-key", f"unknown key '{_dotted((*keypath, key))}'",
                                     file=self.path, line=_line_of(self.tree, (*keypath, key)), hint=hint)


class _Reader:
    """Typed access to one mapping of book.yaml, naming the key in every problem.

    A bad value is reported and the default returned, so parsing goes on and finds the
    next problem; load_config stops once everything has been read. Read every key
    unconditionally: a key is known only if it is read.
    """

    def __init__(self, data: dict, context: _Context, keypath: KeyPath = ()):
        self.data, self.context, self.keypath = data or {}, context, keypath
        self.known = context.mappings.setdefault(keypath, (self.data, {}))[1]

    def fail(self, key, what: str, hint: str) -> None:
        self.context.invalid((*self.keypath, key), f"'{_dotted((*self.keypath, key))}' {what}", hint)

    def raw(self, key: str, default=None):
        self.known[key] = None
        return self.data.get(key, default)

    def str(self, key: str, default=None, required: bool = False):
        value = self.raw(key, default)
        if value is None:
            if required:
                self.fail(key, "is missing.", f"Add '{key}: ...' to book.yaml.")
            return None
        if isinstance(value, (dt.date, int, float)):
            value = str(value)
        if not isinstance(value, str):
            self.fail(key, f"must be text, not {type(value).__name__}.", "Write it as a quoted string.")
            return default
        return value

    def number(self, key: str, default: float) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, not {shown(value)}.", "Write a plain number.")
            return float(default)
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {shown(value)}.", "Write true or false.")
            return default
        return value

    def choice(self, key: str, default: str, options: tuple[str, ...],
               booleans: tuple[str, str] | None = None) -> str:
        """One of `options`; `booleans` (false, true) names the options a bare YAML 1.1 off/on stands for."""
        if booleans and isinstance(self.data.get(key), bool):
            self.known[key] = None
            return booleans[self.data[key]]
        value = self.str(key, default)
        if value not in options:
            self.fail(key, f"is {shown(value)}, which is not one of {', '.join(options)}.", "Pick one of those values.")
            return default
        return value

    def length(self, key: str, default: str) -> str:
        value = str(self.str(key, default)).strip()
        try:
            length_mm(value)
        except ValueError:
            self.fail(key, f"is {shown(value)}, which is not a length.", "Write a length such as 170mm or 10.5pt.")
            return default
        return value

    def list(self, key: str) -> list:
        value = self.raw(key) or []
        if not isinstance(value, list):
            self.fail(key, "must be a list.", "Write one '- item' per line.")
            return []
        return value

    def section(self, key: str) -> "_Reader":
        value = self.raw(key) or {}
        if not isinstance(value, dict):
            self.fail(key, "must be a mapping of settings.", "Indent its settings under it.")
            value = {}
        return _Reader(value, self.context, (*self.keypath, key))


def _doc_refs(context: _Context, entries: list, keypath: KeyPath, where: str) -> tuple[DocRef, ...]:
    """The documents of one list; a bad entry is reported and left out."""
    refs = []
    for index, entry in enumerate(entries):
        item = (*keypath, index)
        if isinstance(entry, dict):
            reader = _Reader(entry, context, item)
            name, ident = reader.raw("file"), reader.str("id")
        else:
            name, ident = entry, None
        if not isinstance(name, str):
            context.invalid(item, f"{where} has an entry that is neither a file name nor a 'file:' mapping: {shown(entry)}.",
                            "Write '- chapter.md' or '- {file: chapter.md, id: slug}'.")
            continue
        doc_path = (context.root / name).resolve()
        if not doc_path.is_relative_to(context.root):
            context.invalid(item, f"{where} names '{name}', which is outside the manuscript folder.",
                            "A book reads only files inside its own folder; copy the file in.")
        elif not doc_path.is_file():
            context.invalid(item, f"{where} names '{name}', which does not exist.",
                            "Fix the file name or add the file to the manuscript folder.")
        else:
            refs.append(DocRef(doc_path, ident))
    return tuple(refs)


_MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72}


def length_mm(value: str) -> float:
    """A book.yaml length (mm, cm, in or pt; a bare number is mm) in millimetres."""
    value = value.strip()
    for unit, factor in _MM_PER_UNIT.items():
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


def _parse(context: _Context, data: dict) -> BookConfig:
    root = context.root
    top = _Reader(data, context)
    contents = top.section("contents")
    chapter_entries = contents.list("chapters")
    chapters = _doc_refs(context, chapter_entries, ("contents", "chapters"), "contents.chapters")
    parts = []
    part_entries = contents.list("parts")
    for index, part in enumerate(part_entries):
        if not isinstance(part, dict):
            context.invalid(("contents", "parts", index),
                            f"contents.parts entry {index + 1} must be a mapping with id, title and documents.",
                            "See the bundled manuscript/book.yaml.")
            continue
        reader = _Reader(part, context, ("contents", "parts", index))
        part_id, title = reader.str("id", required=True), reader.str("title", required=True)
        docs = _doc_refs(context, reader.list("documents"), ("contents", "parts", index, "documents"),
                         f"part '{title or ''}'")
        parts.append(PartRef(part_id, title, docs))
    appendices = tuple(contents.list("appendices"))
    for index, name in enumerate(appendices):
        if name not in GENERATED_APPENDICES:
            context.invalid(("contents", "appendices", index),
                            f"contents.appendices names {shown(name)}, which the pipeline cannot generate.",
                            f"Use any of: {', '.join(GENERATED_APPENDICES)}.")
    # Judged on what was listed, not on what survived: a missing file is already reported.
    if not chapter_entries and not part_entries:
        context.invalid(("contents",), "book.yaml lists no documents.",
                        "Add the chapter files under contents.chapters.")

    raw_date = top.raw("date")
    if isinstance(raw_date, dt.datetime):
        raw_date = raw_date.date()
    if not isinstance(raw_date, dt.date):
        try:
            raw_date = dt.date.fromisoformat(str(raw_date))
        except ValueError:
            context.invalid(("date",), f"'date' is {shown(raw_date)}, which is not a date.", "Write it as YYYY-MM-DD.")
            raw_date = None
    authors = top.raw("authors") or []
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list):
        context.invalid(("authors",), f"'authors' must be a name or a list of names, not {shown(authors)}.",
                        "Write 'authors: [Name]' or one '- Name' per line.")
        authors = []

    check = top.section("check")
    statuses = tuple(check.list("statuses")) or CheckSettings.statuses
    assemble = top.section("assemble")
    indexing = top.section("index")
    citing = top.section("citations")
    diagrams = top.section("diagrams")
    printing = top.section("print")
    trim, margins = printing.section("trim"), printing.section("margins")
    epub = top.section("epub")
    cover = epub.str("cover")
    max_image_px = epub.number("max_image_px", EpubSettings.max_image_px)
    if not (max_image_px.is_integer() and max_image_px >= 0):
        epub.fail("max_image_px", f"is {shown(epub.data.get('max_image_px'))}, which is not a whole number of pixels.",
                  "Write the longest side an EPUB image may have, e.g. 1600, or 0 to pack images as they are.")
        max_image_px = EpubSettings.max_image_px
    jpeg_quality = epub.number("jpeg_quality", EpubSettings.jpeg_quality)
    if not (jpeg_quality.is_integer() and 1 <= jpeg_quality <= 100):
        epub.fail("jpeg_quality", f"is {shown(epub.data.get('jpeg_quality'))}, which is not a whole number from 1 to 100.",
                  "Write a JPEG quality such as 85 (above 95 makes large files for no visible gain).")
        jpeg_quality = EpubSettings.jpeg_quality
    return BookConfig(
        root=root, title=top.str("title", required=True), subtitle=top.str("subtitle"),
        authors=tuple(str(a) for a in authors), language=top.str("language", "zh-CN"),
        identifier=top.str("identifier", required=True), publisher=top.str("publisher"),
        edition=top.str("edition"), date=raw_date, rights=top.str("rights"),
        chapters=chapters, parts=tuple(parts), appendices=appendices,
        check=CheckSettings(check.number("word_count_tolerance", 0.05), tuple(str(s) for s in statuses),
                            check.str("registry", "data"), check.number("max_document_kb", 2048),
                            check.number("max_image_pixels", 40_000_000), _requirements(check),
                            tuple(str(key) for key in check.list("extra_keys"))),
        static=_static_folder(context, top.str("static")), site_url=_site_url(top),
        plan=_plan(top.section("plan"), tuple(str(s) for s in statuses),
                   {ref.path.name for ref in (*chapters, *(d for p in parts for d in p.documents))}),
        assemble=AssembleSettings(assemble.bool("takeaways_box_in_chapter", True),
                                  tuple(str(label) for label in assemble.list("tabs")),
                                  _site_shortcodes(assemble)),
        index=IndexSettings(indexing.bool("in_headings", False), indexing.bool("in_notes", False)),
        citations=_citation_settings(context, citing, root),
        fonts=_font_settings(context, top.section("fonts"), printing),
        diagrams=DiagramSettings(
            renderer=diagrams.choice("renderer", "local", ("local", "remote")),
            server=diagrams.str("server"), timeout=diagrams.number("timeout", 60),
            layout=diagrams.choice("layout", "auto", ("auto", "scale", "landscape", "transpose")),
            min_text_pt=diagrams.number("min_text_pt", 6.5),
            default_caption=diagrams.str("default_caption")),
        print=PrintSettings(
            trim_width=trim.length("width", "170mm"),
            trim_height=trim.length("height", "240mm"),
            bleed=printing.length("bleed", "3mm"),
            margin_top=margins.length("top", "20mm"),
            margin_bottom=margins.length("bottom", "22mm"),
            margin_inside=margins.length("inside", "22mm"),
            margin_outside=margins.length("outside", "18mm"),
            crop_marks=printing.bool("crop_marks", False),
            variant=printing.choice("variant", "rgb", ("rgb", "pdfx")),
            font_size=printing.length("font_size", "10.5pt"),
            # The documented values are on/off, which YAML 1.1 reads, unquoted, as true/false.
            parallel=printing.choice("parallel", "auto", ("auto", "on", "off"), booleans=("off", "on")),
            notes=printing.choice("notes", "footnote", ("footnote", "chapter-end")),
            link_urls=printing.choice("link_urls", "footnote", ("footnote", "inline", "none")),
            latin_hyphenation=_hyphenation_language(printing),
            squeeze_commas=printing.bool("squeeze_commas", False),
            tagged=printing.bool("tagged", False)),
        screen=_screen_settings(top.section("screen")),
        epub=EpubSettings(cover=(root / cover) if cover else None,
                          accessibility_summary=epub.str("accessibility_summary", "") or "",
                          max_image_px=int(max_image_px), jpeg_quality=int(jpeg_quality)),
    )


def _whole(reader: "_Reader", key: str) -> int | None:
    value = reader.raw(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        reader.fail(key, f"is {shown(value)}, which is not a length.", "Write a whole number of characters, e.g. 12000.")
        return None
    return value


def _due_dates(reader: "_Reader", statuses: tuple[str, ...]) -> tuple[tuple[str, dt.date], ...]:
    due = []
    for status in list(reader.data):
        value = reader.raw(status)
        if status not in statuses:
            reader.fail(status, "is not a status of this book's workflow.", f"Use one of: {', '.join(statuses)}.")
            continue
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            reader.fail(status, f"is {shown(value)}, which is not a date.", "Write the date as YYYY-MM-DD.")
            continue
        due.append((status, value))
    return tuple(sorted(due, key=lambda item: statuses.index(item[0])))


def _owners(reader: "_Reader") -> tuple[tuple[str, str], ...]:
    owners = []
    for role in list(reader.data):
        name = reader.str(str(role))
        if name:
            owners.append((str(role), name))
    return tuple(owners)


def _plan(plan: "_Reader", statuses: tuple[str, ...], files: set[str]) -> PlanSettings:
    """plan: every problem reported at once; a document entry must name a file of contents:."""
    entries = []
    documents = plan.section("documents")
    for name in list(documents.data):
        entry = documents.section(name)
        if str(name) not in files:
            documents.context.invalid((*documents.keypath, name), f"'plan.documents' names '{name}', which is not "
                                      "a document of contents:.", "Use the file name as contents: lists it.",
                                      severity="warning")
        entries.append((str(name), DocumentPlan(_whole(entry, "target"), _due_dates(entry.section("due"), statuses),
                                                _owners(entry.section("owners")))))
    return PlanSettings(_whole(plan, "target"), _whole(plan, "chapter_target"),
                        _due_dates(plan.section("due"), statuses), _owners(plan.section("owners")), tuple(entries))


def _screen_settings(screen: "_Reader") -> ScreenSettings:
    color = screen.str("link_color", ScreenSettings.link_color)
    if not re.fullmatch(r"#[0-9A-Fa-f]{3}(?:[0-9A-Fa-f]{3})?", color or ""):
        screen.fail("link_color", f"is {shown(color)}, which is not a colour.", "Write it as #RRGGBB, e.g. #1f4e8c.")
        color = ScreenSettings.link_color
    return ScreenSettings(screen.bool("tagged", True), color, screen.bool("cover", True))


def _font_settings(context: _Context, fonts: "_Reader", printing: "_Reader") -> FontSettings:
    """fonts: a family name per role; print.serif_font and print.sans_font are read as their old spelling."""
    values, lines = {}, []
    for role in FONT_ROLES:
        family, keypath = fonts.str(role), ("fonts", role)
        old = {"serif": "serif_font", "sans": "sans_font"}.get(role)
        legacy = printing.str(old) if old else None
        if legacy is not None:
            context.invalid(("print", old), f"'print.{old}' is now 'fonts.{role}'.",
                            f"Write it as 'fonts: {{{role}: {legacy}}}'.", severity="warning")
            if family is None:
                family, keypath = legacy, ("print", old)
        if family is not None and not family.strip():
            fonts.fail(role, "is empty.", f"Name a font family, e.g. {getattr(FontSettings, role)}.")
        elif family is not None:
            values[role] = family.strip()
            lines.append((role, _line_of(context.tree, keypath)))
    return FontSettings(**values, missing=fonts.choice("missing", "error", ("error", "fallback")), lines=tuple(lines))


def _site_shortcodes(assemble: "_Reader") -> tuple:
    """assemble.shortcodes: each name maps to a template, or to texts by the first argument."""
    value = assemble.raw("shortcodes") or {}
    hint = ('Map each name to a quoted text with {argument} places, e.g. glossary_tooltip: "{text}", or to '
            'texts by the first argument, e.g. heading: {whatsnext: 接下来}.')
    if not isinstance(value, dict):
        assemble.fail("shortcodes", f"must be a mapping of shortcode names, not {shown(value)}.", hint)
        return ()
    found = []
    for name, rule in value.items():
        if isinstance(rule, (str, int, float)) and not isinstance(rule, bool) or rule is None:
            found.append((str(name), "" if rule is None else str(rule)))
        elif isinstance(rule, dict) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                            for v in rule.values()):
            found.append((str(name), tuple((str(k), str(v)) for k, v in rule.items())))
        else:
            assemble.fail("shortcodes", f"gives {name!r} {shown(rule)}, which is neither a text nor a mapping of "
                          "texts.", hint)
    return tuple(found)


def _hyphenation_language(printing: "_Reader") -> str:
    """print.latin_hyphenation: a language pyphen has a dictionary for, or "" (none)."""
    import pyphen
    language = printing.str("latin_hyphenation", "en") or ""
    if language and pyphen.language_fallback(language) is None:
        printing.fail("latin_hyphenation", f"names a language without a hyphenation dictionary: {language!r}.",
                      "Use a code such as en, en_GB, de or fr, or '' to leave Latin words whole.")
        return ""
    return language


def _requirements(check: "_Reader") -> tuple[tuple[str, tuple[str, ...]], ...]:
    require = check.section("require")
    defaults = dict(CheckSettings.require)
    return tuple((kind, tuple(str(k) for k in require.list(kind)) or defaults[kind]) for kind in ("chapter", "article"))


def _site_url(top: "_Reader") -> str | None:
    value = top.str("site_url")
    if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        top.fail("site_url", f"is {shown(value)}, which is not the address of a web site.",
                 "Write the site's address, e.g. site_url: https://kubernetes.io (Hugo's baseURL).")
        return None
    return value.rstrip("/") if value else None


def _static_folder(context: _Context, name: str | None) -> Path | None:
    if name is None:
        return None
    folder = (context.root / name).resolve()
    if not folder.is_relative_to(context.root) or not folder.is_dir():
        context.invalid(("static",), f"'static' names '{name}', which is not a folder inside the manuscript folder.",
                        "Point it at the folder that holds Hugo's static files, e.g. static: static.")
        return None
    return folder


def _citation_settings(context: "_Context", citing: "_Reader", root: Path) -> CitationSettings:
    """citations.bibliography must be a file of the manuscript; citations.style a CSL style."""
    from pipeline.citations import style_path
    bibliography = citing.str("bibliography")
    style = citing.str("style", CitationSettings.style) or CitationSettings.style
    if bibliography:
        path = (root / bibliography).resolve()
        if root.resolve() not in path.parents or not path.is_file():
            context.invalid(("citations", "bibliography"), f"'citations.bibliography' names '{bibliography}', "
                            "which is not a file in the manuscript folder.",
                            "Put the CSL-JSON, CSL-YAML or BibTeX file beside book.yaml and name it here.")
            bibliography = None
    if not style_path(style, root).is_file():
        context.invalid(("citations", "style"), f"'citations.style' names '{style}', which is neither a .csl file "
                        "of the manuscript nor a style in styles/.", "Use gb-t-7714-2015-numeric, or a .csl file.")
        style = CitationSettings.style
    return CitationSettings(bibliography, style, citing.choice("numbering", "chapter", ("chapter", "book")))


def _check_registry(context: _Context, config: BookConfig) -> None:
    # A warning, not an error: the book still builds, but slugs in front matter go unchecked.
    # Only when book.yaml names the folder: a book without a registry needs no setting.
    check = context.mappings.get(("check",), ({}, {}))[0]
    named = "registry" in check
    if named and config.check.registry and not config.registry_dir.is_dir():
        context.invalid(("check", "registry"),
                        f"'check.registry' names '{config.check.registry}', which does not exist in the manuscript "
                        "folder, so the registry checks are off.",
                        "Create that folder with the slug lists (events.yaml, organizations.yaml, concepts.yaml) "
                        "or point check.registry at an existing one.", severity="warning")
