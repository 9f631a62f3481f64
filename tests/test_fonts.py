"""House fonts in the project's fonts/ folder (pipeline/fonts.py): found by the names inside the
files, used by both writers, reported with book.yaml's line when missing, never read from outside
the project. The fonts are made here with fontTools: a few glyphs, some of them the Han
characters of the mini book's title."""
from __future__ import annotations

import os
import subprocess
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, TTFont

from conftest import copy_book, run_cli
from pipeline import fonts, layout_cache, textlayer
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.errors import BuildStopped, PipelineError

FAMILY = "Test House Serif"
USED = "测试之书流水线的小样"       # the mini book's title and subtitle
UNUSED = "龘靐齉"                   # in the font, nowhere in the book
SPACE = {400: 321, 700: 345}        # advances Noto has not: the space fonts must come from these faces


def make_font(path: Path, family: str = FAMILY, weight: int = 400, characters: str = USED + UNUSED,
              cff: bool = False) -> Path:
    """A font whose every glyph is a box; `cff` makes an OTF with CFF outlines, else a TrueType."""
    style = "Bold" if weight >= 600 else "Regular"
    names = [".notdef", "space", *(f"uni{ord(c):04X}" for c in characters)]
    builder = FontBuilder(1000, isTTF=not cff)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({0x20: "space", **{ord(c): f"uni{ord(c):04X}" for c in characters}})

    def box(pen):
        pen.moveTo((100, -100)), pen.lineTo((100, 800)), pen.lineTo((900, 800)), pen.lineTo((900, -100))
        pen.closePath()
    pens = {name: T2CharStringPen(1000, None) if cff else TTGlyphPen(None) for name in names}
    for name, pen in pens.items():
        if name != "space":
            box(pen)
    postscript = f"{family.replace(' ', '')}-{style}"
    if cff:
        builder.setupCFF(postscript, {"FullName": f"{family} {style}"},
                         {name: pen.getCharString() for name, pen in pens.items()}, {})
    else:
        builder.setupGlyf({name: pen.glyph() for name, pen in pens.items()})
    builder.setupHorizontalMetrics({name: (SPACE.get(weight, 300) if name == "space" else 1000, 100) for name in names})
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": family, "styleName": style, "psName": postscript})
    builder.setupOS2(usWeightClass=weight, sTypoAscender=880, sTypoDescender=-120, usWinAscent=880, usWinDescent=120)
    builder.setupPost()
    path.parent.mkdir(parents=True, exist_ok=True)
    builder.save(str(path))
    return path


def house_family(folder: Path) -> None:
    """Regular as TrueType, bold as CFF, under file names that say nothing of the family."""
    make_font(folder / "a.ttf", weight=400)
    make_font(folder / "b.otf", weight=700, cff=True)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project laid out as the checkout is, in a temporary folder: a copy of the mini book, an
    empty fonts/ beside it, and BOOK_PROJECT_DIR pointing at it (CLI runs inherit it)."""
    root = tmp_path / "project"
    root.mkdir()
    copy_book("mini", root)
    (root / "fonts").mkdir()
    monkeypatch.setenv("BOOK_PROJECT_DIR", str(root))
    return root


def name_fonts(book: Path, text: str) -> int:
    """Append a fonts: section to book.yaml; the line of its first setting."""
    path = book / "book.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, "fonts:", *text.splitlines()]) + "\n", encoding="utf-8")
    return len(lines) + 2


def resolved(book: Path, diagnostics: Diagnostics | None = None, roles=("serif", "sans")) -> fonts.BookFonts:
    return fonts.book_fonts(load_config(book), roles, diagnostics)


# ---------------------------------------------------------------- finding the faces

def test_faces_are_found_by_the_names_inside_the_files(project):
    house_family(project / "fonts")
    name_fonts(project / "mini", "  serif: test house SERIF")     # any case, as fontconfig
    found = resolved(project / "mini")
    regular, bold = found.face("serif", 400), found.face("serif", 700)
    assert (regular.path.name, regular.house, regular.family) == ("a.ttf", True, FAMILY)
    assert (bold.path.name, bold.house, bold.family) == ("b.otf", True, FAMILY)
    assert found.family("sans") == "Noto Sans CJK SC" and not found.face("sans", 700).house


def test_the_manuscripts_own_fonts_folder_comes_first(project):
    make_font(project / "fonts" / "old.ttf", characters="测")
    house_family(project / "mini" / "fonts")
    name_fonts(project / "mini", f"  serif: {FAMILY}")
    assert resolved(project / "mini").face("serif", 400).path == project / "mini" / "fonts" / "a.ttf"


def test_a_face_of_a_collection_is_declared_on_its_own(project, tmp_path):
    collection = TTCollection()
    collection.fonts = [TTFont(make_font(tmp_path / "b.otf", weight=700, cff=True)),
                        TTFont(make_font(tmp_path / "a.otf", weight=400, cff=True))]
    collection.save(str(project / "fonts" / "house.ttc"))
    name_fonts(project / "mini", f"  serif: {FAMILY}")
    regular = resolved(project / "mini").face("serif", 400)
    assert (regular.path.name, regular.index, regular.faces_in_file) == ("house.ttc", 1, 2)
    path, _data = fonts.collection_face(regular, tmp_path / "cache")
    alone = TTFont(str(path))
    assert alone["OS/2"].usWeightClass == 400 and alone["name"].getDebugName(1) == FAMILY


def test_the_pdfs_space_fonts_are_cut_from_the_house_faces(project, tmp_path):
    house_family(project / "fonts")
    name_fonts(project / "mini", f"  serif: {FAMILY}")
    faces = {(face.family, face.weight): face
             for face in textlayer.space_faces(resolved(project / "mini"), tmp_path / "cache")}
    for weight, advance in SPACE.items():
        cut = TTFont(BytesIO(faces[(textlayer.JUSTIFY_FAMILY, weight)].data))
        assert cut["hmtx"]["space"][0] == advance, weight


def test_the_layout_cache_fingerprint_changes_with_a_house_face(project):
    house_family(project / "fonts")
    name_fonts(project / "mini", f"  serif: {FAMILY}")
    before = layout_cache.fingerprint(resolved(project / "mini").files())
    make_font(project / "fonts" / "a.ttf", characters=USED)      # the house face replaced
    os.utime(project / "fonts" / "a.ttf", ns=(1, 1))
    assert layout_cache.fingerprint(resolved(project / "mini").files()) != before


# ---------------------------------------------------------------- missing faces

def test_a_missing_family_is_an_error_at_its_line_of_book_yaml(project):
    house_family(project / "fonts")
    line = name_fonts(project / "mini", "  serif: Test House Sreif")
    diagnostics = Diagnostics()
    with pytest.raises(BuildStopped):
        resolved(project / "mini", diagnostics)
    [error] = diagnostics.errors
    assert (error.code, error.file, error.line) == ("font-missing", project / "mini" / "book.yaml", line)
    assert "'Test House Sreif'" in error.message
    assert FAMILY in error.hint and "fonts/README.md" in error.hint and "missing: fallback" in error.hint
    with pytest.raises(PipelineError) as raised:                # without Diagnostics: one error, same place
        resolved(project / "mini")
    assert f"book.yaml:{line}: " in str(raised.value)


def test_a_family_without_its_bold_is_missing_too(project):
    make_font(project / "fonts" / "a.ttf", weight=400)
    name_fonts(project / "mini", f"  serif: {FAMILY}")
    diagnostics = Diagnostics()
    with pytest.raises(BuildStopped):
        resolved(project / "mini", diagnostics)
    assert "has no bold" in diagnostics.errors[0].message


def test_fallback_warns_and_sets_the_role_in_noto(project):
    line = name_fonts(project / "mini", "  serif: Test House Sreif\n  missing: fallback")
    diagnostics = Diagnostics()
    found = resolved(project / "mini", diagnostics)
    assert found.family("serif") == "Noto Serif CJK SC" and not found.face("serif", 700).house
    [warning] = diagnostics.warnings
    assert (warning.code, warning.line) == ("font-missing", line)
    assert "set in Noto Serif CJK SC instead" in warning.message


def test_a_draft_build_falls_back_with_a_warning(project):
    name_fonts(project / "mini", "  serif: Test House Sreif")
    diagnostics = Diagnostics(draft=True)
    assert resolved(project / "mini", diagnostics).family("serif") == "Noto Serif CJK SC"
    assert [d.code for d in diagnostics.warnings] == ["font-missing"] and not diagnostics.errors


def test_print_serif_font_is_read_as_the_old_spelling(project):
    book = project / "mini"
    (book / "book.yaml").write_text((book / "book.yaml").read_text(encoding="utf-8")
                                    + f"print:\n  serif_font: {FAMILY}\n", encoding="utf-8")
    diagnostics = Diagnostics()
    config = load_config(book, diagnostics)
    assert config.fonts.serif == FAMILY
    assert ["'print.serif_font' is now 'fonts.serif'."] == [d.message for d in diagnostics.warnings]


# ---------------------------------------------------------------- nothing outside the project

@pytest.fixture
def reads(monkeypatch) -> list[Path]:
    """Every font file whose tables are read."""
    seen, real = [], fonts._read_faces

    def spy(path, size, mtime_ns):
        seen.append(path)
        return real(path, size, mtime_ns)
    monkeypatch.setattr(fonts, "_read_faces", spy)
    return seen


def test_a_font_linked_from_outside_the_project_is_not_read(project, tmp_path, reads):
    outside = make_font(tmp_path / "outside" / "house.ttf")
    make_font(tmp_path / "outside" / "house-bold.otf", weight=700, cff=True)
    (project / "fonts" / "house.ttf").symlink_to(outside)
    (project / "fonts" / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    name_fonts(project / "mini", f"  serif: {FAMILY}")
    diagnostics = Diagnostics()
    with pytest.raises(BuildStopped):
        resolved(project / "mini", diagnostics)
    assert not [path for path in reads if not path.is_relative_to(project)]
    assert [(d.code, d.file) for d in diagnostics.warnings] == [("font-file", project / "fonts" / "house.ttf")]
    assert diagnostics.errors[0].code == "font-missing"


def test_a_manuscript_outside_the_project_brings_no_fonts(project, tmp_path, reads):
    book = copy_book("mini", tmp_path / "elsewhere")
    house_family(book / "fonts")
    name_fonts(book, f"  serif: {FAMILY}\n  missing: fallback")
    diagnostics = Diagnostics()
    assert resolved(book, diagnostics).family("serif") == "Noto Serif CJK SC"
    assert reads == []
    assert ("font-file", book / "fonts") in [(d.code, d.file) for d in diagnostics.warnings]


# ---------------------------------------------------------------- the real pipeline

def pdf_fonts(pdf: Path) -> list[list[str]]:
    rows = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()
    return [row.split() for row in rows[2:]]


@pytest.mark.slow
def test_the_pdf_and_the_epub_are_set_in_the_house_faces(project, tmp_path):
    house_family(project / "fonts")
    name_fonts(project / "mini", f"  serif: {FAMILY}")
    result = run_cli("all", "--manuscript", str(project / "mini"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr

    rows = {row[0].split("+", 1)[1]: row for row in pdf_fonts(tmp_path / "out" / "book.pdf")}
    for name in ("Test-House-Serif", "Test-House-Serif-Bold"):
        assert rows[name][-5:-3] == ["yes", "yes"], rows[name]        # embedded, subset

    with zipfile.ZipFile(tmp_path / "out" / "book.epub") as epub:
        subset = TTFont(BytesIO(epub.read("EPUB/fonts/TestHouseSerif-Regular.ttf")))
        css = epub.read("EPUB/css/book.css").decode("utf-8")
    assert subset["name"].getDebugName(1) == FAMILY
    cmap = "".join(chr(code) for code in subset["cmap"].getBestCmap())
    assert set(USED) <= set(cmap) and not set(UNUSED) & set(cmap)
    assert f'html {{ font-family: "{FAMILY}"' in css


@pytest.mark.slow
def test_the_cli_names_the_missing_family_and_its_line(project, tmp_path):
    line = name_fonts(project / "mini", "  serif: Test House Sreif")
    result = run_cli("epub", "--manuscript", str(project / "mini"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert f"{project / 'mini' / 'book.yaml'}:{line}: error: the body text (serif) font family 'Test House Sreif'" \
        in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out" / "book.epub").exists()


@pytest.mark.slow
def test_the_build_falls_back_past_a_font_outside_the_project(project, tmp_path):
    (project / "fonts" / "house.ttf").symlink_to(make_font(tmp_path / "outside" / "house.ttf"))
    make_font(project / "fonts" / "bold.otf", weight=700, cff=True)
    line = name_fonts(project / "mini", f"  serif: {FAMILY}\n  missing: fallback")
    result = run_cli("all", "--manuscript", str(project / "mini"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert f"{project / 'fonts' / 'house.ttf'}: warning: the font file leads outside the project" in result.stderr
    assert f"book.yaml:{line}: warning: the body text (serif) font family '{FAMILY}' has no regular" in result.stderr
    names = [row[0] for row in pdf_fonts(tmp_path / "out" / "book.pdf")]
    assert not [name for name in names if "Test-House" in name] and any("Noto-Serif-CJK-SC" in n for n in names)
    with zipfile.ZipFile(tmp_path / "out" / "book.epub") as epub:
        assert "EPUB/fonts/NotoSerifSC-Regular.otf" in epub.namelist()
