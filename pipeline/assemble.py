"""The assemble stage: checked documents -> the parts of the Book.

It works on the trees the check stage left (ids fixed, links resolved): diagrams become
numbered figures, images become assets, each chapter's takeaways become a box and, with
its references, feed the generated appendices; anecdotes become asides. The writers only
read the result.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

from lxml import etree

from pipeline.book import Asset, Figure, Heading, Section
from pipeline.check import has_description, image_source
from pipeline.documents import Document
from pipeline.measure import REFERENCES_TITLE, TAKEAWAYS_TITLE, is_anecdote, opening_text
from pipeline.resources import image_type
from pipeline.tree import HEADING_TAGS, element, is_element, text_of
from pipeline.xref import BookIndex


# ---------------------------------------------------------------- structure

@dataclass
class Extracted:
    headings: list[Heading]
    takeaways: etree._Element | None
    references: etree._Element | None
    bibliography: etree._Element | None = None     # the cited works' entries (pipeline/citations.py)


def _take_list_after(opener: etree._Element) -> etree._Element | None:
    """Remove `opener`, the rule authors put before it, and the list that follows; return the list."""
    previous, parent = opener.getprevious(), opener.getparent()
    following = opener.getnext()
    if following is not None and following.get("class") == "takeaways-box":
        following = following.getnext()
    parent.remove(opener)
    if previous is not None and previous.tag == "hr":
        parent.remove(previous)
    if following is not None and following.tag in ("ul", "ol"):
        parent.remove(following)
        return following
    return None


def _takeaways_box(items: etree._Element, heading_id: str) -> etree._Element:
    box = element("section", {"class": "takeaways-box", "aria-labelledby": heading_id})
    heading = element("h2", {"class": "box-title", "id": heading_id}, TAKEAWAYS_TITLE)
    box.append(heading)
    box.append(without_ids(items))
    return box


def without_ids(node: etree._Element) -> etree._Element:
    """A copy for a second place in the book: ids stay unique where the original is."""
    clone = copy.deepcopy(node)
    for child in clone.iter():
        if is_element(child) and "id" in child.attrib:
            del child.attrib["id"]
    return clone


def structure(tree: etree._Element, section_id: str, keep_takeaways_box: bool, index: BookIndex) -> Extracted:
    """Takeaways and references out of the flow, anecdotes into asides, table headers scoped."""
    takeaways = references = None
    for node in list(tree):
        opened = opening_text(node) if is_element(node) else None
        if opened is None or node.getparent() is None:
            continue
        title = opened[0]
        if title.startswith(TAKEAWAYS_TITLE) and takeaways is None:
            following = node.getnext()
            if keep_takeaways_box and following is not None and following.tag in ("ul", "ol"):
                node.addnext(_takeaways_box(following, index.fresh(f"{section_id}-takeaways")))
            takeaways = _take_list_after(node)
        elif title.startswith(REFERENCES_TITLE) and references is None:
            references = _take_list_after(node)
    bibliography = next((n for n in tree if is_element(n) and n.get("class") == "bibliography"), None)
    if bibliography is not None:
        tree.remove(bibliography)
        bibliography = bibliography.find("ul")
    _wrap_anecdotes(tree)
    for th in tree.iter("th"):
        if th.get("scope") is None:
            th.set("scope", "col" if next(th.iterancestors("thead"), None) is not None else "row")
    return Extracted(headings_of(tree), takeaways, references, bibliography)


def headings_of(tree: etree._Element) -> list[Heading]:
    return [Heading(int(h.tag[1]), h.get("id"), heading_text(h)) for h in tree.iter(*HEADING_TAGS[1:])
            if h.get("id")]


def heading_text(heading: etree._Element) -> str:
    """A heading as the TOC and bookmarks show it: a formula as its TeX, without \\( \\) delimiters."""
    clone = copy.deepcopy(heading)
    for math in [n for n in clone.iter("span") if "math" in (n.get("class") or "").split()]:
        tex = "".join(math.itertext()).strip()
        for opening, closing in (("\\(", "\\)"), ("\\[", "\\]")):
            if tex.startswith(opening) and tex.endswith(closing):
                tex = tex[2:-2].strip()
        for child in list(math):
            math.remove(child)
        math.text = tex
    return text_of(clone)


def _wrap_anecdotes(tree: etree._Element) -> None:
    """Each 💡 轶事 heading and what follows it, up to the next heading of its level, becomes an aside."""
    for heading in [h for h in tree if is_element(h) and h.tag in ("h2", "h3") and is_anecdote(text_of(h))]:
        level = int(heading.tag[1])
        aside = element("aside", {"class": "anecdote", "aria-labelledby": heading.get("id")})
        heading.addprevious(aside)
        node = heading
        while node is not None:
            following = node.getnext()
            aside.append(node)
            node = following
            if node is None or node.tag == "hr" or (node.tag in ("h1", "h2", "h3") and int(node.tag[1]) <= level) \
                    or node.get("class") == "takeaways-box":
                break


# ---------------------------------------------------------------- figures and images

def figure_element(figure: Figure) -> etree._Element:
    classes = "diagram landscape" if figure.placement == "landscape" else "diagram"
    node = element("figure", {"class": classes, "id": figure.id})
    node.append(element("img", {"src": figure.asset.href, "alt": figure.alt, "width": f"{figure.width_px:.0f}",
                                "height": f"{figure.height_px:.0f}"}))
    caption = element("figcaption")
    caption.append(element("span", {"class": "figure-label"}, figure.label))
    if figure.caption:
        caption[-1].tail = f"　{figure.caption}"
    node.append(caption)
    return node


def attach_images(doc: Document, config, known: frozenset[str]) -> list[Asset]:
    """Local images become assets under images/; one the book cannot use (already a
    diagnostic of the check stage) becomes a visible placeholder."""
    assets = []
    for img in list(doc.tree.iter("img")):
        src = img.get("src", "")
        if src in known:
            continue            # a rendered diagram, already an asset
        found = image_source(src, doc, config.root, config.check.max_image_pixels, config.static_dir)
        if found.path is None:
            placeholder = element("span", {"class": "missing-image"}, f"［图片未载入：{src}］")
            placeholder.tail = img.tail
            img.getparent().replace(img, placeholder)
            continue
        data = found.path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:12]
        # the media type the bytes say: EPUBCheck refuses a PNG that its name calls a JPEG (OPF-029)
        media_type, suffix = image_type(found.path, data)
        href = f"images/{digest}-{found.path.stem}{suffix}"
        img.set("src", href)
        if not has_description(img):
            img.set("alt", found.path.stem)    # a draft build goes on; the check stage reported it
        assets.append(Asset(href, found.path, media_type))
    return assets


# ---------------------------------------------------------------- appendices

def reference_key(item: etree._Element) -> str:
    import re
    link = next(item.iter("a"), None)
    if link is not None and link.get("href"):
        return link.get("href").rstrip("/").lower()
    return re.sub(r"\W+", "", text_of(item)).lower()


def _appendix_group(root, group_id: str, target: Section, headings: list[Heading]) -> etree._Element:
    """A group of an appendix: a heading linking back to its chapter, and the section to fill."""
    wrapper = element("section", {"class": "appendix-group", "aria-labelledby": group_id})
    root.append(wrapper)
    heading = element("h2", {"id": group_id})
    link = element("a", {"href": f"#{target.id}"})
    # The label on a line of its own, as at the chapter's opening and in the contents: a
    # separator between the two would be read as a space between Han characters in the PDF.
    if target.label:
        link.append(element("span", {"class": "label"}, target.label))
        link.append(element("span", {"class": "title"}, target.title))
    else:
        link.text = target.title
    heading.append(link)
    wrapper.append(heading)
    headings.append(Heading(2, group_id, target.full_title))
    return wrapper


def takeaways_appendix(groups: list[tuple[Section, etree._Element]], label: str, index: BookIndex) -> Section:
    root = element("div")
    headings: list[Heading] = []
    for section, items in groups:
        wrapper = _appendix_group(root, index.fresh(f"takeaways-{section.id}"), section, headings)
        wrapper.append(without_ids(items))
    return Section(id="takeaways", kind="appendix", label=label, title="本章要点汇总", body=root, headings=headings)


def references_appendix(groups: list[tuple[Section, etree._Element | None, etree._Element | None]], label: str,
                        index: BookIndex) -> Section:
    """Each chapter's cited works (numbered as cited, GB/T 7714) and then its free-text 参考文献."""
    cited_in: dict[str, list[Section]] = {}
    for section, items, _cited in groups:
        for item in (items.iterchildren("li") if items is not None else ()):
            owners = cited_in.setdefault(reference_key(item), [])
            if section not in owners:
                owners.append(section)
    root = element("div")
    headings: list[Heading] = []
    for section, items, cited in groups:
        wrapper = _appendix_group(root, index.fresh(f"references-{section.id}"), section, headings)
        if cited is not None:
            wrapper.append(cited)      # moved: the citations in the text link to these ids
        if items is None:
            continue
        numbered = element("ol", {"class": "references"})
        wrapper.append(numbered)
        for number, item in enumerate(list(items.iterchildren("li")), 1):
            entry = item     # moved, not copied: an id an author gave a reference stays a link target
            if not entry.get("id"):
                entry.set("id", index.fresh(f"ref-{section.id}-{number}"))
            others = [s for s in cited_in[reference_key(item)] if s is not section]
            if others:
                entry.append(element("span", {"class": "also-cited"},
                                     "（另见" + "、".join(_short_name(s) for s in others) + "）"))
        for item in list(items.iterchildren("li")):
            numbered.append(item)
    return Section(id="references", kind="appendix", label=label, title=REFERENCES_TITLE, body=root,
                   headings=headings)


def _short_name(section: Section) -> str:
    return section.label if section.label else f"《{section.title}》"
