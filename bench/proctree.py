"""Memory of a whole process tree, read from /proc: what the benchmarks report as peak memory.

Chromium spreads its memory over several processes, so one process's peak undercounts a render.
"""
from __future__ import annotations

import os


def tree(root_pid: int) -> list[int]:
    """The process and all its descendants (Chromium is detached by puppeteer but is still node's child)."""
    found, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; VmRSS from status when smaps_rollup is not readable."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    values[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0
    except PermissionError:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                        return rss, rss
        except OSError:
            pass
        return 0, 0
    return values.get("Rss", 0), values.get("Pss", values.get("Rss", 0))


PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def rss_kb(pid: int) -> int:
    """RSS of one process in kB from /proc/<pid>/statm: a counter read, where smaps_rollup walks the
    page tables (sampled every 50 ms over three 600 MB processes, that walk slowed a 35 s build by 3 s)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_KB
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return 0


def _cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return None


def not_yet_exec(pid: int) -> bool:
    """A child that is still its parent's image: forked (or vforked) and not yet exec'd, as when
    subprocess starts a program. Its pages are its parent's (a vfork child shares the very address
    space), so its RSS, and its PSS, count them a second time: 239 MB of a build's 1.56 GB peak
    was the parent counted twice while it started gcc to find a library."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return False
    mine = _cmdline(pid)
    return mine is not None and mine == _cmdline(parent)
