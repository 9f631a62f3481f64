"""The editors' report in the book's language: its labels and problem texts come from a message
catalogue (pipeline/locales/<language>.yaml), so a Chinese book gets a Chinese report.

Problems keep their English message for the terminal; the catalogue says them again from the
figures and names each problem carries (Diagnostic.args).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.diagnostics import Diagnostic

LOCALES = Path(__file__).resolve().parent / "locales"
FALLBACK = "en"


@dataclass(frozen=True)
class Catalogue:
    language: str
    labels: dict
    severity: dict
    roles: dict
    problems: dict
    codes: dict

    def label(self, key: str, **fields) -> str:
        return self.labels[key].format(**fields) if fields else self.labels[key]

    def role(self, role: str) -> str:
        return self.roles.get(role, role)

    def problem(self, diagnostic: Diagnostic) -> str:
        """The problem's text in this language: from its figures, else what its code means, else its message."""
        template = self.problems.get(diagnostic.code)
        if template:
            try:
                return template.format(**dict(diagnostic.args))
            except (KeyError, IndexError, ValueError):
                pass     # a problem raised without the figures this text needs
        return self.codes.get(diagnostic.code, diagnostic.message)

    def problem_line(self, diagnostic: Diagnostic) -> str:
        """`警告：第 7 行：…` — severity, line and text, as the report lists a document's problems."""
        parts = [self.severity.get(diagnostic.severity, diagnostic.severity)]
        if diagnostic.line:
            parts.append(self.label("line", line=diagnostic.line))
        parts.append(self.problem(diagnostic))
        return self.label("colon").join(parts)


def catalogue_name(language: str) -> str:
    """The catalogue for a book's language tag: zh, zh-CN, zh-Hans… read zh-CN; others fall back to English."""
    primary = language.lower().split("-")[0].split("_")[0]
    return "zh-CN" if primary == "zh" else FALLBACK


@lru_cache(maxsize=None)
def catalogue(language: str) -> Catalogue:
    name = catalogue_name(language)
    data = yaml.safe_load((LOCALES / f"{name}.yaml").read_text(encoding="utf-8"))
    return Catalogue(name, data["labels"], data["severity"], data["roles"], data["problems"] or {},
                     data["codes"] or {})
