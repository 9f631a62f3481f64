"""The math stage: TeX formulas ($…$, $$…$$) -> SVG for print and MathML for the EPUB, cached.

pandoc (`--mathjax`) leaves every formula as its TeX in `<span class="math inline">\\(…\\)</span>` or
`<span class="math display">\\[…\\]</span>`. After the check stage this module collects every
formula of the book and renders the ones not in the cache in ONE node process with MathJax 4
(tools/render_math.mjs), which gives both outputs from one TeX parse. Entries are keyed by the TeX,
the display flag and the renderer (MathJax's version, the script, the post-processing here), and
verified on reading (pipeline/cache.py), so an unchanged rebuild starts no node process.

A formula MathJax cannot read is a `math-error` with the file and line it is on; a --draft build
shows its TeX in a red box instead. The writers find a formula's result in `Book.math` by its TeX
(transforms work on copies without the pipeline's data- attributes):

- print: an <img> whose src is the SVG as a data: URI, sized in em, on the text baseline
  (vertical-align), display formulas centred on a line of their own;
- EPUB: MathML (`<semantics>` with the TeX as annotation, `alttext`), so the page gets
  `properties="mathml"` from pipeline/epub.py.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from math import isfinite
from pathlib import Path
from typing import Callable, Iterator

from lxml import etree

from pipeline import cache
from pipeline.diagnostics import Diagnostics, shown
from pipeline.errors import PipelineError
from pipeline.processes import pump, stop
from pipeline.transforms import transform
from pipeline.tree import element, line_of
from pipeline.typeset import THIN_SPACE, is_cjk

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NODE_SCRIPT = PROJECT_ROOT / "tools" / "render_math.mjs"
MATHJAX_DIR = PROJECT_ROOT / "node_modules" / "@mathjax" / "src"
SVG_NS = "http://www.w3.org/2000/svg"
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
# Bump when the post-processing below changes, so old cache entries are not reused.
POSTPROCESS_VERSION = "1"
# MathJax sizes its SVG in ex of its own font (x-height 0.442 em) and draws \text{} at
# 0.884 em, both assuming the surrounding text has ex = 0.5 em (its em:16, ex:8 defaults).
# Rewriting ex as 0.5 em keeps that assumption fixed instead of asking WeasyPrint for the
# x-height of whatever font it picks: math is drawn at 1.131 x its TeX size, its x-height
# (0.50 em) is within 3 % of Noto Serif CJK's Latin x-height (0.514 em), and \text{中文}
# comes out at exactly 1 em, the size of the Chinese around it.
EX_TO_EM = 0.5
# The advance MathJax gives a CJK character of \text{} (it draws them at 0.884 em; the default
# 1 em leaves a gap after each).
CJK_CHAR_WIDTH = 0.884
STARTUP_TIMEOUT_S = 60.0     # loading MathJax takes ~0.3 s
FORMULA_TIMEOUT_S = 30.0     # a formula takes milliseconds; this is a backstop for a hang
MATH_CLASSES = {"inline": False, "display": True}

# How many node renderer processes this Python process has started: tests use it to prove
# that a fully cached build starts none.
renderer_launches = 0


# ----------------------------------------------------------------------------- formulas

@dataclass(frozen=True)
class Formula:
    tex: str
    display: bool
    file: Path
    line: int | None


@dataclass(frozen=True)
class RenderedMath:
    """One formula's outputs; `error` set (and no outputs) when MathJax could not read it."""
    tex: str
    display: bool
    svg: str | None = None          # a standalone SVG sized in em
    width_em: float = 0.0           # "100%" widths (\tag, \\) are given as 0: as wide as the line
    height_em: float = 0.0
    valign_em: float = 0.0          # CSS vertical-align that puts its baseline on the text's
    mathml: str | None = None       # a <math> element with its namespace, as XML
    error: str | None = None


def math_span(node) -> tuple[str, bool] | None:
    """(TeX, display) when `node` is one of pandoc's math spans, else None."""
    if not isinstance(node.tag, str) or node.tag != "span":
        return None
    classes = (node.get("class") or "").split()
    if "math" not in classes:
        return None
    kinds = [MATH_CLASSES[c] for c in classes if c in MATH_CLASSES]
    if not kinds:
        return None
    display = kinds[0]
    tex = "".join(node.itertext())
    opening, closing = ("\\[", "\\]") if display else ("\\(", "\\)")
    if tex.startswith(opening) and tex.endswith(closing) and len(tex) >= 4:
        tex = tex[2:-2]
    return tex, display


def math_spans(root) -> list[tuple[etree._Element, str, bool]]:
    found = []
    for node in root.iter("span"):
        formula = math_span(node)
        if formula is not None:
            found.append((node, *formula))
    return found


# Where a line may break inside an inline formula: after a relation at the formula's top level,
# as TeX allows (\\relpenalty), but not inside braces, brackets, parentheses or \\left…\\right, and
# not in a formula whose meaning would not survive being cut (definitions, environments, style
# switches, \\over). An SVG cannot break: a long formula that did not fit left its line
# letter-spaced ("就 是 π 函 数， 即|π(a|s)=p(a_t=a|s_t=s)"), so the print sets each piece as an SVG
# of its own, with a breakable space after the relation.
_TEX_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\s+|.", re.S)
_RELATIONS = {"=", "<", ">", "\\le", "\\leq", "\\ge", "\\geq", "\\leqslant", "\\geqslant", "\\neq", "\\ne",
              "\\approx", "\\equiv", "\\sim", "\\simeq", "\\cong", "\\propto", "\\doteq", "\\triangleq",
              "\\coloneqq", "\\ll", "\\gg", "\\to", "\\gets", "\\rightarrow", "\\leftarrow", "\\Rightarrow",
              "\\Leftarrow", "\\Leftrightarrow", "\\iff", "\\implies", "\\mapsto"}
_OPEN_GROUP = {"{", "(", "[", "\\{", "\\left", "\\langle", "\\lbrace", "\\lbrack"}
_CLOSE_GROUP = {"}", ")", "]", "\\}", "\\right", "\\rangle", "\\rbrace", "\\rbrack"}
_UNSPLITTABLE = re.compile(r"\\(?:def|gdef|edef|let|newcommand|renewcommand|DeclareMathOperator|begin|end|over|atop|"
                           r"choose|brace|brack|displaystyle|textstyle|scriptstyle|scriptscriptstyle|rm|bf|it|sf|"
                           r"tt|cal|color|Large|large|small|tiny|huge|Huge|normalsize|footnotesize|scriptsize|tag|"
                           r"label|require)(?![A-Za-z])|&|\\\\|#")


def inline_pieces(tex: str) -> list[str]:
    """An inline formula cut after each top-level relation ("L(\\theta) =", "\\frac{1}{n}…"); [tex]
    when it has none or must stay whole."""
    if _UNSPLITTABLE.search(tex):
        return [tex]
    tokens = _TEX_TOKEN.findall(tex)
    pieces, current, depth, delimiter = [], [], 0, False
    for index, token in enumerate(tokens):
        current.append(token)
        if delimiter and not token.isspace():
            delimiter = False           # the delimiter of \\left or \\right (".", "(", "\\{"…) is no group
        elif token in _OPEN_GROUP:
            depth += 1
            delimiter = token == "\\left"
        elif token in _CLOSE_GROUP:
            depth -= 1
            delimiter = token == "\\right"
            if depth < 0:
                return [tex]
        elif depth == 0 and token in _RELATIONS:
            after = [t for t in tokens[index + 1:] if not t.isspace()]
            before = [t for t in current[:-1] if not t.isspace()]
            # not before another relation ("<=", ":="), a script on the relation, or at an end
            if before and after and after[0] not in _RELATIONS and after[0] not in "^_" and after[0] != "\\not":
                pieces.append("".join(current).strip())
                current = []
    if depth != 0:
        return [tex]
    pieces.append("".join(current).strip())
    return pieces if len(pieces) > 1 and all(pieces) else [tex]


def find_formulas(document) -> list[Formula]:
    """Every formula of a document's tree, with the line it is written on."""
    spans = math_spans(document.tree)
    lines = document.text.splitlines() if spans else []
    return [Formula(tex, display, document.path, _line_of_formula(lines, span, tex)) for span, tex, display in spans]


def _line_of_formula(lines: list[str], span, tex: str) -> int | None:
    """pandoc places the paragraph, not the formula: the first line from there on that holds
    `$` and the TeX's first line (or, for $$ on a line of its own, the TeX's first line)."""
    start = line_of(span)
    if start is None:
        return None
    first = tex.splitlines()[0] if tex.strip() else ""
    stripped = next((line.strip() for line in tex.splitlines() if line.strip()), "")
    window = range(start, min(len(lines), start + 200) + 1)
    for needle in (f"${first}" if first.strip() else None, stripped or None):
        if needle:
            found = next((n for n in window if needle in lines[n - 1]), None)
            if found is not None:
                return found
    return start


# ----------------------------------------------------------------------------- the stage

def render_manuscript_math(report, out_dir: Path, *, reporter) -> dict[tuple[str, bool], RenderedMath]:
    """The math stage: every formula of the checked manuscript, rendered (or read from the cache).
    Returns (TeX, display) -> RenderedMath for the Book; problems go to the report's Diagnostics."""
    formulas = [f for entry in report.documents if entry.document.tree is not None
                for f in find_formulas(entry.document)]
    if not formulas:
        return {}
    fonts = report.config.fonts
    unique = len({(f.tex, f.display) for f in formulas})
    reporter.say(f"rendering {len(formulas)} formula(s), {unique} different")
    pieces = [(piece, False) for f in formulas if not f.display for piece in inline_pieces(f.tex) if piece != f.tex]
    with reporter.bar("math", unique) as advance:
        return render_math(formulas, Path(out_dir) / "cache" / "math", diagnostics=report.diagnostics,
                           serif_font=fonts.serif, sans_font=fonts.sans, mono_font=fonts.mono,
                           progress=advance, pieces=pieces)


def render_math(formulas: list[Formula], cache_dir: Path, *, diagnostics: Diagnostics,
                serif_font: str = "Noto Serif CJK SC", sans_font: str = "Noto Sans CJK SC",
                mono_font: str = "Noto Sans Mono CJK SC",
                progress: Callable[[int, int], None] | None = None,
                pieces: list[tuple[str, bool]] = ()) -> dict[tuple[str, bool], RenderedMath]:
    """Render every distinct formula (cached ones are only read); each formula MathJax rejects is a
    `math-error` at every place it is written. `pieces` (inline_pieces) are rendered too, without
    diagnostics: a piece that fails leaves its formula whole."""
    cache_dir = Path(cache_dir)
    fonts = {"serif": serif_font, "sans-serif": sans_font, "monospace": mono_font}
    renderer = renderer_id()
    wanted = list(dict.fromkeys([(f.tex, f.display) for f in formulas] + list(pieces)))
    keys = {item: cache_key(*item, renderer, fonts) for item in wanted}
    results: dict[tuple[str, bool], RenderedMath] = {}
    for item in wanted:
        cached = _read_cached(cache_dir / f"{keys[item]}.json", *item)
        if cached is not None:
            results[item] = cached
    if progress:
        progress(len(results), len(wanted))
    missing = [item for item in wanted if item not in results]
    if missing:
        with contextlib.closing(_run_renderer(missing)) as records:   # node is stopped when this ends
            for item, record in zip(missing, records):
                result = _result_from_record(*item, record, fonts)
                cache.write_entry(cache_dir / f"{keys[item]}.json", _payload(result))
                results[item] = result
                if progress:
                    progress(len(results), len(wanted))
    for formula in formulas:
        error = results[(formula.tex, formula.display)].error
        if error:
            diagnostics.add("math-error", f"the formula {shown(formula.tex.strip(), 120)} cannot be rendered: {error}.",
                            formula.file, formula.line,
                            "Fix the TeX between the $ signs (MathJax reads LaTeX math with the AMS "
                            "packages), or build with --draft to see the rest of the book.")
    return results


# ----------------------------------------------------------------------------- cache

def renderer_id() -> str:
    """What a rendered formula depends on besides its TeX: MathJax's version and this code's."""
    package = MATHJAX_DIR / "package.json"
    version = json.loads(package.read_text(encoding="utf-8"))["version"] if package.is_file() else "missing"
    script = hashlib.sha256(NODE_SCRIPT.read_bytes()).hexdigest() if NODE_SCRIPT.is_file() else "missing"
    return f"mathjax {version}; script {script}; post {POSTPROCESS_VERSION}; ex {EX_TO_EM}; cjk {CJK_CHAR_WIDTH}"


def cache_key(tex: str, display: bool, renderer: str, fonts: dict[str, str]) -> str:
    return cache.key_of("math", renderer, json.dumps(fonts, sort_keys=True), "display" if display else "inline", tex)


def _payload(result: RenderedMath) -> bytes:
    return json.dumps({"tex": result.tex, "display": result.display, "svg": result.svg,
                       "width_em": result.width_em, "height_em": result.height_em, "valign_em": result.valign_em,
                       "mathml": result.mathml, "error": result.error}, ensure_ascii=False).encode("utf-8")


def _read_cached(path: Path, tex: str, display: bool) -> RenderedMath | None:
    """A verified entry for exactly this formula, or None (a damaged or foreign entry is a miss)."""
    payload = cache.read_entry(path)
    if payload is None:
        return None
    try:
        data = json.loads(payload)
        result = RenderedMath(data["tex"], data["display"], data["svg"], data["width_em"], data["height_em"],
                              data["valign_em"], data["mathml"], data["error"])
    except (ValueError, KeyError, TypeError, RecursionError):
        result = None
    if result is None or result.tex != tex or result.display is not display or not _well_formed(result):
        path.unlink(missing_ok=True)
        return None
    return result


def _well_formed(result: RenderedMath) -> bool:
    sizes = (result.width_em, result.height_em, result.valign_em)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and isfinite(v) for v in sizes):
        return False
    if result.error is not None:
        return isinstance(result.error, str) and result.svg is None and result.mathml is None
    return isinstance(result.svg, str) and isinstance(result.mathml, str)


# ----------------------------------------------------------------------------- renderer

def _find_node() -> str:
    node = shutil.which("node")
    if not node:
        raise PipelineError("Node.js is not installed, and the math stage needs it to run MathJax.",
                            hint="Install nodejs (version 20 or later) or run 'make setup'.")
    if not (MATHJAX_DIR / "package.json").is_file():
        raise PipelineError("MathJax (@mathjax/src) is missing from node_modules.", file=PROJECT_ROOT / "package.json",
                            hint="Run 'npm ci' in the project folder (or 'make setup').")
    return node


def _run_renderer(items: list[tuple[str, bool]]) -> Iterator[dict]:
    """Runs tools/render_math.mjs once for all `items` and yields one record per item, in order."""
    global renderer_launches
    node = _find_node()
    job = {"cjkCharWidth": CJK_CHAR_WIDTH,
           "formulas": [{"id": f"f{index}", "tex": tex, "display": display}
                        for index, (tex, display) in enumerate(items)]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as handle:
        json.dump(job, handle, ensure_ascii=False)
    renderer_launches += 1
    process = subprocess.Popen([node, str(NODE_SCRIPT), handle.name], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                               start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    stderr_tail: list[str] = []
    threading.Thread(target=pump, args=(process.stdout, lines.put), daemon=True).start()
    threading.Thread(target=pump, args=(process.stderr, lambda l: l is not None and stderr_tail.append(l)),
                     daemon=True).start()
    try:
        expected = iter(job["formulas"])
        pending = next(expected, None)
        wait = STARTUP_TIMEOUT_S
        while pending is not None:
            try:
                line = lines.get(timeout=wait)
            except queue.Empty:
                raise PipelineError(f"the MathJax renderer stopped answering for {wait:g} s "
                                    f"(at the formula {shown(items[int(pending['id'][1:])][0], 120)}).",
                                    file=NODE_SCRIPT, hint="Simplify that formula; then report the hang.") from None
            if line is None:
                process.wait(timeout=10)
                raise PipelineError(f"the MathJax renderer ended early (exit {process.returncode}): "
                                    f"{''.join(stderr_tail).strip()[-800:]}", file=NODE_SCRIPT,
                                    hint="Run 'npm ci' (or 'make setup') to restore node_modules.")
            record = json.loads(line)
            if record.get("event") == "fatal":
                raise PipelineError(f"MathJax could not start: {record.get('error')}", file=NODE_SCRIPT,
                                    hint="Run 'npm ci' (or 'make setup') to restore node_modules.")
            if record.get("event"):
                wait = FORMULA_TIMEOUT_S
                continue
            if record.get("id") != pending["id"]:
                raise PipelineError(f"the MathJax renderer answered {record.get('id')!r} for {pending['id']!r}.",
                                    file=NODE_SCRIPT, hint="This is a bug in tools/render_math.mjs.")
            yield record
            pending = next(expected, None)
            wait = FORMULA_TIMEOUT_S
    except GeneratorExit:          # closed after the last record: node is exiting on its own
        raise
    except BaseException:
        stop(process, wait=0)     # an error, Ctrl-C or SIGTERM: do not wait for node
        raise
    finally:
        stop(process, wait=5)
        os.unlink(handle.name)


# ----------------------------------------------------------------------------- post-processing

_EX = re.compile(r"^(-?[\d.]+)ex$")
_VALIGN = re.compile(r"vertical-align:\s*(-?[\d.]+)ex")
# Attributes a formula may not carry into a book: ids would clash with the book's, links and
# classes come from \href, \class, \cssId, \style (the html extension), data- is MathJax's own.
_DROPPED = re.compile(r"^(?:data-.*|id|class|style|href|on.*|focusable|tabindex|aria-.*)$")


def _result_from_record(tex: str, display: bool, record: dict, fonts: dict[str, str]) -> RenderedMath:
    if record.get("error") or not record.get("svg") or not record.get("mathml"):
        message = " ".join(str(record.get("error") or "MathJax returned nothing").split())
        return RenderedMath(tex, display, error=message.rstrip("."))
    try:
        svg, width, height, valign = print_svg(record["svg"], fonts)
        mathml = epub_mathml(record["mathml"], tex, display)
    except (ValueError, etree.XMLSyntaxError) as error:
        return RenderedMath(tex, display, error=f"MathJax's output is not usable ({error})")
    if not display and not width:
        # MathJax makes a formula with a line break as wide as the line: in running text that
        # is a paragraph break the author did not write.
        return RenderedMath(tex, display, error="an inline formula cannot break its line (\\\\); "
                            "write it as display math, between $$ and $$")
    return RenderedMath(tex, display, svg, width, height, valign, mathml)


def _em(value: str | None) -> float:
    """An ex length of MathJax's as em; 0 for a relative one ("100%")."""
    match = _EX.match(value or "")
    return round(float(match[1]) * EX_TO_EM, 4) if match else 0.0


def _strip(node: etree._Element) -> None:
    for item in node.iter():
        if not isinstance(item.tag, str):
            continue
        for name in list(item.attrib):
            if name == XLINK_HREF or _DROPPED.match(etree.QName(name).localname):
                del item.attrib[name]


def _unwrap(node: etree._Element) -> None:
    parent, index = node.getparent(), node.getparent().index(node)
    for offset, child in enumerate(list(node)):
        parent.insert(index + offset, child)
    parent.remove(node)


def print_svg(svg: str, fonts: dict[str, str]) -> tuple[str, float, float, float]:
    """MathJax's SVG made ready for WeasyPrint: sizes in em (ex x EX_TO_EM), no MathJax data,
    ids, links or classes, \\text{} in the book's fonts. Returns (svg, width, height, vertical-align)."""
    root = etree.fromstring(svg.encode("utf-8"))
    if etree.QName(root).localname != "svg":
        raise ValueError("the output is not an <svg>")
    valign = _VALIGN.search(root.get("style") or "")
    width, height = _em(root.get("width")), _em(root.get("height"))
    for link in [a for a in root.iter(f"{{{SVG_NS}}}a")]:
        _unwrap(link)
    _strip(root)
    for text in root.iter(f"{{{SVG_NS}}}text"):
        family = text.get("font-family") or "serif"
        text.set("font-family", fonts.get(family, fonts["serif"]))
    root.set("width", f"{width}em" if width else "100%")
    root.set("height", f"{height}em")
    return (etree.tostring(root, encoding="unicode"), width, height,
            round(float(valign[1]) * EX_TO_EM, 4) if valign else 0.0)


def epub_mathml(mathml: str, tex: str, display: bool) -> str:
    """MathJax's MathML as EPUB wants it: plain presentation MathML in <semantics>, the TeX as an
    annotation and as alttext (what a reading system without MathML shows or speaks)."""
    root = etree.fromstring(mathml.encode("utf-8"))
    if root.tag != f"{{{MATHML_NS}}}math":
        raise ValueError("the output is not a <math> element")
    _strip(root)
    children = list(root)
    if len(children) == 1:
        body = children[0]
    else:
        body = etree.Element(f"{{{MATHML_NS}}}mrow")
        body.extend(children)
    math = etree.Element(f"{{{MATHML_NS}}}math", nsmap={None: MATHML_NS})
    math.set("display", "block" if display else "inline")
    math.set("alttext", tex.strip())
    semantics = etree.SubElement(math, f"{{{MATHML_NS}}}semantics")
    semantics.append(body)
    annotation = etree.SubElement(semantics, f"{{{MATHML_NS}}}annotation", encoding="application/x-tex")
    annotation.text = tex.strip()
    for node in math.iter():
        if isinstance(node.tag, str) and node.tag != f"{{{MATHML_NS}}}annotation":
            node.tail = None
            if len(node) and node.text and not node.text.strip():
                node.text = None
    return etree.tostring(math, encoding="unicode")


# ----------------------------------------------------------------------------- writers

# Full-width marks that carry their own blank half: no extra space between them and a formula.
_CLOSING = set("，。、；：？！）」』】〕〉》〗〙｝］”’…—")
_OPENING = set("（「『【〔〈《〖〘｛［“‘—")
_BLOCKS = {"p", "li", "dd", "dt", "td", "th", "figcaption", "blockquote", "div", "h1", "h2", "h3", "h4", "h5",
           "h6", "caption"}


def _text_before(span) -> str | None:
    """The text just before `span` in its parent; None when nothing precedes it in a block."""
    previous = span.getprevious()
    text = (previous.tail if previous is not None else span.getparent().text) or ""
    if not text.strip() and previous is None and span.getparent().tag in _BLOCKS:
        return None
    return text


def _set_text_before(span, text: str) -> None:
    previous = span.getprevious()
    if previous is not None:
        previous.tail = text
    else:
        span.getparent().text = text


def _text_after(span) -> str | None:
    following = span.getnext()
    text = span.tail or ""
    if not text.strip() and following is None and span.getparent().tag in _BLOCKS:
        return None
    return text


def _spaced(text: str | None, side: str) -> str | None:
    """The text before (side "start") or after ("end") an inline formula, with the formula's gap
    from Chinese text: a Han/Latin space (typeset.py sets U+2009 as its stretchable, breakable
    quarter em, dropped at a line end as a margin would not be), which replaces an author's space
    rather than adding to it ("参数为 $\\theta$" and "规则为$\\theta$" look the same). Next to Latin
    text an author's space is the word space, and no space is none ("10$^{5}$"); a full-width mark
    has a blank half of its own."""
    if text is None:
        return None
    bare = text.rstrip() if side == "start" else text.lstrip()
    char = bare[-1:] if side == "start" else bare[:1]
    if not char:                          # an element beside it (bold, a link, another formula)
        return text or THIN_SPACE         # the author's space is the gap, or else a quarter em
    if char in _CLOSING or char in _OPENING:
        return bare
    if is_cjk(char):
        return bare + THIN_SPACE if side == "start" else THIN_SPACE + bare
    return text


def _error_box(tex: str, display: bool) -> etree._Element:
    """A draft's placeholder: the TeX itself, in a red box (styles/print.css, styles/epub.css)."""
    return element("code", {"class": "math-error math-error-display" if display else "math-error",
                            "title": "公式无法渲染"}, text=tex.strip())


def _replace(span, node) -> None:
    node.tail = span.tail
    span.getparent().replace(span, node)


def _lone_in_paragraph(span) -> bool:
    parent = span.getparent()
    return (parent.tag == "p" and len(parent) == 1 and not (parent.text or "").strip()
            and not (span.tail or "").strip())


@transform("pdf", order=50)
def math_to_svg(root, context) -> None:
    """Each formula -> an <img> of its SVG (a data: URI). After resolve_images, which takes every
    <img> for a file of the book's."""
    for span, tex, display in math_spans(root):
        result = context.book.math.get((tex, display))
        if result is None or result.error or not result.svg:
            _replace(span, _error_box(tex, display))
            continue
        if display:
            style = f"width:{result.width_em}em" if result.width_em else "width:100%"
            img = element("img", {"class": "math", "src": _svg_uri(result), "alt": tex.strip(), "style": style})
            if _lone_in_paragraph(span):
                paragraph = span.getparent()
                paragraph.remove(span)
                paragraph.tag = "div"
                paragraph.set("class", "math-display")
                paragraph.text = None
                paragraph.append(img)
            else:
                holder = element("span", {"class": "math-display"})
                holder.append(img)
                _replace(span, holder)
            continue
        before, after = _spaced(_text_before(span), "start"), _spaced(_text_after(span), "end")
        if before is not None:
            _set_text_before(span, before)
        images = _piece_images(tex, context.book.math) or [_inline_image(tex, result, "math math-inline")]
        images[-1].tail = after if after is not None else span.tail
        parent = span.getparent()
        position = parent.index(span)
        parent[position:position + 1] = images


def _svg_uri(result: RenderedMath) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(result.svg.encode("utf-8")).decode("ascii")


def _inline_image(tex: str, result: RenderedMath, classes: str) -> etree._Element:
    style = (f"width:{result.width_em}em;height:{result.height_em}em;vertical-align:{result.valign_em}em"
             if result.width_em else f"width:100%;height:{result.height_em}em")
    return element("img", {"class": classes, "src": _svg_uri(result), "alt": tex.strip(), "style": style})


def _piece_images(tex: str, math: dict) -> list[etree._Element] | None:
    """The formula as its pieces (inline_pieces), a space after each relation it is cut at; None
    when it is not cut or a piece did not render."""
    pieces = inline_pieces(tex)
    results = [math.get((piece, False)) for piece in pieces]
    if len(pieces) < 2 or any(r is None or r.error or not r.svg or not r.width_em for r in results):
        return None
    images = [_inline_image(piece, result, "math math-inline" + (" math-continued" if index else ""))
              for index, (piece, result) in enumerate(zip(pieces, results))]
    for image in images[:-1]:
        image.tail = " "
    return images


@transform("epub", order=30)
def math_to_mathml(root, context) -> None:
    """Each formula -> its MathML (the page's manifest item then says `mathml`)."""
    for span, tex, display in math_spans(root):
        result = context.book.math.get((tex, display))
        if result is None or result.error or not result.mathml:
            _replace(span, _error_box(tex, display))
            continue
        _replace(span, etree.fromstring(result.mathml))


__all__ = ["Formula", "RenderedMath", "find_formulas", "math_span", "render_manuscript_math", "render_math",
           "print_svg", "epub_mathml", "cache_key", "renderer_id"]
