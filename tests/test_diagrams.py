"""The diagram stage, with real pandoc, Chromium and mermaid (no mocks).

Every mermaid source here is the test's own: the live manuscript/ is never read. Fences are
read the way the build reads them: a Markdown file -> pipeline.documents.read_document ->
pipeline.parse.markdown_tree -> find_diagrams. One module-scoped render session serves most
rendering tests, so the slow part of this file starts Chromium only a few times."""
from __future__ import annotations

import contextlib
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from pipeline import diagrams
from pipeline.config import DiagramSettings, DocRef, load_config
from pipeline.diagnostics import Diagnostics
from pipeline.diagrams import (PX_PER_MM, DiagramBlock, _Artifact, _Page, advise_placement, find_diagrams,
                               html_label_config, make_print_safe, placeholder_svg, prefers_transposed, print_fit,
                               render_diagrams, resolve_css_vars, transpose_flowchart)
from pipeline.documents import Document, read_document
from pipeline.errors import BuildStopped, PipelineError
from pipeline.parse import markdown_tree

sys.path.insert(0, str(Path(__file__).parent))
from mermaid_ink_stub import StubServer  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"

# The shape of a real chapter's timeline: three sections, nine events, Chinese labels with
# <br> line breaks. Wide enough (about 2200 px) that fitting it to the text width would shrink
# its text below the print minimum, so `auto` sends it to a landscape page.
TIMELINE = """\
timeline
    title 某实验室大模型发展路线
    section 技术奠基期
      2019 : 提出新的预训练算法<br>奠定架构基础
      2021 : 发布百亿参数模型<br>推出万亿参数模型“启明”
      2022 : 开源千亿参数模型<br>开放生态起步
    section 对话与应用突破
      2023 : 推出对话模型<br>开源多模态模型
      2024初 : 发布新一代基座模型<br>上线个性化智能体定制
      2024底 : 推出手机智能体<br>实现跨应用操作
    section 智能体与生态深化
      2025初 : 智能体登陆手机厂商<br>开启移动端AI
      2025 Q1 : 发布深度思考智能体<br>免费开放强反思能力
      2025及以后 : 推进智能体操作系统愿景<br>构建通用计算系统"""
CHINESE_FLOWCHART = """\
flowchart TD
    A[提出问题] --> B{是否需要检索?}
    B -->|是| C[检索知识库]
    B -->|否| D[直接回答]
    C --> E[生成答案]
    D --> E"""
GANTT = """\
gantt
    title 出版计划
    dateFormat YYYY-MM-DD
    section 写作
    初稿 :a1, 2025-01-01, 30d
    审校 :after a1, 20d"""
VENN_WITH_TEXT_NODES = """\
venn-beta
    title "团队技能重叠"
    set FE["前端"]:18
        text fe1["React"]
    set BE["后端"]:22
        text be1["数据库"]
    union FE,BE["全栈"]:8"""
# A valid state diagram that mermaid's SVG-text labels cannot draw: a note holding a paragraph
# and a Markdown list fails with "splitLineToFitWidth does not support newlines in the line".
# mermaid draws it with HTML labels; the renderer does too, and converts them to SVG text.
STATE_WITH_LIST_NOTE = """\
stateDiagram-v2
    [*] --> 草稿
    草稿 --> 定稿 : 审校通过
    定稿 --> [*]
    note right of 草稿
        要点：
        - 作者写作初稿
        - 编辑审校
    end note"""
# Fails as SVG text (the Markdown list label) and keeps, with HTML labels, a label that cannot
# become SVG text (a <ul> with bullets): the one case left for the 2x PNG.
HTML_LIST_LABEL = """\
flowchart TD
    A["`要点：
    - 作者写作初稿
    - 编辑审校`"] --> B["<ul><li>第一项</li><li>第二项</li></ul>"]"""
# Broken on the diagram's own line 3 (mermaid: "Parse error on line 3").
BROKEN_FLOWCHART = """\
flowchart LR
    A[开始] --> B[继续]
    B --> C[[[ 错误
    C --> D[结束]"""
# Broken on the diagram's own line 2.
BROKEN_SEQUENCE = """\
sequenceDiagram
  甲->>乙 消息缺少冒号"""

SESSION_CHAPTER = f"""\
# 第一章 发展历程

本章回顾某实验室的发展。

```mermaid {{#fig-timeline caption="发展路线"}}
{TIMELINE}
```

检索增强的流程如下。

```mermaid {{#fig-flow caption="检索流程"}}
{CHINESE_FLOWCHART}
```

```mermaid
{GANTT}
```

```mermaid
{VENN_WITH_TEXT_NODES}
```

```mermaid
{STATE_WITH_LIST_NOTE}
```

```mermaid
{HTML_LIST_LABEL}
```
"""


# ----------------------------------------------------------------------------- helpers

def document_of(markdown: str, folder: Path, name: str = "chapter.md",
                front_matter: str = "title: 测试章节\n") -> Document:
    """A Markdown body written to `folder/name` under front matter, read and parsed as the build does."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front_matter}---\n{markdown}", encoding="utf-8")
    document = read_document(DocRef(path), "chapter")
    document.tree = markdown_tree(document.body, document.body_line, folder / "pandoc")
    return document


def blocks_of(markdown: str, folder: Path, name: str = "chapter.md", **kwargs) -> tuple[list[DiagramBlock], Diagnostics]:
    diagnostics = Diagnostics()
    document = document_of(markdown, folder, name, **kwargs)
    return [found for _, found in find_diagrams(document, diagnostics)], diagnostics


def file_line(path: Path, starts_with: str, occurrence: int = 1) -> int:
    """The 1-based line of a file that starts with `starts_with` (counted by the test, not by pandoc)."""
    lines = [number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if line.startswith(starts_with)]
    return lines[occurrence - 1]


def block(code: str, line: int = 1, layout: str | None = None, file: str = "chapter.md") -> DiagramBlock:
    return DiagramBlock(code=code, file=Path(file), line=line, id=None, caption=None, alt=None, layout=layout)


def texts_of(svg_path: Path) -> list[str]:
    root = etree.parse(str(svg_path)).getroot()
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def of_code(diagnostics: Diagnostics, code: str) -> list:
    return [d for d in diagnostics if d.code == code]


# ----------------------------------------------------------------------------- fences (pandoc, no browser)

FENCE_FORMS = """\
# 标题

```mermaid
graph LR
```

```mermaid {#fig:glm-timeline caption="智谱发展 路线" alt="一条时间线" layout=landscape}
timeline
```

```{.mermaid #fig:flow caption="流程"}
flowchart TD
```

~~~mermaid "标题形式"
pie
~~~

````markdown
```mermaid
graph TD
```
````

```python
```mermaid
```

````mermaid
graph
```
内层
```
````
"""


def test_fences_with_attributes_titles_and_tildes(tmp_path):
    document = document_of(FENCE_FORMS, tmp_path, "c.md", front_matter="title: 测试\nstatus: draft\n")
    diagnostics = Diagnostics()
    found = find_diagrams(document, diagnostics)
    blocks = [b for _, b in found]
    path = document.path
    expected_lines = [file_line(path, "```mermaid", 1), file_line(path, "```mermaid {"), file_line(path, "```{.mermaid"),
                      file_line(path, "~~~mermaid"), file_line(path, "````mermaid")]
    assert expected_lines[0] == 7   # 4 lines of front matter, then "# 标题", a blank line, the fence
    assert [(b.line, b.code) for b in blocks] == list(zip(expected_lines, [
        "graph LR", "timeline", "flowchart TD", "pie", "graph\n```\n内层\n```"]))
    assert (blocks[1].id, blocks[1].caption, blocks[1].alt, blocks[1].layout) == \
        ("fig:glm-timeline", "智谱发展 路线", "一条时间线", "landscape")
    assert (blocks[2].id, blocks[2].caption, blocks[2].layout) == ("fig:flow", "流程", None)
    assert (blocks[3].caption, blocks[3].id) == ("标题形式", None)
    assert blocks[0].caption is None and blocks[0].id is None and all(b.file == path for b in blocks)
    # the elements returned are the tree's own <pre>s, in document order
    assert [pre for pre, _ in found] == [p for p in document.tree.iter("pre") if "mermaid" in (p.get("class") or "")]
    assert len(diagnostics) == 0


def test_mermaid_example_inside_another_fence_is_not_a_diagram(tmp_path):
    markdown = ("写法示例：\n\n````markdown\n```mermaid {#fig:example}\nflowchart LR\n  A --> B\n```\n````\n\n"
                "```python\n```mermaid\n```\n")
    blocks, diagnostics = blocks_of(markdown, tmp_path)
    assert blocks == [] and len(diagnostics) == 0


def test_fence_line_is_the_files_line_not_the_bodys(tmp_path):
    front = "".join(f"key{i}: {i}\n" for i in range(9))   # a long front matter: body starts at line 12
    markdown = "段落一。\n\n段落二，\n跨两行。\n\n- 列表\n- 列表\n\n```mermaid\npie\n  \"甲\" : 1\n```\n"
    document = document_of(markdown, tmp_path, front_matter=front)
    (pre, found), = find_diagrams(document, Diagnostics())
    assert document.body_line == 12
    assert found.line == 12 + 8 == file_line(document.path, "```mermaid")
    assert document.source_line(found.line) == "```mermaid"
    # the source text reaches mermaid as written: straight quotes are not paired into “” in code
    assert found.code == 'pie\n  "甲" : 1'


def test_more_fence_spellings(tmp_path):
    markdown = ("```mermaid{#fig:a}\npie\n```\n\n"
                '```mermaid "标题" {#fig:b alt="替代"}\npie\n```\n\n'
                "```mermaid “弯引号标题”\npie\n```\n\n"
                "```{.diagram .mermaid #fig:c}\npie\n```\n\n"
                "```mermaidx\npie\n```\n\n"
                "```{.python}\npie\n```\n")
    blocks, diagnostics = blocks_of(markdown, tmp_path)
    assert [(b.id, b.caption, b.alt) for b in blocks] == [
        ("fig:a", None, None), ("fig:b", "标题", "替代"), (None, "弯引号标题", None), ("fig:c", None, None)]
    assert len(diagnostics) == 0


def test_crlf_file_gives_the_same_lines(tmp_path):
    unix, _ = blocks_of(FENCE_FORMS, tmp_path, "unix.md")
    windows, _ = blocks_of(FENCE_FORMS.replace("\n", "\r\n"), tmp_path, "windows.md")
    assert [(b.line, b.code, b.id, b.caption) for b in windows] == [(b.line, b.code, b.id, b.caption) for b in unix]
    assert len(unix) == 5


def test_bad_layout_attribute_is_a_diagnostic_naming_the_fence(tmp_path):
    blocks, diagnostics = blocks_of("正文\n\n```mermaid {layout=sideways}\npie\n```\n\n```mermaid {layout=scale}\npie\n```\n",
                                    tmp_path)
    (problem,) = diagnostics
    assert problem.code == "diagram-attribute" and problem.is_error
    assert (problem.file, problem.line) == (tmp_path / "chapter.md", 4 + 2)
    assert "sideways" in problem.message and "layout=landscape" in problem.hint
    # the diagram is still drawn, with the book's layout; the valid one keeps its own
    assert [b.layout for b in blocks] == [None, "scale"]


@pytest.mark.parametrize("markdown, fence_line", [
    ("- 第一步：\n\n  ```mermaid\n  flowchart LR\n    A --> B\n  ```\n", 6),
    ("> 引用中的图：\n>\n> ```mermaid\n> flowchart LR\n>   A --> B\n> ```\n", 6),
], ids=["list-item", "block-quote"])
def test_diagram_nested_in_a_list_item_or_quote_is_found(tmp_path, markdown, fence_line):
    blocks, _ = blocks_of(markdown, tmp_path)
    assert [(b.line, b.code) for b in blocks] == [(fence_line, "flowchart LR\n  A --> B")]


# ----------------------------------------------------------------------------- local rendering

@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One renderer run for a chapter holding a Chinese timeline, a Chinese flowchart, a gantt
    chart, a venn diagram (whose text nodes are HTML in mermaid 11, converted to SVG text), the
    state diagram SVG-text labels cannot draw, and a diagram that needs the PNG fallback."""
    folder = tmp_path_factory.mktemp("diagram-session")
    document = document_of(SESSION_CHAPTER, folder)
    found = find_diagrams(document, Diagnostics())
    blocks = [b for _, b in found]
    assert [b.code for b in blocks] == [TIMELINE, CHINESE_FLOWCHART, GANTT, VENN_WITH_TEXT_NODES,
                                        STATE_WITH_LIST_NOTE, HTML_LIST_LABEL]
    cache = folder / "cache"
    launches = diagrams.renderer_launches
    calls = []
    diagnostics = Diagnostics()
    rendered = render_diagrams(blocks, DiagramSettings(), cache, diagnostics=diagnostics,
                               progress=lambda d, n: calls.append((d, n)))
    assert diagrams.renderer_launches == launches + 1, "all diagrams must share one renderer run"
    return {"folder": folder, "cache": cache, "document": document, "blocks": blocks, "rendered": rendered,
            "progress": calls, "diagnostics": diagnostics}


@pytest.mark.slow
def test_timeline_has_chinese_text_and_no_foreign_object(session):
    timeline = session["rendered"][0]
    assert timeline.media_type == "image/svg+xml" and timeline.error is None
    svg = timeline.path.read_text(encoding="utf-8")
    assert "foreignObject" not in svg
    labels = texts_of(timeline.path)
    assert "某实验室大模型发展路线" in labels
    assert any("提出新的预训练算法" in label and "奠定架构基础" in label for label in labels)
    assert "Noto Sans CJK SC" in svg
    root = etree.fromstring(svg.encode())
    ids = [e.get("id") for e in root.iter() if e.get("id")]   # unique per diagram: all start with its own id
    assert len(ids) > 10 and all(i == root.get("id") or i.startswith(root.get("id") + "-") for i in ids)
    # the <br> fix: no empty <tspan> left to push the second line out of its box in WeasyPrint
    assert not re.search(r"<tspan[^>]*(/>|></tspan>)", svg)


@pytest.mark.slow
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
    # two diagrams on one page never share an id
    timeline_ids = {e.get("id") for e in etree.parse(str(session["rendered"][0].path)).getroot().iter()}
    assert not (set(ids) & timeline_ids)


@pytest.mark.slow
def test_gantt_ticks_are_not_faded(session):
    gantt = session["rendered"][2]
    svg = gantt.path.read_text(encoding="utf-8")
    assert re.search(r"\.grid \.tick\{opacity:1;?\}", svg)
    assert 'class="today"' not in svg, "the today marker would make the build depend on the date"
    assert "初稿" in [label.strip() for label in texts_of(gantt.path)]


def svg_texts(path: Path) -> list:
    return list(etree.parse(str(path)).getroot().iter(f"{SVG}text"))


def text_of(element) -> str:
    return "".join(element.itertext()).strip()


def converted_labels(path: Path) -> list:
    """The <text>s the renderer wrote in place of HTML labels (in <g class="label-text">)."""
    root = etree.parse(str(path)).getroot()
    texts = root.xpath("//svg:g[@class='label-text']/svg:text", namespaces={"svg": SVG[1:-1]})
    for text in texts:   # each with its own size and anchor, at a numeric position
        assert re.search(r"font-size:[\d.]+px", text.get("style")) and "text-anchor:" in text.get("style")
        float(text.get("x")), float(text.get("y"))
    return texts


@pytest.mark.slow
def test_foreign_object_labels_become_svg_text(session):
    """mermaid 11 draws a venn diagram's text nodes as HTML in <foreignObject> even with
    htmlLabels off; the renderer measures them in the page and writes SVG <text> instead."""
    venn = session["rendered"][3]
    assert venn.media_type == "image/svg+xml" and venn.path.suffix == ".svg" and venn.error is None
    svg = venn.path.read_text(encoding="utf-8")
    assert "foreignObject" not in svg and "xhtml" not in svg
    assert {"React", "数据库", "前端", "后端", "全栈"} <= {text_of(t) for t in svg_texts(venn.path)}
    converted = {text_of(t): t for t in converted_labels(venn.path)}
    assert set(converted) == {"React", "数据库"}   # the text nodes; the set names were SVG text already
    # each under its own set's name, centred like it, at the text area's 20px
    names = {text_of(t): t for t in svg_texts(venn.path) if t.get("class") == "label"}
    for node, set_name in (("React", "前端"), ("数据库", "后端")):
        label, name = converted[node], names[set_name]
        assert abs(float(label.get("x")) - float(name.get("x"))) < 20
        assert 0 < float(label.get("y")) - float(name.get("y")) < 60
        assert "font-size:20px" in label.get("style")


@pytest.mark.slow
def test_state_diagram_with_a_multi_line_list_note_comes_out(session):
    """The issue: a valid stateDiagram-v2 whose note holds a list fails as SVG text
    ("splitLineToFitWidth does not support newlines"); it is drawn with HTML labels, converted."""
    state = session["rendered"][4]
    assert state.error is None and state.media_type == "image/svg+xml"
    assert not [d for d in session["diagnostics"] if d.line == state.block.line]
    svg = state.path.read_text(encoding="utf-8")
    assert "foreignObject" not in svg and "diagram failed" not in svg
    note = ["要点：", "- 作者写作初稿", "- 编辑审校"]
    labels = converted_labels(state.path)
    lines = [text_of(t) for t in labels]
    assert lines[lines.index(note[0]):lines.index(note[0]) + 3] == note, "one <text> per line of the note"
    assert {"草稿", "定稿", "审校通过"} <= set(lines)
    ys = [float(t.get("y")) for t in labels if text_of(t) in note]
    assert ys == sorted(ys) and len(set(ys)) == 3, "each line of the note below the one before"


@pytest.mark.slow
def test_label_html_cannot_give_up_falls_back_to_2x_png_with_a_warning(session):
    png, png_block = session["rendered"][5], session["blocks"][5]
    assert png.media_type == "image/png" and png.path.suffix == ".png" and png.error is None
    from PIL import Image
    with Image.open(png.path) as image:
        assert image.size == (round(png.width_px * 2), round(png.height_px * 2))
    (warning,) = of_code(session["diagnostics"], "diagram-png-fallback")
    assert not warning.is_error
    assert (warning.file, warning.line) == (session["document"].path, png_block.line)
    assert "foreignObject" in warning.message


def test_html_label_config_turns_every_html_labels_switch_on():
    config = {"htmlLabels": False, "flowchart": {"htmlLabels": False, "useMaxWidth": False},
              "state": {"htmlLabels": False}, "gantt": {"useWidth": 560}}
    assert html_label_config(config) == {"htmlLabels": True, "flowchart": {"htmlLabels": True, "useMaxWidth": False},
                                         "state": {"htmlLabels": True}, "gantt": {"useWidth": 560}}
    assert config["flowchart"]["htmlLabels"] is False, "the book's own config is not changed"


@pytest.mark.slow
def test_session_reports_only_the_expected_diagnostics(session):
    """No diagram of the session fails; the wide timeline and the PNG fallback are warnings."""
    codes = sorted(d.code for d in session["diagnostics"])
    assert codes == ["diagram-png-fallback", "diagram-too-wide"]
    assert not session["diagnostics"].errors
    assert all(r.error is None for r in session["rendered"])


@pytest.mark.slow
def test_progress_is_reported(session):
    assert session["progress"][0] == (0, 6) and session["progress"][-1] == (6, 6)
    done = [d for d, _ in session["progress"]]
    assert done == sorted(done) and len(done) == 7


@pytest.mark.slow
def test_cache_hit_starts_no_browser_or_node(session, monkeypatch):
    monkeypatch.setenv("BOOK_CHROMIUM", "/nonexistent/chromium")   # a launch would now fail
    launches = diagrams.renderer_launches
    calls = []
    diagnostics = Diagnostics()
    again = render_diagrams(session["blocks"], DiagramSettings(), session["cache"], diagnostics=diagnostics,
                            progress=lambda d, n: calls.append((d, n)))
    assert diagrams.renderer_launches == launches
    assert [r.path for r in again] == [r.path for r in session["rendered"]]
    assert calls == [(6, 6)]
    assert sorted(d.code for d in diagnostics) == sorted(d.code for d in session["diagnostics"])


@pytest.mark.slow
def test_syntax_error_names_file_line_and_mermaids_message(session):
    folder = session["folder"] / "syntax"
    document = document_of(f"# 第六章\n\n正文。\n\n```mermaid\n{BROKEN_FLOWCHART}\n```\n", folder, "06.md")
    (broken,) = [b for _, b in find_diagrams(document, Diagnostics())]
    fence = file_line(document.path, "```mermaid")
    assert broken.line == fence
    diagnostics = Diagnostics()
    good, placeholder = render_diagrams([session["blocks"][1], broken], DiagramSettings(), session["cache"],
                                        diagnostics=diagnostics)
    (error,) = diagnostics
    assert error.code == "diagram-render" and error.is_error
    # mermaid's "line 3" is the diagram's own third line: the file line of `B --> C[[[ 错误`
    assert (error.file, error.line) == (document.path, fence + 3) == (document.path, file_line(document.path, "    B --> C[[["))
    assert "Parse error on line 3" in error.message and "of the file)" in error.message and error.hint
    assert str(error).startswith(f"{error.location()}: error: ") and error.location().endswith(f"06.md:{fence + 3}")
    assert good.error is None and placeholder.error and "Parse error" in placeholder.error


@pytest.mark.slow
def test_broken_diagram_is_a_placeholder_and_an_error(session):
    """No more draft switch: a broken diagram always comes back as a placeholder showing the
    error, and is an error diagnostic (a --draft run's Diagnostics makes it a warning)."""
    broken = block(BROKEN_SEQUENCE, line=7)
    diagnostics = Diagnostics()
    good, placeholder = render_diagrams([session["blocks"][1], broken], DiagramSettings(), session["cache"],
                                        diagnostics=diagnostics)
    assert good.error is None and good.path == session["rendered"][1].path
    assert placeholder.error and "Parse error" in placeholder.error
    assert placeholder.media_type == "image/svg+xml" and placeholder.placement == "inline"
    assert placeholder.path.is_file() and placeholder.path.parent == session["cache"]
    labels = " ".join(texts_of(placeholder.path))
    assert "chapter.md:7" in labels and "Parse error" in labels
    (problem,) = diagnostics
    assert (problem.code, problem.severity, problem.file, problem.line) == \
        ("diagram-render", "error", Path("chapter.md"), 7 + 2)
    assert not diagnostics.tolerated("diagram-render") and Diagnostics(draft=True).tolerated("diagram-render")


@pytest.mark.slow
def test_one_run_reports_every_broken_diagram_in_every_file(session):
    folder = session["folder"] / "two-broken"
    first = document_of(f"# 第一章\n\n```mermaid\n{BROKEN_FLOWCHART}\n```\n", folder, "ch1.md")
    second = document_of(f"# 第二章\n\n正文。\n\n正文。\n\n```mermaid\n{BROKEN_SEQUENCE}\n```\n", folder, "ch2.md")
    blocks = [b for doc in (first, second) for _, b in find_diagrams(doc, Diagnostics())]
    blocks.insert(1, session["blocks"][1])   # a good, cached diagram between them
    launches = diagrams.renderer_launches
    diagnostics = Diagnostics()
    rendered = render_diagrams(blocks, DiagramSettings(), session["cache"], diagnostics=diagnostics)
    assert diagrams.renderer_launches == launches + 1
    assert [r.error is not None for r in rendered] == [True, False, True]
    assert [d.code for d in diagnostics] == ["diagram-render", "diagram-render"]
    assert [(d.file, d.line) for d in diagnostics] == [
        (first.path, file_line(first.path, "    B --> C[[[")),
        (second.path, file_line(second.path, "  甲->>乙"))]
    assert all("Parse error" in d.message for d in diagnostics)


def test_missing_chromium_is_a_clear_error(tmp_path, monkeypatch):
    launches = diagrams.renderer_launches
    monkeypatch.setenv("BOOK_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(PipelineError) as caught:
        render_diagrams([block("pie\n  \"甲\" : 1\n")], DiagramSettings(), tmp_path, diagnostics=Diagnostics())
    assert "BOOK_CHROMIUM" in caught.value.what
    monkeypatch.delenv("BOOK_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))   # no chromium anywhere on PATH
    with pytest.raises(PipelineError) as caught:
        render_diagrams([block("pie\n  \"甲\" : 1\n")], DiagramSettings(), tmp_path, diagnostics=Diagnostics())
    assert "Chromium is not installed" in caught.value.what and "install chromium" in caught.value.hint.lower()
    assert diagrams.renderer_launches == launches


@pytest.mark.slow
def test_hung_render_times_out(tmp_path):
    # 200 nodes take far longer than 1 ms to lay out: the renderer must give up and say so.
    big = "flowchart LR\n" + "\n".join(f"  n{i}[节点{i}] --> n{i + 1}[节点{i + 1}]" for i in range(200))
    diagnostics = Diagnostics()
    (rendered,) = render_diagrams([block(big, line=3)], DiagramSettings(timeout=0.001), tmp_path,
                                  diagnostics=diagnostics)
    (problem,) = diagnostics
    assert problem.code == "diagram-render" and problem.line == 3
    assert "did not finish within" in problem.message and "diagrams.timeout" in problem.hint
    assert rendered.error and rendered.path.is_file() and "diagram failed" in " ".join(texts_of(rendered.path))
    assert not list(tmp_path.glob("*.json")), "a timed-out diagram must not be cached"


# ----------------------------------------------------------------------------- placement

@pytest.mark.slow
def test_wide_timeline_goes_landscape_unless_told_otherwise(session):
    timeline = session["rendered"][0]
    assert timeline.width_px > 2000 and timeline.placement == "landscape"
    assert session["rendered"][1].placement == "inline"
    cache = session["cache"]
    render = lambda blocks, settings: render_diagrams(blocks, settings, cache, diagnostics=Diagnostics())  # noqa: E731
    assert render([timeline.block], DiagramSettings(layout="scale"))[0].placement == "inline"
    # a fence attribute overrides book.yaml
    fence_says_scale = replace(timeline.block, layout="scale")
    assert render([fence_says_scale], DiagramSettings(layout="landscape"))[0].placement == "inline"
    fence_says_landscape = replace(session["blocks"][1], layout="landscape")
    assert render([fence_says_landscape], DiagramSettings())[0].placement == "landscape"


@pytest.mark.slow
def test_too_wide_even_for_landscape_is_a_warning(session):
    timeline = session["blocks"][0]
    tall_page = Diagnostics()
    render_diagrams([timeline], DiagramSettings(), session["cache"], diagnostics=tall_page, text_height_mm=1000)
    assert not of_code(tall_page, "diagram-too-wide")
    short_page = Diagnostics()
    render_diagrams([timeline], DiagramSettings(), session["cache"], diagnostics=short_page, text_height_mm=150)
    (warning,) = of_code(short_page, "diagram-too-wide")
    assert not warning.is_error and (warning.file, warning.line) == (timeline.file, timeline.line)
    assert re.search(r"would be \d+\.\d pt", warning.message)
    # a layout the author chose is not second-guessed
    chosen = Diagnostics()
    render_diagrams([replace(timeline, layout="landscape")], DiagramSettings(), session["cache"],
                    diagnostics=chosen, text_height_mm=150)
    assert not of_code(chosen, "diagram-too-wide")


def test_placement_rule():
    # 491 px text width at 130 mm: 16 px text in a 980 px diagram shrinks to 6.0 pt
    assert advise_placement(980, 16, "auto", 130, 6.5) == "landscape"
    assert advise_placement(980, 16, "auto", 130, 5.5) == "inline"
    assert advise_placement(400, 16, "auto", 130, 6.5) == "inline"
    assert advise_placement(400, 16, "landscape", 130, 6.5) == "landscape"
    assert advise_placement(4000, 16, "scale", 130, 6.5) == "inline"


# ----------------------------------------------------------------------------- layout transpose

def test_transpose_turns_the_header_and_every_subgraph_direction():
    turned = transpose_flowchart("flowchart LR\n    A --> B\n    subgraph S\n      direction TB\n      C\n    end")
    assert (turned.old, turned.new, turned.header) == ("LR", "TB", "flowchart TB")
    assert turned.code == "flowchart TB\n    A --> B\n    subgraph S\n      direction LR\n      C\n    end"
    assert transpose_flowchart("graph RL;\nA-->B").code == "graph BT;\nA-->B"
    assert transpose_flowchart("graph TD\nA-->B").code == "graph LR\nA-->B"
    assert transpose_flowchart("flowchart BT\nA-->B").code == "flowchart RL\nA-->B"
    # no direction is mermaid's TB
    plain = transpose_flowchart("graph\nA-->B")
    assert (plain.old, plain.new, plain.code) == ("TB", "LR", "graph LR\nA-->B")
    # front matter, directives and comments before the header stay as they are
    head = '---\ntitle: 流程\nconfig:\n  flowchart:\n    curve: basis\n---\n%%{init: {"theme": "base"}}%%\n%% 注释\n'
    assert transpose_flowchart(head + "  flowchart LR\n  A --> B").code == head + "  flowchart TB\n  A --> B"
    # a node whose label says "direction LR" is not a statement
    assert transpose_flowchart("flowchart LR\n  A[direction LR] --> B").code == "flowchart TB\n  A[direction LR] --> B"


@pytest.mark.parametrize("code", ["sequenceDiagram\n  A->>B: 你好", "stateDiagram-v2\n  direction LR\n  [*] --> A",
                                  "flowchartLR\n  A --> B", "pie\n  \"甲\" : 1", TIMELINE, "%% flowchart LR\n"])
def test_transpose_leaves_other_diagrams_alone(code):
    assert transpose_flowchart(code) is None


def artifact(width: float, height: float, font: float = 16.0, media_type: str = "image/svg+xml") -> _Artifact:
    return _Artifact(Path("x.svg"), media_type, width, height, font)


def test_print_fit_counts_width_and_height():
    across, down = 130 * PX_PER_MM, 198 * PX_PER_MM * 0.9   # 491 px, and 673 of 748 px for a figure
    assert print_fit(400, 300, 16, 130, 198, 6.5) == ("inline", 12.0)      # 16 px at full size: 12 pt
    assert print_fit(900, 100, 16, 130, 198, 6.5) == ("inline", pytest.approx(12 * across / 900))
    assert print_fit(200, 1200, 16, 130, 198, 6.5) == ("inline", pytest.approx(12 * down / 1200))
    # too small inline, larger on a landscape page (198 mm across)
    assert print_fit(2400, 100, 16, 130, 198, 6.5) == ("landscape", pytest.approx(12 * 198 * PX_PER_MM / 2400))
    # too small inline, and a landscape page (130 mm down) would make it smaller still
    assert print_fit(100, 3000, 16, 130, 198, 6.5) == ("inline", pytest.approx(12 * down / 3000))


def test_transpose_prefers_readable_then_inline_then_larger_text():
    page = _Page(130, 198, 6.5)
    wide_chain, tall_chain = artifact(2000, 90), artifact(270, 560)
    assert prefers_transposed(wide_chain, tall_chain, page)           # unreadable -> readable inline
    assert not prefers_transposed(tall_chain, wide_chain, page)
    small, turned_small = artifact(300, 200), artifact(200, 300)
    assert not prefers_transposed(small, turned_small, page)          # both at full size: nothing gained
    assert not prefers_transposed(artifact(500, 100), artifact(480, 100), page), "a 4 % gain is no reason"
    assert prefers_transposed(artifact(900, 100), artifact(300, 500), page)   # 6.5 pt -> 12 pt, both inline
    assert not prefers_transposed(wide_chain, artifact(270, 560, media_type="image/png"), page), "never a PNG for an SVG"
    # neither readable: the larger text wins, wherever it is placed
    assert prefers_transposed(artifact(4000, 70), artifact(220, 1630), page)


def test_layout_transpose_is_a_fence_attribute_and_a_book_setting(tmp_path):
    blocks, diagnostics = blocks_of("```mermaid {layout=transpose}\nflowchart LR\n  A --> B\n```\n", tmp_path)
    assert [b.layout for b in blocks] == ["transpose"] and len(diagnostics) == 0
    _, diagnostics = blocks_of("```mermaid {layout=turn}\npie\n```\n", tmp_path, "bad.md")
    (problem,) = diagnostics
    assert "layout=transpose" in problem.hint
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "one.md").write_text("---\ntitle: 一\n---\n正文。\n", encoding="utf-8")
    (tmp_path / "book" / "data").mkdir()
    yaml = ("title: 书\nidentifier: urn:test:1\ndate: 2026-01-01\ncontents:\n  chapters:\n    - one.md\n"
            "check:\n  registry: data\ndiagrams:\n  layout: {layout}\n")
    (tmp_path / "book" / "book.yaml").write_text(yaml.format(layout="transpose"), encoding="utf-8")
    diagnostics = Diagnostics()
    assert load_config(tmp_path / "book", diagnostics).diagrams.layout == "transpose" and len(diagnostics) == 0
    (tmp_path / "book" / "book.yaml").write_text(yaml.format(layout="sideways"), encoding="utf-8")
    diagnostics = Diagnostics()
    with contextlib.suppress(BuildStopped):
        load_config(tmp_path / "book", diagnostics)
    assert any("transpose" in str(d) for d in diagnostics)


# Six steps with long Chinese labels: about 1600 px wide left to right, far too small at 130 mm.
WIDE_CHAIN = "flowchart LR\n" + "\n".join(
    f"    S{i}[{label}] --> S{i + 1}[{following}]" for i, (label, following) in enumerate(zip(
        ["用户提交一个复杂的自然语言问题", "网关进行鉴权限流与请求日志记录", "查询改写模块生成多个检索子问题",
         "向量数据库召回候选文档片段", "重排序模型按相关性打分筛选"],
        ["网关进行鉴权限流与请求日志记录", "查询改写模块生成多个检索子问题", "向量数据库召回候选文档片段",
         "重排序模型按相关性打分筛选", "大语言模型综合上下文生成答案"])))
# One parent and eight children top to bottom: wide; left to right it is a narrow column.
WIDE_FAN = "graph TD\n    P[收集并清洗预训练语料]\n" + "\n".join(
    f"    P --> C{i}[第{i}个下游任务的评测集]" for i in range(1, 9))
SMALL_LR = "flowchart LR\n    A[提问] --> B[检索] --> C[回答]"


@pytest.fixture(scope="module")
def transposed(tmp_path_factory):
    """One renderer run with `diagrams.layout: transpose` in book.yaml: a wide LR chain, a wide
    TB fan, a small LR flowchart, the wide timeline (not a flowchart), and the wide chain again
    with a fence that says layout=auto."""
    cache = tmp_path_factory.mktemp("transpose") / "cache"
    blocks = [block(WIDE_CHAIN, line=10), block(WIDE_FAN, line=20), block(SMALL_LR, line=30),
              block(TIMELINE, line=40), block(WIDE_CHAIN, line=50, layout="auto")]
    launches = diagrams.renderer_launches
    diagnostics = Diagnostics()
    rendered = render_diagrams(blocks, DiagramSettings(layout="transpose"), cache, diagnostics=diagnostics)
    assert diagrams.renderer_launches == launches + 1, "the turned drawings are rendered in the same run"
    return {"cache": cache, "blocks": blocks, "rendered": rendered, "diagnostics": diagnostics}


def at_line(diagnostics: Diagnostics, line: int) -> list:
    return [d for d in diagnostics if d.line == line]


@pytest.mark.slow
def test_transpose_turns_a_wide_lr_chain_top_to_bottom_and_says_so(transposed):
    chain = transposed["rendered"][0]
    assert chain.error is None and chain.media_type == "image/svg+xml"
    assert chain.transposed == "LR→TB" and chain.placement == "inline"
    (note,) = at_line(transposed["diagnostics"], 10)
    assert note.code == "diagram-transposed" and not note.is_error
    sizes = [float(size) for size in re.findall(r"([\d.]+) pt", note.message)]
    assert "drawn TB (top to bottom) instead of LR" in note.message and "inline instead of" in note.message
    assert sizes[0] >= 6.5 > sizes[1], "readable now, too small before"
    assert "'flowchart TB'" in note.hint
    # it is what layout auto would have sent to a landscape page, and it now fits the text block
    as_auto = transposed["rendered"][4]
    assert as_auto.transposed is None and as_auto.placement == "landscape" and as_auto.width_px > 1500
    assert chain.height_px > chain.width_px
    assert chain.height_px <= 198 * PX_PER_MM * 0.9 + 0.01 and chain.width_px <= 130 * PX_PER_MM
    root = etree.parse(str(chain.path)).getroot()
    assert (float(root.get("width")), float(root.get("height"))) == (chain.width_px, chain.height_px)
    labels = {re.sub(r"\s", "", "".join(t.itertext())) for t in root.iter(f"{SVG}text")}
    assert {"用户提交一个复杂的自然语言问题", "大语言模型综合上下文生成答案"} <= labels


@pytest.mark.slow
def test_transpose_turns_a_wide_tb_fan_left_to_right(transposed):
    fan = transposed["rendered"][1]
    assert fan.transposed == "TB→LR" and fan.placement == "inline"
    (note,) = at_line(transposed["diagnostics"], 20)
    assert note.code == "diagram-transposed" and "drawn LR (left to right) instead of TB" in note.message
    assert "'graph LR'" in note.hint


@pytest.mark.slow
def test_transpose_leaves_what_fits_and_what_is_no_flowchart_as_auto(transposed):
    small, timeline = transposed["rendered"][2], transposed["rendered"][3]
    assert small.transposed is None and small.placement == "inline" and not at_line(transposed["diagnostics"], 30)
    assert timeline.transposed is None and timeline.placement == "landscape"
    # exactly what layout auto says about it
    auto = Diagnostics()
    (as_auto,) = render_diagrams([block(TIMELINE, line=40)], DiagramSettings(), transposed["cache"], diagnostics=auto)
    assert (as_auto.path, as_auto.placement) == (timeline.path, timeline.placement)
    assert [d.message for d in at_line(transposed["diagnostics"], 40)] == [d.message for d in auto]
    # a fence's layout=auto wins over the book's transpose; the warning suggests transpose
    as_fence_says = transposed["rendered"][4]
    assert as_fence_says.transposed is None and as_fence_says.placement == "landscape"
    (warning,) = at_line(transposed["diagnostics"], 50)
    assert warning.code == "diagram-too-wide" and "layout=transpose" in warning.hint


@pytest.mark.slow
def test_transpose_is_decided_per_build_from_the_cache(transposed, monkeypatch):
    """The choice depends on the page, not on the cache: an unchanged rebuild starts nothing and
    decides the same; on a page wide enough for the chain it stays left to right."""
    monkeypatch.setenv("BOOK_CHROMIUM", "/nonexistent/chromium")
    launches = diagrams.renderer_launches
    again = Diagnostics()
    rendered = render_diagrams(transposed["blocks"], DiagramSettings(layout="transpose"), transposed["cache"],
                               diagnostics=again)
    assert [(r.path, r.transposed, r.placement) for r in rendered] == \
        [(r.path, r.transposed, r.placement) for r in transposed["rendered"]]
    assert [str(d) for d in again] == [str(d) for d in transposed["diagnostics"]]
    wide_page = Diagnostics()
    (chain,) = render_diagrams([transposed["blocks"][0]], DiagramSettings(layout="transpose"), transposed["cache"],
                               diagnostics=wide_page, text_width_mm=600, text_height_mm=400)
    assert chain.transposed is None and chain.placement == "inline" and len(wide_page) == 0
    assert diagrams.renderer_launches == launches


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


def test_placeholder_shows_where_and_why():
    svg, width, height = placeholder_svg("Parse error on line 2:\n甲->>乙 <缺少冒号>", "06.md:42")
    root = etree.fromstring(svg.encode())
    labels = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert labels[0].endswith("06.md:42") and "Parse error on line 2:" in labels and "甲->>乙 <缺少冒号>" in labels
    assert (float(root.get("width")), float(root.get("height"))) == (width, height)


# ----------------------------------------------------------------------------- remote renderer

def test_remote_renderer_through_a_mermaid_ink_compatible_server(tmp_path, monkeypatch):
    monkeypatch.delenv("MERMAID_INK_SERVER", raising=False)
    with StubServer() as server:
        settings = DiagramSettings(renderer="remote", server=server.url, timeout=10)
        launches = diagrams.renderer_launches
        diagnostics = Diagnostics()
        (rendered,) = render_diagrams([block(CHINESE_FLOWCHART)], settings, tmp_path, diagnostics=diagnostics)
        assert diagrams.renderer_launches == launches, "the remote renderer must not start node"
        assert len(diagnostics) == 0
        svg_source = next(source for kind, source in server.requests if kind == "svg")
        assert svg_source.startswith("%%{init:") and '"htmlLabels": false' in svg_source
        assert "检索知识库" in svg_source
        assert rendered.media_type == "image/svg+xml" and rendered.width_px == 400 and rendered.error is None
        root = etree.parse(str(rendered.path)).getroot()
        assert root.get("width") == "400" and root.get("id").startswith("m")
        assert "B -->|是| C[检索知识库]" in texts_of(rendered.path)
        assert not re.search(r"<tspan[^>]*(/>|></tspan>)", rendered.path.read_text(encoding="utf-8"))

        # a source the server refuses: a placeholder and a diagnostic at the line the server names
        (refused,) = render_diagrams([block("不是图表\n", line=9)], settings, tmp_path, diagnostics=diagnostics)
        (problem,) = diagnostics
        assert problem.code == "diagram-render" and "Parse error" in problem.message
        assert problem.line == 9 + 1   # the stub's "line 1" is the diagram's first line, after the fence
        assert refused.error and "Parse error" in refused.error
