"""`python -m pipeline preview`: the book as web pages on this machine, rebuilt on every save.

The pages are the EPUB's own: each section's XHTML from pipeline.epub and the EPUB's stylesheet,
rendered on request from the last Book that built, so the preview cannot drift from the book.
The server listens on 127.0.0.1 only and serves those pages, the stylesheet and the book's own
image files, looked up in a table built from the Book; no part of a URL ever becomes a path.

watchfiles reports saves in the manuscript folder and the book is built again. pandoc's cache on
disk already spares unchanged documents pandoc; in this long-running process their front matter
and their tree come from memory too (pipeline.cache.Memo), so only the changed document is read
from scratch. The passes across documents (ids, links, numbering, appendices) run over the whole
book, as they must for the pages to be right, and pages are rendered when asked for, not all at
each build. Open pages are then told to reload over Server-Sent Events. A build with problems
keeps the last good pages and shows the problems in a banner at the top of every page.
"""
from __future__ import annotations

import errno
import http.server
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pipeline import cache, epub
from pipeline.book import Book, Part, Section
from pipeline.diagnostics import Diagnostic, Diagnostics
from pipeline.errors import BuildStopped, PipelineError
from pipeline.fonts import book_fonts
from pipeline.progress import Reporter

HOST = "127.0.0.1"
XHTML = "application/xhtml+xml; charset=utf-8"
# Long enough to cost nothing while idle, short enough that the first build starts at once:
# the watcher yields once it is live, so no save between start-up and the first build is lost.
WATCH_TIMEOUT_MS = 200
SSE_PING_S = 15       # a comment line this often finds readers that went away
# Preview-only styles: a reading system shows a column, not a line across a wide window.
PREVIEW_CSS = """
body { max-width: 42em; margin: 0 auto; padding: 0 1em 4em; }
#preview-bar { position: sticky; top: 0; z-index: 10; display: flex; gap: 1.5em; padding: 0.4em 0;
  background: #fafafa; border-bottom: 1px solid #ddd; font: 14px sans-serif; }
#preview-problems { font: 14px/1.5 sans-serif; margin: 0.8em 0; padding: 0.6em 1em; border-radius: 4px;
  text-align: left; }
#preview-problems.errors { background: #fde8e8; border: 2px solid #c81e1e; color: #771d1d; }
#preview-problems.warnings { background: #fdf6e3; border: 1px solid #d9a400; color: #5c4400; }
#preview-problems p { text-indent: 0; margin: 0; }
#preview-problems ul { margin: 0.4em 0; padding-left: 1.2em; }
#preview-problems code { font-size: 13px; }
"""
RELOAD_SCRIPT = ('new EventSource("/events?since={version}")'
                 '.addEventListener("reload", function () {{ location.reload(); }});')


# A page reloads when the version it was served with is no longer the server's: a restarted
# server counts its builds from 1 again, and its run token tells its pages apart from the last run's.
RUN = secrets.token_hex(4)


@dataclass
class Snapshot:
    """What the server shows: the last book that built and the problems of the latest build."""
    generation: int
    book: Book | None = None
    targets: dict[str, Section | Part] = field(default_factory=dict)   # "text/ch01.xhtml" -> what it shows
    layout: epub.Layout | None = None
    images: dict[str, tuple[Path, str]] = field(default_factory=dict)   # "images/x.svg" -> file, media type
    problems: list[Diagnostic] = field(default_factory=list)
    stale: bool = False            # the latest build failed: `book` is an earlier one
    pages: dict[str, bytes] = field(default_factory=dict)     # rendered on first request

    @property
    def version(self) -> str:
        return f"{RUN}.{self.generation}"


class Preview:
    """The book kept built, and the pages of the latest good build."""

    def __init__(self, manuscript: Path, out: Path, *, release: bool, draft: bool, reporter: Reporter):
        self.manuscript, self.out = Path(manuscript), Path(out)
        self.release, self.draft, self.reporter = release, draft, reporter
        self.snapshot = Snapshot(0)
        self.changed = threading.Condition()
        self.render_lock = threading.Lock()     # one page at a time: the Book's trees are shared
        self.closing = False
        self.shown: list[Diagnostic] = []       # the problems last printed in the terminal
        cache.keep_in_memory()

    # ------------------------------------------------------------------ building

    def rebuild(self, quiet: bool = True) -> Snapshot:
        from pipeline.build import build_book
        from pipeline.config import load_config
        from pipeline.fsutil import build_lock

        diagnostics = Diagnostics(draft=self.draft)
        reporter = Reporter(quiet=True) if quiet else self.reporter
        built = None
        try:
            with build_lock(self.out):
                config = load_config(self.manuscript, diagnostics)
                book = build_book(config, out_dir=self.out, diagnostics=diagnostics, release=self.release,
                                  draft=self.draft, reporter=reporter)
            built = (book, epub.plan_layout(book))
        except BuildStopped:
            pass                                    # its problems are in `diagnostics`
        except Exception as error:      # noqa: BLE001 - a bad save must not stop the server; the page shows it
            diagnostics.items.append(_as_diagnostic(error, self.out))
        return self._publish(built, [d for d in diagnostics.sorted() if d.severity != "info"])

    def _publish(self, built, problems: list[Diagnostic]) -> Snapshot:
        with self.changed:
            old = self.snapshot
            if built is None:
                new = Snapshot(old.generation + 1, old.book, old.targets, old.layout, old.images, problems,
                               stale=old.book is not None, pages=old.pages)
            else:
                book, layout = built
                new = Snapshot(old.generation + 1, book, _targets(book, layout), layout,
                               _images(book, [self.manuscript, self.out]), problems)
            self.snapshot = new
            self.changed.notify_all()
        return new

    def wait(self, version: str, timeout: float) -> str:
        """The version once it is not `version`, or after `timeout` seconds, or at closing."""
        with self.changed:
            self.changed.wait_for(lambda: self.snapshot.version != version or self.closing, timeout)
            return self.snapshot.version

    def close(self) -> None:
        with self.changed:
            self.closing = True
            self.changed.notify_all()

    # ------------------------------------------------------------------ pages

    def page(self, name: str) -> bytes | None:
        """The page `name` ("" for the contents), with the bar, the problems and the reload script."""
        snapshot = self.snapshot
        if name == "" or snapshot.book is None:
            # before a first good build every page is this one, so an open tab reloads into its page
            return decorate(contents_page(snapshot), snapshot, name)
        target = snapshot.targets.get(name)
        if target is None:
            return None
        extra = []
        with self.render_lock:
            if name not in snapshot.pages:
                try:
                    snapshot.pages[name] = render(snapshot.book, target, snapshot.layout)
                except Exception as error:      # noqa: BLE001 - shown in the page, as a build's problems are
                    extra.append(_as_diagnostic(error, self.out))
        body = snapshot.pages.get(name) or epub.xhtml_document("无法显示", "", lang="zh-CN",
                                                                css_href="/" + epub.CSS_FILE)
        return decorate(body, snapshot, name, extra)

    def say(self, snapshot: Snapshot, changes, seconds: float) -> None:
        """One line per build in the terminal; the problems again only when they changed."""
        names = sorted({Path(path).name for _, path in changes if Path(path).exists()})   # not editors' temp files
        what = f" ({', '.join(names[:3])}{'…' if len(names) > 3 else ''} changed)" if names else ""
        errors = sum(d.is_error for d in snapshot.problems)
        self.reporter.say(f"built in {seconds:.2f} s{what}: {errors} error(s), "
                          f"{len(snapshot.problems) - errors} warning(s)"
                          + ("; the pages show the last good build" if snapshot.stale else ""))
        if snapshot.problems != self.shown:
            for item in snapshot.problems:
                if item.is_error or not self.reporter.quiet:
                    print(item, file=sys.stderr, flush=True)
            self.shown = snapshot.problems


def _as_diagnostic(error: Exception, out: Path) -> Diagnostic:
    if isinstance(error, OSError):
        from pipeline.cli import os_error
        error = os_error(error)
    elif not isinstance(error, PipelineError):
        from types import SimpleNamespace

        from pipeline.cli import internal_error
        error = internal_error(error, SimpleNamespace(out=out))
    return Diagnostic("error", "build", error.what, error.file, error.line, error.hint)


def _targets(book: Book, layout: epub.Layout) -> dict[str, Section | Part]:
    return {layout.files[item.id]: item for item in epub.reading_order(book)}


def _images(book: Book, folders: list[Path]) -> dict[str, tuple[Path, str]]:
    """Image URL -> file, for the book's assets that lie inside the manuscript or the output folder."""
    roots = [folder.resolve() for folder in folders]
    images = {}
    for asset in book.assets:
        path = asset.path.resolve()
        if any(path.is_relative_to(root) for root in roots):
            images[epub.package_image_name(asset.href)] = (path, asset.media_type)
    return images


def render(book: Book, target: Section | Part, layout: epub.Layout) -> bytes:
    if isinstance(target, Section):
        return epub.section_page(book, target, layout)[0].xhtml
    return epub.part_page(book, target, layout).xhtml


def contents_page(snapshot: Snapshot) -> bytes:
    """The start page: the book's sections in reading order, each a link to its page. Its links
    start at the root: it is also what every address shows before a first good build."""
    book = snapshot.book
    if book is None:
        return epub.xhtml_document("预览", "<h1>预览</h1>\n<p>这本书还没有成功构建过。</p>", lang="zh-CN",
                                   css_href="/" + epub.CSS_FILE)

    def item(section: Section) -> str:
        return f'<li><a href="/{escape(snapshot.layout.files[section.id])}">{escape(section.full_title)}</a></li>'

    lines = [f"<h1>{escape(book.config.title)}</h1>"]
    if book.config.subtitle:
        lines.append(f'<p class="book-subtitle sans">{escape(book.config.subtitle)}</p>')
    lines.append('<nav><ol class="part-contents">')
    lines += [item(section) for section in book.chapters]
    for part in book.parts:
        lines.append(f'<li><a href="/{escape(snapshot.layout.files[part.id])}">{escape(part.title)}</a>'
                     f'<ol>{"".join(item(section) for section in part.sections)}</ol></li>')
    lines += [item(section) for section in book.appendices]
    lines.append("</ol></nav>")
    return epub.xhtml_document(book.config.title, "\n".join(lines), lang=book.config.language,
                               css_href="/" + epub.CSS_FILE)


# ------------------------------------------------------------------ what every page gets

def decorate(page: bytes, snapshot: Snapshot, name: str, extra: list[Diagnostic] | None = None) -> bytes:
    """The page with the preview's bar and problems at the top and the reload script at the end."""
    top = navigation_bar(snapshot, name) + problems_banner([*(extra or []), *snapshot.problems], snapshot)
    script = f"<script>{RELOAD_SCRIPT.format(version=snapshot.version)}</script>"
    head_end = page.index(b"</head>")
    page = page[:head_end] + f"<style>{PREVIEW_CSS}</style>\n".encode() + page[head_end:]
    body_start = page.index(b">", page.index(b"<body")) + 1
    body_end = page.rindex(b"</body>")
    return (page[:body_start] + top.encode("utf-8") + page[body_start:body_end] + script.encode("utf-8")
            + page[body_end:])


def navigation_bar(snapshot: Snapshot, name: str) -> str:
    names = list(snapshot.targets)
    links = ['<a href="/">目录</a>']
    if name in names:
        at = names.index(name)
        if at > 0:
            links.insert(0, f'<a href="/{names[at - 1]}">← 上一页</a>')
        if at + 1 < len(names):
            links.append(f'<a href="/{names[at + 1]}">下一页 →</a>')
    return f'<div id="preview-bar">{"".join(links)}</div>'


def problems_banner(problems: list[Diagnostic], snapshot: Snapshot) -> str:
    if not problems:
        return ""
    errors = [d for d in problems if d.is_error]
    warnings = [d for d in problems if not d.is_error]
    counts = ", ".join(f"{len(items)} {what}" for items, what in ((errors, "error(s)"), (warnings, "warning(s)"))
                      if items)
    if snapshot.stale or snapshot.book is None:
        state = "the pages show the last good build" if snapshot.stale else "nothing could be built yet"
        heading = f"<strong>The latest build failed: {counts}</strong> ({state})."
    else:
        heading = f"<strong>{counts}</strong>"
    items = "".join(f"<li>{_problem(d, snapshot)}</li>" for d in errors + warnings)
    body = f"<p>{heading}</p><ul>{items}</ul>"
    if not errors:
        body = f"<details><summary>{heading}</summary><ul>{items}</ul></details>"
    return f'<div id="preview-problems" class="{"errors" if errors else "warnings"}" role="alert">{body}</div>'


def _problem(d: Diagnostic, snapshot: Snapshot) -> str:
    where = ""
    if d.file is not None:
        root = snapshot.book.config.root if snapshot.book else None
        shown = d.file.relative_to(root) if root and d.file.is_relative_to(root) else d.file.name
        where = f"<code>{escape(f'{shown}:{d.line}' if d.line else str(shown))}</code> "
    hint = f"<br/>{escape(d.hint)}" if d.hint else ""
    return f"{where}{escape(d.severity)}: {escape(d.message)} <code>[{escape(d.code)}]</code>{hint}"


# ------------------------------------------------------------------ HTTP

class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "book-preview"
    preview: Preview      # set on the subclass made in serve()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        if path == "/events":
            return self.events(url.query)
        snapshot = self.preview.snapshot
        if path in ("/", "/index.html"):
            return self.send(self.preview.page(""), XHTML)
        if path == "/" + epub.CSS_FILE:
            # no @font-face: subsetting takes seconds; the book's families are named, as installed.
            # Made once a build, as its pages are (finding the families asks fontconfig).
            css = snapshot.pages.get(epub.CSS_FILE)
            if css is None:
                css = (epub.stylesheet(book_fonts(snapshot.book.config, ("serif", "sans")), embed=False)
                       if snapshot.book else epub.STYLESHEET.read_bytes())
                snapshot.pages[epub.CSS_FILE] = css
            return self.send(css, "text/css; charset=utf-8")
        if path.startswith("/text/"):
            return self.send(self.preview.page(path[1:]), XHTML)
        if path[1:] in snapshot.images:
            file, media_type = snapshot.images[path[1:]]
            try:
                return self.send(file.read_bytes(), media_type)
            except OSError:
                pass                # removed since the build
        self.send(None, "")

    def send(self, data: bytes | None, content_type: str) -> None:
        if data is None:
            self.send_error(404, "Not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def events(self, query: str) -> None:
        """Server-Sent Events: `reload` once a build newer than the page's own is published."""
        since = parse_qs(query).get("since", [self.preview.snapshot.version])[0]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            while not self.preview.closing:
                version = self.preview.wait(since, SSE_PING_S)
                if version != since:
                    self.wfile.write(f"event: reload\ndata: {version}\n\n".encode())
                    since = version
                elif not self.preview.closing:
                    self.wfile.write(b": ping\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass       # the page closed or reloaded

    def log_message(self, format, *args) -> None:
        pass           # a line per request would bury the build's messages


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True      # an open event stream must not hold the exit

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def bind(port: int, preview: Preview) -> Server:
    handler = type("PreviewHandler", (Handler,), {"preview": preview})
    try:
        return Server((HOST, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            hint = "Stop what uses it, or pick another with --port (--port 0 picks a free one)."
            raise PipelineError(f"port {port} is already in use.", hint=hint) from None
        if error.errno == errno.EACCES:
            raise PipelineError(f"this user may not listen on port {port}.",
                                hint="Pick a port above 1023 with --port.") from None
        raise


# ------------------------------------------------------------------ the command

def serve(manuscript: Path, out: Path, *, port: int, release: bool, draft: bool, reporter: Reporter) -> None:
    """Serve and rebuild until Ctrl-C (KeyboardInterrupt propagates, after the port is released)."""
    import watchfiles

    from pipeline.config import CONFIG_NAME, load_config
    from pipeline.fsutil import prepare_output_folder

    if not (Path(manuscript) / CONFIG_NAME).is_file():
        load_config(manuscript)         # says what is missing; a broken book.yaml is shown in the page
    prepare_output_folder(out)
    preview = Preview(manuscript, out, release=release, draft=draft, reporter=reporter)
    server = bind(port, preview)
    url = f"http://{HOST}:{server.server_address[1]}/"
    threading.Thread(target=server.serve_forever, name="preview-http", daemon=True).start()
    # The output folder may sit inside the manuscript: its cache writes are not edits.
    ignore = watchfiles.DefaultFilter(ignore_paths=[str(Path(out).resolve())])
    try:
        first = True
        for changes in watchfiles.watch(Path(manuscript).resolve(), watch_filter=ignore,
                                        rust_timeout=WATCH_TIMEOUT_MS, yield_on_timeout=True):
            if not (first or changes):
                continue
            started = time.perf_counter()
            snapshot = preview.rebuild(quiet=not first)
            preview.say(snapshot, changes, time.perf_counter() - started)
            if first:
                print(f"preview: {url} (Ctrl-C to stop)", flush=True)
                first = False
    finally:
        preview.close()
        server.shutdown()
        server.server_close()

