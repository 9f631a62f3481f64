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

import io
import struct
import subprocess
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pikepdf

# The tables WeasyPrint 70 drops from the fonts it embeds (weasyprint/pdf/fonts.py), and its flags.
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


def merge_font_subsets(pdf: pikepdf.Pdf) -> Merged:
    """Give every CFF face embedded more than once one program with the union of its glyphs."""
    groups: dict[_Identity, list[pikepdf.Dictionary]] = {}
    glyphs: dict[_Identity, set[int]] = {}
    identities: dict[tuple[int, int], _Identity | None] = {}
    for font in pdf.objects:
        descendant = _cff_descendant(font)
        if descendant is None:
            continue
        descriptor = descendant.FontDescriptor
        program = descriptor.FontFile3
        if program.objgen not in identities:
            identities[program.objgen] = _identity(program.read_bytes())
        identity = identities[program.objgen]
        if identity is None:
            continue
        groups.setdefault(identity, []).append(descriptor)
        glyphs.setdefault(identity, set()).update(_width_keys(descendant.get("/W")))
    merged = Merged()
    for identity, descriptors in groups.items():
        programs = {d.FontFile3.objgen: d.FontFile3 for d in descriptors}
        if len(programs) < 2:
            continue
        face = _original_face(identity)
        if face is None:
            continue
        data = subset_face(face[0], face[1], glyphs[identity])
        if data is None:
            continue
        stream = pikepdf.Stream(pdf, zlib.compress(data, 6))
        stream.Filter = pikepdf.Name.FlateDecode
        stream.Subtype = pikepdf.Name.OpenType
        cid_set = _cid_set(pdf, glyphs[identity]) if any("/CIDSet" in d for d in descriptors) else None
        for descriptor in descriptors:
            descriptor.FontFile3 = stream
            if cid_set is not None:
                descriptor.CIDSet = cid_set
        merged.faces += 1
        merged.programs_before += len(programs)
        merged.bytes_before += sum(len(p.read_raw_bytes()) for p in programs.values())
        merged.bytes_after += len(stream.read_raw_bytes())
    return merged


def _cff_descendant(font) -> pikepdf.Dictionary | None:
    """The CIDFontType0 of a Type0 font with an Identity-H encoding and an OpenType (CFF)
    program: the fonts WeasyPrint writes for the CJK faces. Others (a font with a CMap of its
    own for missing glyphs, TrueType emoji) are left alone."""
    if not isinstance(font, pikepdf.Dictionary) or font.get("/Type") != "/Font" or font.get("/Subtype") != "/Type0":
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


def _width_keys(widths) -> set[int]:
    """The glyph ids a /W array gives widths for (WeasyPrint lists every glyph a font shows)."""
    found: set[int] = set()
    items = list(widths) if widths is not None else []
    index = 0
    while index + 1 < len(items):
        first = int(items[index])
        if isinstance(items[index + 1], pikepdf.Array):
            found.update(range(first, first + len(items[index + 1])))
            index += 2
        else:
            found.update(range(first, int(items[index + 1]) + 1))
            index += 3
    return found


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
