"""What long runs say while they work: a progress bar in a terminal, plain lines otherwise (CI)."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class Reporter:
    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.interactive = self.stream.isatty()
        self._started = time.perf_counter()

    def say(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self._started
            print(f"[{elapsed:5.1f}s] {message}", file=self.stream, flush=True)

    @contextmanager
    def bar(self, description: str, total: int):
        """Yields advance(done, total): a rich bar on a TTY, a line per quarter otherwise."""
        if self.quiet or total <= 0:
            yield lambda done, total=total: None
            return
        if self.interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), transient=True) as progress:
                task = progress.add_task(description, total=total)
                yield lambda done, total=total: progress.update(task, completed=done, total=total)
            self.say(f"{description}: {total}/{total}")
            return
        reported = set()

        def advance(done, total=total):
            quarter = int(4 * done / max(total, 1))
            if quarter not in reported and (quarter or done == total):
                reported.add(quarter)
                self.say(f"{description}: {done}/{total}")
        yield advance
