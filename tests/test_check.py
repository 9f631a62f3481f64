"""The check stage and its bad-input errors through the CLI, on private copies of the fixture
book tests/books/mini (never the live manuscript/).

Most runs call the CLI's main() in this process (the same code `python -m pipeline` runs, a
quarter of a second cheaper per run); the tests about what a whole run prints and how the
process exits start the real command (conftest.run_cli).
"""
import logging
import re
import subprocess

import pytest

from conftest import run_cli
from pipeline.check import check_manuscript
from pipeline.cli import main
from pipeline.config import DocRef, load_config
from pipeline.diagnostics import Diagnostics
from pipeline.documents import read_document
from pipeline.measure import count_text, measure
from pipeline.parse import markdown_tree

STATUSES = "outline, draft, review, copyedit, final"


# ------------------------------------------------------------------ helpers

@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One pandoc cache for the module: it is keyed by content, so an unchanged document parses once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def out(tmp_path, shared_cache):
    out = tmp_path / "out"
    out.mkdir()
    (out / "cache").symlink_to(shared_cache, target_is_directory=True)
    return out


@pytest.fixture
def run(capsys, out):
    """run(command, manuscript, *flags) -> CompletedProcess, through cli.main() in this process."""
    logger = logging.getLogger("pipeline")
    saved = logger.handlers[:], logger.propagate, logger.level

    def run_main(command, manuscript, *flags):
        argv = [command, "--manuscript", str(manuscript), "--out", str(out), *flags]
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, captured.out, captured.err)

    yield run_main
    logger.handlers[:], logger.propagate = saved[0], saved[1]     # main() points them at captured streams
    logger.setLevel(saved[2])


def process(command, manuscript, out, *flags):
    """The real command in its own process."""
    return run_cli(command, "--manuscript", str(manuscript), "--out", str(out), *flags)


def replace_in(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture drift: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_no(path, prefix):
    """The 1-based number of the first line of the file that starts with `prefix`."""
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(prefix))


def at(path, prefix):
    """'<file>:<line>' as messages print it, for that line."""
    return f"{path.resolve()}:{line_no(path, prefix)}"


def measured(path, cache):
    doc = read_document(DocRef(path.resolve()), "chapter")
    return measure(markdown_tree(doc.body, doc.body_line, cache / "pandoc")).length


def problem_lines(stderr):
    return [line for line in stderr.splitlines() if re.search(r": (error|warning): ", line)]


def assert_clean_error(result, *fragments):
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "error: " in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# ------------------------------------------------------------------ length rule

@pytest.mark.parametrize("text, expected", [
    ("多模态", 3),
    ("多模态，", 4),                                   # full-width punctuation counts
    ("GPT-4o实现了“原生”多模态", 1 + 3 + 4 + 3),         # Latin run is one word; “” count
    ("75.8%（GPT-3.5: 70%）", 1 + 1 + 1 + 1 + 1),
    ("Llama 3.1 405B", 3),
    ("见 https://example.org/a-b 与 www.x.cn", 2),     # URLs are not text
    ("- — ...", 1),                                   # ASCII punctuation alone counts nothing; — is Chinese dash
])
def test_count_text_follows_word_rule(text, expected):
    assert count_text(text) == expected


def test_measure_skips_markup_code_and_link_targets(tmp_path):
    body = ('## 标题\n\n正文**加粗**[链接](https://a.example/very/long)"引号"\n- 列表\n1. 编号\n\n'
            "```\n代码不计 code\n```\n\n```mermaid\ntimeline\n  2019 : 图不计\n```\n"
            "| 表 | 格 |\n|---|---|\n| 一 | 二 |\n")
    tree = markdown_tree(body, 1, tmp_path)
    # 标题2 正文加粗4 链接2 “引号”4 (paired quotes are full-width, one each) 列表2 编号2 表格2 一二2
    assert measure(tree).length == 20


def test_measure_counts_inline_code_and_image_descriptions_but_not_note_numbers(tmp_path):
    tree = markdown_tree("见`pip`命令![示意图](x.png)[^1]，详见 https://example.org/x 。\n\n[^1]: 注释\n",
                         1, tmp_path)
    # 见1 pip1 命令2 示意图3 ，1 详见2 。1 注释2; the note's number, its back-link and the URL count nothing
    assert measure(tree).length == 13


def test_structure_of_the_fixture_documents(mini, shared_cache):
    report = check_manuscript(load_config(mini), Diagnostics(), shared_cache)
    ch1, ch2, article = (d.measurement for d in report.documents)
    path = mini / "ch1.md"
    assert [(b.text, b.line, b.level) for b in ch1.anecdotes] == [("💡 轶事：发布前夜", line_no(path, "### 💡"), 3)]
    assert (ch1.takeaways.line, ch1.takeaways.level) == (line_no(path, "**本章要点**"), 0)
    assert ch1.references.line == line_no(path, "**参考文献**")
    assert ch2.anecdotes == [] and ch2.takeaways is not None and ch2.references is not None
    assert article.references is not None and article.references.level == 2   # '## 参考文献' in a Hugo article


# ------------------------------------------------------------------ a clean book, declared vs measured

def test_the_fixture_book_checks_clean(mini, run):
    result = run("check", mini, "--strict")
    assert result.returncode == 0, result.stderr
    assert problem_lines(result.stderr) == []
    assert "checked 3 document(s)" in result.stderr


def test_check_reports_declared_against_measured(mini, out, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, "word_count: 237", "word_count: 300")
    result = run("check", mini)
    assert result.returncode == 0, result.stderr                   # a warning, not an error
    length = measured(chapter, out / "cache")
    assert length < 300 * 0.95
    assert (f"{at(chapter, 'word_count:')}: warning: word_count declares 300 but the text measures {length}"
            in result.stderr)
    assert f"declared 300, measured {length}" in result.stderr
    assert "0 error(s), 1 warning(s)" in result.stderr


@pytest.mark.parametrize("beyond", [False, True])
def test_word_count_tolerance_edge(mini, out, run, beyond):
    chapter = mini / "ch1.md"
    length = measured(chapter, out / "cache")
    declared = int(length / 0.95) + beyond       # the largest figure within 5% of the text, and one more
    replace_in(chapter, "word_count: 237", f"word_count: {declared}")
    result = run("check", mini)
    assert (f"word_count declares {declared} but the text measures {length}" in result.stderr) is beyond


def test_strict_fails_on_warnings(mini, out):
    replace_in(mini / "ch1.md", "word_count: 237", "word_count: 300")
    result = process("check", mini, out, "--strict")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "warnings count as errors with --strict" in result.stderr
    where = [line.split(": warning: ")[0] for line in problem_lines(result.stderr)]
    assert where == [at(mini / "ch1.md", "word_count:")]


def test_release_gate_names_draft_documents(mini, run):
    result = run("check", mini, "--release")
    assert_clean_error(result, f"{at(mini / 'ch1.md', 'status:')}: error: '起点：从文本到多模态' is draft, not final")
    not_final = [line for line in result.stderr.splitlines() if "not final" in line]
    assert len(not_final) == 1       # ch2 (status: final) and a1 (draft: false) pass the gate


def test_fix_counts_rewrites_only_the_two_lines(mini, out, run):
    chapter = mini / "ch1.md"
    pristine = {p.name: p.read_bytes() for p in mini.glob("*.md")}
    replace_in(chapter, "word_count: 237", "word_count: 300  # 估计")
    replace_in(chapter, "anecdote_count: 1", "anecdote_count: 3")
    before = {p.name: p.read_bytes() for p in mini.glob("*.md")}
    lengths = {name: measured(mini / name, out / "cache") for name in ("ch1.md", "ch2.md")}

    result = run("check", mini, "--fix-counts")
    assert result.returncode == 0, result.stderr
    assert "updated word_count/anecdote_count in" in result.stderr
    after = {p.name: p.read_bytes() for p in mini.glob("*.md")}
    for name in before:
        old, new = before[name].split(b"\n"), after[name].split(b"\n")
        assert len(old) == len(new)
        for a, b in zip(old, new):
            if a != b:
                assert re.match(rb"(word_count|anecdote_count): ", a), (name, a, b)
    assert after["a1.md"] == pristine["a1.md"]                     # declares nothing to fix
    assert f"word_count: {lengths['ch1.md']}  # 估计\n".encode() in after["ch1.md"]   # the comment stays
    assert b"\nanecdote_count: 1\n" in after["ch1.md"]
    assert f"\nword_count: {lengths['ch2.md']}\n".encode() in after["ch2.md"]

    again = run("check", mini, "--strict")
    assert again.returncode == 0, again.stderr
    for name, length in lengths.items():
        assert f"{name}: {'draft' if name == 'ch1.md' else 'final'}, declared {length}, measured {length}" \
            in again.stderr


def test_unknown_key_and_unknown_slug_warn_with_suggestion(mini, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, "  - openai\n", "  - opnai\n")
    replace_in(chapter, "  - moe\n", "  - quantum-widgets\n")
    replace_in(chapter, "anecdote_count: 1\n", "anecdote_count: 1\nmood: happy\n")
    result = run("check", mini)
    assert result.returncode == 0, result.stderr
    assert (f"{at(chapter, 'key_organizations:')}: warning: 'opnai' in key_organizations is not in the registry. "
            "[slug-unknown] (Did you mean 'openai'?)") in result.stderr
    assert (f"{at(chapter, 'technical_concepts:')}: warning: 'quantum-widgets' in technical_concepts is not in the "
            "registry. [slug-unknown] (Add it to the registry file") in result.stderr
    assert f"{at(chapter, 'mood:')}: warning: unknown front-matter key 'mood'" in result.stderr


def test_a_key_of_the_authors_own_is_listed_in_book_yaml(mini, run):
    """A Hugo site's own params (content_type, card) warn on every page until book.yaml names them;
    a misspelt key gets a did-you-mean."""
    chapter = mini / "ch1.md"
    replace_in(chapter, "anecdote_count: 1\n", "anecdote_count: 1\ncontent_type: concept\ntitel: 又一个\n")
    result = run("check", mini)
    assert f"{at(chapter, 'content_type:')}: warning: unknown front-matter key 'content_type'" in result.stderr
    assert "check.extra_keys" in result.stderr
    assert f"{at(chapter, 'titel:')}: warning: unknown front-matter key 'titel'. [meta-unknown-key] " \
        "(Did you mean 'title'?" in result.stderr
    replace_in(mini / "book.yaml", "  registry: data\n", "  registry: data\n  extra_keys: [content_type]\n")
    result = run("check", mini)
    assert "'content_type'" not in result.stderr and "'titel'" in result.stderr


def test_anecdote_count_mismatch_warns(mini, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, "anecdote_count: 1", "anecdote_count: 3")
    result = run("check", mini)
    assert result.returncode == 0, result.stderr
    assert f"{at(chapter, 'anecdote_count:')}: warning: anecdote_count declares 3 but the text has 1" in result.stderr


@pytest.mark.parametrize("lead_in, name", [("**本章要点** (Key Takeaways):", "本章要点"),
                                           ("**参考文献** (References):", "参考文献")])
def test_missing_takeaways_or_references_warns(mini, lead_in, name, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, lead_in, "**其他**:")
    result = run("check", mini)
    assert result.returncode == 0, result.stderr
    assert f"{chapter.resolve()}: warning: the chapter has no {name}" in result.stderr
    assert len(problem_lines(result.stderr)) == 1


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("old, new, broken_key", [
    ('title_en: "The Start: From Text to Multimodality"', "title_en: The Start: From Text to Multimodality",
     "title_en:"),                                  # the quotes taken away: found on its own line
    ('period: "2024"', "period: [2024", None),       # never closed: PyYAML notices on a later line
])
def test_broken_yaml(mini, old, new, broken_key, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, old, new)
    where = f"{at(chapter, broken_key)}: " if broken_key else f"{chapter.resolve()}:"
    assert_clean_error(run("check", mini), where + ("error: the front matter is not valid YAML" if broken_key else ""),
                       "error: the front matter is not valid YAML")


def test_missing_front_matter(mini, run):
    chapter = mini / "ch1.md"
    chapter.write_text(chapter.read_text(encoding="utf-8").split("---\n", 2)[2], encoding="utf-8")
    assert_clean_error(run("check", mini), f"{chapter.resolve()}:1: error: the file has no front matter")


def test_wrong_type(mini, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, "word_count: 237", "word_count: many")
    assert_clean_error(run("check", mini),
                       f"{at(chapter, 'word_count:')}: error: 'word_count' is 'many', which is not a whole number")


def test_unknown_status(mini, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, "status: draft", "status: almost")
    assert_clean_error(run("check", mini), f"{at(chapter, 'status:')}: error: unknown status 'almost'", STATUSES)


def test_impossible_date(mini, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, "last_updated: 2025-03-04", "last_updated: 2025-02-30")
    assert_clean_error(run("check", mini), f"{at(chapter, 'last_updated:')}: error: 'last_updated' is '2025-02-30'")


def test_non_utf8_file(mini, run):
    chapter = mini / "ch1.md"
    text = chapter.read_text(encoding="utf-8")
    chapter.write_bytes(text.encode("gb18030"))
    first_non_ascii = next(i for i, line in enumerate(text.splitlines(), 1) if not line.isascii())
    assert_clean_error(run("check", mini), f"{chapter.resolve()}:{first_non_ascii}: error: the file is not UTF-8")


def test_empty_manuscript_folder(tmp_path, run):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(run("check", empty), "the manuscript folder is empty")


def test_book_yaml_names_missing_file(mini, run):
    replace_in(mini / "book.yaml", "- ch1.md", "- 099_missing.md")
    assert_clean_error(run("check", mini), f"{at(mini / 'book.yaml', '    - 099_missing.md')}: error: ",
                       "'099_missing.md', which does not exist")


def test_book_yaml_cannot_reach_outside(mini, run):
    replace_in(mini / "book.yaml", "- ch1.md", "- ../../etc/passwd")
    assert_clean_error(run("check", mini), "book.yaml:", "outside the manuscript folder")


def test_duplicate_chapter_numbers(mini, run):
    copy = mini / "ch1b.md"
    copy.write_text((mini / "ch1.md").read_text(encoding="utf-8"), encoding="utf-8")
    replace_in(mini / "book.yaml", "- ch1.md", "- ch1.md\n    - ch1b.md")
    assert_clean_error(run("check", mini),
                       f"{at(copy, 'chapter_number:')}: error: chapter_number 1 is also used by ch1.md")


def test_missing_chapter_number(mini, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, "chapter_number: 1\n", "")
    assert_clean_error(run("check", mini), f"{chapter.resolve()}:2: error: the front matter has no 'chapter_number'")


def test_hugo_draft_maps_to_status(mini, run):
    article = mini / "a1.md"
    assert run("check", mini, "--release").stderr.count("not final") == 1     # only ch1, while a1 says draft: false
    replace_in(article, "draft: false", "draft: true")
    assert_clean_error(run("check", mini, "--release"), f"{at(article, 'draft:')}: error: '甲公司' is draft, not final")


def test_a_heading_that_skips_a_level_is_a_warning_at_its_line(mini, run):
    chapter = mini / "ch2.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\n#### 细节\n\n正文。\n\n## 下一节\n\n### 小节\n",
                       encoding="utf-8")
    result = run("check", mini)
    assert result.returncode == 0, result.stderr
    skips = [line for line in problem_lines(result.stderr) if "[heading-skip]" in line]
    assert skips == [f"{at(chapter, '#### 细节')}: warning: the heading '细节' is level 4 right after level 2: level 3 is "
                     "skipped. [heading-skip] (Write it with 3 #, or add a heading of level 3 above it.)"], skips


# ------------------------------------------------------------------ every problem at once

def test_every_problem_at_once(mini, out):
    replace_in(mini / "ch1.md", "word_count: 237", "word_count: many")
    replace_in(mini / "ch2.md", "status: final", "status: almost")
    replace_in(mini / "a1.md", "description: 一家虚构的公司，用于测试。\n", "")
    result = process("check", mini, out)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    expected = [
        f"{mini.resolve() / 'a1.md'}:2: error: the front matter has no 'description'.",
        f"{at(mini / 'ch1.md', 'word_count:')}: error: 'word_count' is 'many', which is not a whole number.",
        f"{at(mini / 'ch2.md', 'status:')}: error: unknown status 'almost'.",
    ]
    found = problem_lines(result.stderr)
    assert len(found) == 3
    for line, start in zip(found, expected):        # sorted by file, then line
        assert line.startswith(start), (line, start)
    assert "3 error(s), 0 warning(s)" in result.stderr


def test_an_unreadable_document_does_not_hide_the_others(mini, out):
    chapter, article = mini / "ch1.md", mini / "a1.md"
    text = chapter.read_text(encoding="utf-8")
    chapter.write_bytes(text.encode("gb18030"))                              # not UTF-8
    first_non_ascii = next(i for i, line in enumerate(text.splitlines(), 1) if not line.isascii())
    # no front matter, and no title heading in its place
    article.write_text(article.read_text(encoding="utf-8").split("---\n", 2)[2].replace("# 甲公司", "甲公司"),
                       encoding="utf-8")
    replace_in(mini / "ch2.md", "status: final", "status: almost")
    result = process("check", mini, out)
    assert_clean_error(result,
                       f"{article.resolve()}:1: error: the file has no front matter",
                       f"{chapter.resolve()}:{first_non_ascii}: error: the file is not UTF-8",
                       f"{at(mini / 'ch2.md', 'status:')}: error: unknown status 'almost'")
    assert "3 error(s), 0 warning(s)" in result.stderr
    assert "checked 1 document(s)" in result.stderr                          # ch2 was read and checked
    # an article may instead start with its title as a heading, as a MkDocs page does
    [missing] = [line for line in result.stderr.splitlines() if "has no front matter" in line]
    assert "start it with a '# 标题' line" in missing


def test_code_blocks_in_two_documents_raise_no_id_warning(mini, run):
    with (mini / "ch2.md").open("a", encoding="utf-8") as handle:
        handle.write('\n```python\nprint("第二章的代码")\n```\n')
    result = run("check", mini, "--strict")
    assert result.returncode == 0, result.stderr
    assert "id-duplicate" not in result.stderr




def test_raw_html_problems_are_reported_at_their_own_lines(mini, run):
    # pandoc gives raw HTML no position: every problem of the same tag or picture was reported at the
    # line of the first one (29 pictures of a chapter "at line 8")
    chapter = mini / "ch2.md"
    blocks = "".join(f'\n<div onclick="go()">第{n}段</div>\n\n<div><img src="images/blocks.png"/></div>\n'
                     for n in range(3)) + '\n<a href="https://example.org" target="_blank" rel="noopener">链接</a>\n'

    chapter.write_text(chapter.read_text(encoding="utf-8") + blocks, encoding="utf-8")
    result = run("check", mini)
    text = chapter.read_text(encoding="utf-8").splitlines()
    handlers = [n for n, line in enumerate(text, 1) if "onclick" in line]
    pictures = [n for n, line in enumerate(text, 1) if '<img src="images/blocks.png"/>' in line]
    assert len(handlers) == len(pictures) == 3
    reported = problem_lines(result.stderr)
    assert [f"ch2.md:{n}: warning: the event attribute onclick was removed" in " ".join(reported)
            for n in handlers] == [True] * 3, reported
    assert [f"ch2.md:{n}: error: the image images/blocks.png has no text alternative" in " ".join(reported)
            for n in pictures] == [True] * 3, reported
    # how a web page opens a link is dropped without a word: nothing a book prints
    assert not [line for line in reported if "target" in line or " rel " in line], reported
