"""EPUB images (pipeline/epub_images.py): raster images scaled to epub.max_image_px and recompressed
for the EPUB only, never larger than the file, the same bytes every build, cached by content.

The quick tests call epub_image_bytes on images drawn here with Pillow. The slow ones build a real
book: a copy of tests/books/mini with the chapter tests/books/images/maps.md and two of its PNG
"maps" (drawn, not committed), once with epub.max_image_px: 0 (off: the files as they are) and once
with the defaults, and compare the two EPUBs, the PDF's images, EPUBCheck's verdict and the bytes of
repeated builds. The issue's twelve 1.2 MB maps are measured by bench/epub_images.py.
"""
from __future__ import annotations

import io
import logging
import random
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image, ImageCms

from conftest import BOOKS, ROOT, copy_book, run_cli
from pipeline import cache, epub_images
from pipeline.book import Asset
from pipeline.config import EpubSettings, load_config
from pipeline.diagnostics import Diagnostics
from pipeline.epub_images import CACHE_FOLDER, epub_image_bytes, exact_palette
from pipeline.errors import BuildStopped

sys.path.insert(0, str(ROOT / "bench"))
import epub_images as bench_epub_images  # noqa: E402  (the maps the benchmark measures)

# The twelve 1.2 MB maps are measured by bench/epub_images.py; the test builds three smaller ones.
MAP_SIZE = (2400, 1600)
MAP_COUNT = 2
LIMIT = EpubSettings.max_image_px          # 1600, the default


# --------------------------------------------------------------------------- helpers

def settings(max_image_px: int = LIMIT, jpeg_quality: int = 85):
    """What epub_image_bytes reads of a Book: book.config.epub."""
    return SimpleNamespace(config=SimpleNamespace(epub=EpubSettings(max_image_px=max_image_px,
                                                                    jpeg_quality=jpeg_quality)))


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def packed(tmp_path: Path, data: bytes, name: str, media_type: str, book=None, cache_dir: Path | None = None) -> bytes:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_bytes(data)
    return epub_image_bytes(Asset(f"images/{name}", path, media_type), book or settings(),
                            cache_dir or tmp_path / "cache")


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def noisy(size: tuple[int, int], seed: int = 1, mode: str = "RGB") -> Image.Image:
    """Random pixels: an image no encoder can squeeze, so scaling it down always pays."""
    rng = random.Random(seed)
    bands = len(mode)
    return Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * bands))


def draw_map(seed: int, size: tuple[int, int] = MAP_SIZE, land: float = 0.6) -> Image.Image:
    return bench_epub_images.draw_map(seed, size, land)


def png_chunks(data: bytes) -> list[bytes]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        chunks.append(data[position + 4:position + 8])
        position += 12 + length
    return chunks


def jpeg_markers(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, first bytes of its segment) up to the start of scan."""
    assert data[:2] == b"\xff\xd8"
    markers, position = [], 2
    while position < len(data):
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2:position + 4], "big")
        markers.append((marker, data[position + 4:position + 4 + 14]))
        if marker == 0xDA:
            break
        position += 2 + length
    return markers


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()   # made once: it holds its creation time


# --------------------------------------------------------------------------- PNG

def test_a_large_png_is_scaled_to_the_limit_in_its_own_format(tmp_path):
    original = encoded(noisy((3200, 200)), "PNG")
    result = packed(tmp_path, original, "photo.png", "image/png")
    image = opened(result)
    assert (image.format, image.mode, image.size) == ("PNG", "RGB", (1600, 100))
    assert len(result) < len(original)


def test_a_png_of_few_colours_becomes_an_exact_palette_with_its_transparency(tmp_path):
    colours = [(255, 0, 0, 255), (0, 128, 0, 255), (0, 0, 255, 128), (0, 0, 0, 0), (250, 250, 250, 255)]
    picks = random.Random(3).randbytes(300 * 200).translate(bytes(i % len(colours) for i in range(256)))
    source = Image.frombytes("RGBA", (300, 200), b"".join(bytes(colours[i]) for i in picks))
    original = encoded(source, "PNG", compress_level=1)
    result = packed(tmp_path, original, "chart.png", "image/png")
    image = opened(result)
    assert image.mode == "P" and b"tRNS" in png_chunks(result)
    assert image.convert("RGBA").tobytes() == source.tobytes()      # exact: every pixel, alpha too
    assert len(result) < len(original)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_exact_palette_round_trips_every_mode(mode):
    rng = random.Random(len(mode))
    palette = [bytes(rng.randbytes(len(mode))) for _ in range(200)]
    source = Image.frombytes(mode, (300, 200), b"".join(rng.choice(palette) for _ in range(300 * 200)))
    indexed, alphas = exact_palette(source)
    if alphas:
        indexed.info["transparency"] = alphas
    assert indexed.convert("RGBA").tobytes() == source.convert("RGBA").tobytes()
    assert exact_palette(noisy((300, 200))) is None                 # more than 256 colours


def test_transparency_survives_scaling(tmp_path):
    source = noisy((3200, 400)).convert("RGBA")
    alpha = Image.new("L", source.size, 255)
    alpha.paste(0, (0, 0, 1600, 200))                                 # a clear top-left quarter
    alpha.paste(100, (1600, 200, 3200, 400))                          # a translucent bottom-right one
    source.putalpha(alpha)
    result = opened(packed(tmp_path, encoded(source, "PNG"), "overlay.png", "image/png"))
    assert result.size == (1600, 200) and result.mode == "RGBA"
    assert result.getpixel((100, 50))[3] == 0
    assert result.getpixel((1500, 50))[3] == 255
    assert result.getpixel((1500, 150))[3] == 100


@pytest.mark.parametrize("mode, key", [("L", 7), ("RGB", (9, 9, 9))])
def test_a_transparent_colour_key_stays_transparent(tmp_path, mode, key):
    source = noisy((3200, 200), mode=mode).point(lambda v: v | 16)   # no pixel has the key by chance
    source.paste(key, (0, 0, 400, 200))
    result = opened(packed(tmp_path, encoded(source, "PNG", transparency=key), "keyed.png", "image/png"))
    assert result.size == (1600, 100)
    assert result.convert("RGBA").getpixel((50, 50))[3] == 0
    assert result.convert("RGBA").getpixel((1000, 50))[3] == 255


def test_an_opaque_alpha_channel_and_grey_colour_are_dropped_losslessly(tmp_path):
    grey = noisy((1000, 500), mode="L")
    source = Image.merge("RGBA", (grey, grey, grey, Image.new("L", grey.size, 255)))
    result = opened(packed(tmp_path, encoded(source, "PNG"), "scan.png", "image/png"))
    assert result.mode == "L" and result.tobytes() == grey.tobytes()


def test_png_metadata_is_dropped_and_the_output_is_the_same_every_time(tmp_path):
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("Comment", "drawn on a Tuesday")
    info.add(b"tIME", bytes([7, 234, 1, 2, 3, 4, 5]))
    exif = Image.Exif()
    exif[0x0132] = "2026:01:02 03:04:05"                              # DateTime
    source = noisy((3200, 200))
    original = encoded(source, "PNG", pnginfo=info, dpi=(300, 300), exif=exif, icc_profile=SRGB)
    first = packed(tmp_path / "a", original, "m.png", "image/png")
    second = packed(tmp_path / "b", original, "m.png", "image/png")
    assert first == second                                            # two cold caches, the same bytes
    assert set(png_chunks(first)) <= {b"IHDR", b"iCCP", b"IDAT", b"IEND"}
    assert b"iCCP" in png_chunks(first)                               # the colour profile is kept
    assert opened(first).info.get("icc_profile") == SRGB


def test_a_bilevel_and_a_palette_png_are_redone(tmp_path):
    bilevel = encoded(noisy((3200, 200), mode="L").convert("1"), "PNG")
    result = packed(tmp_path, bilevel, "line.png", "image/png")
    # scaled, its pixels become greys (a few, so a small palette): smaller, or else the original goes in
    assert result == bilevel or (opened(result).size == (1600, 100) and len(result) < len(bilevel))
    paletted = encoded(draw_map(2, (3200, 400), land=0).quantize(64), "PNG")    # flat colours, no grain
    result = packed(tmp_path, paletted, "pal.png", "image/png")
    assert opened(result).size == (1600, 200) and len(result) < len(paletted)


# --------------------------------------------------------------------------- JPEG

def test_jpeg_is_turned_upright_scaled_baseline_and_stripped_but_keeps_its_profile(tmp_path):
    source = noisy((3200, 1600), seed=2).resize((3200, 1600))
    source.paste((255, 0, 0), (0, 0, 400, 400))                      # red in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6                                                  # Orientation: rotate 90° clockwise to view
    exif[0x010F] = "Camera maker"
    original = encoded(source, "JPEG", quality=95, exif=exif, icc_profile=SRGB, comment=b"hello")
    result = packed(tmp_path, original, "photo.jpg", "image/jpeg")
    image = opened(result)
    assert image.format == "JPEG" and image.size == (800, 1600)     # portrait now, long side 1600
    red, green, blue = image.getpixel((750, 50))                      # the red corner is now top-right
    assert red > 200 and green < 60 and blue < 60
    markers = jpeg_markers(result)
    kinds = [marker for marker, _ in markers]
    assert 0xE1 not in kinds and 0xFE not in kinds                    # no EXIF or XMP, no comment
    assert 0xC0 in kinds and 0xC2 not in kinds                        # baseline, not progressive
    assert any(marker == 0xE2 and head.startswith(b"ICC_PROFILE") for marker, head in markers)
    assert not image.getexif()
    assert len(result) < len(original)


def test_a_camera_mpo_is_a_jpeg_of_its_first_picture(tmp_path):
    first, depth = noisy((3200, 200), seed=6), Image.new("RGB", (3200, 200), (0, 0, 255))
    original = encoded(first, "MPO", save_all=True, append_images=[depth], quality=95)
    result = packed(tmp_path, original, "phone.jpg", "image/jpeg")
    image = opened(result)
    assert image.format == "JPEG" and image.size == (1600, 100) and len(result) < len(original)


def test_jpeg_quality_is_the_setting(tmp_path):
    original = encoded(noisy((2000, 1000), seed=4), "JPEG", quality=95)
    high = packed(tmp_path / "q85", original, "p.jpg", "image/jpeg")
    low = packed(tmp_path, original, "p.jpg", "image/jpeg", book=settings(jpeg_quality=40))
    assert len(low) < len(high) < len(original)


def test_a_file_that_would_not_get_smaller_goes_in_as_it_is(tmp_path):
    original = encoded(noisy((800, 600)), "JPEG", quality=40)         # within the limit, already coarser
    assert packed(tmp_path, original, "small.jpg", "image/jpeg") == original
    entries = list((tmp_path / "cache" / CACHE_FOLDER).iterdir())
    assert len(entries) == 1 and cache.read_entry(entries[0]) == b""   # "the original", remembered
    tiny = encoded(Image.new("RGB", (1, 1), (9, 200, 30)), "PNG", optimize=True)
    assert packed(tmp_path, tiny, "dot.png", "image/png") == tiny


# --------------------------------------------------------------------------- GIF and WebP

def test_a_still_gif_is_scaled_and_keeps_its_transparent_pixels(tmp_path):
    source = noisy((3200, 200)).quantize(64)
    source.paste(0, (0, 0, 400, 200))
    original = encoded(source, "GIF", transparency=0)
    result = opened(packed(tmp_path, original, "still.gif", "image/gif"))
    assert result.format == "GIF" and result.size == (1600, 100)
    assert "transparency" in result.info
    assert result.convert("RGBA").getpixel((100, 50))[3] == 0
    assert result.convert("RGBA").getpixel((1000, 50))[3] == 255


def test_webp_stays_lossless_or_lossy(tmp_path):
    source = noisy((3200, 200), seed=5)
    lossless = packed(tmp_path, encoded(source, "WEBP", lossless=True), "a.webp", "image/webp")
    lossy = packed(tmp_path, encoded(source, "WEBP", quality=95), "b.webp", "image/webp")
    assert epub_images.webp_is_lossless(lossless) and not epub_images.webp_is_lossless(lossy)
    assert opened(lossless).size == opened(lossy).size == (1600, 100)


# --------------------------------------------------------------------------- left alone

def test_what_is_left_as_it_is(tmp_path):
    big = encoded(noisy((3200, 200)), "PNG")
    assert packed(tmp_path, big, "off.png", "image/png", book=settings(max_image_px=0)) == big
    assert not (tmp_path / "cache").exists()                          # off: not even the cache is touched
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="10"/>'
    assert packed(tmp_path, svg, "d.svg", "image/svg+xml") == svg
    frames = [noisy((3200, 200), seed=s).quantize(32) for s in (1, 2)]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert packed(tmp_path, animated.getvalue(), "a.gif", "image/gif") == animated.getvalue()
    misnamed = encoded(noisy((3200, 200)), "JPEG")                   # a JPEG called .png
    assert packed(tmp_path, misnamed, "m.png", "image/png") == misnamed
    deep = encoded(Image.frombytes("I;16", (3200, 200), random.Random(1).randbytes(3200 * 200 * 2)), "PNG")
    assert packed(tmp_path, deep, "deep.png", "image/png") == deep
    cmyk = encoded(noisy((3200, 200)).convert("CMYK"), "JPEG")
    assert packed(tmp_path, cmyk, "print.jpg", "image/jpeg") == cmyk


@pytest.mark.parametrize("weasyprint_loaded", [False, True])
def test_a_file_pillow_cannot_read_goes_in_as_it_is_with_a_warning(tmp_path, caplog, monkeypatch, weasyprint_loaded):
    from PIL import ImageFile
    # importing WeasyPrint sets this for the whole process; a cut-off file must still count as broken
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", weasyprint_loaded)
    broken = encoded(noisy((3200, 200)), "PNG")[:5000]
    with caplog.at_level(logging.WARNING, logger="pipeline.epub_images"):
        assert packed(tmp_path, broken, "cut.png", "image/png") == broken
    assert ImageFile.LOAD_TRUNCATED_IMAGES is weasyprint_loaded       # put back as it was
    assert "images/cut.png" in caplog.text
    assert not list((tmp_path / "cache" / CACHE_FOLDER).glob("*"))   # not remembered: tried again next time


# --------------------------------------------------------------------------- cache

def test_results_are_cached_by_content_and_settings(tmp_path, monkeypatch):
    original = encoded(noisy((3200, 200)), "PNG")
    first = packed(tmp_path, original, "m.png", "image/png")
    entries = list((tmp_path / "cache" / CACHE_FOLDER).iterdir())
    assert len(entries) == 1 and cache.read_entry(entries[0]) == first

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")
    monkeypatch.setattr(epub_images, "shrink", fail)
    assert packed(tmp_path, original, "m.png", "image/png") == first   # from the cache
    assert packed(tmp_path, original, "renamed.png", "image/png") == first   # keyed by content, not name
    monkeypatch.undo()

    entries[0].write_bytes(entries[0].read_bytes()[:-10])              # a damaged entry is rebuilt
    assert packed(tmp_path, original, "m.png", "image/png") == first
    packed(tmp_path, original, "m.png", "image/png", book=settings(max_image_px=1000))
    packed(tmp_path, original, "m.png", "image/png", book=settings(jpeg_quality=70))
    packed(tmp_path, encoded(noisy((3200, 200), seed=9), "PNG"), "m.png", "image/png")
    assert len(list((tmp_path / "cache" / CACHE_FOLDER).iterdir())) == 4


def test_scaled_images_no_picture_maps_to_any_more_are_pruned(tmp_path):
    # a picture edited twice left a scaled copy (and a screen-PDF copy) each time
    cache_dir = tmp_path / "cache"
    assets = [Asset(f"images/{n}.png", tmp_path / f"{n}.png", "image/png") for n in ("a", "b")]
    book = SimpleNamespace(config=settings().config, assets=assets)
    for seed, asset in enumerate(assets):
        asset.path.write_bytes(encoded(noisy((3200, 200), seed=seed), "PNG"))
    for version in (7, 8):
        assets[0].path.write_bytes(encoded(noisy((3200, 200), seed=version), "PNG"))
        for asset in assets:
            epub_image_bytes(asset, book, cache_dir)
            epub_images.reading_copy(asset, book, cache_dir)
    assert len(list((cache_dir / CACHE_FOLDER).iterdir())) == 3
    assert len(list((cache_dir / epub_images.SCREEN_FOLDER).iterdir())) == 3
    assert epub_images.prune(book, cache_dir) == 2
    assert len(list((cache_dir / CACHE_FOLDER).iterdir())) == 2
    kept = {path.name for path in (cache_dir / epub_images.SCREEN_FOLDER).iterdir()}
    assert kept == {epub_images.reading_copy(asset, book, cache_dir).name for asset in assets}
    assert epub_images.prune(book, cache_dir) == 0


# --------------------------------------------------------------------------- book.yaml

CONFIG = """\
title: A Book
identifier: urn:test:1
date: 2026-01-01
contents:
  chapters:
    - one.md
"""


def config_with(tmp_path: Path, epub_block: str):
    (tmp_path / "book.yaml").write_text(CONFIG + epub_block, encoding="utf-8")
    (tmp_path / "one.md").write_text("---\ntitle: x\n---\nA line of text.\n", encoding="utf-8")
    diagnostics = Diagnostics()
    try:
        config = load_config(tmp_path, diagnostics)
    except BuildStopped:
        config = None
    return config, diagnostics


def test_settings_defaults_and_values(tmp_path):
    config, diagnostics = config_with(tmp_path, "")
    assert (config.epub.max_image_px, config.epub.jpeg_quality) == (1600, 85)
    config, diagnostics = config_with(tmp_path, "epub:\n  max_image_px: 0\n  jpeg_quality: 70\n")
    assert (config.epub.max_image_px, config.epub.jpeg_quality) == (0, 70) and not list(diagnostics)


@pytest.mark.parametrize("block, key", [
    ("epub:\n  max_image_px: -1\n", "max_image_px"),
    ("epub:\n  max_image_px: 1200.5\n", "max_image_px"),
    ("epub:\n  max_image_px: big\n", "max_image_px"),
    ("epub:\n  max_image_px: .inf\n", "max_image_px"),
    ("epub:\n  jpeg_quality: 0\n", "jpeg_quality"),
    ("epub:\n  jpeg_quality: 101\n", "jpeg_quality"),
])
def test_bad_settings_are_reported_at_their_line(tmp_path, block, key):
    config, diagnostics = config_with(tmp_path, block)
    problems = [d for d in diagnostics if d.code == "config-invalid"]
    assert config is None and len(problems) == 1
    assert f"epub.{key}" in problems[0].message and problems[0].line == 8


def test_a_misspelt_setting_is_an_unknown_key_with_a_suggestion(tmp_path):
    _, diagnostics = config_with(tmp_path, "epub:\n  max_image_pixels: 1200\n")
    unknown = [d for d in diagnostics if d.code == "config-unknown-key"]
    assert len(unknown) == 1 and "max_image_px" in unknown[0].hint


# --------------------------------------------------------------------------- a whole book

def maps_book(parent: Path, epub_block: str = "", count: int = MAP_COUNT, size=MAP_SIZE) -> Path:
    """A copy of the mini book with the maps chapter (its first `count` maps) drawn into images/."""
    root = copy_book("mini", parent)
    chapter = (BOOKS / "images" / "maps.md").read_text(encoding="utf-8").split("\n")
    kept = [line for line in chapter if not line.startswith("![") or
            int(line.split("images/map")[1][:2]) <= count]
    (root / "maps.md").write_text("\n".join(kept), encoding="utf-8")
    text = (root / "book.yaml").read_text(encoding="utf-8")
    assert "    - ch2.md\n" in text
    text = text.replace("    - ch2.md\n", "    - ch2.md\n    - maps.md\n") + epub_block
    (root / "book.yaml").write_text(text, encoding="utf-8")
    for number in range(1, count + 1):
        draw_map(number, size).save(root / "images" / f"map{number:02d}.png")
    return root


def built(command: str, root: Path, out: Path, timings: dict, label: str) -> Path:
    start = time.monotonic()
    result = run_cli(command, "--manuscript", str(root), "--out", str(out))
    timings[label] = time.monotonic() - start
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The maps book built with the step off, with it on (EPUB and PDF), and on again into the same
    folder (a warm cache)."""
    base = tmp_path_factory.mktemp("maps")
    root = maps_book(base / "on")
    off_root = base / "off" / "mini"
    shutil.copytree(root, off_root)
    with (off_root / "book.yaml").open("a", encoding="utf-8") as handle:
        handle.write("\nepub:\n  max_image_px: 0\n")
    timings: dict[str, float] = {}
    off = built("epub", off_root, base / "out-off", timings, "epub, max_image_px 0")
    on = built("all", root, base / "out-on", timings, "all (EPUB + PDF), cold cache")
    first = (on / "book.epub").read_bytes()
    built("epub", root, on, timings, "epub, warm cache")
    for label, seconds in timings.items():
        print(f"{label}: {seconds:.1f} s")
    return SimpleNamespace(root=root, off=off / "book.epub", on=on / "book.epub", first=first,
                           pdf=on / "book.pdf", cache=on / "cache", timings=timings)


def epub_images_in(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()
                if name.startswith("EPUB/images/") and name.endswith(".png") and "-map" in name}


@pytest.mark.slow
def test_the_epub_is_much_smaller_and_its_maps_fit_the_limit(builds):
    before, after = builds.off.stat().st_size, builds.on.stat().st_size
    print(f"EPUB with max_image_px 0: {before:,} bytes; with 1600: {after:,} bytes ({after / before:.0%})")
    assert after < before * 0.6         # 2400 -> 1600 px keeps 44 % of the pixels
    originals = {p.name: p.read_bytes() for p in (builds.root / "images").glob("map*.png")}
    assert sum(len(d) for d in originals.values()) > MAP_COUNT * 500_000    # the maps do not compress to nothing
    off_images, on_images = epub_images_in(builds.off), epub_images_in(builds.on)
    assert len(off_images) == len(on_images) == MAP_COUNT
    for name, data in off_images.items():
        assert data == originals[name.rsplit("-", 1)[1]]                # off: the files as they are
        assert opened(data).size == MAP_SIZE
    for name, data in on_images.items():
        image = opened(data)
        assert image.format == "PNG" and max(image.size) <= LIMIT and image.size == (1600, 1067)
        assert len(data) < len(originals[name.rsplit("-", 1)[1]])


@pytest.mark.slow
def test_the_package_still_declares_png_and_epubcheck_passes(builds):
    from pipeline.validate import run_epubcheck
    from lxml import etree
    with zipfile.ZipFile(builds.on) as archive:
        opf = etree.fromstring(archive.read("EPUB/content.opf"))
    declared = {item.get("href"): item.get("media-type")
                for item in opf.iter("{http://www.idpf.org/2007/opf}item")}
    for name in epub_images_in(builds.on):
        assert declared[name.removeprefix("EPUB/")] == "image/png"
    verdict = run_epubcheck(builds.on)
    assert verdict.counts["fatal"] == verdict.counts["error"] == 0, verdict.messages
    assert verdict.passed, verdict.messages


@pytest.mark.slow
def test_the_pdf_still_embeds_the_full_size_maps(builds):
    listing = subprocess.run(["pdfimages", "-list", str(builds.pdf)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    sizes = [(int(row.split()[3]), int(row.split()[4])) for row in listing if row.split()[2] == "image"]
    assert sizes.count(MAP_SIZE) == MAP_COUNT


@pytest.mark.slow
def test_builds_give_the_same_bytes(builds):
    assert builds.on.read_bytes() == builds.first                       # rebuilt from the cache
    entries = list((builds.cache / CACHE_FOLDER).iterdir())
    assert len(entries) >= MAP_COUNT and all(cache.read_entry(e) is not None for e in entries)


@pytest.mark.slow
def test_a_picture_whose_name_lies_about_its_format_goes_in_as_what_it_is(tmp_path):
    """yeasy/docker_practice has a PNG named kubernetes_design.jpg: declared image/jpeg by its
    name, EPUBCheck refused the package (OPF-029). The bytes decide the media type and suffix."""
    from pipeline.validate import run_epubcheck
    book = copy_book("hugo", tmp_path)
    shutil.copy(book / "static" / "images" / "shapes.png", book / "content" / "design.jpg")
    guide = book / "content" / "guide.md"
    guide.write_text(guide.read_text(encoding="utf-8") + "\n![一张名为 jpg 的 PNG](design.jpg)\n", encoding="utf-8")
    result = run_cli("epub", "--manuscript", str(book), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    line = guide.read_text(encoding="utf-8").splitlines().index("![一张名为 jpg 的 PNG](design.jpg)") + 1
    assert (f"guide.md:{line}: warning: the image design.jpg is a PNG file, not what its name says; the book uses it "
            "as PNG. [image-misnamed] (Rename it to design.png.)") in result.stderr
    with zipfile.ZipFile(tmp_path / "out" / "book.epub") as archive:
        opf = archive.read("EPUB/content.opf").decode()
    assert re.search(r'href="images/[0-9a-f]{12}-design\.png"[^>]*media-type="image/png"', opf) or \
        re.search(r'media-type="image/png"[^>]*href="images/[0-9a-f]{12}-design\.png"', opf), opf
    verdict = run_epubcheck(tmp_path / "out" / "book.epub", tmp_path / "epubcheck.json")
    assert verdict.counts["fatal"] == verdict.counts["error"] == 0, "\n".join(verdict.messages)
