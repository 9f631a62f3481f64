"""The one rule for every file a build reads on a document's behalf: images, the cover, what
WeasyPrint fetches while it lays out the PDF.

A file is used only if its real path (after every symlink) lies inside one of the allowed
folders (the manuscript folder, the build's own cache) and it is a regular file. URLs
(http, https, file, anything with a scheme) are never followed. The caller says which
folders count; `confine` says yes with the real path, or no with a reason a person can act on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from PIL import Image, ImageFile

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


@dataclass(frozen=True)
class Verdict:
    path: Path | None          # the real path, when the file may be used
    reason: str = ""           # why not, otherwise

    def __bool__(self) -> bool:
        return self.path is not None


def confine(reference: str | Path, base: Path, roots: list[Path]) -> Verdict:
    """Where `reference` (relative to `base`, or a path) really is, if it may be read."""
    text = str(reference)
    if isinstance(reference, str):
        if _SCHEME.match(text):
            return Verdict(None, f"{_short(text)} is a URL, and a build reads only files of the project")
        text = unquote(text.split("#", 1)[0].split("?", 1)[0])
    candidate = Path(text)
    path = (candidate if candidate.is_absolute() else base / candidate)
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError):        # a symlink loop
        return Verdict(None, f"{_short(text)} cannot be resolved")
    if not any(real.is_relative_to(root.resolve()) for root in roots):
        return Verdict(None, f"{_short(text)} is outside the manuscript folder")
    if not real.is_file():
        return Verdict(None, f"{_short(text)} does not exist" if not real.exists() else f"{_short(text)} is not a file")
    return Verdict(real)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class ImageCheck:
    ok: bool
    code: str = ""
    reason: str = ""


# The pictures a book takes, by the suffix of their name.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
               ".gif": "image/gif", ".webp": "image/webp"}
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png", ".png"), (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
               (b"GIF87a", "image/gif", ".gif"), (b"GIF89a", "image/gif", ".gif"))


def image_type(path: Path, head: bytes) -> tuple[str, str]:
    """(media type, file suffix) of an image whose name is path and whose first bytes are head:
    what the bytes say when they say another raster format than the name (a PNG saved as
    kubernetes_design.jpg), else what the name says."""
    named = IMAGE_TYPES[path.suffix.lower()]
    sniffed = _sniffed(head)
    return sniffed if sniffed and sniffed[0] != named else (named, path.suffix)


def _sniffed(data: bytes) -> tuple[str, str] | None:
    for signature, media_type, suffix in _SIGNATURES:
        if data.startswith(signature):
            return media_type, suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def check_image_file(path: Path, max_pixels: int) -> ImageCheck:
    """Is the file an image a reader can open, and not so large it would exhaust memory?
    Pillow reads only the header for the size, then verifies the data."""
    if path.suffix.lower() == ".svg":
        return _check_svg(path)
    # WeasyPrint's import makes Pillow accept cut-off files for the whole process; a check must not
    saved, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        return _check_raster(path, max_pixels)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _check_raster(path: Path, max_pixels: int) -> ImageCheck:
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                return ImageCheck(False, "image-too-large",
                                  f"{width}×{height} pixels, more than the {max_pixels:,} check.max_image_pixels allows")
            image.verify()
    except Image.DecompressionBombError:
        return ImageCheck(False, "image-too-large", f"it has far more than the {max_pixels:,} pixels "
                                                    "check.max_image_pixels allows")
    except Exception as error:     # noqa: BLE001 - Pillow raises many types for a corrupt file
        return ImageCheck(False, "image-invalid", f"it cannot be read as an image ({type(error).__name__}: "
                                                  f"{_short(str(error), 120)})")
    return ImageCheck(True)


def _check_svg(path: Path) -> ImageCheck:
    """An SVG is a document: it must parse, and may not fetch anything outside itself."""
    from lxml import etree
    try:
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True,
                                                        load_dtd=False)).getroot()
    except (etree.XMLSyntaxError, OSError) as error:
        return ImageCheck(False, "image-invalid", f"it is not well-formed SVG ({_short(str(error), 120)})")
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        if node.tag.rsplit("}", 1)[-1] == "script":
            return ImageCheck(False, "image-unsafe", f"it holds a <{node.tag.rsplit('}', 1)[-1]}> element")
        for name, value in node.attrib.items():
            if name.rsplit("}", 1)[-1] == "href" and not value.startswith(("#", "data:")):
                return ImageCheck(False, "image-unsafe", f"it refers to {_short(value)}, outside the SVG itself")
            if "url(" in value and not re.fullmatch(r"\s*url\(\s*['\"]?#[^)]*\)\s*", value) \
                    and re.search(r"url\(\s*['\"]?(?!#)", value):
                return ImageCheck(False, "image-unsafe", f"its {name.rsplit('}', 1)[-1]} refers to a file or URL")
        if node.tag.rsplit("}", 1)[-1] == "style" and re.search(r"url\(\s*['\"]?(?!#)|@import", node.text or ""):
            return ImageCheck(False, "image-unsafe", "its stylesheet refers to a file or URL")
    return ImageCheck(True)
