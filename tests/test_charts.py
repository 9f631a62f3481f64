"""The status report's charts (pipeline/charts.py): well-formed SVG with one mark per datum, marks
where the scale puts them, caller's text escaped, date ticks that don't collide, and the terminal's
block-character sparkline and bar."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
import xml.etree.ElementTree as ET

import pytest

from pipeline import charts

NS = "{http://www.w3.org/2000/svg}"
DAY = dt.timedelta(days=1)
START = dt.date(2024, 9, 1)
LABELS = {"title": "书稿字数", "measured": "实测字数", "target": "目标", "due": "交稿"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and root.get("role") == "img" and root.get("width") == "100%"
    assert root[0].tag == f"{NS}title" and root.get("aria-label") == root[0].text
    assert "Noto Sans CJK SC" in root.get("font-family")
    return root


def marks(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if e.get("class") == cls]


def daily(n: int, step: int = 1, start: int = 0) -> list[tuple[dt.date, int]]:
    return [(START + i * step * DAY, start + 1000 * i) for i in range(n)]


def estimated_width(text: str, size: float) -> float:
    """Independent of charts.text_width: CJK (and ambiguous) characters 1 em, anything else 0.6 em."""
    return sum(size if unicodedata.east_asian_width(c) in "WFA" else 0.6 * size for c in text)


# --- burn-up -----------------------------------------------------------------------------------

def test_burnup_one_dot_per_point_spaced_by_date():
    points = [(START, 100), (START + DAY, 300), (START + 5 * DAY, 900)]    # a gap of four days
    root = parse(charts.burnup_chart(points, 1000, LABELS))
    dots = marks(root, "circle", "dot")
    assert len(dots) == 3
    xs = [float(d.get("cx")) for d in dots]
    assert xs[2] - xs[1] == pytest.approx(4 * (xs[1] - xs[0]), abs=0.2)
    assert len(marks(root, "polyline", "measured")) == 1


def test_burnup_many_points_are_a_line_without_dots():
    root = parse(charts.burnup_chart(daily(200), None, LABELS))
    line, = marks(root, "polyline", "measured")
    assert len(line.get("points").split()) == 200
    assert not marks(root, "circle", "dot")


def y_of(root: ET.Element, value: int) -> float:
    """The y of a value by the chart's own grid: the grid lines are drawn in the order of the labels."""
    ticks = [int(t.text.replace(",", "")) for t in marks(root, "text", "tick-y")]
    ys = [float(g.get("y1")) for g in marks(root, "line", "grid")]
    assert len(ticks) == len(ys) >= 2 and ticks[0] == 0
    return ys[0] + (value - ticks[0]) * (ys[-1] - ys[0]) / (ticks[-1] - ticks[0])


@pytest.mark.parametrize("target", [50_000, 100_000, 3_000])    # inside, at the top of, below the data
def test_burnup_target_line_at_its_value(target):
    points = [(START, 0), (START + 10 * DAY, 40_000), (START + 20 * DAY, 80_000)]
    root = parse(charts.burnup_chart(points, target, LABELS))
    ticks = [t.text for t in marks(root, "text", "tick-y")]
    assert ticks == ["0", "20,000", "40,000", "60,000", "80,000", "100,000"][:len(ticks)]
    line, = marks(root, "line", "target")
    assert float(line.get("y1")) == float(line.get("y2")) == pytest.approx(y_of(root, target), abs=0.1)
    label, = marks(root, "text", "target-label")
    assert label.text == f"目标 {target:,}"
    last_dot = marks(root, "circle", "dot")[-1]
    assert float(last_dot.get("cy")) == pytest.approx(y_of(root, 80_000), abs=0.1)


def test_burnup_ticks_cover_a_target_above_the_data():
    root = parse(charts.burnup_chart(daily(5), 250_000, LABELS, number_format=lambda n: f"{n // 10_000}万"))
    ticks = [t.text for t in marks(root, "text", "tick-y")]
    assert ticks[0] == "0万" and ticks[-1] == "25万"
    line, = marks(root, "line", "target")
    top = min(float(g.get("y1")) for g in marks(root, "line", "grid"))
    assert float(line.get("y1")) == pytest.approx(top)


def test_burnup_due_marker_and_label():
    root = parse(charts.burnup_chart(daily(10), None, LABELS, due=START + 30 * DAY))
    line, = marks(root, "line", "due")
    dots = marks(root, "circle", "dot")
    x0, x9 = float(dots[0].get("cx")), float(dots[9].get("cx"))     # coordinates are rounded to 0.1
    assert float(line.get("x1")) == pytest.approx(x0 + 30 / 9 * (x9 - x0), abs=0.5)   # the axis reaches the due date
    label, = marks(root, "text", "due-label")
    assert label.text == "交稿 2024-10-01"


@pytest.mark.parametrize("points", [[(START, 12_345)], [(START, 0)],
                                    [(START + i * DAY, 0) for i in range(50)],
                                    [(START + i * DAY, 7_000) for i in range(5)]])
def test_burnup_edge_cases(points):
    root = parse(charts.burnup_chart(points, None, LABELS))
    assert not marks(root, "line", "target")
    dots = marks(root, "circle", "dot")
    assert len(dots) == (len(points) if len(points) <= charts.FEW_POINTS else 0)
    for dot in dots:
        assert 0 < float(dot.get("cx")) < charts.WIDTH
        assert float(dot.get("cy")) == pytest.approx(y_of(root, points[0][1]), abs=0.1)
    end, = marks(root, "text", "end-value")
    assert end.text == f"{points[-1][1]:,}"
    assert date_ticks(root)[0].startswith("2024-09-")
    if len(points) == 1:                                  # a single day is drawn in the middle, not on the axis
        grid = marks(root, "line", "grid")[0]
        assert float(dots[0].get("cx")) == pytest.approx((float(grid.get("x1")) + float(grid.get("x2"))) / 2, abs=0.1)


def test_no_points_says_so():
    root = parse(charts.burnup_chart([], 1000, {**LABELS, "empty": "暂无数据"}))
    assert [t.text for t in root.iter(f"{NS}text")] == ["暂无数据"]


def date_ticks(root: ET.Element) -> list[str]:
    """The x-axis labels, after checking that they lie inside the picture and apart."""
    ticks = marks(root, "text", "tick-x")
    boxes = []
    for t in ticks:
        x, width = float(t.get("x")), estimated_width(t.text, float(t.get("font-size")))
        assert t.get("text-anchor") == "middle" and 0 <= x - width / 2 and x + width / 2 <= charts.WIDTH
        boxes.append((x - width / 2, x + width / 2))
    for (_, right), (left, _) in zip(boxes, boxes[1:]):
        assert right < left
    return [t.text for t in ticks]


def test_date_ticks_do_not_overlap_for_200_days():
    points = [(START + i * DAY, i * 700) for i in range(0, 400, 2)]     # 200 points over more than a year
    texts = date_ticks(parse(charts.burnup_chart(points, None, LABELS)))
    assert 3 <= len(texts) <= 15
    assert texts[0] == "2024-09-01" and "2025-01-01" in texts and "11-01" in texts   # the year only where new
    assert all(re.fullmatch(r"(\d{4}-)?\d\d-\d\d", t) for t in texts)


@pytest.mark.parametrize("days", [1, 3, 10, 40, 100, 800, 4000])
def test_date_ticks_fit_any_span(days):
    points = [(START + i * DAY, {"draft": 1}) for i in range(0, days, max(1, days // 50))]
    root = parse(charts.status_stack_chart(points, ["draft"], {}))
    assert 1 <= len(date_ticks(root)) <= 15


def test_labels_are_escaped():
    evil = "a<b&c"
    svg = charts.burnup_chart(daily(3), 100, {"title": evil, "measured": evil, "target": evil})
    root = parse(svg)
    assert root.get("aria-label") == evil
    assert marks(root, "text", "axis-title")[0].text == evil
    assert marks(root, "text", "target-label")[0].text.startswith(evil)
    assert "a<b" not in svg and "a&lt;b&amp;c" in svg


def test_unknown_label_key_is_refused():
    with pytest.raises(ValueError, match="mesured"):
        charts.burnup_chart(daily(3), None, {"mesured": "实测字数"})


# --- status stack ------------------------------------------------------------------------------

STATUSES = ["draft", "review", "final"]


def test_status_stack_one_band_per_status_and_legend_in_workflow_order():
    points = [(START, {"draft": 3}), (START + 2 * DAY, {"draft": 1, "review": 1, "final": 1}),
              (START + 3 * DAY, {"final": 3})]
    names = {"title": "各状态文档数", "count": "文档数", "draft": "草稿", "review": "审读", "final": "定稿"}
    root = parse(charts.status_stack_chart(points, STATUSES, names))
    bands = marks(root, "polygon", "band")
    assert [b.find(f"{NS}title").text for b in bands] == ["定稿", "审读", "草稿"]     # drawn bottom up
    assert [t.text for t in marks(root, "text", "legend")] == ["草稿", "审读", "定稿"]
    fills = [b.get("fill") for b in bands]
    assert len(set(fills)) == 3 and [s.get("fill") for s in marks(root, "rect", "swatch")] == fills[::-1]
    # Each band's outline is the step of its upper edge out and the lower edge back: 2 corners a point.
    top = [tuple(map(float, p.split(","))) for p in bands[-1].get("points").split()]
    assert len(top) == 4 * len(points)
    assert {round(y, 1) for _, y in top[:2 * len(points)]} == {round(y_of(root, 3), 1)}   # the total is 3
    final = [tuple(map(float, p.split(","))) for p in bands[0].get("points").split()]
    assert [round(y, 1) for _, y in final[:6:2]] == [round(y_of(root, v), 1) for v in (0, 1, 3)]
    xs = [x for x, _ in final[:6]]
    assert xs[1] == xs[2] and xs[3] == xs[4]             # a count holds until the next point, over the gap
    assert xs[2] - xs[0] == pytest.approx(2 * (xs[4] - xs[2]), abs=0.2)


def test_status_stack_single_point_and_unknown_status():
    root = parse(charts.status_stack_chart([(START, {"draft": 2, "typo": 1})], STATUSES, {}))
    assert [t.text for t in marks(root, "text", "legend")] == ["typo", *STATUSES]
    assert len(marks(root, "polygon", "band")) == 4
    assert [t.text for t in marks(root, "text", "tick-y")][-1] == "3"


def test_status_stack_legend_wraps_inside_the_picture():
    many = [f"状态{i}很长的名字" for i in range(12)]
    root = parse(charts.status_stack_chart([(START, {s: 1 for s in many})], many, {}))
    for label in marks(root, "text", "legend"):
        assert float(label.get("x")) + estimated_width(label.text, charts.SIZE) <= charts.WIDTH
    assert len({label.get("y") for label in marks(root, "text", "legend")}) > 1


# --- chapter bars ------------------------------------------------------------------------------

class Row:
    def __init__(self, label, measured, target, late=False):
        self.label, self.measured, self.target, self.late = label, measured, target, late


def test_chapter_bars_one_bar_per_row_with_target_and_percentage():
    rows = [{"label": "第1章 开端", "measured": 5000, "target": 10000, "late": False},
            Row("第2章 a<b&c", 12000, 10000, late=True),
            {"label": "附录", "measured": 0, "target": None}]
    root = parse(charts.chapter_bars_chart(rows, {"title": "各章字数", "late": "逾期"}))
    bars = marks(root, "rect", "bar")
    targets = marks(root, "rect", "target")
    assert len(bars) == 3 and len(targets) == 2
    widths = [float(b.get("width")) for b in bars]
    assert float(targets[0].get("width")) == pytest.approx(2 * widths[0], abs=0.2)
    assert widths[1] == pytest.approx(2.4 * widths[0], abs=0.2) and widths[2] == 0
    assert [t.text for t in marks(root, "text", "end-value")] == ["50%", "120%", "0"]
    assert [t.text for t in marks(root, "text", "row-label")] == ["第1章 开端", "第2章 a<b&c", "附录"]
    late, = marks(root, "tspan", "late")
    assert late.text == "逾期"
    assert [b.get("stroke") for b in bars] == [None, charts.LATE, None]


def test_chapter_labels_are_truncated_by_width():
    long = "第12章 " + "很长的标题" * 6
    root = parse(charts.chapter_bars_chart([Row(long, 1, 2), Row("Short", 1, 2)], {}))
    shown = marks(root, "text", "row-label")
    assert shown[0].text.endswith("…") and shown[0].text[:-1] in long
    assert sum(2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in shown[0].text) <= 32
    assert shown[0].find(f"{NS}title").text == long
    assert shown[1].text == "Short" and shown[1].find(f"{NS}title") is None
    assert charts.truncate("a" * 32) == "a" * 32 and charts.truncate("中" * 17) == "中" * 15 + "…"


def test_thirty_chapters_fit_an_a4_page():
    rows = [Row(f"第{i}章 标题", 1000 * i, 20000, late=i % 5 == 0) for i in range(1, 31)]
    root = parse(charts.chapter_bars_chart(rows, {}))
    assert len(marks(root, "rect", "bar")) == 30 and len(marks(root, "tspan", "late")) == 6
    _, _, width, height = map(float, root.get("viewBox").split())
    assert height / width * 180 <= 267 - 20      # mm, printed 180 mm wide, with room for a heading
    for text in marks(root, "text", "end-value"):
        assert float(text.get("x")) + estimated_width(text.text, charts.SIZE) <= width


def test_nice_ticks():
    assert charts.nice_ticks(80_000) == list(range(0, 80_001, 20_000))
    assert charts.nice_ticks(81_000) == list(range(0, 100_001, 20_000))
    assert charts.nice_ticks(0) == [0, 1]
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(3) == [0, 1, 2, 3]


# --- terminal ----------------------------------------------------------------------------------

def test_sparkline():
    assert charts.sparkline(range(8)) == "▁▂▃▄▅▆▇█"
    assert charts.sparkline([5, 5, 5]) == "▁▁▁" and charts.sparkline([0]) == "▁" and charts.sparkline([]) == ""
    assert charts.sparkline([0, 10, 5]) == "▁█▅"
    rising = charts.sparkline(list(range(40)), width=20)
    assert len(rising) == 20 and rising[0] == "▁" and rising[-1] == "█" and list(rising) == sorted(rising)
    assert len(charts.sparkline(list(range(1000)), width=7)) == 7


def test_bar():
    assert charts.bar(0.5, 10) == "█████     "
    assert charts.bar(0.55, 10) == "█████▌    "
    assert charts.bar(1 / 16, 2) == "▏ "
    assert charts.bar(0, 4) == "    " and charts.bar(-3, 4) == "    " and charts.bar(float("nan"), 4) == "    "
    assert charts.bar(1.0, 4) == "████"
    assert charts.bar(1.3, 4) == "████+"
