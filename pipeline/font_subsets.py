"""One embedded program per font face in a PDF merged from pieces.

WeasyPrint subsets every font it embeds to the glyphs of the document it writes, so each piece
of the parallel writer (pipeline/pdf_parallel.py) carries its own subset of the same Noto CJK
face, and the merged bench book held five copies of each face: 7.4 MB, where the single pass
wrote 3.2 MB. Its subsets keep the face's glyph ids (HarfBuzz's RETAIN_GIDS), so the pieces'
content streams and /W arrays stay valid over any larger subset of the same face. This cuts
that face once more, from the file fontconfig has for it, to the union of the glyphs every
piece uses, and points every piece's font descriptor at that one program; each font keeps
its own /W and ToUnicode (text-layer clones, pipeline/textlayer.py, have widths of their own).

A program is merged only when the original face is found and is the one the subsets were cut
from (PostScript name, head.created and fontRevision agree); anything else stays as it was.
"""
from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pikepdf

from pipeline.textlayer import parse_widths

# The tables WeasyPrint 70 drops from the fonts it embeds (weasyprint/pdf/fonts.py), and its flags.
FOLDER = "font-subsets"
SUBSET_VERSION = "1"       # bump when subset_face cuts differently
DROPPED_TABLES = (b"BASE", b"DSIG", b"EBDT", b"EBLC", b"EBSC", b"GPOS", b"GSUB", b"JSTF", b"LTSH", b"PCLT", b"SVG ")


@dataclass
class Merged:
    faces: int = 0              # faces whose programs were merged
    programs_before: int = 0    # embedded programs of those faces before
    bytes_before: int = 0       # their compressed size
    bytes_after: int = 0


@dataclass(frozen=True)
class _Identity:
    postscript_name: str
    created: int
    revision: float


def merge_font_subsets(pdf: pikepdf.Pdf, cache_dir: Path | None = None) -> Merged:
    """Give every CFF face embedded more than once one program with the union of its glyphs;
    cache_dir keeps the cut programs (a chapter edit seldom changes more than one face's)."""
    groups: dict[str, list[pikepdf.Dictionary]] = {}
    glyphs: dict[str, set[int]] = {}
    for descendant in _cff_descendants(pdf):
        descriptor = descendant.FontDescriptor
        # WeasyPrint names a font by a hash of its Pango description: one name, one face
        name = str(descriptor.get("/FontName", "")).split("+", 1)[-1]
        groups.setdefault(name, []).append(descriptor)
        # WeasyPrint's /W lists every glyph a font shows
        glyphs.setdefault(name, set()).update(parse_widths(descendant.get("/W")))
    merged = Merged()
    used: set[str] = set()
    for name, descriptors in groups.items():
        programs = {d.FontFile3.objgen: d.FontFile3 for d in descriptors}
        if len(programs) < 2:
            continue
        # one program read will do: the pieces of one build see the same fontconfig (the
        # layout cache's key holds the font files), so one name is one face
        identity = _identity(next(iter(programs.values())).read_bytes())
        face = _original_face(identity) if identity is not None else None
        if face is None:
            continue
        data = _cached_subset(face, glyphs[name], cache_dir, used)
        if data is None:
            continue
        stream = pikepdf.Stream(pdf, data)
        stream.Filter = pikepdf.Name.FlateDecode
        stream.Subtype = pikepdf.Name.OpenType
        cid_set = _cid_set(pdf, glyphs[name]) if any("/CIDSet" in d for d in descriptors) else None
        for descriptor in descriptors:
            descriptor.FontFile3 = stream
            if cid_set is not None:
                descriptor.CIDSet = cid_set
        merged.faces += 1
        merged.programs_before += len(programs)
        merged.bytes_before += sum(len(p.read_raw_bytes()) for p in programs.values())
        merged.bytes_after += len(data)
    if cache_dir is not None:
        _prune(Path(cache_dir) / FOLDER, keep=used)
    return merged


def _prune(folder: Path, keep: set[str]) -> None:
    """Drop the programs this build did not use (each edit that brings a new glyph cuts one)."""
    if folder.is_dir():
        for entry in folder.glob("*.otf.z"):
            if entry.name not in keep:
                entry.unlink(missing_ok=True)


def _cff_descendants(pdf: pikepdf.Pdf):
    """Each CIDFont (see _cff_descendant) the pages and their forms use, once."""
    seen: set[tuple[int, int]] = set()
    stack = [page.obj.get("/Resources") for page in pdf.pages]
    while stack:
        resources = stack.pop()
        if not isinstance(resources, pikepdf.Dictionary):
            continue
        if resources.is_indirect:
            if resources.objgen in seen:
                continue
            seen.add(resources.objgen)
        for font in (resources.get("/Font") or {}).values():
            if font.objgen in seen:
                continue
            seen.add(font.objgen)
            descendant = _cff_descendant(font)
            if descendant is not None and descendant.objgen not in seen:
                seen.add(descendant.objgen)
                yield descendant
        for xobject in (resources.get("/XObject") or {}).values():
            if xobject.get("/Subtype") == "/Form" and xobject.objgen not in seen:
                seen.add(xobject.objgen)
                stack.append(xobject.get("/Resources"))


def _cached_subset(face: tuple[Path, int], glyphs: set[int], cache_dir: Path | None, used: set[str]) -> bytes | None:
    """The compressed program of the face cut to the glyphs, from cache_dir when cut before."""
    from pipeline import cache
    path, index = face
    stat = path.stat()
    key = hashlib.sha256(f"{SUBSET_VERSION}\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{index}\0".encode()
                         + ",".join(map(str, sorted(glyphs))).encode()).hexdigest()[:24]
    entry = Path(cache_dir) / FOLDER / f"{key}.otf.z" if cache_dir else None
    used.add(f"{key}.otf.z")
    if entry is not None:
        stored = cache.read_entry(entry)
        if stored is not None:
            return stored
    data = subset_face(path, index, glyphs)
    if data is None:
        return None
    data = zlib.compress(data, 6)
    if entry is not None:
        cache.write_entry(entry, data)
    return data


def _cff_descendant(font) -> pikepdf.Dictionary | None:
    """The CIDFontType0 of a Type0 font with an Identity-H encoding and an OpenType (CFF)
    program: the fonts WeasyPrint writes for the CJK faces. Others (a font with a CMap of its
    own for missing glyphs, TrueType emoji) are left alone."""
    if not isinstance(font, pikepdf.Dictionary) or font.get("/Subtype") != "/Type0":
        return None
    if font.get("/Encoding") != "/Identity-H" or len(font.get("/DescendantFonts", [])) != 1:
        return None
    descendant = font.DescendantFonts[0]
    descriptor = descendant.get("/FontDescriptor")
    if descendant.get("/Subtype") != "/CIDFontType0" or descriptor is None or "/FontFile3" not in descriptor:
        return None
    if descriptor.FontFile3.get("/Subtype") != "/OpenType":
        return None
    return descendant


def _identity(program: bytes) -> _Identity | None:
    from fontTools.ttLib import TTFont, TTLibError
    try:
        font = TTFont(io.BytesIO(program), lazy=True)
        return _Identity(font["name"].getDebugName(6) or "", int(font["head"].created), float(font["head"].fontRevision))
    except (TTLibError, KeyError, AssertionError, ValueError, struct.error):
        return None


@lru_cache(maxsize=None)
def _original_face(identity: _Identity) -> tuple[Path, int] | None:
    """The file and index of the face the subsets were cut from, by fontconfig; None when
    fontconfig has no face of that name or its face is another version."""
    from fontTools.ttLib import TTFont
    if not identity.postscript_name or "\n" in identity.postscript_name:
        return None
    try:
        listed = subprocess.run(["fc-list", f":postscriptname={identity.postscript_name}", "file", "index"],
                                capture_output=True, text=True, check=False).stdout
    except OSError:
        return None
    for line in listed.splitlines():
        path, _, index = line.partition(": :index=")
        if not index.strip().isdigit() or not Path(path).is_file():
            continue
        try:
            head = TTFont(path, fontNumber=int(index), lazy=True)["head"]
        except Exception:       # a font fontconfig lists but fontTools cannot read: not this one
            continue
        if int(head.created) == identity.created and float(head.fontRevision) == identity.revision:
            return Path(path), int(index)
    return None


def subset_face(path: Path, index: int, glyphs: set[int]) -> bytes | None:
    """The face cut to `glyphs`, their ids kept, as WeasyPrint cuts the faces it embeds."""
    import uharfbuzz as hb
    face = hb.Face(hb.Blob.from_file_path(str(path)), index)
    first = hb.SubsetInput()
    first.glyph_set.update(sorted(glyphs))
    first.flags = hb.SubsetFlags.RETAIN_GIDS | hb.SubsetFlags.PASSTHROUGH_UNRECOGNIZED | hb.SubsetFlags.DESUBROUTINIZE
    first.sets(hb.SubsetInputSets.DROP_TABLE_TAG).update(int.from_bytes(tag, "big") for tag in DROPPED_TABLES)
    cut = hb.subset(face, first)
    if cut is None:
        return None
    # WeasyPrint's second pass: the same glyphs without hints (its default)
    second = hb.SubsetInput()
    second.glyph_set.update(range(max(glyphs, default=0) + 1))
    second.flags = hb.SubsetFlags.PASSTHROUGH_UNRECOGNIZED | hb.SubsetFlags.DESUBROUTINIZE | hb.SubsetFlags.NO_HINTING
    final = hb.subset(cut, second)
    return (final or cut).blob.data


def _cid_set(pdf: pikepdf.Pdf, glyphs: set[int]) -> pikepdf.Stream:
    """A /CIDSet of the glyphs (PDF/A asks for one on PDF 1.4 files, which WeasyPrint writes)."""
    bits = bytearray((max(glyphs, default=0) // 8) + 1)
    for glyph in glyphs:
        bits[glyph // 8] |= 0x80 >> (glyph % 8)
    return pikepdf.Stream(pdf, bytes(bits))
