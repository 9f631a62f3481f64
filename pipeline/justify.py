"""How a justified line takes its extra width, in the order a Chinese setter uses (clreq 3.8).

WeasyPrint spreads a line's deficit evenly over every stretchable space. In Chinese text those
are mostly the invisible spaces pipeline/typeset.py puts between Han characters, so a line
that ends short of a long Latin word is letter-spaced ("齐 的 窗 口 期 不 会 等 人。"). A setter
first widens the spaces between Latin words and the Han/Latin spaces (JIS X 4051's order;
clreq allows the latter up to about half an em), and only then spreads the rest over every
gap. This module replaces WeasyPrint's `justify_line` with that order, when it is imported:
those spaces (`span.lat`, `span.autospace`) take up to AUTOSPACE_CAP_EM more each, the
remainder is spread evenly. Measured on the seed chapter (research note text-layer.md): 19
letter-spaced lines become about 12. The balanced breaks below do the rest.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from weasyprint.formatting_structure import boxes
from weasyprint.layout import block, inline
from weasyprint.layout.leader import handle_leader
from weasyprint.layout.percent import resolve_one_percentage, resolve_percentages
from weasyprint.text.line_break import create_layout

AUTOSPACE_CAP_EM = 0.25


def _is_autospace(box, parent) -> bool:
    """A space that widens first: a Han/Latin space, or a word space between Latin words."""
    element = getattr(parent, "element", None)
    return element is not None and bool(FIRST_TIER & set((element.get("class") or "").split()))


FIRST_TIER = {"autospace", "lat"}


def _spaces(box, parent=None) -> tuple[int, int]:
    """(spaces in Han/Latin autospace boxes, all other stretchable spaces) under `box`."""
    if isinstance(box, boxes.TextBox):
        count = box.text.count(" ") + box.text.count("\u00a0")
        return (count, 0) if _is_autospace(box, parent) else (0, count)
    if isinstance(box, (boxes.LineBox, boxes.InlineBox)):
        auto = other = 0
        for child in box.children:
            a, o = _spaces(child, box)
            auto, other = auto + a, other + o
        return auto, other
    return 0, 0


def _spread(context, box, parent, auto_spacing: float, spacing: float, x_advance: float) -> float:
    """WeasyPrint's add_word_spacing, with a spacing of its own for the autospace boxes."""
    if isinstance(box, boxes.TextBox):
        own = auto_spacing if _is_autospace(box, parent) else spacing
        box.justification_spacing = own
        box.position_x += x_advance
        count = box.text.count(" ") + box.text.count("\u00a0")
        if count > 0:
            layout = create_layout(box.text, box.style, context, max_width=None, justification_spacing=own)
            layout.deactivate()
            extra = own * count
            x_advance += extra
            box.width += extra
            box.pango_layout = layout
    elif isinstance(box, (boxes.LineBox, boxes.InlineBox)):
        box.position_x += x_advance
        before = x_advance
        children = box.children[::-1] if box.style["direction"] == "rtl" else box.children
        for child in children:
            if child.is_in_normal_flow():
                x_advance = _spread(context, child, box, auto_spacing, spacing, x_advance)
        box.width += x_advance - before
    else:
        box.translate(x_advance, 0)
    return x_advance


def justify_line(context, line, extra_width):
    line.book_slack = extra_width
    auto, other = _spaces(line)
    if not auto + other:
        return
    if extra_width <= 0 or not auto:
        spacing = extra_width / (auto + other)
        _note_spread(line, spacing, auto + other)
        _spread(context, line, None, spacing, spacing, 0)
        return
    cap = AUTOSPACE_CAP_EM * line.style["font_size"]
    first = min(cap, extra_width / auto)
    rest = (extra_width - first * auto) / (auto + other)
    _note_spread(line, rest, auto + other)
    _spread(context, line, None, first + rest, rest, 0)


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
SPREAD_TARGET_EM = 0.05
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
        try:
            line, resume_at = inline.get_next_linebox(context, box, top, bottom_space, skip, containing_block,
                                                      absolutes, fixed, None, None)
        finally:
            _shrink[0] = 0.0
        if line is None:
            return None
        handle_leader(context, line, containing_block)
        return _Laid(line, resume_at, skip, top, indent, absolutes, fixed)

    held: list[_Laid] = []
    laid = lay(skip_stack, position_y, box.text_indent)
    while laid is not None:
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
    return best


inline.justify_line = justify_line
inline.iter_line_boxes = iter_line_boxes
block.iter_line_boxes = iter_line_boxes
