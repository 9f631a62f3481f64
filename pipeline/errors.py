"""The error type that stops a run.

A PipelineError names what went wrong and, where it applies, the file, the line and
what to do next. Problems a run can go on past are Diagnostics (pipeline.diagnostics);
BuildStopped says the collected ones hold errors and the run ends here. The CLI prints
both, once; nothing below the CLI prints errors itself.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.diagnostics import location


class PipelineError(Exception):
    def __init__(self, what: str, *, file: Path | str | None = None,
                 line: int | None = None, hint: str | None = None):
        super().__init__(what)
        self.what = what
        self.file = Path(file) if file is not None else None
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        where = location(self.file, self.line)
        text = f"{where}: {self.what}" if where else self.what
        if self.hint:
            text += f" {self.hint}"
        return text


class BuildStopped(Exception):
    """The run's diagnostics hold errors that stop it at this stage (they are already collected)."""

    def __init__(self, stage: str):
        super().__init__(stage)
        self.stage = stage
