"""Reading manuscript files: front matter and body, with line numbers kept for messages."""
from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from lxml import etree

from pipeline import cache
from pipeline.config import BookConfig, DocRef, NoAliasLoader
from pipeline.diagnostics import Diagnostics
from pipeline.errors import PipelineError
from pipeline.text import fenced_lines

FENCE = "---"


class _FrontMatterLoader(NoAliasLoader):
    """SafeLoader that keeps dates as text, so an impossible date is our error, with its line."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in NoAliasLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Document:
    path: Path
    kind: str                    # chapter | article
    meta: dict
    key_lines: dict[str, int]    # front-matter key -> 1-based line in the file
    body: str
    body_line: int               # file line number of the body's first line
    text: str                    # the whole file, for in-place edits
    id: str | None = None        # from book.yaml
    part_id: str | None = None
    tree: etree._Element | None = None   # the body, once parsed (pipeline.parse)
    section_id: str = ""         # the document's id in the book: ch06, zhipu, doc-<stem>

    @property
    def stem(self) -> str:
        return self.path.stem

    def line_containing(self, needle: str, occurrence: int = 1) -> int | None:
        """The body line holding the occurrence-th `needle`: where raw HTML, which pandoc gives no
        position, is (the fifth <img> of a chapter is not on the line of the first)."""
        seen = 0
        for number, line in enumerate(self.text.splitlines()[self.body_line - 1:], self.body_line):
            seen += line.count(needle)
            if seen >= occurrence:
                return number
        return None

    def source_line(self, line: int) -> str:
        """Line `line` (1-based) of the file, for messages and fence attributes."""
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


# PipelineErrors of reading a file -> their diagnostic codes
_READ_CODES = {"not UTF-8": "file-not-utf8", "no front matter": "front-matter-missing",
               "never closed": "front-matter-unclosed", "not valid YAML": "front-matter-yaml",
               "YAML does not allow": "front-matter-yaml",
               "must be a mapping": "front-matter-shape"}


def decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PipelineError(f"the file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded.",
                            file=path, line=line,
                            hint="Re-save the file as UTF-8 (e.g. iconv -f GBK -t UTF-8).") from None


NO_FRONT_MATTER_HINT = "Start it with a '---' line, the YAML metadata, and another '---' line."


def has_front_matter(text: str) -> bool:
    first = text.splitlines()[:1]
    return bool(first) and first[0].strip().lstrip("\ufeff") == FENCE


def split_front_matter(text: str, path: Path, hint: str = NO_FRONT_MATTER_HINT) -> tuple[str, str, int]:
    """Return (front matter, body, body's first line number)."""
    if not has_front_matter(text):
        raise PipelineError("the file has no front matter.", file=path, line=1, hint=hint)
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].strip() == FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1:]), index + 2
    raise PipelineError("the front matter is never closed.", file=path, line=1,
                        hint="End the metadata block with a line holding only '---'.")


_FRONT_MATTER = cache.Memo(copy.deepcopy)


def parse_front_matter(front: str, path: Path) -> tuple[dict, dict[str, int]]:
    return _FRONT_MATTER.get((front, path), lambda: _parse_front_matter(front, path))


def _parse_front_matter(front: str, path: Path) -> tuple[dict, dict[str, int]]:
    try:
        node = yaml.compose(front, Loader=_FrontMatterLoader)
        data = yaml.load(front, Loader=_FrontMatterLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark else None   # +1 for 1-based, +1 for the opening ---
        raise PipelineError(f"the front matter is not valid YAML: {exc.problem}.", file=path, line=line,
                            hint="Check the indentation, colons and quotes on that line.") from None
    except yaml.reader.ReaderError as exc:      # a control character such as NUL
        line = front[:exc.position].count("\n") + 2
        raise PipelineError(f"the front matter holds a character YAML does not allow (U+{exc.character:04X}).",
                            file=path, line=line, hint="Delete that character; it is invisible in most editors.") from None
    if data is None:
        data, node = {}, None
    if not isinstance(data, dict):
        raise PipelineError("the front matter must be a mapping of 'key: value' lines.", file=path, line=2,
                            hint="Write one 'key: value' per line between the '---' lines.")
    key_lines = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key_lines[str(key_node.value)] = key_node.start_mark.line + 2
    return data, key_lines


def read_document(ref: DocRef, kind: str, part_id: str | None = None) -> Document:
    path = ref.path
    text = decode(path.read_bytes(), path)
    meta, key_lines, body, body_line = read_metadata(text, path, headings_titled=kind == "article")
    return Document(path, kind, meta, key_lines, body, body_line, text, ref.id, part_id)


# A page of a MkDocs, mdBook or GitBook book has no front matter: its first line, a heading, is
# its title. mdBook's pages below a chapter open with "## 变量和可变性": their headings then move
# up a level each, so that the page's sections are level 2 as in every other document.
_TITLE_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)(?:[ \t]+#+)?(?:[ \t]*\{[^}]*\})?[ \t]*$")
_ATX = re.compile(r"^((?:[ \t]*>[ \t]?)*)(#{2,6})(?=[ \t]|$)")      # in a quotation too


def read_metadata(text: str, path: Path, headings_titled: bool) -> tuple[dict, dict[str, int], str, int]:
    """(metadata, key -> line, body, body's first line) of a document. With headings_titled, a
    document without front matter whose first line is `# Title` is titled so, and that heading
    leaves the body (its line stays, blank, so that lines keep their numbers): the book sets the
    title itself. Else a document without front matter is an error, as before."""
    heading = _first_heading(text) if headings_titled and not has_front_matter(text) else None
    if heading is not None:
        number, title, level = heading
        lines = text.split("\n")
        lines[number - 1] = ""
        if level > 1:
            lines = _promote_headings(lines, level - 1)
        return {"title": title}, {"title": number}, "\n".join(lines), 1
    front, body, body_line = split_front_matter(text, path, NO_FRONT_MATTER_HINT + (
        " Or, as a MkDocs page does, start it with a '# 标题' line." if headings_titled else ""))
    meta, key_lines = parse_front_matter(front, path)
    return meta, key_lines, body, body_line


def _first_heading(text: str) -> tuple[int, str, int] | None:
    """(line, title, level) of an ATX heading that is the text's first line (blank lines aside)."""
    for number, line in enumerate(text.lstrip("\ufeff").split("\n"), 1):
        if line.strip():
            match = _TITLE_HEADING.match(line)
            return (number, match["title"].strip(), len(match["hashes"])) if match else None
    return None


def _promote_headings(lines: list[str], by: int) -> list[str]:
    """ATX headings outside code, each `by` levels up (never above level 1), line for line."""
    promoted = []
    for _index, line, inside in fenced_lines(lines):
        match = None if inside else _ATX.match(line)
        if match:
            line = match[1] + "#" * max(1, len(match[2]) - by) + line[match.end():]
        promoted.append(line)
    return promoted


def read_manuscript(config: BookConfig, diagnostics: Diagnostics) -> list[Document]:
    """Every document book.yaml names; one that cannot be read is a diagnostic, and the rest go on."""
    refs = [(ref, "chapter", None) for ref in config.chapters]
    refs += [(ref, "article", part.id) for part in config.parts for ref in part.documents]
    documents = []
    limit = config.check.max_document_kb * 1024
    for ref, kind, part_id in refs:
        size = ref.path.stat().st_size
        if size > limit:
            diagnostics.add("document-too-large", f"the file is {size / 1024 / 1024:.1f} MB, more than the "
                            f"{config.check.max_document_kb:g} KB check.max_document_kb allows; it is left out.",
                            ref.path, None, "Split it into chapters, or raise check.max_document_kb in book.yaml.")
            continue
        try:
            documents.append(read_document(ref, kind, part_id))
        except PipelineError as error:
            code = next((c for phrase, c in _READ_CODES.items() if phrase in error.what), "front-matter-shape")
            diagnostics.add(code, error.what, error.file, error.line, error.hint)
    return documents


def parse_date(value) -> dt.date | None:
    """A front-matter date or date-time as a date; None when it is not a real one."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return None
