"""Save -> reload time of `python -m pipeline preview` on the bench book.

    .venv/bin/python bench/preview_latency.py [--manuscript build/bench/manuscript] [--edits 10]

The manuscript is copied to a temporary folder (the original is never edited), and so is the
output folder's cache when there is one beside it (`../out/cache`), so that the first build does
not render every diagram cold. The preview runs as the user runs it, in its own process. Each
round appends a sentence to one chapter and takes three times from the moment the write
returned: the `reload` event arriving on an open /events stream (what a browser acts on), and
the chapter's page fetched again and holding the new sentence (what the reader then sees).
"""
from __future__ import annotations

import argparse
import http.client
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def events(port: int, arrivals: queue.Queue) -> None:
    """Every `reload` event's arrival time, read off one open stream."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/events")
    response = connection.getresponse()
    while True:
        line = response.fp.readline()
        if not line:
            return
        if line.startswith(b"event: reload"):
            arrivals.put(time.time())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manuscript", type=Path, default=ROOT / "build" / "bench" / "manuscript")
    parser.add_argument("--edits", type=int, default=10)
    args = parser.parse_args()
    if not (args.manuscript / "book.yaml").is_file():
        print(f"no book at {args.manuscript}: run bench/synth.py {args.manuscript} first", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="preview-bench-"))
    manuscript, out = work / "manuscript", work / "out"
    shutil.copytree(args.manuscript, manuscript)
    if (args.manuscript.parent / "out" / "cache").is_dir():
        shutil.copytree(args.manuscript.parent / "out" / "cache", out / "cache")
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "preview", "--manuscript", str(manuscript),
                               "--out", str(out), "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        port = int(re.search(r":(\d+)/", server.stdout.readline()).group(1))
        arrivals: queue.Queue = queue.Queue()
        threading.Thread(target=events, args=(port, arrivals), daemon=True).start()
        time.sleep(0.5)
        chapters = yaml.safe_load((manuscript / "book.yaml").read_text(encoding="utf-8"))["contents"]["chapters"]
        to_event, to_page = [], []
        for round_ in range(args.edits):
            name = chapters[(round_ * 7) % len(chapters)]
            path = manuscript / name
            number = yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])["chapter_number"]
            marker = f"第{round_}次修改的句子"
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"\n\n{marker}。\n")
            saved = time.time()
            reloaded = arrivals.get(timeout=30)
            connection = http.client.HTTPConnection("127.0.0.1", port)
            connection.request("GET", f"/text/ch{number:02d}.xhtml")
            page = connection.getresponse().read().decode("utf-8")
            shown = time.time()
            if marker not in page:
                print(f"round {round_}: the page does not show the edit", file=sys.stderr)
                return 1
            to_event.append(reloaded - saved)
            to_page.append(shown - saved)
            print(f"{name}: reload event {to_event[-1]:.3f} s, page with the edit {to_page[-1]:.3f} s")
            time.sleep(0.5)
        for label, values in (("save -> reload event", to_event), ("save -> page re-fetched", to_page)):
            print(f"{label}: median {statistics.median(values):.3f} s, max {max(values):.3f} s "
                  f"({len(values)} edits)")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
