"""Hugo shortcodes, as a Hugo author expects them in a book.

A preprocessor (mdBook's word: it changes the book before it is read) rewrites each shortcode
into Markdown pandoc reads, on the same lines, so every later message keeps its line:

    {{< figure src="a.png" caption="图注" alt="…" >}}  ->  [图注]{.sc-figure data-src="a.png" …}
    {{< callout type="warning" >}} … {{< /callout >}}   ->  ::: {.sc-callout data-type="warning"} … :::
    [见]({{< ref "ch2.md#sec" >}})                        ->  [见](ch2.md#sec)

then `finish_shortcodes` turns those spans and divs into the book's own figure and box
elements on the tree. A new shortcode is one function registered with @shortcode; a site's own
ones (glossary_tooltip, a heading by key) are mapped to text in book.yaml's assemble.shortcodes.
Any other is a warning at its line: a paired one's inner text stays, an inline one keeps its
`text` argument. Shortcodes inside code and inside HTML comments (a translated site keeps the
original text there) are left alone.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Callable

from lxml import etree

from pipeline.diagnostics import Diagnostics
from pipeline.text import CODE_FENCE
from pipeline.tree import element

# {{< name args >}}, {{% name args %}}, {{< /name >}}; Hugo comments {{/* … */}}
_SHORTCODE = re.compile(r"\{\{[<%]\s*(?P<close>/)?\s*(?P<name>[\w.-]+)(?P<args>.*?)\s*[>%]\}\}")
_COMMENT = re.compile(r"\{\{/\*.*?\*/\}\}")
_INLINE_CODE = re.compile(r"(`+).+?\1")
_PLACE = re.compile(r"\{(\w[\w-]*)\}")
SiteRules = dict[str, "str | tuple[tuple[str, str], ...]"]


@dataclass(frozen=True)
class Call:
    name: str
    args: list[str]                  # positional
    kwargs: dict[str, str]
    line: int


Handler = Callable[[Call, str | None], str]      # (call, inner text or None) -> Markdown
_HANDLERS: dict[str, tuple[Handler, bool]] = {}  # name -> (handler, paired)


def shortcode(*names: str, paired: bool = False):
    def register(handler: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = (handler, paired)
        return handler
    return register


def _attribute(value: str) -> str:
    """A value inside a pandoc attribute's double quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _attributes(classes: str, values: dict[str, str]) -> str:
    parts = [classes, *(f'{k}="{_attribute(v)}"' for k, v in values.items() if v)]
    return "{" + " ".join(parts) + "}"


# ------------------------------------------------------------------ the built-in shortcodes

@shortcode("figure")
def _figure(call: Call, inner: str | None) -> str:
    get = call.kwargs.get
    caption = get("caption") or get("title") or ""
    values = {"data-src": get("src", ""), "data-alt": get("alt", ""), "data-title": get("title", ""),
              "data-link": get("link", "")}
    ident = f" #{get('id')}" if get("id") else ""
    return f"[{caption}]" + _attributes(".sc-figure" + ident, values)


CALLOUT_LABELS = {
    "note": "注", "info": "说明", "tip": "提示", "hint": "提示", "success": "提示", "important": "重要",
    "warning": "注意", "caution": "注意", "danger": "警告", "error": "警告", "question": "问题",
    "example": "示例", "quote": "引述", "abstract": "摘要", "summary": "摘要", "tldr": "摘要", "bug": "缺陷",
    "failure": "失败", "todo": "待办",
}


def callout_fence(kind: str, title: str = "") -> str:
    """The fenced div a box opens with; pipeline/admonitions.py writes MkDocs' boxes so too."""
    return "::: " + _attributes(".sc-callout", {"data-type": kind, "data-title": title})


@shortcode("callout", "notice", "admonition", "hint", "alert", "tip", "note", "warning", "info", "caution",
           "important", "danger", paired=True)
def _callout(call: Call, inner: str | None) -> str:
    kind = (call.kwargs.get("type") or call.kwargs.get("kind") or (call.args[0] if call.args else "")
            or (call.name if call.name in CALLOUT_LABELS else "note")).lower()
    values = {"data-type": kind, "data-title": call.kwargs.get("title", "")}
    if inner is not None:                       # opening and closing on one line
        return f"[{inner}]" + _attributes(".sc-callout", values)
    return callout_fence(kind, values["data-title"])


@shortcode("ref", "relref")
def _ref(call: Call, inner: str | None) -> str:
    return (call.args[0] if call.args else call.kwargs.get("path", "")).strip()


# ------------------------------------------------------------------ the preprocessor

def expand(markdown: str, first_line: int, diagnostics: Diagnostics, path, site: SiteRules | None = None) -> str:
    """The body with every shortcode rewritten, line for line (site: book.yaml's assemble.shortcodes)."""
    if "{{" not in markdown:
        return markdown
    lines = markdown.split("\n")
    fence = None
    in_comment = False
    open_pairs: list[Call] = []
    # an unknown shortcode is paired when the document closes it somewhere
    closed_names = set(re.findall(r"\{\{[<%]\s*/\s*([\w.-]+)", markdown))
    for index, line in enumerate(lines):
        opening = None if in_comment else CODE_FENCE.match(line)
        if fence:
            if opening and opening[1][0] == fence[0] and len(opening[1]) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening[1]
            continue
        if "{{" in line:
            lines[index] = _expand_line(line, first_line + index, open_pairs, closed_names, diagnostics, path,
                                        site or {}, in_comment)
        if in_comment or "<!--" in line:
            in_comment = _comment_spans(line, in_comment)[1]
    for call in open_pairs:
        diagnostics.add("shortcode-unclosed", f"the shortcode {{{{< {call.name} >}}}} is never closed.", path,
                        call.line, f"Add {{{{< /{call.name} >}}}} after its content.")
    return "\n".join(lines)


def _comment_spans(line: str, in_comment: bool) -> tuple[list[tuple[int, int]], bool]:
    """The parts of a line inside HTML comments, and whether a comment is still open at its end."""
    code = [m.span() for m in _INLINE_CODE.finditer(line)]
    spans, position = [], 0
    if in_comment:
        end = line.find("-->")
        if end < 0:
            return [(0, len(line))], True
        spans.append((0, end + 3))
        position = end + 3
    while (start := line.find("<!--", position)) >= 0:
        if any(a <= start < b for a, b in code):
            position = start + 4
            continue
        end = line.find("-->", start + 4)
        if end < 0:
            spans.append((start, len(line)))
            return spans, True
        spans.append((start, end + 3))
        position = end + 3
    return spans, False


def _expand_line(line: str, number: int, open_pairs: list[Call], closed_names: set[str], diagnostics: Diagnostics,
                 path, site: SiteRules, in_comment: bool) -> str:
    line = _COMMENT.sub("", line)
    pieces, last = [], 0
    protected = [m.span() for m in _INLINE_CODE.finditer(line)] + _comment_spans(line, in_comment)[0]
    matches = [m for m in _SHORTCODE.finditer(line) if not any(a <= m.start() < b for a, b in protected)]
    for position, match in enumerate(matches):
        pieces.append(line[last:match.start()])
        last = match.end()
        name = match["name"]
        if name in site:
            if not match["close"]:          # a closing tag's content stays, as plain text
                pieces.append(_site_text(_call(name, match["args"], number), site[name], diagnostics, path))
            continue
        if match["close"]:
            opened = open_pairs.pop() if open_pairs and open_pairs[-1].name == name else None
            if opened is None:
                diagnostics.add("shortcode-unknown", f"{{{{< /{name} >}}}} closes nothing.", path, number,
                                "Remove it, or add the opening shortcode.")
            pieces.append(":::" if opened is not None else "")
            continue
        call = _call(name, match["args"], number)
        handler, paired = _HANDLERS.get(name, (None, name in closed_names))
        if handler is None:
            text = "" if paired else call.kwargs.get("text", "")
            kept = ("its content stays as text" if paired else
                    f"it is printed as its text argument {text!r}" if text else "it is printed as nothing")
            diagnostics.add("shortcode-unknown", f"the shortcode {{{{< {name} >}}}} is not one the book knows; "
                            f"{kept}.", path, number,
                            f'Map it to text in book.yaml (assemble: shortcodes: {name}: "…"), or remove it. '
                            f"Built in: {', '.join(sorted(_HANDLERS))}.", args={"name": name})
            if paired:
                open_pairs.append(call)
                pieces.append("::: {.sc-unknown}")
            pieces.append(text)
            continue
        closing = next((m for m in matches[position + 1:] if m["close"] and m["name"] == name), None) \
            if paired else None
        if closing is not None:                          # both on this line: an inline box
            inner = line[match.end():closing.start()]
            pieces.append(handler(call, inner))
            matches.remove(closing)
            last = closing.end()
            continue
        if paired:
            open_pairs.append(call)
        pieces.append(handler(call, None))
    pieces.append(line[last:])
    return "".join(pieces)


def _site_text(call: Call, rule, diagnostics: Diagnostics, path) -> str:
    """What book.yaml's assemble.shortcodes prints for a call: its template filled, or the text
    its first argument picks."""
    where = f"book.yaml's assemble.shortcodes.{call.name}"
    if isinstance(rule, tuple):
        key = call.args[0] if call.args else ""
        texts = dict(rule)
        if key in texts:
            return texts[key]
        diagnostics.add("shortcode-unmapped", f"{where} has no text for {key!r}; the argument is printed as it is.",
                        path, call.line, f"Add '{key}: …' under it.", args={"name": call.name})
        return key

    def fill(place: re.Match) -> str:
        key = place[1]
        value = call.args[int(key)] if key.isdigit() and int(key) < len(call.args) else call.kwargs.get(key)
        if value is None:
            diagnostics.add("shortcode-unmapped", f"{where} prints {{{key}}}, which this call does not give; "
                            "it is printed as nothing.", path, call.line,
                            f"Give the shortcode a {key} argument, or change the template.", args={"name": call.name})
            return ""
        return value
    return _PLACE.sub(fill, rule)


def _call(name: str, args: str, line: int) -> Call:
    try:
        words = shlex.split(args.replace("“", '"').replace("”", '"'))
    except ValueError:
        words = args.split()
    positional, named = [], {}
    for word in words:
        key, equals, value = word.partition("=")
        if equals and re.fullmatch(r"[\w-]+", key):
            named[key] = value
        else:
            positional.append(word)
    return Call(name, positional, named, line)


# ------------------------------------------------------------------ on the tree

def finish_shortcodes(tree: etree._Element) -> None:
    """The spans and divs the preprocessor left become the book's figures and boxes."""
    for span in [n for n in tree.iter("span") if "sc-figure" in (n.get("class") or "").split()]:
        _to_figure(span)
    for node in [n for n in tree.iter("div", "span") if "sc-callout" in (n.get("class") or "").split()]:
        _to_callout(node)
    for div in [n for n in tree.iter("div") if "sc-unknown" in (n.get("class") or "").split()]:
        div.attrib.pop("class")


def _to_figure(span: etree._Element) -> None:
    figure = element("figure", {"id": span.get("id"), "class": "shortcode",
                                "data-line": span.get("data-line") or span.getparent().get("data-line")})
    image = element("img", {"src": span.get("data-src"), "alt": span.get("data-alt") or _text(span) or None,
                            "title": span.get("data-title") or None})
    figure.append(image)
    if _text(span):
        caption = element("figcaption")
        caption.text = span.text
        for child in list(span):
            caption.append(child)
        figure.append(caption)
    parent = span.getparent()
    alone = parent.tag == "p" and len(parent) == 1 and not (parent.text or "").strip() and not (span.tail or "").strip()
    if alone:
        figure.tail = parent.tail
        parent.getparent().replace(parent, figure)
    else:
        figure.tail = span.tail
        parent.replace(span, figure)


def _to_callout(node: etree._Element) -> None:
    kind = node.get("data-type") or "note"
    label = node.get("data-title") or CALLOUT_LABELS.get(kind, CALLOUT_LABELS["note"])
    box = element("aside" if node.tag == "div" else "span",
                  {"class": f"callout callout-{re.sub(r'[^a-z0-9-]', '', kind) or 'note'}", "role": "note",
                   "data-line": node.get("data-line")})
    title = element("p" if node.tag == "div" else "span", {"class": "callout-title sans"}, label)
    box.append(title)
    if node.tag == "span":
        title.tail = node.text
    else:
        box.text = None
        if (node.text or "").strip():
            title.tail = node.text
    for child in list(node):
        box.append(child)
    box.tail = node.tail
    node.getparent().replace(node, box)


def _text(node: etree._Element) -> str:
    return "".join(node.itertext()).strip()


__all__ = ["shortcode", "expand", "finish_shortcodes", "callout_fence", "CALLOUT_LABELS"]
