"""`python -m pipeline init DIR`: a first book.yaml for a folder of Markdown.

Documents with a `chapter_number` become chapters (ordered by it); the others (Hugo pages,
profiles, MkDocs pages without front matter, titled by their `# heading`) become the articles of
one part, ordered by Hugo's `weight`, then by date, then by folder, a folder's index.md or
README.md first, then by file name. A Hugo site's `static/` folder is where its root-relative
paths (/images/x.png) start. An mdBook book's SUMMARY.md decides instead: its pages in its order,
a part for each of its part titles, the book's title from its first line. The file says what to
fill in; an existing book.yaml is never overwritten.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import yaml

from pipeline.config import CONFIG_NAME
from pipeline.documents import decode, read_metadata
from pipeline.errors import PipelineError

SUFFIXES = (".md", ".markdown", ".txt")
HUGO_STATIC = "static"      # served as the site's root: its files are assets, not documents


@dataclass
class Scaffold:
    path: Path
    chapters: list[str] = field(default_factory=list)
    articles: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)      # (file, why)
    # from an mdBook SUMMARY.md: (part title, documents), and the book's title
    parts: list[tuple[str, list[str]]] = field(default_factory=list)
    title: str | None = None
    authors: list[str] = field(default_factory=list)


def scaffold(folder: Path, today: dt.date | None = None) -> Scaffold:
    """Write folder/book.yaml for the documents under folder; return what it holds."""
    folder = Path(folder)
    target = folder / CONFIG_NAME
    if not folder.is_dir():
        raise PipelineError("the folder does not exist.", file=folder, hint="Give the folder of your Markdown files.")
    if target.exists():
        raise PipelineError(f"there is a {CONFIG_NAME} already; init never overwrites it.", file=target,
                            hint="Edit it, or move it away and run init again.")
    result = Scaffold(target)
    chapters, articles = [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
                       and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
                       and p.relative_to(folder).parts[0] != HUGO_STATIC):
        name = path.relative_to(folder).as_posix()
        try:
            meta, *_ = read_metadata(decode(path.read_bytes(), path), path, headings_titled=True)
        except PipelineError as exc:
            result.skipped.append((name, exc.what))
            continue
        number = meta.get("chapter_number")
        if isinstance(number, int) and not isinstance(number, bool):
            chapters.append((number, name))
        else:
            weight = meta.get("weight")
            weight = weight if isinstance(weight, (int, float)) and not isinstance(weight, bool) else float("inf")
            # a folder's index.md or README.md (MkDocs, GitBook) opens that folder's pages
            opening = path.stem.lower() not in ("index", "readme")
            articles.append((weight, str(meta.get("date") or ""), path.parent.relative_to(folder).as_posix(),
                             opening, name))
    result.chapters = [name for _n, name in sorted(chapters)]
    result.articles = [name for *_key, name in sorted(articles)]
    summary = next(iter(sorted(folder.rglob("SUMMARY.md"), key=lambda p: len(p.parts))), None)
    if summary is not None:
        # what SUMMARY.md does not list is not the book's (listings, outputs): counted, not named
        every = set(result.articles) | {name for name, _why in result.skipped}
        title, result.parts = summary_order(summary, folder, every)
        # mdBook keeps book.toml beside src/, GitBook book.json beside SUMMARY.md: both inside the folder
        places = [summary.parent, *(parent for parent in summary.parents if parent.is_relative_to(folder))]
        declared = next((found for place in places if (found := declared_book(place))), {})
        result.title = declared.get("title") or (
            title if title and title.strip().lower() not in GENERIC_SUMMARY_TITLES else None)
        result.authors = declared.get("authors") or []
        listed = {name for _title, names in result.parts for name in names}
        unlisted = len(every - listed - {summary.relative_to(folder).as_posix()})
        result.skipped = [(name, why) for name, why in result.skipped if name in listed]
        readable = set(result.articles)
        result.parts = [(title, kept) for title, names in result.parts if (kept := [n for n in names if n in readable])]
        result.articles = [name for _title, names in result.parts for name in names]
        if unlisted:
            result.skipped.append((f"{unlisted} other file(s)", "SUMMARY.md does not list them"))
    if not result.chapters and not result.articles:
        raise PipelineError("the folder holds no Markdown document with front matter or a title heading.",
                            file=folder, hint="Each document starts with '---', its metadata (at least a title), "
                            "and '---'; or, as a MkDocs page does, with a '# Title' line.")
    target.write_text(_book_yaml(folder, result, today or dt.date.today()), encoding="utf-8")
    return result


# What a SUMMARY.md's first heading says when it is not the book's title (GitBook's "## 目录").
GENERIC_SUMMARY_TITLES = {"summary", "目录", "目錄", "table of contents", "contents"}


def declared_book(folder: Path) -> dict:
    """What an mdBook book.toml ([book]) or a GitBook book.json declares: title, authors."""
    try:
        if (folder / "book.toml").is_file():
            declared = tomllib.loads(decode((folder / "book.toml").read_bytes(), folder / "book.toml")).get("book", {})
        elif (folder / "book.json").is_file():
            declared = json.loads(decode((folder / "book.json").read_bytes(), folder / "book.json"))
        else:
            return {}
    except (ValueError, PipelineError):          # a stranger's file: only a hint for init
        return {}
    if not isinstance(declared, dict):
        return {}
    title = declared.get("title")
    authors = declared.get("authors", declared.get("author"))
    authors = [authors] if isinstance(authors, str) else authors
    return {"title": title.strip() if isinstance(title, str) and title.strip() else None,
            "authors": [a for a in authors if isinstance(a, str) and a.strip()] if isinstance(authors, list) else []}


_SUMMARY_LINK = re.compile(r"^(?P<indent>\s*)(?:[-*+]\s+)?\[(?P<title>[^\]]*)\]\((?P<target>[^)]*)\)\s*$")
_SUMMARY_PART = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")


def summary_order(summary: Path, folder: Path, documents: set[str]) -> tuple[str | None, list[tuple[str, list[str]]]]:
    """(the book's title, [(part title, its documents)]) from an mdBook SUMMARY.md: its first
    heading is the title, every later heading opens a part; links to pages the folder does not
    hold (a draft chapter's empty link, a page not written yet) are passed over."""
    title, parts = None, [("", [])]
    for line in decode(summary.read_bytes(), summary).splitlines():
        heading = _SUMMARY_PART.match(line)
        if heading:
            if title is None:
                title = heading["title"]
            else:
                parts.append((heading["title"], []))
            continue
        link = _SUMMARY_LINK.match(line)
        if not link or not link["target"].strip():
            continue
        name = (summary.parent / unquote(link["target"].strip().split("#")[0])).resolve()     # %20 for a space
        try:
            relative = name.relative_to(folder.resolve()).as_posix()
        except ValueError:
            continue
        if relative in documents and all(relative not in names for _t, names in parts):
            parts[-1][1].append(relative)
    return title, [(part_title or "正文", names) for part_title, names in parts if names]


def _book_yaml(folder: Path, result: Scaffold, today: dt.date) -> str:
    contents: dict = {}
    if result.chapters:
        contents["chapters"] = result.chapters
    if result.parts:
        contents["parts"] = [{"id": f"part-{number}", "title": title, "documents": names}
                             for number, (title, names) in enumerate(result.parts, 1)]
    elif result.articles:
        contents["parts"] = [{"id": "articles", "title": "文章", "documents": result.articles}]
    contents["appendices"] = ["takeaways", "references"]
    top = {"title": result.title or folder.resolve().name, "authors": result.authors or ["（作者）"], "language": "zh-CN",
           "identifier": f"urn:uuid:{uuid.uuid4()}", "date": today.isoformat(), "contents": contents}
    if (folder / HUGO_STATIC).is_dir():
        top["static"] = HUGO_STATIC
    header = ("# Written by `python -m pipeline init`. Fill in the title and the authors; check the order of\n"
              "# the documents; every other setting has a default (see the bundled manuscript/book.yaml).\n")
    return header + yaml.safe_dump(top, allow_unicode=True, sort_keys=False, width=100)
