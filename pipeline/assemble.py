"""The assemble stage: manuscript documents -> one Book model.

Markdown goes through pandoc once per document (cached by content); the HTML is then
given ids, anecdote asides, a takeaways box, and its references are moved into the
generated appendices. The writers only read the result.
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pypandoc
from lxml import etree

from pipeline.book import Asset, Figure, Heading, Section
from pipeline.documents import Document
from pipeline.errors import PipelineError
from pipeline.text import fragment_html, parse_fragment
from pipeline.measure import ANECDOTE_MARK, ANECDOTE_WORD, REFERENCES_TITLE, TAKEAWAYS_TITLE

# commonmark_x keeps the seed's lists that follow a line of text with no blank line (pandoc's
# `markdown` turns all 57 into paragraphs); -smart because we pair quotes ourselves, and
# east_asian_line_breaks so a line break inside Chinese text adds no space.
PANDOC_FORMAT = "commonmark_x-smart+east_asian_line_breaks"
PANDOC_ARGS = ["--sandbox", "--wrap=none", "--section-divs=false"]
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+).*?\1")


# ---------------------------------------------------------------- Markdown pre-processing

def fix_cjk_inline(markdown: str) -> str:
    """Line by line, outside code: straight double quotes -> “…” pairs, and bold that
    CommonMark cannot see next to CJK punctuation -> <strong>.

    Pandoc's smart quotes mis-pair quotes next to CJK text (29 wrong pairs in the seed);
    pairing within a line is what the seed's authors meant everywhere.
    """
    out, fence = [], None
    for line in markdown.splitlines(keepends=True):
        match = _FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            out.append(line)
            continue
        if match:
            fence = match.group(1)
            out.append(line)
            continue
        out.append(_pair_line(line))
    return "".join(out)


_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")


def _is_punctuation(char: str) -> bool:
    import unicodedata
    return bool(char) and unicodedata.category(char).startswith("P")


def _strong_needs_html(line: str, match: re.Match) -> bool:
    """CommonMark's flanking rules reject ** between a Han character and punctuation.

    `是**“开源”双轨**：` stays literal in every CommonMark reader, though the author plainly
    meant bold; Chinese text has no spaces to make the delimiter flank.
    """
    before = line[match.start() - 1] if match.start() else " "
    after = line[match.end()] if match.end() < len(line) else " "
    inner_first, inner_last = match.group(1)[0], match.group(1)[-1]
    opens = not (_is_punctuation(inner_first) and not (before.isspace() or _is_punctuation(before)))
    closes = not (_is_punctuation(inner_last) and not (after.isspace() or _is_punctuation(after)))
    return not (opens and closes)


def _fix_strong(text: str) -> str:
    return _STRONG.sub(lambda m: f"<strong>{m.group(1)}</strong>" if _strong_needs_html(text, m) else m.group(0),
                       text)


def _pair_line(line: str) -> str:
    pieces, last = [], 0
    for code in _INLINE_CODE.finditer(line):
        pieces.append((line[last:code.start()], True))
        pieces.append((code.group(0), False))
        last = code.end()
    pieces.append((line[last:], True))
    total = sum(text.count('"') for text, prose in pieces if prose)
    pairs_left, opening, result = total // 2 * 2, True, []
    for text, prose in pieces:
        if not prose:
            result.append(text)
            continue
        text = _fix_strong(text)
        if '"' not in text or re.search(r"\]\(|<[a-zA-Z][^>]*=", text):
            result.append(text)
            continue
        chars = []
        for char in text:
            if char == '"' and pairs_left:
                chars.append("“" if opening else "”")
                opening, pairs_left = not opening, pairs_left - 1
            else:
                chars.append(char)
        result.append("".join(chars))
    return "".join(result)


# ---------------------------------------------------------------- pandoc

def pandoc_to_html(markdown: str, cache_dir: Path) -> str:
    key = hashlib.sha256("\0".join([pypandoc.get_pandoc_version(), PANDOC_FORMAT, *PANDOC_ARGS, markdown])
                         .encode("utf-8")).hexdigest()
    cached = cache_dir / f"{key}.html"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    try:
        html = pypandoc.convert_text(markdown, "html5", format=PANDOC_FORMAT, extra_args=PANDOC_ARGS)
    except RuntimeError as exc:
        raise PipelineError(f"pandoc could not convert the document: {exc}",
                            hint="Check the Markdown near the place pandoc names.") from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached.write_text(html, encoding="utf-8")
    return html


# ---------------------------------------------------------------- HTML post-processing

def _text(element) -> str:
    return " ".join("".join(element.itertext()).split())


def _opening_text(element) -> str | None:
    """The title an element opens a part with: a heading's text or a paragraph's leading bold."""
    if element.tag in ("h1", "h2", "h3", "h4"):
        return _text(element)
    if element.tag == "p" and len(element) and element[0].tag == "strong" and not (element.text or "").strip():
        return _text(element[0])
    return None


def _take_list_after(opener) -> etree._Element | None:
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


def _takeaways_box(items: etree._Element, section_id: str) -> etree._Element:
    box = etree.Element("section", {"class": "takeaways-box", "aria-labelledby": f"{section_id}-takeaways"})
    heading = etree.SubElement(box, "h2", {"class": "box-title", "id": f"{section_id}-takeaways"})
    heading.text = TAKEAWAYS_TITLE
    box.append(copy.deepcopy(items))
    return box


@dataclass
class Extracted:
    html: str
    headings: list[Heading]
    takeaways: etree._Element | None
    references: etree._Element | None


def structure_html(html: str, section_id: str, keep_takeaways_box: bool) -> Extracted:
    root = parse_fragment(html)
    first = root[0] if len(root) else None
    if first is not None and first.tag == "h1":
        root.remove(first)          # the document's own title: writers render it from metadata

    takeaways = references = None
    for element in list(root):
        title = _opening_text(element)
        if title is None or element.getparent() is None:
            continue
        if title.startswith(TAKEAWAYS_TITLE) and takeaways is None:
            following = element.getnext()
            if keep_takeaways_box and following is not None and following.tag in ("ul", "ol"):
                element.addnext(_takeaways_box(following, section_id))   # in place of opener and list
            takeaways = _take_list_after(element)
        elif title.startswith(REFERENCES_TITLE) and references is None:
            references = _take_list_after(element)

    headings = _number_headings(root, section_id)
    _wrap_anecdotes(root)
    for th in root.iter("th"):
        th.set("scope", "col")
    return Extracted(fragment_html(root), headings, takeaways, references)


def _number_headings(root, section_id: str) -> list[Heading]:
    headings, counters = [], [0, 0, 0, 0, 0]
    for element in root.iter("h2", "h3", "h4", "h5", "h6"):
        level = int(element.tag[1])
        if element.get("class") == "box-title":
            headings.append(Heading(level, element.get("id"), _text(element)))
            continue
        counters[level - 2] += 1
        counters[level - 1:] = [0] * (len(counters) - level + 1)
        element.set("id", f"{section_id}-s" + "-".join(str(c) for c in counters[:level - 1]))
        headings.append(Heading(level, element.get("id"), _text(element)))
    return headings


def _wrap_anecdotes(root) -> None:
    """Each 💡 轶事 heading and what follows it, up to the next heading of its level, becomes an aside."""
    for heading in [h for h in root if h.tag in ("h2", "h3") and ANECDOTE_MARK in _text(h)
                    and ANECDOTE_WORD in _text(h)]:
        level = int(heading.tag[1])
        aside = etree.Element("aside", {"class": "anecdote", "aria-labelledby": heading.get("id")})
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

def figure_html(figure: Figure) -> str:
    from html import escape
    caption = f"<span class=\"figure-label\">{escape(figure.label)}</span>"
    if figure.caption:
        caption += f"　{escape(figure.caption)}"
    return (f'<figure class="diagram{" landscape" if figure.placement == "landscape" else ""}" id="{figure.id}">'
            f'<img src="{figure.asset.href}" alt="{escape(figure.alt, quote=True)}" '
            f'width="{figure.width_px:.0f}" height="{figure.height_px:.0f}"/>'
            f"<figcaption>{caption}</figcaption></figure>")


_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)


def resolve_images(html: str, doc: Document, root_dir: Path, draft: bool,
                   known: frozenset[str] = frozenset()) -> tuple[str, list[Asset]]:
    """Local images become assets; a remote image is an error, or a placeholder in a draft."""
    if "<img" not in html:
        return html, []
    root = parse_fragment(html)
    assets = []
    for img in list(root.iter("img")):
        src = img.get("src", "")
        if src in known:
            continue            # a rendered diagram, already an asset
        if _REMOTE.match(src) or src.startswith("data:"):
            if not draft:
                line = next((n for n, text in enumerate(doc.text.splitlines(), 1) if src in text), None)
                raise PipelineError(f"the image {src} is remote, and a build fetches nothing.",
                                    file=doc.path, line=line,
                                    hint="Download it into the manuscript folder and refer to the local file, "
                                         "or build with --draft to get a placeholder.")
            placeholder = etree.Element("span", {"class": "missing-image"})
            placeholder.text = f"［远程图片未载入：{src}］"
            img.getparent().replace(img, placeholder)
            continue
        path = (doc.path.parent / src).resolve()
        if not path.is_relative_to(root_dir) or not path.is_file():
            raise PipelineError(f"the image {src} is not a file inside the manuscript folder.", file=doc.path,
                                hint="Put the image in the manuscript folder and use a relative path.")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        href = f"images/{digest}-{path.name}"
        img.set("src", href)
        media = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
                 ".gif": "image/gif", ".webp": "image/webp"}.get(path.suffix.lower(), "application/octet-stream")
        assets.append(Asset(href, path, media))
    return fragment_html(root), assets


# ---------------------------------------------------------------- appendices

def reference_key(item: etree._Element) -> str:
    link = next(item.iter("a"), None)
    if link is not None and link.get("href"):
        return link.get("href").rstrip("/").lower()
    return re.sub(r"\W+", "", _text(item)).lower()


def _appendix_group(root, group_id: str, target: Section, headings: list[Heading]) -> etree._Element:
    """A group of an appendix: a heading linking back to its chapter, and the section to fill."""
    wrapper = etree.SubElement(root, "section", {"class": "appendix-group", "aria-labelledby": group_id})
    heading = etree.SubElement(wrapper, "h2", {"id": group_id})
    link = etree.SubElement(heading, "a", {"href": f"#{target.id}"})
    link.text = target.full_title
    headings.append(Heading(2, group_id, target.full_title))
    return wrapper


def takeaways_appendix(groups: list[tuple[Section, etree._Element]], label: str) -> Section:
    root = etree.Element("div")
    headings = []
    for section, items in groups:
        wrapper = _appendix_group(root, f"takeaways-{section.id}", section, headings)
        wrapper.append(copy.deepcopy(items))
    return Section(id="takeaways", kind="appendix", label=label, title="本章要点汇总",
                   html=fragment_html(root), headings=headings)


def references_appendix(groups: list[tuple[Section, etree._Element]], label: str) -> Section:
    cited_in: dict[str, list[Section]] = {}
    for section, items in groups:
        for item in items.iter("li"):
            owners = cited_in.setdefault(reference_key(item), [])
            if section not in owners:
                owners.append(section)
    root = etree.Element("div")
    headings = []
    for section, items in groups:
        wrapper = _appendix_group(root, f"references-{section.id}", section, headings)
        numbered = etree.SubElement(wrapper, "ol", {"class": "references"})
        for number, item in enumerate(items.iter("li"), 1):
            entry = copy.deepcopy(item)
            entry.set("id", f"ref-{section.id}-{number}")
            others = [s for s in cited_in[reference_key(item)] if s is not section]
            if others:
                note = etree.SubElement(entry, "span", {"class": "also-cited"})
                note.text = "（另见" + "、".join(_short_name(s) for s in others) + "）"
            numbered.append(entry)
    return Section(id="references", kind="appendix", label=label, title=REFERENCES_TITLE,
                   html=fragment_html(root), headings=headings)


def _short_name(section: Section) -> str:
    return section.label if section.label else f"《{section.title}》"
