"""The WeasyPrint side of the print writer, imported only where pages are laid out.

WeasyPrint takes half a second to import (Pango, HarfBuzz, fontconfig through cffi). A build
whose layout comes from the cache (pipeline/layout_cache.py) never needs it in the parent
process, nor does an EPUB build: pipeline/pdf.py builds the print HTML without it and imports
this module only to lay a document out. Importing it applies the project's fixes to WeasyPrint
(pipeline/justify.py: clreq line adjustment; pipeline/notes.py: lost footnotes; the languages of
a tagged PDF's parts), so every process that lays pages out has them.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from pipeline import justify, notes  # noqa: F401  (justify patches WeasyPrint when imported)
from pipeline.resources import confine

notes.patch_weasyprint_footnotes()


def _tag_languages() -> None:
    """A tagged PDF says the language of each part in another one (PDF/UA 7.2): WeasyPrint writes
    only the document's, so an element whose HTML has a lang attribute (a Latin run the typesetter
    marked, an author's [text]{lang=en}) gets its /Lang here. Each box's own structure element is
    the one _build_box_tree yields for it; its recursion goes through the module's name, so
    every box passes this wrapper."""
    import pydyf
    from weasyprint.pdf import tags

    build = tags._build_box_tree
    if getattr(build, "with_languages", False):
        return

    def with_languages(box, parent, pdf, page_number, nums, annotations, tag_list):
        elements = list(build(box, parent, pdf, page_number, nums, annotations, tag_list))
        element = getattr(box, "element", None)
        language = element.get("lang") if element is not None and hasattr(element, "get") else None
        if language and len(elements) == 1 and getattr(box, "element_tag", None) not in ("html", "body"):
            elements[0]["Lang"] = pydyf.String(language)
        yield from elements

    with_languages.with_languages = True
    tags._build_box_tree = with_languages


_tag_languages()


class RefusedURL(FatalURLFetchingError):
    """A fetch the PDF writer refuses. WeasyPrint logs and skips ordinary
    exceptions; this one (a FatalURLFetchingError) stops the layout, so the
    build fails instead of printing a PDF with a hole in it."""


class SafeFetcher(URLFetcher):
    """WeasyPrint url_fetcher that reads local files under the allowed roots only."""

    def __init__(self, roots, extra_files=()):
        super().__init__(allowed_protocols=("file", "data"))
        self.roots = [Path(r).resolve() for r in roots]
        self.extra_files = {Path(f).resolve() for f in extra_files}

    def fetch(self, url, headers=None):
        parsed = urlparse(url)
        if parsed.scheme == "data":
            return super().fetch(url, headers)
        if parsed.scheme != "file":
            raise RefusedURL(f"the PDF refers to {url}, and the PDF writer fetches nothing from the network.")
        path = Path(unquote(parsed.path))
        if path.resolve() in self.extra_files:
            return URLFetcherResponse(path.resolve().as_uri(), path.resolve().read_bytes())
        verdict = confine(path, path.parent, self.roots)
        if not verdict:
            raise RefusedURL(f"the PDF would read {verdict.reason}; it reads nothing but the book's own files.")
        return URLFetcherResponse(verdict.path.as_uri(), verdict.path.read_bytes())


def render(html: str, base_url: str, roots, extra_files=()):
    """The laid-out document (weasyprint.Document) of the print HTML, reading only what
    SafeFetcher allows."""
    return HTML(string=html, base_url=base_url, url_fetcher=SafeFetcher(roots, extra_files)).render()
