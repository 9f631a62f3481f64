"""Chinese typography (W3C clreq) for the print PDF, as a transform of the HTML.

WeasyPrint 70 lays out CJK text but neither justifies it, nor spaces Han from
Latin, nor trims adjacent full-width punctuation. Each of those is done here by
rewriting the text before layout; only the PDF writer applies this, so the EPUB
keeps clean text and leaves typography to the reading system.

- Justification: WeasyPrint stretches only U+0020/U+00A0. We insert U+0020 at
  every point where clreq allows a break between two CJK characters and the
  print stylesheet cancels its advance with a negative `word-spacing`, so the
  space is invisible until the justifier stretches it. Placing the spaces only
  at allowed breaks keeps the line-breaking rules intact: no space goes before
  a closing mark or after an opening one, and none inside —— or …… .
- Han/Latin spacing: a U+0020 in `<span class="autospace">` goes between Han
  and Latin letters or digits. The span keeps normal word spacing, so the space
  is the font's own advance (0.256 em in Noto Serif CJK, about clreq's quarter
  em), the justifier can stretch it, and at a line end WeasyPrint drops it (a
  U+2009 could neither stretch nor be dropped: lines ending there were 2 pt
  short). Latin runs that contain their own spaces are wrapped in
  `<span class="lat">` so that they keep normal word spacing.
- Punctuation compression: of two adjacent full-width marks such as 」「 or ）。,
  the one whose blank half faces the other gets `<span class="halt">`, which
  turns on the font's `halt` feature (half-width alternates).

Functions work on the shared tree (pipeline.tree) in place, or on plain text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from pipeline.transforms import transform
from pipeline.tree import classes, element, parse_html, to_html

# Marks that must not begin a line (clreq 3.1.7): closing brackets and quotes,
# pause and stop marks, the iteration mark, and the ellipsis (UAX #14 class IN).
NO_START = set("，。、；：？！）」』】〕〉》〗〙｝］”’·・%‰℃…‥〜々〻ゝゞ")
# Marks that must not end a line: opening brackets and quotes.
NO_END = set("（「『【〔〈《〖〘｛［“‘")
# Characters drawn in pairs that must stay together (——, ……).
INSEPARABLE = set("—…⸺⸻")
# Full-width punctuation whose blank half is on the right (closing, stops) ...
BLANK_RIGHT = set("，。、；：？！）」』】〕〉》〗〙｝］”’")
CLOSING_BRACKETS = set("）」』】〕〉》〗〙｝］”’")
# ... and on the left (opening).
BLANK_LEFT = set("（「『【〔〈《〖〘｛［“‘")

# Inline elements whose text is a flow of its own (pipeline.notes: a page footnote and its blocks;
# a citation's superscript number, which attaches to the text before it: "专著[1]").
OWN_FLOW_CLASSES = {"fn", "fn-block", "fn-item", "citation"}
# Text set exactly as written: GB/T 7714 entries space and punctuate by the standard ("特征[M]. 北京: …").
AS_WRITTEN_CLASSES = {"bibliography-entries"}
# Elements whose text is code or otherwise not running prose.
SKIP_TAGS = {"pre", "code", "kbd", "samp", "script", "style", "svg", "math", "var", "tt"}
# Headings are not justified and feed bookmarks, so they get no inserted characters.
NO_INSERT_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "title"}

# insert_spaces() marks Han/Latin boundaries with U+2009; split_pieces() sets each
# as a U+0020 in <span class="autospace">, whose normal word spacing leaves it at the
# font's space advance (0.256 em, about clreq's quarter em) and lets it stretch.
THIN_SPACE = "\u2009"
AUTOSPACE = " "
JUSTIFY_SPACE = " "
# A Han/Latin space that must not break the line (it binds a paragraph's last character).
BOUND_THIN_SPACE = "\u202f"
# Between a paragraph's last two Han characters (and before a note call): no line break there.
# A character, not a no-wrap span: an element costs the layout a box and its styles.
WORD_JOINER = "\u2060"
# An author's own space (between Latin words, after a full stop, next to a link): set in a
# span of normal word spacing, since the body cancels every plain U+0020 (the inserted ones).
AUTHOR_SPACE = "\ue000"
# Where a line may break inside a name set in camel case: DeepSeek, OpenAI, HumanEval (a soft
# hyphen; WeasyPrint then ignores the dictionary's points in that word, which split Hu-manEval).
SOFT_HYPHEN = "\u00ad"
# A word of letters (not part of a path, address or version: github.com/OpenAI stays whole) with a
# lower-case pair before an upper-case letter that starts two or more letters.
CAMEL_WORD = re.compile(r"(?<![A-Za-z0-9_/.@:#&=?%~+\\-])[A-Za-z][A-Za-z0-9]*(?![A-Za-z0-9_/@:#&=?%~+\\]|\.\w)")
CAMEL_BREAK = re.compile(r"(?<=[a-z]{2})(?=[A-Z][A-Za-z])")


def is_han(ch: str) -> bool:
    """Ideographs and kana: the characters that take Han/Latin spacing."""
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x3FFFF
            or 0xF900 <= code <= 0xFAFF or 0x3040 <= code <= 0x30FF or 0x2E80 <= code <= 0x2FDF
            or ch in "〇々〻")


def is_cjk(ch: str) -> bool:
    """Characters set on the CJK grid: Han, kana and full-width punctuation."""
    code = ord(ch)
    return (is_han(ch) or 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF60
            or ch in "“”‘’—…⸺⸻·")


def is_latin(ch: str) -> bool:
    """Letters and digits that clreq separates from Han by a quarter-em-class space."""
    return ch.isascii() and ch.isalnum() or "\u00C0" <= ch <= "\u024F"


def break_allowed(before: str, after: str) -> bool:
    """May a line break between these two adjacent CJK characters (clreq + UAX #14)?"""
    if not (before and after and is_cjk(before) and is_cjk(after)):
        return False
    if before in NO_END or after in NO_START:
        return False
    if before in INSEPARABLE and after == before:
        return False
    return True


def needs_autospace(before: str, after: str) -> bool:
    """Han next to a Latin letter or digit, or to brackets around Latin text."""
    if not (before and after):
        return False
    return ((is_han(before) and (is_latin(after) or after in "([")) or
            ((is_latin(before) or before in ")]%") and is_han(after)))


def halt_index(before: str, after: str) -> int | None:
    """Which of two adjacent full-width marks to set half-width: 0, 1, or None."""
    if before in BLANK_RIGHT and (after in BLANK_RIGHT or after in BLANK_LEFT):
        return 0
    if before in BLANK_LEFT and after in BLANK_LEFT:
        return 1
    return None


def insert_spaces(text: str, *, next_char: str = "", han_follows: bool | None = None) -> str:
    """Add justification spaces and Han/Latin thin spaces to one run of text.

    next_char is the first character of the following text in the same block
    (after an inline element boundary), so that spacing crosses <strong> etc.
    Whitespace already standing at a Han/Latin boundary becomes the thin space:
    the negative word-spacing would otherwise swallow it. han_follows says whether Han text
    comes later in the block (by default: whenever next_char is given); where none does, this
    run holds the block's last Han characters.
    """
    text = re.sub(r"(?<=[\u2E80-\u9FFF])[ \n\t]+(?=[A-Za-z0-9(\[])|(?<=[A-Za-z0-9)\]%])[ \n\t]+(?=[\u2E80-\u9FFF])",
                  THIN_SPACE, text)
    text = re.sub(r"[ \n\t]+", AUTHOR_SPACE, text)
    text = CAMEL_WORD.sub(lambda m: CAMEL_BREAK.sub(SOFT_HYPHEN, m.group(0)), text)
    out: list[str] = []
    following = text[1:] + next_char
    # clreq: a paragraph's last line never holds a single character, so at the end of a
    # block the last Han character stays bound to the one before it.
    if han_follows is None:
        han_follows = bool(next_char)
    last_han = max((i for i, ch in enumerate(text) if is_han(ch)), default=-1) if not han_follows else -1
    skip_next = False
    for index, before in enumerate(text):
        after = following[index] if index < len(following) else ""
        if index == last_han - 1 and is_han(before) and is_han(after):
            # Pango breaks between any two ideographs, inserted space or not: a word joiner
            # keeps the pair on one line, so the last line never holds a single character.
            out += [before, WORD_JOINER, after]
            skip_next = True
            continue
        if skip_next:                   # the pair's second character, already placed
            skip_next = False
            if needs_autospace(before, after):
                out.append(THIN_SPACE)
            continue
        out.append(before)
        if index + 1 == last_han:
            if needs_autospace(before, after):
                out.append(BOUND_THIN_SPACE)
            elif break_allowed(before, after):     # "（文生图模型）等。": no "等。" alone
                out.append(WORD_JOINER)
            continue
        if break_allowed(before, after) or bracket_meets_latin(before, after):
            out.append(JUSTIFY_SPACE)
        elif needs_autospace(before, after):
            out.append(THIN_SPACE)
    return "".join(out)


def bracket_meets_latin(before: str, after: str) -> bool:
    """A full-width mark's blank half next to Latin text ("Use（计算机", "）Google", "、Sora"): a line may
    break there (UAX #14 breaks before a wide opening bracket), and a line that must shrink may
    take in the blank half (pipeline/justify.py) where the inserted space tells it so."""
    if not (before and after):
        return False
    latin_before = is_latin(before) or before in ".,;:!?)]%"
    # After a pause or stop mark as after a closing bracket ("OpenAI、Google"): a list of names has
    # few Han gaps, and without these a short line spreads its whole deficit over the few it has.
    return (latin_before and after in BLANK_LEFT) or (before in BLANK_RIGHT and (is_latin(after) or after in "(["))


@dataclass(frozen=True)
class Piece:
    """A run of text, set either plainly or inside a span of the given class."""
    text: str
    css_class: str | None = None
    lang: str | None = None


LATIN_RUN = re.compile(r"[A-Za-z0-9\u00C0-\u024F][^\u2E80-\u9FFF\u3000-\u303F\uFF00-\uFFEF“”‘’—…\u2009]*"
                       r"[A-Za-z0-9\u00C0-\u024F.)\]%]")


# A Latin word long enough to be worth hyphenating (two letters before the break, three after,
# and a six-letter word seldom has such a point: OpenAI, Google).
HYPHENATABLE = re.compile(r"[A-Za-z\u00C0-\u024F]{7,}")


# An address in the text (a link's text, a bare URL, a domain, an e-mail address, a file name):
# no hyphen is ever added to it, since a reader would type the hyphen ("modelcontextpro-|tocol.io").
# One with a path, a scheme or an @ may break between any two of its characters (not inside "//"),
# as Chinese text does and as a CJK setter breaks a URL: with breaks only at its dots and slashes,
# or between syllables, a long part ("/wiki/YInmwPmyii67VRkzU3BchPNzncg") left the line before it
# letter-spaced by up to half an em. A name such as Node.js or README.md stays whole.
URL_TOKEN = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+\.?"
                       r"|[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?:/\S*)?")
BREAKABLE_ADDRESS = re.compile(r"://|^www\.|@|/")
ZERO_WIDTH_SPACE = "\u200b"      # a break opportunity that no text extractor returns
_ADDRESS_END = ".,;:)"           # a mark ending the sentence after an address stays with it


def breakable_address(word: str) -> str:
    """The address with a break opportunity between two characters, but not inside its scheme
    ("https://"), inside a part of three or fewer ("io", "com"), between the letters of a
    ligature ("fi": the text layer lost it), nor before a closing mark."""
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", word)
    short = set()
    for part in re.finditer(r"[A-Za-z0-9]+", word):
        if len(part.group(0)) <= 3:
            short.update(range(part.start() + 1, part.end()))
    out = [word[:1]]
    for position in range(1, len(word)):
        previous, char = word[position - 1], word[position]
        allowed = not (
            scheme and position < scheme.end() or position in short
            or previous == "f" and char in "fil"
            or position == len(word) - 1 and char in _ADDRESS_END)
        if allowed:
            out.append(ZERO_WIDTH_SPACE)
        out.append(char)
    return "".join(out)


def latin_pieces(run: str, latin_lang: str) -> list[Piece]:
    """A Latin run as spans: an address among its words ("Retrieved from blog.example.com/a")
    gets a span of its own, with its break points and no language to be hyphenated in; the
    other words keep theirs."""
    pieces, start = [], 0
    words = run.replace(AUTHOR_SPACE, " ")
    for match in re.finditer(r"[^ ]+", words):
        word = match.group(0)
        if not URL_TOKEN.fullmatch(word.rstrip(_ADDRESS_END)):
            continue
        if match.start() > start:
            pieces.append(Piece(words[start:match.start()], "lat", latin_lang or None))
        pieces.append(Piece(breakable_address(word) if BREAKABLE_ADDRESS.search(word) else word, "lat url"))
        start = match.end()
    if start < len(words):
        pieces.append(Piece(words[start:], "lat", latin_lang or None))
    return pieces


def split_pieces(text: str, latin_lang: str = "", addresses: bool = True) -> list[Piece]:
    """Cut spaced text into plain runs, Latin runs, and halt marks.

    A Latin run becomes a span when it has inner spaces (they keep their width), holds an
    address (see URL_TOKEN; not in a heading, whose text feeds the bookmarks and gets no
    inserted characters), or, with a latin_lang, a word long enough to hyphenate (the span
    carries the language)."""
    pieces: list[Piece] = []
    plain_start = index = 0
    while index < len(text):
        char = text[index]
        # (a Latin run starts at a Latin character that does not follow one: is_latin, inlined)
        match = (LATIN_RUN.match(text, index) if (char.isascii() and char.isalnum() or "\u00C0" <= char <= "\u024F")
                 and not (index and is_latin(text[index - 1])) else None)
        if match and (AUTHOR_SPACE in match.group(0) or (latin_lang and HYPHENATABLE.search(match.group(0)))
                      or addresses and "." in match.group(0) and URL_TOKEN.search(match.group(0))):
            pieces += [Piece(text[plain_start:index]),
                       *(latin_pieces(match.group(0), latin_lang) if addresses
                         else [Piece(match.group(0).replace(AUTHOR_SPACE, " "), "lat", latin_lang or None)])]
            index = plain_start = match.end()
            continue
        if text[index] == AUTHOR_SPACE:
            pieces += [Piece(text[plain_start:index]), Piece(" ", "lat")]
            plain_start = index + 1
        elif text[index] == THIN_SPACE:
            pieces += [Piece(text[plain_start:index]), Piece(AUTOSPACE, "autospace")]
            plain_start = index + 1
        elif text[index] == BOUND_THIN_SPACE:
            pieces += [Piece(text[plain_start:index]), Piece("\u00a0", "autospace")]
            plain_start = index + 1
        elif text[index] == GAP:
            pieces += [Piece(text[plain_start:index]), Piece("", "gap")]
            plain_start = index + 1
        elif char in HALT_CANDIDATES and _is_halt(text, index):
            # The break after the mark goes inside its span: WeasyPrint will not break a text
            # that starts with a space right after an inline box, and breaks before the box
            # instead ("回忆|说：“我们" left a line half empty).
            end = index + 2 if text[index + 1:index + 2] == JUSTIFY_SPACE else index + 1
            pieces += [Piece(text[plain_start:index]), Piece(text[index:end], "halt")]
            plain_start = end
            index = end
            continue
        index += 1
    pieces.append(Piece(text[plain_start:]))
    return [p for p in pieces if p.text or p.css_class == "gap"]


HALT_CANDIDATES = BLANK_RIGHT | BLANK_LEFT     # the marks halt_index can pick


def _is_halt(text: str, index: int) -> bool:
    """Is text[index] the mark to compress, looking past one inserted space?"""
    after = text[index + 1:index + 3].replace(JUSTIFY_SPACE, "")[:1]
    before = text[max(0, index - 2):index].replace(JUSTIFY_SPACE, "")[-1:]
    return bool((after and halt_index(text[index], after) == 0)
                or (before and halt_index(before, text[index]) == 1))


@dataclass
class Slot:
    """One text position of the tree: an element's .text or .tail."""
    node: etree._Element
    attr: str           # "text" | "tail"
    block: etree._Element
    editable: bool      # False in code and headings: their text is not rewritten
    spaced: bool        # False in headings: no inserted characters
    as_written: bool = False    # GB/T 7714 entries: only Han/letter gaps, their brackets as the standard sets them


BLOCK_TAGS = {"p", "li", "dd", "dt", "td", "th", "figcaption", "blockquote", "div", "section",
              "aside", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "ul", "ol", "table", "figure",
              "caption", "nav", "header", "footer", "tr", "thead", "tbody", "dl"}


# Inline elements after which a paragraph's text starts a new line (pipeline.math's display formula
# inside a paragraph, where an author wrote $$…$$ without blank lines around it).
LINE_BREAKING_CLASSES = {"math-display"}


def _breaks_the_line(element) -> bool:
    return isinstance(element.tag, str) and (element.tag == "br" or bool(LINE_BREAKING_CLASSES & classes(element)))


def collect_slots(root: etree._Element) -> list[Slot]:
    """Every text slot in document order, with the block it belongs to."""
    slots: list[Slot] = []

    def visit(element, block, editable, spaced, as_written):
        if not isinstance(element.tag, str):
            return                      # a comment: its text is not the book's (its tail is, via the parent)
        tag = element.tag
        # a page footnote (pipeline.notes) is text of its own, set at the foot of the page
        names = classes(element)
        own_flow = tag in BLOCK_TAGS or bool(OWN_FLOW_CLASSES & names)
        inner_block = element if own_flow else block
        inner_editable = editable and tag not in SKIP_TAGS
        inner_as_written = as_written or bool(AS_WRITTEN_CLASSES & names)
        inner_spaced = spaced and tag not in NO_INSERT_TAGS and not inner_as_written
        slots.append(Slot(element, "text", inner_block, inner_editable, inner_spaced, inner_as_written))
        for child in element:
            visit(child, inner_block, inner_editable, inner_spaced, inner_as_written)
            # after a line break or a display formula inside a paragraph the text runs on as if in
            # a new block: what came before ended a line, and its last two characters stay together
            after = child if _breaks_the_line(child) else inner_block
            slots.append(Slot(child, "tail", after, inner_editable, inner_spaced, inner_as_written))

    visit(root, root, True, True, False)
    return slots


# Elements that stand in the text without text of their own: a space next to one is not
# between two characters.
REPLACED_TAGS = {"img", "br", "hr", "wbr", "svg", "math", "object", "video", "audio", "iframe", "input"}
_OTHER = "\x00"        # stands for code or a replaced element: no character either side of a space
_WHITESPACE_RUN = re.compile(r"[ \t\n]+")


def drop_spaces_between_cjk(root: etree._Element) -> None:
    """Chinese has no word spaces: a space an author typed between two Chinese characters, often
    beside bold or a link ("**分组查询注意力** 和"), is not set (as xeCJK ignores it). Code keeps
    its spaces; an intended gap is the ideographic space U+3000."""
    runs: dict[int, list[tuple[Slot | None, str]]] = {}
    for slot in collect_slots(root):
        text = getattr(slot.node, slot.attr) or ""
        if slot.attr == "text" and slot.node.tag in REPLACED_TAGS:
            runs.setdefault(id(slot.block), []).append((None, _OTHER))
        runs.setdefault(id(slot.block), []).append((slot, text if slot.editable else _OTHER * bool(text)))
    for pieces in runs.values():
        joined = "".join(text for _, text in pieces)
        drops = [m.span() for m in _WHITESPACE_RUN.finditer(joined)
                 if m.start() and m.end() < len(joined) and is_cjk(joined[m.start() - 1]) and is_cjk(joined[m.end()])]
        if not drops:
            continue
        start = 0
        for slot, text in pieces:
            end = start + len(text)
            # the dropped spans as they fall in this slot (a run of spaces may span two)
            cut = [(max(a, start) - start, min(b, end) - start) for a, b in drops if a < end and b > start]
            if slot is not None and cut:
                setattr(slot.node, slot.attr, _without(text, cut))
            start = end


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    kept, position = [], 0
    for begin, finish in spans:
        kept.append(text[position:begin])
        position = finish
    return "".join(kept) + text[position:]


@transform("pdf", "epub", order=1)
def author_spaces_between_cjk(root, context) -> None:
    drop_spaces_between_cjk(root)


GAP = "\ue001"     # a Han/Latin space drawn as a margin: headings and titles get no inserted characters


def insert_gaps(text: str, *, next_char: str = "", letters_only: bool = False) -> str:
    """Han/Latin spacing for text that must stay as written (headings feed bookmarks; with
    letters_only, between Han and letters or digits only: "特征[M]" keeps its bracket close)."""
    following = text[1:] + next_char
    out = []
    for index, before in enumerate(text):
        out.append(before)
        after = following[index] if index < len(following) else ""
        if letters_only and not ((is_han(before) and is_latin(after)) or (is_latin(before) and is_han(after))):
            continue
        if needs_autospace(before, after) and not after.isspace():
            out.append(GAP)
    return "".join(out)


def _rewrite_slot(slot: Slot, next_char: str, latin_lang: str = "", han_follows: bool = False) -> None:
    text = getattr(slot.node, slot.attr) or ""
    spaced = (insert_spaces(text, next_char=next_char, han_follows=han_follows) if slot.spaced
              else insert_gaps(text, next_char=next_char, letters_only=slot.as_written))
    pieces = split_pieces(spaced, latin_lang if slot.spaced else "", addresses=slot.spaced)
    if not any(p.css_class for p in pieces):
        setattr(slot.node, slot.attr, spaced)
        return
    # Spans go where the text was: as first children (text) or as following siblings (tail).
    parent, position = ((slot.node, 0) if slot.attr == "text"
                        else (slot.node.getparent(), slot.node.getparent().index(slot.node) + 1))
    setattr(slot.node, slot.attr, "")
    holder, holder_attr = slot.node, slot.attr
    for piece in pieces:
        if piece.css_class is None:
            setattr(holder, holder_attr, (getattr(holder, holder_attr) or "") + piece.text)
            continue
        span = etree.Element("span")
        span.set("class", piece.css_class)
        if piece.lang:
            span.set("lang", piece.lang)
        span.text = piece.text
        parent.insert(position, span)
        position += 1
        holder, holder_attr = span, "tail"


def _between_blocks(slot: Slot, text: str) -> bool:
    """Whitespace next to a block element (the line breaks between <li>s, after </p>): it
    collapses, and made into an author's space it would become a span, an anonymous line box
    of its own for the layout (a third more lines laid out in chapter 6)."""
    if text.strip():
        return False
    if slot.attr == "tail":
        neighbours = (slot.node, slot.node.getnext())
    else:
        neighbours = (next(iter(slot.node), None),)
    return any(isinstance(n, etree._Element) and n.tag in BLOCK_TAGS for n in neighbours) or \
        (slot.attr == "text" and slot.node.tag in BLOCK_TAGS and len(slot.node) == 0)


def typeset_tree(root: etree._Element, latin_lang: str = "") -> None:
    """Apply every clreq transform to the tree in place; latin_lang hyphenates long Latin words."""
    slots = collect_slots(root)
    texts = [getattr(s.node, s.attr) or "" for s in slots]
    # Which blocks have Han text after each slot: the block's last Han characters may sit in an
    # inline element with only punctuation after it ("**…分歧**。"), and still stay together.
    han_after: list[bool] = [False] * len(slots)
    seen: set = set()
    for index in range(len(slots) - 1, -1, -1):
        block = slots[index].block
        han_after[index] = id(block) in seen
        if any(is_han(ch) for ch in texts[index]):
            seen.add(id(block))
    # The first character of the next text in the same block, for each slot (one pass from the end).
    next_char: list[str] = [""] * len(slots)
    upcoming: dict[int, str] = {}
    for index in range(len(slots) - 1, -1, -1):
        block = id(slots[index].block)
        next_char[index] = upcoming.get(block, "")
        if texts[index]:
            upcoming[block] = texts[index][:1]
        if slots[index].attr == "tail" and "citation" in classes(slots[index].node):
            # a citation's number attaches to the text before it ("Sora[1]让", "专著[1]，"): no space
            upcoming[block] = WORD_JOINER
    for index, slot in enumerate(slots):
        if not slot.editable or not texts[index] or _between_blocks(slot, texts[index]):
            continue
        _rewrite_slot(slot, next_char[index], latin_lang, han_after[index])


def typeset_html(fragment: str) -> str:
    """Apply every clreq transform to an HTML body fragment (for tests and benchmarks)."""
    if not fragment.strip():
        return fragment
    root = parse_html(fragment)
    typeset_tree(root)
    return to_html(root)


def typeset_inline(text: str) -> str:
    """Typeset plain text that goes into a template, as a heading (halt only, no inserted characters)."""
    holder = element("div")
    heading = element("h1", text=text)
    holder.append(heading)
    typeset_tree(holder)
    return to_html(heading)


def plain_autospace(text: str) -> str:
    """Han/Latin spacing in a plain string (running heads are strings, not elements): a quarter em."""
    return insert_gaps(text).replace(GAP, "\u2005")


def clean_text(text: str) -> str:
    """Undo the inserted characters: what a reader should get when copying.

    Also drops one space between Han and a Latin letter or digit (the autospace,
    which PDF text extraction returns as U+0020).
    """
    text = text.replace(THIN_SPACE, "").replace(WORD_JOINER, "").replace(GAP, "").replace(SOFT_HYPHEN, "")
    text = text.replace(AUTHOR_SPACE, " ").replace(BOUND_THIN_SPACE, "")
    text = re.sub(r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])", "", text)
    return re.sub(r"(?<=[\u2E80-\u9FFF]) (?=[A-Za-z0-9(\[])|(?<=[A-Za-z0-9)\]%]) (?=[\u2E80-\u9FFF])",
                  "", text)
