"""MkDocs content: admonitions and content tabs (pipeline/admonitions.py) become the book's boxes,
on the lines they were written on, and a page without front matter is an article titled by its
first heading (pipeline/documents.py); a chapter of them checks and builds like any other."""
from __future__ import annotations

from pipeline.admonitions import expand
from test_check import out, problem_lines, run, shared_cache  # noqa: F401 (fixtures)

MKDOCS = '''前文。

!!! tip "二分查找的前提"

    数组必须**有序**。

    ```python
    def f(): pass
    ```

??? question "为什么？"
    因为……

=== "Python"

    print(1)

标题
===

```
!!! tip
    代码里不算
```
'''


def test_boxes_become_fenced_divs_on_the_same_lines():
    lines = expand(MKDOCS).split("\n")
    assert len(lines) == len(MKDOCS.split("\n"))
    assert lines[2] == '::: {.sc-callout data-type="tip" data-title="二分查找的前提"}'
    assert lines[4] == "数组必须**有序**。" and lines[6] == "```python" and lines[7] == "def f(): pass"
    assert lines[9] == ":::"
    assert lines[10:13] == ['::: {.sc-callout data-type="question" data-title="为什么？"}', "因为……", ":::"]
    assert lines[13] == '::: {.sc-callout data-type="example" data-title="Python"}' and lines[15] == "print(1)"
    assert lines[16] == ":::"
    # a heading's === underline and anything in a code fence stay as written
    assert lines[17:20] == ["标题", "===", ""] and lines[21:23] == ["!!! tip", "    代码里不算"]


def test_assemble_tabs_keeps_the_chosen_tab_of_each_group_that_has_it():
    source = ('=== "Python"\n\n    print(1)\n\n=== "C++"\n\n    int x;\n\n中。\n\n'
              '=== "Go"\n\n    x := 1\n\n=== "Rust"\n\n    let x = 1;\n\n后。')
    lines = expand(source, ("python",)).split("\n")
    assert len(lines) == len(source.split("\n"))
    kept = [line for line in lines if line.startswith(":::") and "data-title" in line]
    # the first group keeps its Python tab only (labels match whatever their case); the second,
    # which has none, keeps both, so that nothing goes missing unseen
    assert [line.split('data-title="')[1][:-2] for line in kept] == ["Python", "Go", "Rust"]
    assert "int x;" not in lines and "print(1)" in lines and lines[lines.index("中。") - 1] == ""


def test_a_box_inside_a_box():
    nested = expand('!!! note "外"\n\n    外面。\n\n    !!! warning\n\n        里面。\n\n    又是外面。\n\n后文。')
    assert nested.split("\n") == [
        '::: {.sc-callout data-type="note" data-title="外"}', "", "外面。", "",
        '::: {.sc-callout data-type="warning"}', "", "里面。", ":::", "又是外面。", ":::", "后文。"]


def test_a_mkdocs_chapter_checks_and_its_boxes_are_boxes(mini, run, out):
    chapter = mini / "ch2.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\n" + MKDOCS.split("标题")[0], encoding="utf-8")
    result = run("assemble", mini)
    assert result.returncode == 0, result.stderr
    html = (out / "book.html").read_text(encoding="utf-8")
    assert '<p class="callout-title sans">二分查找的前提</p>' in html
    assert '<p class="callout-title sans">为什么？</p>' in html and '<p class="callout-title sans">Python</p>' in html
    assert "数组必须<strong>有序</strong>。" in html       # read as Markdown, not shown as code
    assert "!!!" not in html and "???" not in html


def test_a_page_without_front_matter_is_an_article_titled_by_its_heading(mini, run, out):
    # a MkDocs (or mdBook, GitBook) page: no front matter, its first line the title
    (mini / "mk.md").write_text("# 迭代与递归\n\n在算法中，重复执行某个任务是很常见的。\n\n"
                                "!!! tip\n\n    **迭代**是一种控制结构。\n\n![](images/blocks.png)\n", encoding="utf-8")
    config = (mini / "book.yaml").read_text(encoding="utf-8")
    config = config.replace("          id: acme\n", "          id: acme\n        - mk.md\n")
    (mini / "book.yaml").write_text(config.replace("article: [title, date, draft, tags, categories, description]",
                                                   "article: [title]"), encoding="utf-8")
    result = run("assemble", mini)
    problems = problem_lines(result.stderr)
    # its problems are at their own lines: the picture on line 9 of the file, and nothing else
    assert [p.split(": error: ")[-1] for p in problems if "mk.md" in p] == [
        "the image images/blocks.png has no text alternative. [image-no-alt] (Describe it: ![这张图展示了…](file.png),"
        " or give it a caption.)"], problems
    assert any("mk.md:9: error" in p for p in problems), problems
    (mini / "mk.md").write_text((mini / "mk.md").read_text(encoding="utf-8").replace("![]", "![方块]"), encoding="utf-8")
    assert run("assemble", mini).returncode == 0
    html = (out / "book.html").read_text(encoding="utf-8")
    # titled by its heading, once: the heading left the body
    assert '<section id="doc-mk" class="article"><h1>迭代与递归</h1><p>在算法中' in html
    assert html.count("迭代与递归") == 1
    assert '<p class="callout-title sans">提示</p>' in html and "<strong>迭代</strong>是一种控制结构" in html
