"""Small text and HTML-fragment helpers shared by the stages."""
from __future__ import annotations

import re

from lxml import etree
from lxml import html as lxml_html


def parse_fragment(fragment: str) -> etree._Element:
    """An HTML body fragment as the children of one <div>."""
    if not fragment.strip():
        return lxml_html.Element("div")
    return lxml_html.fragment_fromstring(fragment, create_parent="div")


def fragment_html(root: etree._Element) -> str:
    """The inverse of parse_fragment: the div's content as HTML."""
    return (root.text or "") + "".join(etree.tostring(child, encoding="unicode", method="html") for child in root)


def visible_text(fragment: str) -> str:
    return "".join(parse_fragment(fragment).itertext())


def slugify_ascii(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or fallback
