"""mdBook's includes in code blocks, as the Rust book and its translations write them:

    ```rust
    {{#rustdoc_include ../listings/ch02/listing-02-01/src/main.rs:io}}
    ```

A preprocessor (before pandoc) puts a one-line marker where each include stands, so every line
of the document keeps its number; once pandoc has read the document, `fill_includes` puts the
file's text into the code block. What is taken, as mdBook takes it:

    {{#include file}}              the whole file
    {{#include file:name}}         the lines between `ANCHOR: name` and `ANCHOR_END: name`
    {{#include file:3}} / :3:9 / ::9 / :3:    one line, or a range of lines
    {{#rustdoc_include file:name}} the same, for print: the lines mdBook would hide are left out

Lines holding ANCHOR markers are never taken. In a Rust code block, mdBook hides the lines that
start with "# " (the scaffolding of an example); the book leaves them out too.

A file is read only inside the manuscript folder, and only up to check.max_document_kb: an
include is a stranger's path like any other. An include outside a code block is not expanded
(its Markdown would shift every later line): a warning at its line says so.
"""
from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from pipeline.diagnostics import Diagnostics
from pipeline.documents import decode
from pipeline.errors import PipelineError
from pipeline.resources import confine
from pipeline.text import CODE_FENCE, fenced_lines

_INCLUDE = re.compile(r"\{\{#(?P<kind>include|rustdoc_include|playground)\s+(?P<target>[^}\s]+)[^}]*\}\}")
_ANCHOR = re.compile(r"ANCHOR(?:_END)?:\s*[\w-]+")
_BEGIN = re.compile(r"ANCHOR:\s*([\w-]+)")
_END = re.compile(r"ANCHOR_END:\s*([\w-]+)")
MARKER = "\ue010"     # a private-use character: "\ue010include-3\ue010" stands on the include's line


def expand_includes(markdown: str, document: Path, roots: list[Path], max_kb: float, diagnostics: Diagnostics,
                    first_line: int) -> tuple[str, dict[str, str]]:
    """The body with a marker for each include inside a code block, and the text of each marker."""
    if "{{#" not in markdown:
        return markdown, {}
    lines = markdown.split("\n")
    payloads: dict[str, str] = {}
    for index, line, inside in fenced_lines(lines):
        if not inside:
            if _INCLUDE.search(line) and not CODE_FENCE.match(line):
                diagnostics.add("include-outside-code", "an mdBook include outside a code block is printed as "
                                "written.", document, first_line + index,
                                "Paste the Markdown it names into the document, or put the include in a ``` block.")
            continue
        match = _INCLUDE.fullmatch(line.strip())
        if not match:
            continue
        try:
            text = included_text(match["target"], document, roots, max_kb)
        except PipelineError as problem:
            diagnostics.add("include-invalid", f"{{{{#{match['kind']} {match['target']}}}}}: {problem.what}",
                            document, first_line + index, problem.hint)
            text = ""
        key = f"{MARKER}include-{len(payloads) + 1}{MARKER}"
        payloads[key] = text
        lines[index] = key
    return "\n".join(lines), payloads


def included_text(target: str, document: Path, roots: list[Path], max_kb: float) -> str:
    """The lines `target` (path, then :anchor or :from:to) names, relative to the document."""
    path, _, selector = target.partition(":")
    verdict = confine(path, document.parent, roots)
    if not verdict:
        raise PipelineError(f"the file {verdict.reason}.",
                            hint="Include only files inside the manuscript folder, by a path relative to the document.")
    if verdict.path.stat().st_size > max_kb * 1024:
        raise PipelineError(f"the file {path} is larger than check.max_document_kb ({max_kb:g} KB).",
                            hint="Include a smaller file, or a part of it by an anchor.")
    lines = decode(verdict.path.read_bytes(), verdict.path).splitlines()
    taken = select_lines(lines, selector)
    if taken is None:
        raise PipelineError(f"the file {path} has no anchor '{selector}'.",
                            hint=f"Mark the lines with ANCHOR: {selector} and ANCHOR_END: {selector} comments.")
    return "\n".join(line for line in taken if not _ANCHOR.search(line))


def select_lines(lines: list[str], selector: str) -> list[str] | None:
    """mdBook's selection: all, a line, a range (1-based, inclusive), or an anchor (None: not there)."""
    if not selector:
        return lines
    numbers = re.fullmatch(r"(\d*)(:?)(\d*)", selector)
    if numbers:
        start = int(numbers[1]) if numbers[1] else 1
        if not numbers[2]:
            return lines[start - 1:start]
        end = int(numbers[3]) if numbers[3] else len(lines)
        return lines[start - 1:end]
    for position, line in enumerate(lines):
        if _anchor_name(_BEGIN, line) == selector:
            rest = lines[position + 1:]
            stop = next((n for n, later in enumerate(rest) if _anchor_name(_END, later) == selector), len(rest))
            return rest[:stop]
    return None


def _anchor_name(marker: re.Pattern, line: str) -> str | None:
    found = marker.search(line)
    return found[1] if found else None


def fill_includes(tree: etree._Element, payloads: dict[str, str]) -> None:
    """Put each include's text where its marker is, in the code blocks pandoc made."""
    if not payloads:
        return
    for code in tree.iter("code"):
        if code.text and MARKER in code.text:
            code.text = re.sub(f"{MARKER}include-\\d+{MARKER}", lambda m: payloads.get(m.group(0), ""), code.text)


FILE_LABEL_CLASSES = {"filename", "file-name"}


def mark_file_labels(tree: etree._Element) -> None:
    """mdBook books name a listing's file in a line of its own above the code
    (`<span class="filename">文件名：src/main.rs</span>`): that paragraph becomes the code's label,
    set as one (in the book's sans face) and kept on the page of the code (class code-label)."""
    for paragraph in list(tree.iter("p")):
        children = [child for child in paragraph if isinstance(child.tag, str)]
        if (len(children) != 1 or children[0].tag != "span" or (paragraph.text or "").strip()
                or (children[0].tail or "").strip()
                or not FILE_LABEL_CLASSES & set((children[0].get("class") or "").split())):
            continue
        following = paragraph.getnext()
        if following is not None and (following.tag == "pre" or following.find(".//pre") is not None):
            paragraph.set("class", " ".join(filter(None, [paragraph.get("class"), "code-label sans"])))


def hide_rust_scaffolding(tree: etree._Element) -> None:
    """Leave out the lines mdBook hides in Rust code ("# fn main() {"); "##" stands for "#"."""
    for pre in tree.iter("pre"):
        languages = " ".join(filter(None, [pre.get("class"), *(c.get("class") or "" for c in pre.iter("code"))]))
        if not re.search(r"(?:^|\s)(?:language-)?rust\b", languages):
            continue
        for code in pre.iter("code"):
            if code.text and len(code) == 0:
                kept = [_unescaped(line) for line in code.text.split("\n") if not _hidden(line)]
                code.text = "\n".join(kept)


def _hidden(line: str) -> bool:
    stripped = line.lstrip()
    return stripped == "#" or stripped.startswith("# ")


def _unescaped(line: str) -> str:
    stripped = line.lstrip()
    return line[: len(line) - len(stripped)] + stripped[1:] if stripped.startswith("##") else line
