"""The one error type the pipeline raises, and the problems the checks collect.

A PipelineError always names what went wrong and, where it applies, the file,
the line and what to do next. The CLI prints it once, as one paragraph, and
exits non-zero; nothing below the CLI prints errors itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def display_path(path: Path | str) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    path = Path(path)
    try:
        return os.path.relpath(path) if path.is_absolute() and Path.cwd() in path.parents else str(path)
    except ValueError:
        return str(path)


class PipelineError(Exception):
    def __init__(self, what: str, *, file: Path | str | None = None,
                 line: int | None = None, hint: str | None = None):
        super().__init__(what)
        self.what = what
        self.file = Path(file) if file is not None else None
        self.line = line
        self.hint = hint

    def location(self) -> str:
        if self.file is None:
            return ""
        shown = display_path(self.file)
        return f"{shown}:{self.line}" if self.line else shown

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.what}" if where else self.what
        if self.hint:
            text += f" {self.hint}"
        return text


@dataclass(frozen=True)
class Problem:
    """A finding of the checks: an error stops a build, a warning does not (unless --strict)."""
    severity: str  # "error" | "warning"
    file: Path
    message: str
    line: int | None = None
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        shown = display_path(self.file)
        where = f"{shown}:{self.line}" if self.line else shown
        text = f"{where}: {self.severity}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict:
        return {"severity": self.severity, "file": str(self.file), "line": self.line,
                "message": self.message, "hint": self.hint}
