"""One pass from files to the Book: check, diagrams, assemble. The writers take it from here."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from pipeline import assemble
from pipeline.book import Asset, Book, Figure, Part, Section, source_date_epoch
from pipeline.check import CheckReport, check_documents, raise_if_errors, release_problems
from pipeline.config import BookConfig, load_config
from pipeline.documents import Document, parse_date, read_manuscript
from pipeline.errors import display_path
from pipeline.progress import Reporter
from pipeline.text import slugify_ascii

APPENDIX_LABELS = "ABCDEFGH"


def checked_documents(config: BookConfig, *, release: bool, reporter: Reporter) -> tuple[list[Document], CheckReport]:
    documents = read_manuscript(config)
    report = check_documents(config, documents)
    for problem in report.warnings:
        reporter.say(str(problem))
    raise_if_errors(report.errors, "the manuscript has errors")
    if release:
        raise_if_errors(release_problems(report), "a release build needs every document final")
    return documents, report


def _section_id(doc: Document) -> str:
    if doc.id:
        return doc.id
    if doc.kind == "chapter":
        return f"ch{doc.meta['chapter_number']:02d}"
    return "doc-" + slugify_ascii(doc.path.stem, "untitled")


def render_manuscript_diagrams(config: BookConfig, out_dir: Path, *, draft: bool, reporter: Reporter,
                               documents: list[Document] | None = None) -> dict[int, list]:
    """Every document's diagrams, rendered in one session: id(document) -> RenderedDiagrams in text order."""
    from pipeline.diagrams import find_diagrams, render_diagrams
    documents = documents if documents is not None else read_manuscript(config)
    blocks_by_doc = {id(doc): find_diagrams(doc.body, doc.path, doc.body_line) for doc in documents}
    blocks = [b for doc in documents for b in blocks_by_doc[id(doc)]]
    if not blocks:
        return {}
    width, height = config.print.text_block_mm()
    reporter.say(f"rendering {len(blocks)} diagram(s)")
    with reporter.bar("diagrams", len(blocks)) as advance:
        rendered = iter(render_diagrams(blocks, config.diagrams, out_dir / "cache" / "diagrams", draft=draft,
                                        text_width_mm=width, text_height_mm=height, progress=advance))
    return {key: [next(rendered) for _ in doc_blocks] for key, doc_blocks in blocks_by_doc.items()}


def _figures_into_markdown(doc: Document, section_id: str, label_prefix: str, rendered: list,
                           config: BookConfig) -> tuple[str, list[Figure], list[Asset]]:
    """Replace each mermaid fence with a raw-HTML figure; pandoc passes it through untouched."""
    lines = doc.body.splitlines(keepends=True)
    figures, assets = [], []
    for number, result in enumerate(rendered, 1):
        block = result.block
        asset = Asset(f"images/{result.path.name}", result.path, result.media_type)
        label = f"图{label_prefix}{number}"
        caption = block.caption or config.diagrams.default_caption or ""
        figure = Figure(id=_figure_id(block.id, section_id, number), label=label, caption=caption,
                        alt=block.alt or caption or f"{label}：Mermaid 图表", asset=asset,
                        width_px=result.width_px, height_px=result.height_px, placement=result.placement)
        figures.append(figure)
        assets.append(asset)
    for result, figure in sorted(zip(rendered, figures), key=lambda pair: pair[0].block.start, reverse=True):
        lines[result.block.start:result.block.end] = ["\n```{=html}\n", assemble.figure_html(figure) + "\n", "```\n\n"]
    return "".join(lines), figures, assets


def _figure_id(author_id: str | None, section_id: str, number: int) -> str:
    if author_id:
        return "fig-" + "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-"
                                for c in author_id.removeprefix("fig:").removeprefix("fig-"))
    return f"fig-{section_id}-{number}"


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


def build_book(config: BookConfig, *, out_dir: Path, release: bool = False, draft: bool = False,
               reporter: Reporter | None = None) -> Book:
    reporter = reporter or Reporter(quiet=True)
    documents, report = checked_documents(config, release=release, reporter=reporter)
    final = config.check.final_status
    statuses = {id(r.document): r.status for r in report.documents}
    rendered = render_manuscript_diagrams(config, out_dir, draft=draft, reporter=reporter, documents=documents)
    cache = out_dir / "cache" / "pandoc"

    sections_by_doc, assets, takeaways, references = {}, [], [], []
    ordered = sorted(documents, key=lambda d: (d.kind != "chapter", d.meta.get("chapter_number") or 0))
    reporter.say(f"converting {len(documents)} document(s) with pandoc")
    for doc in ordered:
        section_id = _section_id(doc)
        number = doc.meta.get("chapter_number") if doc.kind == "chapter" else None
        markdown, figures, figure_assets = _figures_into_markdown(
            doc, section_id, f"{number}-" if number is not None else "", rendered.get(id(doc), []), config)
        html = assemble.pandoc_to_html(assemble.fix_cjk_inline(markdown), cache)
        html, image_assets = assemble.resolve_images(
            html, doc, config.root, draft, frozenset(a.href for a in figure_assets))
        extracted = assemble.structure_html(html, section_id, config.assemble.takeaways_box_in_chapter)
        status = statuses[id(doc)]
        section = Section(
            id=section_id, kind=doc.kind, title=str(doc.meta.get("title", doc.path.stem)),
            html=extracted.html, label=f"第{number}章" if number is not None else None,
            title_en=doc.meta.get("title_en"), number=number, status=status, final=status == final,
            source=doc.path, headings=extracted.headings, figures=figures, part_id=doc.part_id,
            updated=parse_date(doc.meta.get("last_updated") or doc.meta.get("date")), lang=config.language)
        sections_by_doc[id(doc)] = section
        assets += figure_assets + image_assets
        if extracted.takeaways is not None:
            takeaways.append((section, extracted.takeaways))
        if extracted.references is not None:
            references.append((section, extracted.references))

    chapters = [sections_by_doc[id(d)] for d in ordered if d.kind == "chapter"]
    parts = []
    for part in config.parts:
        members = tuple(sections_by_doc[id(d)] for d in documents if d.part_id == part.id)
        parts.append(Part(part.id, part.title, members))
    appendices = []
    for name in config.appendices:
        label = f"附录{APPENDIX_LABELS[len(appendices)]}"
        if name == "takeaways" and takeaways:
            appendices.append(assemble.takeaways_appendix(takeaways, label))
        elif name == "references" and references:
            appendices.append(assemble.references_appendix(references, label))
    unique_assets = list({a.href: a for a in assets}.values())
    reporter.say(f"assembled {len(chapters)} chapter(s), {len(parts)} part(s), {len(appendices)} appendix(es)")
    return Book(config=config, chapters=chapters, parts=parts, appendices=appendices, assets=unique_assets,
                release=release, draft=draft, modified=_modified(config, documents))


def build_book_checked(manuscript: Path, out_dir: Path, *, release: bool, draft: bool, reporter: Reporter) -> Book:
    config = load_config(manuscript)
    reporter.say(f"building '{config.title}' from {display_path(config.root)}"
                 + (" (release)" if release else "") + (" (draft)" if draft else ""))
    return build_book(config, out_dir=out_dir, release=release, draft=draft, reporter=reporter)


def write_book_html(book: Book, path: Path) -> Path:
    """A single-file preview of the assembled book, for checking content without a writer."""
    from html import escape

    from pipeline.fsutil import atomic_write_text
    parts = [f"<!DOCTYPE html><html lang=\"{book.config.language}\"><head><meta charset=\"utf-8\">"
             f"<title>{escape(book.config.title)}</title></head><body>"]
    for section in book.sections():
        parts.append(f'<section id="{section.id}" class="{section.kind}"><h1>{escape(section.full_title)}</h1>'
                     f"{section.html}</section>")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts))
    return path
