"""Length and structure of a document, measured on its tree the way Chinese editors count.

The length rule follows Microsoft Word's 字数 (the figure Chinese publishers quote):
- every CJK character (Han, kana, Hangul syllables) counts as one;
- every full-width punctuation mark counts as one (。，、；：？！“”‘’（）《》【】……——· and
  the rest of the CJK Symbols and Punctuation and Full-width Forms blocks);
- every run of other non-space characters that holds a Latin letter or a digit counts as one
  word, so "GPT-4o", "75.8%" and "1M" are one each; runs of ASCII punctuation alone count nothing.
Left out: the front matter, Markdown markup (it is gone from the tree), link targets and bare
URLs, HTML tags, note reference numbers, and code blocks (fenced or indented, mermaid
diagrams included). Inline code and image descriptions are text the reader sees and count.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from pipeline.tree import HEADING_TAGS, classes, is_element, line_of, text_of

_CJK = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"      # Han, extension A, compatibility
    "\U00020000-\U0003134f"                        # Han extensions B-G
    "\u3040-\u30ff\u31f0-\u31ff"                   # kana
    "\uac00-\ud7af"                                # Hangul syllables
)
_FULLWIDTH_PUNCT = (
    "\u3000-\u303f"            # CJK symbols and punctuation: 、。〈〉《》「」『』【】〔〕
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # full-width ！（），：；？ etc.
    "\u2014\u2015\u2026\u2e3a\u2e3b"               # —— …… ⸺
    "\u2018\u2019\u201c\u201d\u00b7\u2027"         # ‘’“”·
)
_COUNTED_ONE_EACH = re.compile(f"[{_CJK}{_FULLWIDTH_PUNCT}]")
_WORD_RUN = re.compile(f"[^\\s{_CJK}{_FULLWIDTH_PUNCT}]+")
_HAS_ALNUM = re.compile(r"[^\W_]", re.UNICODE)
_URL = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+")

TAKEAWAYS_TITLE = "本章要点"
REFERENCES_TITLE = "参考文献"
ANECDOTE_MARK = "💡"
ANECDOTE_WORD = "轶事"

def count_text(text: str) -> int:
    """字数 of plain text: CJK characters and full-width punctuation one each, other words one each."""
    text = _URL.sub(" ", text)
    cjk = len(_COUNTED_ONE_EACH.findall(text))
    words = sum(1 for run in _WORD_RUN.findall(text) if _HAS_ALNUM.search(run))
    return cjk + words


@dataclass(frozen=True)
class Block:
    """A heading or a bold lead-in paragraph that opens a part of the document."""
    text: str
    line: int          # 1-based line in the document's file (0: unknown)
    level: int         # heading level; 0 for a bold paragraph such as **本章要点**


@dataclass
class Measurement:
    length: int = 0
    anecdotes: list[Block] = field(default_factory=list)
    takeaways: Block | None = None
    references: Block | None = None
    headings: list[Block] = field(default_factory=list)


# Not text of the book: code blocks, and the numbers and back-links of notes.
_UNCOUNTED_TAGS = frozenset({"pre"})
_UNCOUNTED_CLASSES = frozenset({"footnote-ref", "footnote-back", "citation", "bibliography"})


def countable_text(root: etree._Element) -> str:
    """The text the length rule counts, with words kept apart where elements meet."""
    parts: list[str] = []

    def visit(node):
        names = classes(node)
        if node.tag in _UNCOUNTED_TAGS or _UNCOUNTED_CLASSES & names:
            return
        if "math" in names:            # a formula is one word, whatever its TeX
            parts.append(" 𝑥 ")
            return
        if node.tag == "img" and node.get("alt"):
            parts.append(f" {node.get('alt')} ")
        if node.text:
            parts.append(node.text)
        for child in node:
            if is_element(child):
                visit(child)
            if child.tail:
                parts.append(child.tail)
    visit(root)
    return "".join(parts)


def opening_text(node: etree._Element) -> tuple[str, int] | None:
    """(title, level) when a top-level element opens a part of the document: a heading, or a
    paragraph that starts with bold (**本章要点**, level 0); None otherwise."""
    if node.tag in HEADING_TAGS:
        return text_of(node), int(node.tag[1])
    if node.tag == "p" and len(node) and node[0].tag in ("strong", "b") and not (node.text or "").strip():
        return text_of(node[0]), 0
    return None


def is_anecdote(title: str) -> bool:
    return ANECDOTE_MARK in title and ANECDOTE_WORD in title


def measure(root: etree._Element) -> Measurement:
    """Count a document's tree and find its anecdotes, takeaways and references."""
    result = Measurement(length=count_text(countable_text(root)))
    for node in root:
        opened = opening_text(node) if is_element(node) else None
        if opened is None:
            continue
        block = Block(opened[0], line_of(node) or 0, opened[1])
        if block.level:
            result.headings.append(block)
        if is_anecdote(block.text):
            result.anecdotes.append(block)
        elif block.text.startswith(TAKEAWAYS_TITLE) and result.takeaways is None:
            result.takeaways = block
        elif block.text.startswith(REFERENCES_TITLE) and result.references is None:
            result.references = block
    return result
