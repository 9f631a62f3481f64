"""One pass from files to the Book: check, diagrams, assemble. The writers take it from here.

Each stage adds what it finds to the run's Diagnostics; after a stage, errors stop the run
(BuildStopped), so a build reports every problem the check stage can find, and only then
renders anything. In a --draft build the problems marked tolerable are warnings and the
writers show placeholders instead.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pipeline import assemble
from pipeline.book import Asset, Book, Figure, Part, Section, source_date_epoch
from pipeline.check import CheckReport, check_manuscript
from pipeline.config import BookConfig, load_config
from pipeline.diagnostics import Diagnostics, display_path
from pipeline.documents import Document, parse_date
from pipeline.errors import BuildStopped
from pipeline.math import render_manuscript_math
from pipeline.progress import Reporter
from pipeline.xref import fill_empty_links

APPENDIX_LABELS = "ABCDEFGH"


def stop_on_errors(diagnostics: Diagnostics, stage: str) -> None:
    if diagnostics.errors:
        raise BuildStopped(stage)


def render_manuscript_diagrams(report: CheckReport, out_dir: Path, *, reporter: Reporter) -> dict[str, list]:
    """Every document's diagrams, rendered in one session: section id -> [(element, RenderedDiagram)]."""
    from pipeline.diagrams import find_diagrams, render_diagrams
    config, diagnostics = report.config, report.diagnostics
    found = {d.document.section_id: find_diagrams(d.document, Diagnostics()) for d in report.documents}
    blocks = [block for pairs in found.values() for _, block in pairs]
    if not blocks:
        return {}
    width, height = config.print.text_block_mm()
    reporter.say(f"rendering {len(blocks)} diagram(s)")
    with reporter.bar("diagrams", len(blocks)) as advance:
        rendered = iter(render_diagrams(blocks, config.diagrams, out_dir / "cache" / "diagrams",
                                        diagnostics=diagnostics, text_width_mm=width, text_height_mm=height,
                                        progress=advance))
    return {key: [(pre, next(rendered)) for pre, _ in pairs] for key, pairs in found.items()}


def _place_figures(doc: Document, rendered: list, label_prefix: str, config: BookConfig,
                   report: CheckReport) -> tuple[list[Figure], list[Asset]]:
    """Each mermaid code block becomes a numbered figure in its place."""
    figures, assets = [], []
    for number, (pre, result) in enumerate(rendered, 1):
        block = result.block
        asset = Asset(f"images/{result.path.name}", result.path, result.media_type)
        label = f"图{label_prefix}{number}"
        caption = block.caption or config.diagrams.default_caption or ""
        ident = pre.get("id") or report.index.fresh(f"fig-{doc.section_id}-{number}")
        figure = Figure(id=ident, label=label, caption=caption, alt=block.alt or caption or f"{label}：Mermaid 图表",
                        asset=asset, width_px=result.width_px, height_px=result.height_px,
                        placement=result.placement)
        node = assemble.figure_element(figure)
        node.tail = pre.tail
        pre.getparent().replace(pre, node)
        report.index.titles[ident] = f"{label}　{caption}".strip()
        figures.append(figure)
        assets.append(asset)
    return figures, assets


def _modified(config: BookConfig, documents: list[Document]) -> dt.datetime:
    """Reproducible: SOURCE_DATE_EPOCH, else the newest date the manuscript declares."""
    epoch = source_date_epoch()
    if epoch:
        return epoch
    dates = [config.date]
    for doc in documents:
        for key in ("last_updated", "created_date", "date"):
            value = parse_date(doc.meta.get(key))
            if value:
                dates.append(value)
    newest = max(dates)
    return dt.datetime(newest.year, newest.month, newest.day, tzinfo=dt.timezone.utc)


@dataclass
class Found:
    """What the generated appendices are compiled from."""
    takeaways: list[tuple[Section, object]]
    references: list[tuple[Section, object, object]]   # (section, free-text list, cited works)
    sections: list[Section]             # chapters and articles, in reading order
    report: CheckReport
    diagnostics: Diagnostics
    marked: object = None               # the index's occurrences, found once for the index and the glossary

    def subject_index(self):
        if self.marked is None:
            from pipeline.subject_index import mark_occurrences
            settings = self.report.config.index
            self.marked = mark_occurrences(self.sections, self.report.registry, self.report.index,
                                           in_headings=settings.in_headings, in_notes=settings.in_notes)
        return self.marked


def _takeaways(found: Found, label: str) -> Section | None:
    return assemble.takeaways_appendix(found.takeaways, label, found.report.index) if found.takeaways else None


def _references(found: Found, label: str) -> Section | None:
    return assemble.references_appendix(found.references, label, found.report.index) if found.references else None


def _index(found: Found, label: str) -> Section | None:
    from pipeline.subject_index import index_appendix
    return index_appendix(found.subject_index(), found.sections, label)


def _glossary(found: Found, label: str) -> Section | None:
    from pipeline.glossary import glossary_appendix
    return glossary_appendix(found.subject_index(), found.report.registry, found.sections, label)


# contents.appendices name -> what compiles it (None: nothing to compile); a new appendix is one entry.
APPENDICES = {"takeaways": _takeaways, "references": _references, "glossary": _glossary, "index": _index}


def build_book(config: BookConfig, *, out_dir: Path, diagnostics: Diagnostics | None = None,
               release: bool = False, draft: bool = False, reporter: Reporter | None = None) -> Book:
    reporter = reporter or Reporter(quiet=True)
    diagnostics = diagnostics if diagnostics is not None else Diagnostics(draft=draft)
    reporter.say(f"checking {len(config.documents())} document(s)")
    report = check_manuscript(config, diagnostics, out_dir / "cache", release=release)
    stop_on_errors(diagnostics, "check")
    rendered = render_manuscript_diagrams(report, out_dir, reporter=reporter)
    stop_on_errors(diagnostics, "diagrams")
    math = render_manuscript_math(report, out_dir, reporter=reporter)
    stop_on_errors(diagnostics, "math")

    final = config.check.final_status
    sections_by_doc, assets, takeaways, references = {}, [], [], []
    for entry in report.documents:
        doc = entry.document
        number = entry.number if doc.kind == "chapter" else None
        figures, figure_assets = _place_figures(doc, rendered.get(doc.section_id, []),
                                                f"{number}-" if number is not None else "", config, report)
        image_assets = assemble.attach_images(doc, config, frozenset(a.href for a in figure_assets))
        extracted = assemble.structure(doc.tree, doc.section_id, config.assemble.takeaways_box_in_chapter,
                                       report.index)
        section = Section(
            id=doc.section_id, kind=doc.kind, title=entry.title, body=doc.tree,
            label=f"第{number}章" if number is not None else None, title_en=doc.meta.get("title_en"),
            number=number, status=entry.status, final=entry.status == final, source=doc.path,
            headings=extracted.headings, figures=figures, part_id=doc.part_id,
            updated=entry.last_updated, lang=config.language)
        report.index.titles[section.id] = section.full_title
        sections_by_doc[doc.section_id] = section
        assets += figure_assets + image_assets
        if extracted.takeaways is not None:
            takeaways.append((section, extracted.takeaways))
        if extracted.references is not None or extracted.bibliography is not None:
            references.append((section, extracted.references, extracted.bibliography))
    fill_empty_links([s.body for s in sections_by_doc.values()], report.index.titles)

    chapters = [sections_by_doc[d.document.section_id] for d in report.documents if d.document.kind == "chapter"]
    parts = [Part(part.id, part.title, tuple(sections_by_doc[d.document.section_id] for d in report.documents
                                             if d.document.part_id == part.id))
             for part in config.parts]
    reading = chapters + [section for part in parts for section in part.sections]
    found = Found(takeaways, references, reading, report, diagnostics)
    appendices = []
    for name in config.appendices:
        appendix = APPENDICES[name](found, f"附录{APPENDIX_LABELS[len(appendices)]}")
        if appendix is not None:
            appendices.append(appendix)
    unique_assets = list({a.href: a for a in assets}.values())
    reporter.say(f"assembled {len(chapters)} chapter(s), {len(parts)} part(s), {len(appendices)} appendix(es)")
    return Book(config=config, chapters=chapters, parts=parts, appendices=appendices, assets=unique_assets,
                release=release, draft=draft, modified=_modified(config, [d.document for d in report.documents]),
                titles=dict(report.index.titles), math=math)


def build_book_checked(manuscript: Path, out_dir: Path, *, diagnostics: Diagnostics, release: bool, draft: bool,
                       reporter: Reporter) -> Book:
    config = load_config(manuscript, diagnostics)
    reporter.say(f"building '{config.title}' from {display_path(config.root)}"
                 + (" (release)" if release else "") + (" (draft)" if draft else ""))
    return build_book(config, out_dir=out_dir, diagnostics=diagnostics, release=release, draft=draft,
                      reporter=reporter)


def write_book_html(book: Book, path: Path) -> Path:
    """A single-file preview of the assembled book, for checking content without a writer."""
    from html import escape

    from pipeline.fsutil import atomic_write_text
    from pipeline.tree import to_html, writer_copy
    parts = [f"<!DOCTYPE html><html lang=\"{escape(book.config.language)}\"><head><meta charset=\"utf-8\">"
             f"<title>{escape(book.config.title)}</title></head><body>"]
    for section in book.sections():
        parts.append(f'<section id="{escape(section.id)}" class="{section.kind}"><h1>{escape(section.full_title)}</h1>'
                     f"{to_html(writer_copy(section.body))}</section>")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts))
    return path
