"""Transforms a writer applies to its own copy of a section's tree, as Sphinx's post-transforms
are scoped to builders: each is registered for the writers it serves, and a writer runs its
own in order. The Book is never changed; clreq typesetting is the PDF's, package paths the EPUB's.

    @transform("pdf", order=40)
    def mark_landscape(root, context): ...
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from lxml import etree

from pipeline.book import Book, Section
from pipeline.tree import writer_copy

Transform = Callable[[etree._Element, "Context"], None]
_REGISTRY: dict[str, list[tuple[int, str, Transform]]] = {}
# Modules whose import registers transforms; a new one is one line here.
TRANSFORM_MODULES = ("pipeline.typeset", "pipeline.epub", "pipeline.pdf", "pipeline.notes", "pipeline.math",
                     "pipeline.subject_index", "pipeline.link_notes")


@dataclass
class Context:
    """What a transform may read: the book, the section, and the writer's own settings."""
    book: Book
    section: Section
    settings: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str):
        try:
            return self.settings[name]
        except KeyError:
            raise AttributeError(name) from None


def transform(*writers: str, order: int = 50):
    def register(function: Transform) -> Transform:
        for writer in writers:
            _REGISTRY.setdefault(writer, []).append((order, function.__name__, function))
            _REGISTRY[writer].sort(key=lambda entry: entry[:2])
        return function
    return register


def transforms_for(writer: str) -> list[Transform]:
    import importlib
    for module in TRANSFORM_MODULES:
        importlib.import_module(module)
    return [function for _, _, function in _REGISTRY.get(writer, [])]


def writer_tree(writer: str, book: Book, section: Section, **settings) -> etree._Element:
    """A copy of the section's tree with every transform of `writer` applied, in order."""
    root = writer_copy(section.body)
    context = Context(book, section, settings)
    for function in transforms_for(writer):
        function(root, context)
    return root
