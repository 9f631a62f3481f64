"""A clean text layer for the print PDF: what a reader copies or searches is the book's text.

pipeline/typeset.py puts a U+0020 at every point where Chinese text may break, so that
WeasyPrint's justifier has something to stretch (print.css cancels its advance). Left alone,
those spaces are in the PDF's text layer ("一 家 成 立"), and so are the gaps that Han/Latin
spacing, justification and letter-spacing leave between glyphs: extractors (poppler's
pdftotext, pypdf, MuPDF, a reader's search) turn a gap wider than about 0.15-0.2 em into a
space. This module removes both, without moving a single glyph (the design "R2" of
shared/research/text-layer.md):

1. Space fonts. The justification spaces are set in a font of their own, "CJK Justify Space"
   (and "... Sans"), cut at build time with fontTools from the very face the text is set in
   (pipeline/fonts.py: a house face from fonts/, or the system's Noto CJK), down to U+0020:
   same advance, same metrics, so the layout does not change. The font is given to WeasyPrint
   in an @font-face rule (templates/pdf/geometry.css.j2) as a plain copy in the build's cache
   folder (a data: URL without one); the cut fonts are cached there (pipeline/cache.py entries)
   and in memory.
2. Post-pass (pikepdf), on the finished PDF of the single-pass writer, and on each piece of
   the parallel writer, in its worker. In every content stream:
   - the glyphs of the space fonts are taken out;
   - every positive gap between two glyphs of one text box (what the removed space, the
     justification stretch and letter-spacing left) becomes part of the
     advance of the glyph before it: that glyph is shown with a clone of its font whose /W
     gives it the wider advance, in steps of 1/10 em rounded down; the rest stays a TJ
     number. A clone shares the font program, ToUnicode and descriptor of its font, so the
     file grows by a few small dictionaries.
   Gaps under MIN_GAP_EM stay: no extractor reads them as a space, and they are most of the
   gaps justification leaves. A gap after a space glyph is that space. A Han/Latin space
   (between two text boxes) stays a gap, which extractors read as the space it is ("2024 年"):
   folding it too made a clone of nearly every font on every page, and poppler, which builds
   each font a page names from its program (about 60 ms each for a Noto CJK subset), then
   extracted and rendered pages two to thirteen times slower. So clones are left for what
   must not read as a space: the gaps of a letter-spaced line. Each page gets a font
   dictionary of the fonts it uses (WeasyPrint shares one among all pages).
   Every glyph keeps its origin, so the page renders the same; the space fonts are then
   unused and dropped from the resources. Saved with a deterministic /ID: the same PDF in
   gives the same bytes out.

The cost is in the PDF's standards: a clone's /W differs from the widths in its font program,
which PDF/A (ISO 19005-2, 6.2.11.5) forbids and the PDF reference asks against; renderers
use /W, as the PDF reference says they must. Books for PDF/A or PDF/UA would need the
ActualText design (R1) instead.
"""
from __future__ import annotations

import io
import math
import re
import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline import cache
from pipeline.errors import PipelineError
from pipeline.fonts import BookFonts, cached_font_file, file_digest, font_url
from pipeline.fsutil import save_pdf

# ---------------------------------------------------------------- the space fonts

JUSTIFY_FAMILY = "CJK Justify Space"             # the serif body text's justification spaces
JUSTIFY_FAMILY_SANS = "CJK Justify Space Sans"   # table headers and captions (set in the sans face)
# WeasyPrint names a font "ABCDEF+<family with hyphens>[-Bold]": this finds both families.
JUSTIFY_BASEFONT = "CJK-Justify-Space"
SPACE_FONT_VERSION = "1"    # bump when the cutting changes, to invalidate cached fonts
WEIGHTS = {400: "regular", 700: "bold"}


@dataclass(frozen=True)
class SpaceFace:
    """One @font-face of a space font: U+0020 alone, cut from the face the text is set in."""
    family: str
    weight: int
    data: bytes
    path: Path | None = None     # a plain copy in the build cache, when there is one

    @property
    def url(self) -> str:
        return font_url(self.path, self.data)


def cut_space_font(path: Path, index: int, family: str, weight: int) -> bytes:
    """The face cut down to U+0020 (and .notdef), renamed to `family`; the same bytes for the
    same face. Its advance and its vertical metrics are the face's own, so a line set with it
    is laid out exactly as one set in the face itself."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]            # the OFL wants the copyright and licence records kept
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.recalc_timestamp = False
    font = TTFont(str(path), fontNumber=index, recalcTimestamp=False, lazy=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[0x20])
    subsetter.subset(font)
    style = "Bold" if weight >= 600 else "Regular"
    postscript = f"{family.replace(' ', '')}-{style}"
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (16, 17, 21, 22, 3):
            names.removeNames(nameID=record.nameID)
    for name_id, value in ((1, family), (2, style), (4, f"{family} {style}"), (6, postscript),
                           (3, f"{postscript};{SPACE_FONT_VERSION}")):
        names.removeNames(nameID=name_id)
        names.setName(value, name_id, 3, 1, 0x409)
        names.setName(value, name_id, 1, 0, 0)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [postscript]
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


_MEMO: dict[tuple, bytes] = {}


def space_faces(fonts: BookFonts, cache_dir: Path | None = None) -> tuple[SpaceFace, ...]:
    """The four space faces (serif and sans, regular and bold), each cut from the face Pango sets
    that text in. Cut once per process and cached in cache_dir/fonts (verified entries)."""
    faces = []
    for family, role in ((JUSTIFY_FAMILY, "serif"), (JUSTIFY_FAMILY_SANS, "sans")):
        for weight in WEIGHTS:
            source = fonts.face(role, weight)
            path, index = source.path, source.index
            stat = path.stat()
            key = cache.key_of(SPACE_FONT_VERSION, file_digest(path, stat.st_size, stat.st_mtime_ns), str(index),
                               family, str(weight))
            plain, data = cached_font_file(
                cache_dir, f"justify-space-{key[:24]}.otf",
                lambda: _MEMO.get(key) or cut_space_font(path, index, family, weight))
            _MEMO[key] = data
            faces.append(SpaceFace(family, weight, data, plain))
    return tuple(faces)


# ---------------------------------------------------------------- the post-pass

QUANTUM = 100              # a gap joins an advance in steps of 1/10 em (PDF widths are in 1/1000 em)
LINE_GAP_EM = 4.0          # inside one text box (justification, letter-spacing): up to this wide
BASELINE_EM = 0.05         # boxes whose baselines differ by less than this share a line
MIN_GAP_EM = 0.1           # smaller gaps stay (no extractor reads less than 0.15 em as a space)
CLONE_SUFFIX = "j"         # clone k of the font /ABCDEF is /ABCDEFj<k>, in the same /Font dictionary


@dataclass
class Stats:
    """What one post-pass did."""
    removed: int = 0            # space-font glyphs taken out of the text
    folded: int = 0             # gaps made part of the advance of the glyph before them
    clones: int = 0             # font dictionaries added for the wider advances
    left: int = 0               # space-font glyphs left where the pass could not follow the text
    streams: int = 0            # content streams rewritten
    skipped: int = 0            # content streams left as they were (something the pass does not read)

    @classmethod
    def total(cls, parts) -> "Stats":
        """The sum of several passes (the parallel writer's pieces)."""
        fields = dataclasses.fields(cls)
        return cls(**{f.name: sum(getattr(part, f.name) for part in parts) for f in fields})


class _Font:
    """A font resource as far as the pass needs it: glyph codes -> CIDs -> widths, and clones."""
    __slots__ = ("obj", "justify", "widths", "dw", "to_cid", "clones", "objects", "runs",
                 "_unicode")

    def __init__(self, obj):
        import pikepdf
        self.obj = obj
        self.justify = JUSTIFY_BASEFONT in str(obj.get("/BaseFont", ""))
        self.widths = None          # None: a font the pass cannot read; its text is left as it is
        self.to_cid = None
        self.clones: list[dict[int, float]] = []       # clone k: CID -> its width widened k + 1 steps
        self.objects: list = []
        self.runs: dict[bytes, tuple] = {}              # hex string -> (CIDs, sum of widths)
        self._unicode = None
        if obj.get("/Subtype") != "/Type0" or "/DescendantFonts" not in obj:
            return
        encoding = obj.get("/Encoding")
        if isinstance(encoding, pikepdf.Stream):
            self.to_cid = _cid_map(encoding.read_bytes())
            if self.to_cid is None:
                return
        elif encoding != pikepdf.Name("/Identity-H"):
            return
        descendant = obj.DescendantFonts[0]
        self.dw = float(descendant.get("/DW", 1000))
        self.widths = parse_widths(descendant.get("/W"))

    def run(self, hexa: bytes) -> tuple:
        """(CIDs, sum of their widths) of a hex glyph string of this font."""
        found = self.runs.get(hexa)
        if found is None:
            codes = bytes.fromhex(hexa.decode())
            if len(codes) % 2:
                raise ValueError("odd glyph code length")
            cids = [codes[i] << 8 | codes[i + 1] for i in range(0, len(codes), 2)]
            if self.to_cid is not None:
                cids = [self.to_cid.get(c, 0) for c in cids]
            widths, dw = self.widths, self.dw
            found = self.runs[hexa] = (cids, sum(widths.get(c, dw) for c in cids))
        return found

    def width(self, cid: int) -> float:
        return self.widths.get(cid, self.dw)

    def char(self, hexa: bytes) -> str:
        """The text of one glyph code (4 hex digits), from the ToUnicode map ("" if none)."""
        if self._unicode is None:
            stream = self.obj.get("/ToUnicode")
            self._unicode = _to_unicode(stream.read_bytes()) if stream is not None else {}
        return self._unicode.get(int(hexa, 16), "") if hexa else ""

    def clone_for(self, cid: int, fold: float) -> int:
        """The clone that widens `cid` by `fold`: clone k widens the glyphs it holds by k + 1
        steps, so a page that folds gaps of two sizes uses two clones of a font, whichever
        glyphs they follow."""
        index = int(round(fold / QUANTUM)) - 1
        while len(self.clones) <= index:
            self.clones.append({})
        self.clones[index][cid] = self.width(cid) + fold
        return index

    def clone_object(self, pdf, index: int):
        """Clone `index` as a Type0 font: this font with other widths for a few glyphs, sharing
        its font program, descriptor and ToUnicode map."""
        import pikepdf
        while len(self.objects) <= index:
            self.objects.append(None)
        if self.objects[index] is None:
            descendant = self.obj.DescendantFonts[0]
            widths = pikepdf.Array()
            for cid, width in sorted(self.clones[index].items()):
                widths.append(cid)
                widths.append(pikepdf.Array([int(width) if width.is_integer() else round(width, 3)]))
            cid_font = pikepdf.Dictionary()
            for key in descendant.keys():
                if key != "/W":
                    cid_font[key] = descendant.get(key)
            cid_font.W = widths
            font = pikepdf.Dictionary()
            for key in self.obj.keys():
                if key != "/DescendantFonts":
                    font[key] = self.obj.get(key)
            font.DescendantFonts = pikepdf.Array([pdf.make_indirect(cid_font)])
            self.objects[index] = pdf.make_indirect(font)
        return self.objects[index]


def parse_widths(array) -> dict[int, float]:
    """Glyph id -> width of a CIDFont's /W array (both of its forms)."""
    import pikepdf
    widths: dict[int, float] = {}
    items = list(array) if array is not None else []
    i = 0
    while i + 1 < len(items):
        first = int(items[i])
        if isinstance(items[i + 1], pikepdf.Array):
            for offset, width in enumerate(items[i + 1]):
                widths[first + offset] = float(width)
            i += 2
        else:
            last, width = int(items[i + 1]), float(items[i + 2])
            for cid in range(first, last + 1):
                widths[cid] = width
            i += 3
    return widths


_CIDCHAR = re.compile(rb"<([0-9A-Fa-f]{4})>\s*(\d+)")
_CIDRANGE = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]{4})>\s*(\d+)")
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>")
_BFRANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>")


def _cid_map(cmap: bytes) -> dict[int, int] | None:
    """Code -> CID of an embedded two-byte CMap (WeasyPrint writes one when a glyph is missing)."""
    if not re.search(rb"<0000>\s*<ffff>", cmap, re.I):
        return None
    mapping: dict[int, int] = {}
    for block in re.findall(rb"begincidrange(.*?)endcidrange", cmap, re.S):
        for low, high, first in _CIDRANGE.findall(block):
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = int(first) + offset
    for block in re.findall(rb"begincidchar(.*?)endcidchar", cmap, re.S):
        for code, cid in _CIDCHAR.findall(block):
            mapping[int(code, 16)] = int(cid)
    return mapping


def _to_unicode(cmap: bytes) -> dict[int, str]:
    """Code -> text of a ToUnicode CMap (bfchar entries; bfrange entries with a start code)."""
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for low, high, start in _BFRANGE.findall(block):
            first = int(start, 16) if start else 0
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = chr(first + offset) if first + offset < 0x110000 else ""
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for code, text in _BFCHAR.findall(block):
            mapping[int(code, 16)] = bytes.fromhex(text.decode()).decode("utf-16-be", "replace")
    return mapping


@lru_cache(maxsize=1 << 16)          # the same few numbers over and over (sizes, cancelled spaces)
def _fmt(value: float) -> bytes:
    """A number for a content stream, to 1/1000 (of 1/1000 em in a TJ array)."""
    value = round(value, 3)
    if not value:
        return b"0"
    text = repr(value)
    return (text[:-2] if text.endswith(".0") else text).encode()


# -- content streams, read as one instruction a line

# Operators the pass follows. A stream in which one of them is not the last on its line
# (WeasyPrint writes one instruction a line, pypdf keeps its streams) is tokenised first.
_NOT_LAST = re.compile(rb"[qQBEcTD'\"](?<![^\s][qQBEcTD'\"])(?:(?<=q)|(?<=Q)|(?<=D)o|(?<=B)T|(?<=E)T|"
                       rb"(?<=c)m|(?<=T)[fmdDJjczsLw*]|(?<=')|(?<=\"))[ \t]+\S")
_NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TJ_ARRAY = re.compile(rb"\[(?:<[0-9A-Fa-f]*>|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?| )*\]|<[0-9A-Fa-f]*>")
_TJ_ITEM = re.compile(rb"<([0-9A-Fa-f]*)>|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_TOKEN = re.compile(rb"""
    (?P<ws>\s+|%[^\r\n]*)
  | (?P<num>[+-]?(?:\d+\.?\d*|\.\d+))
  | (?P<name>/[^\s\[\]<>(){}/%]*)
  | (?P<dict><<|>>)
  | (?P<hex><[0-9A-Fa-f\s]*>)
  | (?P<lit>\()
  | (?P<arr>[\[\]])
  | (?P<op>[^\s\[\]<>(){}/%]+)
""", re.X)
_OPERATORS = frozenset(b"b B b* B* BDC BI BMC BT BX c cm CS cs d d0 d1 Do DP EI EMC ET EX f F f* G g gs h i "
                       b"ID j J K k l m M MP n q Q re RG rg ri s S SC sc SCN scn sh T* Tc Td TD Tf Tj TJ TL "
                       b"Tm Tr Ts Tw Tz v w W W* y ' \"".split())


def _literal_end(data: bytes, start: int) -> int:
    """The index after the literal string that opens at data[start] == '('."""
    depth, i = 0, start
    while i < len(data):
        ch = data[i]
        if ch == 0x5C:
            i += 2
            continue
        if ch == 0x28:
            depth += 1
        elif ch == 0x29:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unterminated string")


def _literal_bytes(raw: bytes) -> bytes:
    """The bytes a literal string's body stands for."""
    out, i = bytearray(), 0
    escapes = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}
    while i < len(raw):
        ch = raw[i]
        if ch != 0x5C:
            out.append(ch)
            i += 1
            continue
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        if nxt is None:
            break
        if nxt in escapes:
            out.append(escapes[nxt])
            i += 2
        elif 0x30 <= nxt <= 0x37:
            j = i + 1
            while j < len(raw) and j < i + 4 and 0x30 <= raw[j] <= 0x37:
                j += 1
            out.append(int(raw[i + 1:j], 8) & 0xFF)
            i = j
        elif nxt in (10, 13):
            i += 2 + (nxt == 13 and i + 2 < len(raw) and raw[i + 2] == 10)
        else:
            out.append(nxt)
            i += 2
    return bytes(out)


# A tagged PDF's marked content as WeasyPrint writes it, an operand a line: "/Span\n<</MCID 0>>\nBDC",
# "/Artifact\nBMC".
_MARKED_CONTENT = re.compile(rb"(?m)^(/[^\s/\[\]<>()]+)\n(?:(<<[^\n]*>>)\n(BDC)|(BMC))$")


def _lines(data: bytes) -> list[bytes]:
    """The stream as one instruction a line, the operator after the line's last space."""
    if b"BDC" in data:
        data = _MARKED_CONTENT.sub(lambda m: b" ".join(part for part in m.groups() if part), data)
    if _NOT_LAST.search(data) is None and b"\nBI" not in data and not data.startswith(b"BI"):
        return data.split(b"\n")
    out, pos, start = [], 0, None
    while pos < len(data):
        match = _TOKEN.match(data, pos)
        if match is None:
            raise ValueError(f"unreadable content at byte {pos}")
        kind, end = match.lastgroup, match.end()
        if kind == "lit":
            end = _literal_end(data, pos)
        if kind != "ws" and start is None:
            start = pos
        if kind == "op":
            op = match.group()
            if op == b"BI":
                found = re.compile(rb"\sEI(?=\s|$)").search(data, end)
                if found is None:
                    raise ValueError("inline image without EI")
                end = found.end()
                # kept whole, as one line; _analyse leaves a stream with an inline image as it is
                out.append(data[start:end].replace(b"\n", b"\0") + b" BI")
            else:
                operands = data[start:pos].strip()
                out.append(operands + b" " + op if operands else op)
            start = None
        pos = end
    return out


def _tj_items(body: bytes) -> list:
    """The glyph strings (hex digits) and numbers (float) of a TJ array or a Tj string."""
    if _TJ_ARRAY.fullmatch(body) is not None:
        return [float(num) if num else hexa for hexa, num in _TJ_ITEM.findall(body)]
    items, pos = [], 0
    while pos < len(body):
        ch = body[pos:pos + 1]
        if ch in b" \t\r\n[]":
            pos += 1
        elif ch == b"(":
            end = _literal_end(body, pos)
            items.append(_literal_bytes(body[pos + 1:end - 1]).hex().encode())
            pos = end
        elif ch == b"<":
            end = body.index(b">", pos)
            items.append(re.sub(rb"\s", b"", body[pos + 1:end]))
            pos = end + 1
        else:
            match = _NUMBER.match(body, pos)
            if match is None:
                raise ValueError("unexpected text array")
            items.append(float(match.group()))
            pos = match.end()
    return items


def _multiply(m, n):
    """m x n for PDF matrices [a b c d e f]."""
    a, b, c, d, e, f = m
    A, B, C, D, E, F = n
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


class _Segment:
    """Text placed from one text matrix: a position in it is a pen offset along its x axis."""
    __slots__ = ("matrix", "opaque", "end")

    def __init__(self, matrix):
        self.matrix = matrix
        self.opaque = False       # holds text the pass cannot follow: left as it is from there on
        self.end = 0.0            # the pen after its last text instruction


class _Chunk:
    """A glyph string kept in the text: one font, no gap inside."""
    __slots__ = ("font", "name", "size", "th", "hexa", "cids", "origin", "advance", "seg", "fold")

    def __init__(self, font, name, size, th, hexa, cids, origin, advance, seg):
        self.font, self.name, self.size, self.th, self.hexa = font, name, size, th, hexa
        self.cids, self.origin, self.advance, self.seg = cids, origin, advance, seg
        self.fold = 0.0           # extra advance of its last glyph, in 1/1000 of the font size


class _Text:
    """A text-showing instruction: written again from its chunks, or kept (verbatim)."""
    __slots__ = ("line", "state", "seg", "pen_before", "chunks", "verbatim")

    def __init__(self, line, state, seg, pen_before):
        self.line, self.state, self.seg, self.pen_before = line, state, seg, pen_before
        self.chunks: list[_Chunk] = []
        self.verbatim = False


class _Unsupported(Exception):
    pass


_PUSH, _POP, _FLUSH = "q", "Q", "Do"


def _rewrite_stream(data: bytes, fonts: dict, stats: Stats, memo: dict) -> tuple[bytes | None, set, int]:
    """The stream with the space fonts' glyphs out and the gaps folded, the clones it names
    ({(resource name, clone index)}) and how many space glyphs it still shows; None for a stream
    the pass leaves as it is."""
    try:
        entries, removed, folded, left = _analyse(data, fonts, memo)
        stream, used = _emit(entries)
    except (_Unsupported, ValueError, IndexError, KeyError, ZeroDivisionError):
        stats.skipped += 1
        return None, set(), -1
    stats.streams += 1
    stats.removed += removed
    stats.folded += folded
    stats.left += left
    return stream, used, left


def _analyse(data: bytes, fonts: dict, memo: dict):
    """The stream as entries for _emit (raw lines, q/Q, Do, text instructions with their glyph
    strings placed) and the gaps to fold marked on the chunk before each. Also returns how many
    space glyphs go, how many gaps fold and how many space-glyph strings stay. memo keeps parsed
    text arrays, which repeat (the same space, the same character) across a book."""
    entries: list = []
    append = entries.append
    removed = folded = left = 0
    ctm, stack = IDENTITY, []
    name, size, tc, th, rise, leading = None, 0.0, 0.0, 1.0, 0.0, 0.0
    font = None
    tlm = IDENTITY
    seg = None
    pen = 0.0
    last = None                   # the last kept chunk: a gap after it folds into it
    last_end = 0.0
    names: dict[bytes, tuple] = {}       # a Tf line -> (resource name, size, font)
    for line in _lines(data):
        if not line or line[-1] in b" \t\r":
            line = line.strip()
            if not line:
                continue
        cut = line.rfind(b" ")
        op = line[cut + 1:]
        if op == b"TJ" or op == b"Tj":
            if seg is None:
                raise _Unsupported("text outside a text object")
            if seg.opaque or font is None or font.widths is None:
                text = _Text(line, (name, size, th), seg, pen)
                text.verbatim = True
                append(text)
                seg.opaque, last = True, None
                left += bool(font is not None and font.justify)
                continue
            body = line[:cut]
            if font.justify:
                # a space glyph's instruction: only how far it moves the pen matters
                key = (font, size, th, tc, body)
                found = memo.get(key)
                if found is None:
                    found = memo[key] = _moves(font, size, th, tc, body)
                pen += found[0]
                removed += found[1]
                seg.end = pen
                continue
            text = _Text(line, (name, size, th), seg, pen)
            append(text)
            items = memo.get(body)
            if items is None:
                items = memo[body] = _tj_items(body)
            scale = size * th / 1000.0
            for item in items:
                if item.__class__ is float:
                    pen -= item * scale
                    continue
                if not item:
                    continue
                cids, units = font.run(item)
                advance = units * scale + tc * th * len(cids) if tc else units * scale
                chunk = _Chunk(font, name, size, th, item, cids, pen, advance, seg)
                text.chunks.append(chunk)
                if last is not None and not rise:
                    if last.seg is seg:
                        gap = pen - last_end
                        # (after a space glyph of the text, a gap is that space: it stays)
                        if gap > last.size * last.th * MIN_GAP_EM and last.font.char(last.hexa[-4:]) != " ":
                            folded += _set_fold(last, gap, LINE_GAP_EM)
                    else:
                        folded += _fold_between(last, chunk)
                pen += advance
                last, last_end = (chunk, pen) if not rise else (None, 0.0)
            seg.end = pen
        elif op == b"Tf":
            found = names.get(line)
            if found is None:
                parts = line.split()
                if len(parts) != 3:
                    raise _Unsupported("Tf")
                resname = re.sub(r"#([0-9A-Fa-f]{2})", lambda m: chr(int(m[1], 16)), parts[0].decode("latin-1"))
                found = names[line] = (resname[1:], float(parts[1]), fonts.get(resname[1:]))
            name, size, font = found
        elif op == b"Tm":
            tlm = tuple(float(x) for x in line.split()[-7:-1])
            seg, pen = _Segment(_multiply(tlm, ctm)), 0.0
            append(line)
        elif op == b"q":
            stack.append((ctm, name, size, font, tc, th, rise, leading))
            append(_PUSH)
            append(line)
        elif op == b"Q":
            if stack:
                ctm, name, size, font, tc, th, rise, leading = stack.pop()
            append(_POP)
            append(line)
        elif op == b"BT":
            tlm, seg, pen = IDENTITY, _Segment(ctm), 0.0
            append(line)
        elif op == b"ET":
            seg = None
            append(line)
        elif op == b"cm":
            ctm = _multiply(tuple(float(x) for x in line.split()[-7:-1]), ctm)
            append(line)
        elif op in (b"Td", b"TD", b"T*"):
            if op == b"T*":
                tx, ty = 0.0, -leading
            else:
                tx, ty = (float(x) for x in line.split()[-3:-1])
                if op == b"TD":
                    leading = -ty
            tlm = _multiply((1.0, 0.0, 0.0, 1.0, tx, ty), tlm)
            seg, pen = _Segment(_multiply(tlm, ctm)), 0.0
            append(line)
        elif op == b"Tc":
            tc = float(line.split()[-2])
            append(line)
        elif op == b"Tz":
            th = float(line.split()[-2]) / 100.0
            append(line)
        elif op == b"Ts":
            rise = float(line.split()[-2])
            append(line)
        elif op == b"TL":
            leading = float(line.split()[-2])
            append(line)
        elif op == b"Do":
            append((_FLUSH, name, size))
            append(line)
        elif op in (b"'", b'"', b"ID", b"EI", b"BI"):
            raise _Unsupported(op.decode())
        elif op in _OPERATORS:
            append(line)
        else:
            raise _Unsupported("unknown operator")
    return entries, removed, folded, left


def _moves(font: _Font, size: float, th: float, tc: float, body: bytes) -> tuple[float, int]:
    """How far a text instruction moves the pen, and how many glyphs it shows."""
    pen, count, scale = 0.0, 0, size * th / 1000.0
    for item in _tj_items(body):
        if item.__class__ is float:
            pen -= item * scale
        elif item:
            cids, units = font.run(item)
            pen += units * scale + tc * th * len(cids)
            count += len(cids)
    return pen, count


def _set_fold(chunk: _Chunk, gap: float, limit_em: float) -> int:
    em = chunk.size * chunk.th
    if gap < MIN_GAP_EM * em or em <= 0 or gap > limit_em * em:
        return 0
    # Rounded down: what stays a gap is under a tenth of an em, which no extractor reads
    # as a space; coarse steps keep the number of widths a glyph needs, and so of clones, small.
    fold = math.floor(gap / em * (1000.0 / QUANTUM)) * QUANTUM
    chunk.fold = float(fold)
    return 1 if fold else 0


def _fold_between(a: _Chunk, b: _Chunk) -> int:
    """Fold the gap between the last glyph of one text box and the first of the next.

    The part that removed space glyphs leave (at the end of a's box, at the start of b's) is
    folded. The space between the boxes themselves is folded only where the boxes touch: a
    Han/Latin space or an author's own space is a box of its own that WeasyPrint does not draw,
    and stays a gap, which extractors read as the space it is."""
    if a.seg.opaque or b.seg.opaque:
        return 0
    ma, mb = a.seg.matrix, b.seg.matrix
    if ma[:4] != mb[:4] and any(abs(x - y) > 1e-6 * (abs(x) + abs(y) + 1e-9) for x, y in zip(ma[:4], mb[:4])):
        return 0
    det = ma[0] * ma[3] - ma[1] * ma[2]
    if det == 0:
        return 0
    # where b's box starts, in a's text space, from where a's box ends
    dx = mb[4] - (a.seg.end * ma[0] + ma[4])
    dy = mb[5] - (a.seg.end * ma[1] + ma[5])
    between = (dx * ma[3] - dy * ma[2]) / det
    drop = (dy * ma[0] - dx * ma[1]) / det
    if abs(drop) > BASELINE_EM * a.size:
        return 0
    removed = (a.seg.end - (a.origin + a.advance)) + b.origin     # same linear parts: same scale
    em = a.size * a.th
    if abs(between) <= (QUANTUM / 500.0) * em:
        return _set_fold(a, removed + between, LINE_GAP_EM)
    return _set_fold(a, removed, LINE_GAP_EM)


def _emit(entries) -> tuple[bytes, set]:
    """The rewritten stream: every kept glyph at its old origin, a folded one in a clone font;
    Tf only where the output needs another font (q/Q restore it as they restore the rest)."""
    out: list[bytes] = []
    append = out.append
    used: set = set()
    emitted = None              # (resource name, size) in force in the output
    stack: list = []
    seg, pen = None, 0.0        # the output's pen, in seg's text space
    array: list[bytes] = []     # the open TJ array (in the font `emitted`)

    for entry in entries:
        cls = entry.__class__
        if cls is bytes:
            if array:
                append(b"[" + b"".join(array) + b"] TJ")
                array.clear()
            append(entry)
            continue
        if cls is _Text:
            if entry.seg is not seg:
                seg, pen = entry.seg, 0.0
            if entry.verbatim:
                name, size, th = entry.state
                if name is None:
                    raise _Unsupported("text before any Tf")
                if array:
                    append(b"[" + b"".join(array) + b"] TJ")
                    array.clear()
                if emitted != (name, size):
                    append(b"/" + name.encode("latin-1") + b" " + _fmt(size) + b" Tf")
                    emitted = (name, size)
                if entry.pen_before is not None and abs(entry.pen_before - pen) > 1e-9 and size * th:
                    append(b"[" + _fmt((pen - entry.pen_before) * 1000.0 / (size * th)) + b"] TJ")
                entry.pen_before = None
                append(entry.line)
                continue
            for chunk in entry.chunks:
                size, th, hexa = chunk.size, chunk.th, chunk.hexa
                if chunk.fold:
                    index = chunk.font.clone_for(chunk.cids[-1], chunk.fold)
                    used.add((chunk.name, index))
                    pieces = ((chunk.name, hexa[:-4]), (f"{chunk.name}{CLONE_SUFFIX}{index}", hexa[-4:]))
                else:
                    pieces = ((chunk.name, hexa),)
                first = True
                for name, part in pieces:
                    if not part:
                        continue
                    if emitted != (name, size):
                        if array:
                            append(b"[" + b"".join(array) + b"] TJ")
                            array.clear()
                        append(b"/" + name.encode("latin-1") + b" " + _fmt(size) + b" Tf")
                        emitted = (name, size)
                    if first:
                        first = False
                        number = _fmt((pen - chunk.origin) * 1000.0 / (size * th))
                        if number != b"0":
                            array.append(number)
                            pen -= float(number) / 1000.0 * size * th
                    array.append(b"<" + part + b">")
                pen += chunk.advance + chunk.fold / 1000.0 * size * th
            continue
        if array:
            append(b"[" + b"".join(array) + b"] TJ")
            array.clear()
        if entry is _PUSH:
            stack.append(emitted)
        elif entry is _POP:
            emitted = stack.pop() if stack else None
        elif entry[0] is _FLUSH:
            name, size = entry[1], entry[2]
            if name is not None and emitted != (name, size):
                append(b"/" + name.encode("latin-1") + b" " + _fmt(size) + b" Tf")
                emitted = (name, size)
    if array:
        append(b"[" + b"".join(array) + b"] TJ")
    return b"\n".join(out) + b"\n", used


def clean_text_layer(source: bytes | Path, target: Path, finish=None) -> Stats:
    """Write the PDF `source` (WeasyPrint's, or the parallel writer's merge) to `target` with the
    space fonts' glyphs out of its text and its gaps folded into glyph advances; same input,
    same bytes. finish(pdf), if given, changes the PDF further before it is saved."""
    import pikepdf

    stats = Stats()
    with pikepdf.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as pdf:
        fonts: dict = {}                 # font dictionary (objgen) -> _Font
        tables: dict = {}                # /Font dictionary -> [it, clones named, space glyphs left]
        seen: set = set()
        memo: dict = {}
        rewritten: list = []             # (page, its resources, its new content) of each page rewritten

        def font_table(resources, owner):
            table = resources.get("/Font") if resources is not None else None
            if table is None:
                return None, {}
            key = table.objgen if table.is_indirect else (
                resources.objgen if resources.is_indirect else owner)
            record = tables.get(key)
            if record is None:
                record = tables[key] = [table, set(), 0, {}]
                for name in table.keys():
                    obj = table.get(name)
                    font_key = obj.objgen if obj.is_indirect else (key, name)
                    if font_key not in fonts:
                        fonts[font_key] = _Font(obj)
                    record[3][name[1:]] = fonts[font_key]
            return record, record[3]

        def process(data: bytes, resources, owner, write):
            record, mapping = font_table(resources, owner)
            if record is not None and any(font.widths is not None for font in mapping.values()):
                if len(memo) > 500_000:
                    memo.clear()
                stream, used, left = _rewrite_stream(data, mapping, stats, memo)
                if stream is None:
                    record[2] += 1
                else:
                    write(stream)
                    record[1].update(used)
                    record[2] += left
            forms = resources.get("/XObject") if resources is not None else None
            for key in (forms.keys() if forms is not None else ()):
                xobject = forms.get(key)
                if not xobject.is_indirect or xobject.objgen in seen or xobject.get("/Subtype") != "/Form":
                    continue
                seen.add(xobject.objgen)
                inner = xobject.get("/Resources")
                process(xobject.read_bytes(), inner if inner is not None else resources, xobject.objgen,
                        lambda new, x=xobject: x.write(new))

        for page in pdf.pages:
            obj = page.obj
            resources, node = obj.get("/Resources"), obj
            while resources is None and node.get("/Parent") is not None:
                node = node.Parent
                resources = node.get("/Resources")
            contents = obj.get("/Contents")
            if contents is None:
                continue
            parts = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
            data = b"\n".join(part.read_bytes() for part in parts)

            def write(new, obj=obj, resources=resources):
                obj.Contents = pdf.make_stream(new)
                rewritten.append((obj, resources, new))
            process(data, resources, obj.objgen, write)

        for table, used, left, mapping in tables.values():
            for resname, index in sorted(used):
                clone = mapping[resname].clone_object(pdf, index)
                key = pikepdf.Name(f"/{resname}{CLONE_SUFFIX}{index}")
                if key in table and table.get(key).objgen != clone.objgen:
                    raise PipelineError(f"the PDF already has a font named {key}.")
                table[key] = clone
            if not left:
                for resname, font in mapping.items():
                    if font.justify:
                        del table[pikepdf.Name("/" + resname)]
        stats.clones = sum(len(font.objects) for font in fonts.values())
        shared: dict = {}
        for page, resources, content in rewritten:
            _own_fonts(pdf, page, resources, content, shared)
        if finish is not None:
            finish(pdf)
        from pipeline.pdf_tags import object_streams
        save_pdf(pdf, target, deterministic_id=True, object_stream_mode=object_streams(pdf))
    return stats


_TF = re.compile(rb"/([A-Za-z0-9_.+-]+)\s+[-+]?[\d.]+\s+Tf")


def _own_fonts(pdf, page, resources, content: bytes, shared: dict) -> None:
    """Give a page a font dictionary of the fonts its text uses. WeasyPrint shares one among all
    pages, and with the clones it lists dozens of fonts; poppler builds every font a page's
    dictionary lists, and extracted a 584-page book thirteen times slower (282 s, not 21 s)."""
    import pikepdf
    table = resources.get("/Font") if resources is not None else None
    if table is None:
        return
    names = tuple(sorted({match.decode("latin-1") for match in _TF.findall(content)}))
    if any(pikepdf.Name("/" + name) not in table for name in names):
        return                   # a name this reading does not follow: keep the whole dictionary
    # Pages that use the same fonts share one dictionary (most pages of a book do), which keeps
    # the file and the parallel writer's merge small.
    key = (resources.objgen if resources.is_indirect else id(resources), names)
    found = shared.get(key)
    if found is None:
        own = pikepdf.Dictionary()
        for name in names:
            own[pikepdf.Name("/" + name)] = table.get(pikepdf.Name("/" + name))
        copy = pikepdf.Dictionary()
        for item in resources.keys():
            copy[item] = resources.get(item)
        copy.Font = own
        found = shared[key] = pdf.make_indirect(copy)
    page.Resources = found


def report(stats: Stats, diagnostics) -> Stats:
    """A warning when justification spaces stayed in the text layer (text the pass could not read)."""
    if diagnostics is not None and (stats.left or stats.skipped):
        diagnostics.add("pdf-layout", f"the PDF's text layer keeps some justification spaces ({stats.skipped} "
                        "content stream(s) the text-layer pass could not read).",
                        hint="Copying or searching that text finds spaces between the characters; "
                             "the print is not affected.")
    return stats
