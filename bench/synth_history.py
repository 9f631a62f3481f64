"""A git history for a generated book, so the status report has something to chart.

Copies a manuscript (e.g. build/bench/manuscript from bench/synth.py) into OUT, a new git
repository, and commits it in COMMITS steps over the weeks before today: chapters arrive in
order, each grows over a few commits from a first paragraph to its full text, and its status
moves from draft to review to final as it does. A `plan:` is added to book.yaml with a
target of the full book's length, so the burn-up has a line to grow towards.

    python bench/synth_history.py build/bench/manuscript build/bench/history [--commits 20]
    python -m pipeline status --manuscript build/bench/history/manuscript --out build/bench/out-history --history
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import measured_length  # noqa: E402

STEPS_TO_FULL = 4          # commits a chapter takes from its first paragraph to its full text


def _git(repo: Path, *args: str, date: dt.datetime | None = None) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.org"}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date.isoformat()
    subprocess.run(["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args], check=True,
                   capture_output=True, env=env)


def _split(text: str) -> tuple[str, str]:
    """(front matter with its fences, body)."""
    end = text.index("\n---", 4) + len("\n---\n")
    return text[:end], text[end:]


def _partial(body: str, fraction: float) -> str:
    """The body's first paragraphs, about `fraction` of it (code fences kept whole)."""
    if fraction >= 1:
        return body
    blocks = re.split(r"\n{2,}", body)
    keep = max(1, math.ceil(len(blocks) * fraction))
    text = "\n\n".join(blocks[:keep])
    return text + "\n```\n" if text.count("```") % 2 else text + "\n"


def _with_status(front: str, status: str) -> str:
    return re.sub(r"^status: .*$", f"status: {status}", front, count=1, flags=re.M)


def generate(source: Path, out: Path, commits: int, days_between: int = 3) -> Path:
    if out.exists():
        shutil.rmtree(out)
    manuscript = out / "manuscript"
    shutil.copytree(source, manuscript)
    chapters = sorted(p for p in manuscript.glob("*.txt"))
    full = {p: p.read_text(encoding="utf-8") for p in chapters}
    target = sum(measured_length(_split(text)[1]) for text in full.values())
    with (manuscript / "book.yaml").open("a", encoding="utf-8") as handle:
        handle.write(f"\nplan:\n  target: {target}\n  chapter_target: {round(target / len(chapters), -2):.0f}\n  due: {{draft: {dt.date.today() - dt.timedelta(days=10)}, "
                     f"final: {dt.date.today() + dt.timedelta(days=45)}}}\n"
                     "  owners: {author: 合成作者, editor: 合成编辑}\n")
    _git(out, "init", "-q")
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=days_between * commits)
    # chapters start in order so that the last one is full at the last commit
    starts = {p: int(i * max(1, commits - STEPS_TO_FULL) / len(chapters)) for i, p in enumerate(chapters)}
    for step in range(commits):
        for path in chapters:
            age = step - starts[path]
            if age < 0:
                path.unlink(missing_ok=True)
                continue
            front, body = _split(full[path])
            fraction = min(1.0, (age + 1) / STEPS_TO_FULL)
            status = "draft" if fraction < 1 else ("final" if age >= STEPS_TO_FULL + 3 else "review")
            path.write_text(_with_status(front, status) + _partial(body, fraction), encoding="utf-8")
        _git(out, "add", "-A")
        _git(out, "commit", "-qm", f"step {step + 1}", date=start + dt.timedelta(days=days_between * step))
    return manuscript


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a manuscript folder (book.yaml and *.txt chapters)")
    parser.add_argument("out", type=Path, help="folder to write: a git repository holding manuscript/")
    parser.add_argument("--commits", type=int, default=20)
    args = parser.parse_args(argv)
    manuscript = generate(args.source, args.out, args.commits)
    print(f"wrote {manuscript} with {args.commits} commits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
