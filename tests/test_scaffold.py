"""`python -m pipeline init DIR` (pipeline/scaffold.py): a first book.yaml for a folder of Markdown."""
from pathlib import Path

from conftest import copy_book, run_cli
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics


def write(path: Path, front: str, body: str = "正文。") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}\n---\n\n{body}\n", encoding="utf-8")


def test_init_orders_chapters_by_number_and_articles_by_weight_and_never_overwrites(tmp_path):
    folder = tmp_path / "content"
    write(folder / "z-first.md", "chapter_number: 1\ntitle: 第一章")
    write(folder / "a-second.md", "chapter_number: 2\ntitle: 第二章")
    write(folder / "posts" / "later.md", "title: 后一篇\nweight: 20")
    write(folder / "posts" / "earlier.md", "title: 前一篇\nweight: 10")
    write(folder / "posts" / "_index.md", "title: 栏目页")            # a Hugo section page: left out
    (folder / "notes.md").write_text("没有元数据的笔记。\n", encoding="utf-8")
    result = run_cli("init", str(folder))
    assert result.returncode == 0, result.stderr
    assert "2 chapter(s), 2 article(s)" in result.stderr and "left out notes.md" in result.stderr
    diagnostics = Diagnostics()
    config = load_config(folder, diagnostics)
    assert not diagnostics.errors, [str(d) for d in diagnostics.errors]
    assert [d.path.name for d in config.chapters] == ["z-first.md", "a-second.md"]
    assert [d.path.name for d in config.parts[0].documents] == ["earlier.md", "later.md"]
    again = run_cli("init", str(folder))
    assert again.returncode == 1 and "init never overwrites it" in again.stderr
    assert run_cli("check", "--manuscript", str(folder), "--out", str(tmp_path / "out")).returncode == 0


def test_init_takes_mkdocs_pages_titled_by_their_heading(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "index.md").write_text("# 前言\n\n这是一本算法书。\n", encoding="utf-8")
    (folder / "basics.md").write_text("# 迭代与递归\n\n!!! tip\n\n    迭代是一种控制结构。\n", encoding="utf-8")
    (folder / "notes.md").write_text("没有标题的笔记。\n", encoding="utf-8")
    result = run_cli("init", str(folder))
    assert result.returncode == 0, result.stderr
    assert "0 chapter(s), 2 article(s)" in result.stderr and "left out notes.md" in result.stderr
    # the folder's index.md opens it, before basics.md
    assert [d.path.name for d in load_config(folder).parts[0].documents] == ["index.md", "basics.md"]
    assert run_cli("check", "--manuscript", str(folder), "--out", str(tmp_path / "out")).returncode == 0


def test_a_folder_without_book_yaml_points_at_init(tmp_path):
    write(tmp_path / "a.md", "title: 一篇")
    result = run_cli("check", "--manuscript", str(tmp_path))
    assert result.returncode == 1
    assert f"python -m pipeline init {tmp_path}" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_on_a_hugo_site_finds_its_static_folder_and_the_book_builds(tmp_path):
    site = copy_book("hugo", tmp_path)
    (site / "book.yaml").unlink()
    (site / "static" / "notes.md").write_text("---\ntitle: 不是文章\n---\n正文。\n", encoding="utf-8")
    result = run_cli("init", str(site))
    assert result.returncode == 0, result.stderr
    assert "0 chapter(s), 3 article(s)" in result.stderr
    config = load_config(site, Diagnostics())
    assert config.static == (site / "static").resolve()
    assert sorted(d.path.name for d in config.parts[0].documents) == ["guide.md", "intro.md", "translated.md"]
    # /images/shapes.png is found under static/, and the whole book builds
    built = run_cli("all", "--manuscript", str(site), "--out", str(tmp_path / "out"))
    assert built.returncode == 0, built.stderr
    assert all((tmp_path / "out" / name).is_file() for name in ("book.epub", "book.pdf", "book-screen.pdf"))
