"""The assemble stage on the real seed documents, with real pandoc."""
from pathlib import Path

import pytest

from conftest import SEED_CHAPTER, SEED_PROFILE
from pipeline import assemble
from pipeline.build import build_book
from pipeline.config import load_config
from pipeline.errors import PipelineError


def test_fix_cjk_inline_pairs_within_a_line_and_leaves_code():
    text = '2023年的"百模大战"证明 `a"b` 与"Computer Use"功能\n```\nx = "q"\n```\n'
    assert assemble.fix_cjk_inline(text) == '2023年的“百模大战”证明 `a"b` 与“Computer Use”功能\n```\nx = "q"\n```\n'


def test_fix_cjk_inline_leaves_an_odd_quote_alone():
    assert assemble.fix_cjk_inline('他说"好"和"\n') == '他说“好”和"\n'


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    return build_book(load_config(Path(__file__).resolve().parent.parent / "manuscript"), out_dir=out)


def test_reading_order_and_labels(book):
    assert [s.id for s in book.sections()] == ["ch06", "zhipu", "takeaways", "references"]
    chapter = book.chapters[0]
    assert chapter.full_title == "第6章　多模态与Agent：2024年的能力跃升"
    assert chapter.status == "draft" and not chapter.final
    assert book.parts[0].title == "企业档案" and book.parts[0].sections[0].final
    assert [a.label for a in book.appendices] == ["附录A", "附录B"]


def test_lists_survive_without_blank_line(book):
    html = book.chapters[0].html
    # the seed writes 57 lists straight after a line of text; pandoc's default reader loses them all
    assert html.count("<ul>") + html.count("<ol>") >= 50
    assert "<p>- " not in html


def test_quotes_are_paired_in_html(book):
    html = book.chapters[0].html
    assert "“百模大战”" in html
    assert html.count("“") == html.count("”")


def test_chapter_title_heading_removed_and_sections_numbered(book):
    chapter = book.chapters[0]
    assert "<h1" not in chapter.html and "Chapter 6:" not in chapter.html
    ids = [h.id for h in chapter.headings]
    assert ids[0] == "ch06-s1" and len(set(ids)) == len(ids)
    assert all(i.isascii() for i in ids)


def test_anecdotes_are_asides(book):
    html = book.chapters[0].html
    assert html.count('<aside class="anecdote"') == 2
    assert "Claude 3发布前夜的焦虑" in html.split('<aside class="anecdote"')[1]


def test_takeaways_box_and_appendix(book):
    chapter, appendix = book.chapters[0], book.appendices[0]
    assert 'class="takeaways-box"' in chapter.html
    assert appendix.html.count("<li>") == 8
    assert 'href="#ch06"' in appendix.html


def test_references_move_to_numbered_appendix(book):
    chapter, appendix = book.chapters[0], book.appendices[1]
    assert "Llama 3 Herd of Models" not in chapter.html
    assert "Llama 3 Herd of Models" in appendix.html
    assert 'id="ref-ch06-10"' in appendix.html and 'id="ref-zhipu-5"' in appendix.html
    assert 'href="#zhipu"' in appendix.html


def test_profile_diagram_is_a_numbered_figure(book):
    profile = book.parts[0].sections[0]
    assert len(profile.figures) == 1
    figure = profile.figures[0]
    assert figure.asset.path.is_file() and figure.asset in book.assets
    assert f'src="{figure.asset.href}"' in profile.html and "mermaid" not in profile.html


def test_modified_date_is_reproducible(book):
    assert book.modified.isoformat() == "2026-11-25T00:00:00+00:00"


def test_same_reference_in_two_documents_is_cross_marked(manuscript, tmp_path):
    profile = manuscript / SEED_PROFILE
    text = profile.read_text(encoding="utf-8")
    profile.write_text(text + "- OpenAI. (2024). GPT-4o System Card. Technical Report.\n", encoding="utf-8")
    book = build_book(load_config(manuscript), out_dir=tmp_path / "out")
    references = book.appendices[1].html
    assert "（另见《智谱AI(GLM)》）" in references and "（另见第6章）" in references


def test_remote_image_is_an_error_or_a_draft_placeholder(manuscript, tmp_path):
    chapter = manuscript / SEED_CHAPTER
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\n![远程](https://example.org/x.png)\n",
                       encoding="utf-8")
    with pytest.raises(PipelineError) as error:
        build_book(load_config(manuscript), out_dir=tmp_path / "out")
    assert error.value.file == chapter and error.value.line is not None and "remote" in error.value.what
    draft = build_book(load_config(manuscript), out_dir=tmp_path / "out", draft=True)
    assert "远程图片未载入" in draft.chapters[0].html


def test_bold_next_to_cjk_punctuation_becomes_strong():
    assert assemble.fix_cjk_inline('策略是**"开源+闭源"双轨**：\n') == "策略是<strong>“开源+闭源”双轨</strong>：\n"
    # bold CommonMark already reads stays Markdown
    assert assemble.fix_cjk_inline("更是**世界模型**（World Model）\n") == "更是**世界模型**（World Model）\n"


def test_no_literal_asterisks_in_the_book(book):
    assert all("**" not in s.html for s in book.sections())
