"""Reading manuscript files: front matter and body, with line numbers kept for messages."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.config import BookConfig, DocRef
from pipeline.errors import PipelineError

FENCE = "---"


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text, so an impossible date is our error, with its line."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
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
    warnings: list = field(default_factory=list)


def decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PipelineError(f"the file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded.",
                            file=path, line=line,
                            hint="Re-save the file as UTF-8 (e.g. iconv -f GBK -t UTF-8).") from None


def split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """Return (front matter, body, body's first line number)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip().lstrip("\ufeff") != FENCE:
        raise PipelineError("the file has no front matter.", file=path, line=1,
                            hint="Start it with a '---' line, the YAML metadata, and another '---' line.")
    for index in range(1, len(lines)):
        if lines[index].strip() == FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1:]), index + 2
    raise PipelineError("the front matter is never closed.", file=path, line=1,
                        hint="End the metadata block with a line holding only '---'.")


def parse_front_matter(front: str, path: Path) -> tuple[dict, dict[str, int]]:
    try:
        node = yaml.compose(front, Loader=_FrontMatterLoader)
        data = yaml.load(front, Loader=_FrontMatterLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark else None   # +1 for 1-based, +1 for the opening ---
        raise PipelineError(f"the front matter is not valid YAML: {exc.problem}.", file=path, line=line,
                            hint="Check the indentation, colons and quotes on that line.") from None
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
    front, body, body_line = split_front_matter(text, path)
    meta, key_lines = parse_front_matter(front, path)
    return Document(path, kind, meta, key_lines, body, body_line, text, ref.id, part_id)


def read_manuscript(config: BookConfig) -> list[Document]:
    documents = [read_document(ref, "chapter") for ref in config.chapters]
    for part in config.parts:
        documents += [read_document(ref, "article", part.id) for ref in part.documents]
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
