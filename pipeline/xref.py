"""Ids and cross-references: fixed on the trees before any writer runs, as Sphinx does.

Every id an author wrote survives (`{#id}` on headings, spans, divs, code and tables, and
raw `<a id>` / `<a name>`); headings without one get a generated id. Ids are unique in the
whole book: when two documents use the same id, the later one is renamed `<section>-<id>`
and a warning names both places; links inside that document follow the rename.

Links resolve to an id of the book, whatever form the author used:
  #id                 this document first, then the whole book
  file.md, file.md#id a document by its path, relative to the linking document
  /a/b/stem/#id       Hugo style (a site path): the document whose path in the manuscript
                      (without extension; a folder's _index.md or index.md is the folder)
                      ends the same way, segment by segment, as far as the shorter one goes,
                      the most segments winning: /zh-cn/docs/concepts/labels/ finds
                      content/zh-cn/docs/concepts/labels.md and a flat labels.md, and a
                      tasks/labels.md is never taken for it. Front matter `slug` stands for
                      the last segment; `url` and `aliases` are site paths of their own.
  chapter:6, chapter:6#id   a chapter by its number
A heading can also be reached by the id pandoc, GitHub or Hugo would have derived from its
text (#分析, #deepseek-v2效率的胜利), so links written for those tools keep working.
Resolved links become `#<id>`; each writer maps that id to its own file or page.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from lxml import etree

from pipeline.diagnostics import Diagnostics, display_path
from pipeline.documents import Document
from pipeline.tree import HEADING_TAGS, element, is_element, line_of, text_of, unwrap

# Ids the writers give their own pages and furniture.
WRITER_IDS = frozenset({"titlepage", "copyright", "toc", "cover", "takeaways", "references", "footnotes", "nav"})
DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_CHAPTER = re.compile(r"^chapter:(\d+)$")
_PANDOC_NOTE_ID = re.compile(r"^fn(ref)?\d+(-\d+)?$")


@dataclass
class DocumentIds:
    document: Document
    ids: dict[str, etree._Element] = field(default_factory=dict)   # final id -> element
    renamed: dict[str, str] = field(default_factory=dict)          # id as written -> final id
    aliases: dict[str, str] = field(default_factory=dict)          # derived heading ids -> final id

    @property
    def section_id(self) -> str:
        return self.document.section_id

    def lookup(self, fragment: str) -> str | None:
        for candidate in (fragment, fragment.lower(), gfm_slug(fragment)):
            for table in (self.ids, self.renamed, self.aliases):
                if candidate in table:
                    found = table[candidate]
                    return found if isinstance(found, str) else candidate
        return None


@dataclass(frozen=True)
class Resolution:
    kind: str                  # internal | external | unresolved
    id: str | None = None
    reason: str | None = None
    href: str | None = None    # an external link's new address (a site path on book.yaml's site_url)


@dataclass
class BookIndex:
    """Where every id of the book lives, and how links find it."""
    documents: list[DocumentIds]
    owner: dict[str, DocumentIds] = field(default_factory=dict)    # final id -> its document
    titles: dict[str, str] = field(default_factory=dict)           # id -> text for an empty link
    reserved: set[str] = field(default_factory=set)

    root: Path | None = None        # the manuscript folder: documents' site paths start there
    site_url: str | None = None     # where site paths no document answers to are found instead

    def __post_init__(self):
        addresses = [(d, site_paths(d.document, self.root)) for d in self.documents]
        self.site_paths = [(segments, d) for d, found in addresses for segments in found]
        # each document's own place in the manuscript, the first of its site paths: a folder link finds it
        self.by_place = {found[0]: d for d, found in reversed(addresses)}
        self.by_path = {d.document.path.resolve(): d for d in self.documents}
        self.by_name: dict[str, DocumentIds] = {}
        for d in self.documents:
            slug = d.document.meta.get("slug")
            for name in (d.document.stem, slug if isinstance(slug, str) else None, d.section_id):
                if name:
                    self.by_name.setdefault(name.lower(), d)
        self.by_section = {d.section_id.lower(): d for d in self.documents}
        self.by_number = {d.document.meta.get("chapter_number"): d for d in self.documents
                          if d.document.kind == "chapter"}

    def used(self, ident: str) -> bool:
        return ident in self.owner or ident in self.reserved

    def fresh(self, base: str, owner: DocumentIds | None = None) -> str:
        """An id no element of the book has yet, claimed for `owner`'s document."""
        ident, number = base, 2
        while self.used(ident):
            ident, number = f"{base}-{number}", number + 1
        if owner is not None:
            self.owner[ident] = owner
        else:
            self.reserved.add(ident)
        return ident

    # ------------------------------------------------------------ links

    def resolve(self, href: str, here: DocumentIds) -> Resolution:
        chapter = _CHAPTER.match(href.split("#", 1)[0])
        if not chapter and (_SCHEME.match(href) or href.startswith("//")):
            return Resolution("external")
        path, _, fragment = href.partition("#")
        path, fragment = unquote(path.split("?", 1)[0]), unquote(fragment)
        if chapter:
            target = self.by_number.get(int(chapter[1]))
            if target is None:
                return Resolution("unresolved", reason=f"the book has no chapter {chapter[1]}")
        elif path:
            target, reason, unclaimed = self._document_for(path, here)
            if target is None and unclaimed and self.site_url:
                return Resolution("external", href=self.site_url + href)
            if target is None:
                return Resolution("unresolved", reason=reason)
        else:
            target = here
        if not fragment:
            return Resolution("internal", target.section_id)
        found = target.lookup(fragment)
        if found:
            return Resolution("internal", found)
        if not path and not chapter:
            if fragment in self.owner:
                return Resolution("internal", fragment)
            elsewhere = {d.lookup(fragment) for d in self.documents if d is not here} - {None}
            if len(elsewhere) == 1:
                return Resolution("internal", elsewhere.pop())
        if path or chapter:
            where = "this document" if target is here else display_path(target.document.path)
        else:
            where = "the book"
        return Resolution("unresolved", reason=f"no element of {where} has the id '{fragment}'")

    def _by_site_path(self, path: str) -> tuple[DocumentIds | None, list[DocumentIds]]:
        """(the one document whose site path shares the most segments with path, or None; the
        documents tied for it when there are several)."""
        wanted = _segments(path)
        scores: dict[int, int] = {}
        for segments, entry in self.site_paths:
            scores[id(entry)] = max(scores.get(id(entry), 0), shared_tail(wanted, segments))
        best = max(scores.values(), default=0)
        winners = [d for d in self.documents if best and scores.get(id(d)) == best]
        return (winners[0], []) if len(winners) == 1 else (None, winners)

    def _document_for(self, path: str, here: DocumentIds) -> tuple[DocumentIds | None, str | None, bool]:
        """(the document path names, or None and why; whether it is a site path no document of
        the book claims, which site_url may point at)."""
        if path.startswith("/"):
            found, ties = self._by_site_path(path)
            if found:
                return found, None, False
            if ties:
                names = ", ".join(display_path(d.document.path) for d in ties)
                return None, f"'{path}' could be any of {names}; write more of the path", False
            wanted = _segments(path)
            found = self.by_section.get(wanted[-1]) if len(wanted) == 1 else None     # /ch02
            return (found, None, False) if found else (None, f"no document of the book is at '{path}'", True)
        candidate = (here.document.path.parent / path).resolve()
        if candidate in self.by_path:
            return self.by_path[candidate], None, False
        # a folder stands for its front page, as on GitHub and in GitBook (../05_container/): the
        # document whose place in the manuscript is that folder (_segments drops its index page)
        if self.root is not None and candidate.is_relative_to(self.root.resolve()):
            place = _segments(candidate.relative_to(self.root.resolve()).as_posix())
            if place in self.by_place:
                return self.by_place[place], None, False
        name = _without_suffix(Path(path.rstrip("/")).name)
        if Path(path.rstrip("/")).suffix.lower() in ("", *DOCUMENT_SUFFIXES) and name.lower() in self.by_name:
            return self.by_name[name.lower()], None, False
        if candidate.is_file():
            return None, f"'{path}' is a file, not a document of the book", False
        return None, f"no document of the book is at '{path}'", False


_FOLDER_PAGES = ("index", "_index", "readme")


def _segments(path: str) -> tuple[str, ...]:
    """A site path's segments, lower-cased, without a document suffix or a folder's index page."""
    parts = [unquote(part).lower() for part in path.split("/") if part and part != "."]
    if parts:
        parts[-1] = _without_suffix(parts[-1])
    if len(parts) > 1 and parts[-1] in _FOLDER_PAGES:
        parts.pop()
    return tuple(parts)


def site_paths(document: Document, root: Path | None) -> list[tuple[str, ...]]:
    """Every site path a document answers to: its place in the manuscript, with `slug` for the
    last segment, and its `url` and `aliases`."""
    try:
        relative = document.path.resolve().relative_to(root.resolve()).as_posix() if root else document.path.name
    except ValueError:
        relative = document.path.name
    own = _segments(relative)
    found = [own]
    meta = document.meta
    if isinstance(meta.get("slug"), str) and meta["slug"].strip("/"):
        found.append(own[:-1] + _segments(meta["slug"]))
    aliases = meta.get("aliases") if isinstance(meta.get("aliases"), list) else []
    for extra in [meta.get("url"), *aliases]:
        if isinstance(extra, str) and extra.strip("/"):
            found.append(_segments(extra))
    return found


def shared_tail(wanted: tuple[str, ...], segments: tuple[str, ...]) -> int:
    """How many segments two site paths share from their ends, when the shorter one is all of
    it; 0 when they part before."""
    shorter = min(len(wanted), len(segments))
    if not shorter or wanted[len(wanted) - shorter:] != segments[len(segments) - shorter:]:
        return 0
    return shorter


def _without_suffix(name: str) -> str:
    for suffix in DOCUMENT_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


# ------------------------------------------------------------------ derived heading ids

def pandoc_slug(text: str) -> str:
    """pandoc's auto_identifiers: alphanumerics, _ - . kept, spaces to -, lower case, from the first letter."""
    kept = "".join(c for c in text if c.isalnum() or c in "_-. \n").lower()
    kept = re.sub(r"\s+", "-", kept.strip())
    match = re.search(r"[^\W\d_]", kept)
    return kept[match.start():] if match else ""


def gfm_slug(text: str) -> str:
    """GitHub's (and Hugo's default) heading anchors: lower case, punctuation dropped, spaces to -."""
    kept = "".join(c for c in text.lower() if c.isalnum() or c in "-_ " or unicodedata.category(c) == "Mn")
    return kept.replace(" ", "-")


# ------------------------------------------------------------------ assigning ids

def assign_ids(documents: list[Document], part_ids: list[str], diagnostics: Diagnostics,
               root: Path | None = None, site_url: str | None = None) -> BookIndex:
    """Fix every id of every document's tree; return the index links resolve against (root: the
    manuscript folder, where documents' site paths start; site_url: where the others are)."""
    index = BookIndex([DocumentIds(d) for d in documents], root=root, site_url=site_url)
    section_ids = {d.section_id for d in documents} | set(part_ids)
    index.reserved = set(WRITER_IDS) | section_ids | {f"{s}-title" for s in section_ids}
    first_place: dict[str, tuple[Path, int | None]] = {}
    for entry in index.documents:
        doc = entry.document
        index.owner[doc.section_id] = entry
        _drop_title_heading(entry)
        _namespace_notes(entry)
        for node in list(doc.tree.iter()):
            if not is_element(node):
                continue
            if node.tag == "a" and node.get("name") and not node.get("id"):
                node.set("id", node.attrib.pop("name"))
            written = node.get("id")
            if not written:
                continue
            _place_author_id(index, entry, node, written, first_place, diagnostics)
        _generate_heading_ids(index, entry)
        _alias_the_title(entry)
    return index


def _alias_the_title(entry: DocumentIds) -> None:
    """The ids pandoc, GitHub and mdBook derive from the title name the document itself
    (ch03-01.html#变量和可变性, where the page's first heading was its title); a heading of the
    same text keeps them."""
    title = entry.document.meta.get("title")
    if isinstance(title, str):
        for derived in (gfm_slug(title), pandoc_slug(title)):
            if derived:
                entry.aliases.setdefault(derived, entry.section_id)


def _drop_title_heading(entry: DocumentIds) -> None:
    """A leading h1 repeats the document's title, which the writers set from the metadata;
    an id on it names the document itself."""
    tree = entry.document.tree
    first = next((n for n in tree if is_element(n)), None)
    if first is not None and first.tag == "h1" and not (tree.text or "").strip():
        if first.get("id"):
            entry.aliases[first.get("id")] = entry.section_id
        tree.remove(first)


def _namespace_notes(entry: DocumentIds) -> None:
    """pandoc numbers notes fn1, fn2 in every document; the book needs them apart."""
    tree, prefix = entry.document.tree, entry.section_id
    notes = [n for n in tree.iter() if is_element(n) and "footnotes" in (n.get("class") or "").split()]
    noterefs = [n for n in tree.iter("a") if {"footnote-ref", "footnote-back"} & set((n.get("class") or "").split())]
    for node in notes + [li for n in notes for li in n.iter("li")] + noterefs:
        ident = node.get("id")
        if ident and (ident == "footnotes" or _PANDOC_NOTE_ID.match(ident)):
            node.set("id", f"{prefix}-{ident}")
    for link in noterefs:
        href = link.get("href", "")
        if href.startswith("#") and _PANDOC_NOTE_ID.match(href[1:]):
            link.set("href", f"#{prefix}-{href[1:]}")
    for node in notes + noterefs + [li for n in notes for li in n.iter("li")]:
        if node.get("id"):
            index_claim = node.get("id")
            entry.ids[index_claim] = node


def _place_author_id(index: BookIndex, entry: DocumentIds, node, written: str,
                     first_place: dict, diagnostics: Diagnostics) -> None:
    if entry.ids.get(written) is node:
        index.owner[written] = entry     # a note id placed by _namespace_notes
        return
    doc = entry.document
    line = line_of(node) or doc.line_containing(written)
    ident = re.sub(r"\s+", "-", written.strip()) or "id"
    if ident in index.reserved:
        final = index.fresh(f"{entry.section_id}-{ident}", entry)
        diagnostics.add("id-reserved", f"the id '{written}' is one the book uses for its own pages; "
                        f"it becomes '{final}' here.", doc.path, line, "Choose another id.",
                        args={"id": written, "final": final})
    elif ident in entry.ids or index.owner.get(ident) is entry:
        final = index.fresh(f"{ident}-2", entry)
        first = first_place.get(ident, (doc.path, None))[1]
        diagnostics.add("id-duplicate", f"the id '{written}' is used twice in this document"
                        + (f" (first on line {first})" if first else "") + f"; the second becomes '{final}'.",
                        doc.path, line, "Give every element its own id.", args={"id": written, "final": final})
    elif ident in index.owner:
        final = index.fresh(f"{entry.section_id}-{ident}", entry)
        other_path, other_line = first_place[ident]
        where = display_path(other_path) + (f":{other_line}" if other_line else "")
        diagnostics.add("id-duplicate", f"the id '{written}' is also used in {where}; here it becomes "
                        f"'{final}', and links from other documents to #{written} go to {where}.",
                        doc.path, line, "Rename one of them, or link with the file name (file.md#id).",
                        args={"id": written, "final": final, "other": where})
    else:
        final = ident
        index.owner[final] = entry
        first_place[final] = (doc.path, line)
    node.set("id", final)
    entry.ids[final] = node
    if final != written:
        entry.renamed.setdefault(written, final)
    if node.tag in HEADING_TAGS:
        index.titles[final] = text_of(node)


def _generate_heading_ids(index: BookIndex, entry: DocumentIds) -> None:
    counters = [0] * 6
    seen: dict[str, int] = {}
    for node in entry.document.tree.iter(*HEADING_TAGS):
        level = int(node.tag[1])
        counters[level - 1] += 1
        counters[level:] = [0] * (6 - level)
        if not node.get("id"):
            numbers = "-".join(str(c) for c in counters[1:level]) or str(counters[0])
            ident = index.fresh(f"{entry.section_id}-s{numbers}", entry)
            node.set("id", ident)
            entry.ids[ident] = node
        ident, text = node.get("id"), text_of(node)
        index.titles.setdefault(ident, text)
        for slug in dict.fromkeys((pandoc_slug(text), gfm_slug(text))):
            if not slug:
                continue
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            entry.aliases.setdefault(slug if count == 0 else f"{slug}-{count}", ident)


# ------------------------------------------------------------------ rewriting links

PAGE_CLASS = "page"


def link_documents(index: BookIndex, diagnostics: Diagnostics) -> None:
    """Resolve every link of the book to `#<id>`; an unresolvable one is a diagnostic and
    becomes plain text (the build stops on it unless it is a draft)."""
    for entry in index.documents:
        doc = entry.document
        for link in list(doc.tree.iter("a")):
            href = link.get("href")
            if href is None or href == "":
                continue
            resolution = index.resolve(href, entry)
            if resolution.kind == "internal":
                link.set("href", f"#{resolution.id}")
            elif resolution.href:
                link.set("href", resolution.href)
            elif resolution.kind == "unresolved":
                diagnostics.add("link-unresolved", f"the link '{href}' leads nowhere: {resolution.reason}.",
                                doc.path, line_of(link) or doc.line_containing(href),
                                "Fix the target (an id, file.md#id, /stem#id or chapter:N), "
                                "or build with --draft to print it as plain text.", args={"href": href})
                _as_plain_text(link)


def _as_plain_text(link: etree._Element) -> None:
    if not len(link) and not (link.text or "").strip():
        link.text = link.get("href")
    span = element("span", {"class": "link-unresolved"})
    link.addprevious(span)
    span.tail, link.tail = link.tail, None    # moving an element moves its tail with it
    span.append(link)
    unwrap(link)


def fill_empty_links(trees, titles: dict[str, str]) -> None:
    """`[](#id)` takes the text of what it points at (a heading, a figure, a chapter's title);
    page references keep their text empty: the PDF prints the page, the EPUB the title."""
    for tree in trees:
        for link in tree.iter("a"):
            href = link.get("href") or ""
            if not href.startswith("#") or len(link) or (link.text or "").strip():
                continue
            title = titles.get(href[1:])
            if title is not None and PAGE_CLASS not in (link.get("class") or "").split():
                link.text = title
