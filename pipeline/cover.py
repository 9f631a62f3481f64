"""The cover image: the configured file, or one drawn from the title and author.

The generated cover is a plain typographic design so that a book always has a
cover shop listings can show; a designer's image in book.yaml replaces it.
Pillow's PNG output carries no timestamp, so the drawing is reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from pipeline.config import BookConfig
from pipeline.errors import PipelineError
from pipeline.fonts import BookFonts, book_fonts, source_path
from pipeline.resources import check_image_file, confine

SIZE = (1600, 2400)              # 2:3, the ratio the big stores recommend
BACKGROUND = (24, 42, 68)
INK = (245, 241, 230)
ACCENT = (201, 162, 39)
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass(frozen=True)
class CoverImage:
    data: bytes
    media_type: str
    file_name: str      # inside the EPUB, e.g. images/cover.png


def cover_image(config: BookConfig, fonts: BookFonts | None = None) -> CoverImage:
    """The configured cover, or one drawn in the book's faces (`fonts`, else found for it)."""
    if config.epub.cover is not None:
        return _configured_cover(Path(config.epub.cover), config)
    fonts = fonts or book_fonts(config, ("serif", "sans"))
    return CoverImage(draw_cover(config.title, config.subtitle, config.authors, config.publisher, fonts),
                      "image/png", "images/cover.png")


def cover_problem(config: BookConfig) -> str | None:
    """Why the configured cover cannot be used, or None. Like every file a book reads, it must
    really be inside the manuscript folder: a symlink to /etc/passwd is not a cover."""
    if config.epub.cover is None:
        return None
    path = Path(config.epub.cover)
    if path.suffix.lower() not in MEDIA_TYPES:
        return f"the cover {path.name} is not a PNG or JPEG image"
    verdict = confine(path, config.root, [config.root])
    if not verdict:
        return f"epub.cover: {verdict.reason}"
    checked = check_image_file(verdict.path, int(config.check.max_image_pixels))
    return None if checked.ok else f"the cover {path.name} cannot be used: {checked.reason}"


def _configured_cover(path: Path, config: BookConfig) -> CoverImage:
    problem = cover_problem(config)
    if problem:
        raise PipelineError(problem + ".", file=config.path,
                            hint="Point epub.cover at a PNG or JPEG file inside the manuscript folder, "
                                 "or set it to null to generate one.")
    real = confine(path, config.root, [config.root]).path
    return CoverImage(real.read_bytes(), MEDIA_TYPES[real.suffix.lower()], f"images/cover{real.suffix.lower()}")


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Break CJK text anywhere (it has no spaces) so each line fits `width`."""
    lines, line = [], ""
    for char in text:
        if line and draw.textlength(line + char, font=font) > width:
            lines.append(line)
            line = char
        else:
            line += char
    return [*lines, line] if line else lines


def _centered(draw, y: int, lines: list[str], font, fill, spacing: float) -> int:
    for line in lines:
        x = (SIZE[0] - draw.textlength(line, font=font)) / 2
        draw.text((x, y), line, font=font, fill=fill)
        y += int(font.size * spacing)
    return y


def draw_cover(title: str, subtitle: str | None, authors: tuple[str, ...], publisher: str | None,
               fonts: BookFonts) -> bytes:
    sans_face, serif_face = fonts.embedded_face("sans", 700), fonts.embedded_face("serif", 400)
    sans, serif = str(source_path(sans_face)), str(source_path(serif_face))
    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    width = SIZE[0] - 320
    title_font = ImageFont.truetype(sans, 220, index=sans_face.index)
    y = _centered(draw, 560, _wrap(draw, title, title_font, width), title_font, INK, 1.3)
    draw.rectangle((SIZE[0] / 2 - 120, y + 40, SIZE[0] / 2 + 120, y + 52), fill=ACCENT)
    if subtitle:
        sub_font = ImageFont.truetype(serif, 88, index=serif_face.index)
        _centered(draw, y + 140, _wrap(draw, subtitle, sub_font, width), sub_font, INK, 1.4)
    author_font = ImageFont.truetype(serif, 96, index=serif_face.index)
    _centered(draw, 1820, ["　".join(authors) + "　著"] if authors else [], author_font, INK, 1.4)
    if publisher:
        pub_font = ImageFont.truetype(serif, 64, index=serif_face.index)
        _centered(draw, 2180, [publisher], pub_font, ACCENT, 1.4)
    out = BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def cover_alt(config: BookConfig) -> str:
    """The cover's text alternative: what the image says, for screen readers."""
    title = f"{config.title}：{config.subtitle}" if config.subtitle else config.title
    author = f"，{'、'.join(config.authors)} 著" if config.authors else ""
    return f"封面：《{title}》{author}"
