"""Child processes: the node helpers that drive Chromium (diagrams, math), reading their output and
ending them; and what a process gives back to the system between stages."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Callable


def pump(stream, put: Callable[[str | None], None]) -> None:
    """Hand every line of a stream to `put` (from a thread), then None at its end."""
    for line in stream:
        put(line)
    put(None)


def stop(process: subprocess.Popen, browser_pid: int | None = None, wait: float = 10) -> None:
    """Ends node and the browser it started. Normally node has closed Chromium and exited;
    after a hang (or when the build is interrupted) both are killed. puppeteer starts Chromium
    in its own process group, and a browser hung in its start has not told us its pid yet, so
    every descendant of node is found in /proc and killed with the groups."""
    if process.poll() is not None:
        return
    try:
        process.wait(timeout=wait)
        return
    except subprocess.TimeoutExpired:
        pass
    doomed = descendants(process.pid)
    for group in (process.pid, browser_pid):
        if group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def descendants(root: int) -> list[int]:
    """Every process below `root`, from /proc (no dependency for one loop)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue_ = [], [root]
    while queue_:
        for child in children.get(queue_.pop(), []):
            found.append(child)
            queue_.append(child)
    return found


def return_memory() -> None:
    """Give the heap a stage freed back to the system. The benchmarks count a build's memory as
    the peak of its whole process tree, and glibc keeps freed heap in the process: the EPUB's font
    subsetting left 400 MB in the parent, a layout worker that has written its piece 300 MB, all
    counted again while the next stage's processes run."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass       # not glibc: the memory stays with the process, as before
