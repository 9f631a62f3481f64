"""Images as the EPUB packs them: raster images scaled down and recompressed, the rest as they are.

A print PDF wants every pixel of a 3000-pixel map; a reading device shows at most a screen's
worth, and each megabyte makes the EPUB slower to download and to open. So for the EPUB, and
the screen PDF read on the same devices (`reading_copy`), the Asset and its file never touched
(the print PDF reads the original), each PNG, JPEG, WebP or GIF is

- turned upright by its EXIF orientation, then scaled so its long side is at most
  `epub.max_image_px` (1600; 0 turns the whole step off and packs every file as it is):
  Lanczos for JPEG and lossy WebP (photographs), an area average for PNG, GIF and lossless
  WebP (maps, charts, screenshots: no ringing around lines and text, and fewer new shades);
- written again in its own format, so the media type and the package file name stay right:
  PNG with zlib's best compression, as an exact palette image where it has 256 colours or
  fewer and that is smaller, without an alpha channel that is opaque everywhere and as grey
  where every pixel is; JPEG at `epub.jpeg_quality` (85), baseline, optimised Huffman tables;
  WebP lossless if it was, else at the same quality; GIF with an exact palette, or a
  median-cut one when scaling made more than 256 colours. Transparency is kept; the ICC
  profile is kept (without it colours shift); EXIF, XMP, text chunks, comments, times and
  resolution are dropped, so equal input gives equal bytes;
- packed only if smaller than the original: otherwise the original goes in.

Left as they are: SVG, animated images (APNG, animated GIF and WebP: every frame would have to
be redone; a camera's MPO is a JPEG, and only its first picture is kept), images in modes not
redone (CMYK JPEG, which needs colour management to turn into RGB; 16-bit grey PNG), a file
whose content is not the format its name says, and a file Pillow cannot read (the check stage
refuses those it cannot open; here a warning is logged).

Results are cache entries (pipeline.cache) under <cache_dir>/epub-images/, keyed by the
file's SHA-256, the settings, the code version below and Pillow's and its codecs' versions;
an empty entry records "the original is as small", so that outcome is not recomputed either.
"""
from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageChops, ImageFile, ImageOps, features

from pipeline import cache
from pipeline.book import Asset, Book

log = logging.getLogger(__name__)

IMAGE_VERSION = "2"      # bump when anything below changes the bytes it writes
CACHE_FOLDER = "epub-images"
SCREEN_FOLDER = "screen-images"     # plain copies of the cache entries, named as they are, for the screen PDF
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif"}
# What each format may be decoded to and written back from; other modes are left alone.
WORKING_MODES = {"PNG": ("L", "LA", "RGB", "RGBA"), "JPEG": ("L", "RGB"), "WEBP": ("RGB", "RGBA"),
                 "GIF": ("L", "LA", "RGB", "RGBA")}
READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def epub_image_bytes(asset: Asset, book: Book, cache_dir: Path) -> bytes:
    """The bytes the EPUB packs for an image asset: scaled down and recompressed where that is
    smaller, the file as it is otherwise (SVG, animated images, epub.max_image_px: 0)."""
    original = asset.path.read_bytes()
    return _scaled(asset, original, book, _entry(asset, original, book, cache_dir)) or original


def reading_copy(asset: Asset, book: Book, cache_dir: Path) -> Path:
    """A file holding the image as the EPUB packs it, for the screen PDF, which is read on the same
    devices (a book of 6,000-pixel scans: 65 MB with the originals, the EPUB 17 MB); the asset's
    own file where the EPUB packs that. A plain copy of the cache entry, named as it is."""
    original = asset.path.read_bytes()
    entry = _entry(asset, original, book, cache_dir)
    scaled = _scaled(asset, original, book, entry)
    if scaled is None:
        return asset.path
    return cache.plain_copy(Path(cache_dir).absolute() / SCREEN_FOLDER / entry.name, scaled)


def prune(book: Book, cache_dir: Path) -> int:
    """Remove the scaled images (cache entries, and the screen PDF's plain copies of them) that no
    picture of the book maps to any more: a picture edited again and again left a copy each time.
    One book a cache folder, as for the rest of the build cache. Returns how many files went."""
    wanted = set()
    for asset in book.assets:
        if asset.path.is_file():
            entry = _entry(asset, asset.path.read_bytes(), book, cache_dir)
            if entry is not None:
                wanted.add(entry.name)
    removed = 0
    for folder in (Path(cache_dir) / CACHE_FOLDER, Path(cache_dir) / SCREEN_FOLDER):
        for path in folder.glob("*") if folder.is_dir() else ():
            if path.name not in wanted:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _entry(asset: Asset, original: bytes, book: Book, cache_dir: Path) -> Path | None:
    """Where the scaled image of this picture is cached; None when the EPUB packs pictures of its
    kind as they are (SVG, epub.max_image_px: 0)."""
    settings = book.config.epub
    image_format = FORMATS.get(asset.media_type)
    if image_format is None or settings.max_image_px <= 0:
        return None
    key = cache_key(original, image_format, settings.max_image_px, settings.jpeg_quality)
    return Path(cache_dir) / CACHE_FOLDER / f"{key}{SUFFIXES[image_format]}"


def _scaled(asset: Asset, original: bytes, book: Book, entry: Path | None) -> bytes | None:
    """The image scaled down and recompressed (cached in `entry`, see _entry), or None when the
    original is as small or is packed as it is."""
    if entry is None:
        return None
    settings, image_format = book.config.epub, FORMATS[asset.media_type]
    stored = cache.read_entry(entry)        # None for a missing, truncated or altered entry
    if stored is None:
        try:
            smaller = shrink(original, image_format, settings.max_image_px, settings.jpeg_quality)
        except READ_ERRORS as error:
            log.warning("%s: packed as it is; it could not be recompressed (%s: %s)",
                        asset.href, type(error).__name__, error)
            return None                     # not cached: the next build tries again and says so again
        stored = smaller if smaller is not None and len(smaller) < len(original) else b""
        cache.write_entry(entry, stored)
    return stored or None


def cache_key(data: bytes, image_format: str, max_px: int, jpeg_quality: int) -> str:
    codecs = {name: features.version_codec(name) for name in ("jpg", "zlib")}
    return cache.key_of(IMAGE_VERSION, Image.__version__, repr(sorted(codecs.items())),
                        str(features.version_module("webp")), hashlib.sha256(data).hexdigest(),
                        image_format, str(max_px), str(jpeg_quality))[:32]


# --------------------------------------------------------------------------- one image

def shrink(data: bytes, image_format: str, max_px: int, jpeg_quality: int) -> bytes | None:
    """The image scaled to at most max_px on its long side and written again in image_format,
    or None when it is left as it is (animated, another format inside, a mode not redone).
    Not compared with the original here: the caller packs whichever is smaller."""
    with _strict_decoding(), Image.open(BytesIO(data)) as opened:
        # a camera's MPO is a JPEG with more pictures appended (a depth map, a preview): readers show the first
        if opened.format == "MPO" and image_format == "JPEG":
            opened.seek(0)
        elif opened.format != image_format or getattr(opened, "n_frames", 1) > 1:
            return None
        opened.load()
        icc = opened.info.get("icc_profile") or None
        image = _working_copy(opened, image_format)
    if image is None:
        return None
    lossless = image_format in ("PNG", "GIF") or (image_format == "WEBP" and webp_is_lossless(data))
    # Lossless files are mostly maps, charts and screenshots: an area average (box) keeps lines and
    # text free of Lanczos' ringing, whose extra shades can make the smaller PNG the larger file
    # (a line-drawn 3000-pixel map: 2.0 MB scaled with Lanczos, 0.7 MB with box, 0.97 MB unscaled).
    image = fit(image, max_px, Image.Resampling.BOX if lossless else Image.Resampling.LANCZOS)
    if image_format == "PNG":
        return _png(image, icc)
    if image_format == "JPEG":
        return _save(image, "JPEG", quality=jpeg_quality, optimize=True, progressive=False, icc_profile=icc)
    if image_format == "WEBP":
        # lossless: quality is effort; 75 with method 6 is within 3 % of the slowest setting (100)
        # in a seventh of the time
        options = {"lossless": True, "quality": 75} if lossless else {"quality": jpeg_quality}
        return _save(_drop_opaque_alpha(image), "WEBP", method=6, icc_profile=icc, **options)
    return _gif(image)


@contextmanager
def _strict_decoding():
    """Pillow as it is by default: WeasyPrint's import sets ImageFile.LOAD_TRUNCATED_IMAGES for the
    whole process, which would turn a cut-off file into a picture with a grey end, scaled and packed."""
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _working_copy(image: Image.Image, image_format: str) -> Image.Image | None:
    """Upright, in a mode with its transparency as an alpha channel, without metadata; None for
    a mode this format's images are not redone in."""
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode in ("P", "PA"):
        translucent = "transparency" in image.info or image.mode == "PA" or image.palette.mode == "RGBA"
        image = image.convert("RGBA" if translucent else "RGB")
    elif image.mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert("LA" if image.mode == "L" else "RGBA")
    if image.mode not in WORKING_MODES[image_format]:
        return None
    upright = ImageOps.exif_transpose(image)      # a copy, turned as EXIF orientation says
    upright.info = {}                             # encoders fall back on info: nothing may leak in
    return upright


def fit(image: Image.Image, max_px: int, resample: Image.Resampling) -> Image.Image:
    """Scaled (alpha premultiplied) so the long side is max_px, if it is longer."""
    width, height = image.size
    if max(width, height) <= max_px:
        return image
    scale = max_px / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = image.resize(size, resample)
    resized.info = {}
    return resized


def _save(image: Image.Image, image_format: str, **options) -> bytes:
    out = BytesIO()
    image.save(out, image_format, **{k: v for k, v in options.items() if v is not None})
    return out.getvalue()


def _drop_opaque_alpha(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema() == (255, 255):
        return image.convert(image.mode[:-1] if image.mode == "RGBA" else "L")
    return image


def _is_grey(image: Image.Image) -> bool:
    red, green, blue = image.convert("RGB").split()
    return ImageChops.difference(red, green).getbbox() is None and ImageChops.difference(red, blue).getbbox() is None


def _png(image: Image.Image, icc: bytes | None) -> bytes:
    image = _drop_opaque_alpha(image)
    colour_space = icc[16:20] if icc else None      # the ICC header's data colour space
    if icc is None and image.mode in ("RGB", "RGBA") and _is_grey(image):
        image = image.convert("L" if image.mode == "RGB" else "LA")
    # zlib's level 9 costs ten times level 6 on a large noisy picture (2.6 s against 0.2 s for a
    # 1600 px map) for 10 % of its size: small images get it, large ones the default
    level = 9 if image.width * image.height <= 500_000 else 6
    candidates = [_save(image, "PNG", compress_level=level, icc_profile=icc)]
    # a palette is RGB: a grey ICC profile would not fit it
    if colour_space in (None, b"RGB "):
        palette = exact_palette(image)
        if palette is not None:
            indexed, alphas = palette
            candidates.append(_save(indexed, "PNG", compress_level=level, icc_profile=icc,
                                    transparency=alphas or None))
    return min(candidates, key=len)


def exact_palette(image: Image.Image) -> tuple[Image.Image, bytes] | None:
    """The image as a P image holding exactly its colours, and the alpha of the leading
    translucent entries (b"" when all are opaque); None when it has more than 256 colours.

    Entries are ordered translucent first (the tRNS chunk lists only those), then by how often
    they occur, then by value: the same image always gets the same palette.
    """
    counted = image.getcolors(256)
    if counted is None:
        return None
    bands = len(image.getbands())

    def as_rgba(colour) -> tuple[int, int, int, int]:
        colour = colour if isinstance(colour, tuple) else (colour,)
        if bands <= 2:                            # L or LA
            grey = colour[0]
            return (grey, grey, grey, colour[1] if bands == 2 else 255)
        return (*colour[:3], colour[3] if bands == 4 else 255)

    ordered = sorted(counted, key=lambda item: (as_rgba(item[1])[3] == 255, -item[0], as_rgba(item[1])))
    colours = [colour if isinstance(colour, tuple) else (colour,) for _, colour in ordered]
    lookup = {colour: index for index, colour in enumerate(colours)}
    raw = iter(image.tobytes())
    indexes = bytes(map(lookup.__getitem__, zip(*[raw] * bands)))
    indexed = Image.frombytes("P", image.size, indexes)
    rgba = [as_rgba(colour) for colour in colours]
    indexed.putpalette(b"".join(bytes(c[:3]) for c in rgba), "RGB")
    alphas = bytes(c[3] for c in rgba if c[3] < 255)
    return indexed, alphas


def _gif(image: Image.Image) -> bytes:
    """A GIF: one transparent index for pixels under half opaque, an exact palette where the
    colours fit, a median-cut one of 255 (or 256) colours where they do not."""
    clear = None
    if image.mode in ("RGBA", "LA"):
        opaque = image.getchannel("A").point(lambda a: 255 if a >= 128 else 0)
        if opaque.getextrema()[0] == 0:
            clear = ImageChops.invert(opaque)
    rgb = image.convert("RGB")
    if clear is not None:
        flat = Image.new("RGBA", image.size, (0, 0, 0, 0))
        flat.paste(rgb, (0, 0), ImageChops.invert(clear))
        palette = exact_palette(flat)
        if palette is not None:               # the one translucent colour comes first: index 0
            return _save(palette[0], "GIF", optimize=True, interlace=False, transparency=0)
        indexed = rgb.quantize(255, method=Image.Quantize.MEDIANCUT)
        entries = (indexed.getpalette() or [])[:255 * 3]
        indexed.putpalette(entries + [0] * (256 * 3 - len(entries)), "RGB")
        indexed.paste(255, (0, 0, *image.size), clear)
        indexed.info = {}
        return _save(indexed, "GIF", optimize=True, interlace=False, transparency=255)
    palette = exact_palette(rgb)
    indexed = palette[0] if palette is not None else rgb.quantize(256, method=Image.Quantize.MEDIANCUT)
    indexed.info = {}
    return _save(indexed, "GIF", optimize=True, interlace=False)


def webp_is_lossless(data: bytes) -> bool:
    """Whether a WebP file's image is VP8L (lossless) rather than VP8 (lossy), from its RIFF chunks."""
    position = 12
    while position + 8 <= len(data):
        fourcc = data[position:position + 4]
        if fourcc in (b"VP8L", b"VP8 "):
            return fourcc == b"VP8L"
        size = int.from_bytes(data[position + 4:position + 8], "little")
        position += 8 + size + (size & 1)
    return False
