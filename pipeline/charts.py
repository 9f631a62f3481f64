"""Charts for the editors' status report: inline SVG for the HTML file, block characters for the terminal.

Pure functions, data in and a string out: no JavaScript, no fonts or files fetched, so the report
stays one self-contained HTML file that also prints. The viewBox is 720 units wide for an A4
portrait page with 15 mm margins (180 mm), 4 units a millimetre, so 12-unit text prints at about
8.5 pt. Every visible word comes from the caller's `labels` (the report is in Chinese) and is
escaped by ElementTree. Series differ in lightness and dash pattern as well as hue, so the charts
survive a greyscale printer. Text widths are estimated (a CJK character 1 em, anything else 0.6 em,
a little more than Noto Sans's Latin) because nothing here can measure text.
"""
from __future__ import annotations

import datetime as dt
import math
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

WIDTH = 720
FONT = '"Noto Sans CJK SC", sans-serif'
SIZE, SMALL = 12, 11          # text, tick labels
INK, MUTED, GRID = "#222", "#555", "#dadada"
LINE = "#1f4e79"              # dark: the measured series stays the darkest thing on a grey print
FILL = "#9cbcdf"              # light: a target outline drawn over it stays visible
LATE = "#b00020"
VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#fde725"]
FEW_POINTS = 40               # up to this many, each point also gets a dot

NumberFormat = Callable[[int], str]


def _thousands(n: int) -> str:
    return f"{n:,}"


# --- scales, ticks and text --------------------------------------------------------------------

@dataclass(frozen=True)
class _Scale:
    """Linear map from data (d0..d1) to SVG units (r0..r1); a one-value domain maps to the middle."""
    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        return self.r0 + (value - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


def nice_ticks(high: float, count: int = 5) -> list[int]:
    """0, s, 2s … up to the first multiple of s ≥ high, s being 1, 2 or 5 × 10^n and at least 1
    (lengths and document counts are whole numbers). Always at least two ticks."""
    raw = max(high, 1) / count
    power = 10 ** math.floor(math.log10(raw))
    step = max(1, int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw)))
    top = max(step, math.ceil(high / step) * step)
    return list(range(0, top + 1, step))


def _wide(ch: str) -> bool:
    # Ambiguous-width characters (…, “”, —) are full width in a CJK font.
    return unicodedata.east_asian_width(ch) in "WFA"


def text_width(text: str, size: float = SIZE) -> float:
    return sum(size if _wide(ch) else 0.6 * size for ch in text)


def truncate(text: str, cells: int = 32) -> str:
    """At most `cells` columns, a CJK character counting as two; cut text ends in "…"."""
    if sum(2 if _wide(ch) else 1 for ch in text) <= cells:
        return text
    kept, used = [], 2                       # the ellipsis is itself two columns
    for ch in text:
        used += 2 if _wide(ch) else 1
        if used > cells:
            break
        kept.append(ch)
    return "".join(kept).rstrip() + "…"


def _labels(given: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    # A misspelt key would silently leave an English default in a Chinese report.
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown chart label(s) {unknown}; known: {sorted(defaults)}")
    return {**defaults, **given}


# --- SVG building ------------------------------------------------------------------------------

def _num(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.1f}"
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    """A child element; keyword `class_` is `class`, `stroke_width` is `stroke-width`."""
    element = ET.SubElement(parent, tag, {k.rstrip("_").replace("_", "-"): _num(v)
                                          for k, v in attrs.items() if v is not None})
    element.text = text
    return element


def _text(parent: ET.Element, x: float, y: float, text: str, *, size: float = SIZE,
          anchor: str = "start", **attrs: Any) -> ET.Element:
    """Text whose vertical middle is at y (SVG puts the baseline at y; dominant-baseline is not
    honoured everywhere)."""
    return _el(parent, "text", text, x=x, y=y + 0.35 * size, font_size=size,
               text_anchor=None if anchor == "start" else anchor, **attrs)


def _backed(parent: ET.Element, x: float, y: float, text: str, **attrs: Any) -> ET.Element:
    """Text (from x) on a white patch, legible where it crosses a line: WeasyPrint draws no
    paint-order halo."""
    _el(parent, "rect", x=x - 2, y=y - SIZE / 2 - 2, width=text_width(text) + 4, height=SIZE + 4, fill="white",
        class_="backing")
    return _text(parent, x, y, text, **attrs)


def _centred(x: float, width: float) -> float:
    """The centre of a label of this width at x, moved inside the picture if it would stick out."""
    return min(max(x, width / 2 + 1), WIDTH - width / 2 - 1)


def _svg(height: float, title: str) -> ET.Element:
    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "viewBox": f"0 0 {WIDTH} {_num(float(height))}",
                             "width": "100%", "style": "max-width: 180mm; height: auto", "role": "img",
                             "aria-label": title, "font-family": FONT, "font-size": str(SIZE)})
    _el(svg, "title", title)
    return svg


def _render(svg: ET.Element) -> str:
    return ET.tostring(svg, encoding="unicode")


def _empty(title: str, message: str) -> str:
    svg = _svg(40, title)
    _text(svg, WIDTH / 2, 20, message, anchor="middle", fill=MUTED)
    return _render(svg)


def _swatch(svg: ET.Element, x: float, y: float, label: str, **style: Any) -> float:
    """A legend entry (a 12-unit square and its label) at x; returns where the next one goes."""
    _el(svg, "rect", x=x, y=y - 6, width=12, height=12, class_="swatch", **style)
    _text(svg, x + 16, y, label, class_="legend")
    return x + 16 + text_width(label) + 18


# --- time axes (burn-up, status stack) ---------------------------------------------------------

def _date_candidates(first: dt.date, last: dt.date) -> Iterator[list[dt.date]]:
    """Tick dates ever further apart: days, weeks from a Monday, months and years from their first day."""
    for days in (1, 2, 7, 14):
        start = first + dt.timedelta(days=-first.weekday() % 7 if days >= 7 else 0)
        yield [start + dt.timedelta(days=n) for n in range(0, (last - start).days + 1, days)]
    months = []
    month = dt.date(first.year, first.month, 1)
    while month <= last:
        if month >= first:
            months.append(month)
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    for every in (1, 2, 3, 6, 12, 24, 60, 120):
        yield [m for m in months if (m.year * 12 + m.month - 1) % every == 0]


def _date_label(day: dt.date, previous: dt.date | None) -> str:
    # The year only where it is new, so most labels stay short (MM-DD).
    return day.strftime("%m-%d") if previous and previous.year == day.year else day.isoformat()


def _date_ticks(first: dt.date, last: dt.date, x: _Scale) -> list[tuple[float, float, str]]:
    """(tick x, label centre, label) for the closest spacing whose labels keep a gap of one em."""
    for dates in _date_candidates(first, last):
        if not dates:
            continue
        ticks, right = [], -math.inf
        for i, day in enumerate(dates):
            label = _date_label(day, dates[i - 1] if i else None)
            width = text_width(label, SMALL)
            centre = _centred(x(day.toordinal()), width)
            if centre - width / 2 < right + SMALL:
                break
            ticks.append((x(day.toordinal()), centre, label))
            right = centre + width / 2
        else:
            return ticks
    label = first.isoformat()
    return [(x(first.toordinal()), _centred(x(first.toordinal()), text_width(label, SMALL)), label)]


@dataclass(frozen=True)
class _Frame:
    x: _Scale
    y: _Scale
    left: float
    right: float
    top: float
    bottom: float


def _time_frame(svg: ET.Element, first: dt.date, last: dt.date, high: int, number_format: NumberFormat,
                *, top: float, height: float, right_pad: float, axis_title: str) -> _Frame:
    """Grid, y ticks, date ticks and the y-axis title for a chart of dates against whole numbers."""
    ticks = nice_ticks(high)
    tick_labels = [number_format(t) for t in ticks]
    left = max(text_width(t, SMALL) for t in tick_labels) + 12
    right, bottom = WIDTH - right_pad, height - 26
    x = _Scale(first.toordinal(), last.toordinal(), left, right)
    y = _Scale(0, ticks[-1], bottom, top)
    _text(svg, 2, top - 32, axis_title, class_="axis-title", fill=MUTED)
    for value, label in zip(ticks, tick_labels):
        _el(svg, "line", x1=left, x2=right, y1=y(value), y2=y(value), stroke=GRID, class_="grid")
        _text(svg, left - 6, y(value), label, size=SMALL, anchor="end", fill=MUTED, class_="tick-y")
    _el(svg, "line", x1=left, x2=right, y1=bottom, y2=bottom, stroke=MUTED)
    for tick_x, centre, label in _date_ticks(first, last, x):
        _el(svg, "line", x1=tick_x, x2=tick_x, y1=bottom, y2=bottom + 4, stroke=MUTED)
        _text(svg, centre, bottom + 14, label, size=SMALL, anchor="middle", fill=MUTED, class_="tick-x")
    return _Frame(x, y, left, right, top, bottom)


# --- the charts --------------------------------------------------------------------------------

def burnup_chart(points: Sequence[tuple[dt.date, int]], target: int | None, labels: Mapping[str, str], *,
                 due: dt.date | None = None, number_format: NumberFormat = _thousands) -> str:
    """The book's measured length by date: a line (dots too when there are few points) with the latest
    value at its end, the target as a dashed horizontal line and `due` as a dotted vertical line.
    Lengths start at zero so growth is not exaggerated. Labels: title (the accessible name), measured
    (the y axis), target, due, empty (shown instead of a chart without points)."""
    text = _labels(labels, {"title": "Measured length", "measured": "Measured length", "target": "Target",
                            "due": "Due", "empty": "No data"})
    if not points:
        return _empty(text["title"], text["empty"])
    height = 300
    svg = _svg(height, text["title"])
    dates = [d for d, _ in points] + ([due] if due else [])
    first, last = min(dates), max(dates)      # a single day is drawn in the middle (_Scale)
    end_value = points[-1][1]
    end_label = number_format(end_value)
    frame = _time_frame(svg, first, last, max([v for _, v in points] + [target or 0]), number_format,
                        top=44, height=height, right_pad=text_width(end_label) + 12, axis_title=text["measured"])
    x, y = frame.x, frame.y
    xy = [(x(d.toordinal()), y(v)) for d, v in points]

    if target is not None:
        _el(svg, "line", x1=frame.left, x2=frame.right, y1=y(target), y2=y(target), stroke=MUTED,
            stroke_width=1.5, stroke_dasharray="8 4", class_="target")
        _backed(svg, frame.left + 4, y(target) - 9, f"{text['target']} {number_format(target)}", fill=INK,
                class_="target-label")
    if due is not None:
        due_x = x(due.toordinal())
        _el(svg, "line", x1=due_x, x2=due_x, y1=frame.top - 6, y2=frame.bottom, stroke=LATE, stroke_width=1.5,
            stroke_dasharray="2 3", class_="due")
        label = f"{text['due']} {due.isoformat()}"
        _text(svg, _centred(due_x, text_width(label)), frame.top - 16, label, anchor="middle", fill=LATE,
              class_="due-label")
    if len(xy) > 1:
        _el(svg, "polyline", points=" ".join(f"{_num(px)},{_num(py)}" for px, py in xy), fill="none", stroke=LINE,
            stroke_width=2, stroke_linejoin="round", class_="measured")
    if len(xy) <= FEW_POINTS:
        for px, py in xy:
            _el(svg, "circle", cx=px, cy=py, r=3.5, fill=LINE, stroke="white", stroke_width=1, class_="dot")
    end_x, end_y = xy[-1]
    _backed(svg, end_x + 7, end_y, end_label, fill=LINE, font_weight="bold", class_="end-value")
    return _render(svg)


def _palette(count: int) -> list[str]:
    """`count` colours from light to dark along viridis, whose lightness rises steadily, so the
    order survives greyscale; the lightest yellow is left out, being too close to white paper."""
    def at(t: float) -> str:
        i = min(int(t * (len(VIRIDIS) - 1)), len(VIRIDIS) - 2)
        f = t * (len(VIRIDIS) - 1) - i
        a, b = (tuple(int(c[k:k + 2], 16) for k in (1, 3, 5)) for c in VIRIDIS[i:i + 2])
        return "#" + "".join(f"{round(p + (q - p) * f):02x}" for p, q in zip(a, b))
    return [at(0.92 - 0.92 * i / (count - 1)) if count > 1 else at(0.45) for i in range(count)]


def status_stack_chart(points: Sequence[tuple[dt.date, Mapping[str, int]]], statuses: Sequence[str],
                       labels: Mapping[str, str], *, number_format: NumberFormat = str) -> str:
    """How many documents are in each status over time, as stacked areas: the last (final) status at
    the bottom, darkest, the first on top, lightest (a cumulative-flow diagram). A count holds until
    the next point, so days without a point keep the last known state. Statuses met in the data but
    not in `statuses` go on top, as status.py gives them no progress. Labels: title, count (the
    y axis), empty, and a display name for any status (the status itself by default)."""
    extra = [s for _, counts in points for s in counts if s not in statuses]
    order = list(dict.fromkeys(extra)) + list(statuses)
    text = _labels(labels, {"title": "Documents per status", "count": "Documents", "empty": "No data",
                            **{s: s for s in order}})
    if not points:
        return _empty(text["title"], text["empty"])
    colours = dict(zip(order, _palette(len(order))))

    # The legend reads in workflow order; it may wrap, so it is laid out before the plot.
    legend: list[tuple[float, float, str]] = []
    lx, ly = 2.0, 10.0
    for status in order:
        width = 16 + text_width(text[status]) + 18
        if lx > 2 and lx + width > WIDTH:
            lx, ly = 2.0, ly + 20
        legend.append((lx, ly, status))
        lx += width
    top = ly + 56
    height = top + 230
    svg = _svg(height, text["title"])
    for lx, ly, status in legend:
        _swatch(svg, lx, ly, text[status], fill=colours[status])

    first = points[0][0]
    ends = [d for d, _ in points[1:]] + [points[-1][0] + dt.timedelta(days=1)]   # each count holds until the next
    totals = [sum(counts.get(s, 0) for s in order) for _, counts in points]
    frame = _time_frame(svg, first, ends[-1], max(totals), number_format, top=top, height=height,
                        right_pad=16, axis_title=text["count"])
    below = [0] * len(points)
    for status in reversed(order):
        above = [b + counts.get(status, 0) for b, (_, counts) in zip(below, points)]
        upper = [(frame.x(d.toordinal()), frame.y(v)) for (d, _), end, v in zip(points, ends, above)
                 for d in (d, end)]
        lower = [(frame.x(d.toordinal()), frame.y(v)) for (d, _), end, v in zip(points, ends, below)
                 for d in (d, end)]
        band = _el(svg, "polygon", points=" ".join(f"{_num(px)},{_num(py)}" for px, py in upper + lower[::-1]),
                   fill=colours[status], stroke="white", stroke_width=0.75, stroke_linejoin="round", class_="band")
        _el(band, "title", text[status])
        below = above
    return _render(svg)


def _field(row: Any, name: str, default: Any = None) -> Any:
    return row.get(name, default) if isinstance(row, Mapping) else getattr(row, name, default)


def chapter_bars_chart(rows: Sequence[Any], labels: Mapping[str, str], *,
                       number_format: NumberFormat = _thousands) -> str:
    """One horizontal bar per chapter: the measured length filled, the target as an outline from zero
    (the unfilled part is what is missing, an overrun sticks out), and the percentage of the target
    at the end (the length where there is no target). Late chapters get a red outline, a bold label
    and the word for late after the percentage, which a greyscale print keeps. Rows are mappings or
    objects with label, measured, target (int or None) and late (bool); labels longer than about 16
    CJK characters are cut with "…" (the full one is the tooltip). 28 units (7 mm) a row, so 30 rows
    fit an A4 page. Labels: title, measured, target, late (legend and mark), empty."""
    text = _labels(labels, {"title": "Length per chapter", "measured": "Measured", "target": "Target",
                            "late": "late", "empty": "No chapters"})
    if not rows:
        return _empty(text["title"], text["empty"])
    data = []
    for row in rows:
        measured, target = int(_field(row, "measured", 0)), _field(row, "target")
        target = int(target) if target else None   # a target of 0 has no percentage
        end = f"{round(100 * measured / target)}%" if target else number_format(measured)
        data.append((str(_field(row, "label", "")), measured, target, bool(_field(row, "late", False)), end))

    row_height, top = 28, 52
    height = top + row_height * len(data) + 6
    svg = _svg(height, text["title"])
    names = [truncate(label) for label, *_ in data]
    left = min(max(text_width(n) for n in names), text_width("中" * 16)) + 12
    end_room = max(text_width(end) + (8 + text_width(text["late"]) if late else 0)
                   for _, _, _, late, end in data) + 14
    ticks = nice_ticks(max(max(m, t or 0) for _, m, t, _, _ in data), count=4)
    x = _Scale(0, ticks[-1], left, WIDTH - end_room)

    lx = _swatch(svg, 2, 10, text["measured"], fill=FILL)
    lx = _swatch(svg, lx, 10, text["target"], fill="none", stroke=INK)
    _swatch(svg, lx, 10, text["late"], fill=FILL, stroke=LATE, stroke_width=2)
    for value in ticks:
        _el(svg, "line", x1=x(value), x2=x(value), y1=top - 6, y2=height - 6, stroke=GRID, class_="grid")
        tick = number_format(value)
        _text(svg, min(x(value), WIDTH - text_width(tick, SMALL) / 2), top - 14, tick, size=SMALL,
              anchor="middle", fill=MUTED, class_="tick-x")

    for i, ((label, measured, target, late, end), name) in enumerate(zip(data, names)):
        mid = top + row_height * (i + 0.5)
        shown = _text(svg, left - 8, mid, name, anchor="end", fill=LATE if late else INK, class_="row-label",
                      font_weight="bold" if late else None)
        if name != label:
            _el(shown, "title", label)
        _el(svg, "rect", x=left, y=mid - 6, width=x(measured) - left, height=12, fill=FILL, class_="bar",
            stroke=LATE if late else None, stroke_width=2 if late else None)
        if target:
            _el(svg, "rect", x=left, y=mid - 9, width=x(target) - left, height=18, fill="none", stroke=INK,
                class_="target")
        shown = _text(svg, max(x(measured), x(target or 0)) + 6, mid, end, fill=INK, class_="end-value")
        if late:    # a tspan, so the gap after the number does not depend on estimated widths
            _el(shown, "tspan", text["late"], dx=8, fill=LATE, font_weight="bold", class_="late")
    return _render(svg)


# --- terminal ----------------------------------------------------------------------------------

SPARKS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉"


def sparkline(values: Sequence[float], width: int = 20) -> str:
    """One block character per value, scaled between the smallest and the largest (a flat series
    lies at the bottom); more values than `width` are averaged in `width` runs."""
    if not values or width < 1:
        return ""
    n = len(values)
    if n > width:
        runs = [values[i * n // width:(i + 1) * n // width] for i in range(width)]
        values = [sum(run) / len(run) for run in runs]
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[round((v - low) / (high - low) * (len(SPARKS) - 1))] for v in values)


def bar(fraction: float, width: int = 20) -> str:
    """`width` columns filled to `fraction` in eighths of a column; past 1 the bar is full and a "+"
    follows (one column more), so an overrun is not mistaken for exactly done."""
    if not fraction > 0:        # also NaN
        fraction = 0.0
    eighths = round(min(fraction, 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part else "")
    return text.ljust(width) + ("+" if fraction > 1 else "")
