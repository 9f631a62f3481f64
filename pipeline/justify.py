"""How a justified line takes its extra width, in the order a Chinese setter uses (clreq 3.8).

WeasyPrint spreads a line's deficit evenly over every stretchable space. In Chinese text those
are mostly the invisible spaces pipeline/typeset.py puts between Han characters, so a line
that ends short of a long Latin word is letter-spaced ("齐 的 窗 口 期 不 会 等 人。"). A setter
first widens the Han/Latin spaces (clreq allows them up to about half an em), and only then
spreads the rest over every gap. This module replaces WeasyPrint's `justify_line` with that
order, when it is imported: the Han/Latin spaces (`span.autospace`) take up to AUTOSPACE_CAP_EM
more each, the remainder is spread evenly. Measured on the seed chapter (research note
text-layer.md): 19 letter-spaced lines become about 12.
"""
from __future__ import annotations

from weasyprint.formatting_structure import boxes
from weasyprint.layout import inline
from weasyprint.text.line_break import create_layout

AUTOSPACE_CAP_EM = 0.25


def _is_autospace(box, parent) -> bool:
    element = getattr(parent, "element", None)
    return element is not None and "autospace" in (element.get("class") or "").split()


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
    auto, other = _spaces(line)
    if not auto + other:
        return
    if extra_width <= 0 or not auto:
        spacing = extra_width / (auto + other)
        _spread(context, line, None, spacing, spacing, 0)
        return
    cap = AUTOSPACE_CAP_EM * line.style["font_size"]
    first = min(cap, extra_width / auto)
    rest = (extra_width - first * auto) / (auto + other)
    _spread(context, line, None, first + rest, rest, 0)


inline.justify_line = justify_line
