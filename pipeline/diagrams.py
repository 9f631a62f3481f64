"""The diagram stage: mermaid fences in the manuscript -> cached SVG files (PNG where SVG cannot do).

Local rendering runs mermaid from node_modules in system Chromium, all of a build's diagrams in
one page (tools/render_mermaid.mjs), because starting a browser per diagram costs ~2 s each.
A diagram SVG-text labels cannot draw is drawn again with HTML labels, which the renderer turns
into SVG text; only a label that cannot be converted makes a 2x PNG. The SVGs are then made
safe for EPUB and WeasyPrint: absolute size, ids unique per diagram, no empty <tspan dy>, no
CSS var(). Results are cached by content, so an unchanged rebuild starts neither node nor
Chromium. Layout `transpose` also draws a flowchart turned a quarter and keeps whichever prints
with the larger text. See docs/diagrams.md.
"""
from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import io
import json
import math
import os
import queue
import re
import shutil
import stat
import subprocess
import tempfile
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from xml.sax.saxutils import escape

from lxml import etree

from pipeline.config import DiagramSettings
from pipeline.diagnostics import Diagnostics
from pipeline.errors import PipelineError
from pipeline.processes import pump, stop
from pipeline.fsutil import atomic_write_bytes, atomic_write_text
from pipeline.tree import LINE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NODE_SCRIPT = PROJECT_ROOT / "tools" / "render_mermaid.mjs"
CONFIG_FILE = PROJECT_ROOT / "styles" / "mermaid-config.json"
MERMAID_DIR = PROJECT_ROOT / "node_modules" / "mermaid"
# Bump when the SVG post-processing (or what the renderer does to mermaid's SVG) changes, so
# old cache entries are not reused. 3: HTML labels converted to SVG text. 4: Han/Latin spacing in labels.
POSTPROCESS_VERSION = "4"
LAYOUTS = ("auto", "scale", "landscape", "transpose")
# The headless shell first: it lacks the full browser's sign-in and model-download services,
# whose start-up leaves a UDP route probe to a public address even with every flag set.
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SVG_NS = "http://www.w3.org/2000/svg"
PX_PER_MM = 96 / 25.4
PT_PER_PX = 0.75
DEFAULT_FONT_PX = 16.0   # mermaid's default fontSize, used when an SVG names none
STARTUP_ALLOWANCE_S = 30.0

# How many node renderer processes this Python process has started: tests use it to prove
# that a fully cached build starts none.
renderer_launches = 0


# ----------------------------------------------------------------------------- fences

@dataclass(frozen=True)
class DiagramBlock:
    code: str            # the mermaid source
    file: Path
    line: int            # 1-based line of the opening fence in `file`
    id: str | None
    caption: str | None
    alt: str | None
    layout: str | None


OPENING_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
ATTRIBUTE = re.compile(r"""(?P<key>[\w:-]+)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|“(?P<cq>[^”]*)”|(?P<bare>[^\s}]+))"""
                       r"""|(?P<hash>#[^\s}]+)|(?P<cls>\.[^\s}]+)""")


def find_diagrams(document, diagnostics: Diagnostics) -> list[tuple[etree._Element, DiagramBlock]]:
    """Every mermaid code block of a document's tree, with its fence attributes.

    pandoc gives each code block the line of its opening fence, also in a list or a quote
    (pipeline/pandoc/sourcepos.lua); the attributes are read from that line, so every form
    below works whatever pandoc makes of it:
    `mermaid`, `mermaid {#id caption="…" alt="…" layout=landscape}`, `{.mermaid #id caption="…"}`
    and `mermaid "标题"` (the title becomes the caption). A mermaid example quoted inside a
    ```markdown block is that block's text, not a code block, so it is not drawn."""
    found = []
    for pre in document.tree.iter("pre"):
        line, opening = _opening_fence(document, int(pre.get(LINE) or 0))
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            continue
        attributes = _fence_attributes(opening["info"])
        if attributes is None:
            continue
        code = "".join(pre.itertext()).rstrip("\n")
        layout = attributes.get("layout")
        if layout is not None and layout not in LAYOUTS:
            diagnostics.add("diagram-attribute", f"the diagram's layout is {layout!r}, which is not one of "
                            f"{', '.join(LAYOUTS)}.", document.path, line,
                            "Write layout=auto, layout=scale, layout=landscape or layout=transpose.")
            layout = None
        if attributes.get("id") and not pre.get("id"):
            pre.set("id", attributes["id"])   # a fence form pandoc reads no attributes from
        block = DiagramBlock(code=code, file=document.path, line=line, id=pre.get("id"),
                             caption=attributes.get("caption"), alt=attributes.get("alt"), layout=layout)
        found.append((pre, block))
    return found


# What may stand before a fence on its line: block-quote marks, list markers, indentation.
_CONTAINER_MARKS = re.compile(r"^(?:\s*(?:>|[-*+](?=\s)|\d{1,9}[.)](?=\s)))*\s*")


def _opening_fence(document, line: int) -> tuple[int, re.Match | None]:
    """The fence a code block opens with, on the line pandoc gives it (none for indented code)."""
    if not line:
        return line, None
    return line, OPENING_FENCE.match(_CONTAINER_MARKS.sub("", document.source_line(line), count=1))


def _fence_attributes(info: str) -> dict[str, str] | None:
    """The attributes of a mermaid fence, or None when the fence is not mermaid.

    Accepts `mermaid`, `mermaid {#id caption="…" alt="…" layout=landscape}`,
    `{.mermaid #id caption="…"}` and `mermaid "标题"` (the title becomes the caption)."""
    info = info.strip()
    if info.startswith("{"):
        attributes = _parse_braces(info)
        return attributes if attributes.pop(".class", "").split().count("mermaid") else None
    word, _, rest = info.partition(" ")
    word, brace, tail = word.partition("{")   # ```mermaid{#id}
    if word.lower() != "mermaid":
        return None
    rest = (brace + tail + " " + rest).strip()
    title = re.match(r'^(?:"(?P<dq>[^"]*)"|“(?P<cq>[^”]*)”|\'(?P<sq>[^\']*)\')\s*', rest)
    attributes = {}
    if title:
        attributes["caption"] = title["dq"] if title["dq"] is not None else (title["cq"] if title["cq"] is not None else title["sq"])
        rest = rest[title.end():]
    if rest.startswith("{"):
        attributes = {**attributes, **_parse_braces(rest)}
        attributes.pop(".class", None)
    return attributes


def _parse_braces(info: str) -> dict[str, str]:
    inside = info.strip().removeprefix("{").rsplit("}", 1)[0]
    attributes: dict[str, str] = {}
    for match in ATTRIBUTE.finditer(inside):
        if match["hash"]:
            attributes["id"] = match["hash"][1:]
        elif match["cls"]:
            attributes[".class"] = (attributes.get(".class", "") + " " + match["cls"][1:]).strip()
        else:
            value = next(v for v in (match["dq"], match["sq"], match["cq"], match["bare"]) if v is not None)
            attributes[match["key"].lower()] = value
    return attributes


# ----------------------------------------------------------------------------- rendering

@dataclass(frozen=True)
class RenderedDiagram:
    block: DiagramBlock
    path: Path            # the SVG (or 2x PNG fallback, or placeholder SVG) in cache_dir
    media_type: str       # image/svg+xml or image/png
    width_px: float       # absolute CSS px size of the figure
    height_px: float
    placement: str        # "inline" or "landscape" (advice for print)
    error: str | None     # set only for draft-mode placeholders
    transposed: str | None = None   # "LR→TB" when layout transpose drew it the other way


@dataclass(frozen=True)
class _Artifact:
    """What the cache stores per diagram: independent of book.yaml's layout settings."""
    path: Path
    media_type: str
    width_px: float
    height_px: float
    min_font_px: float


@dataclass(frozen=True)
class _Failure:
    message: str
    timeout: bool = False


def render_diagrams(blocks: list[DiagramBlock], settings: DiagramSettings, cache_dir: Path, *,
                    diagnostics: Diagnostics, text_width_mm: float = 130.0, text_height_mm: float = 198.0,
                    progress: Callable[[int, int], None] | None = None) -> list[RenderedDiagram]:
    """Render every block (cached ones are only looked up) and advise a print placement for each.

    Every diagram that fails is a `diagram-render` diagnostic and comes back as a placeholder
    box showing the error, so one run reports them all; the build decides whether to go on.
    A flowchart under layout `transpose` is also rendered with its direction turned (its own
    cache entry), and the one that prints with the larger smallest text is used."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    config_text = _config_text()
    renderer, mermaid_version = _renderer_id(settings), _mermaid_version()
    keys = [cache_key(block.code, mermaid_version, config_text, renderer) for block in blocks]
    variants = [transpose_flowchart(block.code) if (block.layout or settings.layout) == "transpose" else None
                for block in blocks]
    variant_keys = [cache_key(variant.code, mermaid_version, config_text, renderer) if variant else None
                    for variant in variants]
    results: dict[str, _Artifact | _Failure] = {}
    for key in dict.fromkeys(key for pair in zip(keys, variant_keys) for key in pair if key):
        cached = _cached(cache_dir, key)
        if cached:
            results[key] = cached
    done = sum(1 for key in keys if key in results)
    if progress:
        progress(done, len(blocks))
    # Each transposed variant right after its diagram; progress counts the diagrams only.
    missing: dict[str, str] = {}
    for block, key, variant, variant_key in zip(blocks, keys, variants, variant_keys):
        if key not in results:
            missing.setdefault(key, block.code)
        if variant and variant_key not in results:
            missing.setdefault(variant_key, variant.code)

    def on_result(key: str, outcome: _Artifact | _Failure) -> None:
        nonlocal done
        results[key] = outcome
        done += keys.count(key)
        if progress and key in keys:
            progress(done, len(blocks))

    if missing and settings.renderer == "remote":
        _render_remote(missing, settings, cache_dir, config_text, on_result)
    elif missing:
        _render_local(missing, settings, cache_dir, json.loads(config_text), on_result)
    page = _Page(text_width_mm, text_height_mm, settings.min_text_pt)
    return [_finish(block, key, results.get(key), variant, variant_key,
                    results.get(variant_key) if variant_key else None, settings, cache_dir, diagnostics, page)
            for block, key, variant, variant_key in zip(blocks, keys, variants, variant_keys)]


@dataclass(frozen=True)
class _Page:
    text_width_mm: float
    text_height_mm: float
    min_text_pt: float


def _finish(block: DiagramBlock, key: str, outcome: _Artifact | _Failure | None, variant: "Transposition | None",
            variant_key: str | None, variant_outcome: _Artifact | _Failure | None, settings: DiagramSettings,
            cache_dir: Path, diagnostics: Diagnostics, page: _Page) -> RenderedDiagram:
    if outcome is None:
        outcome = _Failure("it was not rendered: an earlier diagram timed out and stopped the renderer.")
    if isinstance(variant_outcome, _Failure) and variant_outcome.timeout:
        # It stopped the renderer: say which diagram did, even though its own drawing is fine.
        _report_failure(block, _Failure(f"drawn {variant.new} for layout transpose: {variant_outcome.message}",
                                        timeout=True), settings, diagnostics)
    if isinstance(outcome, _Failure):
        _report_failure(block, outcome, settings, diagnostics)
        return _placeholder(block, key, outcome.message, cache_dir)
    layout = block.layout or settings.layout
    if layout == "transpose":   # "transpose when it helps, else as auto"
        if variant and isinstance(variant_outcome, _Artifact) and prefers_transposed(outcome, variant_outcome, page):
            return _finish_transposed(block, variant, variant_key, outcome, variant_outcome, diagnostics, page)
        layout = "auto"
    _warn_png(block, outcome, diagnostics)
    placement = advise_placement(outcome.width_px, outcome.min_font_px, layout, page.text_width_mm, page.min_text_pt)
    if placement == "landscape" and layout == "auto":
        rotated_pt = smallest_text_pt(outcome.width_px, outcome.min_font_px, page.text_height_mm)
        if rotated_pt < page.min_text_pt:
            diagnostics.add("diagram-too-wide", f"the diagram is too wide even on a landscape page (its smallest "
                            f"text would be {rotated_pt:.1f} pt).", block.file, block.line,
                            "Split it, or shorten its labels."
                            + (" Or let layout=transpose try it the other way round."
                               if (block.layout or settings.layout) != "transpose" and transpose_flowchart(block.code)
                               else ""))
    return RenderedDiagram(block, outcome.path, outcome.media_type, outcome.width_px, outcome.height_px,
                           placement, None)


def _finish_transposed(block: DiagramBlock, variant: "Transposition", key: str, original: _Artifact,
                       outcome: _Artifact, diagnostics: Diagnostics, page: _Page) -> RenderedDiagram:
    """The transposed drawing, placed the way print_fit judged it: fitted into the text block
    (a copy with a smaller absolute size when it is too tall) or on a landscape page."""
    _report_transposition(block, variant, original, outcome, page, diagnostics)
    _warn_png(block, outcome, diagnostics)
    placement, points = print_fit(outcome.width_px, outcome.height_px, outcome.min_font_px,
                                  page.text_width_mm, page.text_height_mm, page.min_text_pt)
    if placement == "inline":
        outcome = _fitted(outcome, key, page)
    if points < page.min_text_pt:
        where = "even on a landscape page" if placement == "landscape" else "for the page, upright or on its side"
        diagnostics.add("diagram-too-wide", f"the diagram is too large {where}, either way round (its smallest "
                        f"text would be {points:.1f} pt).", block.file, block.line, "Split it, or shorten its labels.")
    return RenderedDiagram(block, outcome.path, outcome.media_type, outcome.width_px, outcome.height_px,
                           placement, None, f"{variant.old}→{variant.new}")


def _warn_png(block: DiagramBlock, outcome: _Artifact, diagnostics: Diagnostics) -> None:
    if outcome.media_type == "image/png":
        diagnostics.add("diagram-png-fallback", "the diagram has labels that cannot be drawn as SVG text (HTML "
                        "inside <foreignObject>: icons, images, lists, math), which print and EPUB readers do not "
                        "draw; it is embedded as a 2x PNG instead.", block.file, block.line,
                        "Labels of plain text, with <br>, bold or italic, are drawn as SVG text.")


def _report_transposition(block: DiagramBlock, variant: "Transposition", original: _Artifact,
                          transposed: _Artifact, page: _Page, diagnostics: Diagnostics) -> None:
    def described(artifact: _Artifact) -> str:
        placement, points = print_fit(artifact.width_px, artifact.height_px, artifact.min_font_px,
                                      page.text_width_mm, page.text_height_mm, page.min_text_pt)
        return f"{points:.1f} pt " + ("inline" if placement == "inline" else "on a landscape page")
    diagnostics.add("diagram-transposed", f"layout transpose: the flowchart is drawn {variant.new} "
                    f"({DIRECTION_NAMES[variant.new]}) instead of {variant.old}, so its smallest text prints at "
                    f"{described(transposed)} instead of {described(original)}.", block.file, block.line,
                    f"Write '{variant.header}' in the diagram to keep this direction without layout=transpose.")


def _report_failure(block: DiagramBlock, failure: _Failure, settings: DiagramSettings,
                    diagnostics: Diagnostics) -> None:
    if failure.timeout:
        diagnostics.add("diagram-render", f"rendering the mermaid diagram did not finish within "
                        f"{settings.timeout:g} s ({failure.message.strip()}).", block.file, block.line,
                        "Simplify the diagram, or raise diagrams.timeout in book.yaml.")
        return
    message = " ".join(failure.message.split())
    where = re.search(r"on line (\d+)", message)
    line = block.line
    if where:   # mermaid counts from the diagram's first line, the author from the file's
        line = block.line + int(where[1])
        message += f" (mermaid's line {where[1]} is line {line} of the file)"
    diagnostics.add("diagram-render", f"the mermaid diagram cannot be rendered: {message}", block.file, line,
                    "Fix the diagram source inside this fence, or build with --draft to see the rest of the book.")


# ----------------------------------------------------------------------------- placement

def smallest_text_pt(width_px: float, min_font_px: float, available_mm: float) -> float:
    """Size in pt of the diagram's smallest text once it is scaled down to fit `available_mm`."""
    scale = min(1.0, available_mm * PX_PER_MM / width_px) if width_px > 0 else 1.0
    return min_font_px * PT_PER_PX * scale


def advise_placement(width_px: float, min_font_px: float, layout: str, text_width_mm: float,
                     min_text_pt: float) -> str:
    """`landscape` when layout forces it, or (auto) when fitting the text width would shrink the
    smallest text below min_text_pt; `inline` otherwise."""
    if layout == "landscape":
        return "landscape"
    if layout == "scale":
        return "inline"
    return "landscape" if smallest_text_pt(width_px, min_font_px, text_width_mm) < min_text_pt else "inline"


# A figure may take this share of the text block's height; the rest is for its caption.
FIGURE_HEIGHT_SHARE = 0.9
# Layout transpose turns a diagram when that gains at least this much text size (no flip-flop
# over a rounding difference).
TRANSPOSE_GAIN = 1.05


def print_fit(width_px: float, height_px: float, min_font_px: float, text_width_mm: float,
              text_height_mm: float, min_text_pt: float) -> tuple[str, float]:
    """How layout transpose judges a drawing: fitted into the text block both ways, or onto a
    landscape page. Returns (`inline` when its smallest text stays at least min_text_pt in the
    text block, or when a landscape page would not make it larger; else `landscape`, and the
    size in pt its smallest text prints at there). Unlike the auto rule this counts the height
    too: a flowchart turned top to bottom is as likely to be too tall as it was too wide."""
    def points(across_mm: float, down_mm: float) -> float:
        across, down = across_mm * PX_PER_MM, down_mm * PX_PER_MM * FIGURE_HEIGHT_SHARE
        scale = min(1.0, across / width_px if width_px > 0 else 1.0, down / height_px if height_px > 0 else 1.0)
        return min_font_px * PT_PER_PX * scale
    inline, rotated = points(text_width_mm, text_height_mm), points(text_height_mm, text_width_mm)
    if inline >= min_text_pt or rotated <= inline:
        return "inline", inline
    return "landscape", rotated


def prefers_transposed(original: _Artifact, transposed: _Artifact, page: _Page) -> bool:
    """Layout transpose: does the transposed drawing print better? Readable text (at least
    min_text_pt) first, then (both readable) inline in the text block rather than on a landscape
    page, then larger smallest text, by at least TRANSPOSE_GAIN. A PNG never beats an SVG."""
    if transposed.media_type == "image/png" and original.media_type != "image/png":
        return False
    (o_place, o_pt), (t_place, t_pt) = (print_fit(a.width_px, a.height_px, a.min_font_px, page.text_width_mm,
                                                  page.text_height_mm, page.min_text_pt)
                                        for a in (original, transposed))
    o_readable, t_readable = o_pt >= page.min_text_pt, t_pt >= page.min_text_pt
    if o_readable != t_readable:
        return t_readable
    if o_readable and o_place != t_place:
        return t_place == "inline"
    return t_pt > o_pt * TRANSPOSE_GAIN


def _fitted(artifact: _Artifact, key: str, page: _Page) -> _Artifact:
    """An inline SVG taller than the text block once scaled to its width, with an absolute size
    that fits the block: print.css scales an inline figure to the text width only. A copy next
    to the entry, named by its key and size; the cached entry itself is never changed."""
    across, down = page.text_width_mm * PX_PER_MM, page.text_height_mm * PX_PER_MM * FIGURE_HEIGHT_SHARE
    width_scale = min(1.0, across / artifact.width_px) if artifact.width_px > 0 else 1.0
    if artifact.media_type != "image/svg+xml" or artifact.height_px * width_scale <= down:
        return artifact
    scale = down / artifact.height_px
    # the sizes written, rounded down to 0.01 px so the figure never exceeds the block
    width, height = (math.floor(size * scale * 100) / 100 for size in (artifact.width_px, artifact.height_px))
    try:
        root = etree.fromstring(_read_regular_file(artifact.path), etree.XMLParser(huge_tree=True))
    except (OSError, etree.XMLSyntaxError):
        return artifact
    root.set("width", _number(width))
    root.set("height", _number(height))
    path = artifact.path.with_name(f"{key}.fit-{_number(width)}x{_number(height)}.svg")
    try:
        if path.is_dir() and not path.is_symlink():   # whatever sits under the name is replaced
            shutil.rmtree(path)
        atomic_write_bytes(path, etree.tostring(root, encoding="utf-8", xml_declaration=False))
    except OSError:
        return artifact
    return _Artifact(path, artifact.media_type, width, height, artifact.min_font_px * scale)


# ----------------------------------------------------------------------------- transpose

@dataclass(frozen=True)
class Transposition:
    code: str      # the diagram with its directions turned
    old: str       # its direction, e.g. LR
    new: str       # the direction it is drawn in instead, e.g. TB
    header: str    # the new first statement, e.g. "flowchart TB"


TRANSPOSED = {"LR": "TB", "RL": "BT", "TB": "LR", "TD": "LR", "BT": "RL"}
DIRECTION_NAMES = {"LR": "left to right", "RL": "right to left", "TB": "top to bottom",
                   "TD": "top to bottom", "BT": "bottom to top"}
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
FLOWCHART_HEADER = re.compile(r"[ \t]*(?P<kind>flowchart-elk|flowchart|graph)(?:[ \t]+(?P<dir>TB|TD|BT|RL|LR))?"
                              r"(?=[ \t]*(?:;|%%|\r?\n|\Z))")
DIRECTION_STATEMENT = re.compile(r"^(?P<lead>[ \t]*direction[ \t]+)(?P<dir>TB|TD|BT|RL|LR)\b", re.M)


def transpose_flowchart(code: str) -> Transposition | None:
    """A flowchart with its direction turned a quarter (LR→TB, RL→BT, TB/TD→LR, BT→RL), the
    `direction` of its subgraphs too; None for any other diagram. Front matter, %%{init}%%
    directives and comments before the header are kept."""
    front = FRONT_MATTER.match(code)
    position = front.end() if front else 0
    for line in code[position:].splitlines(keepends=True):
        if line.strip() and not line.strip().startswith("%%"):
            break
        position += len(line)
    header = FLOWCHART_HEADER.match(code, position)
    if not header:
        return None
    old = header["dir"] or "TB"   # mermaid's default
    new = TRANSPOSED[old]
    rest = DIRECTION_STATEMENT.sub(lambda m: m["lead"] + TRANSPOSED[m["dir"]], code[header.end():])
    first = f"{header['kind']} {new}"
    return Transposition(code[:header.start("kind")] + first + rest, "TB" if old == "TD" else old, new, first)


# ----------------------------------------------------------------------------- cache

def cache_key(code: str, mermaid_version: str, config_text: str, renderer: str) -> str:
    payload = json.dumps({"code": code, "mermaid": mermaid_version, "config": config_text,
                          "renderer": renderer, "postprocess": POSTPROCESS_VERSION},
                         ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _renderer_id(settings: DiagramSettings) -> str:
    return f"remote:{settings.server_url or 'https://mermaid.ink'}" if settings.renderer == "remote" else "local"


def _config_text() -> str:
    # Canonical JSON, so reformatting the file does not invalidate the cache.
    return json.dumps(json.loads(CONFIG_FILE.read_text(encoding="utf-8")), sort_keys=True, ensure_ascii=False)


def _mermaid_version() -> str:
    package = MERMAID_DIR / "package.json"
    if not package.is_file():
        return "missing"
    return json.loads(package.read_text(encoding="utf-8"))["version"]


# The cache directory is trusted no more than any file a build did not just write: a crash, a
# second build or anyone who can write it may have left any bytes there. So a file name comes
# from the key alone, never from the meta, and the meta's size and sha256 must match the image
# before the image is used; anything else is a miss, deleted and rendered again.
IMAGE_SUFFIXES = {"image/svg+xml": ".svg", "image/png": ".png"}
ENTRY_SUFFIXES = (".json", ".svg", ".png", ".error.svg")
META_MAX_BYTES = 64 * 1024


def _cached(cache_dir: Path, key: str) -> _Artifact | None:
    artifact = _verified_entry(cache_dir, key) if os.path.lexists(cache_dir / f"{key}.json") else None
    if artifact is None:
        _discard(cache_dir, key)
    return artifact


def _verified_entry(cache_dir: Path, key: str) -> _Artifact | None:
    try:
        meta = json.loads(_read_regular_file(cache_dir / f"{key}.json", META_MAX_BYTES))
        media_type = meta["media_type"]
        suffix = IMAGE_SUFFIXES[media_type]
        sizes = [meta[name] for name in ("width_px", "height_px", "min_font_px")]
        size, digest = meta["size"], meta["sha256"]
    # RecursionError: deeply nested garbage is still only garbage.
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if not all(_is_size(value) for value in sizes) or not isinstance(digest, str):
        return None
    path = cache_dir / f"{key}{suffix}"
    try:
        data = _read_regular_file(path)
    except OSError:
        return None
    if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
        return None
    return _Artifact(path, media_type, *sizes)


def _is_size(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _read_regular_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of `path` only if it is a regular file, not a link to one: a link, FIFO or
    device planted in the cache must not make a build read (or hang on) anything else."""
    status = os.lstat(path)
    if not stat.S_ISREG(status.st_mode):
        raise OSError(f"{path} is not a regular file")
    if limit is not None and status.st_size > limit:
        raise OSError(f"{path} is larger than {limit} bytes")
    with open(path, "rb") as handle:
        return handle.read()


def _discard(cache_dir: Path, key: str) -> None:
    # The meta first: whatever part of the entry stays behind is a plain miss. A folder under
    # an entry's name would make the next atomic write fail, so it goes too.
    fitted = [path.name.removeprefix(key) for path in cache_dir.glob(f"{key}.fit-*.svg")]
    for suffix in (*ENTRY_SUFFIXES, *fitted):
        path = cache_dir / f"{key}{suffix}"
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _store(cache_dir: Path, key: str, svg: str, width: float, height: float, min_font_px: float,
           png: bytes | None) -> _Artifact:
    """Writes the image, then the meta last: an entry exists only once it is complete. Every
    file is replaced atomically, so a crash leaves no half file under an entry's name and a
    planted link is replaced, not written through."""
    data, media_type = svg.encode("utf-8"), "image/svg+xml"
    atomic_write_bytes(cache_dir / f"{key}.svg", data)
    if png is not None:
        data, media_type = png, "image/png"
        atomic_write_bytes(cache_dir / f"{key}.png", png)
    meta = {"media_type": media_type, "width_px": width, "height_px": height, "min_font_px": min_font_px,
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_text(cache_dir / f"{key}.json", json.dumps(meta))
    return _Artifact(cache_dir / f"{key}{IMAGE_SUFFIXES[media_type]}", media_type, width, height, min_font_px)


# ----------------------------------------------------------------------------- local renderer

def find_chromium() -> str:
    override = os.environ.get("BOOK_CHROMIUM")
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise PipelineError(f"BOOK_CHROMIUM is set to {override!r}, which is not an executable file.",
                            hint="Point it at a Chromium binary, or unset it to use the installed chromium.")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise PipelineError("Chromium is not installed, and the diagram stage needs it to render mermaid diagrams.",
                        hint="Install chromium (apt-get install chromium) or run 'make setup'; "
                             "or set BOOK_CHROMIUM to the browser's path.")


def _find_node() -> str:
    node = shutil.which("node")
    if not node:
        raise PipelineError("Node.js is not installed, and the diagram stage needs it to run mermaid.",
                            hint="Install nodejs (version 20 or later) or run 'make setup'.")
    if not (MERMAID_DIR / "dist" / "mermaid.min.js").is_file() or not (PROJECT_ROOT / "node_modules" / "puppeteer-core").is_dir():
        raise PipelineError("mermaid or puppeteer-core is missing from node_modules.",
                            file=PROJECT_ROOT / "package.json",
                            hint="Run 'npm ci' in the project folder (or 'make setup').")
    return node


def _render_local(missing: dict[str, str], settings: DiagramSettings, cache_dir: Path, config: dict,
                  on_result: Callable[[str, _Artifact | _Failure], None]) -> None:
    chromium, node = find_chromium(), _find_node()
    ids = {key: svg_id_for(key) for key in missing}
    job = {"chromium": chromium, "mermaid": str(MERMAID_DIR / "dist" / "mermaid.min.js"), "config": config,
           "htmlConfig": html_label_config(config), "timeoutMs": int(settings.timeout * 1000),
           "diagrams": [{"id": ids[key], "code": code} for key, code in missing.items()]}
    key_of = {svg_id: key for key, svg_id in ids.items()}
    for record in _run_renderer(node, job, settings.timeout):
        key = key_of[record["id"]]
        on_result(key, _artifact_from_record(record, key, cache_dir))


def html_label_config(config: dict) -> dict:
    """The book's configuration with HTML labels, for the renderer's second attempt at a
    diagram whose SVG-text labels fail or leave <foreignObject> (tools/render_mermaid.mjs)."""
    html = json.loads(json.dumps(config))
    html["htmlLabels"] = True
    for section in html.values():
        if isinstance(section, dict) and "htmlLabels" in section:
            section["htmlLabels"] = True
    return html


def svg_id_for(key: str) -> str:
    # A letter first: XML ids and CSS selectors cannot start with a digit.
    return f"m{key[:12]}"


def _artifact_from_record(record: dict, key: str, cache_dir: Path) -> _Artifact | _Failure:
    if record.get("error"):
        return _Failure(record["error"], timeout=bool(record.get("timeout")))
    svg = make_print_safe(record["svg"], svg_id_for(key), record["width"], record["height"])
    png = base64.b64decode(record["png"]) if record.get("png") else None
    return _store(cache_dir, key, svg, record["width"], record["height"],
                  record.get("minFontPx") or DEFAULT_FONT_PX, png)


def _run_renderer(node: str, job: dict, timeout: float) -> Iterator[dict]:
    """Runs the node renderer once for all diagrams and yields its per-diagram results.

    The node script times out a hung diagram itself; the waits here are a backstop for a hung
    browser start or a node crash, after which the whole process tree is killed."""
    global renderer_launches
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as handle:
        json.dump(job, handle, ensure_ascii=False)
    renderer_launches += 1
    process = subprocess.Popen([node, str(NODE_SCRIPT), handle.name], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, encoding="utf-8", start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    stderr_tail: list[str] = []
    threading.Thread(target=pump, args=(process.stdout, lines.put), daemon=True).start()
    threading.Thread(target=pump, args=(process.stderr, lambda l: _keep_tail(stderr_tail, l)), daemon=True).start()
    browser_pid, remaining = None, len(job["diagrams"])
    try:
        wait = timeout + STARTUP_ALLOWANCE_S
        while remaining:
            try:
                line = lines.get(timeout=wait)
            except queue.Empty:
                raise PipelineError(f"the mermaid renderer stopped answering for {wait:g} s.",
                                    hint="Check that Chromium starts (BOOK_CHROMIUM), or raise diagrams.timeout "
                                         "in book.yaml.") from None
            if line is None:
                break
            record = json.loads(line)
            if record.get("event") == "browser":
                browser_pid = record.get("pid")
            elif record.get("event") == "fatal":
                raise PipelineError(f"Chromium could not run mermaid: {record['error']}",
                                    hint="Check that chromium works ('chromium --headless --version'), "
                                         "or set BOOK_CHROMIUM to a working browser.")
            else:
                remaining -= 1
                yield record
                if record.get("timeout"):
                    break
            wait = timeout + 5.0
        if remaining and process.wait(timeout=10) != 0:
            raise PipelineError(f"the mermaid renderer failed (exit {process.returncode}): "
                                f"{''.join(stderr_tail).strip()[-800:]}", file=NODE_SCRIPT,
                                hint="Run 'npm ci' (or 'make setup') to restore node_modules.")
    except BaseException:
        # Ctrl-C, SIGTERM or an error: do not wait for a browser that may be hung in its start
        stop(process, browser_pid, wait=0)
        raise
    finally:
        stop(process, browser_pid)
        os.unlink(handle.name)


def _keep_tail(tail: list[str], line: str | None) -> None:
    if line is not None:
        tail.append(line)
        del tail[:-40]


# ----------------------------------------------------------------------------- SVG post-processing

def make_print_safe(svg: str, id_prefix: str, width: float, height: float) -> str:
    """The fixes WeasyPrint and EPUB need, on mermaid's SVG (see docs/diagrams.md)."""
    svg = resolve_css_vars(svg)
    root = etree.fromstring(svg.encode("utf-8"), etree.XMLParser(huge_tree=True, remove_blank_text=False))
    remove_empty_tspans(root)
    remove_today_markers(root)
    space_han_latin(root)
    prefix_ids(root, id_prefix)
    put_texts_on_own_lines(root)
    root.set("width", _number(width))
    root.set("height", _number(height))
    return etree.tostring(root, encoding="unicode")


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


CSS_VAR = re.compile(r"var\(\s*(--[\w-]+)\s*(?:,\s*([^()]*(?:\([^()]*\)[^()]*)*))?\)")
CSS_CUSTOM_PROPERTY = re.compile(r"(--[\w-]+)\s*:\s*([^;}]+)")


def resolve_css_vars(svg: str) -> str:
    """WeasyPrint ignores declarations using var(); replace each by its value: the custom
    property's definition in the SVG, else the var()'s fallback. Unresolvable ones are dropped."""
    defined = {name: value.strip() for name, value in CSS_CUSTOM_PROPERTY.findall(svg)}

    def value_of(match: re.Match) -> str:
        name, fallback = match[1], match[2]
        value = defined.get(name, fallback.strip() if fallback else "")
        return CSS_VAR.sub(value_of, value) if "var(" in value else value

    for _ in range(4):   # nested var() inside values
        if "var(" not in svg:
            break
        svg = CSS_VAR.sub(value_of, svg)
    return svg


def remove_empty_tspans(root: etree._Element) -> None:
    """Timeline <br> labels leave empty <tspan dy="1.1em">; Chromium ignores their dy (no
    characters to move) but WeasyPrint applies it and pushes the next line out of its box."""
    for tspan in list(root.iter(f"{{{SVG_NS}}}tspan")):
        if len(tspan) == 0 and not (tspan.text or ""):
            _remove_keeping_tail(tspan)


def _remove_keeping_tail(element: etree._Element) -> None:
    parent, tail = element.getparent(), element.tail or ""
    previous = element.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


LABEL_SPACE = "\u2009"      # a fifth of an em: the label's box, measured without it, has room


def space_han_latin(root: etree._Element) -> None:
    """clreq's space between Han and Latin letters or digits in every label ("第 3 轮"): the body
    gets it from the typesetter and the EPUB from the reading system, but a diagram's text is
    drawn as mermaid wrote it, in both outputs."""
    from pipeline.typeset import needs_autospace

    def spaced(text: str | None) -> str | None:
        if not text:
            return text
        out = [text[0]]
        for before, after in zip(text, text[1:]):
            if needs_autospace(before, after):
                out.append(LABEL_SPACE)
            out.append(after)
        return "".join(out)

    for node in root.iter(f"{{{SVG_NS}}}text", f"{{{SVG_NS}}}tspan"):
        node.text = spaced(node.text)
        if node.tag == f"{{{SVG_NS}}}tspan":
            node.tail = spaced(node.tail)


def put_texts_on_own_lines(root: etree._Element) -> None:
    """One <text> per line keeps the SVG diffable and greppable. Only whitespace between
    elements of a group is added, which SVG ignores; nothing inside a <text> changes."""
    for text in root.iter(f"{{{SVG_NS}}}text"):
        previous = text.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + "\n"
        else:
            text.getparent().text = (text.getparent().text or "") + "\n"


def remove_today_markers(root: etree._Element) -> None:
    """A gantt chart marks the day it was rendered: meaningless in print, and it would make
    the book depend on the build date. mermaid has no config switch for it, only a per-diagram
    `todayMarker off`."""
    for marker in root.xpath("//svg:g[contains(concat(' ', @class, ' '), ' today ')]", namespaces={"svg": SVG_NS}):
        marker.getparent().remove(marker)


REFERENCE_ATTRIBUTES = ("aria-labelledby", "aria-describedby")
URL_REF = re.compile(r"url\(\s*(['\"]?)#([^'\")\s]+)\1\s*\)")
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


def prefix_ids(root: etree._Element, prefix: str) -> None:
    """Make every id start with the diagram's own id (derived from its content hash), so two
    diagrams on one XHTML page never share an id, and rewrite every reference to match."""
    renamed = {}
    for element in root.iter():
        old = element.get("id")
        if old and not (old == prefix or old.startswith(prefix + "-") or old.startswith(prefix + "_")):
            renamed[old] = f"{prefix}-{old}"
    if not renamed:
        return
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            element.set(name, _rewrite_references(name, value, renamed))
        if element.tag == f"{{{SVG_NS}}}style" and element.text:
            element.text = _rewrite_css(element.text, renamed)


def _rewrite_references(name: str, value: str, renamed: dict[str, str]) -> str:
    if name == "id":
        return renamed.get(value, value)
    if name in REFERENCE_ATTRIBUTES:
        return " ".join(renamed.get(token, token) for token in value.split())
    if name in ("href", XLINK_HREF) and value.startswith("#"):
        return "#" + renamed.get(value[1:], value[1:])
    if "url(" in value:
        return URL_REF.sub(lambda m: f"url({m[1]}#{renamed.get(m[2], m[2])}{m[1]})", value)
    return value


def _rewrite_css(css: str, renamed: dict[str, str]) -> str:
    css = URL_REF.sub(lambda m: f"url({m[1]}#{renamed.get(m[2], m[2])}{m[1]})", css)
    return re.sub(r"#([A-Za-z_][\w-]*)", lambda m: "#" + renamed.get(m[1], m[1]), css)


FONT_SIZE = re.compile(r"font-size\s*[:=]\s*\"?\s*([\d.]+)(px)?")


def min_font_px_of(svg: str) -> float:
    """Smallest font size an SVG names: the remote renderer cannot measure computed styles."""
    sizes = [float(size) for size, _ in FONT_SIZE.findall(svg) if float(size) > 0]
    return min(sizes) if sizes else DEFAULT_FONT_PX


def svg_size(svg: str) -> tuple[float, float]:
    """Absolute size of an SVG: its width/height when absolute, else its viewBox."""
    root = etree.fromstring(svg.encode("utf-8"), etree.XMLParser(huge_tree=True))
    view_box = [float(v) for v in re.split(r"[\s,]+", (root.get("viewBox") or "").strip()) if v]
    sizes = []
    for name, index in (("width", 2), ("height", 3)):
        value = (root.get(name) or "").strip().removesuffix("px")
        if re.fullmatch(r"[\d.]+", value):
            sizes.append(float(value))
        elif len(view_box) == 4:
            sizes.append(view_box[index])
        else:
            raise ValueError(f"the SVG has no absolute {name} and no viewBox")
    return sizes[0], sizes[1]


# ----------------------------------------------------------------------------- remote renderer

def _render_remote(missing: dict[str, str], settings: DiagramSettings, cache_dir: Path, config_text: str,
                   on_result: Callable[[str, _Artifact | _Failure], None]) -> None:
    """mermaid.ink (or a compatible server) through mermaid-py. Our print-safe config travels
    as an %%{init}%% directive, because mermaid-py's URLs carry only the source."""
    with contextlib.redirect_stdout(io.StringIO()):   # it prints an IPython notice on import
        import mermaid as mermaid_py   # local: the local renderer must not need requests

    server = settings.server_url or "https://mermaid.ink"
    with _environment("MERMAID_INK_SERVER", server), \
            concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        for key, code in missing.items():
            # mermaid-py sets no timeout on its requests; wait here instead.
            future = pool.submit(mermaid_py.Mermaid, with_init_directive(code, config_text))
            try:
                diagram = future.result(timeout=settings.timeout)
                on_result(key, _remote_artifact(diagram.svg_response.text, diagram.img_response, key, cache_dir))
            except concurrent.futures.TimeoutError:
                raise PipelineError(f"the mermaid server {server} did not answer within {settings.timeout:g} s.",
                                    hint="Check diagrams.server / MERMAID_INK_SERVER, or use renderer: local.") from None
            except mermaid_py.MermaidError as error:
                on_result(key, _Failure(error.response_text or str(error)))
            except OSError as error:   # requests' ConnectionError is an OSError
                raise PipelineError(f"cannot reach the mermaid server {server}: {error}",
                                    hint="Check diagrams.server / MERMAID_INK_SERVER, or use renderer: local.") from None


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def with_init_directive(code: str, config_text: str) -> str:
    """Prepends %%{init}%% after any front matter (which must stay the first lines)."""
    directive = f"%%{{init: {config_text}}}%%"
    match = re.match(r"^---\n.*?\n---\n", code, re.S)
    if match:
        return code[:match.end()] + directive + "\n" + code[match.end():]
    return directive + "\n" + code


def _remote_artifact(svg: str, img_response, key: str, cache_dir: Path) -> _Artifact | _Failure:
    try:
        width, height = svg_size(svg)
        safe = make_print_safe(svg, svg_id_for(key), width, height)
    except (ValueError, etree.XMLSyntaxError) as error:
        return _Failure(f"the server's answer is not a usable SVG ({error}).")
    png = None
    if "foreignObject" in safe and img_response is not None and img_response.ok:
        png = img_response.content
    return _store(cache_dir, key, safe, width, height, min_font_px_of(safe), png)


# ----------------------------------------------------------------------------- draft placeholders

PLACEHOLDER_WIDTH = 480
PLACEHOLDER_LINE_PX = 18


def placeholder_svg(message: str, location: str) -> tuple[str, float, float]:
    """A red-bordered box with the error, so a draft shows where the broken diagram is."""
    lines = [f"图表无法渲染 / diagram failed: {location}"]
    for paragraph in message.strip().splitlines() or [""]:
        lines += textwrap.wrap(paragraph, 60, drop_whitespace=False) or [""]
    lines = lines[:24]
    height = 24 + PLACEHOLDER_LINE_PX * len(lines)
    texts = "".join(f'<text x="12" y="{24 + PLACEHOLDER_LINE_PX * i}">{escape(line)}</text>'
                    for i, line in enumerate(lines))
    svg = (f'<svg xmlns="{SVG_NS}" width="{PLACEHOLDER_WIDTH}" height="{height}" '
           f'viewBox="0 0 {PLACEHOLDER_WIDTH} {height}" role="img">'
           f'<rect x="1" y="1" width="{PLACEHOLDER_WIDTH - 2}" height="{height - 2}" fill="#fff4f4" '
           f'stroke="#c00" stroke-width="2" stroke-dasharray="6 4"/>'
           f'<g font-family="Noto Sans Mono CJK SC, Noto Sans CJK SC, monospace" font-size="12" fill="#900" '
           f'xml:space="preserve">{texts}</g></svg>')
    return svg, float(PLACEHOLDER_WIDTH), float(height)


def _placeholder(block: DiagramBlock, key: str, message: str, cache_dir: Path) -> RenderedDiagram:
    location = f"{block.file.name}:{block.line}"
    svg, width, height = placeholder_svg(message, location)
    path = cache_dir / f"{key}.error.svg"
    atomic_write_text(path, svg)
    return RenderedDiagram(block, path, "image/svg+xml", width, height, "inline", message)


__all__ = ["DiagramBlock", "RenderedDiagram", "find_diagrams", "render_diagrams", "find_chromium",
           "advise_placement", "smallest_text_pt", "print_fit", "transpose_flowchart", "cache_key",
           "make_print_safe", "placeholder_svg"]
