"""Small text helpers shared by the stages."""
from __future__ import annotations

import re


def slugify_ascii(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or fallback
