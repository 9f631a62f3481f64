"""The editors' status report: the plan in book.yaml, the report in the book's language, the history
and its charts, and the page an editor prints. On private copies of tests/books/mini."""
import datetime as dt
import json
import subprocess

import pytest

from pipeline.config import load_config
from pipeline.diagnostics import CODES, Diagnostic, Diagnostics
from pipeline.errors import BuildStopped
from pipeline.messages import catalogue
from test_check import line_no, measured, out, replace_in, run, shared_cache  # noqa: F401 (fixtures)

TODAY = dt.date.today()


def days_ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def add_plan(book, plan: str):
    with (book / "book.yaml").open("a", encoding="utf-8") as handle:
        handle.write("\n" + plan)


PLAN = f"""plan:
  target: 2000
  chapter_target: 500
  due: {{draft: {days_ago(30)}, review: {days_ago(3)}, final: {(TODAY + dt.timedelta(days=60)).isoformat()}}}
  owners: {{author: 测试作者, editor: 王编辑}}
  documents:
    ch2.md: {{target: 400, owners: {{editor: 李编辑}}}}
    a1.md: {{due: {{final: {days_ago(1)}}}}}
"""


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


# ------------------------------------------------------------------ the report without a plan

def test_many_problems_of_one_kind_are_one_line_of_the_report(mini, out, run):
    # five pictures without alt text in one chapter (a book from GitHub has dozens): one line with
    # their lines in the table and the files; every one of them still in status.json and on stderr
    pictures = "".join(f'\n<div align=center><img src="images/blocks.png"/></div>\n' for _ in range(5))
    chapter = mini / "ch2.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + pictures, encoding="utf-8")
    result = run("status", mini)
    lines = [line_no(chapter, '<div align=center><img') + 2 * n for n in range(5)]
    row = json.loads((out / "status.json").read_text(encoding="utf-8"))["rows"][1]
    assert [p["line"] for p in row["problems"] if p["code"] == "image-no-alt"] == lines
    listed = "、".join(str(n) for n in lines)
    report = (out / "status.md").read_text(encoding="utf-8")
    assert f"错误：5 处（第 {listed} 行）：图片没有替代文字" in report
    assert report.count("没有替代文字") == 1
    assert f"错误：5 处（第 {listed} 行）：图片没有替代文字" in (out / "status.html").read_text(encoding="utf-8")
    table = " ".join(result.stdout.split())
    assert "error: 5 × image-no-alt on lines" in table and table.count("has no text alternative") == 1



def test_status_writes_all_formats(mini, out, run):
    chapter = mini / "ch1.md"
    replace_in(chapter, "word_count: 237", "word_count: 300")
    result = run("status", mini)
    assert result.returncode == 0, result.stderr
    length = measured(chapter, out / "cache")
    assert "起点：从文本到多模态" in result.stdout and "300" in result.stdout and str(length) in result.stdout

    data = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert [(r["number"], r["kind"], r["status"]) for r in data["rows"]] == \
        [(1, "chapter", "draft"), (2, "chapter", "final"), (None, "article", "final")]
    chapter_row = data["rows"][0]
    assert (chapter_row["declared"], chapter_row["measured"]) == (300, length)
    assert chapter_row["difference"] == length - 300
    assert chapter_row["days_since_update"] == (TODAY - dt.date(2025, 3, 4)).days
    assert chapter_row["anecdotes_found"] == chapter_row["anecdotes_declared"] == 1
    line = line_no(chapter, "word_count:")
    [problem] = chapter_row["problems"]
    assert problem["message"] == (f"word_count declares 300 but the text measures {length} "
                                  f"({length - 300:+d}, {(length - 300) / 300:+.0%}; tolerance ±5%).")
    # the files speak the book's language (zh-CN), the terminal stays English
    assert problem["text"] == (f"警告：第 {line} 行：word_count 声明 300 字，实测 {length} 字"
                               f"（{length - 300:+d}，{(length - 300) / 300:+.0%}；容差 ±5%）。可运行 check --fix-counts 记下实测数。")
    assert "word_count declares 300" in result.stdout
    assert data["rows"][2]["declared"] is None and data["rows"][2]["problems"] == []
    assert data["per_status"]["final"] == 2 and data["per_status"]["draft"] == 1
    assert data["percent_final"] == round(100 * 2 / 3, 1)
    assert (data["errors"], data["warnings"]) == (0, 1)
    assert data["planned"] is False

    html = (out / "status.html").read_text(encoding="utf-8")
    assert 'role="progressbar"' in html and "<link" not in html and "<script" not in html
    assert "声明字数" in html and problem["text"] in html and "word_count declares" not in html
    assert "逾期" not in html and "<svg" not in html        # no plan, no history: as before
    markdown = (out / "status.md").read_text(encoding="utf-8")
    assert f"| 1 | 起点：从文本到多模态 | draft | 300 | {length} |" in markdown
    assert "| 章 | 标题 | 状态 | 声明字数 | 实测字数 |" in markdown and problem["text"] in markdown


def test_an_english_book_gets_an_english_report(mini, out, run):
    replace_in(mini / "book.yaml", "language: zh-CN", "language: en-GB")
    replace_in(mini / "ch1.md", "word_count: 237", "word_count: 300")
    assert run("status", mini).returncode == 0
    html = (out / "status.html").read_text(encoding="utf-8")
    assert '<html lang="en-GB">' in html and "Declared" in html and "声明字数" not in html
    assert "word_count declares 300 but the text measures" in html
    assert "| # | Title | Status | Declared | Measured |" in (out / "status.md").read_text(encoding="utf-8")


def test_every_problem_code_has_a_chinese_text():
    zh = catalogue("zh-CN")
    assert set(CODES) <= set(zh.codes), sorted(set(CODES) - set(zh.codes))
    assert set(zh.problems) <= set(CODES)


@pytest.mark.parametrize("code, args, expected", [
    ("link-unresolved", {"href": "#nowhere"}, "链接“#nowhere”找不到目标。"),
    ("link-unresolved", {}, "链接找不到目标"),                    # raised without its figures: what the code means
    ("shortcode-unknown", {"name": "tabs"}, "不认识的短代码 {{< tabs >}}；可在 book.yaml 的 assemble.shortcodes 中把它写成文字。"),
    ("meta-missing", {"key": "title"}, "前言数据缺少“title”。"),
])
def test_problem_texts_from_the_catalogue(code, args, expected):
    problem = Diagnostic("error", code, "English message", line=3, args=tuple(args.items()))
    assert catalogue("zh").problem(problem) == expected
    assert catalogue("zh-Hans").problem_line(problem) == f"错误：第 3 行：{expected}"
    assert catalogue("fr").problem(problem) == "English message"


# ------------------------------------------------------------------ the plan

def test_plan_problems_are_reported_together(mini):
    add_plan(mini, """plan:
  target: -5
  due: {draft: 2026-01-01, drafted: 2026-02-01, final: soon}
  owners: {author: [a, b]}
  documents:
    nope.md: {target: 100}
  targt: 3
""")
    diagnostics = Diagnostics()
    with pytest.raises(BuildStopped):
        load_config(mini, diagnostics)
    found = sorted(str(d).split(": ", 1)[1] for d in diagnostics)
    assert found == sorted([
        "error: 'plan.target' is -5, which is not a length. [config-invalid] (Write a whole number of characters, e.g. 12000.)",
        "error: 'plan.due.drafted' is not a status of this book's workflow. [config-invalid] "
        "(Use one of: outline, draft, review, copyedit, final.)",
        "error: 'plan.due.final' is 'soon', which is not a date. [config-invalid] (Write the date as YYYY-MM-DD.)",
        "error: 'plan.owners.author' must be text, not list. [config-invalid] (Write it as a quoted string.)",
        "warning: 'plan.documents' names 'nope.md', which is not a document of contents:. [config-invalid] "
        "(Use the file name as contents: lists it.)",
        "warning: unknown key 'plan.targt' [config-unknown-key] (Did you mean 'target'?)",
    ]), found
    assert all(d.file == mini / "book.yaml" and d.line for d in diagnostics)


def test_status_against_the_plan(mini, out, run):
    add_plan(mini, PLAN)
    result = run("status", mini)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert data["planned"] is True and data["target"] == 2000
    ch1, ch2, a1 = data["rows"]
    # ch1 is a draft: review was due three days ago
    assert (ch1["target"], ch1["next_status"], ch1["next_due"], ch1["days_late"]) == (500, "review", days_ago(3), 3)
    assert ch1["target_fraction"] == round(ch1["measured"] / 500, 3)
    assert ch1["owners"] == {"author": "测试作者", "editor": "王编辑"}
    # ch2 is final: nothing is due; its own target and editor
    assert (ch2["target"], ch2["next_status"], ch2["days_late"], ch2["owners"]["editor"]) == (400, None, None, "李编辑")
    # the article has no chapter target; it is final, so its own final date is no longer due
    assert (a1["target"], a1["next_status"]) == (None, None)

    html = (out / "status.html").read_text(encoding="utf-8")
    assert html.count('<tr class="late">') == 1
    assert f"第1章 起点：从文本到多模态：应于 {days_ago(3)} 达到“review”，已逾期 3 天" in html
    assert "逾期 3 天" in html and "作者 测试作者" in html and "编辑 李编辑" in html
    assert "全书目标 2000" in html
    assert html.count("<svg") == 1 and "各章实测与目标" in html         # the bars; no history, no burn-up
    assert "书稿不在 git 仓库中" in html
    markdown = (out / "status.md").read_text(encoding="utf-8")
    assert "| 章 | 标题 | 状态 | 负责人 | 目标字数 | 实测字数 | 完成度 | 下一节点 | 逾期 |" in markdown
    assert "| 1 | **起点：从文本到多模态** | draft |" in markdown
    assert "Late: 1" in result.stdout and "review due" in result.stdout


def test_a_late_status_stops_being_late_once_reached(mini, out, run):
    add_plan(mini, PLAN)
    replace_in(mini / "ch1.md", "status: draft", "status: review")
    assert run("status", mini).returncode == 0
    ch1 = json.loads((out / "status.json").read_text(encoding="utf-8"))["rows"][0]
    assert (ch1["next_status"], ch1["days_late"]) == ("final", -60)
    assert '<tr class="late">' not in (out / "status.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------ history and charts

def test_status_history_follows_git(mini, out, run):
    git(mini.parent, "init", "-q")
    git(mini.parent, "add", "mini")
    git(mini.parent, "commit", "-qm", "one")
    replace_in(mini / "ch1.md", "2024年1月，全球AI竞赛进入新阶段。", "2024年1月，全球AI竞赛进入了一个新阶段。")
    replace_in(mini / "ch1.md", "status: draft", "status: review")
    git(mini.parent, "commit", "-qam", "two")
    add_plan(mini, PLAN)
    result = run("status", mini, "--history")
    assert result.returncode == 0, result.stderr
    history = json.loads((out / "status.json").read_text(encoding="utf-8"))["history"]
    assert history["files"] == ["ch1.md", "ch2.md", "a1.md"]
    first, second = history["points"]
    assert second["lengths"]["ch1.md"] - first["lengths"]["ch1.md"] == 3     # 了一个
    assert second["lengths"]["ch2.md"] == first["lengths"]["ch2.md"]
    assert second["lengths"]["ch1.md"] == measured(mini / "ch1.md", out / "cache")
    assert (first["statuses"]["ch1.md"], second["statuses"]["ch1.md"], second["statuses"]["a1.md"]) == \
        ("draft", "review", "final")
    html = (out / "status.html").read_text(encoding="utf-8")
    # both commits are today's: one day in the burn-up, the status chart and the daily table
    assert html.count("<svg") == 3 and "全书字数（按日）" in html and "各状态篇数（按日）" in html
    total = sum(second["lengths"].values())
    assert f'<td class="num">{total}</td>' in html
    assert "History: 2 commit(s)" in result.stdout


# ------------------------------------------------------------------ the page an editor prints

@pytest.mark.slow
def test_the_report_prints_on_a4_in_chromium(mini, out, run, tmp_path):
    """Real headless Chromium prints status.html: A4, the charts drawn, the late row there, nothing past the edge."""
    import fitz

    from pipeline.diagrams import find_chromium
    git(mini.parent, "init", "-q")
    git(mini.parent, "add", "mini")
    git(mini.parent, "commit", "-qm", "one")
    add_plan(mini, PLAN)
    replace_in(mini / "ch1.md", "word_count: 237", "word_count: 300")    # a problem text in the last column
    assert run("status", mini, "--history").returncode == 0
    pdf = tmp_path / "status.pdf"
    subprocess.run([find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", (out / "status.html").as_uri()], check=True, capture_output=True,
                   timeout=120)
    with fitz.open(pdf) as document:
        text = "".join(page.get_text() for page in document)
        assert all(round(page.rect.width) == 595 and round(page.rect.height) == 842 for page in document)   # A4
        drawn = sum(len(page.get_drawings()) for page in document)
        beyond = [(page.number, span["text"]) for page in document for block in page.get_text("dict")["blocks"]
                  for line in block.get("lines", []) for span in line["spans"]
                  if span["text"].strip() and (span["bbox"][2] > page.rect.width - 20 or span["bbox"][0] < 20)]
    compact = "".join(text.split())
    for needed in ("全书字数（按日）", "各状态篇数（按日）", "各章实测与目标", "已逾期3天", "容差±5%", "本报告由"):
        assert needed in compact, needed
    assert drawn > 50          # bars, lines and bands are vector drawings
    assert beyond == []        # 12 mm margins: no text within 20 pt of the paper's edge, none cut off
