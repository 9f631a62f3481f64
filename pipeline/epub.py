"""The EPUB 3 writer: Book -> a valid, accessible, reproducible .epub.

ebooklib writes the package document, the navigation document and the NCX;
every content page is XHTML this module builds itself, because ebooklib's own
page serialiser re-parses content as HTML (it lower-cases SVG names and drops
<head> content). ebooklib's zip is not reproducible (wall-clock timestamps),
so its output is collected in memory and zipped here with fixed dates.
The problems this works around are listed in docs/epub.md.
"""
from __future__ import annotations

import datetime as dt
import posixpath
import zipfile
from dataclasses import dataclass, field
from html import escape
from io import BytesIO
from pathlib import Path

from ebooklib import epub
from lxml import etree

from pipeline.book import Book, Section, source_date_epoch
from pipeline.cover import cover_alt, cover_image
from pipeline.diagnostics import Diagnostics
from pipeline.errors import PipelineError
from pipeline.fonts import BookFonts, FontFace, book_fonts, css_quoted, font_stack, subset_font
from pipeline.epub_images import epub_image_bytes, prune as prune_scaled_images
from pipeline.fsutil import atomic_output
from pipeline.transforms import transform, writer_tree
from pipeline.tree import is_element
from pipeline.xref import PAGE_CLASS

XHTML_NS = "http://www.w3.org/1999/xhtml"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
STYLESHEET = Path(__file__).resolve().parent.parent / "styles" / "epub.css"
CSS_FILE = "css/book.css"
NAV_TITLE = "目录"
LANDMARKS_TITLE = "导览"
# Elements drawn in the sans face (see styles/epub.css); only their text goes into its subset.
SANS_XPATH = "//x:h1|//x:h2|//x:h3|//x:h4|//x:h5|//x:h6|//*[contains(concat(' ', @class, ' '), ' sans ')]"
ZIP_EPOCH = dt.datetime(1980, 1, 1, tzinfo=dt.timezone.utc)   # the earliest date a zip entry can hold


@dataclass
class Page:
    """One XHTML content document of the spine."""
    uid: str
    file_name: str          # relative to the package folder, e.g. text/ch06.xhtml
    title: str
    xhtml: bytes

    @property
    def properties(self) -> list[str]:
        """Manifest properties the content needs: EPUBCheck requires them (OPF-014)."""
        found = []
        if b"<math" in self.xhtml:
            found.append("mathml")
        if b"<svg" in self.xhtml:
            found.append("svg")
        return found


@dataclass
class Layout:
    """Where every section and every id of the book ends up."""
    files: dict[str, str]                                   # section/part id -> file name
    owners: dict[str, str] = field(default_factory=dict)    # element id -> file name (first holder wins)
    local: dict[str, set[str]] = field(default_factory=dict)  # file name -> ids it holds


# --------------------------------------------------------------------------- dates

def build_time(book: Book) -> dt.datetime:
    """dcterms:modified and the zip dates: never the wall clock, so equal input gives equal bytes."""
    if book.modified is not None:
        moment = book.modified
        return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)
    return source_date_epoch() or dt.datetime.combine(book.config.date, dt.time(0, 0), dt.timezone.utc)


# --------------------------------------------------------------------------- layout and links

def section_file(section: Section) -> str:
    return f"text/{section.id}.xhtml"


def part_file(part_id: str) -> str:
    return f"text/part-{part_id}.xhtml"


FRONT_FILES = {"cover": "text/cover.xhtml", "titlepage": "text/titlepage.xhtml"}


def _tree_ids(body) -> set[str]:
    return {n.get("id") for n in body.iter() if is_element(n) and n.get("id")}


def plan_layout(book: Book) -> Layout:
    files = {s.id: section_file(s) for s in book.sections()}
    files |= {p.id: part_file(p.id) for p in book.parts}
    taken = set(FRONT_FILES.values())
    for name in files.values():
        if name in taken:
            raise PipelineError(f"two documents would both be written to {name}.",
                                hint="Give each chapter, part and appendix a different id.")
        taken.add(name)
    layout = Layout(files, owners=dict(files))
    for section in book.sections():
        name = files[section.id]
        ids = _tree_ids(section.body) | {section.id}
        layout.local[name] = ids
        for ident in sorted(ids):
            layout.owners.setdefault(ident, name)
    return layout


def resolve_link(target: str, here: str, layout: Layout, section_ids: set[str]) -> str | None:
    """The href for a fragment-only link `#target` on page `here`, or None when nothing holds the id."""
    if target in section_ids:
        # a link to a whole section opens its page at the top
        return posixpath.relpath(layout.files[target], posixpath.dirname(here))
    if target in layout.local.get(here, ()):
        return f"#{target}"
    owner = layout.owners.get(target)
    if owner is None:
        return None
    return f"{posixpath.relpath(owner, posixpath.dirname(here))}#{target}"


# --------------------------------------------------------------------------- body conversion

@dataclass
class BodyResult:
    xml: str                                      # well-formed XHTML fragments, no namespace prefixes
    images: dict[str, str] = field(default_factory=dict)   # book href -> file name in the package


def package_image_name(href: str) -> str:
    """Images keep their name but always live under images/ in the package."""
    return href if href.startswith("images/") else f"images/{posixpath.basename(href)}"


def _text_alternative(img) -> str | None:
    figure = next(iter(img.iterancestors("figure")), None)
    caption = figure.find(".//figcaption") if figure is not None else None
    text = caption.text_content().strip() if caption is not None else ""
    return text or None


@transform("epub", order=10)
def link_to_pages(root, context) -> None:
    """`#id` -> the page that holds it; an empty page reference reads as its target's title."""
    for link in root.iter("a"):
        href = link.get("href", "")
        if not (href.startswith("#") and len(href) > 1):
            continue
        resolved = resolve_link(href[1:], context.here, context.layout, context.section_ids)
        if resolved is None:
            raise PipelineError(f"a link points at #{href[1:]}, which no section of the book holds.",
                                file=context.section.source or context.section.id,
                                hint="Fix the link target or the heading id it refers to.")
        link.set("href", resolved)
        if PAGE_CLASS in (link.get("class") or "").split() and not len(link) and not (link.text or "").strip():
            link.text = context.book.titles.get(href[1:], "")    # a reflowable book has no page numbers


@transform("epub", order=20)
def package_images(root, context) -> None:
    """Images point at their file in the package; `context.images` collects what to pack."""
    for img in root.iter("img"):
        src = img.get("src", "")
        asset = context.book.asset_for(src)
        if asset is None:
            raise PipelineError(f"the image {src} is not among the book's assets.",
                                file=context.section.source or context.section.id,
                                hint="Images must be local files the assemble stage collected.")
        name = package_image_name(asset.href)
        context.images[asset.href] = name
        img.set("src", posixpath.relpath(name, posixpath.dirname(context.here)))
        if not img.get("alt"):
            alt = _text_alternative(img)
            if alt is None:
                raise PipelineError(f"the image {src} has no text alternative.",
                                    file=context.section.source or context.section.id,
                                    hint="Give the image alt text or a caption.")
            img.set("alt", alt)


def convert_body(section: Section, book: Book, layout: Layout) -> BodyResult:
    """The section's tree -> XHTML, through the EPUB's transforms."""
    result = BodyResult("")
    root = writer_tree("epub", book, section, layout=layout, here=layout.files[section.id], images=result.images,
                       section_ids={s.id for s in book.sections()} | {p.id for p in book.parts})
    parts = [escape(root.text or "", quote=False)]
    parts += [etree.tostring(child, method="xml", encoding="unicode", with_tail=True) for child in root]
    result.xml = "".join(parts)
    return result


# --------------------------------------------------------------------------- pages

def xhtml_document(title: str, body: str, *, lang: str, css_href: str, body_class: str = "") -> bytes:
    """A complete XHTML content document; fails loudly if the markup is not well-formed."""
    cls = f' class="{escape(body_class)}"' if body_class else ""
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="{XHTML_NS}" xmlns:epub="http://www.idpf.org/2007/ops" '
        f'lang="{escape(lang)}" xml:lang="{escape(lang)}">\n'
        f"<head>\n<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" type="text/css" href="{escape(css_href)}"/>\n</head>\n'
        f"<body{cls}>\n{body}\n</body>\n</html>\n"
    )
    data = text.encode("utf-8")
    try:
        etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise PipelineError(f"the page '{title}' is not well-formed XHTML: {exc}.",
                            hint="This is a bug in the EPUB writer or in the assembled HTML.") from None
    return data


def _css_href(file_name: str) -> str:
    return posixpath.relpath(CSS_FILE, posixpath.dirname(file_name))


def semantics(section: Section) -> tuple[str, str]:
    """epub:type and ARIA role of a section's page; Ace wants both and wants them to match."""
    if section.kind == "appendix":
        return ("bibliography", "doc-bibliography") if section.id == "references" else ("appendix", "doc-appendix")
    return "chapter", "doc-chapter"


def section_heading(section: Section) -> str:
    heading_id = f"{section.id}-title"
    label = f'<span class="label">{escape(section.label)}</span> ' if section.label else ""
    html = f'<h1 id="{heading_id}">{label}<span class="title">{escape(section.title)}</span></h1>'
    if section.title_en:
        en = escape(section.title_en)
        html += f'\n<p class="title-en sans" lang="en" xml:lang="en">{en}</p>'
    return html


def draft_mark(book: Book, section: Section) -> str:
    # Editors read draft builds on devices; a release never shows the mark.
    if book.release or section.final:
        return ""
    return f'<p class="draft-mark sans" role="note">草稿 · 状态：{escape(section.status)}</p>\n'


def section_page(book: Book, section: Section, layout: Layout) -> tuple[Page, dict[str, str]]:
    file_name = layout.files[section.id]
    if f"{section.id}-title" in layout.local.get(file_name, ()):
        raise PipelineError(f"the id '{section.id}-title' is used in the text; the writer needs it for the title.",
                            file=section.source or section.id, hint="Rename that heading or anchor id.")
    epub_type, role = semantics(section)
    body = convert_body(section, book, layout)
    inner = (f'<section epub:type="{epub_type}" role="{role}" id="{section.id}" '
             f'aria-labelledby="{section.id}-title">\n<header>\n{section_heading(section)}\n</header>\n'
             f"{draft_mark(book, section)}{body.xml}\n</section>")
    data = xhtml_document(section.full_title, inner, lang=section.lang, css_href=_css_href(file_name),
                          body_class=section.kind)
    return Page(f"doc-{section.id}", file_name, section.full_title, data), body.images


def part_page(book: Book, part, layout: Layout) -> Page:
    file_name = layout.files[part.id]
    items = "\n".join(
        f'<li><a href="{posixpath.relpath(layout.files[s.id], posixpath.dirname(file_name))}">'
        f"{escape(s.full_title)}</a></li>" for s in part.sections)
    inner = (f'<section epub:type="part" role="doc-part" id="{part.id}" aria-labelledby="{part.id}-title">\n'
             f'<h1 id="{part.id}-title">{escape(part.title)}</h1>\n<ol class="part-contents">\n{items}\n</ol>\n'
             "</section>")
    data = xhtml_document(part.title, inner, lang=book.config.language, css_href=_css_href(file_name),
                          body_class="part")
    return Page(f"part-{part.id}", file_name, part.title, data)


def cover_page(book: Book, image_name: str) -> Page:
    file_name = FRONT_FILES["cover"]
    src = posixpath.relpath(image_name, posixpath.dirname(file_name))
    inner = (f'<section class="cover" aria-label="封面">\n<img epub:type="cover" role="doc-cover" src="{src}" '
             f'alt="{escape(cover_alt(book.config))}"/>\n</section>')
    data = xhtml_document("封面", inner, lang=book.config.language, css_href=_css_href(file_name),
                          body_class="cover")
    return Page("cover-page", file_name, "封面", data)


def title_page(book: Book) -> Page:
    config = book.config
    file_name = FRONT_FILES["titlepage"]
    lines = [f'<h1 class="book-title">{escape(config.title)}</h1>']
    if config.subtitle:
        lines.append(f'<p class="book-subtitle sans">{escape(config.subtitle)}</p>')
    if config.authors:
        lines.append(f'<p class="book-authors">{escape("　".join(config.authors))}　著</p>')
    lines += [f'<p class="{cls}">{escape(value)}</p>' for cls, value in
              (("book-publisher", config.publisher), ("book-edition", config.edition),
               ("book-rights", config.rights)) if value]
    inner = '<section epub:type="titlepage" class="titlepage">\n' + "\n".join(lines) + "\n</section>"
    data = xhtml_document(config.title, inner, lang=config.language, css_href=_css_href(file_name),
                          body_class="titlepage")
    return Page("titlepage", file_name, config.title, data)


# --------------------------------------------------------------------------- navigation

def heading_tree(section: Section, file_name: str) -> list:
    """h2 entries with their h3 entries nested, as ebooklib toc items."""
    entries: list = []
    for heading in section.headings:
        link = epub.Link(f"{file_name}#{heading.id}", heading.text, f"nav-{heading.id}")
        if heading.level <= 2 or not entries:
            entries.append([link, []])
        else:
            entries[-1][1].append(link)
    return [(epub.Section(link.title, href=link.href), kids) if kids else link for link, kids in entries]


def section_toc(section: Section, layout: Layout):
    name = layout.files[section.id]
    children = heading_tree(section, name)
    return (epub.Section(section.full_title, href=name), children) if children else \
        epub.Link(name, section.full_title, f"nav-{section.id}")


def table_of_contents(book: Book, layout: Layout) -> list:
    toc = [section_toc(s, layout) for s in book.chapters]
    toc += [(epub.Section(p.title, href=layout.files[p.id]), [section_toc(s, layout) for s in p.sections])
            for p in book.parts]
    toc += [section_toc(s, layout) for s in book.appendices]
    return toc


def landmarks(book: Book, layout: Layout, nav_file: str) -> list[dict]:
    marks = [{"href": FRONT_FILES["cover"], "title": "封面", "type": "cover"},
             {"href": FRONT_FILES["titlepage"], "title": "书名页", "type": "titlepage"},
             {"href": nav_file, "title": NAV_TITLE, "type": "toc"}]
    body = [*book.chapters, *(s for p in book.parts for s in p.sections)]
    if body:
        marks.append({"href": layout.files[body[0].id], "title": "正文", "type": "bodymatter"})
    for section in book.appendices:
        marks.append({"href": layout.files[section.id], "title": section.full_title, "type": semantics(section)[0]})
    return marks


# --------------------------------------------------------------------------- fonts and style

def page_characters(pages: list[Page]) -> tuple[set[str], set[str]]:
    """(all visible characters, characters in sans-styled elements) of the generated pages."""
    every, sans = set(NAV_TITLE + LANDMARKS_TITLE), set(NAV_TITLE + LANDMARKS_TITLE)
    for page in pages:
        root = etree.fromstring(page.xhtml)
        every |= set("".join(root.itertext()))
        every |= set("".join(root.xpath("//@alt")))
        for element in root.xpath(SANS_XPATH, namespaces={"x": XHTML_NS}):
            sans |= set("".join(element.itertext()))
    return every, sans


def font_face_css(faces: list[FontFace]) -> str:
    rules = [f'@font-face {{\n  font-family: {css_quoted(f.family)};\n  font-weight: {f.weight};\n'
             f'  font-style: normal;\n  src: url("../fonts/{f.file_name}") format("{_font_format(f)}");\n}}'
             for f in faces]
    return "\n".join(rules) + "\n"


def _font_format(face: FontFace) -> str:
    return "truetype" if face.file_name.endswith(".ttf") else "opentype"


def stylesheet(fonts: BookFonts, embed: bool = True) -> bytes:
    """The embedded faces (unless not `embed`: the preview shows installed fonts rather than cut
    subsets), the families the text and the headings are set in, then styles/epub.css."""
    # @namespace must come before every other rule; the nav's selectors need the epub prefix
    namespace = '@namespace epub "http://www.idpf.org/2007/ops";\n'
    families = (f'html {{ font-family: {font_stack([fonts.family("serif"), "Songti SC"], "serif")}; }}\n'
                f'h1, h2, h3, h4, h5, h6, .sans {{ font-family: '
                f'{font_stack([fonts.family("sans"), "Heiti SC"], "sans-serif")}; }}\n')
    faces = list(dict.fromkeys(face for _role, face in fonts.embedded())) if embed else []
    return (namespace + font_face_css(faces) + families + "\n" + STYLESHEET.read_text(encoding="utf-8")).encode("utf-8")


# --------------------------------------------------------------------------- package

class _RawPage(epub.EpubHtml):
    """A content document written as given: ebooklib would re-parse and re-serialise it."""

    def __init__(self, page: Page, lang: str):
        super().__init__(uid=page.uid, file_name=page.file_name, title=page.title, lang=lang)
        self.raw = page.xhtml
        self.properties.extend(p for p in page.properties if p not in self.properties)

    def get_content(self, default=None):
        return self.raw


class _Entries:
    """Stands in for ebooklib's ZipFile: keeps what it writes, in order."""

    def __init__(self):
        self.files: dict[str, bytes] = {}

    def writestr(self, name, data, compress_type=None):
        self.files[name] = data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def close(self):
        pass


class _Writer(epub.EpubWriter):
    def _write_opf_file(self, root):
        # ebooklib has no hook for the package language, which Ace requires (epub-lang)
        root.set(XML_LANG, self.book.language)
        super()._write_opf_file(root)

    def entries(self) -> dict[str, bytes]:
        self.out = _Entries()
        self._write_container()
        self._write_opf()
        self._write_items()
        return self.out.files


def accessibility_metadata(book: Book) -> list[tuple[str, str]]:
    summary = book.config.epub.accessibility_summary or (
        "本书为可重排文本，包含结构化标题、目录与导航；图片均提供替代文字。无已知的可访问性危害。")
    features = ["structuralNavigation", "tableOfContents", "readingOrder", "alternativeText",
                "displayTransformability"]
    return [("schema:accessMode", "textual"), ("schema:accessMode", "visual"),
            ("schema:accessModeSufficient", "textual"),
            *(("schema:accessibilityFeature", f) for f in features),
            ("schema:accessibilityHazard", "none"),
            ("schema:accessibilitySummary", summary),
            ("dcterms:conformsTo", "EPUB Accessibility 1.1 - WCAG 2.1 Level AA"),
            ("a11y:certifiedBy", book.config.publisher or "、".join(book.config.authors) or book.config.title)]


def describe(book: Book) -> epub.EpubBook:
    """The package metadata, from book.yaml."""
    config = book.config
    package = epub.EpubBook()
    package.set_identifier(config.identifier)
    package.title = config.title
    package.add_metadata("DC", "title", config.title, {"id": "title"})
    package.add_metadata(None, "meta", "main", {"refines": "#title", "property": "title-type"})
    if config.subtitle:
        package.add_metadata("DC", "title", config.subtitle, {"id": "subtitle"})
        package.add_metadata(None, "meta", "subtitle", {"refines": "#subtitle", "property": "title-type"})
    package.set_language(config.language)
    for number, author in enumerate(config.authors, 1):
        package.add_metadata("DC", "creator", author, {"id": f"creator{number}"})
        package.add_metadata(None, "meta", "aut",
                             {"refines": f"#creator{number}", "property": "role", "scheme": "marc:relators"})
    for name, value in (("publisher", config.publisher), ("rights", config.rights)):
        if value:
            package.add_metadata("DC", name, value)
    package.add_metadata("DC", "date", config.date.isoformat())
    package.add_prefix("ibooks", "http://vocabulary.itunes.apple.com/rdf/ibooks/vocabulary-extensions-1.0/")
    package.add_metadata(None, "meta", "true", {"property": "ibooks:specified-fonts"})
    for prop, value in accessibility_metadata(book):
        package.add_metadata(None, "meta", value, {"property": prop})
    return package


def zip_entries(entries: dict[str, bytes], when: dt.datetime) -> bytes:
    """The OCF zip: mimetype first and stored, then everything else, with one fixed date."""
    stamp = max(when, ZIP_EPOCH).timetuple()[:6]
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        ordered = [("mimetype", b"application/epub+zip")] + [(n, d) for n, d in entries.items() if n != "mimetype"]
        for name, data in ordered:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            info.create_system = 3                # Unix, whatever platform builds the book
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compresslevel=9)
    return out.getvalue()


def reading_order(book: Book) -> list:
    """Sections in reading order, with each part's title page before its sections."""
    return [*book.chapters, *(x for p in book.parts for x in (p, *p.sections)), *book.appendices]


def progress_total(book: Book) -> int:
    # one step per section, one for the fonts, one for packaging and writing
    return len(book.sections()) + 2


def _tick(progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def content_pages(book: Book, layout: Layout, cover_name: str, progress=None) -> tuple[list[Page], dict[str, str]]:
    """Every spine page but the nav, in reading order, and the images they use (book href -> package name)."""
    pages = [cover_page(book, cover_name), title_page(book)]
    images: dict[str, str] = {}
    done = 0
    for item in reading_order(book):
        if isinstance(item, Section):
            page, used = section_page(book, item, layout)
            images |= used
            done += 1
            _tick(progress, done, progress_total(book))
        else:
            page = part_page(book, item, layout)
        pages.append(page)
    return pages, images


def embedded_fonts(book: Book, pages: list[Page], cache_dir: Path, fonts: BookFonts) -> dict[str, bytes]:
    """Each face subset to what it has to draw: the serif faces everything, the sans face the headings
    (a face that serves both, everything)."""
    every, sans = page_characters(pages)
    every |= book.characters()
    wanted: dict[FontFace, set[str]] = {}
    for role, face in fonts.embedded():
        wanted.setdefault(face, set()).update(sans if role == "sans" else every)
    return {face.file_name: subset_font(face, characters, cache_dir) for face, characters in wanted.items()}


def package_files(book: Book, layout: Layout, cover, pages: list[Page], images: dict[str, str],
                  fonts: dict[str, bytes], cache_dir: Path, faces: BookFonts) -> dict[str, bytes]:
    """ebooklib's package document, nav and NCX around our pages, as file name -> bytes."""
    package = describe(book)
    package.set_cover(cover.file_name, cover.data, create_page=False)
    package.add_item(epub.EpubItem(uid="css", file_name=CSS_FILE, media_type="text/css",
                                   content=stylesheet(faces)))
    for name, data in fonts.items():
        # explicit media type: mimetypes guesses application/octet-stream without /etc/mime.types
        package.add_item(epub.EpubItem(uid=f"font-{Path(name).stem}", file_name=f"fonts/{name}",
                                       media_type="font/ttf" if name.endswith(".ttf") else "font/otf", content=data))
    for number, (href, name) in enumerate(sorted(images.items()), 1):
        asset = book.asset_for(href)
        package.add_item(epub.EpubItem(uid=f"img{number}", file_name=name, media_type=asset.media_type,
                                       content=epub_image_bytes(asset, book, cache_dir)))
    documents = [_RawPage(page, book.config.language) for page in pages]
    for document in documents:
        package.add_item(document)
    package.add_item(epub.EpubNcx())
    nav = epub.EpubNav(title=NAV_TITLE)
    nav.add_link(href=CSS_FILE, rel="stylesheet", type="text/css")
    package.add_item(nav)
    package.toc = table_of_contents(book, layout)
    package.guide = landmarks(book, layout, nav.file_name)
    # the TOC page follows the title page, as in print
    package.spine = [documents[0], documents[1], nav, *documents[2:]]
    writer = _Writer("unused.epub", package, {
        "epub2_guide": False,      # the EPUB 3 landmarks replace it; its type names differ
        "epub3_pages": False,      # ebooklib would list every element with epub:type and id as a page
        "landmark_title": LANDMARKS_TITLE,
        "play_order": {"enabled": True, "start_from": 1},
        "mtime": build_time(book),
        "raise_exceptions": True,
    })
    writer.process()
    return writer.entries()


def build_package(book: Book, cache_dir: Path, progress=None,
                  diagnostics: Diagnostics | None = None) -> tuple[dict[str, bytes], dict[str, int]]:
    """Every file of the EPUB, in zip order, and the size of each embedded font."""
    faces = book_fonts(book.config, ("serif", "sans"), diagnostics)
    layout = plan_layout(book)
    cover = cover_image(book.config, faces)
    pages, images = content_pages(book, layout, cover.file_name, progress)
    fonts = embedded_fonts(book, pages, cache_dir, faces)
    _tick(progress, progress_total(book) - 1, progress_total(book))
    entries = package_files(book, layout, cover, pages, images, fonts, cache_dir, faces)
    return entries, {name: len(data) for name, data in fonts.items()}


def write_epub(book: Book, out_path: Path, *, cache_dir: Path, progress=None,
               diagnostics: Diagnostics | None = None) -> Path:
    """Write the book as EPUB 3 to out_path; a failed build leaves the previous file in place.

    progress, if given, is called as progress(done, total). A missing font is reported to
    `diagnostics` (pipeline.fonts.book_fonts).
    """
    out_path = Path(out_path)
    entries, _font_sizes = build_package(book, Path(cache_dir), progress, diagnostics)
    data = zip_entries(entries, build_time(book))
    with atomic_output(out_path) as tmp:
        tmp.write_bytes(data)
    prune_scaled_images(book, Path(cache_dir))
    _tick(progress, progress_total(book), progress_total(book))
    return out_path


def font_sizes(book: Book, cache_dir: Path) -> dict[str, int]:
    """Each embedded font's size in bytes, for reports (cheap once write_epub filled the cache)."""
    layout = plan_layout(book)
    faces = book_fonts(book.config, ("serif", "sans"))
    pages, _ = content_pages(book, layout, cover_image(book.config, faces).file_name)
    return {name: len(data) for name, data in embedded_fonts(book, pages, Path(cache_dir), faces).items()}
