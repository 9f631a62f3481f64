"""The EPUB writer on the fixture book tests/books/mini: validity, accessibility, reproducibility,
fonts, navigation.

The book is built once per session from a private copy and written twice (each time with an
empty font cache, so the second build also proves subsetting is deterministic). Nothing here
reads the live manuscript/: expected values come from the Book, its config, or the fixture's
own files.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import posixpath
import zipfile
from io import BytesIO

import pytest
from fontTools.ttLib import TTFont
from lxml import etree

from pipeline import epub as epub_writer
from pipeline.errors import PipelineError
from pipeline.fonts import FontFace, SANS_BOLD, SERIF_BOLD, SERIF_REGULAR, source_path
from pipeline.tree import parse_html
from pipeline.validate import run_ace, run_epubcheck

NS = {"x": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops",
      "opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"

# Constants of the fixture book (tests/books/mini), visible in its files.
DRAFT_CHAPTER = "ch01"          # ch1.md: status draft
FINAL_CHAPTER = "ch02"          # ch2.md: status final, mermaid {#fig-loop} and images/blocks.png
DIAGRAM_ID = "fig-loop"
PNG_ALT = "一张测试用的示意图：三个色块"


@pytest.fixture(scope="session")
def book(mini_book):
    return mini_book


@pytest.fixture(scope="session")
def built(book, tmp_path_factory):
    """Two builds of the same book into different folders, each with a cold font cache."""
    paths = []
    for name in ("first", "second"):
        folder = tmp_path_factory.mktemp(name)
        paths.append(epub_writer.write_epub(book, folder / "book.epub", cache_dir=folder / "cache"))
    return paths


@pytest.fixture(scope="session")
def archive(built):
    with zipfile.ZipFile(built[0]) as z:
        return {info.filename: z.read(info) for info in z.infolist()}, z.infolist()


@pytest.fixture(scope="session")
def files(archive):
    return archive[0]


def _xml(files, name):
    return etree.fromstring(files[name])


def _pages(files):
    return sorted(n for n in files if n.endswith(".xhtml"))


def _section(book, ident):
    return next(s for s in book.sections() if s.id == ident)


# --------------------------------------------------------------------------- the fixture itself

@pytest.mark.slow
def test_the_fixture_book_has_what_these_tests_rely_on(book):
    """Guards the other tests against a fixture edit that would make them vacuous."""
    assert [s.id for s in book.chapters] == [DRAFT_CHAPTER, FINAL_CHAPTER]
    assert not _section(book, DRAFT_CHAPTER).final and _section(book, FINAL_CHAPTER).final
    assert [s.kind for p in book.parts for s in p.sections] == ["article"]
    assert [s.id for s in book.appendices] == ["takeaways", "references"]
    assert DIAGRAM_ID in {f.id for f in _section(book, FINAL_CHAPTER).figures}
    assert all(s.title_en for s in book.chapters)


# --------------------------------------------------------------------------- validators

@pytest.mark.slow
def test_epubcheck_reports_no_error_or_warning(built, tmp_path):
    verdict = run_epubcheck(built[0], tmp_path / "epubcheck.json")
    assert verdict.version.startswith("5."), verdict.version
    assert verdict.passed, "\n".join(verdict.messages)
    assert verdict.counts["fatal"] == verdict.counts["error"] == verdict.counts["warning"] == 0


@pytest.mark.slow
def test_ace_reports_no_serious_or_critical_violation(built, tmp_path):
    verdict = run_ace(built[0], tmp_path / "ace")
    assert verdict.passed, "\n".join(verdict.messages)
    assert verdict.counts["critical"] == verdict.counts["serious"] == 0


# --------------------------------------------------------------------------- reproducibility, zip

@pytest.mark.slow
def test_two_builds_are_byte_identical(built):
    assert built[0].read_bytes() == built[1].read_bytes()


@pytest.mark.slow
def test_mimetype_is_first_and_stored_and_dates_are_fixed(archive, book):
    _, infos = archive
    assert infos[0].filename == "mimetype"
    assert infos[0].compress_type == zipfile.ZIP_STORED and infos[0].extra == b""
    assert archive[0]["mimetype"] == b"application/epub+zip"
    assert {i.date_time for i in infos} == {epub_writer.build_time(book).timetuple()[:6]}


@pytest.mark.slow
def test_build_time_never_uses_the_wall_clock(book, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    undated = dataclasses.replace(book, modified=None)
    assert epub_writer.build_time(undated) == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert epub_writer.build_time(undated) == dt.datetime.combine(book.config.date, dt.time(), dt.timezone.utc)


@pytest.mark.slow
def test_failed_build_leaves_the_last_good_epub(book, built, tmp_path, monkeypatch):
    target = tmp_path / "book.epub"
    target.write_bytes(built[0].read_bytes())

    def broken(*args, **kwargs):
        raise PipelineError("simulated failure")
    monkeypatch.setattr(epub_writer, "zip_entries", broken)
    with pytest.raises(PipelineError):
        epub_writer.write_epub(book, target, cache_dir=built[0].parent / "cache")
    assert target.read_bytes() == built[0].read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["book.epub"]


# --------------------------------------------------------------------------- package metadata

@pytest.mark.slow
def test_package_metadata(files, book):
    config = book.config
    opf = _xml(files, "EPUB/content.opf")
    meta = opf.find("opf:metadata", NS)
    assert opf.get(XML_LANG) == config.language
    assert [t.text for t in meta.findall("dc:title", NS)] == [config.title, config.subtitle]
    assert meta.findtext("dc:language", namespaces=NS) == config.language
    assert meta.findtext("dc:identifier", namespaces=NS) == config.identifier
    assert meta.findtext("dc:publisher", namespaces=NS) == config.publisher
    assert meta.findtext("dc:rights", namespaces=NS) == config.rights
    assert meta.findtext("dc:date", namespaces=NS) == config.date.isoformat()
    assert [c.text for c in meta.findall("dc:creator", NS)] == list(config.authors)
    properties = {m.get("property"): m.text for m in meta.findall("opf:meta", NS) if m.get("property")}
    assert properties["dcterms:modified"] == epub_writer.build_time(book).strftime("%Y-%m-%dT%H:%M:%SZ")
    for needed in ("schema:accessMode", "schema:accessModeSufficient", "schema:accessibilityFeature",
                   "schema:accessibilityHazard", "schema:accessibilitySummary", "dcterms:conformsTo"):
        assert properties.get(needed), needed
    assert properties["ibooks:specified-fonts"] == "true"


@pytest.mark.slow
def test_every_page_has_a_title_and_the_book_language(files, book):
    for name in _pages(files):
        root = _xml(files, name)
        assert root.get("lang") == book.config.language and root.get(XML_LANG) == book.config.language, name
        assert (root.findtext("x:head/x:title", namespaces=NS) or "").strip(), name


@pytest.mark.slow
def test_english_subtitles_are_marked_english(files, book):
    for chapter in book.chapters:
        subtitles = _xml(files, f"EPUB/text/{chapter.id}.xhtml").xpath("//x:p[@class='title-en sans']",
                                                                       namespaces=NS)
        assert [p.text for p in subtitles] == [chapter.title_en], chapter.id
        assert all(p.get("lang") == p.get(XML_LANG) == "en" for p in subtitles)


@pytest.mark.slow
def test_draft_mark_only_on_unfinished_sections_and_never_in_a_release(files, book):
    def marks(name):
        return _xml(files, name).xpath("//x:p[contains(@class, 'draft-mark')]", namespaces=NS)
    draft = _section(book, DRAFT_CHAPTER)
    assert [m.get("role") for m in marks(f"EPUB/text/{draft.id}.xhtml")] == ["note"]
    assert draft.status in "".join(marks(f"EPUB/text/{draft.id}.xhtml")[0].itertext())
    for section in book.sections():
        if section.final:
            assert not marks(f"EPUB/text/{section.id}.xhtml"), section.id
    release = dataclasses.replace(book, release=True)
    assert epub_writer.draft_mark(release, draft) == ""


# --------------------------------------------------------------------------- structure and navigation

def _spine_files(files):
    opf = _xml(files, "EPUB/content.opf")
    hrefs = {i.get("id"): i.get("href") for i in opf.find("opf:manifest", NS)}
    return [hrefs[r.get("idref")] for r in opf.find("opf:spine", NS)]


@pytest.mark.slow
def test_reading_order(files, book):
    expected = ["text/cover.xhtml", "text/titlepage.xhtml", "nav.xhtml"]
    expected += [f"text/{s.id}.xhtml" for s in book.chapters]
    for part in book.parts:
        expected += [f"text/part-{part.id}.xhtml", *(f"text/{s.id}.xhtml" for s in part.sections)]
    expected += [f"text/{s.id}.xhtml" for s in book.appendices]
    assert _spine_files(files) == expected
    assert len(expected) == 3 + len(book.sections()) + len(book.parts)


@pytest.mark.slow
def test_sections_carry_matching_epub_type_and_role(files, book):
    expected = {s.id: epub_writer.semantics(s) for s in book.sections()}
    expected |= {p.id: ("part", "doc-part") for p in book.parts}
    for ident, (epub_type, role) in expected.items():
        name = f"EPUB/text/{'part-' if ident not in {s.id for s in book.sections()} else ''}{ident}.xhtml"
        section = _xml(files, name).xpath(f"//*[@id='{ident}']")[0]
        assert (section.get(EPUB_TYPE), section.get("role")) == (epub_type, role)
    assert expected[DRAFT_CHAPTER] == ("chapter", "doc-chapter")
    assert expected["takeaways"] == ("appendix", "doc-appendix")
    assert expected["references"] == ("bibliography", "doc-bibliography")
    cover = _xml(files, "EPUB/text/cover.xhtml").xpath("//x:img", namespaces=NS)[0]
    assert cover.get("role") == "doc-cover" and cover.get("alt")


@pytest.mark.slow
def test_nav_lists_every_section_and_heading(files, book):
    nav = _xml(files, "EPUB/nav.xhtml")
    toc = nav.xpath("//x:nav[@epub:type='toc']", namespaces=NS)[0]
    assert toc.findtext("x:h2", namespaces=NS) == epub_writer.NAV_TITLE
    hrefs = set(toc.xpath(".//x:a/@href", namespaces=NS))
    expected = set()
    for section in book.sections():
        expected.add(f"text/{section.id}.xhtml")
        expected |= {f"text/{section.id}.xhtml#{heading.id}" for heading in section.headings}
    expected |= {f"text/part-{part.id}.xhtml" for part in book.parts}
    assert hrefs == expected
    labels = set(toc.xpath(".//x:a/text()", namespaces=NS))
    assert {s.full_title for s in book.sections()} | {p.title for p in book.parts} <= labels
    ncx_targets = set(_xml(files, "EPUB/toc.ncx").xpath("//*[local-name()='content']/@src"))
    assert hrefs == ncx_targets


@pytest.mark.slow
def test_landmarks(files, book):
    nav = _xml(files, "EPUB/nav.xhtml")
    marks = {a.get(EPUB_TYPE): a.get("href") for a in
             nav.xpath("//x:nav[@epub:type='landmarks']//x:a", namespaces=NS)}
    assert marks["cover"] == "text/cover.xhtml" and marks["toc"] == "nav.xhtml"
    assert marks["titlepage"] == "text/titlepage.xhtml"
    assert marks["bodymatter"] == f"text/{book.chapters[0].id}.xhtml"
    assert marks["appendix"] == "text/takeaways.xhtml" and marks["bibliography"] == "text/references.xhtml"


@pytest.mark.slow
def test_internal_links_and_images_resolve(files):
    checked = 0
    for name in _pages(files):
        root = _xml(files, name)
        base = posixpath.dirname(name)
        for href in root.xpath("//x:a/@href", namespaces=NS):
            if "://" in href or href.startswith("mailto:"):
                continue
            path, _, fragment = href.partition("#")
            target = posixpath.normpath(posixpath.join(base, path)) if path else name
            assert target in files, f"{name}: {href}"
            if fragment:
                assert _xml(files, target).xpath(f"//*[@id='{fragment}']"), f"{name}: {href}"
            checked += 1
        for img in root.xpath("//x:img", namespaces=NS):
            assert img.get("alt"), f"{name}: image without alt"
            assert posixpath.normpath(posixpath.join(base, img.get("src"))) in files
    # the appendices link back to the chapters, the part page to its article
    assert checked >= 5


@pytest.mark.slow
def test_diagrams_are_external_images_in_figures(files, book):
    figures = [f for s in book.sections() for f in s.figures]
    assert DIAGRAM_ID in {f.id for f in figures}
    for figure in figures:
        page = next(f"EPUB/text/{s.id}.xhtml" for s in book.sections() if figure in s.figures)
        element = _xml(files, page).xpath(f"//x:figure[@id='{figure.id}']", namespaces=NS)[0]
        img = element.find("x:img", NS)
        assert img.get("src").startswith("../images/") and img.get("alt") == figure.alt
        assert f"EPUB/images/{posixpath.basename(img.get('src'))}" in files
        assert figure.label in "".join(element.find("x:figcaption", NS).itertext())
        assert not element.xpath(".//*[local-name()='svg']"), "diagrams stay external, not inline"
    # the PNG of the final chapter is packaged with its alt text
    images = _xml(files, f"EPUB/text/{FINAL_CHAPTER}.xhtml").xpath(f"//x:img[@alt='{PNG_ALT}']", namespaces=NS)
    assert len(images) == 1
    assert files[posixpath.normpath(posixpath.join("EPUB/text", images[0].get("src")))].startswith(b"\x89PNG")


@pytest.mark.slow
def test_links_to_unknown_ids_are_refused(book, tmp_path):
    chapter = dataclasses.replace(book.chapters[0], body=parse_html('<p><a href="#nowhere">x</a></p>'))
    broken = dataclasses.replace(book, chapters=[chapter])
    with pytest.raises(PipelineError, match="#nowhere"):
        epub_writer.write_epub(broken, tmp_path / "book.epub", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "book.epub").exists()


def test_resolve_link_prefers_the_current_page():
    layout = epub_writer.Layout({"a": "text/a.xhtml", "b": "text/b.xhtml"},
                                owners={"a": "text/a.xhtml", "b": "text/b.xhtml", "x": "text/a.xhtml",
                                        "y": "text/b.xhtml"},
                                local={"text/a.xhtml": {"a", "x"}, "text/b.xhtml": {"b", "y", "x"}})
    assert epub_writer.resolve_link("y", "text/a.xhtml", layout, {"a", "b"}) == "b.xhtml#y"
    assert epub_writer.resolve_link("x", "text/b.xhtml", layout, {"a", "b"}) == "#x"
    assert epub_writer.resolve_link("b", "text/a.xhtml", layout, {"a", "b"}) == "b.xhtml"
    assert epub_writer.resolve_link("zzz", "text/a.xhtml", layout, {"a", "b"}) is None


# --------------------------------------------------------------------------- fonts

def _font(files, face: FontFace) -> TTFont:
    return TTFont(BytesIO(files[f"EPUB/fonts/{face.file_name}"]))


def _full_cmap(face: FontFace) -> set[int]:
    return set(TTFont(str(source_path(face)), fontNumber=face.index, lazy=True)["cmap"].getBestCmap())


@pytest.mark.slow
@pytest.mark.parametrize("face", [SERIF_REGULAR, SERIF_BOLD], ids=lambda f: f.file_name)
def test_serif_subsets_are_small_and_cover_the_book(files, book, face):
    data = files[f"EPUB/fonts/{face.file_name}"]
    assert len(data) < 1_000_000, len(data)     # the full face is 24 MB
    cmap = set(_font(files, face)["cmap"].getBestCmap())
    full = _full_cmap(face)
    assert len(cmap) < len(full) / 10, "the face is cut down, not copied"
    wanted = {ord(c) for c in book.characters()} & full   # emoji are not in Noto CJK
    assert len(wanted) > 100
    assert not wanted - cmap, "".join(chr(c) for c in sorted(wanted - cmap))


@pytest.mark.slow
def test_sans_subset_covers_every_heading(files, book):
    cmap = set(_font(files, SANS_BOLD)["cmap"].getBestCmap())
    text = "".join(s.full_title + "".join(h.text for h in s.headings) for s in book.sections())
    text += "".join(p.title for p in book.parts)
    wanted = {ord(c) for c in text} & _full_cmap(SANS_BOLD)
    assert not wanted - cmap, "".join(chr(c) for c in sorted(wanted - cmap))
    assert len(files[f"EPUB/fonts/{SANS_BOLD.file_name}"]) < 500_000


@pytest.mark.slow
def test_subsets_keep_the_licence_names(files):
    for face in (SERIF_REGULAR, SERIF_BOLD, SANS_BOLD):
        names = {record.nameID for record in _font(files, face)["name"].names}
        assert {0, 1, 2, 13, 14} <= names, face.file_name


@pytest.mark.slow
def test_stylesheet_declares_every_embedded_font(files):
    css = files["EPUB/css/book.css"].decode("utf-8")
    assert css.startswith("@namespace epub")
    fonts = [n for n in files if n.startswith("EPUB/fonts/")]
    assert sorted(posixpath.basename(n) for n in fonts) == sorted(f.file_name for f in (SERIF_REGULAR, SERIF_BOLD,
                                                                                          SANS_BOLD))
    for name in fonts:
        assert f'url("../fonts/{posixpath.basename(name)}")' in css


@pytest.mark.slow
def test_progress_and_font_sizes(book, built, tmp_path):
    calls = []
    cache = built[0].parent / "cache"
    epub_writer.write_epub(book, tmp_path / "book.epub", cache_dir=cache, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] == len(book.sections()) + 2
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    sizes = epub_writer.font_sizes(book, cache)
    with zipfile.ZipFile(built[0]) as z:
        assert sizes == {posixpath.basename(n): z.getinfo(n).file_size for n in z.namelist() if n.startswith("EPUB/fonts/")}
