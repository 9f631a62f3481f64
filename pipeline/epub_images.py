"""Images as the EPUB packs them."""
from __future__ import annotations

from pathlib import Path

from pipeline.book import Asset, Book


def epub_image_bytes(asset: Asset, book: Book, cache_dir: Path) -> bytes:
    """The bytes the EPUB packs for an image asset (the file as it is, for now)."""
    return asset.path.read_bytes()
