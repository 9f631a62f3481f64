"""Length and structure of a document body, measured the way Chinese editors count.

The length rule follows Microsoft Word's 字数 (the figure Chinese publishers quote):
- every CJK character (Han, kana, Hangul syllables) counts as one;
- every full-width punctuation mark counts as one (。，、；：？！“”‘’（）《》【】……——· and
  the rest of the CJK Symbols and Punctuation and Full-width Forms blocks);
- every run of other non-space characters that holds a Latin letter or a digit counts as one
  word, so "GPT-4o", "75.8%" and "1M" are one each; runs of ASCII punctuation alone count nothing.
Left out: the front matter, Markdown markup (heading marks, list markers, emphasis, table
rules), link targets and bare URLs, HTML tags, and code blocks (fenced or indented,
including mermaid diagrams). Inline code is text the reader sees and is counted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

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

_parser = MarkdownIt("commonmark", {"html": True}).enable("table")


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
    line: int          # 1-based, relative to the body
    level: int         # heading level; 0 for a bold paragraph such as **本章要点**


@dataclass
class Measurement:
    length: int = 0
    anecdotes: list[Block] = field(default_factory=list)
    takeaways: Block | None = None
    references: Block | None = None
    headings: list[Block] = field(default_factory=list)


def _inline_text(token) -> str:
    """Visible text of an inline token: link targets and HTML tags are markup, not text."""
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)


def _meaningful_children(token) -> list:
    # markdown-it emits an empty text token before a leading **; it is not content.
    return [c for c in token.children or [] if not (c.type == "text" and not c.content)]


def _is_bold_lead(token) -> bool:
    children = _meaningful_children(token)
    return bool(children) and children[0].type == "strong_open"


def _bold_lead_text(token) -> str:
    text = []
    for child in _meaningful_children(token)[1:]:
        if child.type == "strong_close":
            break
        if child.type == "text":
            text.append(child.content)
    return "".join(text).strip()


def measure(body: str) -> Measurement:
    """Count a Markdown body and find its anecdotes, takeaways and references."""
    tokens = _parser.parse(body)
    result = Measurement()
    texts = []
    for index, token in enumerate(tokens):
        if token.type != "inline":
            continue
        text = _inline_text(token)
        texts.append(text)
        opener = tokens[index - 1]
        line = (token.map[0] + 1) if token.map else 0
        if opener.type == "heading_open":
            block = Block(text.strip(), line, int(opener.tag[1]))
            result.headings.append(block)
        elif opener.type == "paragraph_open" and _is_bold_lead(token):
            block = Block(_bold_lead_text(token), line, 0)
        else:
            continue
        if ANECDOTE_MARK in block.text and ANECDOTE_WORD in block.text:
            result.anecdotes.append(block)
        elif block.text.startswith(TAKEAWAYS_TITLE) and result.takeaways is None:
            result.takeaways = block
        elif block.text.startswith(REFERENCES_TITLE) and result.references is None:
            result.references = block
    result.length = sum(count_text(t) for t in texts)
    return result
