"""Every problem a run finds, collected in one list: file, line, severity and a short code.

Stages add to the list and go on; only the CLI prints it (sorted by file and line) and
picks the exit code. A fatal condition that stops a stage is still a PipelineError.

Each code has a default severity, and some errors are tolerated in a --draft build, where
the writers fall back to a visible placeholder or plain text. That table is here, in one
place, so that `check`, the build and the status report agree.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# code -> (severity, tolerated as a warning in --draft builds)
CODES: dict[str, tuple[str, bool]] = {
    # reading documents and book.yaml
    "file-not-utf8": ("error", False),
    "front-matter-missing": ("error", False),
    "front-matter-unclosed": ("error", False),
    "front-matter-yaml": ("error", False),
    "front-matter-shape": ("error", False),
    "config-unknown-key": ("warning", False),
    "config-invalid": ("error", False),
    # metadata
    "meta-missing": ("error", False),
    "meta-type": ("error", False),
    "meta-unknown-key": ("warning", False),
    "status-unknown": ("error", False),
    "slug-unknown": ("warning", False),
    "registry-entry": ("error", False),
    # citations
    "citation-unknown": ("error", True),
    "citation-bibliography": ("error", False),
    # the index
    "index-key-unknown": ("error", True),
    "index-slug-unmentioned": ("warning", False),
    "index-entry-unused": ("warning", False),
    "chapter-number-duplicate": ("error", False),
    "release-not-final": ("error", False),
    # length and structure
    "word-count-mismatch": ("warning", False),
    "anecdote-count-mismatch": ("warning", False),
    "takeaways-missing": ("warning", False),
    "references-missing": ("warning", False),
    "heading-skip": ("warning", False),
    "heading-empty": ("warning", False),
    # Hugo content
    "shortcode-unknown": ("warning", False),
    "shortcode-unclosed": ("warning", False),
    "shortcode-unmapped": ("warning", False),
    # mdBook
    "include-invalid": ("error", True),
    "include-outside-code": ("warning", False),
    # hostile content
    "html-removed": ("warning", False),
    "document-too-large": ("error", False),
    "image-invalid": ("error", True),
    "image-too-large": ("error", True),
    "image-unsafe": ("error", True),
    # ids and cross-references
    "id-duplicate": ("warning", False),
    "id-reserved": ("warning", False),
    "link-unresolved": ("error", True),
    "link-ambiguous": ("warning", False),
    # images and diagrams
    "image-missing": ("error", True),
    "image-outside": ("error", True),
    "image-remote": ("error", True),
    "image-no-alt": ("error", True),
    "image-misnamed": ("warning", False),
    "diagram-attribute": ("error", True),
    "diagram-render": ("error", True),
    "diagram-too-wide": ("warning", False),
    "diagram-png-fallback": ("warning", False),
    "diagram-transposed": ("info", False),
    # math
    "math-error": ("error", True),
    # writers
    "pdf-layout": ("warning", False),
    "pdf-glyph-missing": ("warning", False),
    # fonts (a --draft build sets a missing family in its Noto default)
    "font-missing": ("error", True),
    "font-file": ("warning", False),
}


def display_path(path: Path | str) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    path = Path(path)
    try:
        return os.path.relpath(path) if path.is_absolute() and Path.cwd() in path.parents else str(path)
    except ValueError:
        return str(path)


MESSAGE_LIMIT = 1000


def shown(value, limit: int = 200) -> str:
    """A value as a message quotes it: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def location(file: Path | None, line: int | None) -> str:
    """`file:line` as messages show it; empty without a file."""
    if file is None:
        return ""
    shown = display_path(file)
    return f"{shown}:{line}" if line else shown


@dataclass(frozen=True)
class Diagnostic:
    severity: str            # "error" | "warning" | "info" (what the build did for you; never fails it)
    code: str
    message: str
    file: Path | None = None
    line: int | None = None
    hint: str | None = None
    # The message's figures and names by field, so a report in the book's language can say it
    # again from its message catalogue (pipeline/messages.py); a tuple of pairs keeps it hashable.
    args: tuple[tuple[str, object], ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def location(self) -> str:
        return location(self.file, self.line)

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.severity}: {self.message}" if where else f"{self.severity}: {self.message}"
        text += f" [{self.code}]"
        return f"{text} ({self.hint})" if self.hint else text

    def sort_key(self) -> tuple:
        return (display_path(self.file) if self.file else "", self.line or 0, self.code, self.message)

    def as_dict(self) -> dict:
        return {"severity": self.severity, "code": self.code, "file": str(self.file) if self.file else None,
                "line": self.line, "message": self.message, "hint": self.hint}


class Diagnostics:
    """The run's problems. `draft` turns the codes marked tolerable into warnings."""

    def __init__(self, draft: bool = False):
        self.draft = draft
        self.items: list[Diagnostic] = []
        self._listed: set[Diagnostic] = set()

    def add(self, code: str, message: str, file: Path | str | None = None, line: int | None = None,
            hint: str | None = None, severity: str | None = None, args: dict | None = None) -> Diagnostic:
        default, draft_ok = CODES[code]
        severity = severity or default
        if self.draft and draft_ok and severity == "error":
            severity = "warning"
        if len(message) > MESSAGE_LIMIT:     # a hostile value must not become a 2 GB message
            message = message[:MESSAGE_LIMIT] + "…"
        item = Diagnostic(severity, code, message, Path(file) if file is not None else None, line, hint,
                          tuple((args or {}).items()))
        # The same problem found twice (by the print PDF and the screen PDF, which lay out the same
        # text) is one problem: listed and counted once.
        if item not in self._listed:
            self._listed.add(item)
            self.items.append(item)
        return item

    def clear(self) -> None:
        self.items.clear()
        self._listed.clear()

    def extend(self, items) -> None:
        for item in items:
            if item not in self._listed:
                self._listed.add(item)
                self.items.append(item)

    def tolerated(self, code: str) -> bool:
        """Does this build go on past a problem of this code (with a placeholder)?"""
        default, draft_ok = CODES[code]
        return default == "warning" or (self.draft and draft_ok)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    @property
    def infos(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "info"]

    def for_file(self, path: Path) -> list[Diagnostic]:
        return [d for d in self.items if d.file == path]

    def sorted(self) -> list[Diagnostic]:
        unique = list(dict.fromkeys(self.items))
        return sorted(unique, key=Diagnostic.sort_key)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)
