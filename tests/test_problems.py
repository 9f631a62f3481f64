"""Every problem of a run, at once: tests/books/problems has twelve different ones in five files.

One `check` lists all twelve with file:line and exits 1; `all --draft` builds anyway, lists the
same twelve as warnings, and shows the broken pieces as placeholders or plain text.
"""
from __future__ import annotations

import re
import zipfile

import pytest

from conftest import BOOKS, copy_book, run_cli

PROBLEMS = BOOKS / "problems"
# (file, line, code) of each planted problem; lines are those of the fixture files.
EXPECTED = [
    ("book.yaml", 8, "config-unknown-key"),
    ("ch1.md", 9, "slug-unknown"),
    ("ch1.md", 18, "link-unresolved"),
    ("ch1.md", 20, "link-unresolved"),
    ("ch2.md", 18, "link-unresolved"),
    ("ch2.md", 20, "image-missing"),
    ("ch2.md", 22, "image-remote"),
    ("ch3.md", 16, "id-duplicate"),
    ("ch3.md", 18, "image-no-alt"),
    ("ch3.md", 20, "link-unresolved"),
    ("post.md", 10, "link-unresolved"),
    ("post.md", 12, "diagram-attribute"),
]
LINE = re.compile(r"^(?P<path>\S+?):(?P<line>\d+): (?P<severity>error|warning): .* \[(?P<code>[a-z-]+)\]")


def listed(stderr: str) -> list[tuple[str, int, str, str]]:
    found = []
    for line in stderr.splitlines():
        match = LINE.match(line)
        if match:
            found.append((match["path"].rsplit("/", 1)[-1], int(match["line"]), match["code"], match["severity"]))
    return found


def test_the_planted_lines_hold_what_they_should():
    """Guards the fixture: each expected line really is where the problem is."""
    markers = {("ch1.md", 18): "#nowhere", ("ch1.md", 20): "missing.md", ("ch2.md", 18): "chapter:42",
               ("ch2.md", 20): "nothere.png", ("ch2.md", 22): "https://", ("ch3.md", 16): "{#methods}",
               ("ch3.md", 18): "![](", ("ch3.md", 20): "/nosuch#x", ("post.md", 10): "no-such-id",
               ("post.md", 12): "sideways", ("book.yaml", 8): "titel_en", ("ch1.md", 9): "opnai"}
    for (name, line), marker in markers.items():
        assert marker in (PROBLEMS / name).read_text(encoding="utf-8").splitlines()[line - 1], (name, line)


def test_one_check_lists_all_twelve_and_fails(tmp_path):
    result = run_cli("check", "--manuscript", str(PROBLEMS), "--out", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    found = listed(result.stderr)
    assert [(f, n, c) for f, n, c, _ in found] == EXPECTED, result.stderr
    assert {s for *_, s in found} == {"error", "warning"}
    assert "9 error(s), 3 warning(s)" in result.stderr


@pytest.mark.slow
def test_a_draft_build_goes_on_and_lists_them_as_warnings(tmp_path):
    result = run_cli("all", "--draft", "--manuscript", str(PROBLEMS), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    found = listed(result.stderr)
    assert [(f, n, c) for f, n, c, _ in found] == EXPECTED
    assert {s for *_, s in found} == {"warning"}
    assert (tmp_path / "book.pdf").stat().st_size > 0
    with zipfile.ZipFile(tmp_path / "book.epub") as archive:
        chapter1 = archive.read("EPUB/text/ch01.xhtml").decode("utf-8")
        chapter2 = archive.read("EPUB/text/ch02.xhtml").decode("utf-8")
    # an unresolved link is plain text, a missing or remote image a visible placeholder
    assert 'class="link-unresolved">不存在的地方</span>' in chapter1 and 'href="#nowhere"' not in chapter1
    assert chapter2.count('class="missing-image"') == 2 and "example.org" not in chapter2.split("missing-image")[0]


def test_a_normal_build_stops_before_writing_anything(tmp_path):
    result = run_cli("epub", "--manuscript", str(PROBLEMS), "--out", str(tmp_path))
    assert result.returncode == 1
    assert len(listed(result.stderr)) == 12
    assert "stopped after the check stage" in result.stderr
    assert not (tmp_path / "book.epub").exists()


@pytest.mark.slow
def test_a_problem_both_pdfs_meet_is_listed_and_counted_once(tmp_path):
    """The print and the screen PDF lay out the same text, so a character no font has was
    reported by both: the Rust book's strings chapter listed 18 problems and counted 37."""
    book = copy_book("hugo", tmp_path)
    page = book / "content" / "guide.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n印地语的问候是 नमस्ते。\n", encoding="utf-8")
    result = run_cli("all", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    listed = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert len(listed) == len(set(listed)) and any("U+0928" in line for line in listed)
    assert f"0 error(s), {len(listed)} warning(s)" in result.stderr
