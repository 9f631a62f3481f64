"""The book's index (索引): occurrences of the registry's entries found in the text, and the
appendix that lists them.

The assemble stage marks every occurrence in the sections' trees with an anchor (a span with
an id), so each writer can link to it: the EPUB lists the sections and links each occurrence,
the PDF prints the pages (merged into ranges) once the layout knows them. Where the text is
searched: prose, tables, lists and captions; not code, links' targets, headings or notes,
unless book.yaml's `index:` says so (in_headings, in_notes).

Authors steer it with bracketed spans: `[深度求索]{.idx key=deepseek}` marks an occurrence the
spellings do not catch, `[Meta]{.noidx}` keeps a word out (the word that is not the company).

Sorting is the Chinese index order: by pinyin, syllable by syllable and then by tone
(pypinyin reads words, so 重庆 is chong and 长安 chang; an entry's `pinyin:` overrides it),
grouped under A–Z; Latin terms sort among them by their letters; numbers come first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from lxml import etree

from pipeline.book import Section
from pipeline.diagnostics import Diagnostics
from pipeline.registry import Entry, Registry
from pipeline.text import number_ranges as page_ranges
from pipeline.tree import CODE_TAGS, HEADING_TAGS, classes, element, is_element, line_of, replace_slot, text_of, text_slots, visible_strings

MARK_CLASS = "ix"           # an occurrence found or marked: <span class="ix" id="ix-…">
EXPLICIT_CLASS = "idx"      # an author's mark
EXCLUDED_CLASS = "noidx"    # an author's exclusion
INDEX_ID = "book-index"
RANGE_DASH = "–"


@dataclass
class Occurrence:
    section_id: str
    anchor: str


@dataclass
class Term:
    slug: str
    text: str
    sort_key: tuple
    occurrences: list[Occurrence] = field(default_factory=list)
    subs: list["Term"] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return bool(self.occurrences) or any(sub.occurrences for sub in self.subs)


@dataclass
class SubjectIndex:
    terms: list[Term]                               # sorted, with or without occurrences

    def used_terms(self) -> list[Term]:
        return [term for term in self.terms if term.used]


def sort_key(text: str, pinyin: str | None = None) -> tuple:
    """(letters, tones, text): 重庆 ("chong qing", (2, 4)); DeepSeek ("deepseek", (0,))."""
    syllables = pinyin.split() if pinyin else _syllables(text)
    letters, tones = [], []
    for syllable in syllables:
        match = re.fullmatch(r"([a-zü]+)([1-5])", syllable)
        if match:
            letters.append(match.group(1))
            tones.append(int(match.group(2)))
        else:
            letters.append(re.sub(r"[^0-9a-z]+", "", syllable.lower()) or syllable.lower())
            tones.append(0)
    return " ".join(letters), tuple(tones), text


@lru_cache(maxsize=4096)
def _syllables(text: str) -> tuple[str, ...]:
    from pypinyin import Style, lazy_pinyin
    return tuple(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))


def group_letter(key: tuple) -> str:
    first = key[0][:1].upper()
    return first if "A" <= first <= "Z" else "0–9" if first.isdigit() else "#"


# ---------------------------------------------------------------- marking occurrences

def mark_occurrences(sections: list[Section], registry: Registry, ids, *,
                     in_headings: bool = False, in_notes: bool = False) -> SubjectIndex:
    """Mark every occurrence of an index entry in the sections' trees; return the index."""
    terms, by_slug = _terms(registry)
    spellings = _spellings(registry)
    pattern = _pattern(spellings)
    counts: dict[str, int] = {}

    def fresh(slug: str) -> str:
        # counted here: ids.fresh tries -2, -3, ... from the start each time (quadratic over 300 uses)
        base = f"ix-{_ascii(slug)}"
        number = counts.get(base, 0) + 1
        ident = base if number == 1 else f"{base}-{number}"
        while ids.used(ident):
            number += 1
            ident = f"{base}-{number}"
        counts[base] = number
        return ids.fresh(ident)

    for section in sections:
        def mark(span: etree._Element, slug: str) -> None:
            anchor = fresh(slug)
            span.set("id", anchor)
            by_slug[slug].occurrences.append(Occurrence(section.id, anchor))

        for span in [s for s in section.body.iter("span") if EXPLICIT_CLASS in classes(s)]:
            slug = span.get("data-key") or spellings.get(text_of(span))
            if slug not in by_slug:
                continue            # reported by the check stage (check_mentions)
            span.set("class", f"{span.get('class')} {MARK_CLASS}")
            mark(span, slug)
        if pattern is None:
            continue
        for block in _searched_blocks(section.body, in_headings, in_notes):
            for node, slot in list(text_slots(block)):
                text = getattr(node, slot)
                if not text or not pattern.search(text) \
                        or _inside_excluded(node if slot == "text" else node.getparent()):
                    continue
                pieces: list = []
                position = 0
                for match in pattern.finditer(text):
                    pieces.append(text[position:match.start()])
                    span = element("span", {"class": MARK_CLASS}, match.group(0))
                    mark(span, spellings[match.group(0)])
                    pieces.append(span)
                    position = match.end()
                pieces.append(text[position:])
                replace_slot(node, slot, pieces)
    return SubjectIndex(terms)


def mentions(root: etree._Element, spellings: dict[str, str], compiled: re.Pattern | None,
             in_headings: bool = False) -> set[str]:
    """The slugs (top-level) a tree mentions: its marks and its text outside code (and headings,
    unless in_headings); a note's mention counts. The tree stays as it is."""
    found = {spellings.get(text_of(s)) or s.get("data-key") for s in root.iter("span") if EXPLICIT_CLASS in classes(s)}
    if compiled is not None:
        skip = CODE_TAGS if in_headings else CODE_TAGS | frozenset(HEADING_TAGS)
        text = "\n".join(visible_strings(root, skip, frozenset({EXCLUDED_CLASS})))
        found.update(spellings[match] for match in compiled.findall(text))
    return {slug.split("/")[0] for slug in found if slug}


def check_mentions(documents, registry: Registry, settings, diagnostics: Diagnostics) -> None:
    """Warn on a front-matter slug whose entry the text never mentions, and on an index entry no
    document lists or mentions."""
    from pipeline.registry import REGISTRY_FILES
    listed: set[str] = set()
    indexed = {entry.slug for entry in registry.index_entries if entry.term is not None}
    everywhere: set[str] = set()
    known = _spellings(registry)
    compiled = _pattern(known)
    slugs = {entry.slug for entry in registry.index_entries} | {sub.slug for e in registry.index_entries for sub in e.sub}
    for doc in documents:
        for span in (s for s in doc.tree.iter("span") if EXPLICIT_CLASS in classes(s)):
            wanted = span.get("data-key") or text_of(span)
            if (span.get("data-key") or known.get(wanted)) not in slugs:
                diagnostics.add("index-key-unknown", f"the index mark names '{wanted}', which the registry does not have.",
                                doc.path, line_of(span),
                                "Use a slug of manuscript/data/*.yaml ([text]{.idx key=slug}), or add the entry there.",
                                args={"key": wanted})
        found = mentions(doc.tree, known, compiled, settings.in_headings)
        everywhere |= found
        for key in REGISTRY_FILES:
            values = doc.meta.get(key)
            for slug in values if isinstance(values, list) else []:
                if not isinstance(slug, str):
                    continue
                listed.add(slug)
                if slug in indexed and slug not in found:
                    entry = registry.entry(slug)
                    diagnostics.add("index-slug-unmentioned",
                                    f"'{slug}' in {key} is never mentioned in the text "
                                    f"(looked for: {', '.join(entry.spellings)}).", doc.path, doc.key_lines.get(key),
                                    f"Add the spelling the text uses to its 'aliases' in {REGISTRY_FILES[key]}, "
                                    "or mark the place with [text]{.idx key=" + slug + "}.",
                                    args={"slug": slug, "key": key, "spellings": ", ".join(entry.spellings)})
    for entry in registry.index_entries:
        if entry.term is not None and entry.slug not in listed and entry.slug not in everywhere:
            diagnostics.add("index-entry-unused", f"the registry entry '{entry.slug}' is in no document's front "
                            "matter and never mentioned.", entry.source, entry.line,
                            "Remove it, or mention it where it belongs.")


def _terms(registry: Registry) -> tuple[list[Term], dict[str, Term]]:
    terms, by_slug = [], {}
    for entry in registry.index_entries:
        if entry.term is None:
            continue
        term = _term(entry)
        term.subs = [_term(sub) for sub in entry.sub if sub.term is not None]
        term.subs.sort(key=lambda t: t.sort_key)
        terms.append(term)
        by_slug[term.slug] = term
        by_slug.update((sub.slug, sub) for sub in term.subs)
    terms.sort(key=lambda t: t.sort_key)
    return terms, by_slug


def _term(entry: Entry) -> Term:
    return Term(entry.slug, entry.term or entry.name, sort_key(entry.term or entry.name, entry.pinyin))


def _spellings(registry: Registry) -> dict[str, str]:
    """spelling -> slug; the first entry to claim a spelling keeps it."""
    found: dict[str, str] = {}
    for entry in registry.index_entries:
        for item in (entry, *entry.sub):
            if item.term is None or (item is not entry and entry.term is None):
                continue
            for spelling in item.spellings:
                found.setdefault(spelling, item.slug)
    return found


def _pattern(spellings: dict[str, str]) -> re.Pattern | None:
    """One alternation, longest spelling first; a Latin spelling only as a whole word
    (Meta, not Metadata; GPT-4, not GPT-4o)."""
    if not spellings:
        return None
    parts = []
    for spelling in sorted(spellings, key=lambda s: (-len(s), s)):
        escaped = re.escape(spelling)
        if re.match(r"[A-Za-z0-9]", spelling):
            escaped = r"(?<![A-Za-z0-9])" + escaped
        if re.search(r"[A-Za-z0-9]$", spelling):
            escaped += r"(?![A-Za-z0-9]|\.\d)"      # Claude 3, not Claude 3.5
        parts.append(escaped)
    # The first-character class lets the engine skip most positions at once: 16 times faster over
    # the bench book than the bare alternation, which it tries spelling by spelling everywhere.
    firsts = "".join(sorted({spelling[0] for spelling in spellings}))
    return re.compile(f"(?=[{re.escape(firsts)}])(?:{'|'.join(parts)})")


def _searched_blocks(root: etree._Element, in_headings: bool, in_notes: bool):
    from pipeline.tree import prose_blocks
    # (lxml hands out one proxy per node while a reference to it lives: the list keeps them)
    notes = [] if in_notes else [box for box in root.iter() if "footnotes" in classes(box)]
    for block in list(prose_blocks(root)):
        if block.tag in HEADING_TAGS and not in_headings:
            continue
        if notes and any(a in notes for a in (block, *block.iterancestors())):
            continue
        yield block


def _inside_excluded(node: etree._Element | None) -> bool:
    """In code, in a note call, or inside an author's mark or exclusion (or a found one)."""
    while node is not None and is_element(node):
        if node.tag in CODE_TAGS or node.tag == "sup":
            return True
        if classes(node) & {MARK_CLASS, EXPLICIT_CLASS, EXCLUDED_CLASS, "math", "footnote-ref"}:
            return True
        node = node.getparent()
    return False


def _ascii(slug: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", slug).strip("-") or "entry"


# ---------------------------------------------------------------- the appendix

def index_appendix(index: SubjectIndex, sections: list[Section], label: str) -> Section | None:
    """The index as a section: groups A–Z, each term with its locators by section. The EPUB links
    every occurrence; the PDF writer turns the locators into pages (pipeline/pdf.py)."""
    used = index.used_terms()
    if not used:
        return None
    names = {s.id: (s.label or f"《{s.title}》") for s in sections}
    root = element("div")
    wrapper = element("section", {"class": "book-index", "role": "doc-index"})
    root.append(wrapper)
    groups: dict[str, list[Term]] = {}
    for term in used:
        groups.setdefault(group_letter(term.sort_key), []).append(term)
    order = sorted(groups, key=lambda g: (g != "0–9", g == "#", g))
    for letter in order:
        group = element("section", {"class": "index-group"})
        group.append(element("h2", {"class": "index-letter"}, letter))
        entries = element("ul", {"class": "index-entries"})
        for term in groups[letter]:
            entries.append(_entry_item(term, names))
        group.append(entries)
        wrapper.append(group)
    return Section(id=INDEX_ID, kind="appendix", label=label, title="索引", body=root)


def _entry_item(term: Term, names: dict[str, str]) -> etree._Element:
    item = element("li", {"class": "index-entry"})
    item.append(element("span", {"class": "index-term"}, term.text))
    if term.occurrences:
        item.append(locators(term.occurrences, names))
    if any(sub.used for sub in term.subs):
        subs = element("ul", {"class": "index-entries"})
        for sub in term.subs:
            if sub.used:
                subs.append(_entry_item(sub, names))
        item.append(subs)
    return item


def locators(occurrences: list[Occurrence], names: dict[str, str]) -> etree._Element:
    """"第1章（1, 2）；第3章": the section once, its occurrences numbered, each a link."""
    holder = element("span", {"class": "index-locators"})
    by_section: dict[str, list[Occurrence]] = {}
    for occurrence in occurrences:
        by_section.setdefault(occurrence.section_id, []).append(occurrence)
    holder.text = "　"
    for number, (section_id, found) in enumerate(by_section.items()):
        if number:
            holder[-1].tail = (holder[-1].tail or "") + "；"
        first = element("a", {"class": "index-locator", "href": f"#{found[0].anchor}"}, names.get(section_id, section_id))
        holder.append(first)
        if len(found) > 1:
            first.tail = "（"
            for count, occurrence in enumerate(found, 1):
                link = element("a", {"class": "index-locator", "href": f"#{occurrence.anchor}"}, str(count))
                link.tail = ", " if count < len(found) else "）"
                holder.append(link)
    return holder


def index_anchors(section: Section) -> set[str]:
    """The occurrences an index section links (the pages it prints)."""
    return {a.get("href")[1:] for a in section.body.iter("a") if (a.get("href") or "").startswith("#")}


# ---------------------------------------------------------------- the writers' forms

INDEX_PAGE_CLASS = "index-page"     # a page number of the printed index (a page reference)
EPUB_TYPES = {"book-index": "index", "index-group": "index-group", "index-entries": "index-entry-list",
              "index-entry": "index-entry", "index-term": "index-term", "index-locator": "index-locator"}


def _register_transforms() -> None:
    from pipeline.transforms import transform

    @transform("epub", order=15)
    def epub_index(root, context) -> None:
        """EPUB Indexes 1.0 semantics on the index's structure."""
        if context.section.id != INDEX_ID:
            return
        for node in root.iter():
            for name in classes(node):
                if name in EPUB_TYPES:
                    node.set("epub:type", EPUB_TYPES[name])

    @transform("pdf", order=35)
    def printed_index(root, context) -> None:
        """Each term's locators become its pages, merged into ranges (12–14), each a link to its
        first occurrence there. With no pages known (a first layout), every occurrence asks the
        layout for its page (target-counter): the numbers are right, not yet merged."""
        if context.section.id != INDEX_ID:
            return
        for holder in [n for n in root.iter("span") if "index-locators" in classes(n)]:
            anchors = list(dict.fromkeys(a.get("href")[1:] for a in holder.iter("a")))
            for child in list(holder):
                holder.remove(child)
            holder.text = "　"
            if context.pages is None:
                links = [element("a", {"class": INDEX_PAGE_CLASS, "href": f"#{a}"}) for a in anchors]
            else:
                first_on: dict[int, str] = {}
                for anchor in anchors:
                    page = context.pages.get(anchor)
                    if isinstance(page, int):
                        first_on.setdefault(page, anchor)
                links = []
                for start, stop in page_ranges(list(first_on)):
                    text = str(start) if start == stop else f"{start}{RANGE_DASH}{stop}"
                    links.append(element("a", {"class": f"{INDEX_PAGE_CLASS} literal", "href": f"#{first_on[start]}"},
                                         text))
                if not links:
                    links = [element("a", {"class": f"{INDEX_PAGE_CLASS} literal", "href": f"#{anchors[0]}"}, "?")]
            for number, link in enumerate(links):
                link.tail = ", " if number + 1 < len(links) else None
                holder.append(link)


_register_transforms()
