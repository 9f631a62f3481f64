"""The build benchmark (`make bench`): a synthetic 30-chapter, 40-diagram book, timed scenario by scenario.

    .venv/bin/python bench/run.py [--chapters 30] [--diagrams 40] [--seed 1] [--quick] [--json PATH]

Generates the book with bench/synth.py into build/bench/manuscript, then runs each scenario as
a whole process (subprocess, wall time from start to exit, so interpreter start-up and imports
count, as they do for a user) and prints a table; build/bench.json keeps every figure
(--quick: build/bench-quick.json). See bench/README.md for what each scenario means.

Memory: the parent polls /proc every 50 ms and sums RSS (and PSS) over the process and all its
descendants (python, pandoc, node, every Chromium process). getrusage(RUSAGE_CHILDREN) cannot
do this: its ru_maxrss is the peak of the single largest process, not of the tree at one
moment, and Chromium spreads its memory over several processes. That single-process peak
(from wait4) is kept too, as it also catches spikes shorter than the polling interval.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "build" / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import synth  # noqa: E402
from proctree import memory_kb, not_yet_exec, rss_kb, tree  # noqa: E402

PY = sys.executable
POLL_S = 0.05
PSS_EVERY = 20          # samples: PSS about once a second
HEARTBEAT_S = 15.0
STAGE_LINE = re.compile(r"^\[\s*(?P<t>\d+(?:\.\d+)?)s\] (?P<msg>.*)$")
CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")

# Targets from issue #6: scenario id -> (description, check on (result, results by id)).
MEMORY_LIMIT_MB = 1536


@dataclass
class Result:
    id: str
    label: str
    command: list[str]
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0          # sum over the process tree, peak over the run
    peak_pss_mb: float = 0.0          # same with PSS (shared pages split between processes)
    max_single_rss_mb: float = 0.0    # ru_maxrss from wait4: largest single process of the tree
    cpu_s: float = 0.0                # user + system time of the process and its waited-for children (wait4)
    processes: int = 0                # most processes seen at once in the tree
    returncode: int | None = None
    stages: dict[str, float] = field(default_factory=dict)
    stage_lines: list[tuple[float, str]] = field(default_factory=list)
    log: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# ----------------------------------------------------------------------------- measuring

def run(id_: str, label: str, command: list[str], *, echo: bool = True) -> Result:
    """Run one scenario as a process; wall time, peak tree memory, and the stage lines it prints."""
    result = Result(id_, label, [str(c) for c in command])
    log_path = BENCH / "logs" / f"{id_}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    result.log = str(log_path.relative_to(ROOT))
    print(f"  > {label}: {' '.join(_short(c) for c in result.command)}", flush=True)
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(result.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        peak_rss = peak_pss = most = samples = 0
        shown, next_beat = 0, started + HEARTBEAT_S
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            pids = [p for p in tree(process.pid) if p == process.pid or not not_yet_exec(p)]
            most = max(most, len(pids))
            rss = sum(rss_kb(p) for p in pids)
            peak_rss = max(peak_rss, rss)
            samples += 1
            if samples % PSS_EVERY == 1:     # PSS walks the page tables: read it less often
                peak_pss = max(peak_pss, sum(memory_kb(p)[1] for p in pids))
            sizes = pids
            if echo:
                shown = _echo_new_lines(log_path, shown)
            now = time.perf_counter()
            if now >= next_beat:
                print(f"      … {now - started:5.0f} s, {rss / 1024:6.0f} MB in {len(sizes)} process(es)", flush=True)
                next_beat = now + HEARTBEAT_S
            time.sleep(POLL_S)
        result.wall_s = time.perf_counter() - started
    process.returncode = result.returncode = os.waitstatus_to_exitcode(status)
    if echo:
        _echo_new_lines(log_path, shown)
    result.peak_rss_mb, result.peak_pss_mb = peak_rss / 1024, peak_pss / 1024
    result.max_single_rss_mb = usage.ru_maxrss / 1024
    result.cpu_s = usage.ru_utime + usage.ru_stime
    result.processes = most
    text = log_path.read_text(encoding="utf-8", errors="replace")
    result.stage_lines = [(float(m["t"]), m["msg"]) for m in map(STAGE_LINE.match, text.splitlines()) if m]
    result.stages = stage_split(result.stage_lines, result.wall_s)
    status_text = "ok" if result.ok else f"FAILED (exit {result.returncode}); see {result.log}"
    cpu = f"{100 * result.cpu_s / result.wall_s:4.0f} % CPU" if result.wall_s else ""
    print(f"    {result.wall_s:8.2f} s  {result.peak_rss_mb:7.0f} MB  {cpu}  {status_text}", flush=True)
    if not result.ok:
        for line in text.splitlines()[-8:]:
            print(f"      | {line}")
    return result


def _short(arg: str) -> str:
    try:
        return str(Path(arg).relative_to(ROOT)) if arg.startswith(str(ROOT)) else arg
    except ValueError:
        return arg


def _echo_new_lines(path: Path, shown: int) -> int:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    complete = lines if path.stat().st_size and path.read_bytes().endswith(b"\n") else lines[:-1]
    for line in complete[shown:]:
        print(f"      | {line}", flush=True)
    return max(shown, len(complete))


# ----------------------------------------------------------------------------- stage split

def _stage_of(previous: str, message: str) -> str | None:
    """The stage that a '[ t s] message' line ends, from the messages the CLI prints (cli.py, build.py)."""
    if message.startswith("rendering ") or message.startswith("checked "):
        return "read + check"
    if message.startswith("diagrams:") or "diagram(s) ready" in message:
        return "diagrams"
    if message.startswith("converting "):
        return "diagrams" if previous.startswith(("rendering", "diagrams:")) else "read + check"
    if message.startswith("writing the EPUB") or (message.startswith("wrote") and message.endswith(".epub")):
        # pandoc runs per document before the EPUB writer starts; no line marks the switch
        return "assemble + EPUB" if previous.startswith("converting") else "EPUB"
    if message.startswith("wrote") and message.endswith(".html"):
        return "assemble"
    if message.startswith("laying out the PDF: 1/"):
        return "assemble + PDF fonts/HTML" if previous.startswith("converting") else "PDF fonts/HTML"
    if message.startswith("laying out the PDF: 2/"):
        return "PDF layout"
    if message.startswith("laying out the PDF: 3/") or (message.startswith("wrote") and message.endswith(".pdf")):
        return "PDF write"
    return None


def stage_split(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Seconds per stage, from the CLI's progress lines; 'start-up + exit' is what they do not cover
    (interpreter start, imports before the first line, and the time after the last one)."""
    stages: dict[str, float] = {}
    markers = [(t, m) for t, m in lines if _stage_of("", m) is not None or m.startswith("building ")]
    if not markers:
        return stages
    for (t0, previous), (t1, message) in zip(markers, markers[1:]):
        name = _stage_of(previous, message) or "other"
        stages[name] = stages.get(name, 0.0) + (t1 - t0)
    first, last = markers[0][0], markers[-1][0]
    stages["start-up, imports + exit"] = max(0.0, wall - (last - first))
    return {k: round(v, 2) for k, v in stages.items()}


# ----------------------------------------------------------------------------- edits

def edit_chapter(manuscript: Path, round_: int) -> Path:
    """Add one sentence to the introduction of a middle chapter. Each round's sentence holds one Han
    character the synthetic text never uses (饕, then 餮), so the writers' font subsets miss their
    cache too: the worse case of an author's edit."""
    files = sorted(manuscript.glob("*.txt"))
    path = files[len(files) // 2 - round_ % max(len(files), 1)]
    text = path.read_text(encoding="utf-8")
    marker = "## 引言 (Introduction)\n\n"
    assert marker in text, f"synthetic chapter without an introduction: {path}"
    sentence = f"（第{round_ + 1}次修订：作者在此补充了一个比喻，称算力是“{'饕餮'[round_ % 2]}”。）\n\n"
    path.write_text(text.replace(marker, marker + sentence, 1), encoding="utf-8")
    return path


def grow_chapter(manuscript: Path) -> Path:
    """Add two pages' worth of text (five long paragraphs) to an early chapter, so that its page
    count and every folio after it change: the chapters after it are laid out again for their
    folios and TOC numbers."""
    files = sorted(manuscript.glob("*.txt"))
    path = files[4]
    text = path.read_text(encoding="utf-8")
    marker = "## 引言 (Introduction)\n\n"
    assert marker in text, f"synthetic chapter without an introduction: {path}"
    paragraph = ("作者在修订时补充了一段背景：早期的研究团队往往只有几名工程师，他们在有限的算力下反复调整"
                 "训练数据的配比，记录每一次实验的损失曲线，并在周会上逐条讨论失败的原因。") * 4
    path.write_text(text.replace(marker, marker + "".join(paragraph + "\n\n" for _ in range(5)), 1),
                    encoding="utf-8")
    return path


def edit_diagram(manuscript: Path) -> Path:
    """Change one label of the first diagram of a middle chapter that has one: one cache miss."""
    files = sorted(manuscript.glob("*.txt"))
    for path in files[len(files) // 2:] + files[:len(files) // 2]:
        text = path.read_text(encoding="utf-8")
        start = text.find("```mermaid")
        if start < 0:
            continue
        code_start = text.index("\n", text.index("\n", start) + 1)   # skip the fence and the diagram type line
        match = CJK_RUN.search(text, code_start)
        edited = text[:match.end()] + "修订版" + text[match.end():]
        path.write_text(edited, encoding="utf-8")
        return path
    raise SystemExit("the synthetic manuscript has no diagram to edit")


# ----------------------------------------------------------------------------- baselines

def chapter_bodies(manuscript: Path) -> str:
    sys.path.insert(0, str(ROOT))
    from pipeline.config import load_config
    from pipeline.diagnostics import Diagnostics
    from pipeline.documents import read_manuscript
    documents = read_manuscript(load_config(manuscript), Diagnostics())
    ordered = sorted(documents, key=lambda d: d.meta.get("chapter_number") or 0)
    return "\n\n".join(d.body.strip() for d in ordered) + "\n"


def pdf_pages(path: Path) -> int | None:
    if not path.is_file() or not shutil.which("pdfinfo"):
        return None
    output = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    match = re.search(r"^Pages:\s+(\d+)", output, re.M)
    return int(match[1]) if match else None


# ----------------------------------------------------------------------------- the run

def scenarios(args, manuscript: Path) -> tuple[list[Result], dict]:
    out = BENCH / "out"                 # the main build folder: cold, then rebuilt in place
    out_pdf = BENCH / "out-pdf-cold"
    out_diagrams = BENCH / "out-diagrams"
    base = BENCH / "baseline"
    for folder in (out, out_pdf, out_diagrams, base):
        shutil.rmtree(folder, ignore_errors=True)
    base.mkdir(parents=True)

    def pipeline(command: str, target: Path = out) -> list[str]:
        return [PY, "-m", "pipeline", command, "--manuscript", str(manuscript), "--out", str(target)]

    results = []

    def step(*a, **k) -> Result:
        result = run(*a, **k)
        results.append(result)
        return result

    print("cold and no-op builds")
    step("cold_all", "cold all (empty out dir)", pipeline("all"))
    step("rebuild_python_all", "no-op rebuild: python -m pipeline all", pipeline("all"))
    make = ["make", "-s", "all", f"MANUSCRIPT={manuscript}", f"OUT={out}"]
    step("make_first", "make all, first run (no stamp yet: full warm build)", make)
    step("noop_make_all", "no-op rebuild: make -s all", make)

    print("incremental builds")
    edited = edit_chapter(manuscript, 0)
    step("chapter_edit_all", "one chapter edited (adds a new glyph), then all", pipeline("all")).note = edited.name
    edited = edit_chapter(manuscript, 1)
    step("chapter_edit_epub", "one chapter edited (adds a new glyph), then epub", pipeline("epub")).note = edited.name
    edited = edit_diagram(manuscript)
    step("diagram_edit_all", "one diagram edited, then all", pipeline("all")).note = edited.name
    edited = edit_chapter(manuscript, 2)
    step("chapter_edit_pdf", "one chapter edited (adds a new glyph), then pdf", pipeline("pdf")).note = edited.name

    print("single writers")
    step("epub_warm", "epub alone (caches warm)", pipeline("epub"))
    step("pdf_warm", "pdf alone (caches warm)", pipeline("pdf"))
    step("pdf_cold", "pdf alone, cold (empty out dir)", pipeline("pdf", out_pdf))
    # The layout from scratch, with the diagrams and pandoc conversions warm: what the single pass
    # over the same print HTML is compared with.
    for folder in ("pdf-items", "typeset"):
        shutil.rmtree(out / "cache" / folder, ignore_errors=True)
    step("pdf_layout_cold", "pdf, layout and typeset caches emptied", pipeline("pdf"))
    ours_pages = pdf_pages(out / "book.pdf")
    # What the index and the glossary cost: the same book without them, laid out from scratch too.
    plain, out_plain = without_apparatus(manuscript, out)
    step("pdf_layout_cold_no_index", "the same without glossary and index, layout cold",
         [PY, "-m", "pipeline", "pdf", "--manuscript", str(plain), "--out", str(out_plain)])

    print("diagram stage")
    step("diagrams_cold", f"diagrams stage alone, cold ({args.diagrams})", pipeline("diagrams", out_diagrams))
    step("diagrams_warm", f"diagrams stage alone, warm ({args.diagrams})", pipeline("diagrams", out_diagrams))

    print("baselines")
    markdown = base / "book.md"
    markdown.write_text(chapter_bodies(manuscript), encoding="utf-8")
    import pypandoc
    pandoc = pypandoc.get_pandoc_path()
    step("baseline_pandoc_epub", "baseline: pandoc's EPUB writer, one pass",
         [pandoc, "-f", "commonmark_x", "-o", str(base / "pandoc.epub"), "--toc",
          "--metadata", "title=智能纪元", "--metadata", "lang=zh-CN", str(markdown)])
    assembled = step("assemble", "python -m pipeline assemble (writes book.html)", pipeline("assemble"))
    if assembled.ok:
        shutil.copy(out / "book.html", base / "book.html")
        (base / "images").symlink_to(out / "cache" / "diagrams", target_is_directory=True)
        script = ("import sys, weasyprint; "
                  "weasyprint.HTML(filename=sys.argv[1]).write_pdf(sys.argv[2])")
        step("baseline_weasyprint", "baseline: WeasyPrint, one plain pass over book.html",
             [PY, "-c", script, str(base / "book.html"), str(base / "weasyprint.pdf")])

    # The fair PDF baseline: the same print HTML (typesetting, CSS, furniture) in one WeasyPrint pass.
    single = ("import sys; from pathlib import Path; from pipeline.config import load_config; "
              "from pipeline.build import build_book; from pipeline.pdf import write_pdf; "
              "book = build_book(load_config(Path(sys.argv[1])), out_dir=Path(sys.argv[2])); "
              "write_pdf(book, Path(sys.argv[3]), settle_index=False)")
    step("baseline_print_single_pass", "baseline: our print HTML in one WeasyPrint pass (caches warm)",
         [PY, "-c", single, str(manuscript), str(out), str(base / "single-pass.pdf")])
    # The same without glossary and index: one pass prints an index as a page number per occurrence
    # (3,776 target-counter()s on this book), which slows it more than it slows ours.
    step("baseline_print_single_pass_no_index", "baseline: one WeasyPrint pass, without glossary and index",
         [PY, "-c", single, str(BENCH / "manuscript-no-index"), str(BENCH / "out-no-index"),
          str(base / "single-pass-no-index.pdf")])

    if not args.quick and not args.no_scale:
        print("scale")
        parts, out_parts = parts_only(manuscript, out)
        step("parts_only_pdf", "the same book in 4 parts, no chapters: pdf, layout cold",
             [PY, "-m", "pipeline", "pdf", "--manuscript", str(parts), "--out", str(out_parts)])
        big = BENCH / "big"
        synth.generate(big / "manuscript", BIG_CHAPTERS, BIG_DIAGRAMS, args.seed)
        shutil.rmtree(big / "out", ignore_errors=True)
        step("big_book_diagrams", f"big book ({BIG_CHAPTERS} chapters, {BIG_DIAGRAMS} diagrams): diagrams, cold",
             [PY, "-m", "pipeline", "diagrams", "--manuscript", str(big / "manuscript"), "--out", str(big / "out")])
        step("big_book_pdf", "big book: pdf, layout cold (diagrams warm)",
             [PY, "-m", "pipeline", "pdf", "--manuscript", str(big / "manuscript"), "--out", str(big / "out")])

    typst_reference(base, manuscript, pandoc, step)

    # The tightest comparison once more, each side again (this machine's speed drifts by tens of
    # per cent over minutes): the targets take the faster of the two runs of each.
    print("the like-for-like comparison and the edit again")
    for folder in ("pdf-items", "typeset"):
        shutil.rmtree(out_plain / "cache" / folder, ignore_errors=True)
    step("pdf_layout_cold_no_index_2", "again: without glossary and index, layout cold",
         [PY, "-m", "pipeline", "pdf", "--manuscript", str(plain), "--out", str(out_plain)])
    step("baseline_print_single_pass_no_index_2", "again: one WeasyPrint pass, without glossary and index",
         [PY, "-c", single, str(plain), str(out_plain), str(base / "single-pass-no-index.pdf")])

    edited = edit_chapter(manuscript, 3)
    step("chapter_edit_pdf_2", "again: one chapter edited, then pdf", pipeline("pdf")).note = edited.name

    # Last, as it changes the manuscript the baselines above were built from.
    print("an edit that moves every later folio")
    edited = grow_chapter(manuscript)
    grown = step("chapter_grow_pdf", "an early chapter grows by pages (every later folio moves), then pdf",
                 pipeline("pdf"))
    grown.note = f"{edited.name}: {ours_pages} -> {pdf_pages(out / 'book.pdf')} pages"
    print(f"      ({grown.note})")
    pages = {"ours": ours_pages, "parts_only": pdf_pages(BENCH / "out-parts" / "book.pdf"),
             "big_book": pdf_pages(BENCH / "big" / "out" / "book.pdf"), "weasyprint_baseline": pdf_pages(base / "weasyprint.pdf"),
             "print_single_pass": pdf_pages(base / "single-pass.pdf"), "typst": pdf_pages(base / "typst.pdf")}
    return results, pages


def typst_reference(base: Path, manuscript: Path, pandoc: str, step) -> None:
    """An outside reference, when the `typst` package (PyPI) is installed: pandoc's Typst output of the
    same chapters, compiled by Typst, which sets Chinese natively. Never a dependency of the project."""
    try:
        import typst  # noqa: F401
    except ImportError:
        print("  (typst is not installed: `pip install typst` adds Typst over the same chapters as a reference)")
        return
    import pypandoc
    source = base / "book.typ"
    body = pypandoc.convert_text(chapter_bodies(manuscript), "typst", format="commonmark_x")
    source.write_text('#set page(width: 170mm, height: 240mm, margin: 20mm)\n'
                      '#set text(font: "Noto Serif CJK SC", lang: "zh", size: 10.5pt)\n'
                      '#set par(justify: true, first-line-indent: 2em)\n'
                      '#let horizontalrule = line(start: (25%, 0%), end: (75%, 0%))\n\n'   # pandoc's template has it
                      + body, encoding="utf-8")
    fonts = sorted({str(Path(f).parent) for f in subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True,
                                                                 text=True).stdout.replace(":", "").split()})
    script = ("import sys, typst; typst.compile(sys.argv[1], output=sys.argv[2], font_paths=sys.argv[3:])")
    step("reference_typst", "reference: Typst over pandoc's Typst output of the chapters",
         [PY, "-c", script, str(source), str(base / "typst.pdf"), *fonts])


RATIOS = {  # scenario -> baseline it is compared with
    "epub_warm": "baseline_pandoc_epub", "chapter_edit_epub": "baseline_pandoc_epub",
    "pdf_warm": "baseline_print_single_pass", "pdf_cold": "baseline_weasyprint",
    "chapter_edit_pdf": "baseline_print_single_pass", "reference_typst": "baseline_print_single_pass",
    "pdf_layout_cold": "baseline_print_single_pass",
    "pdf_layout_cold_no_index": "baseline_print_single_pass_no_index",
    "pdf_layout_cold_no_index_2": "baseline_print_single_pass_no_index_2",
    "chapter_edit_pdf_2": "baseline_print_single_pass",
}


def targets(by_id: dict[str, Result]) -> list[dict]:
    """The issue's targets, each with the figure it is judged on."""
    def wall(key):
        r = by_id.get(key)
        return r.wall_s if r and r.ok else None

    def best(key):
        """The faster of a scenario's two runs (this machine's speed drifts by tens of per cent)."""
        runs = [w for w in (wall(key), wall(key + "_2")) if w is not None]
        return min(runs) if runs else None

    rows = []

    def add(name, scenario, value, limit, unit="s", inclusive=False):
        met = None
        if value is not None and limit is not None:
            met = value <= limit if inclusive else value < limit
        rows.append({"target": name, "scenario": scenario, "value": None if value is None else round(value, 3),
                     "limit": None if limit is None else round(limit, 3), "unit": unit, "met": met})

    add("no-op rebuild (make) < 1 s", "noop_make_all", wall("noop_make_all"), 1.0)
    add("one chapter edited, EPUB < 5 s", "chapter_edit_epub", wall("chapter_edit_epub"), 5.0)
    add("diagrams cold < 8 s", "diagrams_cold", wall("diagrams_cold"), 8.0)
    add("diagrams cached < 0.5 s", "diagrams_warm", wall("diagrams_warm"), 0.5)
    weasy = wall("baseline_weasyprint")
    add("30-chapter PDF cold <= 1/2 single WeasyPrint pass", "pdf_cold", wall("pdf_cold"),
        weasy / 2 if weasy else None, inclusive=True)
    single = wall("baseline_print_single_pass")
    add("PDF (warm) faster than one pass over the same print HTML", "pdf_warm", wall("pdf_warm"), single)
    add("one chapter edited, PDF <= 5 s, faster of two edits (issue 12)", "chapter_edit_pdf", best("chapter_edit_pdf"),
        5.0, inclusive=True)
    add("PDF cold <= 0.5x one pass over the same print HTML (issue 12)", "pdf_layout_cold",
        wall("pdf_layout_cold"), single / 2 if single else None, inclusive=True)
    single_plain = best("baseline_print_single_pass_no_index")
    add("the same, both without glossary and index, faster of two runs each (issue 12)", "pdf_layout_cold_no_index",
        best("pdf_layout_cold_no_index"), single_plain / 2 if single_plain else None, inclusive=True)
    plain = wall("pdf_layout_cold_no_index")
    add("index and glossary add <= 15 % to the PDF step (issue 13)", "pdf_layout_cold", wall("pdf_layout_cold"),
        plain * 1.15 if plain else None, inclusive=True)
    # the target is this project's builds: the baselines and the reference are other programs
    ours = [r for r in by_id.values() if not r.id.startswith(("baseline_", "reference_"))]
    peak = max((r.peak_rss_mb for r in ours), default=None)
    worst = max(ours, key=lambda r: r.peak_rss_mb).id if ours else None
    add("peak memory < 1.5 GB (this project's builds)", worst, peak, MEMORY_LIMIT_MB, "MB")
    big = by_id.get("big_book_pdf")
    if big and big.ok:
        add("big book (1,270+ pages, 364 diagrams): peak tree RSS <= 1.5 GB (issue 12)", "big_book_pdf",
            big.peak_rss_mb, MEMORY_LIMIT_MB, "MB", inclusive=True)
    parts = by_id.get("parts_only_pdf")
    if parts and parts.ok and parts.wall_s:
        # both cores busy: more than one and a half of the two in use over the whole run
        cores = os.cpu_count() or 1
        add("part-only book: both cores busy, idle share of the cores (issue 12)", "parts_only_pdf",
            100 - 100 * parts.cpu_s / parts.wall_s / cores, 25.0, "%", inclusive=True)
    return rows


TARGET_OF = {"noop_make_all": "< 1 s", "chapter_edit_epub": "< 5 s", "diagrams_cold": "< 8 s",
             "diagrams_warm": "< 0.5 s", "pdf_cold": "<= 0.5x WeasyPrint", "chapter_edit_pdf": "<= 5 s"}


# The larger books: 1,270 pages and 364 diagrams at least (66 chapters lay out to about 1,600).
BIG_CHAPTERS, BIG_DIAGRAMS = 66, 364


def _variant(manuscript: Path, out: Path, name: str) -> tuple[Path, Path]:
    """A fresh copy of the manuscript (build/bench/manuscript-<name>) and an out folder
    (out-<name>) holding the diagrams and pandoc conversions of `out`."""
    book, out_book = BENCH / f"manuscript-{name}", BENCH / f"out-{name}"
    for folder in (book, out_book):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(manuscript, book)
    for cache in ("diagrams", "pandoc"):
        if (out / "cache" / cache).is_dir():
            shutil.copytree(out / "cache" / cache, out_book / "cache" / cache)
    return book, out_book


def parts_only(manuscript: Path, out: Path) -> tuple[Path, Path]:
    """A copy of the bench book made of parts only (its documents in 4 parts, no `chapters:`), and
    an out folder with the diagrams and pandoc conversions of `out`: only the layout starts cold."""
    import yaml
    book, out_book = _variant(manuscript, out, "parts")
    config = yaml.safe_load((book / "book.yaml").read_text(encoding="utf-8"))
    documents = config["contents"]["chapters"]
    size = -(-len(documents) // 4)
    config["contents"]["chapters"] = []
    config["contents"]["parts"] = [{"id": f"part-{n + 1}", "title": f"第{n + 1}部分", "documents": documents[n * size:(n + 1) * size]}
                                   for n in range(4)]
    # a part's documents are articles to the check: here they keep the chapters' front matter
    config["check"]["require"]["article"] = list(config["check"]["require"]["chapter"])
    (book / "book.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return book, out_book


def without_apparatus(manuscript: Path, out: Path) -> tuple[Path, Path]:
    """A copy of the bench manuscript without glossary and index, and an out folder with the
    diagrams, pandoc conversions and page folios of `out` (only the layout starts cold)."""
    plain, out_plain = _variant(manuscript, out, "no-index")
    config = (plain / "book.yaml").read_text(encoding="utf-8")
    lines = [line for line in config.splitlines() if line.strip() not in ("- index", "- glossary")]
    (plain / "book.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if (out / "cache" / "pdf-pages.json").is_file():
        shutil.copy(out / "cache" / "pdf-pages.json", out_plain / "cache" / "pdf-pages.json")
    return plain, out_plain


def print_table(results: list[Result], by_id: dict[str, Result]) -> None:
    print()
    header = f"{'scenario':<58} {'wall s':>8} {'CPU %':>6} {'peak RSS MB':>11} {'PSS MB':>7} {'ratio':>6}  target"
    print(header)
    print("-" * (len(header) + 12))
    for r in results:
        ratio = ""
        base = by_id.get(RATIOS.get(r.id, ""))
        if base and base.ok and r.ok and base.wall_s > 0:
            ratio = f"{r.wall_s / base.wall_s:5.2f}x"
        target = TARGET_OF.get(r.id, "")
        if r.peak_rss_mb >= MEMORY_LIMIT_MB:
            target = (target + "  MEMORY > 1.5 GB").strip()
        wall = f"{r.wall_s:8.2f}" if r.ok else f"{'FAILED':>8}"
        cpu = f"{100 * r.cpu_s / r.wall_s:6.0f}" if r.wall_s else f"{'':>6}"
        print(f"{r.label[:58]:<58} {wall} {cpu} {r.peak_rss_mb:11.0f} {r.peak_pss_mb:7.0f} {ratio:>6}  {target}")
    print("(ratio: ours / pandoc EPUB for EPUB rows, ours / single WeasyPrint pass for PDF rows;"
          " CPU %: user + system time of the tree over wall time, 200 = both cores;"
          " memory: peak of the whole process tree; all targets also: peak memory < 1.5 GB)")
    print()
    print("stage split (seconds, from the CLI's '[ t s] message' lines):")
    for r in results:
        if r.stages:
            print(f"  {r.id:<20} " + ", ".join(f"{k} {v:.2f}" for k, v in r.stages.items()))


def print_targets(rows: list[dict], quick: bool) -> None:
    print()
    print("targets" + (" (figures from --quick; the targets are for 30 chapters and 40 diagrams)" if quick else "") + ":")
    for row in rows:
        mark = {True: "met", False: "NOT MET", None: "n/a"}[row["met"]]
        value = "–" if row["value"] is None else f"{row['value']:.2f} {row['unit']}"
        limit = "" if row["limit"] is None else f" (limit {row['limit']:.2f} {row['unit']})"
        print(f"  {mark:<8} {row['target']:<52} {value}{limit}  [{row['scenario']}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", type=int, default=None, help="chapters (default 30; --quick: 3)")
    parser.add_argument("--diagrams", type=int, default=None, help="mermaid diagrams (default 40; --quick: 4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: 3 chapters, 4 diagrams")
    parser.add_argument("--no-scale", action="store_true",
                        help="skip the part-only book and the big book (about 5 minutes)")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the figures (default build/bench.json; --quick: build/bench-quick.json)")
    args = parser.parse_args(argv)
    args.chapters = args.chapters or (3 if args.quick else 30)
    args.diagrams = args.diagrams if args.diagrams is not None else (4 if args.quick else 40)
    json_path = args.json or ROOT / "build" / ("bench-quick.json" if args.quick else "bench.json")

    BENCH.mkdir(parents=True, exist_ok=True)
    manuscript = BENCH / "manuscript"
    started = time.perf_counter()
    synth.generate(manuscript, args.chapters, args.diagrams, args.seed)
    generated = time.perf_counter() - started
    chars = len(chapter_bodies(manuscript))
    print(f"generated {manuscript.relative_to(ROOT)}: {args.chapters} chapters, {args.diagrams} diagrams, "
          f"{chars} characters of Markdown in {generated:.1f} s ({os.cpu_count()} CPUs)")

    results, pages = scenarios(args, manuscript)
    by_id = {r.id: r for r in results}
    print_table(results, by_id)
    rows = targets(by_id)
    print_targets(rows, args.quick)
    if pages["ours"]:
        print(f"\npages: ours {pages['ours']}, plain WeasyPrint pass {pages['weasyprint_baseline']} "
              "(no print CSS: different page size and fonts, so not the same book)")

    report = {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick, "chapters": args.chapters, "diagrams": args.diagrams, "seed": args.seed,
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "memory_method": "peak over 50 ms samples of the summed RSS (/proc/<pid>/statm) of the process and all "
                         "descendants; PSS (/proc/<pid>/smaps_rollup, a page-table walk) every 20th sample; "
                         "max_single_rss_mb is wait4's ru_maxrss",
        "pages": pages, "markdown_chars": chars,
        "scenarios": [{**asdict(r), "ok": r.ok,
                       "ratio": (round(r.wall_s / by_id[RATIOS[r.id]].wall_s, 3)
                                 if r.id in RATIOS and by_id.get(RATIOS[r.id]) and by_id[RATIOS[r.id]].ok
                                 and r.ok else None),
                       "baseline": RATIOS.get(r.id)} for r in results],
        "targets": rows,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}")
    failed = [r.id for r in results if not r.ok]
    if failed:
        print(f"error: scenario(s) failed: {', '.join(failed)}; logs in {(BENCH / 'logs').relative_to(ROOT)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
