"""The reader: each document's Markdown body -> its tree, once.

pandoc reads the body (cached by content) with source positions; the HTML it writes is
parsed into the shared tree, where every element pandoc could place carries `data-line`,
the line in the document's own file, so any later message can point at it.

Then two fixes for how Chinese authors write, which CommonMark readers get wrong:
- straight double quotes are paired into “…” within each paragraph, item or cell
  (pandoc's smart quotes mis-pair them next to CJK text: 29 wrong pairs in the seed);
- `**…**` that CommonMark leaves literal because a Han character meets punctuation
  (是**“开源”双轨**：) becomes <strong>: the author plainly meant bold.
"""
from __future__ import annotations

import concurrent.futures
import copy
import os
import re
from pathlib import Path

import pypandoc
from lxml import etree

from pipeline import cache
from pipeline.errors import PipelineError
from pipeline.tree import CODE_TAGS, LINE, element, parse_html, prose_blocks, replace_slot, text_slots

# commonmark_x keeps lists written straight after a line of text (pandoc's `markdown` turns
# the seed's 57 into paragraphs); -smart because quotes are paired here;
# east_asian_line_breaks so a line break inside Chinese text adds no space;
# -gfm_auto_identifiers so that every id in the tree is one an author wrote.
PANDOC_FORMAT = "commonmark_x+sourcepos-smart+east_asian_line_breaks-gfm_auto_identifiers"
SOURCEPOS_FILTER = Path(__file__).resolve().parent / "pandoc" / "sourcepos.lua"
# No syntax highlighting: it would add ids of pandoc's own (cb1, cb1-1) to every code block.
# --mathjax keeps each formula's TeX as it was written, in <span class="math inline">\(…\)</span>
# or <span class="math display">\[…\]</span>, for the math stage (pipeline/math.py); without it
# pandoc turns simple TeX into approximate Unicode text and leaves the rest raw.
PANDOC_ARGS = ["--sandbox", "--wrap=none", "--section-divs=false", "--syntax-highlighting=none", "--mathjax"]
_POSITION = re.compile(r"(?:^|@|;)(\d+):\d+-")


def pandoc_html(markdown: str, cache_dir: Path) -> str:
    """pandoc's HTML for a Markdown body, from the cache when this exact input was read before."""
    lua = SOURCEPOS_FILTER.read_text(encoding="utf-8")
    key = cache.key_of(pypandoc.get_pandoc_version(), PANDOC_FORMAT, *PANDOC_ARGS, lua, markdown)
    entry = cache_dir / f"{key}.html"
    stored = cache.read_entry(entry)
    if stored is not None:
        return stored.decode("utf-8")
    try:
        html = pypandoc.convert_text(markdown, "html5", format=PANDOC_FORMAT,
                                     extra_args=[*PANDOC_ARGS, f"--lua-filter={SOURCEPOS_FILTER}"])
    except RuntimeError as exc:
        raise PipelineError(f"pandoc could not read the document: {exc}",
                            hint="Check the Markdown near the place pandoc names.") from None
    cache.write_entry(entry, html.encode("utf-8"))
    return html


def markdown_tree(markdown: str, first_line: int, cache_dir: Path) -> etree._Element:
    """The tree of a Markdown body whose first line is line `first_line` of its file."""
    return tree_from_html(pandoc_html(markdown, cache_dir), first_line)


_TREES = cache.Memo(copy.deepcopy)


def tree_from_html(html: str, first_line: int) -> etree._Element:
    return _TREES.get((html, first_line), lambda: _tree_from_html(html, first_line))


def _tree_from_html(html: str, first_line: int) -> etree._Element:
    root = parse_html(html)
    for node in root.iter():
        position = node.get("data-pos") if isinstance(node.tag, str) else None
        if position is None:
            continue
        del node.attrib["data-pos"]
        # a table gives its body's range first, then its own: the element starts at the smallest
        starts = [int(line) for line in _POSITION.findall(position)]
        if starts:
            node.set(LINE, str(min(starts) + first_line - 1))
    pair_quotes(root)
    fix_literal_bold(root)
    return root


def parse_all(bodies: list[tuple[str, int]], cache_dir: Path) -> list[etree._Element]:
    """Trees for many bodies; pandoc runs in parallel when the cache misses."""
    workers = max(1, min(len(bodies), os.cpu_count() or 1))
    if workers == 1:
        return [markdown_tree(text, line, cache_dir) for text, line in bodies]
    html = {}
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(pandoc_html, text, cache_dir): index for index, (text, _) in enumerate(bodies)}
        for future in concurrent.futures.as_completed(futures):
            html[futures[future]] = future.result()
    return [tree_from_html(html[index], line) for index, (_, line) in enumerate(bodies)]


# ---------------------------------------------------------------- quotes and bold

def pair_quotes(root: etree._Element) -> None:
    """Straight double quotes -> “…” pairs, in order, within each block; an odd last one stays."""
    for block in prose_blocks(root):
        slots = list(text_slots(block))
        total = sum((getattr(node, attr) or "").count('"') for node, attr in slots)
        left, opening = total // 2 * 2, True
        if not left:
            continue
        for node, attr in slots:
            text = getattr(node, attr)
            if not text or '"' not in text:
                continue
            chars = []
            for char in text:
                if char == '"' and left:
                    chars.append("“" if opening else "”")
                    opening, left = not opening, left - 1
                else:
                    chars.append(char)
            setattr(node, attr, "".join(chars))


_LITERAL_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_OPENER = re.compile(r"\*\*(?=\S|$)")          # at the end of a run, an element follows
_CLOSER = re.compile(r"(?:(?<=\S)|^)\*\*")       # at the start of a run, one precedes


def fix_literal_bold(root: etree._Element) -> None:
    for block in prose_blocks(root):
        for node, attr in list(text_slots(block)):
            text = getattr(node, attr)
            if not text or "**" not in text or not _LITERAL_BOLD.search(text):
                continue
            pieces, last = [], 0
            for match in _LITERAL_BOLD.finditer(text):
                pieces.append(text[last:match.start()])
                pieces.append(element("strong", text=match.group(1)))
                last = match.end()
            pieces.append(text[last:])
            replace_slot(node, attr, [p for p in pieces if not isinstance(p, str) or p])
    for parent in [n for n in root.iter() if isinstance(n.tag, str) and n.tag not in CODE_TAGS]:
        _bold_across_children(parent)


def _bold_across_children(parent: etree._Element) -> None:
    """`**` pairs whose text holds a link or inline code: the opener in one run of the parent's
    text, the closer in the tail of a later child."""
    while True:
        runs = [(parent, "text")] + [(child, "tail") for child in parent]
        opened = None
        for index, (node, attr) in enumerate(runs):
            text = getattr(node, attr) or ""
            if opened is None:
                found = [m for m in _OPENER.finditer(text) if not _CLOSER.search(text, m.end())]
                if found:
                    opened = (index, found[-1].start())
            else:
                closer = _CLOSER.search(text)
                if closer:
                    _wrap_strong(parent, runs, opened, (index, closer.start()))
                    break
        else:
            return


def _wrap_strong(parent: etree._Element, runs: list, start: tuple[int, int], end: tuple[int, int]) -> None:
    (first, first_attr), (last, last_attr) = runs[start[0]], runs[end[0]]
    opening_text, closing_text = getattr(first, first_attr), getattr(last, last_attr)
    strong = element("strong", text=opening_text[start[1] + 2:])
    setattr(first, first_attr, opening_text[:start[1]])
    inside = list(parent)[start[0]:end[0]]      # the children between opener and closer
    strong.tail = closing_text[end[1] + 2:]
    if inside:
        inside[-1].tail = closing_text[:end[1]]
        inside[0].addprevious(strong)
        for child in inside:
            strong.append(child)
