"""`python -m pipeline preview`, run as an author runs it: its own process on a free port, serving a
private copy of the mini book over real HTTP, with the real build behind it (no mocks).

The mini book's diagrams are rendered once for the module (so the tests that serve it are `slow`); each
test's output folder starts from a copy of that cache, so a server is up in about a second."""
from __future__ import annotations

import http.client
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from conftest import ROOT, build_fixture_book, copy_book, run_cli

NEW_SENTENCE = "预览里新加的一句话。"


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("warm")
    build_fixture_book("mini", tmp_path_factory.mktemp("book"), out)
    return out / "cache"


class Server:
    def __init__(self, book: Path, process: subprocess.Popen, port: int, log: Path):
        self.book, self.process, self.port, self.log = book, process, port, log

    def get(self, path: str) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path)      # sent as written: no client-side normalising of ../
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()

    def text(self, path: str) -> str:
        status, _, body = self.get(path)
        assert status == 200, (path, status)
        return body.decode("utf-8")

    def events(self) -> http.client.HTTPResponse:
        """An open /events stream, as the page's script holds one."""
        version = re.search(r"since=([\w.]+)", self.text("/")).group(1)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        connection.request("GET", f"/events?since={version}")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
        return response

    def stop(self, sig=signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=20)


def _as_from_a_terminal() -> None:
    # A test run started in the background (`make test &`, nohup) ignores SIGINT, and so would the
    # preview it starts: Ctrl-C is tested as it reaches a preview started from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(book: Path, out: Path, log: Path, *extra: str) -> subprocess.Popen:
    with log.open("w") as stderr:
        return subprocess.Popen([sys.executable, "-m", "pipeline", "preview", "--manuscript", str(book),
                                 "--out", str(out), *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
                                text=True, preexec_fn=_as_from_a_terminal)


@pytest.fixture
def preview(tmp_path, warm_cache):
    book = copy_book("mini", tmp_path)
    out = tmp_path / "out"
    shutil.copytree(warm_cache, out / "cache")
    log = tmp_path / "preview.log"
    process = start(book, out, log, "--port", "0")
    ready, _, _ = select.select([process.stdout], [], [], 60)
    line = process.stdout.readline() if ready else ""
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if match is None:
        process.kill()
        pytest.fail(f"no URL from the preview: {line!r}\n{log.read_text()}")
    server = Server(book, process, int(match.group(1)), log)
    yield server
    server.stop()
    process.stdout.close()


def wait_for_reload(stream: http.client.HTTPResponse, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.fp.readline()
        if line.startswith(b"event: reload"):
            return
        assert line, "the event stream ended"
    pytest.fail("no reload event")


def edit(path: Path, old: str, new: str) -> None:
    """Saved as most editors save: the whole file renamed into place, never seen half-written."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    saved = path.with_name(f".{path.name}.saving")
    saved.write_text(text.replace(old, new, 1), encoding="utf-8")
    saved.replace(path)


@pytest.mark.slow
def test_the_contents_and_chapters_are_the_epub_pages_with_their_css_and_images(preview):
    contents = preview.text("/")
    links = re.findall(r'<a href="/(text/[^"]+)">([^<]+)</a>', contents)
    assert [title for _, title in links] == ["第1章　起点：从文本到多模态", "第2章　智能体之年", "企业档案", "甲公司",
                                             "附录A　本章要点汇总", "附录B　参考文献"]
    status, content_type, page = preview.get("/" + links[1][0])
    assert status == 200 and content_type.startswith("application/xhtml+xml")
    root = etree.fromstring(page)          # the browser parses it as XML: one slip and nothing shows
    text = "".join(root.itertext())
    assert "智能体（Agent）可以调用工具" in text and "图2-1" in text
    assert b'href="../css/book.css"' in page and b"new EventSource(" in page

    status, content_type, css = preview.get("/css/book.css")
    assert status == 200 and content_type.startswith("text/css")
    assert (ROOT / "styles" / "epub.css").read_text(encoding="utf-8") in css.decode("utf-8")

    sources = [img.get("src") for img in root.iter("{http://www.w3.org/1999/xhtml}img")]
    assert len(sources) == 2, sources
    served = {}
    for src in sources:
        assert src.startswith("../images/")
        status, content_type, data = preview.get(src[2:])
        assert status == 200, src
        served[content_type] = data
    assert served.keys() == {"image/svg+xml", "image/png"}
    assert b"<svg" in served["image/svg+xml"][:2000] and served["image/png"].startswith(b"\x89PNG")


@pytest.mark.slow
def test_a_save_reloads_open_pages_and_they_show_the_edit(preview):
    assert NEW_SENTENCE not in preview.text("/text/ch01.xhtml")
    stream = preview.events()
    edit(preview.book / "ch1.md", "本章回顾了这一年的变化。", "本章回顾了这一年的变化。" + NEW_SENTENCE)
    wait_for_reload(stream)
    assert NEW_SENTENCE in preview.text("/text/ch01.xhtml")


@pytest.mark.slow
def test_a_broken_document_shows_in_every_page_and_the_server_goes_on(preview):
    before = preview.text("/text/ch01.xhtml")
    assert 'id="preview-problems"' not in before
    stream = preview.events()
    edit(preview.book / "ch1.md", "title: 起点", "title: [起点")
    wait_for_reload(stream)
    for path in ("/", "/text/ch01.xhtml", "/text/ch02.xhtml"):
        page = preview.text(path)
        banner = re.search(r'<div id="preview-problems".*?</div>', page, re.S)
        assert banner, path
        assert "ch1.md:4" in banner.group(0) and "front-matter-yaml" in banner.group(0)
        etree.fromstring(page.encode("utf-8"))
    assert "本章回顾了这一年的变化" in preview.text("/text/ch01.xhtml")    # the last good page
    assert preview.process.poll() is None

    edit(preview.book / "ch1.md", "title: [起点", "title: 起点")
    wait_for_reload(stream)
    assert 'id="preview-problems"' not in preview.text("/text/ch01.xhtml")


@pytest.mark.slow
def test_nothing_but_the_book_is_served(preview):
    refused = ["/../../etc/passwd", "/images/../../../etc/passwd", "/images/..%2F..%2Fch1.md", "/text/../ch1.md",
               "/text/..%2F..%2F..%2Fetc%2Fpasswd", "//etc/passwd", "/etc/passwd", str(preview.book / "ch1.md"),
               "/ch1.md", "/book.yaml", "/images/blocks.png", "/text/ch99.xhtml", "/cache/pandoc"]
    served = {}
    for path in refused:
        status, _, body = preview.get(path)
        if status != 404 or b"root:" in body or "测试之书".encode() in body:
            served[path] = (status, body[:100])
    assert served == {}


@pytest.mark.slow
def test_ctrl_c_stops_it_cleanly_and_frees_the_port(preview):
    preview.events()            # an open event stream must not hold the exit
    assert preview.stop(signal.SIGINT) == 0
    log = preview.log.read_text(encoding="utf-8")
    assert "Traceback" not in log and "preview stopped" in log
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)     # as the next preview binds it
        again.bind(("127.0.0.1", preview.port))


def test_a_port_in_use_or_out_of_range_is_a_message(tmp_path):
    book = copy_book("mini", tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("preview", "--manuscript", str(book), "--out", str(tmp_path / "out"), "--port", str(port))
    assert result.returncode == 1 and f"port {port} is already in use" in result.stderr
    result = run_cli("preview", "--manuscript", str(book), "--port", "70000")
    assert result.returncode == 2 and "not a port number" in result.stderr
    result = run_cli("preview", "--manuscript", str(tmp_path / "missing"), "--port", "0")
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_only_the_changed_document_is_parsed_again(tmp_path, warm_cache, monkeypatch):
    from pipeline import cache, parse
    from pipeline.preview import Preview
    from pipeline.progress import Reporter
    monkeypatch.setattr(cache, "_keeping", False)       # the memos go off again after this test
    monkeypatch.setattr(parse._TREES, "entries", {})
    book = copy_book("mini", tmp_path)
    shutil.copytree(warm_cache, tmp_path / "out" / "cache")
    previewer = Preview(book, tmp_path / "out", release=False, draft=False, reporter=Reporter(quiet=True))
    first = previewer.rebuild()
    previewer.page("text/ch02.xhtml")
    assert first.book is not None and len(parse._TREES.entries) == 3
    # A second build takes every tree from memory; what it gets must be a fresh copy, or the
    # first build's changes (figures in place of mermaid blocks, ids) would show twice.
    second = previewer.rebuild()
    previewer.page("text/ch02.xhtml")
    assert second.pages["text/ch02.xhtml"] == first.pages["text/ch02.xhtml"]
    assert b"<figure" in first.pages["text/ch02.xhtml"]
    edit(book / "ch1.md", "本章回顾了这一年的变化。", NEW_SENTENCE)
    assert previewer.rebuild().book is not None
    assert len(parse._TREES.entries) == 4
    assert NEW_SENTENCE.encode() in previewer.page("text/ch01.xhtml")
