"""The EPUB with twelve large PNG maps, with and without the EPUB image step (issue: a book with
twelve 1-1.5 MB maps gave a 16.8 MB EPUB).

    .venv/bin/python bench/epub_images.py

Copies tests/books/mini, adds the chapter tests/books/images/maps.md with twelve 3000x2000 maps
drawn here (flat provinces with a one-level grain, about 1.2 MB each as PNG), builds the EPUB with
epub.max_image_px: 0 (off) and with the defaults, and prints both sizes and the build times.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parent.parent
BOOKS = ROOT / "tests" / "books"


def draw_map(seed: int, size: tuple[int, int] = (3000, 2000), land: float = 0.6) -> Image.Image:
    """A stand-in for a scanned map: flat 'provinces' of random colour, 60 % of them with a one-level
    grain in the green channel (invisible, but it keeps the PNG from compressing to nothing)."""
    rng = random.Random(seed)
    width, height = size
    cols, rows = 12, 8
    regions = Image.frombytes("RGB", (cols, rows), rng.randbytes(cols * rows * 3)).resize(size, Image.Resampling.NEAREST)
    grainy = set(rng.sample(range(cols * rows), round(land * cols * rows)))
    mask = Image.frombytes("L", (cols, rows), bytes(255 if i in grainy else 0 for i in range(cols * rows)))
    grain = Image.frombytes("L", size, rng.randbytes(width * height)).point(lambda v: v & 1)
    grain = ImageChops.multiply(grain, mask.resize(size, Image.Resampling.NEAREST))
    zero = Image.new("L", size)
    return ImageChops.add(regions, Image.merge("RGB", (zero, grain, zero)))


def book_with_maps(parent: Path, extra_config: str = "") -> Path:
    root = parent / "mini"
    shutil.copytree(BOOKS / "mini", root)
    shutil.copy(BOOKS / "images" / "maps.md", root / "maps.md")
    config = (root / "book.yaml").read_text(encoding="utf-8").replace("    - ch2.md\n", "    - ch2.md\n    - maps.md\n")
    (root / "book.yaml").write_text(config + extra_config, encoding="utf-8")
    for number in range(1, 13):
        draw_map(number).save(root / "images" / f"map{number:02d}.png")
    return root


def build(root: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "epub", "--quiet", "--manuscript", str(root), "--out", str(out)],
                   cwd=ROOT, check=True)
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        off = book_with_maps(scratch / "off", "\nepub:\n  max_image_px: 0\n")
        on = book_with_maps(scratch / "on")
        originals = sum(p.stat().st_size for p in (on / "images").glob("map*.png"))
        off_time = build(off, scratch / "out-off")
        on_time = build(on, scratch / "out-on")
        warm_time = build(on, scratch / "out-on")
        off_size = (scratch / "out-off" / "book.epub").stat().st_size
        on_size = (scratch / "out-on" / "book.epub").stat().st_size
    print(f"twelve maps, {originals / 1e6:.1f} MB of PNG in all")
    print(f"EPUB, image step off:  {off_size / 1e6:5.1f} MB  ({off_time:.1f} s)")
    print(f"EPUB, max 1600 px:     {on_size / 1e6:5.1f} MB  ({on_time:.1f} s cold, {warm_time:.1f} s cached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
