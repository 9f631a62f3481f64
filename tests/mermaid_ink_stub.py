"""A stand-in for mermaid.ink on 127.0.0.1, speaking its URL protocol, for the remote-renderer tests.

GET /svg/<urlsafe base64 of the source | pako:<urlsafe base64 of zlib(JSON {"code": ...})>>
GET /img/<same>?format=png
It does not run mermaid: it draws each source line as a <text>, so a test can see that the
source (and the init directive) arrived intact. A source whose first real line is not a
diagram type gets HTTP 400 with a parse message, as mermaid.ink does for a syntax error.
"""
from __future__ import annotations

import base64
import json
import re
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

DIAGRAM_TYPES = ("graph", "flowchart", "sequenceDiagram", "classDiagram", "stateDiagram", "stateDiagram-v2",
                 "erDiagram", "journey", "gantt", "pie", "timeline", "mindmap", "gitGraph", "quadrantChart")
# A 1x1 white PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC")


def decode_source(encoded: str) -> str:
    encoded = unquote(encoded)
    compressed = encoded.startswith("pako:")
    data = base64.urlsafe_b64decode(encoded.removeprefix("pako:") + "=" * (-len(encoded) % 4))
    text = zlib.decompress(data).decode("utf-8") if compressed else data.decode("utf-8")
    if text.lstrip().startswith("{"):
        return json.loads(text)["code"]
    return text


def diagram_lines(source: str) -> list[str]:
    """The source without directives, front matter and blank lines."""
    source = re.sub(r"^---\n.*?\n---\n", "", source, flags=re.S)
    source = re.sub(r"%%\{.*?\}%%", "", source, flags=re.S)
    return [line.strip() for line in source.splitlines() if line.strip()]


def fake_svg(lines: list[str]) -> str:
    height = 30 + 24 * len(lines)
    # Like mermaid.ink: width="100%" with max-width, a fixed id, and an empty <tspan dy>.
    texts = "".join(f'<text x="10" y="{30 + 24 * i}"><tspan dy="1em"></tspan><tspan>{escape(line)}</tspan></text>'
                    for i, line in enumerate(lines))
    return (f'<svg id="mermaid-svg" width="100%" xmlns="http://www.w3.org/2000/svg" style="max-width: 400px;" '
            f'viewBox="0 0 400 {height}"><defs><marker id="arrowhead"><path d="M0,0 L5,5"/></marker></defs>'
            f'<style>#mermaid-svg{{font-size:14px}}</style>'
            f'<path d="M0,0 L10,10" marker-end="url(#arrowhead)"/>{texts}</svg>')


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        kind, _, encoded = url.path.strip("/").partition("/")
        try:
            source = decode_source(encoded)
        except Exception as error:  # noqa: BLE001 (any bad encoding is the client's fault)
            return self.answer(400, "text/plain", f"cannot decode diagram: {error}".encode())
        self.server.requests.append((kind, source))
        lines = diagram_lines(source)
        first = lines[0].split()[0] if lines else ""
        if first not in DIAGRAM_TYPES:
            return self.answer(400, "text/plain", f"Parse error on line 1: unknown diagram type {first!r}".encode())
        if kind == "svg":
            return self.answer(200, "image/svg+xml", fake_svg(lines).encode("utf-8"))
        if kind == "img":
            return self.answer(200, "image/png", PNG)
        return self.answer(404, "text/plain", b"not found")

    def answer(self, status: int, media_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output clean
        pass


class StubServer:
    """`with StubServer() as server:` serves on server.url until the block ends."""

    def __enter__(self) -> "StubServer":
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.requests = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.httpd.requests

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
