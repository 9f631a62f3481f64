"""The editors' status report: where every document stands, as a terminal table and as files."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline.check import CheckReport
from pipeline.documents import decode, split_front_matter
from pipeline.diagnostics import display_path
from pipeline.errors import PipelineError
from pipeline.fsutil import atomic_write_text
from pipeline.measure import measure
from pipeline.parse import markdown_tree

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass
class StatusRow:
    file: str
    kind: str
    number: int | None
    title: str
    status: str
    declared: int | None
    measured: int
    difference: int | None
    difference_pct: float | None
    anecdotes_declared: int | None
    anecdotes_found: int
    last_updated: str | None
    days_since_update: int | None
    progress: float               # 0..1: position in the workflow
    problems: list[str] = field(default_factory=list)

    @property
    def difference_text(self) -> str:
        return f"{self.difference:+d} ({self.difference_pct:+.1f}%)" if self.difference is not None else "–"

    @property
    def anecdotes_text(self) -> str:
        if self.anecdotes_declared is None:
            return str(self.anecdotes_found)
        return f"{self.anecdotes_found}/{self.anecdotes_declared}"


@dataclass
class StatusSummary:
    title: str
    generated: str
    rows: list[StatusRow]
    total_measured: int
    total_declared: int
    per_status: dict[str, int]
    percent_final: float
    errors: int
    warnings: int
    history: dict | None = None


def build_status(report: CheckReport, today: dt.date) -> StatusSummary:
    statuses = report.config.check.statuses
    rows = []
    ordered = sorted(report.documents, key=lambda d: (d.document.kind != "chapter", d.number or 0, d.title))
    for d in ordered:
        declared, measured = d.declared_length, d.measurement.length
        difference = measured - declared if declared is not None else None
        updated = d.last_updated
        position = statuses.index(d.status) + 1 if d.status in statuses else 0
        rows.append(StatusRow(
            file=display_path(d.document.path), kind=d.document.kind, number=d.number, title=d.title,
            status=d.status, declared=declared, measured=measured, difference=difference,
            difference_pct=round(difference / declared * 100, 1) if declared else None,
            anecdotes_declared=d.declared_anecdotes, anecdotes_found=len(d.measurement.anecdotes),
            last_updated=updated.isoformat() if updated else None,
            days_since_update=(today - updated).days if updated else None,
            progress=position / len(statuses),
            problems=[_short(p) for p in d.problems]))
    per_status = {s: sum(1 for r in rows if r.status == s) for s in statuses}
    for row in rows:
        if row.status not in per_status:
            per_status[row.status] = per_status.get(row.status, 0) + 1
    final = per_status.get(report.config.check.final_status, 0)
    return StatusSummary(
        title=report.config.title, generated=today.isoformat(), rows=rows,
        total_measured=sum(r.measured for r in rows), total_declared=sum(r.declared or 0 for r in rows),
        per_status=per_status, percent_final=round(100 * final / len(rows), 1) if rows else 0.0,
        errors=len(report.errors), warnings=len(report.warnings))


def _short(problem) -> str:
    where = f"line {problem.line}: " if problem.line else ""
    return f"{problem.severity}: {where}{problem.message}"


def render_markdown(summary: StatusSummary) -> str:
    lines = [f"# {summary.title}: status on {summary.generated}", "",
             "| # | Title | Status | Declared | Measured | Diff | Anecdotes | Last updated | Days | Problems |",
             "|---|---|---|---:|---:|---:|---|---|---:|---|"]
    for r in summary.rows:
        problems = "<br>".join(r.problems) or "none"
        lines.append(f"| {r.number if r.number is not None else '–'} | {r.title} | {r.status} | "
                     f"{r.declared if r.declared is not None else '–'} | {r.measured} | {r.difference_text} | {r.anecdotes_text} | "
                     f"{r.last_updated or '–'} | {r.days_since_update if r.days_since_update is not None else '–'} | {problems} |")
    per_status = ", ".join(f"{k}: {v}" for k, v in summary.per_status.items())
    lines += ["", f"**Total measured length:** {summary.total_measured} (declared {summary.total_declared})  ",
              f"**Documents per status:** {per_status}  ",
              f"**Final:** {summary.percent_final:.1f}%  ",
              f"**Problems:** {summary.errors} error(s), {summary.warnings} warning(s)", ""]
    if summary.history:
        lines += _history_markdown(summary.history)
    return "\n".join(lines)


def _history_markdown(history: dict) -> list[str]:
    files = history["files"]
    lines = ["## Measured length over time", "", "| Commit | Date | " + " | ".join(files) + " |",
             "|---|---|" + "---:|" * len(files)]
    for point in history["points"]:
        values = " | ".join(str(point["lengths"].get(f, "–")) for f in files)
        lines.append(f"| {point['commit'][:8]} | {point['date']} | {values} |")
    return lines + [""]


def render_html(summary: StatusSummary) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("status.html.j2").render(s=summary)


def write_status_files(summary: StatusSummary, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {
        out_dir / "status.md": render_markdown(summary),
        out_dir / "status.json": json.dumps(asdict(summary), ensure_ascii=False, indent=2) + "\n",
        out_dir / "status.html": render_html(summary),
    }
    for path, text in outputs.items():
        atomic_write_text(path, text)
    return list(outputs)


def print_table(summary: StatusSummary, console) -> None:
    from rich.table import Table

    table = Table(title=f"{summary.title}: status on {summary.generated}", show_lines=False)
    for name, justify in (("#", "right"), ("Title", "left"), ("Status", "left"), ("Declared", "right"),
                          ("Measured", "right"), ("Diff", "right"), ("💡", "right"), ("Updated", "left"),
                          ("Days", "right"), ("Problems", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    for r in summary.rows:
        table.add_row(str(r.number) if r.number is not None else "–", r.title, r.status,
                      str(r.declared) if r.declared is not None else "–", str(r.measured), r.difference_text,
                      r.anecdotes_text,
                      r.last_updated or "–", str(r.days_since_update) if r.days_since_update is not None else "–",
                      "\n".join(r.problems) if r.problems else "none")
    console.print(table)
    per_status = ", ".join(f"{k} {v}" for k, v in summary.per_status.items() if v)
    console.print(f"Total measured length {summary.total_measured} (declared {summary.total_declared}); "
                  f"{per_status}; {summary.percent_final:.1f}% final; "
                  f"{summary.errors} error(s), {summary.warnings} warning(s).")
    if summary.history:
        console.print(f"History: {len(summary.history['points'])} commit(s) of the manuscript measured.")


def _git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                              text=True, encoding="utf-8").stdout
    except FileNotFoundError:
        raise PipelineError("git is not installed, so --history cannot read the manuscript's history.",
                            hint="Install git (apt-get install git).") from None
    except subprocess.CalledProcessError as exc:
        raise PipelineError(f"git could not read the history: {exc.stderr.strip()}", file=repo,
                            hint="--history needs the manuscript inside a git repository.") from None


def measure_history(manuscript: Path, files: list[Path], cache_dir: Path) -> dict:
    """Measured length of each document at every commit that touched the manuscript."""
    top = Path(_git(manuscript, "rev-parse", "--show-toplevel").strip())
    relative = {f: f.resolve().relative_to(top).as_posix() for f in files}
    log = _git(top, "log", "--reverse", "--format=%H %cs", "--", manuscript.resolve().relative_to(top).as_posix())
    points = []
    for line in log.splitlines():
        commit, date = line.split()
        lengths = {}
        for path, rel in relative.items():
            try:
                raw = subprocess.run(["git", "-C", str(top), "show", f"{commit}:{rel}"], check=True,
                                     capture_output=True).stdout
                _, body, body_line = split_front_matter(decode(raw, path), path)
            except (subprocess.CalledProcessError, PipelineError):
                continue   # not there yet at this commit, or unreadable then
            lengths[path.name] = measure(markdown_tree(body, body_line, cache_dir / "pandoc")).length
        points.append({"commit": commit, "date": date, "lengths": lengths})
    return {"files": [f.name for f in files], "points": points}
