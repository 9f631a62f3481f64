"""The editors' status report: where every document stands, as a terminal table and as files."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline.check import CheckReport, status_of
from pipeline.documents import decode, parse_front_matter, split_front_matter
from pipeline.diagnostics import display_path
from pipeline.errors import PipelineError
from pipeline.fsutil import atomic_write_text
from pipeline.measure import measure
from pipeline.messages import catalogue
from pipeline.parse import parse_all

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass
class ReportedProblem:
    severity: str
    code: str
    line: int | None
    message: str          # English, as the terminal says it
    text: str             # in the book's language, as the report files say it


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
    problems: list[ReportedProblem] = field(default_factory=list)
    # from book.yaml's plan:
    target: int | None = None
    target_fraction: float | None = None
    owners: dict[str, str] = field(default_factory=dict)
    next_status: str | None = None     # the next status the plan gives a date for
    next_due: str | None = None
    days_late: int | None = None       # > 0: late by so many days; <= 0: due in -days_late days

    @property
    def late(self) -> bool:
        return self.days_late is not None and self.days_late > 0

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
    language: str
    generated: str
    rows: list[StatusRow]
    statuses: list[str]
    total_measured: int
    total_declared: int
    per_status: dict[str, int]
    percent_final: float
    errors: int
    warnings: int
    planned: bool = False
    target: int | None = None
    final_due: str | None = None
    history: dict | None = None

    @property
    def late_rows(self) -> list[StatusRow]:
        return sorted((r for r in self.rows if r.late), key=lambda r: -r.days_late)


def next_due(status: str, due: dict[str, dt.date], statuses: tuple[str, ...]) -> tuple[str, dt.date] | None:
    """The first status after `status` in the workflow that the plan dates; None once final."""
    position = statuses.index(status) if status in statuses else -1
    for later in statuses[position + 1:]:
        if later in due:
            return later, due[later]
    return None


def build_status(report: CheckReport, today: dt.date) -> StatusSummary:
    config = report.config
    statuses, plan = config.check.statuses, config.plan
    rows = []
    ordered = sorted(report.documents, key=lambda d: (d.document.kind != "chapter", d.number or 0, d.title))
    for d in ordered:
        declared, measured = d.declared_length, d.measurement.length
        difference = measured - declared if declared is not None else None
        updated = d.last_updated
        position = statuses.index(d.status) + 1 if d.status in statuses else 0
        own = plan.for_document(d.document.path.name, d.document.kind)
        upcoming = next_due(d.status, dict(own.due), statuses)
        rows.append(StatusRow(
            file=display_path(d.document.path), kind=d.document.kind, number=d.number, title=d.title,
            status=d.status, declared=declared, measured=measured, difference=difference,
            difference_pct=round(difference / declared * 100, 1) if declared else None,
            anecdotes_declared=d.declared_anecdotes, anecdotes_found=len(d.measurement.anecdotes),
            last_updated=updated.isoformat() if updated else None,
            days_since_update=(today - updated).days if updated else None,
            progress=position / len(statuses),
            problems=[_reported(p, config.language) for p in d.problems],
            target=own.target, target_fraction=round(measured / own.target, 3) if own.target else None,
            owners=dict(own.owners),
            next_status=upcoming[0] if upcoming else None,
            next_due=upcoming[1].isoformat() if upcoming else None,
            days_late=(today - upcoming[1]).days if upcoming else None))
    per_status = {s: sum(1 for r in rows if r.status == s) for s in statuses}
    for row in rows:
        if row.status not in per_status:
            per_status[row.status] = per_status.get(row.status, 0) + 1
    final = per_status.get(config.check.final_status, 0)
    final_due = dict(plan.due).get(config.check.final_status)
    return StatusSummary(
        title=config.title, language=config.language, generated=today.isoformat(), rows=rows,
        statuses=list(statuses), total_measured=sum(r.measured for r in rows),
        total_declared=sum(r.declared or 0 for r in rows),
        per_status=per_status, percent_final=round(100 * final / len(rows), 1) if rows else 0.0,
        errors=len(report.errors), warnings=len(report.warnings),
        planned=plan.exists, target=plan.target, final_due=final_due.isoformat() if final_due else None)


def _reported(problem, language: str) -> ReportedProblem:
    return ReportedProblem(problem.severity, problem.code, problem.line, problem.message,
                           catalogue(language).problem_line(problem))


def _short(problem: ReportedProblem) -> str:
    where = f"line {problem.line}: " if problem.line else ""
    return f"{problem.severity}: {where}{problem.message}"


# A document with many problems of one kind (31 pictures without alt text) gets one line for them
# in the report, with their lines, so that the table still shows what else is wrong; the terminal
# output of the command and status.json keep every problem.
GROUP_FROM = 4
SHOWN_LINES = 8


def problem_groups(problems: list[ReportedProblem]) -> list[list[ReportedProblem]]:
    """The problems by severity and code, in the order each kind first occurs; a kind with fewer
    than GROUP_FROM problems is one group a problem."""
    kinds: dict[tuple[str, str], list[ReportedProblem]] = {}
    for problem in problems:
        kinds.setdefault((problem.severity, problem.code), []).append(problem)
    groups = []
    for kind in kinds.values():
        groups += [kind] if len(kind) >= GROUP_FROM else [[problem] for problem in kind]
    return groups


def _line_numbers(group: list[ReportedProblem], separator: str) -> str:
    numbers = sorted({p.line for p in group if p.line})
    shown = separator.join(str(n) for n in numbers[:SHOWN_LINES])
    return shown + ("…" if len(numbers) > SHOWN_LINES else "")


def terminal_lines(problems: list[ReportedProblem]) -> list[str]:
    lines = []
    for group in problem_groups(problems):
        first = group[0]
        if len(group) == 1:
            lines.append(_short(first))
        else:
            where = f" on lines {_line_numbers(group, ', ')}" if any(p.line for p in group) else ""
            lines.append(f"{first.severity}: {len(group)} × {first.code}{where}, e.g. {first.message}")
    return lines


def report_lines(problems: list[ReportedProblem], L) -> list[str]:
    """The problems as the report files list them, in the book's language."""
    lines = []
    for group in problem_groups(problems):
        first = group[0]
        if len(group) == 1:
            lines.append(first.text)
            continue
        what = L.codes.get(first.code) or L.label("for_example", text=first.message)
        lines.append(L.label("problem_group", severity=L.severity.get(first.severity, first.severity),
                             count=len(group), lines=_line_numbers(group, L.label("list_separator")), text=what))
    return lines


# ------------------------------------------------------------------ the history, day by day

@dataclass(frozen=True)
class Day:
    date: dt.date
    length: int                   # the book's measured length at the day's last commit
    per_status: dict[str, int]


def daily(history: dict | None) -> list[Day]:
    """One point per day that has commits: the state at its last commit."""
    days: dict[str, dict] = {}
    for point in (history or {}).get("points", []):
        days[point["date"]] = point
    result = []
    for date, point in sorted(days.items()):
        counts: dict[str, int] = {}
        for status in point.get("statuses", {}).values():
            counts[status] = counts.get(status, 0) + 1
        result.append(Day(dt.date.fromisoformat(date), sum(point["lengths"].values()), counts))
    return result


# ------------------------------------------------------------------ the files

def _number(n: int | None) -> str:
    return "–" if n is None else str(n)


def _percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction:.0%}"


def _due_text(row: StatusRow, L) -> str:
    if row.next_due is None:
        return L.label("done") if row.progress >= 1 else "–"
    return f"{row.next_status} {row.next_due}"


def _late_text(row: StatusRow, L) -> str:
    if row.days_late is None:
        return "–"
    if row.days_late > 0:
        return L.label("late_days", days=row.days_late)
    return L.label("due_today") if row.days_late == 0 else L.label("due_in", days=-row.days_late)


def chapter_label(row: StatusRow, L) -> str:
    return L.label("chapter_label", number=row.number, title=row.title) if row.number is not None else row.title


def render_markdown(summary: StatusSummary) -> str:
    L = catalogue(summary.language)
    head = ["number", "title", "status"]
    head += ["owners", "target", "measured", "of_target", "next_due", "days_late"] if summary.planned else \
        ["declared", "measured", "difference"]
    head += ["anecdotes", "last_updated", "days", "problems"]
    numeric = {"target", "measured", "declared", "difference", "of_target", "days"}
    lines = [f"# {L.label('report_title', title=summary.title, date=summary.generated)}", ""]
    if summary.planned:
        lines += [f"## {L.label('late_heading')}", ""]
        lines += [f"- {L.label('late_item', label=chapter_label(r, L), date=r.next_due, status=r.next_status, days=r.days_late)}"
                  for r in summary.late_rows] or [L.label("nothing_late")]
        lines.append("")
    lines += ["| " + " | ".join(L.label(h) for h in head) + " |",
              "|" + "|".join("---:" if h in numeric else "---" for h in head) + "|"]
    for r in summary.rows:
        cells = {
            "number": _number(r.number), "title": r.title, "status": r.status,
            "owners": "、".join(f"{L.role(role)} {name}" for role, name in r.owners.items()) or "–",
            "target": _number(r.target), "measured": str(r.measured), "of_target": _percent(r.target_fraction),
            "next_due": _due_text(r, L), "days_late": _late_text(r, L),
            "declared": _number(r.declared), "difference": r.difference_text, "anecdotes": r.anecdotes_text,
            "last_updated": r.last_updated or "–", "days": _number(r.days_since_update),
            "problems": "<br>".join(report_lines(r.problems, L)) or L.label("none"),
        }
        title = cells["title"]
        cells["title"] = f"**{title}**" if r.late else title
        lines.append("| " + " | ".join(cells[h].replace("|", "\\|") for h in head) + " |")
    lines += ["", f"## {L.label('summary_heading')}", "", *(f"- {item}" for item in _summary_items(summary, L)), ""]
    if summary.history:
        lines += _history_markdown(summary.history, L)
    return "\n".join(lines)


def _summary_items(summary: StatusSummary, L) -> list[str]:
    items = [L.label("total", measured=summary.total_measured, declared=summary.total_declared)]
    if summary.target:
        items.append(L.label("total_target", target=summary.target, percent=summary.total_measured / summary.target))
    items += [L.label("per_status") + L.label("colon")
              + L.label("comma").join(f"{k} {v}" for k, v in summary.per_status.items()),
              L.label("final_share", percent=summary.percent_final),
              L.label("problem_count", errors=summary.errors, warnings=summary.warnings)]
    return items


def _history_markdown(history: dict, L) -> list[str]:
    files = history["files"]
    lines = [f"## {L.label('history_heading')}", "",
             f"| {L.label('commit')} | {L.label('date')} | " + " | ".join(files) + " |",
             "|---|---|" + "---:|" * len(files)]
    for point in history["points"]:
        values = " | ".join(str(point["lengths"].get(f, "–")) for f in files)
        lines.append(f"| {point['commit'][:8]} | {point['date']} | {values} |")
    return lines + [""]


def charts(summary: StatusSummary, days: list[Day]) -> dict[str, str]:
    """The report's pictures as inline SVG: burn-up and statuses from the history (by day), chapters
    against targets."""
    from pipeline import charts as draw

    L = catalogue(summary.language)
    pictures = {}
    number_format = _wan if L.language.startswith("zh") else (lambda n: f"{n:,}")
    if days:
        pictures["burnup"] = draw.burnup_chart(
            [(d.date, d.length) for d in days], summary.target,
            {"title": L.label("burnup_title"), "measured": L.label("burnup_series"), "target": L.label("burnup_target"),
             "due": L.label("burnup_due"), "empty": L.label("chart_empty")},
            due=dt.date.fromisoformat(summary.final_due) if summary.final_due else None, number_format=number_format)
        pictures["statuses"] = draw.status_stack_chart(
            [(d.date, d.per_status) for d in days], summary.statuses,
            {"title": L.label("stack_title"), "count": L.label("stack_count"), "empty": L.label("chart_empty")})
    if summary.planned:
        pictures["chapters"] = draw.chapter_bars_chart(
            [{"label": chapter_label(r, L), "measured": r.measured, "target": r.target, "late": r.late}
             for r in summary.rows],
            {"title": L.label("bars_title"), "measured": L.label("measured"), "target": L.label("target"),
             "late": L.label("bars_late"), "empty": L.label("chart_empty")}, number_format=number_format)
    return pictures


def _wan(n: int) -> str:
    """Chinese editors count long lengths in 万 (10,000)."""
    if n == 0 or n % 10000:
        return f"{n / 10000:.1f}万" if n >= 10000 else f"{n:,}"
    return f"{n // 10000}万"


def render_html(summary: StatusSummary) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    L = catalogue(summary.language)
    days = daily(summary.history)
    return env.get_template("status.html.j2").render(
        s=summary, L=L, charts=charts(summary, days), summary_items=_summary_items(summary, L),
        chapter_label=lambda r: chapter_label(r, L), due_text=lambda r: _due_text(r, L),
        late_text=lambda r: _late_text(r, L), percent=_percent, days=days,
        problem_lines=lambda r: report_lines(r.problems, L))


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
    """The terminal's table, in English like the rest of the CLI."""
    from rich.markup import escape
    from rich.table import Table

    from pipeline.charts import bar, sparkline

    table = Table(title=f"{summary.title}: status on {summary.generated}", show_lines=False)
    columns = [("#", "right"), ("Title", "left"), ("Status", "left")]
    columns += [("Target", "right"), ("Measured", "right"), ("Done", "left"), ("Next due", "left"),
                ("Late", "right")] if summary.planned else \
        [("Declared", "right"), ("Measured", "right"), ("Diff", "right")]
    columns += [("💡", "right"), ("Updated", "left"), ("Days", "right"), ("Problems", "left")]
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")
    for r in summary.rows:
        title = f"[bold red]{r.title}[/]" if r.late else r.title
        if summary.planned:
            done = f"{bar(r.target_fraction, 10)} {_percent(r.target_fraction)}" if r.target_fraction is not None else "–"
            middle = [_number(r.target), str(r.measured), done,
                      f"{r.next_status} {r.next_due}" if r.next_due else "–",
                      (f"[red]{r.days_late}[/]" if r.late else "–")]
        else:
            middle = [_number(r.declared), str(r.measured), r.difference_text]
        table.add_row(_number(r.number), title, r.status, *middle, r.anecdotes_text, r.last_updated or "–",
                      _number(r.days_since_update), escape("\n".join(terminal_lines(r.problems))) or "none")
    console.print(table)
    per_status = ", ".join(f"{k} {v}" for k, v in summary.per_status.items() if v)
    target = f" of a {summary.target} target ({summary.total_measured / summary.target:.0%})" if summary.target else ""
    console.print(f"Total measured length {summary.total_measured}{target} (declared {summary.total_declared}); "
                  f"{per_status}; {summary.percent_final:.1f}% final; "
                  f"{summary.errors} error(s), {summary.warnings} warning(s).")
    if summary.late_rows:
        console.print(f"[red]Late: {len(summary.late_rows)}[/] — " + "; ".join(
            f"{r.title} ({r.next_status} due {r.next_due}, {r.days_late} d)" for r in summary.late_rows))
    if summary.history:
        days = daily(summary.history)
        console.print(f"History: {len(summary.history['points'])} commit(s) of the manuscript measured; "
                      f"length per day {sparkline([d.length for d in days], 30)} "
                      f"{days[0].length if days else 0} → {days[-1].length if days else 0}.")


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


def measure_history(manuscript: Path, documents: list[tuple[Path, str]], cache_dir: Path) -> dict:
    """Measured length and status of each document (path, kind) at every commit that touched the manuscript."""
    top = Path(_git(manuscript, "rev-parse", "--show-toplevel").strip())
    relative = {path: path.resolve().relative_to(top).as_posix() for path, _ in documents}
    kinds = dict(documents)
    log = _git(top, "log", "--reverse", "--format=%H %cs", "--", manuscript.resolve().relative_to(top).as_posix())
    commits = [line.split() for line in log.splitlines()]
    versions = _old_versions(top, [f"{commit}:{rel}" for commit, _ in commits for rel in relative.values()])
    found = []        # (point, file name, body, body line, meta)
    points = []
    for commit, date in commits:
        point = {"commit": commit, "date": date, "lengths": {}, "statuses": {}}
        points.append(point)
        for path, rel in relative.items():
            raw = versions.get(f"{commit}:{rel}")
            if raw is None:
                continue       # not there yet at this commit
            try:
                front, body, body_line = split_front_matter(decode(raw, path), path)
                meta, _lines = parse_front_matter(front, path)
            except PipelineError:
                continue       # unreadable then
            found.append((point, path, body, body_line, meta))
    # Only the versions the cache has not seen go to pandoc, in parallel.
    trees = parse_all([(body, line) for _, _, body, line, _ in found], cache_dir / "pandoc")
    for (point, path, _, _, meta), tree in zip(found, trees):
        point["lengths"][path.name] = measure(tree).length
        point["statuses"][path.name] = status_of(meta, kinds[path])
    return {"files": [path.name for path, _ in documents], "points": points}


def _old_versions(top: Path, objects: list[str]) -> dict[str, bytes]:
    """`commit:path` -> the file's bytes then, read through one `git cat-file --batch` (missing ones left out)."""
    if not objects:
        return {}
    result = subprocess.run(["git", "-C", str(top), "cat-file", "--batch"], input="\n".join(objects).encode() + b"\n",
                            capture_output=True, check=True).stdout
    versions, at = {}, 0
    for name in objects:
        end = result.index(b"\n", at)
        header = result[at:end].split()
        at = end + 1
        if header[-1] == b"missing":
            continue
        size = int(header[2])
        versions[name] = result[at:at + size]
        at += size + 1
    return versions
