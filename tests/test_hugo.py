"""Hugo content (tests/books/hugo): articles with only a title, root-relative images from the
static folder, figure / callout / hint / notice / ref shortcodes, and a translated page with the
original in HTML comments and the site's own shortcodes mapped to text in book.yaml."""
from __future__ import annotations

import subprocess
import zipfile

import pymupdf
import pytest
from lxml import etree

from conftest import BOOKS, copy_book, run_cli, tree_of
from pipeline.check import check_manuscript
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.shortcodes import expand
from pipeline.validate import run_epubcheck

NS = {"x": "http://www.w3.org/1999/xhtml"}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    diagnostics = Diagnostics()
    report = check_manuscript(load_config(BOOKS / "hugo"), diagnostics, tmp_path_factory.mktemp("cache"))
    return report, diagnostics


def test_hugo_articles_need_only_a_title_and_raise_nothing(checked):
    report, diagnostics = checked
    assert [str(d) for d in diagnostics] == []
    assert {d.status for d in report.documents} == {"final"}      # no draft: true, so published


def test_figure_shortcode_becomes_a_figure_with_its_caption(checked):
    figure = tree_of(checked[0], "intro").find(".//figure")
    assert figure.get("id") == "fig-shapes"
    img = figure.find("img")
    assert img.get("alt") == "一个绿色的圆和一个橙色的方块" and img.get("src") == "/images/shapes.png"
    caption = figure.find("figcaption")
    assert "".join(caption.itertext()) == "两个形状：圆与方" and caption.find("strong").text == "圆"


def test_callouts_are_boxes_with_their_kind(checked):
    intro, guide = tree_of(checked[0], "intro"), tree_of(checked[0], "guide")
    boxes = intro.findall(".//aside")
    assert [b.get("class") for b in boxes] == ["callout callout-warning", "callout callout-info"]
    assert [b.find("p").text for b in boxes] == ["注意", "说明"]
    assert boxes[0].find(".//ul") is not None and boxes[0].find(".//strong").text == "警告"
    inline = guide.find(".//span[@class='callout callout-tip']")
    assert "".join(inline.itertext()) == "提示行内的提示"


def test_ref_shortcode_and_links_to_the_figure_resolve(checked):
    links = {a.text: a.get("href") for a in tree_of(checked[0], "intro").iter("a")}
    assert links == {"这张图": "#fig-shapes", "下一篇": "#setup"}


def test_shortcodes_in_code_are_left_alone(checked):
    intro = tree_of(checked[0], "intro")
    assert intro.find(".//code").text == '{{< figure src="x" >}}'
    assert "{{< callout >}}" in intro.find(".//pre").xpath("string()")


def test_preprocessing_keeps_every_line_where_it_was():
    source = ('一\n{{< figure src="a.png" caption="图" >}}\n{{< callout type="tip" >}}\n内\n{{< /callout >}}\n'
              '[见]({{< ref "b.md#c" >}})\n```\n{{< figure src="x" >}}\n```\n')
    out = expand(source, 1, Diagnostics(), None)
    assert out.count("\n") == source.count("\n")
    lines = out.split("\n")
    assert lines[1].startswith("[图]{.sc-figure") and lines[2].startswith("::: {.sc-callout")
    assert lines[4] == ":::" and lines[5] == "[见](b.md#c)" and lines[7] == '{{< figure src="x" >}}'


def test_unknown_shortcode_is_a_warning_at_its_line_and_keeps_its_text(tmp_path):
    book = copy_book("hugo", tmp_path)
    with (book / "content" / "guide.md").open("a", encoding="utf-8") as handle:
        handle.write('\n{{< youtube abc123 >}}\n\n{{< details summary="更多" >}}\n内容仍然显示。\n{{< /details >}}\n'
                     "\n[断链](#nowhere)\n")
    lines = (book / "content" / "guide.md").read_text(encoding="utf-8").splitlines()
    diagnostics = Diagnostics()
    report = check_manuscript(load_config(book), diagnostics, tmp_path / "cache")
    found = [(d.code, d.line) for d in diagnostics]
    assert ("shortcode-unknown", lines.index("{{< youtube abc123 >}}") + 1) in found
    assert ("shortcode-unknown", lines.index('{{< details summary="更多" >}}') + 1) in found
    # lines after a rewritten shortcode still point at the right place
    assert ("link-unresolved", lines.index("[断链](#nowhere)") + 1) in found
    assert "内容仍然显示" in "".join(tree_of(report, "guide").itertext())


def test_site_shortcodes_print_as_book_yaml_maps_them(checked):
    """glossary_tooltip keeps its text (before: "运行来实现", the word gone with only a warning), a
    heading key becomes its text (before: an empty heading), a template takes named arguments."""
    page = tree_of(checked[0], "translated")
    text = "".join(page.itertext())
    assert "控制平面运行控制器来实现" in text
    assert "（beta，自 v1.30 起）" in text
    assert [h.text for h in page.iter("h2")] == ["接下来"]
    (box,) = page.iter("aside")
    assert box.get("class") == "callout callout-caution" and "没有逻辑或运算符" in "".join(box.itertext())


def test_shortcodes_inside_html_comments_are_left_alone(checked):
    """The English original in comments holds shortcodes too (an opening {{< caution >}} among
    them): none is expanded or reported, and the comment opens no box."""
    report, diagnostics = checked
    assert not [d for d in diagnostics if "translated" in str(d.file)]
    page = tree_of(report, "translated")
    assert len(list(page.iter("aside"))) == 1 and "controller" not in "".join(page.itertext())
    out = expand("a <!-- {{< x >}} --> {{< y >}}\n<!--\n{{< caution >}}\n```\n-->\n{{< z >}}\n", 1,
                 diagnostics := Diagnostics(), None)
    assert [(d.line, dict(d.args)["name"]) for d in diagnostics] == [(1, "y"), (6, "z")]
    assert "{{< caution >}}" in out and ":::" not in out


def test_unmapped_shortcodes_say_what_they_print(tmp_path):
    book = copy_book("hugo", tmp_path)
    text = (book / "book.yaml").read_text(encoding="utf-8").replace("heading: {whatsnext: 接下来}",
                                                                     "heading: {prerequisites: 准备开始}")
    (book / "book.yaml").write_text(text.replace('    glossary_tooltip: "{text}"\n', ""), encoding="utf-8")
    page = book / "content" / "translated.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n## {{% tabs-title %}}\n\n{{< feature-state state=\"beta\" >}}\n",
                    encoding="utf-8")
    lines = page.read_text(encoding="utf-8").splitlines()
    diagnostics = Diagnostics()
    report = check_manuscript(load_config(book), diagnostics, tmp_path / "cache")
    found = {(d.code, d.line): d.message for d in diagnostics}
    tooltip = next(n for n, line in enumerate(lines, 1) if line.startswith("控制平面"))
    assert "printed as its text argument '控制器'" in found[("shortcode-unknown", tooltip)]
    assert "no text for 'whatsnext'" in found[("shortcode-unmapped", lines.index('## {{% heading "whatsnext" %}}') + 1)]
    assert "{for_k8s_version}" in found[("shortcode-unmapped", len(lines))]
    assert "printed as nothing" in found[("shortcode-unknown", len(lines) - 2)]
    assert ("heading-empty", len(lines) - 2) in found
    text = "".join(tree_of(report, "translated").itertext())
    assert "控制平面运行控制器来实现" in text and "whatsnext" in text


def test_a_missing_root_relative_image_names_the_static_folder(tmp_path):
    book = copy_book("hugo", tmp_path)
    with (book / "content" / "guide.md").open("a", encoding="utf-8") as handle:
        handle.write("\n![不在的图](/images/docs/absent.svg)\n")
    diagnostics = Diagnostics()
    check_manuscript(load_config(book), diagnostics, tmp_path / "cache")
    (missing,) = [d for d in diagnostics if d.code == "image-missing"]
    assert missing.message.startswith("the image /images/docs/absent.svg is not in book.yaml's static folder")
    assert "static:" in missing.hint


def test_static_folder_must_be_inside_the_book(tmp_path):
    book = copy_book("hugo", tmp_path)
    text = (book / "book.yaml").read_text(encoding="utf-8").replace("static: static", "static: ../elsewhere")
    (book / "book.yaml").write_text(text, encoding="utf-8")
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "'static' names '../elsewhere'" in result.stderr


def test_house_rules_are_a_setting(tmp_path):
    """The stricter keys are asked for only where book.yaml's check.require says so."""
    book = copy_book("hugo", tmp_path)
    with (book / "book.yaml").open("a", encoding="utf-8") as handle:
        handle.write("check:\n  require:\n    article: [title, date, description]\n")
    result = run_cli("check", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.count("[meta-missing]") == 6        # date and description, in each of three articles


@pytest.mark.slow
def test_both_outputs_show_the_figures_and_boxes(tmp_path):
    out = tmp_path / "out"
    result = run_cli("all", "--manuscript", str(BOOKS / "hugo"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    with zipfile.ZipFile(out / "book.epub") as archive:
        page = etree.fromstring(archive.read("EPUB/text/doc-intro.xhtml"))
        names = archive.namelist()
    figure = page.xpath("//x:figure[@id='fig-shapes']", namespaces=NS)[0]
    src = figure.find("x:img", NS).get("src")
    assert any(n.endswith(src.rsplit("/", 1)[-1]) for n in names)
    assert len(page.xpath("//x:aside[contains(@class, 'callout')]", namespaces=NS)) == 2
    # the translated page's table has its caption written last, as Kubernetes' pages do: put first
    verdict = run_epubcheck(out / "book.epub", tmp_path / "epubcheck.json")
    assert verdict.counts["fatal"] == verdict.counts["error"] == 0, "\n".join(verdict.messages)
    text = subprocess.run(["pdftotext", str(out / "book.pdf"), "-"], capture_output=True, text=True).stdout
    assert "注意" in text and "两个形状" in text
    assert text.count("{{<") == 3        # only the three inside code: one inline, two in the block
    images = subprocess.run(["pdfimages", "-list", str(out / "book.pdf")], capture_output=True, text=True).stdout
    assert len(images.splitlines()) - 2 >= 2            # the figure and the root-relative image
    # a definition list's terms are set bold, their definitions not (before: both plain)
    fonts = {span["text"].strip(): span["font"] for page in pymupdf.open(out / "book.pdf")
             for block in page.get_text("dict")["blocks"] for line in block.get("lines", [])
             for span in line["spans"]}
    assert "Bold" in fonts["kube-scheduler"] and "Bold" in fonts["etcd"]
    definition = next(font for text, font in fonts.items() if text.startswith("查找尚未绑定"))
    assert "Bold" not in definition
