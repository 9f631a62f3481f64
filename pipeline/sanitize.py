"""Raw HTML in a document, cut down to what a book needs: every document is treated as if a
stranger wrote it.

Runs on each tree right after pandoc has read it, before ids and links are looked at, so
nothing removed here can become a link target or reach a writer. Each removal is a warning
with the document's file and line.

- Elements that run code, embed other documents, take input or restyle the book (script,
  style, iframe, object, embed, form, link, meta, base, …) are removed with their content.
- Elements outside the allow-list are unwrapped: their text stays, the tag goes.
- Attributes outside the allow-list go, event handlers (onclick…) first among them; a block's
  align="center" (GitHub's way of centring) becomes the class align-center;
  `style` stays only without url(), @import, expression() or behavior (author CSS belongs
  in styles/, not in chapters).
- href keeps only relative paths, fragments, http(s) and mailto; javascript:, file:, data:
  and the rest are removed. Image sources are left to the image checks, which judge each one.
- A table's parts go in the order XHTML requires (caption, colgroup, thead, body rows, tfoot):
  a browser forgives a <caption> written last, as Kubernetes' pages write it, EPUBCheck does not.
"""
from __future__ import annotations

import re


from pipeline.diagnostics import Diagnostics
from pipeline.documents import Document
from pipeline.tree import is_element, line_of, remove_keeping_tail, unwrap

# Elements HTML defines as empty; what libxml2 puts inside them was written after them.
VOID = frozenset({"embed", "input", "link", "meta", "base", "param", "source", "track", "keygen", "img", "br",
                  "hr", "col", "wbr", "area"})
# Removed with everything inside them.
DANGEROUS = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input", "button",
    "select", "textarea", "option", "link", "meta", "base", "noscript", "template", "audio", "video", "source",
    "track", "canvas", "portal", "dialog", "head", "title", "param",
})
ALLOWED = frozenset({
    "div", "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre",
    "code", "kbd", "samp", "var", "em", "strong", "b", "i", "u", "s", "del", "ins", "mark", "small", "sub", "sup",
    "span", "section", "aside", "figure", "figcaption", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
    "caption", "colgroup", "col", "a", "img", "br", "hr", "abbr", "cite", "q", "dfn", "time", "ruby", "rt", "rp",
    "bdi", "bdo", "wbr", "header", "footer", "article", "address", "details", "summary", "nav", "main",
    "math", "mi", "mo", "mn", "ms", "mtext", "mrow", "msup", "msub", "msubsup", "mfrac", "msqrt", "mroot",
    "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mspace", "mstyle", "semantics", "annotation",
    "mpadded", "mphantom", "menclose", "mfenced",
})
COMMON_ATTRIBUTES = frozenset({"id", "class", "lang", "title", "dir", "role", "style"})
ELEMENT_ATTRIBUTES = {
    "a": {"href"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan", "headers", "align"},
    "th": {"colspan", "rowspan", "headers", "scope", "align"}, "ol": {"start", "type", "reversed"},
    "li": {"value"}, "time": {"datetime"}, "blockquote": {"cite"}, "q": {"cite"}, "col": {"span"},
    "colgroup": {"span"}, "math": {"display", "xmlns"}, "abbr": {"title"}, "bdo": {"dir"},
    "details": {"open"},
}
# HTML's old align="…" on a block, which books written for GitHub use to centre a picture and its
# caption (<div align=center>): kept as a class the stylesheets honour (styles/*.css, .align-*).
ALIGNABLE = frozenset({"div", "p", "h1", "h2", "h3", "h4", "h5", "h6", "figure", "section", "blockquote"})
ALIGNMENTS = frozenset({"left", "center", "right", "justify"})
# A link's rel values that only tell a browser how to open it; another (rel="attachment" makes
# WeasyPrint attach the target file to the PDF) is removed with a warning.
WEB_RELS = frozenset({"noopener", "noreferrer", "nofollow", "external", "ugc", "sponsored"})
SAFE_SCHEMES = ("http", "https", "mailto", "chapter")   # chapter: is ours (pipeline.xref)
_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*):")
_UNSAFE_STYLE = re.compile(r"url\s*\(|@import|expression\s*\(|behavior\s*:|-moz-binding|image-set\s*\(", re.I)
# Internal attributes the reader itself sets; `data-*` attributes an author writes are harmless.
_ALLOWED_PREFIXES = ("aria-", "data-", "epub:")


def sanitize(document: Document, diagnostics: Diagnostics) -> None:  # noqa: C901 - one walk, one rule each
    """Make the document's tree safe, in place; report each removal."""
    tree = document.tree
    raw_seen: dict[str, int] = {}     # raw HTML has no position: the n-th <div> is on the line of the n-th "<div"
    for node in list(tree.iter()):
        if node is tree or not _attached(node, tree):
            continue                  # the root, or inside something already removed
        if not is_element(node):
            # comments and processing instructions never print: gone, so no later stage meets them
            remove_keeping_tail(node)
            continue
        tag = node.tag.lower() if isinstance(node.tag, str) else ""
        if line_of(node) is None:
            raw_seen[tag] = raw_seen.get(tag, 0) + 1
            node.set(_RAW_INDEX, str(raw_seen[tag]))
        if tag in DANGEROUS or ":" in tag and tag.split(":")[-1] in DANGEROUS:
            _report(document, node, diagnostics, f"the <{tag}> element was removed with its content",
                    "A book runs no scripts, embeds no other pages and takes its styles from styles/.")
            if tag in VOID:
                # libxml2 does not know these take no content and hangs what follows inside them
                unwrap_children_after(node)
            remove_keeping_tail(node)
            continue
        if tag not in ALLOWED and tag != "svg" and not _in_svg(node):
            _report(document, node, diagnostics, f"the <{tag}> tag was removed (its text stays)",
                    "Use Markdown or a plain HTML element such as <span> or <div>.")
            unwrap(node)
            continue
        _clean_attributes(document, node, tag, diagnostics)
    for node in tree.iter():
        if is_element(node):
            node.attrib.pop(_RAW_INDEX, None)
    for table in tree.iter("table"):
        order_table_parts(table)


_TABLE_PART_RANK = {"caption": 0, "colgroup": 1, "col": 1, "thead": 2, "tfoot": 4}     # rows and tbody: 3


def order_table_parts(table) -> None:
    """Put a table's children in XHTML's order, keeping the order of those of one rank."""
    children = [child for child in table if is_element(child)]
    ranked = sorted(children, key=lambda child: _TABLE_PART_RANK.get(child.tag, 3))
    if ranked == children:
        return
    for child in children:
        child.tail = None           # whitespace between table parts: nothing of the book's
        table.remove(child)
    for child in ranked:
        table.append(child)


def unwrap_children_after(node) -> None:
    """Move a void element's content out, right after it: its text, then its children, then its tail."""
    parent, position = node.getparent(), node.getparent().index(node)
    children = list(node)
    for offset, child in enumerate(children):
        parent.insert(position + 1 + offset, child)
    lead, tail = node.text or "", node.tail or ""
    node.text = None
    if children:
        children[-1].tail = (children[-1].tail or "") + tail
        node.tail = lead
    else:
        node.tail = lead + tail


def _attached(node, tree) -> bool:
    return any(ancestor is tree for ancestor in node.iterancestors())


def _in_svg(node) -> bool:
    return any(isinstance(a.tag, str) and a.tag.lower() == "svg" for a in node.iterancestors())


def _clean_attributes(document: Document, node, tag: str, diagnostics: Diagnostics) -> None:
    in_svg = tag == "svg" or _in_svg(node)
    allowed = COMMON_ATTRIBUTES | ELEMENT_ATTRIBUTES.get(tag, set())
    for name in list(node.attrib):
        value = node.get(name)
        lowered = name.lower()
        if lowered == "data-line":
            continue
        if lowered.startswith("on"):
            reason = f"the event attribute {name} was removed"
        elif in_svg and "href" in lowered:
            # an SVG may point inside itself; anything else would fetch a file or a URL
            reason = None if value.startswith("#") else f"the SVG reference {name}=\"{_short(value)}\" was removed"
        elif in_svg:
            reason = None
        elif lowered == "href":
            reason = _unsafe_url(value)
        elif lowered == "src" and tag == "img":
            reason = None             # every image source is judged, with its line, by the image checks
        elif lowered == "style":
            reason = f"the style \"{_short(value)}\" was removed" if _UNSAFE_STYLE.search(value) else None
        elif lowered in allowed or lowered.startswith(_ALLOWED_PREFIXES):
            reason = None
        elif tag == "pre":
            del node.attrib[name]     # a fence's own attributes (alt=, layout=): the diagram stage reads the fence
            continue
        elif tag == "a" and (lowered == "target" or lowered == "rel" and set(value.lower().split()) <= WEB_RELS):
            del node.attrib[name]     # how a web page opens a link (target="_blank"): nothing a book prints
            continue
        elif lowered == "align" and tag in ALIGNABLE and value.strip().lower() in ALIGNMENTS:
            del node.attrib[name]
            node.set("class", " ".join([*(node.get("class") or "").split(), f"align-{value.strip().lower()}"]))
            continue
        else:
            reason = f"the attribute {name} of <{tag}> was removed"
        if reason:
            _report(document, node, diagnostics, reason, "A book keeps only the attributes it can print.")
            del node.attrib[name]


def _unsafe_url(value: str) -> str | None:
    scheme = _SCHEME.match(value)
    if not scheme or scheme[1].lower() in SAFE_SCHEMES:
        return None
    return f"the href \"{_short(value)}\" was removed: a book does not follow {scheme[1]}: URLs"


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _report(document: Document, node, diagnostics: Diagnostics, message: str, hint: str) -> None:
    line = line_of(node) or _raw_line(document, node)
    diagnostics.add("html-removed", message + ".", document.path, line, hint)


def _raw_line(document: Document, node) -> int | None:
    """Raw HTML has no position from pandoc: find the tag in the source, as often as it was met."""
    tag = node.tag if isinstance(node.tag, str) else ""
    return document.line_containing(f"<{tag}", int(node.get(_RAW_INDEX) or 1)) if tag else None


_RAW_INDEX = "data-bk-raw"        # dropped again at the end of sanitize()
