"""The Book model: built once by the assemble stage, read by every writer.

It holds content, not presentation: each section's body as a tree (pipeline.tree) with
ids unique in the book and links already resolved to `#id`, the headings for
navigation, figures as files, and the generated appendices. Nothing here knows about
EPUB or PDF; the writers take a copy of a tree (tree.writer_copy) and lay it out.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from pipeline.config import BookConfig
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.math import RenderedMath


def source_date_epoch() -> dt.datetime | None:
    """SOURCE_DATE_EPOCH as a UTC time: what reproducible builds stamp instead of the wall clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return None
    try:
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    except ValueError:
        raise PipelineError(f"SOURCE_DATE_EPOCH is {epoch!r}, which is not a number of seconds.",
                            hint="Set it to a Unix timestamp, e.g. $(git log -1 --format=%ct).") from None


@dataclass(frozen=True)
class Heading:
    level: int          # 2 for a section, 3 for a subsection (the section title itself is level 1)
    id: str             # ASCII, unique in the book
    text: str           # plain text, for the TOC and bookmarks


@dataclass(frozen=True)
class Asset:
    """A file the HTML refers to by `href`, relative to the book root (e.g. images/3fa2.svg)."""
    href: str
    path: Path
    media_type: str


@dataclass(frozen=True)
class Figure:
    id: str                 # the figure element's id, e.g. fig-ch06-1
    label: str              # 图6-1
    caption: str
    alt: str
    asset: Asset            # SVG, or a 2x PNG where the SVG needed foreignObject
    width_px: float
    height_px: float
    placement: str = "inline"   # inline | landscape: the diagram stage's advice for print


@dataclass
class Section:
    """One unit of the reading order: a chapter, a profile, or a generated appendix."""
    id: str                     # ASCII, used for file names and anchors (ch06, zhipu, takeaways)
    kind: str                   # chapter | article | appendix
    title: str
    body: etree._Element        # the body's tree (a <div>), without the section title
    label: str | None = None    # 第6章, 附录A
    title_en: str | None = None
    number: int | None = None
    status: str = "final"
    final: bool = True          # status is the workflow's last one
    source: Path | None = None
    headings: list[Heading] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    part_id: str | None = None  # set for documents inside a part
    updated: dt.date | None = None
    lang: str = "zh-CN"

    @property
    def full_title(self) -> str:
        return f"{self.label}　{self.title}" if self.label else self.title


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    sections: tuple[Section, ...]


@dataclass
class Book:
    config: BookConfig
    chapters: list[Section]
    parts: list[Part]
    appendices: list[Section]
    assets: list[Asset]
    release: bool = False       # a release build: every section is final; no DRAFT marks anywhere
    draft: bool = False         # --draft: broken diagrams and remote images become visible placeholders
    modified: dt.datetime | None = None   # UTC; from SOURCE_DATE_EPOCH or the newest manuscript date
    titles: dict[str, str] = field(default_factory=dict)   # id -> what a reference to it reads as
    # (TeX, display) -> the formula rendered for each writer (pipeline/math.py); writers look it up by TeX
    math: dict[tuple[str, bool], RenderedMath] = field(default_factory=dict)

    def asset_for(self, href: str) -> Asset | None:
        return next((a for a in self.assets if a.href == href), None)

    def sections(self) -> list[Section]:
        """All sections in reading order."""
        return [*self.chapters, *(s for p in self.parts for s in p.sections), *self.appendices]

    def characters(self) -> set[str]:
        """Every character the book's text can show, for font subsetting."""
        from pipeline.tree import visible_strings  # local: keeps the model import-light
        chars = set(self.config.title + (self.config.subtitle or "") + "".join(self.config.authors))
        chars |= set((self.config.publisher or "") + (self.config.rights or "") + (self.config.edition or ""))
        for section in self.sections():
            chars |= set(section.full_title + (section.title_en or "") + "".join(visible_strings(section.body)))
        for part in self.parts:
            chars |= set(part.title)
        return chars
