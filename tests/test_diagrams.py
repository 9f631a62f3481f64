"""The diagram stage, with real Chromium and mermaid (no mocks). One module-scoped render
session serves most tests, so the whole file runs in well under a minute."""
from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from pipeline import diagrams
from pipeline.config import DiagramSettings
from pipeline.diagrams import (DiagramBlock, advise_placement, find_diagrams, make_print_safe,
                               render_diagrams, resolve_css_vars)
from pipeline.errors import PipelineError

sys.path.insert(0, str(Path(__file__).parent))
from mermaid_ink_stub import StubServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "manuscript" / "002_f7d0318209cfb2cf.txt"
SVG = "{http://www.w3.org/2000/svg}"
HAN = re.compile(r"[\u4e00-\u9fff]")

CHINESE_FLOWCHART = """\
flowchart TD
    A[提出问题] --> B{是否需要检索?}
    B -->|是| C[检索知识库]
    B -->|否| D[直接回答]
    C --> E[生成答案]
    D --> E
"""
GANTT = """\
gantt
    title 出版计划
    dateFormat YYYY-MM-DD
    section 写作
    初稿 :a1, 2025-01-01, 30d
    审校 :after a1, 20d
"""
VENN_WITH_TEXT_NODES = """\
venn-beta
    title "团队技能重叠"
    set FE["前端"]:18
        text fe1["React"]
    set BE["后端"]:22
        text be1["数据库"]
    union FE,BE["全栈"]:8
"""


def block(code: str, line: int = 1, layout: str | None = None, file: str = "chapter.md") -> DiagramBlock:
    return DiagramBlock(code=code, file=Path(file), line=line, start=0, end=0, id=None, caption=None,
                        alt=None, layout=layout)


def texts_of(svg_path: Path) -> list[str]:
    root = etree.parse(str(svg_path)).getroot()
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def seed_block() -> DiagramBlock:
    (found,) = find_diagrams(SEED.read_text(encoding="utf-8"), SEED)
    return found


@pytest.fixture(scope="module")
def session(tmp_path_factory, seed_block):
    """One renderer run for the seed timeline, a Chinese flowchart, a gantt chart and a venn
    diagram (which keeps foreignObject in mermaid 11, so it exercises the PNG fallback)."""
    cache = tmp_path_factory.mktemp("diagram-cache")
    blocks = [seed_block, block(CHINESE_FLOWCHART, 10), block(GANTT, 20), block(VENN_WITH_TEXT_NODES, 30)]
    launches = diagrams.renderer_launches
    calls = []
    rendered = render_diagrams(blocks, DiagramSettings(), cache, progress=lambda d, n: calls.append((d, n)))
    assert diagrams.renderer_launches == launches + 1, "all diagrams must share one renderer run"
    return {"cache": cache, "blocks": blocks, "rendered": rendered, "progress": calls}


# ----------------------------------------------------------------------------- fences

def test_fences_with_attributes_titles_and_tildes():
    text = "\n".join([
        "# 标题",
        "```mermaid",
        "graph LR",
        "```",
        '```mermaid {#fig:glm-timeline caption="智谱发展 路线" alt="一条时间线" layout=landscape}',
        "timeline",
        "```",
        '```{.mermaid #fig:flow caption="流程"}',
        "flowchart TD",
        "```",
        '~~~mermaid "标题形式"',
        "pie",
        "~~~",
        "```python",
        "```mermaid",       # inside another fence: not a diagram
        "```",
    ])
    found = find_diagrams(text, Path("c.md"), first_line=5)
    assert [(b.line, b.start, b.end, b.code) for b in found] == [
        (6, 1, 4, "graph LR"), (9, 4, 7, "timeline"), (12, 7, 10, "flowchart TD"), (15, 10, 13, "pie")]
    assert (found[1].id, found[1].caption, found[1].alt, found[1].layout) == \
        ("fig:glm-timeline", "智谱发展 路线", "一条时间线", "landscape")
    assert (found[2].id, found[2].caption, found[2].layout) == ("fig:flow", "流程", None)
    assert (found[3].caption, found[3].id) == ("标题形式", None)
    assert found[0].caption is None and found[0].file == Path("c.md")


def test_seed_fence_position(seed_block):
    lines = SEED.read_text(encoding="utf-8").splitlines()
    assert lines[seed_block.line - 1].startswith("```mermaid")
    assert lines[seed_block.end - 1].strip() == "```" and seed_block.start == seed_block.line - 1
    assert seed_block.code.startswith("timeline") and "<br>" in seed_block.code


def test_bad_layout_attribute_names_the_fence():
    with pytest.raises(PipelineError) as caught:
        find_diagrams("text\n```mermaid {layout=sideways}\npie\n```\n", Path("c.md"), first_line=3)
    assert caught.value.line == 4 and "sideways" in caught.value.what


# ----------------------------------------------------------------------------- local rendering

def test_seed_timeline_has_chinese_text_and_no_foreign_object(session):
    timeline = session["rendered"][0]
    assert timeline.media_type == "image/svg+xml" and timeline.error is None
    svg = timeline.path.read_text(encoding="utf-8")
    assert "foreignObject" not in svg
    labels = texts_of(timeline.path)
    assert "ChatGLM/GLM 系列模型发展路线" in labels
    assert any("GLM算法提出" in label and "奠定架构基础" in label for label in labels)
    assert "Noto Sans CJK SC" in svg
    root = etree.fromstring(svg.encode())
    ids = [e.get("id") for e in root.iter() if e.get("id")]   # unique per diagram: all start with its own id
    assert len(ids) > 10 and all(i == root.get("id") or i.startswith(root.get("id") + "-") for i in ids)
    # the <br> fix: no empty <tspan> left to push the second line out of its box in WeasyPrint
    assert not re.search(r"<tspan[^>]*(/>|></tspan>)", svg)


def test_chinese_flowchart_has_text_elements_absolute_size_and_unique_ids(session):
    flow = session["rendered"][1]
    root = etree.parse(str(flow.path)).getroot()
    labels = texts_of(flow.path)
    assert {"提出问题", "检索知识库", "直接回答", "生成答案"} <= set(labels)
    assert "foreignObject" not in flow.path.read_text(encoding="utf-8")
    assert float(root.get("width")) == flow.width_px > 100 and float(root.get("height")) == flow.height_px > 100
    prefix = root.get("id")
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert all(i == prefix or i.startswith(prefix + "-") or i.startswith(prefix + "_") for i in ids)
    referenced = re.findall(r"url\(#([^)]+)\)", flow.path.read_text(encoding="utf-8"))
    assert referenced and set(referenced) <= set(ids)


def test_gantt_ticks_are_not_faded(session):
    gantt = session["rendered"][2]
    svg = gantt.path.read_text(encoding="utf-8")
    assert re.search(r"\.grid \.tick\{opacity:1;?\}", svg)
    assert 'class="today"' not in svg, "the today marker would make the build depend on the date"
    assert "初稿" in [label.strip() for label in texts_of(gantt.path)]


def test_foreign_object_diagram_falls_back_to_2x_png(session):
    venn = session["rendered"][3]
    assert venn.media_type == "image/png" and venn.path.suffix == ".png"
    from PIL import Image
    with Image.open(venn.path) as image:
        assert image.size == (round(venn.width_px * 2), round(venn.height_px * 2))


def test_progress_is_reported(session):
    assert session["progress"][0] == (0, 4) and session["progress"][-1] == (4, 4)


def test_cache_hit_starts_no_browser_or_node(session, monkeypatch):
    monkeypatch.setenv("BOOK_CHROMIUM", "/nonexistent/chromium")   # a launch would now fail
    launches = diagrams.renderer_launches
    again = render_diagrams(session["blocks"], DiagramSettings(), session["cache"])
    assert diagrams.renderer_launches == launches
    assert [r.path for r in again] == [r.path for r in session["rendered"]]


def test_syntax_error_names_file_line_and_mermaids_message(session):
    broken = block("flowchart LR\n    A[开始] --> \n", line=42, file="chapters/06.md")
    with pytest.raises(PipelineError) as caught:
        render_diagrams([session["blocks"][1], broken], DiagramSettings(), session["cache"])
    error = caught.value
    assert (error.file, error.line) == (Path("chapters/06.md"), 42)
    assert "Parse error" in error.what and "of the file)" in error.what and error.hint
    assert str(error).startswith("chapters/06.md:42: ")


def test_draft_mode_draws_a_placeholder_with_the_error(session):
    broken = block("sequenceDiagram\n  甲->>乙 消息缺少冒号\n", line=7)
    good, placeholder = render_diagrams([session["blocks"][1], broken], DiagramSettings(), session["cache"],
                                        draft=True)
    assert good.error is None
    assert placeholder.error and "Parse error" in placeholder.error
    labels = " ".join(texts_of(placeholder.path))
    assert "chapter.md:7" in labels and "Parse error" in labels


def test_missing_chromium_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(PipelineError) as caught:
        render_diagrams([block("pie\n  \"甲\" : 1\n")], DiagramSettings(), tmp_path)
    assert "BOOK_CHROMIUM" in caught.value.what
    monkeypatch.delenv("BOOK_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))   # no chromium anywhere on PATH
    with pytest.raises(PipelineError) as caught:
        render_diagrams([block("pie\n  \"甲\" : 1\n")], DiagramSettings(), tmp_path)
    assert "Chromium is not installed" in caught.value.what and "install chromium" in caught.value.hint.lower()


def test_hung_render_times_out(tmp_path):
    # 200 nodes take far longer than 1 ms to lay out: the renderer must give up and say so.
    big = "flowchart LR\n" + "\n".join(f"  n{i}[节点{i}] --> n{i + 1}[节点{i + 1}]" for i in range(200))
    with pytest.raises(PipelineError) as caught:
        render_diagrams([block(big, line=3)], DiagramSettings(timeout=0.001), tmp_path)
    assert caught.value.line == 3 and "did not finish within" in caught.value.what
    assert "diagrams.timeout" in caught.value.hint


# ----------------------------------------------------------------------------- placement

def test_wide_seed_timeline_goes_landscape_unless_told_otherwise(session):
    timeline = session["rendered"][0]
    assert timeline.width_px > 2000 and timeline.placement == "landscape"
    assert session["rendered"][1].placement == "inline"
    cache = session["cache"]
    scaled = render_diagrams([timeline.block], DiagramSettings(layout="scale"), cache)[0]
    assert scaled.placement == "inline"
    # a fence attribute overrides book.yaml
    fence_says_scale = replace(timeline.block, layout="scale")
    forced = render_diagrams([fence_says_scale], DiagramSettings(layout="landscape"), cache)[0]
    assert forced.placement == "inline"
    fence_says_landscape = replace(session["blocks"][1], layout="landscape")
    assert render_diagrams([fence_says_landscape], DiagramSettings(), cache)[0].placement == "landscape"


def test_placement_rule():
    # 491 px text width at 130 mm: 16 px text in a 980 px diagram shrinks to 6.0 pt
    assert advise_placement(980, 16, "auto", 130, 6.5) == "landscape"
    assert advise_placement(980, 16, "auto", 130, 5.5) == "inline"
    assert advise_placement(400, 16, "auto", 130, 6.5) == "inline"
    assert advise_placement(400, 16, "landscape", 130, 6.5) == "landscape"
    assert advise_placement(4000, 16, "scale", 130, 6.5) == "inline"


# ----------------------------------------------------------------------------- SVG fixes

def test_print_safe_fixes():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" id="x" width="100%">'
           '<style>.a{font-size:var(--size, 12px)} #arrow{fill:red}</style>'
           '<defs><marker id="arrow"/></defs><path marker-end="url(#arrow)"/>'
           '<text><tspan dy="1em"></tspan><tspan dy="1.1em">甲</tspan></text></svg>')
    safe = make_print_safe(svg, "m123", 300, 200)
    root = etree.fromstring(safe.encode())
    assert (root.get("width"), root.get("height"), root.get("id")) == ("300", "200", "m123-x")
    assert 'id="m123-arrow"' in safe and "url(#m123-arrow)" in safe and "#m123-arrow{" in safe
    assert "var(" not in safe and "font-size:12px" in safe
    assert len(list(root.iter(f"{SVG}tspan"))) == 1


def test_css_var_takes_the_definition_before_the_fallback():
    assert resolve_css_vars("a{--s:14px} b{font-size:var(--s, 9px)}") == "a{--s:14px} b{font-size:14px}"


# ----------------------------------------------------------------------------- remote renderer

def test_remote_renderer_through_a_mermaid_ink_compatible_server(tmp_path, monkeypatch):
    monkeypatch.delenv("MERMAID_INK_SERVER", raising=False)
    with StubServer() as server:
        settings = DiagramSettings(renderer="remote", server=server.url, timeout=10)
        launches = diagrams.renderer_launches
        (rendered,) = render_diagrams([block(CHINESE_FLOWCHART)], settings, tmp_path)
        assert diagrams.renderer_launches == launches, "the remote renderer must not start node"
        svg_source = next(source for kind, source in server.requests if kind == "svg")
        assert svg_source.startswith("%%{init:") and '"htmlLabels": false' in svg_source
        assert "检索知识库" in svg_source
        assert rendered.media_type == "image/svg+xml" and rendered.width_px == 400
        root = etree.parse(str(rendered.path)).getroot()
        assert root.get("width") == "400" and root.get("id").startswith("m")
        assert "B -->|是| C[检索知识库]" in texts_of(rendered.path)
        assert not re.search(r"<tspan[^>]*(/>|></tspan>)", rendered.path.read_text(encoding="utf-8"))
        with pytest.raises(PipelineError) as caught:
            render_diagrams([block("不是图表\n", line=9)], settings, tmp_path)
        assert caught.value.line == 9 and "Parse error" in caught.value.what
