"""Citations (pipeline/citations.py) on tests/books/citations: GB/T 7714-2015 entries against the
standard's own examples, numbering per chapter in citation order, links, code left alone,
unknown keys, and the references appendix."""
import re
import zipfile

import pytest
from lxml import etree

from conftest import build_fixture_book, copy_book, run_cli
from pipeline.citations import format_entries, load_bibliography, style_path
from pipeline.epub import write_epub
from pipeline.tree import text_of
from pipeline.validate import run_epubcheck

# GB/T 7714-2015, appendix A: the standard's examples of the types the issue names (the entries
# in tests/books/citations/references.yaml hold their data).
STANDARD = {
    "jiang1998": "蒋有绪, 郭泉水, 马娟, 等. 中国森林群落分类及其群落学特征[M]. 北京: 科学出版社, 1998.",
    "yuan2012": "袁训来, 陈哲, 肖书海, 等. 蓝田生物群: 一个认识多细胞生物起源和早期演化的新窗口[J]. "
                "科学通报, 2012, 55(34): 3219.",
    "who1970": "World Health Organization. Factors regulating the immune response: report of WHO Scientific "
               "Group[R]. Geneva: WHO, 1970.",
    "xiao2001": "萧钰. 出版业信息化迈入快车道[EB/OL]. (2001-12-19)[2002-04-15]. "
                "http://www.creader.com/news/20011219/200112190019.html.",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("citations")
    return build_fixture_book("citations", out, out / "build"), out


def plain(html: str) -> str:
    return " ".join(text_of(etree.HTML(f"<p>{html}</p>")).split())


def test_entries_are_the_standards_examples(tmp_path):
    root = copy_book("citations", tmp_path)
    entries = format_entries(list(STANDARD), root / "references.yaml",
                             style_path("gb-t-7714-2015-numeric", root), tmp_path / "cache")
    for number, (key, expected) in enumerate(STANDARD.items(), 1):
        assert plain(entries[number - 1]) == f"[{number}] {expected}", key


def test_citations_are_numbered_per_chapter_as_first_cited_and_link_to_their_entry(built):
    book, _ = built
    first, second = book.chapters
    cites = [(text_of(s), s[0].get("href")) for s in first.body.iter("sup") if s.get("class") == "citation"]
    assert cites == [("[1]", "#ref-ch01-1"), ("[2,3]", "#ref-ch01-2"), ("[4]12", "#ref-ch01-4"),
                     ("[1]", "#ref-ch01-1")]
    assert [text_of(s) for s in second.body.iter("sup") if s.get("class") == "citation"] == ["[1]", "[2]", "[3]"]
    # code is not rewritten
    assert "[@jiang1998]" in "".join(text_of(c) for c in first.body.iter("code"))


def test_the_references_appendix_lists_cited_works_then_the_free_text_list(built):
    book, _ = built
    appendix = next(s for s in book.appendices if s.id == "references")
    groups = list(appendix.body.iter("section"))
    entries = [(li.get("id"), text_of(li)) for li in groups[0].iter("li")]
    assert [ident for ident, _ in entries[:4]] == ["ref-ch01-1", "ref-ch01-2", "ref-ch01-3", "ref-ch01-4"]
    assert entries[0][1] == "[1] " + STANDARD["jiang1998"]
    assert entries[4][1].startswith("一条作者手写的参考文献")
    assert text_of(next(groups[1].iter("li"))) == "[1] " + STANDARD["who1970"]



def test_the_length_leaves_the_citation_numbers_out(built):
    import copy
    from pipeline.measure import measure
    from pipeline.tree import remove_keeping_tail
    body = book_body = copy.deepcopy(built[0].chapters[1].body)
    bare = copy.deepcopy(book_body)
    for sup in [s for s in bare.iter("sup") if s.get("class") == "citation"]:
        remove_keeping_tail(sup)
    assert measure(body).length == measure(bare).length > 0


def test_an_unknown_key_is_an_error_at_its_line(tmp_path):
    root = copy_book("citations", tmp_path)
    chapter = root / "ch2.md"
    chapter.write_text(chapter.read_text(encoding="utf-8").replace("[@roberson]", "[@robreson]"), encoding="utf-8")
    result = run_cli("check", "--manuscript", str(root))
    assert result.returncode == 1
    assert re.search(r"ch2\.md:6: error: \[@robreson\] cites a key the bibliography does not have\. "
                     r"\[citation-unknown\]", result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_bibtex_and_csl_json_are_read_too(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("@book{jiang1998, author = {蒋有绪}, title = {中国森林群落分类及其群落学特征}, "
                   "publisher = {科学出版社}, address = {北京}, year = {1998}}\n", encoding="utf-8")
    assert load_bibliography(bib)["jiang1998"]["publisher"] == "科学出版社"
    data = tmp_path / "refs.json"
    data.write_text('[{"id": "a", "type": "book", "title": "T"}]', encoding="utf-8")
    assert list(load_bibliography(data)) == ["a"]


@pytest.mark.slow
def test_the_epub_links_citations_to_entries_and_passes_epubcheck(built, tmp_path):
    book, out = built
    epub = write_epub(book, tmp_path / "book.epub", cache_dir=out / "cache")
    with zipfile.ZipFile(epub) as package:
        chapter = package.read("EPUB/text/ch01.xhtml").decode()
        references = package.read("EPUB/text/references.xhtml").decode()
    assert 'href="references.xhtml#ref-ch01-4"' in chapter
    assert 'id="ref-ch01-4"' in references
    verdict = run_epubcheck(epub, tmp_path / "epubcheck.json")
    assert verdict.passed and verdict.counts["error"] == verdict.counts["warning"] == 0, verdict.messages


def test_a_citation_attaches_to_the_text_before_it_in_print():
    from pipeline.typeset import typeset_html
    html = typeset_html('<p>OpenAI的Sora<sup class="citation"><a>[1]</a></sup>让世界看到，见专著'
                        '<sup class="citation"><a>[2]</a></sup>。</p>')
    assert "Sora<sup" in html and "autospace" not in html.split("Sora")[1].split("让")[0]
    assert re.search(r"著<sup class=\"citation\">", html), html


def test_entries_keep_the_standards_spacing_and_get_han_latin_gaps_in_print():
    from pipeline.typeset import typeset_html
    html = typeset_html('<div class="bibliography-entries"><p>阿里云. 通义千问Qwen1.5技术报告[R]. 杭州: 阿里云, 2024.</p></div>')
    # a gap (a margin, no character) between Han and Latin letters, none inside "[R]. 杭州: …"
    assert html.count('<span class="gap"></span>') == 2, html
    assert "问<span class=\"gap\"></span>Qwen1.5<span class=\"gap\"></span>技术报告[R]. 杭州: 阿里云, 2024." in html, html


def test_book_wide_numbering_continues_across_chapters(tmp_path):
    from pipeline.build import build_book
    from pipeline.config import load_config
    from pipeline.diagnostics import Diagnostics
    root = copy_book("citations", tmp_path)
    config = root / "book.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "  bibliography: references.yaml", "  bibliography: references.yaml\n  numbering: book"), encoding="utf-8")
    diagnostics = Diagnostics()
    book = build_book(load_config(root), out_dir=tmp_path / "build", diagnostics=diagnostics)
    assert not diagnostics.errors, [str(d) for d in diagnostics.errors]
    second = [(text_of(s), s[0].get("href")) for s in book.chapters[1].body.iter("sup") if s.get("class") == "citation"]
    # who1970 and jiang1998 were numbered in chapter 1 (3 and 1); roberson is the book's fifth work
    assert second == [("[3]", "#ref-book-3"), ("[1]", "#ref-book-1"), ("[5]", "#ref-book-5")]
    appendix = next(s for s in book.appendices if s.id == "references")
    groups = list(appendix.body.iter("section"))
    assert [li.get("id") for li in groups[1].iter("li")] == ["ref-book-5"]     # only the works cited first there
    assert text_of(next(groups[1].iter("li"))).startswith("[5] Roberson J A")


def test_a_style_outside_the_manuscript_and_styles_is_refused(tmp_path):
    root = copy_book("citations", tmp_path / "book")
    outside = tmp_path / "evil.csl"
    outside.write_text("<style/>", encoding="utf-8")
    assert not style_path("../evil.csl", root).is_file()
    assert not style_path("../../evil", root).is_file()
    assert style_path("gb-t-7714-2015-numeric", root).is_file()
    config = root / "book.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("  bibliography: references.yaml",
                                                                 "  bibliography: references.yaml\n  style: ../evil.csl"),
                      encoding="utf-8")
    result = run_cli("check", "--manuscript", str(root))
    assert result.returncode == 1 and "'citations.style' names '../evil.csl'" in result.stderr, result.stderr


def test_a_hostile_bibliography_entry_goes_through_the_sanitizer(tmp_path):
    """citeproc passes HTML in a title through: the entries are sanitized like the author's text."""
    from pipeline.build import build_book
    from pipeline.config import load_config
    from pipeline.diagnostics import Diagnostics
    root = copy_book("citations", tmp_path)
    bib = root / "references.yaml"
    bib.write_text(bib.read_text(encoding="utf-8").replace(
        "title: 出版业信息化迈入快车道",
        'title: "<span onclick=\\"steal()\\">快车道</span><img src=/etc/passwd onerror=steal()>"'), encoding="utf-8")
    diagnostics = Diagnostics(draft=True)
    book = build_book(load_config(root), out_dir=tmp_path / "build", diagnostics=diagnostics)
    appendix = next(s for s in book.appendices if s.id == "references")
    entry = next(li for li in appendix.body.iter("li") if "快车道" in text_of(li))
    assert not any(name.startswith("on") for node in entry.iter() for name in node.attrib), etree.tostring(entry)
    assert not list(entry.iter("img")) or all(i.get("src", "").startswith("images/") for i in entry.iter("img"))
