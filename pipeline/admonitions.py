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


def expand(markdown: str, tabs: tuple[str, ...] = ()) -> str:
    """The body with every admonition and tab rewritten as a fenced div, line for line. With
    `tabs` (book.yaml's assemble.tabs: [Python]), a group of tabs keeps only those labels, where it
    has one of them; the others' lines are left blank."""
    if "!!!" not in markdown and "???" not in markdown and "===" not in markdown:
        return markdown
    return "\n".join(_expand(markdown.split("\n"), tabs))


def _expand(lines: list[str], tabs: tuple[str, ...] = ()) -> list[str]:
    out: list[str] = []
    fence = None
    index = 0
    dropped: set[int] = set()           # head lines of tabs left out (assemble.tabs)
    grouped: set[int] = set()           # head lines of tabs whose group was looked at
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
        if head["tab"] and tabs and index not in grouped:
            group = _tab_group(lines, index)
            grouped.update(group)
            dropped.update(_left_out(group, tabs))
        end = _block_end(lines, index)
        # the closing fence takes the blank line after the content; without one, a line is added
        blank_after = end < len(lines) and not lines[end].strip()
        if index in dropped:
            out += [""] * (end - index + blank_after)
        else:
            out.append(callout_fence("example", head["label"]) if head["tab"]
                       else callout_fence(head["kind"].lower(), head["title"] or ""))
            out += _expand([_dedent(text) for text in lines[index + 1:end]], tabs)
            out.append(":::")
        index = end + blank_after
    return out


def _block_end(lines: list[str], head: int) -> int:
    """The line after a box's content: its indented lines, and the blank lines between them."""
    end = head + 1
    while end < len(lines) and (lines[end].startswith(INDENT) or lines[end].startswith("\t")
                                or (not lines[end].strip() and _more_content(lines, end))):
        end += 1
    return end


def _tab_group(lines: list[str], first: int) -> dict[int, str]:
    """{head line: label} of the tabs one after another (blank lines between) from `first` on."""
    group: dict[int, str] = {}
    index = first
    while index < len(lines):
        head = _OPENING.match(lines[index])
        if head is None or not head["tab"]:
            break
        group[index] = head["label"]
        index = _block_end(lines, index)
        while index < len(lines) and not lines[index].strip():
            index += 1
    return group


def _left_out(group: dict[int, str], keep: tuple[str, ...]) -> set[int]:
    """The tabs of a group not among the labels to keep, if it has one of them: a group without one
    keeps every tab, so that nothing an author wrote goes missing unseen."""
    wanted = {label.casefold() for label in keep}
    if not any(label.casefold() in wanted for label in group.values()):
        return set()
    return {head for head, label in group.items() if label.casefold() not in wanted}


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
