"""Shared fixtures. Tests build their own books (tests/books/*), never the live manuscript/,
which authors edit: only tests/test_smoke.py touches that, and asserts no figure of it."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOKS = ROOT / "tests" / "books"


def copy_book(name: str, target_parent: Path) -> Path:
    """A private copy of tests/books/<name> that a test may change."""
    target = target_parent / name
    shutil.copytree(BOOKS / name, target)
    return target


@pytest.fixture
def mini(tmp_path) -> Path:
    """A private copy of the mini book: two chapters, a part with a Hugo article, both appendices."""
    return copy_book("mini", tmp_path)


def tree_of(report, stem: str):
    """The checked tree of the document of a check report whose file is named stem."""
    return next(d.document.tree for d in report.documents if d.document.stem == stem)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=600)


def build_fixture_book(name: str, target_parent: Path, out_dir: Path):
    """A copy of tests/books/<name> built into out_dir; the build must report no error."""
    from pipeline.build import build_book
    from pipeline.config import load_config
    from pipeline.diagnostics import Diagnostics
    diagnostics = Diagnostics()
    built = build_book(load_config(copy_book(name, target_parent)), out_dir=out_dir, diagnostics=diagnostics)
    assert not diagnostics.errors, [str(d) for d in diagnostics.errors]
    return built


@pytest.fixture(scope="session")
def mini_book(tmp_path_factory):
    """The mini book built once for the writer tests (diagrams rendered, no problems). Tests must not
    change it: writers work on copies, and a test that needs another book builds its own."""
    return build_fixture_book("mini", tmp_path_factory.mktemp("book"), tmp_path_factory.mktemp("build"))


def justified_paragraph_html(cache: Path, source: str, *, page: str, paragraph_css: str = "") -> str:
    """A page with one paragraph set the way the print PDF sets Chinese (pipeline/typeset.py's
    inserted spaces, cancelled by word-spacing and set in the space fonts of pipeline/textlayer.py)."""
    from pipeline import textlayer
    from pipeline.fonts import BookFonts, system_face
    from pipeline.typeset import typeset_html
    serif = "Noto Serif CJK SC"
    faces = textlayer.space_faces(BookFonts({(role, weight): system_face(family, weight) for weight in (400, 700)
                                             for role, family in (("serif", serif), ("sans", "Noto Sans CJK SC"))}),
                                  cache)
    font_faces = "".join(f'@font-face {{ font-family: "{face.family}"; font-weight: {face.weight}; '
                         f'src: url("{face.url}"); }}' for face in faces)
    return f"""<html lang="zh-CN"><head><style>{font_faces}
      @page {{ size: {page}; margin: 10mm; }}
      p {{ font-family: "{textlayer.JUSTIFY_FAMILY}", "{serif}"; font-size: 10.5pt; line-height: 1.75;
           word-spacing: -0.256em; text-align: justify; margin: 0; {paragraph_css} }}
      .lat, .autospace {{ font-family: "{serif}"; word-spacing: normal; }}
    </style></head><body>{typeset_html(f"<p>{source}</p>")}</body></html>"""
