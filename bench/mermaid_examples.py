"""Render every example of @mermaid-js/examples (the mermaid.live samples) with the book's
renderer and configuration, and count how many render and how many need no foreignObject.

    .venv/bin/python bench/mermaid_examples.py [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import DiagramSettings  # noqa: E402
from pipeline.diagrams import DiagramBlock, render_diagrams  # noqa: E402

# The package is ESM only; ask node for its data rather than parsing JavaScript here.
DUMP = """
import { diagramData } from '@mermaid-js/examples';
const rows = [];
for (const d of diagramData) for (const e of d.examples) rows.push({type: d.id, title: e.title, code: e.code});
process.stdout.write(JSON.stringify(rows));
"""


def load_examples() -> list[dict]:
    output = subprocess.run(["node", "--input-type=module", "-e", DUMP], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output)


def as_block(index: int, example: dict) -> DiagramBlock:
    return DiagramBlock(code=example["code"], file=Path(f"examples/{example['type']}.mmd"), line=index + 1,
                        start=0, end=0, id=None, caption=example["title"], alt=None, layout=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="write the SVGs to this folder instead of a temporary one")
    args = parser.parse_args()
    # The per-diagram "too wide" advice would drown the summary; PNG fallbacks are listed below.
    logging.getLogger("pipeline.diagrams").setLevel(logging.ERROR)
    examples = load_examples()
    blocks = [as_block(i, e) for i, e in enumerate(examples)]
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.keep or Path(scratch)
        started = time.perf_counter()
        rendered = render_diagrams(blocks, DiagramSettings(timeout=30), cache, draft=True)
        elapsed = time.perf_counter() - started
    ok = [r for r in rendered if r.error is None]
    svg_only = [r for r in ok if r.media_type == "image/svg+xml"]
    types = Counter(e["type"] for e in examples)
    print(f"@mermaid-js/examples: {len(examples)} examples of {len(types)} diagram types, rendered in {elapsed:.1f} s")
    print(f"rendered:                 {len(ok)}/{len(examples)}")
    print(f"SVG without foreignObject: {len(svg_only)}/{len(examples)}")
    for r in rendered:
        if r.error is not None:
            print(f"  FAILED   {r.block.file.stem}: {r.block.caption}: {r.error.splitlines()[0][:100]}")
        elif r.media_type != "image/svg+xml":
            print(f"  PNG      {r.block.file.stem}: {r.block.caption} (foreignObject)")


if __name__ == "__main__":
    main()
