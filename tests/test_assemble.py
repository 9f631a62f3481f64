"""The assemble stage on the fixture book tests/books/mini, with real pandoc.

build_book renders the book's mermaid diagrams through Chromium, so the tests of a whole
built book are marked slow; they share one build (module fixture) and one cache, so the
builds after the first find their diagrams rendered."""
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import copy_book, run_cli
from pipeline.book import Book
from pipeline.build import build_book
from pipeline.check import check_manuscript
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.errors import BuildStopped
from pipeline.tree import is_element, text_of, to_html, writer_copy

REMOTE_IMAGE = "![远程](https://example.org/x.png)"


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """pandoc and diagram cache for this module: keyed by content, so a diagram renders once."""
    return tmp_path_factory.mktemp("cache")


def out_dir(parent: Path, cache: Path, *, pandoc_only: bool = False) -> Path:
    """An output folder whose cache (or only its pandoc part) is the shared one."""
    out = parent / "out"
    out.mkdir()
    if pandoc_only:
        (cache / "pandoc").mkdir(exist_ok=True)
        (out / "cache").mkdir()
        (out / "cache" / "pandoc").symlink_to(cache / "pandoc", target_is_directory=True)
    else:
        (out / "cache").symlink_to(cache, target_is_directory=True)
    return out


@dataclass
class Built:
    root: Path
    book: Book
    diagnostics: Diagnostics


def build(root: Path, out: Path, **flags) -> Built:
    diagnostics = Diagnostics(draft=flags.get("draft", False))
    book = build_book(load_config(root, diagnostics), out_dir=out, diagnostics=diagnostics, **flags)
    return Built(root, book, diagnostics)


@pytest.fixture(scope="module")
def built(tmp_path_factory, shared_cache) -> Built:
    parent = tmp_path_factory.mktemp("book")
    root = copy_book("mini", parent).resolve()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        return build(root, out_dir(parent, shared_cache))


@pytest.fixture(scope="module")
def book(built) -> Book:
    return built.book


def html_of(sec) -> str:
    """A section's body as a writer gets it."""
    return to_html(writer_copy(sec.body))


def append_line(path: Path, line: str) -> int:
    """Append a paragraph to a document; return its line number in the file."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text + f"\n{line}\n", encoding="utf-8")
    return len(text.splitlines()) + 2


# ------------------------------------------------------------------ order and labels

@pytest.mark.slow
def test_reading_order_and_labels(book):
    assert [s.id for s in book.sections()] == ["ch01", "ch02", "acme", "takeaways", "references"]
    ch1, ch2 = book.chapters
    assert ch1.full_title == "第1章　起点：从文本到多模态"
    assert (ch1.status, ch1.final) == ("draft", False)
    assert (ch2.status, ch2.final) == ("final", True)
    assert (book.parts[0].id, book.parts[0].title) == ("profiles", "企业档案")
    article = book.parts[0].sections[0]
    assert (article.id, article.label, article.full_title, article.final) == ("acme", None, "甲公司", True)
    assert [(a.label, a.title) for a in book.appendices] == [("附录A", "本章要点汇总"), ("附录B", "参考文献")]


def test_reading_order_follows_chapter_numbers_not_book_yaml(mini, shared_cache):
    config = mini / "book.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("    - ch1.md\n    - ch2.md\n", "    - ch2.md\n    - ch1.md\n"), encoding="utf-8")
    assert config.read_text(encoding="utf-8") != text
    report = check_manuscript(load_config(mini), Diagnostics(), shared_cache)
    assert [(d.document.path.name, d.document.section_id) for d in report.documents] == \
        [("ch1.md", "ch01"), ("ch2.md", "ch02"), ("a1.md", "acme")]


# ------------------------------------------------------------------ text

@pytest.mark.slow
def test_lists_survive_without_blank_line(book):
    body = book.chapters[0].body
    lead_in = next(p for p in body.iter("p") if text_of(p).startswith("核心数据"))
    following = lead_in.getnext()
    assert following.tag == "ul"
    assert [text_of(li) for li in following] == ["总参数：236B（2360亿）", "激活参数：仅21B", "上下文长度：128K tokens"]
    html = html_of(book.chapters[0])
    assert "<p>- " not in html and "<p>1. " not in html


@pytest.mark.slow
def test_quotes_are_paired_in_html(book):
    chapter = book.chapters[0]
    html = html_of(chapter)
    assert "“百模大战”" in html and "“我们真的准备好了吗？”" in html
    assert html.count("“") == html.count("”")
    assert all('"' not in text_of(p) for p in chapter.body.iter("p"))
    assert '"代码不计入字数"' in text_of(next(chapter.body.iter("pre")))       # code keeps its quotes


@pytest.mark.slow
def test_bold_next_to_cjk_punctuation_becomes_strong(book):
    html = html_of(book.chapters[0])
    assert "策略是<strong>“开源+闭源”双轨</strong>：" in html
    assert "<strong>核心数据</strong>：" in html              # bold CommonMark read is left as it was


@pytest.mark.slow
def test_no_literal_asterisks_in_the_book(book):
    assert all("**" not in html_of(s) for s in book.sections())


# ------------------------------------------------------------------ headings and ids

@pytest.mark.slow
def test_chapter_title_heading_removed_and_headings_have_ascii_ids(book):
    chapter = book.chapters[0]
    html = html_of(chapter)
    assert chapter.body.find(".//h1") is None and "Chapter 1:" not in html
    ids = [h.id for h in chapter.headings]
    assert ids[0] == "ch01-s1" and "tech" in ids                  # generated, and the author's {#tech}
    assert [h.text for h in chapter.headings][:2] == ["引言", "技术细节"]
    assert all(i.isascii() for i in ids)
    every_id = [n.get("id") for s in book.sections() for n in s.body.iter() if is_element(n) and n.get("id")]
    assert len(every_id) == len(set(every_id))                    # unique in the whole book


@pytest.mark.slow
def test_anecdotes_are_asides(book):
    ch1, ch2 = book.chapters
    asides = ch1.body.findall(".//aside")
    assert len(asides) == 1 and asides[0].get("class") == "anecdote"
    heading = asides[0].find("h3")
    assert text_of(heading) == "💡 轶事：发布前夜" and asides[0].get("aria-labelledby") == heading.get("id")
    assert "凌晨三点" in text_of(asides[0])
    assert "小结" not in text_of(asides[0])                          # the aside ends at the next h2
    assert ch2.body.find(".//aside") is None


# ------------------------------------------------------------------ takeaways and references

@pytest.mark.slow
def test_takeaways_box_and_appendix(book):
    chapter, appendix = book.chapters[0], book.appendices[0]
    box = chapter.body.find(".//section[@class='takeaways-box']")
    assert box is not None and box.get("aria-labelledby") == box.find("h2").get("id") == "ch01-takeaways"
    assert [text_of(li) for li in box.iter("li")] == ["多模态成为主流", "开源模型追上闭源"]
    assert "Key Takeaways" not in html_of(chapter)                # the lead-in paragraph is gone
    assert chapter.body.find(".//hr") is None                     # and the rule before it
    html = html_of(appendix)
    assert html.count("<li>") == 3                                # 2 from chapter 1, 1 from chapter 2
    assert 'href="#ch01"' in html and 'href="#ch02"' in html and 'href="#acme"' not in html


@pytest.mark.slow
def test_references_move_to_numbered_appendix(book):
    chapter, article, appendix = book.chapters[0], book.parts[0].sections[0], book.appendices[1]
    assert "Llama 3 Herd of Models" not in html_of(chapter) and "Llama 3 Herd of Models" in html_of(appendix)
    assert "参考文献" not in html_of(article)                        # a Hugo '## 参考文献' heading moves too
    entries = appendix.body.findall(".//ol[@class='references']/li")
    assert [li.get("id") for li in entries] == ["ref-ch01-1", "ref-ch01-2", "ref-ch02-1", "ref-acme-1", "ref-acme-2"]
    back_links = [a.get("href") for a in appendix.body.findall(".//h2/a")]
    assert back_links == ["#ch01", "#ch02", "#acme"]


def also_cited(li):
    mark = li.find("span[@class='also-cited']")
    return None if mark is None else text_of(mark)


@pytest.mark.slow
def test_same_reference_in_two_documents_is_cross_marked(book):
    appendix = book.appendices[1]
    marks = {li.get("id"): also_cited(li) for li in appendix.body.iter("li")}
    # "OpenAI. (2024). GPT-4o System Card." is cited by chapter 1 and by the article
    assert marks["ref-ch01-1"] == "（另见《甲公司》）"
    assert marks["ref-acme-1"] == "（另见第1章）"
    assert marks["ref-ch01-2"] is None and marks["ref-acme-2"] is None


# ------------------------------------------------------------------ figures and images

@pytest.mark.slow
def test_diagrams_are_numbered_figures(book):
    ch2, article = book.chapters[1], book.parts[0].sections[0]
    [figure] = ch2.figures
    assert (figure.id, figure.label, figure.caption) == ("fig-loop", "图2-1", "智能体的循环")
    assert figure.asset.path.is_file() and figure.asset in book.assets
    html = html_of(ch2)
    assert f'<figure class="diagram" id="fig-loop"><img src="{figure.asset.href}"' in html
    assert "<figcaption><span class=\"figure-label\">图2-1</span>　智能体的循环</figcaption>" in html
    assert "mermaid" not in html and ch2.body.find(".//pre") is None
    assert book.titles["fig-loop"] == "图2-1　智能体的循环"
    [unnumbered] = article.figures                                 # an article's figures have no chapter number
    assert (unnumbered.label, unnumbered.id) == ("图1", "fig-acme-1") and unnumbered.asset in book.assets


@pytest.mark.slow
def test_local_image_becomes_an_asset(book, built):
    img = next(i for i in book.chapters[1].body.iter("img") if "blocks" in i.get("src"))
    asset = book.asset_for(img.get("src"))
    assert asset is not None and asset.path == built.root / "images" / "blocks.png"
    assert asset.media_type == "image/png" and img.get("src").startswith("images/")
    assert img.get("alt") == "一张测试用的示意图：三个色块"


def test_remote_image_stops_the_build_at_the_check_stage(mini, tmp_path, shared_cache):
    chapter = (mini / "ch1.md").resolve()
    line = append_line(chapter, REMOTE_IMAGE)
    out = out_dir(tmp_path, shared_cache, pandoc_only=True)
    diagnostics = Diagnostics()
    with pytest.raises(BuildStopped) as stopped:
        build_book(load_config(mini, diagnostics), out_dir=out, diagnostics=diagnostics)
    assert stopped.value.stage == "check"
    assert [(d.code, d.severity, d.file, d.line) for d in diagnostics] == [("image-remote", "error", chapter, line)]
    assert "https://example.org/x.png is remote" in diagnostics.errors[0].message
    assert not (out / "cache" / "diagrams").exists()              # stopped before rendering anything


@pytest.mark.slow
def test_draft_build_shows_a_placeholder_for_a_remote_image(mini, tmp_path, shared_cache):
    line = append_line(mini / "ch1.md", REMOTE_IMAGE)
    draft = build(mini, out_dir(tmp_path, shared_cache), draft=True)
    assert [(d.code, d.severity, d.line) for d in draft.diagnostics] == [("image-remote", "warning", line)]
    body = draft.book.chapters[0].body
    placeholder = body.find(".//span[@class='missing-image']")
    assert placeholder is not None and text_of(placeholder) == "［图片未载入：https://example.org/x.png］"
    assert all("example.org" not in (img.get("src") or "") for img in body.iter("img"))


# ------------------------------------------------------------------ dates

@pytest.mark.slow
def test_modified_date_is_reproducible(book, built, tmp_path, shared_cache, monkeypatch):
    # book.yaml's date (2026-01-15) is the newest the fixture declares
    assert book.modified == dt.datetime(2026, 1, 15, tzinfo=dt.timezone.utc)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    (tmp_path / "again").mkdir()
    assert build(built.root, out_dir(tmp_path / "again", shared_cache)).book.modified == book.modified

    newer = copy_book("mini", tmp_path)
    article = newer / "a1.md"
    article.write_text(article.read_text(encoding="utf-8").replace("date: 2024-12-01T10:00:00+08:00",
                                                                   "date: 2027-02-03T10:00:00+08:00"),
                       encoding="utf-8")
    (tmp_path / "newer").mkdir()
    assert build(newer, out_dir(tmp_path / "newer", shared_cache)).book.modified == \
        dt.datetime(2027, 2, 3, tzinfo=dt.timezone.utc)                # the newest date wins

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    (tmp_path / "epoch").mkdir()
    assert build(built.root, out_dir(tmp_path / "epoch", shared_cache)).book.modified == \
        dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)  # and SOURCE_DATE_EPOCH overrides


@pytest.mark.slow
def test_the_assemble_command_writes_book_html(mini, tmp_path):
    """Every command goes through the CLI once somewhere; this one wrote nothing when a change meant
    for the PDF commands landed in it too."""
    done = run_cli("assemble", "--manuscript", str(mini), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "<section" in (tmp_path / "out" / "book.html").read_text(encoding="utf-8")
