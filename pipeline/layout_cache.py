"""The parallel PDF writer's cache of laid-out items: edit one chapter, lay out one chapter.

Each right-hand item of the print HTML (chapter, part with its articles, appendix) is laid out,
written and cut into a PDF of its own pages. Its content key is everything its pages depend on
but their folios: the item's HTML (with the page references it prints), the sentinel after it
(which decides the blank verso before the next item), the print HTML's head and tail (CSS, fonts),
the PDF options, and a fingerprint of the code, the stylesheets, WeasyPrint, Pango and the font
files. The page count depends on that key alone, so it is known for every cached item before any
layout; the folios also depend on the item's first page number (its offset), so a file is kept
under the key and the offset. A build lays out the items whose key is new, then, once every page
count is known, the items whose offset moved (a chapter before them changed length), and takes
the rest from here.

Files are trusted as little as the diagram cache's: a name comes from the key, and the meta's
size and sha256 must match the PDF before it is used; anything else is a miss.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipeline.fsutil import atomic_write_bytes, atomic_write_text

FOLDER = "pdf-items"
ROOT = Path(__file__).resolve().parent.parent


def _version(package: str) -> str:
    from importlib.metadata import version
    return version(package)


def _pango_version() -> int:
    """Pango's version, without importing WeasyPrint (half a second) for it."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("pango-1.0")
    return ctypes.CDLL(name).pango_version() if name else 0


@lru_cache(maxsize=None)
def _code_fingerprint() -> str:
    """The pipeline's code, stylesheets and templates, WeasyPrint's and Pango's versions."""
    digest = hashlib.sha256(f"weasyprint {_version('weasyprint')} pango {_pango_version()}".encode())
    for folder, pattern in (("pipeline", "*.py"), ("styles", "*.css"), ("templates", "**/*")):
        for path in sorted((ROOT / folder).glob(pattern)):
            if path.is_file():
                digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fingerprint(font_files: list[Path]) -> str:
    """The code's fingerprint and the font files' (a font package update, or a house face replaced
    in fonts/, changes the layout)."""
    digest = hashlib.sha256(_code_fingerprint().encode())
    for path in sorted(font_files):
        try:
            stat = path.stat()
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        except OSError:
            digest.update(f"{path}:missing".encode())
    return digest.hexdigest()


def content_key(fingerprint_: str, *parts: str) -> str:
    from pipeline.cache import key_of
    return key_of(fingerprint_, *parts)


@dataclass
class Entry:
    """One item laid out at one offset: its PDF and what the build needs to know of it."""
    key: str
    offset: int
    pages: int
    anchors: dict[str, int]                     # anchor -> folio
    file: str = ""                              # the PDF of the piece it was laid out in
    first: int = 0                              # its first page in that file (0-based)
    sha256: str = ""                            # the file's
    size: int = 0
    warnings: list[str] = field(default_factory=list)
    text_layer: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return hashlib.sha256(f"{self.key}@{self.offset}".encode()).hexdigest()[:40]


class ItemCache:
    """The files of laid-out items in `folder`, and which of them this build used."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.used: set[str] = set()             # entry names and file names
        self._verified: dict[str, bool] = {}
        self._pages: dict[str, int] = {}
        self._entries: dict[tuple[str, int], Entry] = {}
        if self.folder.is_dir():
            for meta in self.folder.glob("*.json"):
                entry = _read_entry(meta)
                if entry is not None and meta.stem == entry.name:
                    self._entries[(entry.key, entry.offset)] = entry
                    self._pages[entry.key] = entry.pages

    def pages_of(self, key: str) -> int | None:
        """The item's page count, whatever offset it was laid out at."""
        return self._pages.get(key)

    def lookup(self, key: str, offset: int) -> Entry | None:
        entry = self._entries.get((key, offset))
        if entry is None:
            return None
        if entry.file not in self._verified:
            self._verified[entry.file] = _intact(self.pdf_path(entry), entry)
        if not self._verified[entry.file]:
            return None
        self.used.update((entry.name, entry.file))
        return entry

    def pdf_path(self, entry: Entry) -> Path:
        return self.folder / f"{entry.file}.pdf"

    def add(self, entry: Entry) -> None:
        """Record an entry a worker stored (store_entry)."""
        self._entries[(entry.key, entry.offset)] = entry
        self._pages[entry.key] = entry.pages
        self.used.update((entry.name, entry.file))

    def prune(self) -> None:
        """Drop the files this build did not use: the cache holds one book's items."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.suffix in (".pdf", ".json") and path.stem not in self.used:
                path.unlink(missing_ok=True)


def store_file(folder: Path, pdf_path: Path) -> tuple[str, str, int]:
    """Keep a piece's PDF in the cache under its checksum (in a worker): (name, sha256, size)."""
    data = Path(pdf_path).read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    name = sha256[:40]
    folder.mkdir(parents=True, exist_ok=True)
    if not _intact(folder / f"{name}.pdf", Entry("", 0, 0, {}, sha256=sha256, size=len(data))):
        atomic_write_bytes(folder / f"{name}.pdf", data)
    return name, sha256, len(data)


def store_entry(folder: Path, entry: Entry) -> Entry:
    atomic_write_text(folder / f"{entry.name}.json", json.dumps(dataclasses.asdict(entry), ensure_ascii=False))
    return entry


def _read_entry(meta: Path) -> Entry | None:
    try:
        if meta.stat().st_size > 4 << 20:
            return None
        data = json.loads(meta.read_text(encoding="utf-8"))
        entry = Entry(**data)
        if not (isinstance(entry.key, str) and isinstance(entry.offset, int) and isinstance(entry.pages, int)
                and isinstance(entry.first, int) and entry.first >= 0 and entry.pages >= 0
                and isinstance(entry.file, str) and entry.file.isalnum()
                and isinstance(entry.anchors, dict) and all(isinstance(v, int) for v in entry.anchors.values())):
            return None
        return entry
    except (OSError, ValueError, TypeError):
        return None


def _intact(path: Path, entry: Entry) -> bool:
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size != entry.size:
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
    except OSError:
        return False

