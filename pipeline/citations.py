"""Citations: `[@key]`, `[@key, p. 12]`, `[@a; @b]` against the manuscript's bibliography,
numbered in the order they are first cited (GB/T 7714-2015 顺序编码制), per chapter or across
the book as book.yaml's `citations.numbering` says, the list
formatted by pandoc's citeproc in the CSL style of book.yaml's `citations.style`
(styles/gb-t-7714-2015-numeric.csl by default).

The body is read as CommonMark (pipeline/parse.py), which has no citation syntax, so the
citations are rewritten before pandoc reads it, line for line as the shortcodes are: each
becomes a superscript `[1]` / `[1-3]` / `[2]12` (the cited page outside the brackets, as the
standard writes it) linking to its entry. The chapter's entries are appended to its tree as a
`section.bibliography`, which the assemble stage moves into the references appendix beside the
chapter's free-text 参考文献 list. Code (fenced and inline) is left alone.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from lxml import etree

from pipeline import cache
from pipeline.diagnostics import Diagnostics
from pipeline.errors import PipelineError
from pipeline.tree import to_html

STYLES = Path(__file__).resolve().parent.parent / "styles"
CITATION = re.compile(r"\[(@[^\[\]\n]+)\]")
ONE_CITE = re.compile(r"^\s*@([A-Za-z0-9_][\w:.#$%&+?<>~/-]*)\s*(?:,\s*(.+?))?\s*$")
FENCE = re.compile(r"^\s*(```+|~~~+)")
LOCATOR_PREFIX = re.compile(r"^(?:pp?\.|页|第)\s*")


@dataclass
class Cited:
    """A document's citations: keys in the order first cited (their numbers are 1, 2, ...)."""
    keys: list[str] = field(default_factory=list)

    def number(self, key: str) -> int:
        if key not in self.keys:
            self.keys.append(key)
        return self.keys.index(key) + 1


def load_bibliography(path: Path) -> dict[str, dict]:
    """key -> CSL item, from CSL-JSON, CSL-YAML or BibTeX (read by pandoc)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".json",):
            data = json.loads(path.read_text(encoding="utf-8"))
        elif suffix in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            data = data.get("references", []) if isinstance(data, dict) else data
        elif suffix in (".bib", ".bibtex"):
            import pypandoc
            data = json.loads(pypandoc.convert_file(str(path), "csljson", format="bibtex",
                                                    extra_args=["--sandbox"]))
        else:
            raise PipelineError(f"the bibliography {path.name} is not CSL-JSON, CSL-YAML or BibTeX.", file=path,
                                hint="Use a .json, .yaml or .bib file.")
    except (OSError, ValueError, RuntimeError) as exc:
        raise PipelineError(f"the bibliography cannot be read: {exc}", file=path,
                            hint="Check it with a reference manager, or export it again.") from None
    if not isinstance(data, list):
        raise PipelineError("the bibliography holds no list of references.", file=path,
                            hint="CSL-YAML starts with 'references:' and one '- id: key' per entry.")
    return {str(item["id"]): item for item in data if isinstance(item, dict) and "id" in item}


def expand(body: str, first_line: int, section_id: str, known: set[str], path: Path,
           diagnostics: Diagnostics, cited: Cited | None = None) -> tuple[str, Cited]:
    """The body with its citations as superscript numbers, and the keys it cites. A `cited`
    shared by every document numbers across the book (its ids then use section_id "book")."""
    cited = cited if cited is not None else Cited()
    lines = body.split("\n")
    fence = None
    for index, line in enumerate(lines):
        opened = FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        if "[@" not in line:
            continue
        # inline code stays as it is: only the parts between code spans are rewritten
        parts = re.split(r"(`+[^`]*`+)", line)
        for number, part in enumerate(parts):
            if number % 2 == 0 and "[@" in part:
                parts[number] = CITATION.sub(
                    lambda m: _citation(m.group(1), section_id, cited, known, path, first_line + index,
                                        diagnostics) or m.group(0), part)
        lines[index] = "".join(parts)
    return "\n".join(lines), cited


def _citation(inner: str, section_id: str, cited: Cited, known: set[str], path: Path, line: int,
              diagnostics: Diagnostics) -> str | None:
    cites = [ONE_CITE.match(part) for part in inner.split(";")]
    if not all(cites):
        return None                     # not a citation (e.g. an e-mail address in brackets)
    numbers, locator = [], ""
    for match in cites:
        key = match.group(1)
        if key not in known:
            diagnostics.add("citation-unknown", f"[@{key}] cites a key the bibliography does not have.", path, line,
                            "Add the entry to the bibliography, or fix the key's spelling.", args={"key": key})
            numbers.append(None)
            continue
        numbers.append(cited.number(key))
        if match.group(2) and len(cites) == 1:
            locator = LOCATOR_PREFIX.sub("", match.group(2)).strip()
    shown = _numbers_text([n for n in numbers if n is not None]) or "?"
    first = next((n for n in numbers if n is not None), None)
    target = f' href="#{entry_id(section_id, first)}"' if first else ""
    keys = " ".join(m.group(1) for m in cites)
    return (f'<sup class="citation" data-cites="{escape(keys)}"><a{target}>[{shown}]</a>'
            f'{escape(locator)}</sup>')


def _numbers_text(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3,5" (GB/T 7714: three or more consecutive numbers as a range)."""
    from pipeline.text import number_ranges
    return ",".join(f"{first}-{last}" if last - first >= 2 else ",".join(map(str, range(first, last + 1)))
                    for first, last in number_ranges(numbers))


def entry_id(section_id: str, number: int) -> str:
    return f"ref-{section_id}-{number}"


def style_path(name: str, manuscript: Path) -> Path:
    """A style named in book.yaml: a .csl file inside the manuscript folder, else styles/<name>.csl.
    Nothing outside those two folders is read (a name with ../ resolves to a path that does not exist)."""
    nowhere = STYLES / "no-such-style.csl"
    own = (manuscript / name).resolve()
    if own.suffix == ".csl" and own.is_file():
        return own if manuscript.resolve() in own.parents else nowhere
    bundled = (STYLES / (name if name.endswith(".csl") else f"{name}.csl")).resolve()
    return bundled if bundled.parent == STYLES.resolve() else nowhere


def cite_documents(documents, bodies: list[tuple[str, int]], settings, root: Path, cache_dir: Path,
                   diagnostics: Diagnostics) -> tuple[list[tuple[str, int]], list[etree._Element | None]]:
    """Every document's body with its citations rewritten, and the list of the works it cites (or
    cites first, numbering across the book) as a `section.bibliography` for its tree."""
    if not settings.bibliography:
        return bodies, [None] * len(bodies)
    bibliography, style = root / settings.bibliography, style_path(settings.style, root)
    try:
        known = set(load_bibliography(bibliography))
    except PipelineError as exc:
        diagnostics.add("citation-bibliography", exc.what, exc.file, exc.line, exc.hint)
        known = set()
    book_wide = settings.numbering == "book"
    shared = Cited() if book_wide else None
    expanded, cited = [], []
    for doc, (body, line) in zip(documents, bodies):
        first = len(shared.keys) + 1 if shared else 1
        text, keys = expand(body, line, "book" if book_wide else doc.section_id, known, doc.path, diagnostics,
                            shared)
        expanded.append((text, line))
        cited.append((keys, range(first, len(keys.keys) + 1)))
    # book-wide numbering formats the whole book's list once; a chapter's numbering, each chapter's
    entries = format_entries(shared.keys, bibliography, style, cache_dir) if shared and shared.keys else []
    sections = [bibliography_section("book" if book_wide else doc.section_id, numbers,
                                     entries or format_entries(keys.keys, bibliography, style, cache_dir))
                if numbers else None
                for doc, (keys, numbers) in zip(documents, cited)]
    return expanded, sections


def bibliography_section(section_id: str, numbers: range, entries: list[str]) -> etree._Element:
    """The works numbered `numbers` (their entries, formatted by citeproc, are entries[n - 1]),
    each an <li> with its id."""
    from pipeline.tree import element, parse_html
    holder = element("section", {"class": "bibliography"})
    listing = element("ul", {"class": "bibliography-entries"})
    holder.append(listing)
    for number in numbers:
        item = parse_html(f"<li>{entries[number - 1]}</li>")[0]
        item.set("id", entry_id(section_id, number))
        listing.append(item)
    return holder


def format_entries(keys: list[str], bibliography: Path, style: Path, cache_dir: Path) -> list[str]:
    """Each key's entry as HTML ("[1] 作者. 题名[M]. …"), in the order given, by pandoc's citeproc;
    cached by the keys, the bibliography and the style."""
    import pypandoc
    digest = hashlib.sha256("\0".join([*keys, bibliography.read_text(encoding="utf-8"),
                                       style.read_text(encoding="utf-8"), pypandoc.get_pandoc_version()]).encode())
    entry = Path(cache_dir) / "citations" / f"{digest.hexdigest()[:24]}.json"
    stored = cache.read_entry(entry)
    if stored is not None:
        return json.loads(stored.decode("utf-8"))
    source = " ".join(f"[@{key}]" for key in keys)
    html = pypandoc.convert_text(source, "html5", format="markdown",
                                 extra_args=["--sandbox", "--wrap=none", "--citeproc",
                                             f"--bibliography={bibliography}", f"--csl={style}"])
    root = etree.HTML(f"<body>{html}</body>")
    entries = []
    for div in root.iter("div"):
        if "csl-entry" in (div.get("class") or "").split():
            label = next((d for d in div.iter("div") if "csl-left-margin" in (d.get("class") or "")), None)
            body = next((d for d in div.iter("div") if "csl-right-inline" in (d.get("class") or "")), None)
            text = (to_html(label) + " " if label is not None else "") + to_html(body if body is not None else div)
            entries.append(text.strip())
    cache.write_entry(entry, json.dumps(entries, ensure_ascii=False).encode("utf-8"))
    return entries

