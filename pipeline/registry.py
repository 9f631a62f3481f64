"""The registry of what the book is about (manuscript/data/*.yaml): the slugs front matter may
refer to, and the entries of the book's index.

Each file maps a slug to a name, in one of two forms:

    openai: OpenAI                       # short: the name is also the index term
    zhipu:                               # long
      name: 智谱AI                       # what front matter's slug stands for
      index: 智谱AI                      # the index term (default: name); false keeps it out
      aliases: [Zhipu AI, 智谱华章]       # other spellings the text uses (found as the name is)
      pinyin: zhi pu                     # sort key where pypinyin reads a character wrongly
      sub:                               # sub-entries, in either form (no deeper)
        glm-4: {name: GLM-4, aliases: [GLM4]}

A concept (concepts.yaml) may also have `en:` (its English name) and `definition:` (one
sentence): the glossary prints them (pipeline/glossary.py).

Every problem of every file is reported (file, line, what to write), not only the first.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import read_yaml_mapping
from pipeline.diagnostics import Diagnostics
from pipeline.errors import PipelineError

# front-matter key -> registry file
REGISTRY_FILES = {
    "key_events": "events.yaml",
    "key_organizations": "organizations.yaml",
    "technical_concepts": "concepts.yaml",
}
# files with index entries only (no front-matter key refers to them)
INDEX_ONLY_FILES = ("people.yaml",)
ENTRY_KEYS = ("name", "index", "aliases", "pinyin", "sub", "en", "definition")


@dataclass(frozen=True)
class Entry:
    slug: str               # "zhipu", a sub-entry "zhipu/glm-4"
    name: str
    term: str | None        # the index term; None: not in the index
    aliases: tuple[str, ...] = ()
    pinyin: str | None = None
    sub: tuple["Entry", ...] = ()
    source: Path | None = None
    line: int | None = None
    en: str | None = None
    definition: str | None = None

    @property
    def spellings(self) -> tuple[str, ...]:
        """What the text may call it: the term, the name when it is a plain word, the aliases."""
        found = [self.term or ""] + ([self.name] if not re.search(r"[（(]", self.name) else []) + list(self.aliases)
        return tuple(dict.fromkeys(s for s in found if s.strip()))


@dataclass(frozen=True)
class Registry:
    entries: dict[str, dict[str, str]]   # front-matter key -> {slug: name}
    index_entries: tuple[Entry, ...] = field(default=())

    def suggest(self, key: str, slug: str) -> str | None:
        matches = difflib.get_close_matches(slug, list(self.entries.get(key, {})), n=1, cutoff=0.6)
        return matches[0] if matches else None

    def knows(self, key: str, slug: str) -> bool:
        return key not in self.entries or slug in self.entries[key]

    def entry(self, slug: str) -> Entry | None:
        for entry in self.index_entries:
            if entry.slug == slug:
                return entry
            for sub in entry.sub:
                if sub.slug == slug:
                    return sub
        return None


def load_registry(folder: Path, diagnostics: Diagnostics | None = None) -> Registry:
    """Every registry file of the folder; malformed entries are reported and left out."""
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    entries: dict[str, dict[str, str]] = {}
    index_entries: list[Entry] = []
    files = [(key, name) for key, name in REGISTRY_FILES.items()] + [(None, name) for name in INDEX_ONLY_FILES]
    for key, name in files:
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = read_yaml_mapping(path, "Write one 'slug: name' per line, or 'slug:' with name, aliases, sub.")
        except PipelineError as exc:
            diagnostics.add("registry-entry", exc.what, path, exc.line, exc.hint)
            continue
        lines = _slug_lines(path)
        parsed = [_entry(str(slug), value, path, lines, diagnostics) for slug, value in data.items()]
        parsed = [entry for entry in parsed if entry is not None]
        if key is not None:
            entries[key] = {entry.slug: entry.name for entry in parsed}
        index_entries += parsed
    return Registry(entries, tuple(index_entries))


def _slug_lines(path: Path) -> dict[str, int]:
    """slug -> line of the file where it is defined (first one, any depth)."""
    found: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = re.match(r"\s*([^\s#:][^:]*?)\s*:", line)
        if match:
            found.setdefault(match.group(1).strip("'\""), number)
    return found


def _entry(slug: str, value, path: Path, lines: dict[str, int], diagnostics: Diagnostics,
           parent: str | None = None) -> Entry | None:
    line = lines.get(slug)
    full = f"{parent}/{slug}" if parent else slug

    def bad(message: str, hint: str) -> None:
        diagnostics.add("registry-entry", f"'{full}': {message}", path, line, hint)

    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return Entry(full, str(value), str(value), source=path, line=line)
    if not isinstance(value, dict):
        bad("is neither a name nor a mapping.", f"Write '{slug}: 名称', or '{slug}:' with 'name:' under it.")
        return None
    unknown = [k for k in value if k not in ENTRY_KEYS]
    if unknown:
        bad(f"unknown key(s) {', '.join(map(str, unknown))}.", f"Known keys: {', '.join(ENTRY_KEYS)}.")
    name = value.get("name")
    if not isinstance(name, (str, int, float)) or isinstance(name, bool) or not str(name).strip():
        bad("has no 'name'.", "Add 'name: …' (what front matter's slug stands for).")
        return None
    term = value.get("index", str(name))
    if term is False:
        term = None
    elif not isinstance(term, (str, int, float)) or isinstance(term, bool):
        bad("'index' must be a term or false.", "Write 'index: 索引词', or 'index: false' to keep it out.")
        term = str(name)
    aliases = value.get("aliases", [])
    if isinstance(aliases, str):
        aliases = [aliases]
    if not isinstance(aliases, list) or not all(isinstance(a, (str, int, float)) for a in aliases):
        bad("'aliases' must be a list of spellings.", "Write 'aliases: [别名, Other Name]'.")
        aliases = []
    pinyin = value.get("pinyin")
    if pinyin is not None and (not isinstance(pinyin, str) or not re.fullmatch(r"[a-zA-Z0-9 ]+", pinyin)):
        bad("'pinyin' must be Latin letters and spaces.", "Write e.g. 'pinyin: chong qing'.")
        pinyin = None
    sub: list[Entry] = []
    raw_sub = value.get("sub", {})
    if parent is not None and raw_sub:
        bad("a sub-entry cannot have sub-entries.", "Move them up to the entry itself.")
    elif not isinstance(raw_sub, dict):
        bad("'sub' must be a mapping of slug: name.", "Write 'sub:' with one 'slug: name' per line under it.")
    else:
        sub = [e for e in (_entry(str(k), v, path, lines, diagnostics, full) for k, v in raw_sub.items())
               if e is not None]
    texts = {}
    for key in ("en", "definition"):
        text = value.get(key)
        if text is not None and not isinstance(text, (str, int, float)):
            bad(f"'{key}' must be text.", f"Write '{key}: …' on one line.")
            text = None
        texts[key] = str(text) if text is not None else None
    return Entry(full, str(name), str(term) if term is not None else None, tuple(str(a) for a in aliases),
                 pinyin.lower() if pinyin else None, tuple(sub), path, line, texts["en"], texts["definition"])
