"""CJK font subsets for the EPUB, cached on disk.

A full Noto CJK face is about 24 MB; a book uses a thousand or two characters
of it, so each face is cut down to exactly the characters the book shows.
Subsetting takes seconds per face, so results are cached under a key made of
the font file's content hash, the face and the character set: an unchanged
book rebuilds without touching fontTools, and any new character invalidates
the cache on its own.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline import cache
from pipeline.errors import PipelineError

NOTO_DIR = Path("/usr/share/fonts/opentype/noto")
SC_FACE = 2   # index of the Simplified Chinese face in Noto's JP/KR/SC/TC/HK collections

# Features a horizontal Simplified Chinese text needs. Dropping the rest
# (vertical forms, other locales' locl) halves the subset's size.
LAYOUT_FEATURES = ("ccmp", "kern", "liga", "palt", "halt")

# Always kept: list numbers, punctuation and spaces a reading system may
# generate itself (list markers, the NCX) even if the text has none.
BASE_CHARACTERS = frozenset(chr(c) for c in range(0x20, 0x7F)) | set("\u3000，。、：；！？（）“”‘’《》—…·")

SUBSET_VERSION = "1"   # bump when the subsetting options change, to invalidate old cache entries


@dataclass(frozen=True)
class FontFace:
    """One face the stylesheet declares with @font-face."""
    family: str          # CSS family name
    weight: int          # CSS font-weight
    source: str          # file name in the Noto folder
    index: int           # face in the collection
    file_name: str       # name inside the EPUB (fonts/...)


SERIF_REGULAR = FontFace("Noto Serif CJK SC", 400, "NotoSerifCJK-Regular.ttc", SC_FACE, "NotoSerifSC-Regular.otf")
SERIF_BOLD = FontFace("Noto Serif CJK SC", 700, "NotoSerifCJK-Bold.ttc", SC_FACE, "NotoSerifSC-Bold.otf")
SANS_BOLD = FontFace("Noto Sans CJK SC", 700, "NotoSansCJK-Bold.ttc", SC_FACE, "NotoSansSC-Bold.otf")


def font_dir() -> Path:
    """Where the Noto collections live; NOTO_FONT_DIR overrides the Debian location."""
    return Path(os.environ.get("NOTO_FONT_DIR") or NOTO_DIR)


def source_path(face: FontFace) -> Path:
    path = font_dir() / face.source
    if not path.is_file():
        raise PipelineError(f"the font {face.source} is not installed.", file=path,
                            hint="Install fonts-noto-cjk (apt-get install fonts-noto-cjk) or set NOTO_FONT_DIR.")
    return path


def fontconfig_face(pattern: str) -> tuple[Path, int] | None:
    """The file and face index fontconfig (and so Pango) picks for a pattern ("Family:bold");
    None without fontconfig or a file."""
    if shutil.which("fc-match") is None:
        return None
    found = subprocess.run(["fc-match", "-f", "%{file}:%{index}", pattern], capture_output=True, text=True,
                           check=False).stdout
    path, _, index = found.rpartition(":")
    if not path or not Path(path).is_file():
        return None
    return Path(path), int(index or 0)


@lru_cache(maxsize=None)
def file_digest(path: Path, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the key so a replaced font file is hashed again
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(path: Path, index: int, characters: frozenset[str]) -> str:
    stat = path.stat()
    digest = hashlib.sha256()
    for part in (SUBSET_VERSION, file_digest(path, stat.st_size, stat.st_mtime_ns), str(index),
                 "".join(sorted(characters))):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def subset_bytes(path: Path, index: int, characters: frozenset[str]) -> bytes:
    """The face cut down to `characters`, as OpenType/CFF bytes, deterministic for equal input."""
    from io import BytesIO

    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.layout_features = list(LAYOUT_FEATURES)
    options.name_IDs = ["*"]          # the OFL requires the copyright and licence records (IDs 0, 13, 14)
    options.name_languages = ["*"]
    options.notdef_outline = True     # a missing glyph shows as a box, not as nothing
    options.recalc_timestamp = False  # head.modified would otherwise be the wall clock
    font = TTFont(str(path), fontNumber=index, recalcTimestamp=False, lazy=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(ord(c) for c in characters))
    subsetter.subset(font)
    out = BytesIO()
    font.save(out)
    return out.getvalue()


def subset_font(face: FontFace, characters: set[str] | frozenset[str], cache_dir: Path) -> bytes:
    """The face's subset for `characters`, from the cache when the same subset was made before."""
    path = source_path(face)
    wanted = frozenset(characters) | BASE_CHARACTERS
    cached = Path(cache_dir) / "fonts" / f"{Path(face.file_name).stem}-{cache_key(path, face.index, wanted)}.otf"
    stored = cache.read_entry(cached)       # None for a missing, truncated or altered entry
    if stored is not None:
        return stored
    data = subset_bytes(path, face.index, wanted)
    cache.write_entry(cached, data)
    return data
