"""How a justified line takes its extra width, in the order a Chinese setter uses (clreq 3.8).

WeasyPrint spreads a line's deficit evenly over every stretchable space. In Chinese text those
are mostly the invisible spaces pipeline/typeset.py puts between Han characters, so a line
that ends short of a long Latin word is letter-spaced ("齐 的 窗 口 期 不 会 等 人。"). A setter
first widens the spaces between Latin words and the Han/Latin spaces (JIS X 4051's order;
clreq allows the latter up to about half an em), and only then spreads the rest over every
gap. This module replaces WeasyPrint's `justify_line` with that order, when it is imported:
those spaces (`span.lat`, `span.autospace`, and the justification spaces where a mark's blank
half meets Latin text) take up to AUTOSPACE_CAP_EM more each, the remainder is spread evenly.
Measured on the seed chapter (research note text-layer.md): 19 letter-spaced lines become about
12. The balanced breaks below do the rest.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from weasyprint.formatting_structure import boxes
from weasyprint.layout import block, inline
from weasyprint.layout.leader import handle_leader
from weasyprint.layout.percent import resolve_one_percentage, resolve_percentages
from weasyprint.text import line_break
from weasyprint.text.ffi import TO_UNITS, ffi, pango, unicode_to_char_p
from weasyprint.text.line_break import create_layout

from pipeline.typeset import BLANK_LEFT, JUSTIFY_SPACE, bracket_meets_latin

AUTOSPACE_CAP_EM = 0.25


FIRST_TIER = {"autospace", "lat"}


def _space_tiers(line) -> tuple[dict[int, list[int]], int, int]:
    """({id(text box): indexes of its spaces that widen first}, how many widen first, how many
    others). First: every space of a Han/Latin autospace or a Latin run, and a justification
    space where a mark's blank half meets Latin text ("、Google", "。GPT-4", "Use（"): in a list
    of names those are the gaps between the items, and a line of them spread over its few Han
    gaps came out letter-spaced (0.23 em in "本章涉及DeepSeek-V2、GTC大会、GPT-4o、…")."""
    texts = _text_boxes(line)
    first: dict[int, list[int]] = {}
    total = 0
    for number, (box, parent) in enumerate(texts):
        text = box.text
        spaces = [index for index, ch in enumerate(text) if ch in " \u00a0"]
        if not spaces:
            continue
        total += len(spaces)
        if FIRST_TIER & _classes(parent):
            first[id(box)] = spaces
            continue
        found = []
        for index in spaces:
            if text[index] != JUSTIFY_SPACE:
                continue
            if bracket_meets_latin(*_around(texts, number, index)):
                found.append(index)
        if found:
            first[id(box)] = found
    count = sum(len(indexes) for indexes in first.values())
    return first, count, total - count


def _widen(box, parent, widen, x_advance: float = 0.0) -> float:
    """Move box by x_advance and let widen(text box, its parent) widen each text box under it
    (it returns the width it added); what follows moves along. Returns the new advance."""
    if isinstance(box, boxes.TextBox):
        box.position_x += x_advance
        extra = widen(box, parent)
        box.width += extra
        x_advance += extra
    elif isinstance(box, (boxes.LineBox, boxes.InlineBox)):
        box.position_x += x_advance
        before = x_advance
        children = box.children[::-1] if box.style["direction"] == "rtl" else box.children
        for child in children:
            if child.is_in_normal_flow():
                x_advance = _widen(child, box, widen, x_advance)
        box.width += x_advance - before
    else:
        box.translate(x_advance, 0)
    return x_advance


def _spread(context, line, first: dict[int, list[int]], first_extra: float, spacing: float) -> None:
    """WeasyPrint's add_word_spacing, with first_extra more for the spaces that widen first."""
    def widen(box, parent) -> float:
        box.justification_spacing = spacing
        count = box.text.count(" ") + box.text.count("\u00a0")
        if not count:
            return 0.0
        own = first.get(id(box), ())
        whole = own and len(own) == count      # every space of the box widens first: one spacing
        if whole:
            box.justification_spacing = spacing + first_extra
        layout = create_layout(box.text, box.style, context, max_width=None,
                               justification_spacing=box.justification_spacing)
        if own and not whole and first_extra:
            layout.book_space_extra = {index: first_extra for index in own}
        layout.deactivate()
        box.pango_layout = layout
        return spacing * count + first_extra * len(own)

    _widen(line, None, widen)


def justify_line(context, line, extra_width):
    line.book_slack = extra_width
    first, auto, other = _space_tiers(line)
    if not auto + other:
        return
    if extra_width <= 0 or not auto:
        spacing = extra_width / (auto + other)
        _note_spread(line, spacing, auto + other)
        _spread(context, line, first, 0.0, spacing)
        return
    cap = AUTOSPACE_CAP_EM * line.style["font_size"]
    first_extra = min(cap, extra_width / auto)
    rest = (extra_width - first_extra * auto) / (auto + other)
    _note_spread(line, rest, auto + other)
    _spread(context, line, first, first_extra, rest)


def _note_spread(line, spacing: float, gaps: int) -> None:
    """Keep on the line how far its gaps were spread, and how much narrower its content would
    have to be for them to stay within SPREAD_TARGET_EM (read by iter_line_boxes below)."""
    font_size = line.style["font_size"]
    line.book_spread_em = spacing / font_size
    line.book_excess = max(0.0, spacing - SPREAD_TARGET_EM * font_size) * gaps


# ---------------------------------------------------------------- balanced breaks

# WeasyPrint breaks lines greedily: when a long Latin word or a bold run does not fit, its line
# ends short and the justifier spreads the whole deficit over that one line's gaps. A setter
# (and a total-fit breaker such as TeX's or Typst's) shares it with the lines before: they break
# a little earlier, so the short line starts earlier and ends full. iter_line_boxes below keeps
# the last LOOKBACK lines of a paragraph before handing them on; when a line comes out spread
# beyond SPREAD_TARGET_EM, the held lines are laid out again, each narrower by a share of the
# excess, and the set with the smallest worst spread is kept. Only those paragraphs are laid
# out twice.
SPREAD_TARGET_EM = 0.045
LOOKBACK = 3

_original_iter_line_boxes = inline.iter_line_boxes
# These internals are what the module replaces or calls (WeasyPrint is pinned in pyproject.toml);
# a WeasyPrint whose functions take other arguments must be looked at again, not run blindly.
_EXPECTED = {
    "iter_line_boxes": "context, box, position_y, bottom_space, skip_stack, containing_block, absolute_boxes, "
                       "fixed_boxes, first_letter_style, first_line_style",
    "get_next_linebox": "context, linebox, position_y, bottom_space, skip_stack, containing_block, "
                        "absolute_boxes, fixed_boxes, first_letter_style, first_line_style",
    "justify_line": "context, line, extra_width",
    "text_align": "context, line, available_width, last",
}
for _name, _parameters in _EXPECTED.items():
    if ", ".join(inspect.signature(getattr(inline, _name)).parameters) != _parameters:
        raise RuntimeError(f"WeasyPrint's inline.{_name} changed: re-check pipeline/justify.py")
_original_avoid_collisions = inline.avoid_collisions
_shrink = [0.0]     # the narrowing of the next line to lay out (read once, by avoid_collisions)


def _avoid_collisions(*args, **kwargs):
    position_x, position_y, available_width = _original_avoid_collisions(*args, **kwargs)
    if _shrink[0]:
        # The first call of get_next_linebox gives the width to break at; justification, which
        # asks again, gets the full width, so the narrower line is stretched to the measure.
        available_width, _shrink[0] = available_width - _shrink[0], 0.0
    return position_x, position_y, available_width


inline.avoid_collisions = _avoid_collisions


@dataclass
class _Laid:
    line: object
    resume_at: object
    skip_stack: object          # where the line starts
    position_y: float
    text_indent: float
    absolutes: list
    fixed: list

    @property
    def spread(self) -> float:
        return getattr(self.line, "book_spread_em", 0.0) if self.resume_at is not None else 0.0

    @property
    def bottom(self) -> float:
        return self.line.position_y + self.line.height


def iter_line_boxes(context, box, position_y, bottom_space, skip_stack, containing_block, absolute_boxes,
                    fixed_boxes, first_letter_style, first_line_style):
    """WeasyPrint's iter_line_boxes, with lines of a justified paragraph balanced (see above)."""
    if (box.style["text_align_all"] != "justify" or context.excluded_shapes or first_letter_style is not None
            or first_line_style is not None):
        yield from _original_iter_line_boxes(context, box, position_y, bottom_space, skip_stack, containing_block,
                                             absolute_boxes, fixed_boxes, first_letter_style, first_line_style)
        return
    resolve_percentages(box, containing_block)
    if skip_stack is None:
        resolve_one_percentage(box, "text_indent", containing_block.width)
    else:
        box.text_indent = 0

    def lay(skip, top, indent, shrink=0.0):
        box.text_indent = indent
        absolutes, fixed = [], []
        _shrink[0] = shrink
        _squeezing[0] = shrink < 0
        try:
            line, resume_at = inline.get_next_linebox(context, box, top, bottom_space, skip, containing_block,
                                                      absolutes, fixed, None, None)
        finally:
            _shrink[0] = 0.0
            _squeezing[0] = False
        if line is None:
            return None
        handle_leader(context, line, containing_block)
        return _Laid(line, resume_at, skip, top, indent, absolutes, fixed)

    held: list[_Laid] = []
    laid = lay(skip_stack, position_y, box.text_indent)
    while laid is not None:
        if laid.spread > SPREAD_TARGET_EM:
            laid = _squeeze_in(laid, lay) or laid
        if laid.spread > SPREAD_TARGET_EM and held:
            better = _rebalance(held, laid, lay)
            if better is not None:
                held[len(held) - (len(better) - 1):] = better[:-1]
                laid = better[-1]
        held.append(laid)
        while len(held) > LOOKBACK:
            yield _hand_on(held.pop(0), absolute_boxes, fixed_boxes)
        if laid.resume_at is None:
            break
        laid = lay(laid.resume_at, laid.bottom, 0)
    box.text_indent = 0
    for entry in held:
        yield _hand_on(entry, absolute_boxes, fixed_boxes)


def _hand_on(laid: _Laid, absolute_boxes, fixed_boxes):
    absolute_boxes.extend(laid.absolutes)
    fixed_boxes.extend(laid.fixed)
    return laid.line, laid.resume_at


def _rebalance(held: list[_Laid], bad: _Laid, lay) -> list[_Laid] | None:
    """The held lines and the bad one laid out again with the bad line's excess shared among
    the lines before it; None when no sharing does better. Better: a smaller worst spread,
    then a smaller sum of squared spreads (an even texture over the lines concerned)."""
    def score(lines):
        return max(entry.spread for entry in lines), sum(entry.spread ** 2 for entry in lines)

    excess = getattr(bad.line, "book_excess", 0.0)
    best, best_score = None, None
    for count in range(1, min(LOOKBACK, len(held)) + 1):
        old = score(held[-count:] + [bad])
        for share in (excess / (count + 1), excess / count):
            lines, skip, top, indent = [], held[-count].skip_stack, held[-count].position_y, held[-count].text_indent
            for index in range(count + 1):
                # Narrower than the held line's own content, so that it really gives some of it up.
                narrowing = getattr(held[-count + index].line, "book_slack", 0.0) + share if index < count else 0.0
                laid = lay(skip, top, indent, narrowing)
                if laid is None or (laid.resume_at is None and index < count):
                    lines = None
                    break
                lines.append(laid)
                skip, top, indent = laid.resume_at, laid.bottom, 0
            if lines is None:
                continue
            # lines before the held ones stay: compare over the same lines, and over the best so far
            new = score(lines)
            if new < old and (best_score is None or (new[0], new[1] - old[1]) < best_score):
                best, best_score = lines, (new[0], new[1] - old[1])
                if new[0] <= SPREAD_TARGET_EM:
                    return best         # every line within the target: sharing wider gains nothing
    return best


# ---------------------------------------------------------------- compression

# A line that ends short before a unit that does not fit ("达到|79.7%，", "走向“对话|工具”。") can
# often take the unit by shrinking instead, which a setter tries first. clreq 6.2.2.3 gives the
# order in which a line gives up width, each kind used up before the next is touched:
#   1. a line-end mark's blank half (here: it hangs past the measure, where it is blank, so the
#      ink stays inside, as if set half-width);
#   2. the spaces between Latin words, down to a quarter em (they are a quarter em already in
#      Noto CJK, 0.256 em, so none is taken; squeezed further, pdftotext ran words together);
#   4. the outer blank half of brackets and quotation marks (also after a mark already set
#      half-width: "说：“我们");
#   5. mid-line ：；、, by half: marks inside a sentence, which the Kaiming style (开明式) of
#      mainland books sets half-width everywhere and GB/T 15834-2011 5.1.11 lets an editor
#      compress. clreq puts ， here as well; this project keeps ， full width mid-line, like the
#      sentence-ending 。？！ (tier 7), since a squeezed comma reads as a missing pause, unless
#      book.yaml's print.squeeze_commas turns it on (the print CSS then sets the custom property
#      --book-squeeze-commas: on): a mid-line ， then gives up its blank half last of all, after
#      the Han/Latin spaces, and only in a line that would otherwise be letter-spaced;
#   6. Han/Latin spaces, from a quarter em to an eighth.
# (Tier 3, the interpunct, does not occur: typeset.py sets no space next to it.) Only this
# helps a paragraph's first line, which has no line before it to share its excess with.
# iter_line_boxes lays a loose line out again, wider by what it could give up; text_align
# below then squeezes it to the measure, tier by tier, each item of a tier by the same share.
SQUEEZE_CLOSE = set("）」』】〕〉》〗〙｝］”’")
SQUEEZE_OPEN = BLANK_LEFT
SQUEEZE_PAUSE = set("：；、")
BRACKET_SQUEEZE_EM = 0.5
AUTOSPACE_SQUEEZE_EM = 0.125
TIER_BRACKET, TIER_PAUSE, TIER_AUTOSPACE, TIER_COMMA = 4, 5, 6, 6.5
SQUEEZE_COMMAS_PROPERTY = "__book_squeeze_commas"     # WeasyPrint's key for --book-squeeze-commas
# Line-end marks whose ink sits in their left half in Simplified Chinese faces (not ？！).
HANGING_END = set("，。、；：）」』】〕〉》〗〙｝］”’")

ZWSP = "\u200b"
_squeezing = [False]        # set while a line is laid out wider, to be squeezed to the measure


def _text_boxes(box, parent=None, found=None) -> list[tuple[object, object]]:
    """(text box, its parent) of a line, in order."""
    found = [] if found is None else found
    if isinstance(box, boxes.TextBox):
        found.append((box, parent))
    elif isinstance(box, (boxes.LineBox, boxes.InlineBox)):
        for child in box.children:
            if child.is_in_normal_flow():
                _text_boxes(child, box, found)
    return found


def _around(texts: list, number: int, index: int, beside=lambda parent: True) -> tuple[str, str]:
    """The characters either side of the space at `index` of the number-th text box of a line, from
    the text boxes next to it where the space ends or starts its own (WeasyPrint sets a lone space as
    " \u200b", see _set_text); `beside(parent)` says whether a neighbouring box may be read."""
    text = texts[number][0].text
    before, after = text[:index].rstrip(ZWSP)[-1:], text[index + 1:].lstrip(ZWSP)[:1]
    if not before and number and beside(texts[number - 1][1]):
        before = texts[number - 1][0].text.rstrip(ZWSP)[-1:]
    if not after and number + 1 < len(texts) and beside(texts[number + 1][1]):
        after = texts[number + 1][0].text.lstrip(ZWSP)[:1]
    return before, after


def _classes(parent) -> set:
    element = getattr(parent, "element", None)
    return set(((element is not None and element.get("class")) or "").split())


def squeezes_commas(style) -> bool:
    """Whether the custom property --book-squeeze-commas is `on` where the style applies."""
    value = style[SQUEEZE_COMMAS_PROPERTY]
    return isinstance(value, tuple) and [getattr(token, "value", None) for token in value] == ["on"]


def _squeeze_plan(line) -> list[tuple[object, dict[int, tuple[int, float]]]]:
    """[(text box, {index of a space in its text: (its clreq tier, how much narrower it may get
    in px)})] of a line. A mark next to a space may sit in the next or previous text box
    ("**CodeGeeX**（代码": the space ends the bold run)."""
    texts = _text_boxes(line)
    commas = squeezes_commas(line.style)
    plan = []
    for number, (box, parent) in enumerate(texts):
        classes = _classes(parent)
        if "lat" in classes:
            continue
        # In "说：“我" the colon is set half-width already (a halt span, with the break after it);
        # the quotation mark after it still has its outer blank half to give.
        halted = "halt" in classes
        size = box.style["font_size"]
        text = box.text
        found = {}
        for index, ch in enumerate(text):
            if ch not in " \u00a0":
                continue
            if "autospace" in classes:
                found[index] = (TIER_AUTOSPACE, AUTOSPACE_SQUEEZE_EM * size)
                continue
            if ch != JUSTIFY_SPACE:
                continue
            # a mark in a halt span has no blank half left to give
            before, after = _around(texts, number, index, beside=lambda parent: "halt" not in _classes(parent))
            if halted:
                before = ""
            if before and before in SQUEEZE_CLOSE or after and after in SQUEEZE_OPEN:
                found[index] = (TIER_BRACKET, BRACKET_SQUEEZE_EM * size)
            elif before and before in SQUEEZE_PAUSE:
                found[index] = (TIER_PAUSE, BRACKET_SQUEEZE_EM * size)
            elif commas and before == "，":
                found[index] = (TIER_COMMA, BRACKET_SQUEEZE_EM * size)
        if found:
            plan.append((box, found))
    return plan


def _capacity(line) -> float:
    return sum(amount for _box, found in _squeeze_plan(line) for _tier, amount in found.values())


def tier_shares(capacities: dict[int, float], overflow: float) -> dict[int, float] | None:
    """{tier: the share of its capacity each of its items gives up}, using up tiers in order;
    None when all of them together cannot take in the overflow."""
    shares = {}
    for tier in sorted(capacities):
        if overflow <= 1e-9:
            break
        take = min(overflow, capacities[tier])
        shares[tier] = take / capacities[tier]
        overflow -= take
    return shares if overflow <= 0.01 else None


def squeeze_line(context, line, overflow: float) -> bool:
    """Take overflow px out of the line's squeezable items (clreq's order); False when they cannot give it."""
    plan = _squeeze_plan(line)
    capacities: dict[int, float] = {}
    for _box, found in plan:
        for tier, amount in found.values():
            capacities[tier] = capacities.get(tier, 0.0) + amount
    shares = tier_shares(capacities, overflow)
    if shares is None:
        return False
    extras = {id(box): {index: -shares.get(tier, 0.0) * amount for index, (tier, amount) in found.items()
                        if shares.get(tier)} for box, found in plan}

    def widen(box, _parent) -> float:
        own = extras.get(id(box))
        if not own:
            return 0.0
        layout = create_layout(box.text, box.style, context, max_width=None,
                               justification_spacing=box.justification_spacing)
        layout.book_space_extra = own
        layout.deactivate()
        box.pango_layout = layout
        return sum(own.values())

    _widen(line, None, widen)
    line.book_spread_em = 0.0
    return True


def _text_length(line) -> int:
    return sum(len(box.text) for box, _parent in _text_boxes(line))


def _squeeze_in(laid: _Laid, lay) -> _Laid | None:
    """The loose line laid out again wider by what it could give up, and squeezed to the measure
    (or spread less); None when that takes in nothing more or is no better."""
    size = laid.line.style["font_size"]
    widen = _capacity(laid.line) + AUTOSPACE_SQUEEZE_EM * size     # what a unit taken in may bring
    for hang in (BRACKET_SQUEEZE_EM * size, 0.0):                  # a line-end mark hanging, or not
        wider = lay(laid.skip_stack, laid.position_y, laid.text_indent, -(widen + hang))
        if wider is None:
            return None
        if not getattr(wider.line, "book_overfull", False):
            better = _text_length(wider.line) > _text_length(laid.line) and wider.spread < laid.spread
            return wider if better else None
    return None


_original_text_align = inline.text_align


def text_align(context, line, available_width, last):
    if _squeezing[0] and line.width > available_width:
        # A line-end mark gives up its blank half by hanging it past the measure, where it is
        # blank: the ink stays inside, as if the mark were set half-width.
        texts = _text_boxes(line)
        end = texts[-1][0] if texts else None
        if end is not None and end.text[-1:] in HANGING_END:
            available_width += BRACKET_SQUEEZE_EM * end.style["font_size"]
        if line.width <= available_width:
            justify_line(context, line, available_width - line.width)
        elif not squeeze_line(context, line, line.width - available_width):
            line.book_overfull = True
        return 0
    return _original_text_align(context, line, available_width, last)


_original_set_text = line_break.Layout.set_text


def _set_text(self, text, justify=False):
    """Layout.set_text, and the squeezed spaces' own widths when drawing (WeasyPrint sets one
    width for every space of a text box)."""
    _original_set_text(self, text, justify)
    squeeze = getattr(self, "book_space_extra", None)
    if not (squeeze and justify):
        return
    if self.text == " ":
        # Pango spaces a text of one character not at all: WeasyPrint's own remedy (set_text),
        # a zero-width space after it, which no extractor returns.
        self.text = " \u200b"
        pango.pango_layout_set_text(self.layout, unicode_to_char_p(self.text)[0], -1)
    word_spacing = self.style["word_spacing"] + self.justification_spacing
    encoded = self.text.encode()
    attributes = pango.pango_layout_get_attributes(self.layout)
    if attributes == ffi.NULL:
        attributes = ffi.gc(pango.pango_attr_list_new(), pango.pango_attr_list_unref)
    for index, extra in squeeze.items():
        start = len(self.text[:index].encode())
        # Pango gives half of a space's spacing at either end of a text (as in set_text)
        factor = 1 + (start in (0, len(encoded) - 1))
        attribute = pango.pango_attr_letter_spacing_new(int(factor * (word_spacing + extra) * TO_UNITS))
        attribute.start_index, attribute.end_index = start, start + len(self.text[index].encode())
        pango.pango_attr_list_change(attributes, attribute)
    pango.pango_layout_set_attributes(self.layout, attributes)


line_break.Layout.set_text = _set_text
inline.text_align = text_align
inline.justify_line = justify_line
inline.iter_line_boxes = iter_line_boxes
block.iter_line_boxes = iter_line_boxes
