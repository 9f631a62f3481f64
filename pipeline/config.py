"""book.yaml: the one configuration object every stage reads.

Everything a stage can be told lives here, parsed and checked once; the stages
never open book.yaml themselves.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.errors import PipelineError

CONFIG_NAME = "book.yaml"
GENERATED_APPENDICES = ("takeaways", "references")


@dataclass(frozen=True)
class DocRef:
    """One manuscript file named in book.yaml."""
    path: Path
    id: str | None = None


@dataclass(frozen=True)
class PartRef:
    id: str
    title: str
    documents: tuple[DocRef, ...]


@dataclass(frozen=True)
class CheckSettings:
    word_count_tolerance: float = 0.05
    statuses: tuple[str, ...] = ("outline", "draft", "review", "copyedit", "final")
    registry: str = "data"

    @property
    def final_status(self) -> str:
        return self.statuses[-1]


@dataclass(frozen=True)
class AssembleSettings:
    takeaways_box_in_chapter: bool = True


@dataclass(frozen=True)
class DiagramSettings:
    renderer: str = "local"
    server: str | None = None
    timeout: float = 60.0
    layout: str = "auto"
    min_text_pt: float = 6.5
    default_caption: str | None = None

    @property
    def server_url(self) -> str | None:
        return os.environ.get("MERMAID_INK_SERVER") or self.server


@dataclass(frozen=True)
class PrintSettings:
    trim_width: str = "170mm"
    trim_height: str = "240mm"
    bleed: str = "3mm"
    margin_top: str = "20mm"
    margin_bottom: str = "22mm"
    margin_inside: str = "22mm"
    margin_outside: str = "18mm"
    crop_marks: bool = False
    variant: str = "rgb"
    font_size: str = "10.5pt"
    serif_font: str = "Noto Serif CJK SC"
    sans_font: str = "Noto Sans CJK SC"
    parallel: str = "auto"     # auto | on | off: lay chapters out in several processes

    def text_block_mm(self) -> tuple[float, float]:
        """Width and height of the text block: the trim less the margins."""
        width = length_mm(self.trim_width) - length_mm(self.margin_inside) - length_mm(self.margin_outside)
        height = length_mm(self.trim_height) - length_mm(self.margin_top) - length_mm(self.margin_bottom)
        return width, height


@dataclass(frozen=True)
class EpubSettings:
    cover: Path | None = None
    accessibility_summary: str = ""


@dataclass(frozen=True)
class BookConfig:
    root: Path
    title: str
    subtitle: str | None
    authors: tuple[str, ...]
    language: str
    identifier: str
    publisher: str | None
    edition: str | None
    date: dt.date
    rights: str | None
    chapters: tuple[DocRef, ...]
    parts: tuple[PartRef, ...]
    appendices: tuple[str, ...]
    check: CheckSettings = field(default_factory=CheckSettings)
    assemble: AssembleSettings = field(default_factory=AssembleSettings)
    diagrams: DiagramSettings = field(default_factory=DiagramSettings)
    print: PrintSettings = field(default_factory=PrintSettings)
    epub: EpubSettings = field(default_factory=EpubSettings)

    @property
    def path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def registry_dir(self) -> Path:
        return self.root / self.check.registry

    def documents(self) -> list[DocRef]:
        """Every manuscript file, chapters first, then each part's documents."""
        return [*self.chapters, *(d for p in self.parts for d in p.documents)]


def load_config(root: Path) -> BookConfig:
    root = Path(root)
    path = root / CONFIG_NAME
    if not root.is_dir():
        raise PipelineError("the manuscript folder does not exist.", file=root,
                            hint="Pass an existing folder with --manuscript.")
    if not path.is_file():
        if not any(root.iterdir()):
            raise PipelineError("the manuscript folder is empty.", file=root,
                                hint=f"Add a {CONFIG_NAME} and the chapter files it names.")
        raise PipelineError(f"there is no {CONFIG_NAME} in the manuscript folder.", file=root,
                            hint=f"Create {CONFIG_NAME} with the book's title and the documents it contains.")
    data = read_yaml_mapping(path, "Start with 'title: ...'.")
    return _parse(root.resolve(), path, data)


def read_yaml_mapping(path: Path, shape_hint: str) -> dict:
    """A YAML file that must hold a mapping; every failure names the file and, where known, the line."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"the file is not UTF-8 (byte {exc.start}).", file=path,
                            line=raw[:exc.start].count(b"\n") + 1, hint="Save it as UTF-8.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise PipelineError(f"the YAML cannot be read: {exc.problem}.", file=path, line=line,
                            hint="Fix the indentation or quoting on that line.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PipelineError("the file must be a YAML mapping of 'key: value' lines.", file=path, hint=shape_hint)
    return data


class _Reader:
    """Typed access to one mapping of book.yaml, naming the key in every error."""

    def __init__(self, data: dict, path: Path, prefix: str = ""):
        self.data, self.path, self.prefix = data or {}, path, prefix

    def fail(self, key: str, what: str, hint: str) -> PipelineError:
        return PipelineError(f"'{self.prefix}{key}' {what}", file=self.path, hint=hint)

    def str(self, key: str, default=None, required: bool = False):
        value = self.data.get(key, default)
        if value is None:
            if required:
                raise self.fail(key, "is missing.", f"Add '{key}: ...' to book.yaml.")
            return None
        if isinstance(value, (dt.date, int, float)):
            value = str(value)
        if not isinstance(value, str):
            raise self.fail(key, f"must be text, not {type(value).__name__}.", "Write it as a quoted string.")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, not {value!r}.", "Write a plain number.")
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}.", "Write true or false.")
        return value

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        value = self.str(key, default)
        if value not in options:
            raise self.fail(key, f"is {value!r}, which is not one of {', '.join(options)}.",
                            "Pick one of those values.")
        return value

    def list(self, key: str) -> list:
        value = self.data.get(key) or []
        if not isinstance(value, list):
            raise self.fail(key, "must be a list.", "Write one '- item' per line.")
        return value

    def section(self, key: str) -> "_Reader":
        value = self.data.get(key) or {}
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping of settings.", "Indent its settings under it.")
        return _Reader(value, self.path, f"{self.prefix}{key}.")


def _doc_ref(root: Path, path: Path, entry, where: str) -> DocRef:
    if isinstance(entry, str):
        name, ident = entry, None
    elif isinstance(entry, dict) and isinstance(entry.get("file"), str):
        name, ident = entry["file"], entry.get("id")
    else:
        raise PipelineError(f"{where} has an entry that is neither a file name nor a 'file:' mapping: {entry!r}.",
                            file=path, hint="Write '- chapter.md' or '- {file: chapter.md, id: slug}'.")
    doc_path = (root / name).resolve()
    if not doc_path.is_relative_to(root):
        raise PipelineError(f"{where} names '{name}', which is outside the manuscript folder.", file=path,
                            hint="A book reads only files inside its own folder; copy the file in.")
    if not doc_path.is_file():
        raise PipelineError(f"{where} names '{name}', which does not exist.", file=path,
                            line=_line_of(path, name),
                            hint="Fix the file name or add the file to the manuscript folder.")
    return DocRef(doc_path, ident)


def _line_of(path: Path, needle: str) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    return None


_MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72}


def length_mm(value: str) -> float:
    """A book.yaml length (mm, cm, in or pt; a bare number is mm) in millimetres."""
    value = value.strip()
    for unit, factor in _MM_PER_UNIT.items():
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


def _length(value: str, path: Path, key: str) -> str:
    value = str(value).strip()
    try:
        length_mm(value)
    except ValueError:
        raise PipelineError(f"'{key}' is {value!r}, which is not a length.", file=path,
                            hint="Write a length such as 170mm or 10.5pt.") from None
    return value


def _parse(root: Path, path: Path, data: dict) -> BookConfig:
    top = _Reader(data, path)
    contents = top.section("contents")
    chapters = tuple(_doc_ref(root, path, e, "contents.chapters") for e in contents.list("chapters"))
    parts = []
    for index, part in enumerate(contents.list("parts")):
        if not isinstance(part, dict):
            raise PipelineError(f"contents.parts entry {index + 1} must be a mapping with id, title and documents.",
                                file=path, hint="See the bundled manuscript/book.yaml.")
        reader = _Reader(part, path, f"contents.parts[{index}].")
        docs = tuple(_doc_ref(root, path, e, f"part '{reader.str('title', '')}'") for e in reader.list("documents"))
        parts.append(PartRef(reader.str("id", required=True), reader.str("title", required=True), docs))
    appendices = tuple(contents.list("appendices"))
    for name in appendices:
        if name not in GENERATED_APPENDICES:
            raise PipelineError(f"contents.appendices names {name!r}, which the pipeline cannot generate.",
                                file=path, hint=f"Use any of: {', '.join(GENERATED_APPENDICES)}.")
    if not chapters and not parts:
        raise PipelineError("book.yaml lists no documents.", file=path,
                            hint="Add the chapter files under contents.chapters.")

    raw_date = data.get("date")
    if isinstance(raw_date, dt.datetime):
        raw_date = raw_date.date()
    if not isinstance(raw_date, dt.date):
        try:
            raw_date = dt.date.fromisoformat(str(raw_date))
        except ValueError:
            raise PipelineError(f"'date' is {raw_date!r}, which is not a date.", file=path,
                                hint="Write it as YYYY-MM-DD.") from None
    authors = data.get("authors") or []
    if isinstance(authors, str):
        authors = [authors]

    check = top.section("check")
    statuses = tuple(check.list("statuses")) or CheckSettings.statuses
    diagrams = top.section("diagrams")
    printing = top.section("print")
    trim, margins = printing.section("trim"), printing.section("margins")
    epub = top.section("epub")
    cover = epub.str("cover")
    return BookConfig(
        root=root, title=top.str("title", required=True), subtitle=top.str("subtitle"),
        authors=tuple(str(a) for a in authors), language=top.str("language", "zh-CN"),
        identifier=top.str("identifier", required=True), publisher=top.str("publisher"),
        edition=top.str("edition"), date=raw_date, rights=top.str("rights"),
        chapters=chapters, parts=tuple(parts), appendices=appendices,
        check=CheckSettings(check.number("word_count_tolerance", 0.05), tuple(str(s) for s in statuses),
                            check.str("registry", "data")),
        assemble=AssembleSettings(top.section("assemble").bool("takeaways_box_in_chapter", True)),
        diagrams=DiagramSettings(
            renderer=diagrams.choice("renderer", "local", ("local", "remote")),
            server=diagrams.str("server"), timeout=diagrams.number("timeout", 60),
            layout=diagrams.choice("layout", "auto", ("auto", "scale", "landscape")),
            min_text_pt=diagrams.number("min_text_pt", 6.5),
            default_caption=diagrams.str("default_caption")),
        print=PrintSettings(
            trim_width=_length(trim.str("width", "170mm"), path, "print.trim.width"),
            trim_height=_length(trim.str("height", "240mm"), path, "print.trim.height"),
            bleed=_length(printing.str("bleed", "3mm"), path, "print.bleed"),
            margin_top=_length(margins.str("top", "20mm"), path, "print.margins.top"),
            margin_bottom=_length(margins.str("bottom", "22mm"), path, "print.margins.bottom"),
            margin_inside=_length(margins.str("inside", "22mm"), path, "print.margins.inside"),
            margin_outside=_length(margins.str("outside", "18mm"), path, "print.margins.outside"),
            crop_marks=printing.bool("crop_marks", False),
            variant=printing.choice("variant", "rgb", ("rgb", "pdfx")),
            font_size=_length(printing.str("font_size", "10.5pt"), path, "print.font_size"),
            serif_font=printing.str("serif_font", "Noto Serif CJK SC"),
            sans_font=printing.str("sans_font", "Noto Sans CJK SC"),
            parallel=printing.choice("parallel", "auto", ("auto", "on", "off"))),
        epub=EpubSettings(cover=(root / cover) if cover else None,
                          accessibility_summary=epub.str("accessibility_summary", "") or ""),
    )
