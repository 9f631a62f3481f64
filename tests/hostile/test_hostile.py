"""Hostile input and faults (issue 16): every case builds a copy of the mini book with the attack
or fault planted, next to a previous good build, and checks the exit code, the message, that
nothing of the machine leaks into the outputs (pdfdetach, pdfimages, the EPUB's zip listing)
and that the previous outputs survive byte for byte when the build fails.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import BOOKS, ROOT, copy_book, run_cli

SECRET = "TOP-SECRET-0xC0FFEE"


@pytest.fixture(scope="module")
def good_build(tmp_path_factory):
    """A complete build of the mini book: the outputs every failing case must leave untouched."""
    out = tmp_path_factory.mktemp("good")
    result = run_cli("all", "--manuscript", str(BOOKS / "mini"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def previous(good_build: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(good_build, out)
    return out


def same_outputs(out: Path, good_build: Path) -> bool:
    return all((out / name).read_bytes() == (good_build / name).read_bytes() for name in ("book.epub", "book.pdf"))


def attachments(pdf: Path) -> str:
    return subprocess.run(["pdfdetach", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout


def epub_text(epub: Path) -> str:
    with zipfile.ZipFile(epub) as archive:
        return "\n".join(archive.namelist()) + "".join(
            archive.read(n).decode("utf-8", "replace") for n in archive.namelist() if not n.endswith((".otf", ".png")))


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def assert_message(result, returncode: int, *fragments: str) -> None:
    assert result.returncode == returncode, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


# ------------------------------------------------------------------ files of the machine

@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """The mini book with every raw-HTML attack at once, built in draft mode (so it goes on)."""
    root = tmp_path_factory.mktemp("attacked")
    (root / "secret.txt").write_text(SECRET, encoding="utf-8")        # beside the manuscript folder
    book = copy_book("mini", root)
    append(book / "ch2.md", """
<a rel="attachment" href="../secret.txt">附件</a>

<p style="background: url(../secret.txt)">背景</p>

<svg width="20" height="20"><image href="../secret.txt" width="20" height="20"/></svg>

<script>document.write("脚本")</script>
<style>body { display: none }</style>
<iframe src="file:///etc/passwd"></iframe>
<object data="../secret.txt"></object><embed src="../secret.txt">
<form action="https://example.org"><input name="x"></form>

<a href="javascript:alert(1)">点我</a> <a href="file:///etc/passwd">本机文件</a>
<img src="x.png" onerror="alert(1)" alt="x">
""")
    out = root / "out"
    result = run_cli("all", "--draft", "--manuscript", str(book), "--out", str(out))
    return book, out, result


@pytest.mark.slow
def test_raw_html_attacks_are_removed_with_a_warning_each(attacked):
    book, out, result = attacked
    assert_message(result, 0)
    removed = [line for line in result.stderr.splitlines() if "[html-removed]" in line]
    for what in ("<script>", "<style>", "<iframe>", "<object>", "<embed>", "<form>", "rel", "onerror",
                 "javascript:", "file:", "url(", "SVG reference"):
        assert any(what in line for line in removed), (what, removed)
    assert all(f"{book / 'ch2.md'}:" in line or "ch2.md:" in line for line in removed)


@pytest.mark.slow
def test_nothing_outside_the_manuscript_reaches_the_outputs(attacked, good_build):
    _, out, _ = attacked
    assert "0 embedded files" in attachments(out / "book.pdf") or attachments(out / "book.pdf").strip() == ""
    assert SECRET not in pdf_text(out / "book.pdf")
    epub = epub_text(out / "book.epub")
    assert SECRET not in epub and "secret.txt\n" not in epub
    for bad in ("<script", "<iframe", "<object", "<embed", "<form", "javascript:", "file:///", "onerror", "<style>body"):
        assert bad not in epub, bad
    def images(pdf):
        return subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True).stdout.splitlines()
    assert len(images(out / "book.pdf")) == len(images(good_build / "book.pdf"))    # the book's own, no more


@pytest.mark.slow
def test_style_element_cannot_hide_the_book(attacked, good_build):
    _, out, _ = attacked
    pages = lambda pdf: int(next(l.split()[1] for l in subprocess.run(   # noqa: E731
        ["pdfinfo", str(pdf)], capture_output=True, text=True).stdout.splitlines() if l.startswith("Pages:")))
    assert pages(out / "book.pdf") >= pages(good_build / "book.pdf")


def test_cover_symlinked_out_of_the_folder_is_refused(tmp_path):
    book = copy_book("mini", tmp_path)
    (tmp_path / "secret.png").write_bytes(SECRET.encode())
    os.symlink(tmp_path / "secret.png", book / "cover.png")
    append(book / "book.yaml", "epub:\n  cover: cover.png\n")
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 1, "book.yaml", "epub.cover", "outside the manuscript folder", "[config-invalid]")


def test_images_outside_symlinked_or_remote_are_errors_with_their_lines(tmp_path):
    book = copy_book("mini", tmp_path)
    (tmp_path / "secret.png").write_bytes((BOOKS / "mini" / "images" / "blocks.png").read_bytes())
    os.symlink(tmp_path / "secret.png", book / "images" / "link.png")
    append(book / "ch2.md", "\n![外](../secret.png)\n\n![链](images/link.png)\n\n![远](https://example.org/a.png)\n"
                            "\n![文件](file:///etc/passwd)\n")
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    lines = (book / "ch2.md").read_text(encoding="utf-8").splitlines()
    planted = {n for n, line in enumerate(lines, 1)
               if any(s in line for s in ("../secret.png", "images/link.png", "example.org/a.png", "file:///"))}
    assert_message(result, 1)
    found = {int(l.split(":")[1]) for l in result.stderr.splitlines() if "ch2.md:" in l and "[image-" in l}
    assert found == planted and len(planted) == 4
    assert result.stderr.count("[image-outside]") == 2 and result.stderr.count("[image-remote]") == 2


@pytest.mark.slow
def test_an_include_reads_nothing_outside_the_manuscript(tmp_path):
    """mdBook's includes (pipeline/includes.py): by a symlink, an absolute path or ../ out of the
    folder, each is an error at its line, and a draft build puts none of the file anywhere."""
    book = copy_book("mdbook", tmp_path)
    (tmp_path / "secret.rs").write_text(f"// {SECRET}\n", encoding="utf-8")
    os.symlink(tmp_path / "secret.rs", book / "listings" / "guess" / "link.rs")
    append(book / "src" / "ch01.md", "\n```rust\n{{#include ../listings/guess/link.rs}}\n```\n"
                                     f"\n```rust\n{{{{#include {tmp_path / 'secret.rs'}}}}}\n```\n"
                                     "\n```rust\n{{#include ../../secret.rs}}\n```\n")
    lines = (book / "src" / "ch01.md").read_text(encoding="utf-8").splitlines()
    planted = {n for n, line in enumerate(lines, 1) if "{{#include" in line and "secret" in line or "link.rs" in line}
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 1, "outside the manuscript folder", "[include-invalid]")
    found = {int(l.split(":")[1]) for l in result.stderr.splitlines() if "ch01.md:" in l and "[include-invalid]" in l}
    assert found == planted and len(planted) == 3
    result = run_cli("all", "--draft", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 0)
    for name in ("book.epub", "book.pdf", "book-screen.pdf"):
        data = (tmp_path / "out" / name).read_bytes()
        text = subprocess.run(["pdftotext", str(tmp_path / "out" / name), "-"], capture_output=True,
                              text=True).stdout if name.endswith(".pdf") else ""
        assert SECRET.encode() not in data and SECRET not in text
    with zipfile.ZipFile(tmp_path / "out" / "book.epub") as archive:
        assert not any(SECRET.encode() in archive.read(n) for n in archive.namelist())


def test_author_svg_that_fetches_files_is_refused(tmp_path):
    book = copy_book("mini", tmp_path)
    (book / "images" / "evil.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">'
        '<image xlink:href="../../secret.png" width="10" height="10"/></svg>', encoding="utf-8")
    append(book / "ch2.md", "\n![图](images/evil.svg)\n")
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 1, "evil.svg", "[image-unsafe]")


# ------------------------------------------------------------------ faults that ship a wrong book

@pytest.mark.slow
def test_truncated_pandoc_cache_is_rebuilt_to_the_same_book(tmp_path, good_build):
    out = previous(good_build, tmp_path)
    entries = sorted((out / "cache" / "pandoc").glob("*.html"), key=lambda p: p.stat().st_size)
    biggest = entries[-1]
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 3])     # a crash mid-write
    (out / ".build.lock").unlink(missing_ok=True)
    result = run_cli("all", "--manuscript", str(BOOKS / "mini"), "--out", str(out))
    assert_message(result, 0)
    assert pdf_text(out / "book.pdf") == pdf_text(good_build / "book.pdf")
    assert epub_text(out / "book.epub") == epub_text(good_build / "book.epub")


@pytest.mark.slow
def test_truncated_font_subset_cache_is_rebuilt(tmp_path, good_build):
    out = previous(good_build, tmp_path)
    fonts = [p for p in (out / "cache").rglob("*") if p.is_file() and "font" in str(p.relative_to(out))]
    assert fonts, "the EPUB keeps font subsets in its cache"
    for font in fonts:
        font.write_bytes(font.read_bytes()[:100])
    result = run_cli("epub", "--manuscript", str(BOOKS / "mini"), "--out", str(out))
    assert_message(result, 0)
    assert (out / "book.epub").read_bytes() == (good_build / "book.epub").read_bytes()


@pytest.mark.slow
def test_a_failed_all_replaces_neither_output(tmp_path, good_build):
    out = previous(good_build, tmp_path)
    book = copy_book("mini", tmp_path)
    append(book / "book.yaml", "fonts:\n  mono: No Such Font CJK\n")   # the PDF fails after the EPUB (no code font) is done
    result = run_cli("all", "--manuscript", str(book), "--out", str(out))
    assert_message(result, 1, "No Such Font CJK", "not installed")
    assert same_outputs(out, good_build)
    assert not list(out.glob(".staging-*")) and not list(out.glob(".*.part"))


def test_book_title_cannot_break_out_of_the_stylesheet():
    from pipeline.pdf import css_string
    escaped = str(css_string('智能</style><p>注入</p>"\\'))
    assert "<" not in escaped and ">" not in escaped and '"' not in escaped
    assert "\\3c /style\\3e " in escaped


@pytest.mark.slow
def test_title_injection_shows_as_text_on_the_running_head(tmp_path):
    book = copy_book("mini", tmp_path)
    config = (book / "book.yaml").read_text(encoding="utf-8")
    (book / "book.yaml").write_text(config.replace("title: 测试之书", 'title: "书</style><p>注入段落</p><style>"'),
                                    encoding="utf-8")
    result = run_cli("pdf", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 0)
    text = pdf_text(tmp_path / "out" / "book.pdf")
    # the title is printed as text (title page, running heads), never as a paragraph of its own
    assert "书</style><p>注入段落</p><style>" in text.replace("\n", "")


def test_markup_in_a_chapter_title_shows_as_text_in_the_heading_and_the_toc(tmp_path):
    book = copy_book("mini", tmp_path)
    chapter = book / "ch1.md"
    chapter.write_text(chapter.read_text(encoding="utf-8").replace(
        "title: 起点：从文本到多模态", 'title: "起点<i>斜体</i>"', 1), encoding="utf-8")
    result = run_cli("pdf", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 0)
    text = pdf_text(tmp_path / "out" / "book.pdf").replace("\n", "")
    # in the TOC and in the chapter's heading: the tags are text, not italics
    assert text.count("起点<i>斜体</i>") >= 2, text[:2000]


def test_corrupt_and_oversized_images_are_errors(tmp_path):
    from PIL import Image
    book = copy_book("mini", tmp_path)
    (book / "images" / "broken.png").write_bytes((book / "images" / "blocks.png").read_bytes()[:90])
    Image.new("1", (20_000, 20_000)).save(book / "images" / "huge.png", optimize=True)
    append(book / "ch2.md", "\n![坏](images/broken.png)\n\n![大](images/huge.png)\n")
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 1, "broken.png", "[image-invalid]", "huge.png", "[image-too-large]",
                   "check.max_image_pixels")


# ------------------------------------------------------------------ outputs as a set, locks, signals

@pytest.mark.slow
def test_a_second_build_into_the_same_folder_is_refused(tmp_path, good_build):
    out = previous(good_build, tmp_path)
    (out / ".build.lock").unlink(missing_ok=True)
    first = subprocess.Popen([sys.executable, "-m", "pipeline", "pdf", "--manuscript", str(BOOKS / "mini"),
                              "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        lock, deadline = out / ".build.lock", time.time() + 30
        while time.time() < deadline and not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            time.sleep(0.05)
        second = run_cli("epub", "--manuscript", str(BOOKS / "xref"), "--out", str(out))
        assert_message(second, 1, "another build is writing to this folder", str(first.pid))
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0
    with zipfile.ZipFile(out / "book.epub") as archive:
        assert "交叉引用测试" not in archive.read("EPUB/content.opf").decode("utf-8")


@pytest.mark.slow
def test_sigterm_cleans_up_and_keeps_the_outputs(tmp_path, good_build):
    out = previous(good_build, tmp_path)
    (out / ".build.lock").unlink(missing_ok=True)
    book = copy_book("mini", tmp_path)
    append(book / "ch1.md", "\n新的一段，让缓存失效。\n")
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "all", "--manuscript", str(book),
                                "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob(".staging-*")):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    assert same_outputs(out, good_build)
    assert not list(out.glob(".staging-*")) and not list(out.glob(".*.part")) and not list(out.glob(".pdfpar-*"))


def test_leftovers_of_a_killed_build_are_swept(tmp_path):
    out = tmp_path / "out"
    (out / "cache" / "pandoc").mkdir(parents=True)
    files = [out / ".book.pdf.abc.part", out / "cache" / "pandoc" / ".k.html.x.part"]
    folders = [out / ".staging-123", out / ".pdfpar-x"]
    for path in files:
        path.touch()
    for path in folders:
        (path / "inside").mkdir(parents=True)
    leftovers = files + folders
    result = run_cli("assemble", "--manuscript", str(BOOKS / "problems"), "--out", str(out))
    assert result.returncode == 1          # the book has errors; the sweep happened anyway
    assert not any(p.exists() for p in leftovers)


@pytest.mark.slow
def test_outputs_are_readable_by_others(tmp_path):
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        assert run_cli("pdf", "--manuscript", str(BOOKS / "mini"), "--out", str(out)).returncode == 0
        assert run_cli("status", "--manuscript", str(BOOKS / "mini"), "--out", str(out)).returncode == 0
    finally:
        os.umask(old)
    for name in ("book.pdf", "status.md", "status.json", "status.html"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name


# ------------------------------------------------------------------ denial of service and messages

def test_yaml_alias_bomb_is_refused_at_once(tmp_path):
    book = copy_book("mini", tmp_path)
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    text = (book / "ch1.md").read_text(encoding="utf-8").replace("title_en:", bomb + "title_en:", 1)
    (book / "ch1.md").write_text(text, encoding="utf-8")
    started = time.time()
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert time.time() - started < 20
    assert_message(result, 1, "ch1.md:", "YAML aliases (*name) are not allowed")
    assert len(result.stderr) < 5000


def test_oversized_document_is_refused(tmp_path):
    book = copy_book("mini", tmp_path)
    with (book / "ch1.md").open("a", encoding="utf-8") as handle:
        handle.write(("很长的一段文字。" * 1000 + "\n\n") * 300)
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 1, "ch1.md", "check.max_document_kb", "[document-too-large]")


def test_long_values_are_cut_in_messages(tmp_path):
    book = copy_book("mini", tmp_path)
    text = (book / "ch1.md").read_text(encoding="utf-8").replace("word_count: 237", "word_count: " + "九" * 100000)
    (book / "ch1.md").write_text(text, encoding="utf-8")
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 1, "ch1.md:7", "more characters")
    assert len(result.stderr) < 5000


def test_nul_byte_in_front_matter_is_a_message(tmp_path):
    book = copy_book("mini", tmp_path)
    text = (book / "ch2.md").read_text(encoding="utf-8").replace("period:", 'note: "a\0b"\nperiod:', 1)
    (book / "ch2.md").write_text(text, encoding="utf-8")
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert_message(result, 1, "ch2.md:", "U+0000")


def test_out_naming_a_file_is_a_message(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    for command in ("check", "epub"):
        result = run_cli(command, "--manuscript", str(BOOKS / "mini"), "--out", str(target))
        assert_message(result, 1, "--out names a file")


@pytest.fixture
def small_disk(tmp_path):
    """A 600 KB tmpfs: the output folder fills up mid-build (needs root; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_disk_full_is_a_message_and_the_next_build_is_whole(small_disk, tmp_path, good_build):
    out = small_disk / "out"
    result = run_cli("all", "--manuscript", str(BOOKS / "mini"), "--out", str(out))
    assert_message(result, 1, "No space left on device", "The disk is full")
    assert not (out / "book.pdf").exists() or (out / "book.pdf").stat().st_size > 0
    # space freed: the cache holds no half-written entry that could shorten the book
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = run_cli("all", "--manuscript", str(BOOKS / "mini"), "--out", str(out))
    assert_message(again, 0)
    assert pdf_text(out / "book.pdf") == pdf_text(good_build / "book.pdf")


def test_read_only_output_folder_is_a_message(small_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = run_cli("epub", "--manuscript", str(BOOKS / "mini"), "--out", str(small_disk / "out"))
    assert_message(result, 1, "--out")


@pytest.mark.slow
def test_interrupting_a_hung_browser_start_leaves_no_browser(tmp_path):
    marker = f"hung-browser-{os.getpid()}"
    fake = tmp_path / "chromium"
    fake.write_text(f"#!/bin/bash\nexec -a {marker} sleep 300\n")
    fake.chmod(0o755)
    env = {**os.environ, "BOOK_CHROMIUM": str(fake)}
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "diagrams", "--manuscript", str(BOOKS / "mini"),
                                "--out", str(tmp_path / "out")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)

    def browsers() -> list[str]:
        return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    deadline = time.time() + 30
    while time.time() < deadline and not browsers():
        time.sleep(0.1)
    assert browsers(), "the fake browser never started"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    time.sleep(0.5)
    assert browsers() == []
