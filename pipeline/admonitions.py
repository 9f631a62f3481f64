"""MkDocs admonitions and content tabs, as an author of a MkDocs site expects them in a book.

Python-Markdown's admonitions (and pymdownx's collapsible ones and tabs) mark a box by a line
and indent its content four spaces:

    !!! tip "二分查找的前提"            ??? question "为什么？"          === "Python"

        数组必须有序。                      因为……                         ```python …```

pandoc reads that content as a code block. A preprocessor (like pipeline/shortcodes.py, which
then makes the boxes of the tree) rewrites each into a fenced div on the same lines, content
dedented, so every later message keeps its line:

    ::: {.sc-callout data-type="tip" data-title="二分查找的前提"}
    数组必须有序。
    :::

The closing fence takes the blank line after the content (a line is added only at the end of
a box with no blank line after it). A collapsible box is set open; a tab becomes a box titled
with its label, one after another, as a printed page shows them. Boxes nest; code fences are
left alone.
"""
from __future__ import annotations

import re

from pipeline.shortcodes import callout_fence

# `!!! kind "title"`, `??? kind`, `???+ kind "title"`; a tab `=== "label"` (its label required: a
# line of === alone underlines a heading)
_OPENING = re.compile(r"^ {0,3}(?:(?:!!!|\?\?\?\+?)[ \t]+(?P<kind>[\w-]+)(?:[ \t]+\"(?P<title>[^\"]*)\")?"
                      r"|(?P<tab>===\+?)[ \t]+\"(?P<label>[^\"]*)\")[ \t]*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
INDENT = "    "


def expand(markdown: str) -> str:
    """The body with every admonition and tab rewritten as a fenced div, line for line."""
    if "!!!" not in markdown and "???" not in markdown and "===" not in markdown:
        return markdown
    return "\n".join(_expand(markdown.split("\n")))


def _expand(lines: list[str]) -> list[str]:
    out: list[str] = []
    fence = None
    index = 0
    while index < len(lines):
        line = lines[index]
        opening = _FENCE.match(line)
        if fence:
            if opening and opening[1][0] == fence[0] and len(opening[1]) >= len(fence):
                fence = None
            out.append(line)
            index += 1
            continue
        if opening:
            fence = opening[1]
            out.append(line)
            index += 1
            continue
        head = _OPENING.match(line)
        if head is None:
            out.append(line)
            index += 1
            continue
        end = index + 1                     # the content: indented lines, and blank lines between them
        while end < len(lines) and (lines[end].startswith(INDENT) or lines[end].startswith("\t")
                                    or (not lines[end].strip() and _more_content(lines, end))):
            end += 1
        body = [_dedent(text) for text in lines[index + 1:end]]
        fence_line = (callout_fence("example", head["label"]) if head["tab"]
                      else callout_fence(head["kind"].lower(), head["title"] or ""))
        out.append(fence_line)
        out += _expand(body)
        if end < len(lines) and not lines[end].strip():
            out.append(":::")               # on the blank line after the content
            index = end + 1
        else:
            out.append(":::")               # no blank line after it: one line more
            index = end
    return out


def _more_content(lines: list[str], blank: int) -> bool:
    """Whether indented content follows the blank lines from `blank` on."""
    for text in lines[blank:]:
        if text.strip():
            return text.startswith(INDENT) or text.startswith("\t")
    return False


def _dedent(text: str) -> str:
    if text.startswith("\t"):
        return text[1:]
    return text[len(INDENT):] if text.startswith(INDENT) else text.lstrip(" ")
