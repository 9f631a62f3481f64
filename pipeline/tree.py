"""The document tree every stage shares: lxml elements under one <div> per section.

pandoc's HTML is parsed once, here; from then on stages change the tree in place and only
the writers turn it back into text (each its own way: XHTML for the EPUB, HTML for the PDF).
Attributes the pipeline keeps for itself (source lines, cross-reference data) start with
`data-bk-` or are `data-line`, and `writer_copy` drops them.
"""
from __future__ import annotations

import copy
import re
from html import escape as html_escape
from typing import Iterator

from lxml import etree
from lxml import html as lxml_html

LINE = "data-line"
INTERNAL_ATTRIBUTE = re.compile(r"^data-(line|bk-.*)$")

# Elements whose text is laid out as its own block: quote pairing and the like stop at them.
BLOCK_TAGS = frozenset({"p", "li", "dd", "dt", "td", "th", "figcaption", "blockquote", "div", "section",
                        "aside", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "ul", "ol", "table", "figure",
                        "caption", "nav", "header", "footer", "tr", "thead", "tbody", "tfoot", "dl", "hr"})
# Elements whose text is code or otherwise not prose.
CODE_TAGS = frozenset({"pre", "code", "kbd", "samp", "script", "style", "svg", "math", "var", "tt"})
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def parse_html(fragment: str) -> etree._Element:
    """HTML body content as the children of one <div> (the one place the pipeline parses HTML)."""
    if not fragment.strip():
        return lxml_html.Element("div")
    return lxml_html.fragment_fromstring(fragment, create_parent="div")


def element(tag: str, attributes: dict[str, str] | None = None, text: str | None = None) -> etree._Element:
    made = lxml_html.Element(tag, {k: v for k, v in (attributes or {}).items() if v is not None})
    if text is not None:
        made.text = text
    return made


def is_element(node) -> bool:
    return isinstance(node.tag, str)


def writer_copy(root: etree._Element) -> etree._Element:
    """A copy for a writer to transform, without the pipeline's own attributes."""
    clone = copy.deepcopy(root)
    for node in clone.iter():
        if is_element(node):
            for name in [n for n in node.attrib if INTERNAL_ATTRIBUTE.match(n)]:
                del node.attrib[name]
    return clone


def to_html(root: etree._Element) -> str:
    """The div's content as HTML (the PDF writer's serialization); its own text escaped too."""
    return html_escape(root.text or "", quote=False) + "".join(etree.tostring(child, encoding="unicode", method="html") for child in root)


def text_of(node: etree._Element) -> str:
    """Visible text, whitespace collapsed (comments are not text)."""
    return " ".join("".join(visible_strings(node)).split())


def classes(node) -> set[str]:
    """The classes of an element (none for a comment or a processing instruction)."""
    return set((node.get("class") or "").split()) if is_element(node) else set()


def visible_strings(node: etree._Element, skip: frozenset[str] = frozenset(),
                    skip_classes: frozenset[str] = frozenset()) -> Iterator[str]:
    """The text of `node` and its descendants, in order, leaving out comments, `skip` elements
    and elements of a class in `skip_classes`."""
    if is_element(node) and node.tag not in skip and not (skip_classes and skip_classes & classes(node)):
        if node.text:
            yield node.text
        for child in node:
            yield from visible_strings(child, skip, skip_classes)
            if child.tail:
                yield child.tail


def line_of(node: etree._Element) -> int | None:
    """The source line of a node, or of the nearest ancestor pandoc placed."""
    for candidate in (node, *node.iterancestors()):
        value = candidate.get(LINE)
        if value:
            return int(value)
    return None


def text_slots(block: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    """(node, "text" | "tail") for every run of prose text that belongs to `block` itself, in
    order: inline children are entered, nested blocks, code and TeX math are not (their tails are)."""
    yield block, "text"
    for child in block:
        if is_element(child) and child.tag not in BLOCK_TAGS and child.tag not in CODE_TAGS \
                and "math" not in (child.get("class") or "").split():
            yield from text_slots(child)
        yield child, "tail"


def prose_blocks(root: etree._Element) -> Iterator[etree._Element]:
    """Every block element that can hold prose directly (paragraphs, items, cells, headings...)."""
    if any(a.tag in CODE_TAGS for a in root.iterancestors()):
        return
    # a walk that does not enter code, rather than an ancestor test for every element
    stack = [root]
    while stack:
        node = stack.pop()
        if not is_element(node) or node.tag in CODE_TAGS:
            continue
        if node.tag in BLOCK_TAGS:
            yield node
        stack.extend(reversed(node))


def replace_slot(node: etree._Element, attr: str, pieces: list) -> None:
    """Put `pieces` (strings and new elements) where the text slot (node, attr) was."""
    if attr == "text":
        parent, position = node, 0
    else:
        parent, position = node.getparent(), node.getparent().index(node) + 1
    setattr(node, attr, None)
    holder, holder_attr = node, attr
    for piece in pieces:
        if isinstance(piece, str):
            setattr(holder, holder_attr, (getattr(holder, holder_attr) or "") + piece)
            continue
        piece.tail = None
        parent.insert(position, piece)
        position += 1
        holder, holder_attr = piece, "tail"


def remove_keeping_tail(node: etree._Element) -> None:
    """Remove an element; its tail text stays where it was."""
    parent, previous = node.getparent(), node.getprevious()
    if node.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + node.tail
        else:
            parent.text = (parent.text or "") + node.tail
    parent.remove(node)


def unwrap(node: etree._Element) -> None:
    """Replace an element by its content."""
    parent = node.getparent()
    position = parent.index(node)
    previous = node.getprevious()
    lead = node.text or ""
    if previous is not None:
        previous.tail = (previous.tail or "") + lead
    else:
        parent.text = (parent.text or "") + lead
    children = list(node)
    for offset, child in enumerate(children):
        parent.insert(position + offset, child)
    last = children[-1] if children else node.getprevious()
    tail = node.tail or ""
    parent.remove(node)
    if tail:
        if last is not None and last is not node:
            last.tail = (last.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
