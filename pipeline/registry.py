"""The registry of slugs that front matter may refer to (manuscript/data/*.yaml)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import read_yaml_mapping

# front-matter key -> registry file
REGISTRY_FILES = {
    "key_events": "events.yaml",
    "key_organizations": "organizations.yaml",
    "technical_concepts": "concepts.yaml",
}


@dataclass(frozen=True)
class Registry:
    entries: dict[str, dict[str, str]]   # front-matter key -> {slug: name}

    def suggest(self, key: str, slug: str) -> str | None:
        matches = difflib.get_close_matches(slug, list(self.entries.get(key, {})), n=1, cutoff=0.6)
        return matches[0] if matches else None

    def knows(self, key: str, slug: str) -> bool:
        return key not in self.entries or slug in self.entries[key]


def load_registry(folder: Path) -> Registry:
    entries = {}
    for key, name in REGISTRY_FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        data = read_yaml_mapping(path, "Write one 'slug: name' per line.")
        entries[key] = {str(k): str(v) for k, v in data.items()}
    return Registry(entries)
