"""Writing outputs so that an interrupted or failed build never leaves half a file, and two
builds never mix their outputs.

- Every output is written to a temporary file beside it and renamed into place.
- A build holds a lock on its output folder; a second build into the same folder is refused
  with the first one's process id, not interleaved with it.
- Outputs of one command are staged and published together: `all` replaces book.epub and
  book.pdf only once both are complete.
- Temporary files of a build that was killed are swept at the next build's start.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import shutil
import tempfile
from pathlib import Path

from pipeline.errors import PipelineError

LOCK_NAME = ".build.lock"
STAGING_PREFIX = ".staging-"
TEMP_PATTERNS = (".*.part", ".pdfpar-*", f"{STAGING_PREFIX}*")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: Path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds.
    The file gets the mode an ordinary new file would (mkstemp makes 0600; a book is for sharing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def save_pdf(pdf, path: Path, **options) -> None:
    """pikepdf's pdf.save(path, **options), the file written by Python: pikepdf writing a file
    itself aborted the whole process (std::terminate on QPDFSystemError) when the disk filled up,
    where Python's OSError ends the build with a message."""
    written = io.BytesIO()
    pdf.save(written, **options)
    atomic_write_bytes(Path(path), written.getvalue())


def prepare_output_folder(out_dir: Path) -> Path:
    """The output folder, created if need be, with a message (not a traceback) when it cannot be."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PipelineError("--out names a file, not a folder.", file=out_dir,
                            hint="Give --out a folder (it is created if missing), e.g. --out build.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PipelineError(f"the output folder cannot be created: {error.strerror}.", file=out_dir,
                            hint="Choose a folder you can write to with --out.") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PipelineError("the output folder is not writable.", file=out_dir,
                            hint="Choose a folder you can write to with --out, or fix its permissions.")
    return out_dir


@contextlib.contextmanager
def build_lock(out_dir: Path):
    """Hold the output folder for this build; sweep what killed builds left behind."""
    out_dir = prepare_output_folder(out_dir)
    lock_path = out_dir / LOCK_NAME
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise PipelineError(f"another build is writing to this folder (process {owner}).", file=out_dir,
                                hint="Wait for it to finish, or build into another folder with --out.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        sweep(out_dir)
        yield out_dir
    finally:
        handle.close()


def sweep(out_dir: Path) -> list[Path]:
    """Remove temporary files and folders of earlier builds (only called with the lock held)."""
    removed = []
    for folder in (out_dir, *(p for p in out_dir.glob("cache/*") if p.is_dir()), out_dir / "cache"):
        for pattern in TEMP_PATTERNS:
            for path in folder.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


class Staging:
    """Outputs written under a staging folder and published together, or not at all."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out_dir))
        self.names: list[str] = []

    def path(self, name: str) -> Path:
        self.names.append(name)
        return self.folder / name

    def publish(self) -> list[Path]:
        published = []
        for name in self.names:
            staged = self.folder / name
            if staged.exists():
                os.replace(staged, self.out_dir / name)
                published.append(self.out_dir / name)
        return published

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def staged_outputs(out_dir: Path):
    staging = Staging(out_dir)
    try:
        yield staging
        staging.publish()
    finally:
        staging.discard()
