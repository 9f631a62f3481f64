"""`python -m pipeline init DIR`: a first book.yaml for a folder of Markdown.

Documents with a `chapter_number` become chapters (ordered by it); the others (Hugo pages,
profiles, MkDocs pages without front matter, titled by their `# heading`) become the articles of
one part, ordered by Hugo's `weight`, then by date, then by folder, a folder's index.md or
README.md first, then by file name. A Hugo site's `static/` folder is where its root-relative
paths (/images/x.png) start. The file says what to fill in; an existing book.yaml is never
overwritten.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path

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
    if not result.chapters and not result.articles:
        raise PipelineError("the folder holds no Markdown document with front matter or a title heading.",
                            file=folder, hint="Each document starts with '---', its metadata (at least a title), "
                            "and '---'; or, as a MkDocs page does, with a '# Title' line.")
    target.write_text(_book_yaml(folder, result, today or dt.date.today()), encoding="utf-8")
    return result


def _book_yaml(folder: Path, result: Scaffold, today: dt.date) -> str:
    contents: dict = {}
    if result.chapters:
        contents["chapters"] = result.chapters
    if result.articles:
        contents["parts"] = [{"id": "articles", "title": "文章", "documents": result.articles}]
    contents["appendices"] = ["takeaways", "references"]
    top = {"title": folder.resolve().name, "authors": ["（作者）"], "language": "zh-CN",
           "identifier": f"urn:uuid:{uuid.uuid4()}", "date": today.isoformat(), "contents": contents}
    if (folder / HUGO_STATIC).is_dir():
        top["static"] = HUGO_STATIC
    header = ("# Written by `python -m pipeline init`. Fill in the title and the authors; check the order of\n"
              "# the documents; every other setting has a default (see the bundled manuscript/book.yaml).\n")
    return header + yaml.safe_dump(top, allow_unicode=True, sort_keys=False, width=100)
