"""Content-addressed cache entries that a crash cannot leave half-written.

An entry is written to a temporary file and renamed into place, and carries the length
and SHA-256 of its payload in a first line; a read that does not match is a miss (the
entry is removed and rebuilt), so a truncated file never reaches a book.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from pipeline.fsutil import atomic_write_bytes

MAGIC = b"bookcache1"


def key_of(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def read_entry(path: Path) -> bytes | None:
    """The payload of a complete, intact entry; None (and the entry gone) otherwise."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header, newline, payload = data.partition(b"\n")
    fields = header.split(b" ")
    if (newline and len(fields) == 3 and fields[0] == MAGIC and fields[1] == str(len(payload)).encode()
            and fields[2] == hashlib.sha256(payload).hexdigest().encode()):
        return payload
    path.unlink(missing_ok=True)
    return None


def write_entry(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"%s %d %s\n" % (MAGIC, len(payload), hashlib.sha256(payload).hexdigest().encode())
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(header + payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plain_copy(path: Path, payload: bytes) -> Path:
    """The payload as a plain file at path, for a reader that takes a file: URL (WeasyPrint) where
    an entry's header would be in the way; written only when it is missing or differs."""
    if not path.is_file() or path.read_bytes() != payload:
        atomic_write_bytes(path, payload)
    return path


class Memo:
    """Results of a pure step kept in memory, for a process that builds the same book again and
    again (the preview): a document that did not change is not parsed again. Off until
    keep_in_memory(), so a one-shot build pays nothing for it. Callers change what they get, so
    they always get a copy, never the kept value."""

    LIMIT = 256         # entries: an edited document adds one each save; a chapter's tree is ~250 KB

    def __init__(self, copy):
        self.copy = copy
        self.entries: dict = {}

    def get(self, key, make):
        if not _keeping:
            return make()
        if key in self.entries:
            self.entries[key] = self.entries.pop(key)     # most recently used goes last
        else:
            self.entries[key] = make()
            while len(self.entries) > self.LIMIT:
                del self.entries[next(iter(self.entries))]
        return self.copy(self.entries[key])


_keeping = False


def keep_in_memory() -> None:
    global _keeping
    _keeping = True
