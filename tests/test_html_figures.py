"""Pictures written in raw HTML with their caption in the next block, as books kept on GitHub write
them (pipeline/html_figures.py), become figures; other blocks stay as they are."""
from __future__ import annotations

from pipeline.html_figures import gather_html_figures
from pipeline.tree import parse_html, to_html
from test_check import out, problem_lines, run, shared_cache  # noqa: F401 (fixtures)

GITHUB = """\
<div class="align-center">
<img width="550" src="img/2.1.png">
</div>
<div class="align-center">图 2.1 智能体与<strong>环境</strong>之间的交互</div>
<p>正文。</p>
<div class="align-center"><img src="img/a.png"></div>
<div class="align-center">（a）传统的计算机视觉</div>
<div class="align-center"><img src="img/b.png" alt="深度学习的流程"></div>
<div class="align-center">（b）深度计算机视觉</div>
<div class="align-center">图 1.9 传统的计算机视觉与深度计算机视觉的区别</div>
"""


def test_a_picture_and_the_caption_after_it_become_a_figure():
    root = parse_html(GITHUB)
    assert gather_html_figures(root) == 3
    figures = root.findall(".//figure")
    assert [(f.find("img").get("src"), "".join(f.find("figcaption").itertext())) for f in figures] == [
        ("img/2.1.png", "图 2.1 智能体与环境之间的交互"),
        ("img/a.png", "（a）传统的计算机视觉"),
        ("img/b.png", "（b）深度计算机视觉")]
    # the caption keeps its markup; alt text stays as written (none is made up: it would count twice)
    assert "<strong>环境</strong>" in to_html(figures[0])
    assert [f.find("img").get("alt") for f in figures] == [None, None, "深度学习的流程"]
    # the figure's own caption line, after the sub-figures, stays a centred line; the text stays too
    html = to_html(root)
    assert '<div class="align-center">图 1.9 传统的计算机视觉与深度计算机视觉的区别</div>' in html
    assert "<p>正文。</p>" in html


def test_a_table_drawn_as_a_picture_takes_the_caption_above_it():
    root = parse_html('<p>正文。</p><div>表 2.1 动态规划算法</div><div><img src="t.png"></div><h2>参考文献</h2>')
    assert gather_html_figures(root) == 1
    [figure] = root.findall(".//figure")
    assert [child.tag for child in figure] == ["figcaption", "img"]
    assert to_html(root).startswith("<p>正文。</p><figure><figcaption>表 2.1 动态规划算法</figcaption>")


def test_blocks_that_are_not_a_picture_and_its_caption_stay():
    cases = [
        '<div><img src="x.png"></div><div>这是一段正文，不是图注。</div>',        # no caption start
        '<div><img src="x.png"> 说明</div><div>图 1 标题</div>',                 # text beside the picture
        '<div><img src="x.png"><img src="y.png"></div><div>图 1 标题</div>',     # two pictures
        '<div><img src="x.png"></div><div>图 1 标题<img src="y.png"></div>',     # a picture in the caption
        '<div><img src="x.png"></div><ul><li>图 1 标题</li></ul>',              # a list is no caption
        '<div><img src="x.png"></div><div>图 1 ' + "很长" * 80 + '</div>',      # a paragraph, not a caption
        '<div>图 1 标题</div><div><img src="x.png"></div>',                     # a figure's caption goes below
    ]
    for html in cases:
        root = parse_html(html)
        assert gather_html_figures(root) == 0, html
        assert root.find(".//figure") is None


def test_a_github_chapter_checks_without_a_picture_lacking_alt_text(mini, run):
    chapter = mini / "ch2.md"
    pictures = "".join(f'\n<div align=center>\n<img width="500" src="images/blocks.png"/>\n</div>\n'
                       f'<div align=center>图 9.{n} 方块示意图之{n}</div>\n' for n in range(1, 4))
    chapter.write_text(chapter.read_text(encoding="utf-8") + pictures, encoding="utf-8")
    result = run("check", mini)
    assert not [line for line in problem_lines(result.stderr) if "image-no-alt" in line or "html-removed" in line], \
        result.stderr
