"""Notes, as each output sets them. pandoc leaves every document's notes as one list at its end,
with "↩︎" back-links; no writer prints that as it is.

- PDF, print.notes: footnote (default): each note moves to its call as a WeasyPrint page
  footnote (`float: footnote`, styles/print.css), numbered per chapter, with no back-link.
- PDF, print.notes: chapter-end: the notes stay at the end of the chapter under 注释, each
  number a link back to its call; no "↩︎".
- EPUB: EPUB 3 footnotes (`epub:type="footnote"` asides, `noteref` calls) that Apple Books,
  Kobo and Thorium show as pop-ups; the note's number links back to the call.

WeasyPrint 70 can lose a footnote when a line overflows where orphans forbid a break: it moves
the page's last notes away and never lays out the line's own (measured: 8 of 954 notes with
footnote-policy: line). The one-line fix below is applied when this module is imported, and
checked: an update of WeasyPrint that changes the code makes it fail loudly, not silently.
"""
from __future__ import annotations

import inspect
import textwrap

from lxml import etree

from pipeline.transforms import transform
from pipeline.tree import classes, element, is_element, remove_keeping_tail
from pipeline.typeset import WORD_JOINER  # no line break between the text and its note call

NOTES_TITLE = "注释"


def patch_weasyprint_footnotes() -> None:
    """Applied by pipeline/weasy.py, in every process that lays pages out."""
    from weasyprint.layout import block
    if getattr(block, "_book_notes_patched", False):
        return
    source = textwrap.dedent(inspect.getsource(block._linebox_layout))
    needle = "report = not context.in_column and can_break_now and not could_break_before"
    if needle not in source:
        raise RuntimeError("WeasyPrint's _linebox_layout changed: re-check the footnote fix in pipeline/notes.py")
    exec(compile(source.replace(needle, "report = False"), block.__file__, "exec"), block.__dict__)
    block._book_notes_patched = True



def take_notes(root: etree._Element) -> dict[str, etree._Element]:
    """Remove pandoc's notes list; return each note (its <li>) by id, without the back-link."""
    notes: dict[str, etree._Element] = {}
    for section in [n for n in root.iter() if is_element(n) and "footnotes" in classes(n)]:
        for item in section.iter("li"):
            if item.get("id") and item.getparent() is not None and "footnotes" in classes(item.getparent().getparent()):
                for back in [a for a in item.iter("a") if "footnote-back" in classes(a)]:
                    remove_keeping_tail(back)
                notes[item.get("id")] = item
        remove_keeping_tail(section)
    return notes


def _calls(root: etree._Element) -> list[etree._Element]:
    return [a for a in root.iter("a") if "footnote-ref" in classes(a)]


def _number(call: etree._Element) -> str:
    return "".join(call.itertext()).strip()


# ------------------------------------------------------------------ print

@transform("pdf", order=22)
def print_notes(root, context) -> None:
    notes = take_notes(root)
    if not notes:
        return
    if context.book.config.print.notes == "chapter-end":
        _chapter_end(root, notes)
    else:
        _page_footnotes(root, notes)


def _page_footnotes(root, notes: dict[str, etree._Element]) -> None:
    for call in _calls(root):
        note = notes.get((call.get("href") or "#")[1:])
        if note is None:
            continue
        footnote = element("span", {"class": "fn", "id": note.get("id")})
        _inline_content(note, footnote)
        footnote.tail = call.tail
        previous = call.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + WORD_JOINER
        else:
            call.getparent().text = (call.getparent().text or "") + WORD_JOINER
        call.getparent().replace(call, footnote)


def _inline_content(note: etree._Element, target: etree._Element) -> None:
    """A note's blocks as spans: a float cannot hold <p> inside a <p>. The first paragraph
    runs on from the number; later ones and list items are display: block spans."""
    first = True
    for block in list(note):
        if block.tag == "p" and first:
            target.text = (target.text or "") + (block.text or "")
            for child in list(block):
                target.append(child)
            first = False
            continue
        first = False
        if block.tag in ("ul", "ol"):
            for item in block.iter("li"):
                span = element("span", {"class": "fn-item"})
                _move_inside(item, span)
                target.append(span)
        else:
            span = element("span", {"class": "fn-block"})
            _move_inside(block, span)
            target.append(span)
    if note.text and note.text.strip():
        target.text = note.text + (target.text or "")


def _move_inside(source: etree._Element, target: etree._Element) -> None:
    target.text = source.text
    for child in list(source):
        if child.tag in ("ul", "ol", "p") and len(target):
            target[-1].tail = (target[-1].tail or "") + " "
        target.append(child)
    target.tail = None


def _chapter_end(root, notes: dict[str, etree._Element]) -> None:
    calls = {(c.get("href") or "#")[1:]: c for c in _calls(root)}
    box = element("section", {"class": "chapter-notes"})
    box.append(element("p", {"class": "notes-title sans"}, NOTES_TITLE))
    listing = element("ol", {"class": "notes"})
    for ident, note in notes.items():
        call = calls.get(ident)
        if call is not None and call.get("id"):
            number = element("a", {"class": "note-number", "href": f"#{call.get('id')}"}, _number(call))
            first = note.find("p")
            holder = first if first is not None else note
            number.tail = " " + (holder.text or "")
            holder.text = None
            holder.insert(0, number)
        listing.append(note)
    box.append(listing)
    root.append(box)


# ------------------------------------------------------------------ EPUB

@transform("epub", order=5)
def epub_notes(root, context) -> None:
    """EPUB 3 footnotes: pop-ups in the reading systems that know them, notes at the chapter's
    end in the others, each with its number linking back to the call."""
    notes = take_notes(root)
    if not notes:
        return
    calls = {(c.get("href") or "#")[1:]: c for c in _calls(root)}
    for call in calls.values():
        call.set("epub:type", "noteref")
        call.set("role", "doc-noteref")
    for ident, note in notes.items():
        aside = element("aside", {"id": ident, "class": "footnote", "role": "doc-footnote"})
        aside.set("epub:type", "footnote")
        call = calls.get(ident)
        blocks = list(note)
        if not blocks or blocks[0].tag != "p":
            first = element("p")
            first.text, note.text = note.text, None
            blocks.insert(0, first)
        else:
            first = blocks[0]
        if call is not None and call.get("id"):
            back = element("a", {"href": f"#{call.get('id')}", "role": "doc-backlink", "aria-label": "返回正文"},
                           _number(call))
            back.tail = " " + (first.text or "")
            first.text = None
            first.insert(0, back)
        for block in blocks:
            aside.append(block)
        root.append(aside)
