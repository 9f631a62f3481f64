"""The check stage and its bad-input errors, through the real CLI."""
import datetime as dt
import json

import pytest

from conftest import SEED_CHAPTER, SEED_PROFILE, run_cli
from pipeline.measure import count_text, measure


def replace_in(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture drift: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def assert_clean_error(result, *fragments):
    assert result.returncode != 0
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


def test_measure_skips_markup_code_and_link_targets():
    body = ("## 标题\n\n正文**加粗**[链接](https://a.example/very/long)\n- 列表\n1. 编号\n\n"
            "```\n代码不计 code\n```\n\n```mermaid\ntimeline\n  2019 : 图不计\n```\n"
            "| 表 | 格 |\n|---|---|\n| 一 | 二 |\n")
    # 标题2 正文加粗4 链接2 列表2 编号2 表格2 一二2
    assert measure(body).length == 16


def test_seed_chapter_structure_found(manuscript):
    from pipeline.documents import split_front_matter
    path = manuscript / SEED_CHAPTER
    _, body, _ = split_front_matter(path.read_text(encoding="utf-8"), path)
    m = measure(body)
    assert len(m.anecdotes) == 2
    assert m.takeaways is not None and m.references is not None
    assert 5000 < m.length < 8000


# ------------------------------------------------------------------ the bundled book

def test_check_reports_declared_against_measured():
    result = run_cli("check")
    assert result.returncode == 0, result.stderr
    assert "declares 11800 but the text measures" in result.stderr
    assert f"{SEED_CHAPTER}:7: warning" in result.stderr        # word_count is on line 7


def test_strict_fails_on_warnings():
    result = run_cli("check", "--strict")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_release_gate_names_draft_documents(manuscript):
    result = run_cli("check", "--release", "--manuscript", str(manuscript))
    assert_clean_error(result, SEED_CHAPTER, "is draft, not final")
    assert SEED_PROFILE not in [l.split(":")[0].split("/")[-1] for l in result.stderr.splitlines() if "not final" in l]


def test_fix_counts_rewrites_only_the_two_lines(manuscript):
    path = manuscript / SEED_CHAPTER
    before = path.read_bytes()
    result = run_cli("check", "--fix-counts", "--manuscript", str(manuscript))
    assert result.returncode == 0, result.stderr
    after = path.read_bytes()
    changed = [(a, b) for a, b in zip(before.split(b"\n"), after.split(b"\n")) if a != b]
    assert len(before.split(b"\n")) == len(after.split(b"\n"))
    assert changed == [(b"word_count: 11800", b"word_count: " + str(_measured(path)).encode())]
    again = run_cli("check", "--strict", "--manuscript", str(manuscript))
    assert again.returncode == 0, again.stderr


def _measured(path):
    from pipeline.documents import split_front_matter
    _, body, _ = split_front_matter(path.read_text(encoding="utf-8"), path)
    return measure(body).length


def test_unknown_key_and_unknown_slug_warn_with_suggestion(manuscript):
    replace_in(manuscript / SEED_CHAPTER, "  - openai\n", "  - opnai\n")
    replace_in(manuscript / SEED_CHAPTER, "anecdote_count: 2\n", "anecdote_count: 2\nmood: happy\n")
    result = run_cli("check", "--manuscript", str(manuscript))
    assert result.returncode == 0
    assert "'opnai' in key_organizations is not in the registry" in result.stderr
    assert "Did you mean 'openai'?" in result.stderr
    assert "unknown front-matter key 'mood'" in result.stderr


def test_anecdote_count_mismatch_warns(manuscript):
    replace_in(manuscript / SEED_CHAPTER, "anecdote_count: 2", "anecdote_count: 3")
    result = run_cli("check", "--manuscript", str(manuscript))
    assert "anecdote_count declares 3 but the text has 2" in result.stderr


def test_missing_takeaways_warns(manuscript):
    replace_in(manuscript / SEED_CHAPTER, "**本章要点** (Key Takeaways):", "**要点**:")
    result = run_cli("check", "--manuscript", str(manuscript))
    assert "has no 本章要点" in result.stderr


# ------------------------------------------------------------------ bad input

def test_broken_yaml(manuscript):
    replace_in(manuscript / SEED_CHAPTER, 'title_en: "Multimodal', 'title_en: "Multimodal: [')
    replace_in(manuscript / SEED_CHAPTER, 'period: "2024"', 'period: [2024')
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)), SEED_CHAPTER, "not valid YAML")


def test_missing_front_matter(manuscript):
    path = manuscript / SEED_CHAPTER
    path.write_text(path.read_text(encoding="utf-8").split("---\n", 2)[2], encoding="utf-8")
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)),
                       f"{SEED_CHAPTER}:1", "no front matter")


def test_wrong_type(manuscript):
    replace_in(manuscript / SEED_CHAPTER, "word_count: 11800", "word_count: many")
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)),
                       f"{SEED_CHAPTER}:7", "'word_count' is 'many', which is not a whole number")


def test_unknown_status(manuscript):
    replace_in(manuscript / SEED_CHAPTER, "status: draft", "status: almost")
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)),
                       f"{SEED_CHAPTER}:6", "unknown status 'almost'", "outline, draft, review, copyedit, final")


def test_impossible_date(manuscript):
    replace_in(manuscript / SEED_CHAPTER, "last_updated: 2025-10-17", "last_updated: 2025-02-30")
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)), "'last_updated' is '2025-02-30'")


def test_non_utf8_file(manuscript):
    path = manuscript / SEED_CHAPTER
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.encode("gb18030"))
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)), SEED_CHAPTER, "not UTF-8")


def test_empty_manuscript_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(run_cli("check", "--manuscript", str(empty)), "empty")


def test_book_yaml_names_missing_file(manuscript):
    replace_in(manuscript / "book.yaml", f"- {SEED_CHAPTER}", "- 099_missing.md")
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)),
                       "book.yaml:", "'099_missing.md', which does not exist")


def test_book_yaml_cannot_reach_outside(manuscript):
    replace_in(manuscript / "book.yaml", f"- {SEED_CHAPTER}", "- ../../etc/passwd")
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)), "outside the manuscript folder")


def test_duplicate_chapter_numbers(manuscript):
    second = manuscript / "007_copy.md"
    second.write_text((manuscript / SEED_CHAPTER).read_text(encoding="utf-8"), encoding="utf-8")
    replace_in(manuscript / "book.yaml", f"- {SEED_CHAPTER}", f"- {SEED_CHAPTER}\n    - 007_copy.md")
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)),
                       "007_copy.md:2", "chapter_number 6 is also used by")


def test_missing_chapter_number(manuscript):
    replace_in(manuscript / SEED_CHAPTER, "chapter_number: 6\n", "")
    assert_clean_error(run_cli("check", "--manuscript", str(manuscript)), "has no 'chapter_number'")


def test_hugo_draft_maps_to_status(manuscript):
    replace_in(manuscript / SEED_PROFILE, "draft: false", "draft: true")
    result = run_cli("check", "--release", "--manuscript", str(manuscript))
    assert_clean_error(result, SEED_PROFILE, "is draft, not final")


# ------------------------------------------------------------------ status report

def test_status_writes_all_formats(manuscript, tmp_path):
    out = tmp_path / "out"
    result = run_cli("status", "--manuscript", str(manuscript), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "11800" in result.stdout and "6217" in result.stdout
    data = json.loads((out / "status.json").read_text(encoding="utf-8"))
    chapter = data["rows"][0]
    assert (chapter["number"], chapter["declared"], chapter["status"]) == (6, 11800, "draft")
    assert chapter["difference"] == chapter["measured"] - 11800
    assert chapter["days_since_update"] == (dt.date.today() - dt.date(2025, 10, 17)).days
    assert data["per_status"]["final"] == 1 and data["percent_final"] == 50.0
    html = (out / "status.html").read_text(encoding="utf-8")
    assert 'role="progressbar"' in html and "<link" not in html and "<script" not in html
    assert "| 6 | 多模态与Agent" in (out / "status.md").read_text(encoding="utf-8")


def test_status_history_follows_git(manuscript, tmp_path):
    import subprocess
    git = lambda *a: subprocess.run(["git", "-C", str(manuscript.parent), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "add", "manuscript")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    replace_in(manuscript / SEED_CHAPTER, "2024年1月，全球AI竞赛进入新阶段。", "2024年1月，全球AI竞赛进入了一个新阶段。")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "two")
    out = tmp_path / "out"
    result = run_cli("status", "--history", "--manuscript", str(manuscript), "--out", str(out))
    assert result.returncode == 0, result.stderr
    points = json.loads((out / "status.json").read_text(encoding="utf-8"))["history"]["points"]
    assert len(points) == 2
    assert points[1]["lengths"][SEED_CHAPTER] - points[0]["lengths"][SEED_CHAPTER] == 3
