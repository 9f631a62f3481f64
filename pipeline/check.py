"""The check stage: everything that can be found without rendering, for every document at once.

Front-matter schemas, measured length against the declared one, registry slugs, chapter
numbering, ids and cross-references, images (present, inside the project, described) and
diagram fences. It reads and parses each document once (pipeline.parse), fixes the ids
and resolves the links on the trees (pipeline.xref), and leaves the result for the build.
Findings go into the run's Diagnostics; nothing here prints.
"""
from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import admonitions, shortcodes
from pipeline.citations import cite_documents
from pipeline.includes import expand_includes, fill_includes, hide_rust_scaffolding, mark_file_labels
from pipeline.config import BookConfig
from pipeline.diagnostics import Diagnostic, Diagnostics, shown
from pipeline.documents import Document, parse_date, read_manuscript
from pipeline.html_figures import gather_html_figures, gather_marked_captions
from pipeline.measure import Measurement, measure
from pipeline.parse import parse_all
from pipeline.registry import REGISTRY_FILES, Registry, load_registry
from pipeline.resources import IMAGE_TYPES, check_image_file, confine, image_type
from pipeline.sanitize import sanitize
from pipeline.text import slugify_ascii
from pipeline.tree import line_of
from pipeline.xref import BookIndex, assign_ids, link_documents


def whole_number(value) -> int | None:
    """The value if YAML read it as a whole number (YAML's true/false are ints to Python)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# key -> (type check, description for messages)
_INT = (lambda v: whole_number(v) is not None and v >= 0, "a whole number")
_STR = (lambda v: isinstance(v, str) and v.strip() != "", "text")
_STR_OR_INT = (lambda v: (isinstance(v, str) and v.strip() != "") or (isinstance(v, int) and not isinstance(v, bool)),
               "text or a year")
_SLUGS = (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of slugs")
_STR_LIST = (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of text")
_DATE = (lambda v: parse_date(v) is not None and not isinstance(v, dt.datetime), "a real date (YYYY-MM-DD)")
_DATETIME = (lambda v: parse_date(v) is not None, "a real date or date-time (ISO 8601)")
_BOOL = (lambda v: isinstance(v, bool), "true or false")

CHAPTER_SCHEMA = {
    "chapter_number": _INT, "title": _STR, "title_en": _STR, "period": _STR_OR_INT, "status": _STR,
    "word_count": _INT, "key_events": _SLUGS, "key_organizations": _SLUGS, "technical_concepts": _SLUGS,
    "anecdote_count": _INT, "created_date": _DATE, "last_updated": _DATE,
}
ARTICLE_SCHEMA = {
    "title": _STR, "date": _DATETIME, "draft": _BOOL, "tags": _STR_LIST, "categories": _STR_LIST,
    "description": _STR,
}
# Optional keys an article may carry to join the editorial workflow like a chapter does.
ARTICLE_OPTIONAL = {"status": _STR, "word_count": _INT, "last_updated": _DATE}
# Keys Hugo knows: an article from a Hugo site may carry them; the book does not use them.
_ANY = (lambda v: True, "any value")
HUGO_KEYS = {key: _ANY for key in (
    "slug", "weight", "aliases", "author", "authors", "summary", "keywords", "lastmod", "publishDate",
    "expiryDate", "url", "type", "layout", "toc", "math", "series", "images", "cover", "linkTitle", "menu",
    "params", "markup", "headless", "isCJKLanguage", "translationKey", "outputs", "resources", "sitemap",
    "build", "subtitle", "comments", "showToc", "hidden", "icon", "bookToc", "bookFlatSection", "bookCollapseSection")}

_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


@dataclass
class DocumentReport:
    document: Document
    measurement: Measurement
    problems: list[Diagnostic] = field(default_factory=list)

    @property
    def meta(self) -> dict:
        return self.document.meta

    @property
    def number(self) -> int | None:
        return whole_number(self.meta.get("chapter_number"))

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or self.document.path.stem)

    @property
    def status(self) -> str:
        return document_status(self.document)

    @property
    def declared_length(self) -> int | None:
        return whole_number(self.meta.get("word_count"))

    @property
    def declared_anecdotes(self) -> int | None:
        return whole_number(self.meta.get("anecdote_count"))

    @property
    def last_updated(self) -> dt.date | None:
        return parse_date(self.meta.get("last_updated") or self.meta.get("date"))


@dataclass
class CheckReport:
    """The checked manuscript: documents in reading order with their trees, and what was found."""
    config: BookConfig
    documents: list[DocumentReport]
    index: BookIndex
    diagnostics: Diagnostics
    registry: Registry = field(default_factory=lambda: Registry({}))

    @property
    def errors(self) -> list[Diagnostic]:
        return self.diagnostics.errors

    @property
    def warnings(self) -> list[Diagnostic]:
        return self.diagnostics.warnings


def document_status(document: Document) -> str:
    return status_of(document.meta, document.kind)


def status_of(meta: dict, kind: str) -> str:
    """The workflow status; Hugo's `draft` flag maps onto draft/final."""
    if "status" in meta:
        return str(meta["status"])
    if kind == "article":
        # Hugo publishes a page unless it says draft: true
        return "draft" if meta.get("draft") is True else "final"
    return "unknown"


# ------------------------------------------------------------------ metadata

def check_schema(doc: Document, settings, diagnostics: Diagnostics) -> None:
    """Required keys (check.require in book.yaml) must be there; every known key has the right type."""
    known = CHAPTER_SCHEMA if doc.kind == "chapter" else {**ARTICLE_SCHEMA, **ARTICLE_OPTIONAL, **HUGO_KEYS}
    first_line = min(doc.key_lines.values(), default=2)
    for key in settings.required(doc.kind):
        if key not in doc.meta:
            description = known.get(key, _ANY)[1]
            diagnostics.add("meta-missing", f"the front matter has no '{key}'.", doc.path, first_line,
                            f"Add '{key}:' with {description} (check.require in book.yaml asks for it).", args={"key": key})
    for key, value in doc.meta.items():
        line = doc.key_lines.get(key)
        rule = known.get(key)
        if rule is None and key in settings.extra_keys:
            continue
        if rule is None:
            listed = [k for k in known if k not in HUGO_KEYS]
            near = difflib.get_close_matches(key, list(known), n=1)
            hint = (f"Did you mean '{near[0]}'? " if near else "") + f"Known keys: {', '.join(listed)}. " \
                f"A key of your own goes in book.yaml's check.extra_keys."
            diagnostics.add("meta-unknown-key", f"unknown front-matter key '{key}'.", doc.path, line, hint,
                            args={"key": key})
            continue
        is_valid, description = rule
        if not is_valid(value):
            diagnostics.add("meta-type", f"'{key}' is {shown(value)}, which is not {description}.", doc.path, line,
                            f"Write {key} as {description}.", args={"key": key, "value": shown(value)})
    statuses = settings.statuses
    if "status" in doc.meta and doc.meta["status"] not in statuses:
        diagnostics.add("status-unknown", f"unknown status {shown(doc.meta['status'])}.", doc.path,
                        doc.key_lines.get("status"), f"Use one of: {', '.join(statuses)}.",
                        args={"value": shown(doc.meta["status"]), "statuses": ", ".join(statuses)})


def check_slugs(doc: Document, registry: Registry, diagnostics: Diagnostics) -> None:
    for key in REGISTRY_FILES:
        values = doc.meta.get(key)
        if not isinstance(values, list):
            continue
        for slug in values:
            if isinstance(slug, str) and not registry.knows(key, slug):
                guess = registry.suggest(key, slug)
                hint = f"Did you mean '{guess}'?" if guess else f"Add it to the registry file {REGISTRY_FILES[key]}."
                diagnostics.add("slug-unknown", f"'{slug}' in {key} is not in the registry.", doc.path,
                                doc.key_lines.get(key), hint, args={"slug": slug, "key": key})


def check_headings(doc: Document, diagnostics: Diagnostics) -> None:
    """A heading that skips a level (`###` straight under the title, as MkDocs pages often have):
    the EPUB's outline and a screen reader go by the levels (Ace reports it), and the print's
    contents list only level 2. And a heading with no text (what a shortcode printing nothing
    leaves of `## {{% heading "whatsnext" %}}`): an empty line in the contents and the outline."""
    previous = 1                                # the document's title
    for heading in doc.tree.iter("h1", "h2", "h3", "h4", "h5", "h6"):
        level = int(heading.tag[1])
        if not "".join(heading.itertext()).strip() and heading.find(".//img") is None:
            diagnostics.add("heading-empty", f"a heading of level {level} has no text.", doc.path, line_of(heading),
                            "Write its text, or remove the heading.", args={"level": level})
        if level > previous + 1:
            text = shown(" ".join("".join(heading.itertext()).split()), 60)
            diagnostics.add("heading-skip", f"the heading {text} is level {level} right after level {previous}: "
                            f"level {previous + 1} is skipped.", doc.path, line_of(heading),
                            f"Write it with {previous + 1} #, or add a heading of level {previous + 1} above it.",
                            args={"heading": text, "level": level, "previous": previous})
        previous = level


def check_measurement(doc: Document, m: Measurement, tolerance: float, diagnostics: Diagnostics) -> None:
    declared = whole_number(doc.meta.get("word_count"))
    if declared is not None:
        difference = m.length - declared
        if abs(difference) > tolerance * max(declared, 1):
            diagnostics.add(
                "word-count-mismatch",
                f"word_count declares {declared} but the text measures {m.length} ({difference:+d}, "
                f"{difference / max(declared, 1):+.0%}; tolerance ±{tolerance:.0%}).",
                doc.path, doc.key_lines.get("word_count"),
                "Run 'python -m pipeline check --fix-counts' to record the measured figure.",
                args={"declared": declared, "measured": m.length, "difference": difference,
                      "ratio": difference / max(declared, 1), "tolerance": tolerance})
    declared_anecdotes = whole_number(doc.meta.get("anecdote_count"))
    if declared_anecdotes is not None and declared_anecdotes != len(m.anecdotes):
        diagnostics.add(
            "anecdote-count-mismatch",
            f"anecdote_count declares {declared_anecdotes} but the text has {len(m.anecdotes)} '💡 轶事' sections.",
            doc.path, doc.key_lines.get("anecdote_count"), "Fix the count or the section headings (run --fix-counts).",
            args={"declared": declared_anecdotes, "found": len(m.anecdotes)})
    if doc.kind == "chapter":
        for block, name, code in ((m.takeaways, "本章要点 (key takeaways)", "takeaways-missing"),
                                  (m.references, "参考文献 (references)", "references-missing")):
            if block is None and not (code == "references-missing" and doc.tree.find("section[@class='bibliography']")
                                      is not None):
                diagnostics.add(code, f"the chapter has no {name} section.", doc.path, None,
                                f"Add a '**{name.split()[0]}**' paragraph followed by a list.")


def check_numbering(documents: list[Document], diagnostics: Diagnostics) -> None:
    seen: dict[int, Path] = {}
    for doc in documents:
        number = whole_number(doc.meta.get("chapter_number"))
        if doc.kind != "chapter" or number is None:
            continue
        if number in seen:
            diagnostics.add("chapter-number-duplicate", f"chapter_number {number} is also used by {seen[number].name}.",
                            doc.path, doc.key_lines.get("chapter_number"), "Give every chapter its own number.",
                            args={"number": number, "other": seen[number].name})
        else:
            seen[number] = doc.path


def release_gate(report: CheckReport) -> None:
    """A release build takes only documents whose status is the workflow's last one."""
    final = report.config.check.final_status
    for d in report.documents:
        if d.status != final:
            report.diagnostics.add(
                "release-not-final", f"'{d.title}' is {d.status}, not {final}.", d.document.path,
                d.document.key_lines.get("status") or d.document.key_lines.get("draft"),
                f"A release build takes only {final} documents; set status: {final} when it is, "
                "or build without RELEASE=1.", args={"title": d.title, "status": d.status, "final": final})


# ------------------------------------------------------------------ images

@dataclass(frozen=True)
class ImageSource:
    path: Path | None          # the local file, when the image is one the book may use
    code: str | None = None    # the diagnostic code when it is not
    reason: str = ""


def image_source(src: str, doc: Document, root: Path, max_pixels: float | None = None,
                 static: Path | None = None) -> ImageSource:
    """Where an image's file is, or why the book cannot use it (pipeline.resources decides).
    Root-relative paths (/images/x.png) start at the static folder, as in Hugo."""
    if src.startswith("data:"):
        return ImageSource(None, "image-remote", f"the image is embedded as a data: URL ({src[:40]}…)")
    if _REMOTE.match(src):
        return ImageSource(None, "image-remote", f"the image {src} is remote, and a build fetches nothing")
    relative = src.lstrip("/") if src.startswith("/") else src
    verdict = confine(relative, (static or root) if src.startswith("/") else doc.path.parent, [root])
    if not verdict:
        code = "image-outside" if "outside" in verdict.reason else "image-missing"
        if code == "image-missing" and src.startswith("/"):
            where = "book.yaml's static folder" if static and static != root else \
                "the manuscript folder (book.yaml names no static folder)"
            return ImageSource(None, code, f"the image {src} is not in {where}; a path starting with / starts there")
        return ImageSource(None, code, f"the image {verdict.reason}")
    if verdict.path.suffix.lower() not in IMAGE_TYPES:
        return ImageSource(None, "image-missing", f"the image {src} is not a PNG, JPEG, GIF, WebP or SVG file")
    if max_pixels is not None:
        checked = check_image_file(verdict.path, int(max_pixels))
        if not checked.ok:
            return ImageSource(None, checked.code, f"the image {src} cannot go into the book: {checked.reason}")
    return ImageSource(verdict.path)


def has_description(img) -> bool:
    if (img.get("alt") or "").strip():
        return True
    figure = next(iter(img.iterancestors("figure")), None)
    caption = figure.find(".//figcaption") if figure is not None else None
    return caption is not None and bool("".join(caption.itertext()).strip())


IMAGE_HINTS = {
    "image-remote": "Download it into the manuscript folder and refer to the local file, or build with --draft "
                    "to get a placeholder.",
    "image-missing": "Put the image in the manuscript folder and use a path relative to the document (or, for a "
                     "/path, under the folder book.yaml's static: names, as Hugo's static/).",
    "image-outside": "Copy the image into the manuscript folder (a symlink out of it does not count).",
    "image-invalid": "Open and save the image again with an image editor, or replace it.",
    "image-too-large": "Scale it down (300 dpi at the printed size is plenty), or raise check.max_image_pixels.",
    "image-unsafe": "Save the SVG without scripts and without links to other files (embed what it shows).",
}


def check_images(doc: Document, config: BookConfig, diagnostics: Diagnostics) -> None:
    written: dict[str, int] = {}        # how often each source was seen: the n-th is on the n-th line naming it
    for img in doc.tree.iter("img"):
        src = img.get("src") or ""
        written[src] = written.get(src, 0) + 1
        found = image_source(src, doc, config.root, config.check.max_image_pixels, config.static_dir)
        line = line_of(img) or doc.line_containing(src, written[src])
        if found.path is None:
            diagnostics.add(found.code, found.reason + ".", doc.path, line, IMAGE_HINTS[found.code], args={"src": src})
        else:
            _check_image_name(found.path, src, doc, line, diagnostics)
        if not has_description(img):
            diagnostics.add("image-no-alt", f"the image {src} has no text alternative.", doc.path, line,
                            "Describe it: ![这张图展示了…](file.png), or give it a caption.", args={"src": src})


def _check_image_name(path: Path, src: str, doc: Document, line: int | None, diagnostics: Diagnostics) -> None:
    """A picture whose name says another format than its bytes (a PNG saved as .jpg): the book
    uses what the bytes are (pipeline/assemble.py), and the author is told, since other tools
    may not."""
    with path.open("rb") as handle:
        media_type, suffix = image_type(path, handle.read(16))
    if media_type != IMAGE_TYPES[path.suffix.lower()]:
        kind = suffix.lstrip(".").upper().replace("JPG", "JPEG")
        diagnostics.add("image-misnamed", f"the image {src} is a {kind} file, not what its name says; the book "
                        f"uses it as {kind}.", doc.path, line, f"Rename it to {path.stem}{suffix}.",
                        args={"src": src, "kind": kind})


# ------------------------------------------------------------------ the stage

def section_id(doc: Document) -> str:
    if doc.id:
        return doc.id
    number = whole_number(doc.meta.get("chapter_number"))
    if doc.kind == "chapter" and number is not None:
        return f"ch{number:02d}"
    return "doc-" + slugify_ascii(doc.path.stem, "untitled")


def reading_order(documents: list[Document]) -> list[Document]:
    """Chapters by number, then the parts' documents in book.yaml order."""
    return sorted(documents, key=lambda d: (d.kind != "chapter", whole_number(d.meta.get("chapter_number")) or 0))


def check_manuscript(config: BookConfig, diagnostics: Diagnostics, cache_dir: Path,
                     release: bool = False) -> CheckReport:
    """Read, parse and check every document; the trees come back with ids fixed and links resolved."""
    from pipeline.diagrams import find_diagrams   # the diagram stage owns the fence syntax

    documents = reading_order(read_manuscript(config, diagnostics))
    _give_section_ids(documents)
    site_shortcodes = dict(config.assemble.shortcodes)
    included = [expand_includes(d.body, d.path, [config.root], config.check.max_document_kb, diagnostics, d.body_line)
                for d in documents]
    bodies = [(shortcodes.expand(admonitions.expand(body, config.assemble.tabs), d.body_line, diagnostics, d.path,
                                 site_shortcodes), d.body_line) for d, (body, _) in zip(documents, included)]
    bodies, bibliographies = cite_documents(documents, bodies, config.citations, config.root, cache_dir, diagnostics)
    trees = parse_all(bodies, cache_dir / "pandoc")
    registry = load_registry(config.registry_dir, diagnostics)
    reports = []
    for doc, tree, bibliography, (_, payloads) in zip(documents, trees, bibliographies, included):
        doc.tree = tree
        fill_includes(tree, payloads)
        hide_rust_scaffolding(tree)
        mark_file_labels(tree)
        shortcodes.finish_shortcodes(tree)
        if bibliography is not None:
            tree.append(bibliography)       # before the sanitizer: a bibliography is a stranger's text too
        sanitize(doc, diagnostics)
        gather_html_figures(tree)           # after the sanitizer, whose align-* classes they may carry
        gather_marked_captions(tree)
        m = measure(tree)
        check_schema(doc, config.check, diagnostics)
        check_slugs(doc, registry, diagnostics)
        check_measurement(doc, m, config.check.word_count_tolerance, diagnostics)
        check_headings(doc, diagnostics)
        reports.append(DocumentReport(doc, m))
    check_numbering(documents, diagnostics)
    if {"index", "glossary"} & set(config.appendices):
        from pipeline.subject_index import check_mentions
        check_mentions(documents, registry, config.index, diagnostics)
    for doc in documents:
        find_diagrams(doc, diagnostics)       # before the ids: a fence's {#id} is an author id too
    index = assign_ids(documents, [f"part-{p.id}" for p in config.parts], diagnostics, config.root,
                       config.site_url)
    link_documents(index, diagnostics)
    for doc in documents:
        check_images(doc, config, diagnostics)
    from pipeline.cover import cover_problem
    problem = cover_problem(config)
    if problem:
        diagnostics.add("config-invalid", problem + ".", config.path, None,
                        "Point epub.cover at a PNG or JPEG file inside the manuscript folder, or set it to null.")
    report = CheckReport(config, reports, index, diagnostics, registry)
    if release:
        release_gate(report)
    for d in reports:
        d.problems = diagnostics.for_file(d.document.path)
    return report


def _give_section_ids(documents: list[Document]) -> None:
    taken: set[str] = set()
    for doc in documents:
        ident, number = section_id(doc), 2
        while ident in taken:
            ident, number = f"{section_id(doc)}-{number}", number + 1
        doc.section_id = ident
        taken.add(ident)


# ------------------------------------------------------------------ --fix-counts

_COUNT_LINE = re.compile(r"^(?P<key>word_count|anecdote_count)(?P<sep>\s*:\s*)(?P<value>[^\s#]*)(?P<rest>.*)$",
                         re.DOTALL)


def fixed_counts_text(report: DocumentReport) -> str:
    """The file's text with only the word_count/anecdote_count values replaced."""
    doc = report.document
    new_values = {"word_count": report.measurement.length, "anecdote_count": len(report.measurement.anecdotes)}
    lines = doc.text.splitlines(keepends=True)
    for key, value in new_values.items():
        line_number = doc.key_lines.get(key)
        if line_number is None:
            continue
        match = _COUNT_LINE.match(lines[line_number - 1])
        if match:
            lines[line_number - 1] = f"{match['key']}{match['sep']}{value}{match['rest']}"
    return "".join(lines)


def fix_counts(report: CheckReport) -> list[Path]:
    changed = []
    for doc_report in report.documents:
        new_text = fixed_counts_text(doc_report)
        if new_text != doc_report.document.text:
            doc_report.document.path.write_bytes(new_text.encode("utf-8"))
            changed.append(doc_report.document.path)
    return changed
