"""The glossary (术语表): the registry's technical concepts the book mentions, each with its English
name, a short definition and the chapter that first uses it.

Each chapter's first use of a term links to its glossary entry; the entry links back to the
first use in the book (the EPUB names the chapter, the PDF adds the page: 第1章（第 12 页）).
Terms come from concepts.yaml (`en:` and `definition:` beside name and aliases); the text is
searched as for the index (pipeline/subject_index.py), whose anchors the links use.
"""
from __future__ import annotations


from pipeline.book import Section
from pipeline.registry import Registry
from pipeline.subject_index import SubjectIndex
from pipeline.tree import element
from pipeline.typeset import BLANK_RIGHT
from pipeline.xref import PAGE_CLASS

GLOSSARY_ID = "glossary"
CONCEPTS_FILE = "concepts.yaml"


def glossary_appendix(index: SubjectIndex, registry: Registry, sections: list[Section], label: str) -> Section | None:
    """The glossary section, and each chapter's first use of a term linked to it (in place)."""
    concepts = [e for e in registry.index_entries if e.source is not None and e.source.name == CONCEPTS_FILE]
    by_slug = {term.slug: term for term in index.terms}
    names = {s.id: (s.label or f"《{s.title}》") for s in sections}
    order = {s.id: n for n, s in enumerate(sections)}
    used = [(entry, by_slug[entry.slug]) for entry in concepts
            if entry.slug in by_slug and by_slug[entry.slug].occurrences]
    if not used:
        return None
    anchors = {section.id: {s.get("id"): s for s in section.body.iter("span") if s.get("id")} for section in sections}
    root = element("div")
    terms = element("dl", {"class": "glossary"})
    root.append(terms)
    for entry, term in sorted(used, key=lambda item: item[1].sort_key):
        ident = f"gl-{term.slug}"
        first = min(term.occurrences, key=lambda o: order.get(o.section_id, len(order)))
        head = element("dt", {"id": ident}, entry.term or entry.name)
        if entry.en:
            head.append(element("span", {"class": "glossary-en"}, entry.en))
        terms.append(head)
        body = element("dd")
        if entry.definition:
            body.append(element("span", {"class": "glossary-definition"}, entry.definition))
        # after a full-width mark its blank half is the gap: a margin on top of it would read as a
        # space in the PDF's text layer ("的信息。 首见于")
        after_mark = bool(entry.definition) and entry.definition.rstrip()[-1:] in BLANK_RIGHT
        used_in = element("span", {"class": "glossary-first after-mark" if after_mark else "glossary-first"}, "首见于")
        used_in.append(element("a", {"class": PAGE_CLASS, "href": f"#{first.anchor}"}, names.get(first.section_id, "")))
        body.append(used_in)
        terms.append(body)
        # each chapter's first use links here
        seen: set[str] = set()
        for occurrence in term.occurrences:
            if occurrence.section_id in seen:
                continue
            seen.add(occurrence.section_id)
            span = anchors.get(occurrence.section_id, {}).get(occurrence.anchor)
            if span is not None and next(span.iterancestors("a"), None) is None:
                link = element("a", {"class": "glossary-term", "href": f"#{ident}"})
                link.text, span.text = span.text, None
                for child in list(span):
                    link.append(child)
                span.append(link)
    return Section(id=GLOSSARY_ID, kind="appendix", label=label, title="术语表", body=root)
