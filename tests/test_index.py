"""The book's index (pipeline/subject_index.py) on tests/books/index: where occurrences are found,
the Chinese sort order, the printed pages against the PDF's own text, the EPUB's links, and the
check stage's warnings."""
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from conftest import build_fixture_book, copy_book, run_cli
from pipeline import pdf_parallel
from pipeline.epub import write_epub
from pipeline.pdf import write_pdf
from pipeline.subject_index import group_letter, page_ranges, sort_key
from pipeline.tree import text_of
from pipeline.validate import run_epubcheck

XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("index")
    return build_fixture_book("index", out, out / "build"), out


@pytest.fixture(scope="module")
def printed(built):
    book, out = built
    return write_pdf(book, out / "single.pdf", cache_dir=out / "cache")


def index_section(book):
    return next(s for s in book.appendices if s.id == "book-index")


def terms(section) -> list[str]:
    return [text_of(t) for t in section.body.iter("span") if t.get("class") == "index-term"]


# ---------------------------------------------------------------- order

def test_pinyin_order_with_polyphonic_names_and_latin_terms(built):
    book, _ = built
    # 长安 (chang) before 重庆 (chong, not zhong); 招商银行 (yin hang) under Z; Latin terms among them
    assert terms(index_section(book)) == ["Apple", "长安汽车", "重庆实验室", "DeepSeek", "检索增强生成", "招商银行",
                                          "智能体", "智谱AI", "GLM-4"]
    letters = [text_of(h) for h in index_section(book).body.iter("h2")]
    assert letters == ["A", "C", "D", "J", "Z"]


def test_sort_keys():
    assert sort_key("重庆")[:2] == ("chong qing", (2, 4))
    assert sort_key("长安")[:2] == ("chang an", (2, 1))
    assert sort_key("行业", "hang ye")[0] == "hang ye"
    assert sort_key("DeepSeek")[0] == "deepseek"
    assert sorted(["智谱AI", "DeepSeek", "长安", "Apple", "重庆"], key=sort_key) == \
        ["Apple", "长安", "重庆", "DeepSeek", "智谱AI"]
    assert group_letter(sort_key("3D打印")) == "0–9"
    assert page_ranges([9, 3, 4, 5, 4]) == [(3, 5), (9, 9)]


# ---------------------------------------------------------------- where occurrences are

def marks(book, slug_prefix: str) -> list:
    return [s for section in book.sections() for s in section.body.iter("span")
            if (s.get("id") or "").startswith(f"ix-{slug_prefix}")]


def test_occurrences_skip_code_headings_notes_and_exclusions(built):
    book, _ = built
    deepseek = marks(book, "deepseek")
    # ch1: 深度求索, DeepSeek, DeepSeek (same page), DeepSeek later; ch2: the {.idx} mark, the last line
    assert [text_of(s) for s in deepseek] == ["深度求索", "DeepSeek", "DeepSeek", "DeepSeek", "深度求索", "DeepSeek"]
    for span in deepseek:
        assert not any(a.tag in ("code", "pre", "h2", "sup") or "footnotes" in (a.get("class") or "")
                       for a in span.iterancestors())
    assert marks(book, "meta") == []            # "Metadata" is not Meta, and [Meta]{.noidx} is kept out
    zhipu = [text_of(s) for s in marks(book, "zhipu")]
    assert zhipu == ["智谱AI", "GLM-4", "GLM4", "那家公司", "Zhipu AI"]     # aliases, sub-entry, a {.idx key=} mark
    assert len({s.get("id") for s in marks(book, "")}) == len(marks(book, ""))    # one anchor each


def test_check_warns_on_unmentioned_slugs_unused_entries_and_unknown_marks(tmp_path):
    root = copy_book("index", tmp_path)
    chapter = root / "ch2.md"
    chapter.write_text(chapter.read_text(encoding="utf-8").replace("{.idx key=zhipu}", "{.idx key=zhipuu}"),
                       encoding="utf-8")
    result = run_cli("check", "--manuscript", str(root))
    assert result.returncode == 1, result.stderr
    assert re.search(r"ch2\.md:5: warning: 'meta' in key_organizations is never mentioned in the text "
                     r"\(looked for: Meta\)\. \[index-slug-unmentioned\]", result.stderr), result.stderr
    assert re.search(r"organizations\.yaml:20: warning: the registry entry 'unused-org' .* \[index-entry-unused\]",
                     result.stderr), result.stderr
    assert re.search(r"ch2\.md:9: error: the index mark names 'zhipuu', which the registry does not have\. "
                     r"\[index-key-unknown\]", result.stderr), result.stderr


def test_malformed_registry_entries_are_all_reported(tmp_path):
    root = copy_book("index", tmp_path)
    (root / "data" / "concepts.yaml").write_text("agents:\n  nam: 智能体\nrag:\n  name: 检索增强\n  pinyin: 拼音\n",
                                                 encoding="utf-8")
    result = run_cli("check", "--manuscript", str(root))
    assert "concepts.yaml:1: error: 'agents': unknown key(s) nam." in result.stderr, result.stderr
    assert "concepts.yaml:1: error: 'agents': has no 'name'." in result.stderr
    assert "concepts.yaml:3: error: 'rag': 'pinyin' must be Latin letters and spaces." in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- print

def folios(pdf: Path) -> tuple[dict[str, int], list[str]]:
    """Every named destination's folio (the body counts from 1 at ch01), and each page's text."""
    reader = PdfReader(pdf)
    physical = {name: reader.get_destination_page_number(d) for name, d in reader.named_destinations.items()}
    start = physical["ch01"]
    texts = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    return {name: page - start + 1 for name, page in physical.items()}, texts[start:]


def printed_pages(pdf: Path, term: str) -> list[int]:
    _, texts = folios(pdf)
    index_page = next(t for t in texts if re.search(r"^\s*索引\s*$", t, re.M))
    line = next(line for line in index_page.splitlines() if re.search(rf"(^|\s){re.escape(term)}\s+\d", line))
    numbers = re.search(rf"{re.escape(term)}\s+([\d–, ]+)", line).group(1)
    pages = []
    for part in numbers.replace(" ", "").strip(",").split(","):
        first, _, last = part.partition("–")
        pages += range(int(first), int(last or first) + 1)
    return pages


@pytest.mark.slow
@pytest.mark.parametrize("term, spellings", [("DeepSeek", ("DeepSeek", "深度求索")),
                                             ("智谱 AI", ("智谱 AI", "Zhipu AI", "那家公司", "GLM")),
                                             ("重庆实验室", ("重庆",))])
def test_printed_pages_are_where_the_text_is(built, printed, term, spellings):
    """The index's pages, against pdftotext of those pages and against the PDF's anchors."""
    pages = printed_pages(printed, term)
    assert len(pages) >= 1
    folio, texts = folios(printed)
    for page in pages:
        assert any(s in texts[page - 1] for s in spellings), (term, page, texts[page - 1][:300])
    slug = {"DeepSeek": "deepseek", "智谱 AI": "zhipu", "重庆实验室": "chongqing-lab"}[term]
    anchored = sorted({n for name, n in folio.items() if re.fullmatch(rf"ix-{slug}(-\d+)?", name)})
    assert pages == anchored


@pytest.mark.slow
def test_ranges_are_merged_and_pages_are_links(printed):
    pages = printed_pages(printed, "DeepSeek")
    text = "\f".join(folios(printed)[1])
    assert re.search(r"DeepSeek\s+1, \d+–\d+", text), "a range is printed for consecutive pages"
    reader = PdfReader(printed)
    index_number = max(i for i, p in enumerate(reader.pages) if "索引" in (p.extract_text() or ""))
    dests = [a.get_object().get("/Dest") for a in reader.pages[index_number].get("/Annots", [])]
    assert len([d for d in dests if d is not None and str(d).startswith("ix-")]) >= len(pages) - 1


@pytest.mark.slow
def test_the_parallel_writer_prints_the_same_index(built, printed):
    book, out = built
    parallel = pdf_parallel.write_pdf_parallel(book, out / "parallel.pdf", workers=2, cache_dir=out / "pcache")
    assert folios(parallel)[1] == folios(printed)[1]
    # the index is laid out last, its pages known; the glossary's page references settle from the pages cache
    again = pdf_parallel.write_pdf_parallel(book, out / "again.pdf", workers=2, cache_dir=out / "pcache")
    assert pdf_parallel.TIMINGS["rounds"] == 1 and again.read_bytes() == parallel.read_bytes()


# ---------------------------------------------------------------- EPUB

@pytest.mark.slow
def test_epub_index_links_land_on_their_occurrence_and_pass_epubcheck(built, tmp_path):
    book, out = built
    epub = write_epub(book, tmp_path / "book.epub", cache_dir=out / "cache")
    with zipfile.ZipFile(epub) as package:
        pages = {name: etree.fromstring(package.read(name)) for name in package.namelist() if name.endswith(".xhtml")}
    index = pages["EPUB/text/book-index.xhtml"]
    assert index.find(f".//{XHTML}section[@class='book-index']").get("{http://www.idpf.org/2007/ops}type") == "index"
    links = index.findall(f".//{XHTML}a[@class='index-locator']")
    assert len(links) > 10
    for link in links:
        file, _, anchor = link.get("href").partition("#")
        target = pages[f"EPUB/text/{file}"].find(f".//*[@id='{anchor}']")
        entry = next(link.iterancestors(f"{XHTML}li"))
        term = entry.find(f"{XHTML}span").text
        assert target is not None and "ix" in target.get("class").split(), link.get("href")
        assert "".join(target.itertext()) in {"DeepSeek", "深度求索", "Apple", "长安", "重庆", "招商银行", "智能体", "智谱AI",
                               "Zhipu AI", "那家公司", "GLM-4", "GLM4", "RAG", "检索增强生成"}, (term, target.text)
    verdict = run_epubcheck(epub, tmp_path / "epubcheck.json")
    assert verdict.passed and verdict.counts["error"] == verdict.counts["warning"] == 0, verdict.messages


# ---------------------------------------------------------------- glossary

def test_glossary_lists_used_concepts_with_english_definition_and_first_use(built):
    book, _ = built
    glossary = next(s for s in book.appendices if s.id == "glossary")
    terms = [(dt.get("id"), text_of(dt)) for dt in glossary.body.iter("dt")]
    assert terms == [("gl-rag", "检索增强生成Retrieval-Augmented Generation"), ("gl-agents", "智能体AI agent")]
    first = {dt.get("id"): dt.getnext() for dt in glossary.body.iter("dt")}
    assert "能够自行规划" in text_of(first["gl-agents"])
    assert next(first["gl-agents"].iter("a")).text == "第1章"
    assert next(first["gl-rag"].iter("a")).text == "第2章"
    # after a full stop its blank half separates the first use; without one, a margin does
    first_use = {key: next(e for e in dd.iter("span") if "glossary-first" in e.get("class")) for key, dd in first.items()}
    assert first_use["gl-agents"].get("class") == "glossary-first after-mark"
    assert first_use["gl-rag"].get("class") == "glossary-first"
    # each chapter's first use links to the entry, later uses do not
    links = [(s.id, text_of(a)) for s in book.chapters for a in s.body.iter("a") if a.get("href", "").startswith("#gl-")]
    assert links == [("ch01", "智能体"), ("ch02", "智能体"), ("ch02", "RAG")]


@pytest.mark.slow
def test_glossary_prints_the_page_of_first_use(built, printed):
    folio, texts = folios(printed)
    page = next(t for t in texts if re.search(r"^\s*术语表\s*$", t, re.M))
    found = re.search(r"首见于第 ?1 ?章（第 (\d+) 页）", page)
    assert found, page
    first_use = min(n for name, n in folio.items() if name.startswith("ix-agents"))
    assert int(found.group(1)) == first_use
    assert "智能体" in texts[first_use - 1]
