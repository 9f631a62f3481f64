"""The book's fonts: which file each role is set in, and the CJK subsets the EPUB embeds.

book.yaml's `fonts:` names a family per role: serif (body text, regular and bold), sans (headings,
captions, running heads: bold, and regular when the family has one), mono (code) and emoji.
A family is looked for first in the project's fonts/ folders, where a publisher puts its licensed
house faces: the manuscript's own fonts/ (when it is inside the project), then the project's
(the checkout, or BOOK_PROJECT_DIR). Files are known by the names inside them (name IDs 16 and
1, any language; the weight from OS/2), not by their file names, and a file whose real path is
outside the project is not read. A family not there is the system's (fontconfig), as the
default Noto faces always were. A family found in neither is an error at book.yaml's line, or,
with `missing: fallback` (or in a --draft build), a warning, and the role's Noto family is used.

Both writers use the same files: the EPUB embeds subsets of them, the PDF declares the house
faces in @font-face rules (templates/pdf/geometry.css.j2), and the PDF's justification spaces are
cut from them (pipeline/textlayer.py).

A full Noto CJK face is about 24 MB; a book uses a thousand or two characters
of it, so each face is cut down to exactly the characters the book shows.
Subsetting takes seconds per face, so results are cached under a key made of
the font file's content hash, the face and the character set: an unchanged
book rebuilds without touching fontTools, and any new character invalidates
the cache on its own.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipeline import cache
from pipeline.diagnostics import Diagnostics, display_path, location
from pipeline.errors import BuildStopped, PipelineError

log = logging.getLogger(__name__)

NOTO_DIR = Path("/usr/share/fonts/opentype/noto")
SC_FACE = 2   # index of the Simplified Chinese face in Noto's JP/KR/SC/TC/HK collections

# Features a horizontal Simplified Chinese text needs. Dropping the rest
# (vertical forms, other locales' locl) halves the subset's size.
LAYOUT_FEATURES = ("ccmp", "kern", "liga", "palt", "halt")

# Always kept: list numbers, punctuation and spaces a reading system may
# generate itself (list markers, the NCX) even if the text has none.
BASE_CHARACTERS = frozenset(chr(c) for c in range(0x20, 0x7F)) | set("\u3000，。、：；！？（）“”‘’《》—…·")

SUBSET_VERSION = "1"   # bump when the subsetting options change, to invalidate old cache entries

FONT_FOLDER = "fonts"
FONT_SUFFIXES = (".otf", ".ttf", ".ttc", ".otc")
BOLD = 600            # CSS: a face of this weight or more is bold
# The weights the book sets each role at, and those its family must have (a sans family without
# a regular face sets running heads and captions in its bold).
WEIGHTS = {"serif": (400, 700), "sans": (700, 400), "mono": (400,), "emoji": (400,)}
NEEDED = {"serif": (400, 700), "sans": (700,), "mono": (400,), "emoji": (400,)}
ROLE_TEXT = {"serif": "body text (serif)", "sans": "heading (sans)", "mono": "code (mono)", "emoji": "emoji"}
FILES_NEEDED = {"serif": "its regular and bold font files", "sans": "its bold font file (and regular, if any)",
                "mono": "its font file", "emoji": "its font file"}


@dataclass(frozen=True)
class FontFace:
    """One face of a role: the file the writers read, and how the stylesheets name it."""
    family: str          # CSS family name: a house face's own spelling of book.yaml's name
    weight: int          # CSS font-weight
    source: str          # file name in `folder`
    index: int           # face in the collection
    file_name: str       # name inside the EPUB (fonts/...)
    folder: Path | None = None   # None: the Noto folder (font_dir)
    house: bool = False  # from the project's fonts/: the PDF declares it with @font-face
    faces_in_file: int = 1

    @property
    def path(self) -> Path:
        return (self.folder or font_dir()) / self.source


SERIF_REGULAR = FontFace("Noto Serif CJK SC", 400, "NotoSerifCJK-Regular.ttc", SC_FACE, "NotoSerifSC-Regular.otf")
SERIF_BOLD = FontFace("Noto Serif CJK SC", 700, "NotoSerifCJK-Bold.ttc", SC_FACE, "NotoSerifSC-Bold.otf")
SANS_BOLD = FontFace("Noto Sans CJK SC", 700, "NotoSansCJK-Bold.ttc", SC_FACE, "NotoSansSC-Bold.otf")


def font_dir() -> Path:
    """Where the Noto collections live; NOTO_FONT_DIR overrides the Debian location."""
    return Path(os.environ.get("NOTO_FONT_DIR") or NOTO_DIR)


def source_path(face: FontFace) -> Path:
    path = face.path
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


# ---------------------------------------------------------------- which file each role is set in

@dataclass(frozen=True)
class HouseFace:
    """One face of a font file in fonts/, as its own tables describe it."""
    path: Path
    index: int
    families: tuple[str, ...]   # name IDs 16 and 1, every platform and language
    weight: int                 # OS/2 usWeightClass
    italic: bool
    faces_in_file: int
    truetype: bool              # glyf outlines (.ttf) rather than CFF (.otf)


def _folded(name: str) -> str:
    # fontconfig compares family names without case and blanks; so does book.yaml
    return "".join(name.split()).casefold()


@lru_cache(maxsize=None)
def _read_faces(path: Path, size: int, mtime_ns: int) -> tuple[HouseFace, ...] | None:
    """The faces of one font file (size and mtime key the memo, so a replaced file is read again);
    None when fontTools cannot read it. Only the name and OS/2 tables are parsed."""
    from fontTools.ttLib import TTCollection, TTFont
    try:
        with path.open("rb") as handle:
            collection = handle.read(4) == b"ttcf"
        opened = TTCollection(str(path), lazy=True) if collection else TTFont(str(path), lazy=True)
        with opened:
            fonts = opened.fonts if collection else [opened]
            return tuple(_describe(path, index, font, len(fonts)) for index, font in enumerate(fonts))
    except Exception:     # noqa: BLE001 - a damaged file raises anything from struct.error to KeyError
        return None


def _faces_of(path: Path) -> tuple[HouseFace, ...] | None:
    stat = path.stat()
    return _read_faces(path, stat.st_size, stat.st_mtime_ns)


def _describe(path: Path, index: int, font, count: int) -> HouseFace:
    records = sorted(font["name"].names, key=lambda r: -r.nameID)   # 16 (typographic family) before 1
    families = tuple(dict.fromkeys(r.toUnicode(errors="replace") for r in records if r.nameID in (16, 1)))
    os2 = font["OS/2"] if "OS/2" in font else None
    return HouseFace(path, index, families, os2.usWeightClass if os2 else 400, bool(os2 and os2.fsSelection & 1),
                     count, "glyf" in font)


def font_folders(config) -> list[Path]:
    """The fonts/ folders a book may use, the manuscript's own first."""
    return list(dict.fromkeys(folder for folder in (config.root / FONT_FOLDER, config.project / FONT_FOLDER)
                              if folder.is_dir()))


def house_faces(config) -> tuple[list[HouseFace], list[dict]]:
    """Every face in the book's fonts/ folders, and what was left out (as Diagnostics.add arguments).
    Nothing whose real path is outside the project is opened: a symlink out of it, or a manuscript
    folder kept elsewhere."""
    project = config.project.resolve()
    faces, problems = [], []
    for folder in font_folders(config):
        if not folder.resolve().is_relative_to(project):
            problems.append(_left_out(folder, f"the folder is outside the project ({display_path(project)}), "
                                              "so its fonts are not used.",
                                      "Put the fonts in the project's own fonts/ folder, or set BOOK_PROJECT_DIR "
                                      "to the folder that holds both the book and its fonts."))
            continue
        for place, _folders, names in sorted(os.walk(folder)):   # symlinked folders are not entered
            for name in sorted(names):
                path = Path(place) / name
                if path.suffix.lower() not in FONT_SUFFIXES:
                    continue
                real = path.resolve()
                if not real.is_relative_to(project):
                    problems.append(_left_out(path, "the font file leads outside the project, so it is not read.",
                                              "Copy the font file itself into fonts/ instead of linking to it."))
                    continue
                found = _faces_of(real) if real.is_file() else None
                if found is None:
                    problems.append(_left_out(path, "the file cannot be read as a font, so it is left out.",
                                              "Replace it with an intact OTF, TTF, TTC or OTC file."))
                    continue
                faces += found
    return faces, problems


def _left_out(path: Path, message: str, hint: str) -> dict:
    return {"code": "font-file", "message": message, "file": path, "hint": hint}


def _pick(faces: list[HouseFace], family: str, weight: int) -> HouseFace | None:
    """The face of `family` nearest `weight` on the same side of bold, upright first."""
    key = _folded(family)
    found = [face for face in faces if key in map(_folded, face.families) and (face.weight >= BOLD) == (weight >= BOLD)]
    return min(found, key=lambda face: (face.italic, abs(face.weight - weight)), default=None)


def _epub_name(family: str, weight: int, truetype: bool) -> str:
    # ASCII: family names are often Chinese
    stem = re.sub(r"[^A-Za-z0-9]+", "", family) or "Font"
    return f"{stem}-{'Bold' if weight >= BOLD else 'Regular'}{'.ttf' if truetype else '.otf'}"


def _house_face(face: HouseFace, family: str, weight: int) -> FontFace:
    family = next(name for name in face.families if _folded(name) == _folded(family))   # the font's own spelling
    return FontFace(family, weight, face.path.name, face.index, _epub_name(family, weight, face.truetype),
                    face.path.parent, house=True, faces_in_file=face.faces_in_file)


@lru_cache(maxsize=None)
def font_installed(family: str) -> bool:
    """Ask fontconfig for the family by its exact name (fc-match would substitute)."""
    if shutil.which("fc-list") is None:
        return False
    result = subprocess.run(["fc-list", family, "family"], capture_output=True, text=True, check=False)
    return any(_folded(family) in map(_folded, line.split(",")) for line in result.stdout.splitlines())


@lru_cache(maxsize=None)
def system_face(family: str, weight: int) -> FontFace:
    """The installed face fontconfig (and so Pango) picks for a family at a weight."""
    found = fontconfig_face(f"{family}:{'bold' if weight >= BOLD else 'regular'}")
    if found is None:
        raise PipelineError(f"fontconfig finds no file for the font {family}.",
                            hint="Install fontconfig and fonts-noto-cjk (`make setup`).")
    path, index = found
    return FontFace(family, weight, path.name, index, "", path.parent)


@dataclass
class BookFonts:
    """The face each role is set in at each weight the writers ask for."""
    faces: dict[tuple[str, int], FontFace] = field(default_factory=dict)

    def face(self, role: str, weight: int) -> FontFace:
        """The face Pango sets `role` text of this weight in: a house family without a regular
        face (sans) is declared bold only, so its bold serves."""
        weights = sorted((w for r, w in self.faces if r == role), key=lambda w: abs(w - weight))
        return self.faces[(role, weights[0])]

    def family(self, role: str) -> str:
        return self.face(role, NEEDED[role][0]).family

    def files(self) -> list[Path]:
        return sorted({face.path for face in self.faces.values()})

    def house(self) -> list[FontFace]:
        """The faces from fonts/, once each (the PDF's @font-face rules)."""
        return list(dict.fromkeys(face for face in self.faces.values() if face.house))

    def embedded_face(self, role: str, weight: int) -> FontFace:
        """The face the EPUB embeds (and its cover is drawn in): the default families keep the Noto
        files and names they always had."""
        face = self.face(role, weight)
        if face.house:
            return face
        noto = {(f.family, f.weight): f for f in (SERIF_REGULAR, SERIF_BOLD, SANS_BOLD)}
        return noto.get((face.family, face.weight)) or _system_epub_face(face)

    def embedded(self) -> list[tuple[str, FontFace]]:
        """The EPUB's faces, by role."""
        return [(role, self.embedded_face(role, weight)) for role, weight in (("serif", 400), ("serif", 700),
                                                                               ("sans", 700))]


def _system_epub_face(face: FontFace) -> FontFace:
    described = _faces_of(face.path)
    truetype = bool(described) and described[min(face.index, len(described) - 1)].truetype
    return FontFace(face.family, face.weight, face.source, face.index,
                    _epub_name(face.family, face.weight, truetype), face.folder)


def book_fonts(config, roles=tuple(NEEDED), diagnostics: Diagnostics | None = None) -> BookFonts:
    """The faces of `roles` for this book. Problems go to `diagnostics` (once, though both writers
    ask) and errors end in BuildStopped; without it an error is a PipelineError and a warning is logged."""
    faces, problems = house_faces(config)
    fonts = BookFonts()
    missing = []
    for role in roles:
        found, problem = _resolve(config, role, faces)
        if problem is not None:
            missing.append(problem)
            found = _resolve(config, role, faces, default=True)[0]
        fonts.faces.update(found)
    stop = None
    for problem in problems + missing:
        if diagnostics is None:
            severity = problem.get("severity") or "error"
            if severity == "error" and problem["code"] == "font-missing":
                stop = stop or PipelineError(problem["message"], file=problem.get("file"), line=problem.get("line"),
                                             hint=problem["hint"])
            else:
                log.warning("%s: %s (%s)", location(problem["file"], problem.get("line")), problem["message"],
                            problem["hint"])
        elif diagnostics.add(**problem).is_error:
            stop = BuildStopped("fonts")
    if stop is not None:
        raise stop
    return fonts


def _resolve(config, role: str, faces: list[HouseFace], default: bool = False):
    """({(role, weight): face}, None) for the family book.yaml names, or (partial, the problem)."""
    settings = config.fonts
    family = getattr(type(settings), role) if default else getattr(settings, role)
    found, absent = {}, []
    for weight in WEIGHTS[role]:
        house = _pick(faces, family, weight)
        if house is not None:
            found[(role, weight)] = _house_face(house, family, weight)
        elif font_installed(family):
            found[(role, weight)] = system_face(family, weight)
        elif weight in NEEDED[role]:
            absent.append(weight)
    if not absent:
        return found, None
    if default or _folded(family) == _folded(getattr(type(settings), role)):
        raise PipelineError(f"the font {family} is not installed.",
                            hint="Run `make setup`, or `apt-get install fonts-noto-cjk fonts-noto-color-emoji`, "
                                 "or put the font's files in the project's fonts/ folder.")
    return found, _missing(config, role, family, absent, faces)


def _missing(config, role: str, family: str, absent: list[int], faces: list[HouseFace]) -> dict:
    settings = config.fonts
    default = getattr(type(settings), role)
    folder = display_path(config.project / FONT_FOLDER) + "/"
    if any(_folded(family) in map(_folded, face.families) for face in faces):
        what = " and ".join("bold (weight 600 or more)" if w >= BOLD else "regular (weight under 600)" for w in absent)
        message = f"the {ROLE_TEXT[role]} font family '{family}' has no {what} face in {folder}."
    else:
        message = f"the {ROLE_TEXT[role]} font family '{family}' is not in {folder} and not installed."
    known = sorted({face.families[0] for face in faces if face.families})
    if settings.missing == "fallback":
        return {"code": "font-missing", "message": message + f" The book is set in {default} instead.",
                "file": config.path, "line": settings.line(role), "severity": "warning",
                "hint": f"Put the font's files in {folder} (see fonts/README.md) to set it in {family}."}
    return {"code": "font-missing", "message": message, "file": config.path, "line": settings.line(role),
            "hint": f"Put {FILES_NEEDED[role]} and the licence in {folder} "
                    "(see fonts/README.md); or write the family as the font names itself"
                    + (f" ({folder} has: {', '.join(known)})" if known else "")
                    + f"; or set 'fonts.missing: fallback' to build with {default} meanwhile."}


def collection_face(face: FontFace, cache_dir: Path | None) -> tuple[Path | None, bytes]:
    """One face of a collection (TTC, OTC) as a font file of its own: (a plain copy in the build cache,
    its bytes), or (None, its bytes) without a cache. The tables are copied, not parsed."""
    from io import BytesIO

    from fontTools.ttLib import TTFont

    def extract() -> bytes:
        out = BytesIO()
        with TTFont(str(face.path), fontNumber=face.index, lazy=True, recalcBBoxes=False,
                    recalcTimestamp=False) as font:
            font.save(out)
        return out.getvalue()

    stat = face.path.stat()
    key = cache.key_of("face", file_digest(face.path, stat.st_size, stat.st_mtime_ns), str(face.index))
    return cached_font_file(cache_dir, f"face-{key[:24]}.otf", extract)


def cached_font_file(cache_dir: Path | None, name: str, make) -> tuple[Path | None, bytes]:
    """A font file made by make(), kept as cache_dir/fonts/<name> (a verified entry) with the plain
    copy WeasyPrint reads from a file: URL: (that copy, its bytes); (None, make()) without a cache."""
    if cache_dir is None:
        return None, make()
    # absolute: WeasyPrint reads it from a file: URL, which a relative --out cannot give
    entry = Path(cache_dir).absolute() / "fonts" / name
    data = cache.read_entry(entry)
    if data is None:
        data = make()
        cache.write_entry(entry, data)
    # the verified entry has a header: WeasyPrint reads a plain copy, checked here
    return cache.plain_copy(entry.with_suffix(".plain.otf"), data), data


def font_url(path: Path | None, data: bytes) -> str:
    """An @font-face source: the file, else the bytes as a data: URL. A file is cheaper: the HTML and
    CSS parsers read a data: URL character by character in every piece the parallel writer lays
    out (3 % of chapter 6's layout)."""
    if path is not None:
        return path.as_uri()
    return "data:font/otf;base64," + base64.b64encode(data).decode("ascii")


def css_quoted(family: str) -> str:
    """A family name as a CSS string. Quotes, backslashes, line breaks and < > & become CSS escapes,
    so a name from book.yaml can neither end the string nor an HTML <style> element."""
    return '"' + "".join(f"\\{ord(c):x} " if c in '"\\<>&\n\r' else c for c in family) + '"'


def font_stack(families, generic: str) -> str:
    """A CSS font-family value: the families, once each, then the generic one."""
    return ", ".join((*map(css_quoted, dict.fromkeys(families)), generic))
