"""Small text helpers shared by the stages."""
from __future__ import annotations

import re

from lxml import html as lxml_html


def visible_text(fragment: str) -> str:
    if not fragment.strip():
        return ""
    return lxml_html.fragment_fromstring(fragment, create_parent="div").text_content()


def slugify_ascii(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or fallback
