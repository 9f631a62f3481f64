"""Web links in print: on paper a link is only its text, so the address has to be printed too.

A link whose text is not its own address ("[智谱chat官网](https://chat.z.ai/)") gets the
address in a page footnote, numbered with the author's notes, as Chinese technical books print
them. Where a footnote cannot go or would be out of place, the address follows the text in
brackets: inside a note (a note holds no note), in a caption, in the generated appendices (a
reference list gives its addresses in the entry), and everywhere when notes are set at the
chapter's end (print.notes: chapter-end), whose numbers are the author's. A link that shows its
address already, a site path the book resolved to one of its own pages, or a link in a heading
(whose text is also the contents' line and the bookmark) adds nothing.
book.yaml's print.link_urls picks footnote (default), inline or none. The EPUB and the screen
PDF keep their links clickable and add nothing.
"""
from __future__ import annotations

import re

from lxml import etree

from pipeline.transforms import transform
from pipeline.tree import classes, element
from pipeline.typeset import WORD_JOINER, is_han

_WEB = re.compile(r"^(?:https?|mailto):", re.I)
# Where a link's address goes in brackets instead of a footnote of its own, and where it goes nowhere.
_INLINE_ANCESTORS = {"figcaption", "caption", "dt"}
_NO_ADDRESS_ANCESTORS = {"h1", "h2", "h3", "h4", "h5", "h6", "nav"}


def shown_address(href: str) -> str:
    """The address as the reader would compare it with the link's text."""
    bare = re.sub(r"^(?:https?://|mailto:)", "", href.strip(), flags=re.I)
    return re.sub(r"^www\.", "", bare).rstrip("/").lower()


def shows_its_address(link: etree._Element) -> bool:
    text = "".join(link.itertext()).strip()
    return bool(text) and shown_address(text) == shown_address(link.get("href") or "")


_NOTE_CLASSES = {"fn", "chapter-notes", "footnotes"}


def placement(link: etree._Element, footnotes: bool) -> str | None:
    """Where the link's address goes: "footnote", "bracket", or None (nowhere), by what holds it."""
    inline = not footnotes
    for ancestor in link.iterancestors():
        if ancestor.tag in _NO_ADDRESS_ANCESTORS:
            return None
        inline = inline or ancestor.tag in _INLINE_ANCESTORS or bool(_NOTE_CLASSES & classes(ancestor))
    return "bracket" if inline else "footnote"


def _bracketed(link: etree._Element, address: str) -> None:
    text = "".join(link.itertext())
    opening, closing = ("（", "）") if any(is_han(ch) for ch in text) else (" (", ")")
    holder = element("span", {"class": "link-address"})
    holder.text = opening
    holder.append(element("a", {"href": link.get("href")}, address))
    holder[-1].tail = closing
    holder.tail, link.tail = link.tail, None
    link.addnext(holder)


def _footnote(link: etree._Element, address: str) -> None:
    if len(link):                   # no line break between the link's text and its note call
        link[-1].tail = (link[-1].tail or "") + WORD_JOINER
    else:
        link.text = (link.text or "") + WORD_JOINER
    note = element("span", {"class": "fn fn-address"})
    note.append(element("a", {"href": link.get("href")}, address))
    note.tail, link.tail = link.tail, None
    link.addnext(note)


@transform("pdf", order=23)     # after print_notes (22): the author's notes are set, links in them are known
def print_link_addresses(root, context) -> None:
    mode = context.book.config.print.link_urls
    if mode == "none" or context.options.screen:
        return
    footnotes = (mode == "footnote" and context.book.config.print.notes == "footnote"
                 and context.section.kind != "appendix")
    for link in list(root.iter("a")):
        href = link.get("href") or ""
        where = placement(link, footnotes) if _WEB.match(href) and not shows_its_address(link) else None
        if where is not None:
            (_footnote if where == "footnote" else _bracketed)(link, re.sub(r"^mailto:", "", href, flags=re.I))
