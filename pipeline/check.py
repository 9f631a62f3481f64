"""The check stage: front-matter schemas, measured length against the declared one,
book-level numbering, and the release gate.

It returns findings rather than printing them; the CLI and the status report decide
how to show them.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.config import BookConfig
from pipeline.documents import Document, parse_date, read_manuscript
from pipeline.errors import PipelineError, Problem
from pipeline.measure import Measurement, measure
from pipeline.registry import REGISTRY_FILES, Registry, load_registry

def whole_number(value) -> int | None:
    """The value if YAML read it as a whole number (YAML's true/false are ints to Python)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# key -> (type check, description for messages)
_INT = (lambda v: whole_number(v) is not None and v >= 0, "a whole number")
_STR = (lambda v: isinstance(v, str) and v.strip() != "", "text")
_STR_OR_INT = (lambda v: (isinstance(v, str) and v.strip() != "") or (isinstance(v, int) and not isinstance(v, bool)),
               "text or a year")
_SLUGS = (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of slugs")
_STR_LIST = (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of text")
_DATE = (lambda v: parse_date(v) is not None and not isinstance(v, dt.datetime), "a real date (YYYY-MM-DD)")
_DATETIME = (lambda v: parse_date(v) is not None, "a real date or date-time (ISO 8601)")
_BOOL = (lambda v: isinstance(v, bool), "true or false")

CHAPTER_SCHEMA = {
    "chapter_number": _INT, "title": _STR, "title_en": _STR, "period": _STR_OR_INT, "status": _STR,
    "word_count": _INT, "key_events": _SLUGS, "key_organizations": _SLUGS, "technical_concepts": _SLUGS,
    "anecdote_count": _INT, "created_date": _DATE, "last_updated": _DATE,
}
ARTICLE_SCHEMA = {
    "title": _STR, "date": _DATETIME, "draft": _BOOL, "tags": _STR_LIST, "categories": _STR_LIST,
    "description": _STR,
}
# Optional keys an article may carry to join the editorial workflow like a chapter does.
ARTICLE_OPTIONAL = {"status": _STR, "word_count": _INT, "last_updated": _DATE}


@dataclass
class DocumentReport:
    document: Document
    measurement: Measurement
    problems: list[Problem] = field(default_factory=list)

    @property
    def meta(self) -> dict:
        return self.document.meta

    @property
    def number(self) -> int | None:
        return whole_number(self.meta.get("chapter_number"))

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or self.document.path.stem)

    @property
    def status(self) -> str:
        return document_status(self.document)

    @property
    def declared_length(self) -> int | None:
        return whole_number(self.meta.get("word_count"))

    @property
    def declared_anecdotes(self) -> int | None:
        return whole_number(self.meta.get("anecdote_count"))

    @property
    def last_updated(self) -> dt.date | None:
        return parse_date(self.meta.get("last_updated") or self.meta.get("date"))


@dataclass
class CheckReport:
    config: BookConfig
    documents: list[DocumentReport]
    problems: list[Problem] = field(default_factory=list)   # book-level ones

    def all_problems(self) -> list[Problem]:
        return [*self.problems, *(p for d in self.documents for p in d.problems)]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.all_problems() if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.all_problems() if not p.is_error]


def document_status(document: Document) -> str:
    """The workflow status; Hugo's `draft` flag maps onto draft/final."""
    if "status" in document.meta:
        return str(document.meta["status"])
    if document.kind == "article" and isinstance(document.meta.get("draft"), bool):
        return "draft" if document.meta["draft"] else "final"
    return "unknown"


def _check_schema(doc: Document, statuses: tuple[str, ...]) -> list[Problem]:
    required = CHAPTER_SCHEMA if doc.kind == "chapter" else ARTICLE_SCHEMA
    optional = {} if doc.kind == "chapter" else ARTICLE_OPTIONAL
    problems = []
    first_line = min(doc.key_lines.values(), default=2)
    for key, (is_valid, description) in required.items():
        if key not in doc.meta:
            problems.append(Problem("error", doc.path, f"the front matter has no '{key}'.", first_line,
                                    f"Add '{key}:' with {description}."))
    for key, value in doc.meta.items():
        line = doc.key_lines.get(key)
        rule = required.get(key) or optional.get(key)
        if rule is None:
            problems.append(Problem("warning", doc.path, f"unknown front-matter key '{key}'.", line,
                                    f"Known keys: {', '.join([*required, *optional])}."))
            continue
        is_valid, description = rule
        if not is_valid(value):
            problems.append(Problem("error", doc.path, f"'{key}' is {value!r}, which is not {description}.", line,
                                    f"Write {key} as {description}."))
    if "status" in doc.meta and doc.meta["status"] not in statuses:
        problems.append(Problem("error", doc.path, f"unknown status {doc.meta['status']!r}.",
                                doc.key_lines.get("status"), f"Use one of: {', '.join(statuses)}."))
    return problems


def _check_slugs(doc: Document, registry: Registry) -> list[Problem]:
    problems = []
    for key in REGISTRY_FILES:
        values = doc.meta.get(key)
        if not isinstance(values, list):
            continue
        for slug in values:
            if isinstance(slug, str) and not registry.knows(key, slug):
                guess = registry.suggest(key, slug)
                hint = f"Did you mean '{guess}'?" if guess else f"Add it to the registry file {REGISTRY_FILES[key]}."
                problems.append(Problem("warning", doc.path, f"'{slug}' in {key} is not in the registry.",
                                        doc.key_lines.get(key), hint))
    return problems


def _check_measurement(doc: Document, m: Measurement, tolerance: float) -> list[Problem]:
    problems = []
    declared = whole_number(doc.meta.get("word_count"))
    if declared is not None:
        difference = m.length - declared
        if abs(difference) > tolerance * max(declared, 1):
            problems.append(Problem(
                "warning", doc.path,
                f"word_count declares {declared} but the text measures {m.length} ({difference:+d}, "
                f"{difference / max(declared, 1):+.0%}; tolerance ±{tolerance:.0%}).",
                doc.key_lines.get("word_count"), "Run 'python -m pipeline check --fix-counts' to record the measured figure."))
    declared_anecdotes = whole_number(doc.meta.get("anecdote_count"))
    if declared_anecdotes is not None and declared_anecdotes != len(m.anecdotes):
        problems.append(Problem(
            "warning", doc.path,
            f"anecdote_count declares {declared_anecdotes} but the text has {len(m.anecdotes)} '💡 轶事' sections.",
            doc.key_lines.get("anecdote_count"), "Fix the count or the section headings (run --fix-counts)."))
    if doc.kind == "chapter":
        for block, name in ((m.takeaways, "本章要点 (key takeaways)"), (m.references, "参考文献 (references)")):
            if block is None:
                problems.append(Problem("warning", doc.path, f"the chapter has no {name} section.", None,
                                        f"Add a '**{name.split()[0]}**' paragraph followed by a list."))
    return problems


def _check_numbering(reports: list[DocumentReport]) -> list[Problem]:
    problems, seen = [], {}
    for report in reports:
        number = report.number
        if report.document.kind != "chapter" or number is None:
            continue
        if number in seen:
            problems.append(Problem(
                "error", report.document.path,
                f"chapter_number {number} is also used by {seen[number].name}.",
                report.document.key_lines.get("chapter_number"), "Give every chapter its own number."))
        else:
            seen[number] = report.document.path
    return problems


def check_documents(config: BookConfig, documents: list[Document]) -> CheckReport:
    registry = load_registry(config.registry_dir)
    reports = []
    for doc in documents:
        m = measure(doc.body)
        problems = _check_schema(doc, config.check.statuses) + _check_slugs(doc, registry)
        problems += _check_measurement(doc, m, config.check.word_count_tolerance)
        reports.append(DocumentReport(doc, _shift_lines(m, doc.body_line), problems))
    return CheckReport(config, reports, _check_numbering(reports))


def _shift_lines(m: Measurement, body_line: int) -> Measurement:
    """Body-relative block lines -> file lines, so every message points into the file."""
    def shift(block):
        return replace(block, line=block.line + body_line - 1) if block else None
    return Measurement(m.length, [shift(b) for b in m.anecdotes], shift(m.takeaways), shift(m.references),
                       [shift(b) for b in m.headings])


def check_manuscript(config: BookConfig) -> CheckReport:
    return check_documents(config, read_manuscript(config))


def release_problems(report: CheckReport) -> list[Problem]:
    """A release build takes only documents whose status is the workflow's last one."""
    final = report.config.check.final_status
    return [Problem("error", d.document.path, f"'{d.title}' is {d.status}, not {final}.",
                    d.document.key_lines.get("status") or d.document.key_lines.get("draft"),
                    f"A release build takes only {final} documents; set status: {final} when it is, "
                    "or build without RELEASE=1.")
            for d in report.documents if d.status != final]


def raise_if_errors(problems: list[Problem], what: str) -> None:
    errors = [p for p in problems if p.is_error]
    if not errors:
        return
    first = errors[0]
    more = f" ({len(errors) - 1} more error(s) listed above.)" if len(errors) > 1 else ""
    raise PipelineError(f"{what}: {first.message}{more}", file=first.file, line=first.line, hint=first.hint)


_COUNT_LINE = re.compile(r"^(?P<key>word_count|anecdote_count)(?P<sep>\s*:\s*)(?P<value>[^\s#]*)(?P<rest>.*)$",
                         re.DOTALL)


def fixed_counts_text(report: DocumentReport) -> str:
    """The file's text with only the word_count/anecdote_count values replaced."""
    doc = report.document
    new_values = {"word_count": report.measurement.length, "anecdote_count": len(report.measurement.anecdotes)}
    lines = doc.text.splitlines(keepends=True)
    for key, value in new_values.items():
        line_number = doc.key_lines.get(key)
        if line_number is None:
            continue
        line = lines[line_number - 1]
        match = _COUNT_LINE.match(line)
        if match:
            lines[line_number - 1] = f"{match['key']}{match['sep']}{value}{match['rest']}"
    return "".join(lines)


def fix_counts(report: CheckReport) -> list[Path]:
    changed = []
    for doc_report in report.documents:
        new_text = fixed_counts_text(doc_report)
        if new_text != doc_report.document.text:
            doc_report.document.path.write_bytes(new_text.encode("utf-8"))
            changed.append(doc_report.document.path)
    return changed
