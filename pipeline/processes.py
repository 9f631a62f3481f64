"""The node helpers that drive Chromium (diagrams, math): reading their output, ending them."""
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
