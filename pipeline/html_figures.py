"""Pictures written in raw HTML, as books kept on GitHub write them, become figures.

GitHub shows no Markdown caption, so such books centre a picture and put its caption in the
next centred block (datawhalechina's books, a picture a page):

    <div align=center><img width="550" src="../img/ch2/2.1.png"/></div>
    <div align=center>图 2.1 智能体与环境之间的交互</div>

Read as written, the caption is a loose line that may fall on the next page, and the picture has
no text alternative: an error for each picture of such a book. A block holding a picture and
nothing else, followed at once by a block of short text that starts as a caption does ("图 2.1",
"表 3", "Figure 4", a sub-figure's "（a）"; or preceded by a table's, "表 2.1", which goes above),
becomes a <figure> with that text as its <figcaption>, as pandoc makes of `![图 2.1 …](2.1.png)`:
in both formats, kept on one page, and the caption the picture's description
(check.has_description). No alt text is made up from the caption: the length rule counts alt
text, and the caption would count twice.
Runs on each tree right after the sanitizer, whose classes (align-center) the blocks may carry.

mdBook books mark their captions: `<span class="caption">示例 5-1：User 结构体定义</span>` in a
line of its own, after a listing, after a picture, or before a table. A listing and its caption
(and the file-name label above it, pipeline/includes.py) become a `<figure class="listing">`, as
the newer pages of such books write it; a table's caption becomes the table's own <caption>.
"""
from __future__ import annotations

import re

from lxml import etree

from pipeline.tree import element, is_element, remove_keeping_tail

CAPTION_START = re.compile(r"^\s*(?:[图表]\s*\d|(?:figure|fig\.|table)\s*\d|[（(][a-z]{1,2}[)）])", re.I)
TABLE_START = re.compile(r"^\s*(?:表\s*\d|table\s*\d)", re.I)
CAPTION_MAX_CHARS = 120
BLOCKS = ("div", "p")
# What a caption may hold besides text: inline formatting, a link, a note call, a formula.
INLINE = {"em", "strong", "b", "i", "a", "span", "code", "sub", "sup", "small", "br"}


def gather_html_figures(tree: etree._Element) -> int:
    """Turn every picture-and-caption pair of raw HTML blocks into a figure; return how many."""
    made = 0
    for block in list(tree.iter(*BLOCKS)):
        picture = _lone_picture(block)
        if picture is None:
            continue
        before, after = block.getprevious(), block.getnext()
        if after is not None and not (block.tail or "").strip() and _is_caption(after):
            caption, above = after, False
        elif before is not None and not (before.tail or "").strip() and _is_caption(before, TABLE_START):
            caption, above = before, True       # a table's caption goes above it, also a table drawn as a picture
        else:
            continue
        figure = element("figure", {"data-line": block.get("data-line")})
        figcaption = element("figcaption", text=caption.text)
        for child in list(caption):
            figcaption.append(child)
        figure.extend([figcaption, picture] if above else [picture, figcaption])
        figure.tail = block.tail if above else caption.tail
        caption.getparent().remove(caption)
        block.getparent().replace(block, figure)
        made += 1
    return made


CAPTION_CLASS = "caption"


def gather_marked_captions(tree: etree._Element) -> int:
    """Listings and tables with a caption marked as one (see above) take it; return how many."""
    made = 0
    for block in list(tree.iter("p")):
        span = _marked_caption(block)
        if span is None or block.getparent() is None:
            continue
        before, after = block.getprevious(), block.getnext()
        if before is not None and before.tag == "pre" and not (before.tail or "").strip():
            figure = element("figure", {"class": "listing", "data-line": before.get("data-line")})
            label = before.getprevious()
            if label is not None and "code-label" in (label.get("class") or "").split():
                before.addprevious(figure)
                figure.append(label)
            else:
                before.addprevious(figure)
            figure.append(before)
            figure.append(_moved_into(span, element("figcaption")))
            figure.tail, before.tail = block.tail, None
            block.getparent().remove(block)
        elif after is not None and after.tag == "table" and after.find("caption") is None:
            after.insert(0, _moved_into(span, element("caption")))
            remove_keeping_tail(block)
        else:
            continue
        made += 1
    return made


def _marked_caption(block: etree._Element) -> etree._Element | None:
    children = [child for child in block if is_element(child)]
    if (len(children) == 1 and children[0].tag == "span" and CAPTION_CLASS in (children[0].get("class") or "").split()
            and not (block.text or "").strip() and not (children[0].tail or "").strip()):
        return children[0]
    return None


def _moved_into(span: etree._Element, target: etree._Element) -> etree._Element:
    target.text = span.text
    for child in list(span):
        target.append(child)
    return target


def _lone_picture(block: etree._Element) -> etree._Element | None:
    """The <img> that is all a block holds (whitespace aside), else None."""
    children = [child for child in block if is_element(child)]
    if len(children) != 1 or children[0].tag != "img" or (block.text or "").strip() or (children[0].tail or "").strip():
        return None
    return children[0]


def _is_caption(block: etree._Element, start: re.Pattern = CAPTION_START) -> bool:
    if not is_element(block) or block.tag not in BLOCKS or _lone_picture(block) is not None:
        return False
    if any(not is_element(node) or node.tag not in INLINE for node in block.iterdescendants()):
        return False
    text = " ".join("".join(block.itertext()).split())
    return bool(text) and len(text) <= CAPTION_MAX_CHARS and bool(start.match(text))
