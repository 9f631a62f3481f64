"""Render every example of @mermaid-js/examples (the mermaid.live samples) with the book's
renderer and configuration, and count how many come out as vector SVG, as PNG, and failed.
Then layout transpose on a wide set: every example, plus flowcharts of our own with long Chinese
labels, that layout auto sends to a landscape page; how many does transpose bring back inline?

    .venv/bin/python bench/mermaid_examples.py [--keep DIR] [--no-wide]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import DiagramSettings  # noqa: E402
from pipeline.diagnostics import Diagnostics  # noqa: E402
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
                        id=None, caption=example["title"], alt=None, layout=None)


# Long Chinese labels, as a technical book has them.
PHRASES = ["用户在客户端提交一个复杂的自然语言问题", "网关进行鉴权限流与请求日志记录", "查询改写模块生成多个检索子问题",
           "向量数据库召回候选文档片段", "重排序模型按相关性打分筛选", "大语言模型综合上下文生成答案",
           "安全审核模块过滤敏感内容", "答案连同引用来源返回给用户", "收集并清洗预训练语料", "分词与去重",
           "在千卡集群上进行预训练", "指令微调与人类反馈强化学习", "离线评测与红队测试", "灰度发布到线上服务",
           "监控用户反馈与失败案例", "根据失败案例补充训练数据"]


def own_flowcharts() -> list[tuple[str, str]]:
    """(title, code): LR/RL chains, branches, edge labels, subgraphs, and wide TB fans."""
    charts = []
    for n in range(4, 11):   # chains of 4..10 steps
        nodes = [f"    N{i}[{PHRASES[(i * 3 + n) % len(PHRASES)]}]" for i in range(n)]
        edges = [f"    N{i} --> N{i + 1}" for i in range(n - 1)]
        charts.append((f"LR chain of {n}", "flowchart LR\n" + "\n".join(nodes + edges)))
    for n in (5, 8):
        body = "\n".join(f"    S{i}[{PHRASES[i]}] --> S{i + 1}[{PHRASES[i + 1]}]" for i in range(n - 1))
        charts.append((f"graph RL chain of {n}", "graph RL\n" + body))
    for n in (3, 4, 5):   # a chain whose every step branches, with edge labels
        lines = ["flowchart LR"]
        for i in range(n):
            lines += [f"    A{i}[{PHRASES[i]}] -->|通过| A{i + 1}[{PHRASES[i + 1]}]",
                      f"    A{i} -->|不通过| R{i}[{PHRASES[(i + 8) % len(PHRASES)]}]"]
        charts.append((f"LR branching chain of {n}", "\n".join(lines)))
    for n in (2, 3):   # subgraphs side by side, each with its own direction
        lines = ["flowchart LR"]
        for g in range(n):
            lines += [f"    subgraph G{g}[第{g + 1}阶段：{PHRASES[g][:6]}]", "        direction TB"]
            lines += [f"        G{g}N{i}[{PHRASES[(g * 3 + i) % len(PHRASES)]}]" for i in range(3)]
            lines += [f"        G{g}N0 --> G{g}N1 --> G{g}N2", "    end"]
        lines += [f"    G{g}N2 --> G{g + 1}N0" for g in range(n - 1)]
        charts.append((f"LR with {n} subgraphs", "\n".join(lines)))
    for n in (6, 9, 12):   # one parent, many children: wide when drawn top to bottom
        lines = ["flowchart TB", f"    P[{PHRASES[0]}]"] + [f"    P --> C{i}[{PHRASES[i % len(PHRASES)]}]"
                                                           for i in range(1, n + 1)]
        charts.append((f"TB fan of {n}", "\n".join(lines)))
    charts.append(("LR chain of 16 short steps", "flowchart LR\n" + "\n".join(
        f"    T{i}[第{i + 1}步：{PHRASES[i][:5]}] --> T{i + 1}[第{i + 2}步：{PHRASES[i + 1][:5]}]" for i in range(15))))
    return charts


def wide_set(examples: list[dict], cache: Path) -> None:
    """Layout auto vs transpose over the examples and our own flowcharts (default page, 130 x 198 mm)."""
    corpus = [(f"examples/{e['type']}", e["title"], e["code"]) for e in examples]
    corpus += [("own/flowchart", title, code) for title, code in own_flowcharts()]
    runs = {}
    for layout in ("auto", "transpose"):
        blocks = [DiagramBlock(code=code, file=Path(f"{source}.mmd"), line=i + 1, id=None, caption=title, alt=None,
                               layout=layout) for i, (source, title, code) in enumerate(corpus)]
        diagnostics = Diagnostics(draft=True)
        started = time.perf_counter()
        rendered = render_diagrams(blocks, DiagramSettings(timeout=30), cache, diagnostics=diagnostics)
        too_wide = {d.line for d in diagnostics if d.code == "diagram-too-wide"}
        runs[layout] = (rendered, too_wide, time.perf_counter() - started)
    auto, transposed = runs["auto"][0], runs["transpose"][0]
    wide = [i for i, r in enumerate(auto) if r.error is None and r.placement == "landscape"]
    print(f"\nwide set (layout auto sends it to a landscape page): {len(wide)} of {len(corpus)} "
          f"({sum(corpus[i][0] == 'own/flowchart' for i in wide)} of our {len(own_flowcharts())} flowcharts, "
          f"{sum(corpus[i][0] != 'own/flowchart' for i in wide)} examples); "
          f"auto {runs['auto'][2]:.1f} s, transpose {runs['transpose'][2]:.1f} s (cache shared)")
    too_wide_after = runs["transpose"][1]
    # Rescued: inline in the text block at a readable size (no "too wide/large" warning left).
    rescued = [i for i in wide if transposed[i].placement == "inline" and i + 1 not in too_wide_after]
    turned = [i for i in wide if transposed[i].transposed]
    flowcharts = [i for i in wide if corpus[i][2].lstrip().startswith(("flowchart", "graph"))]
    print(f"flowcharts among them: {len(flowcharts)}; turned by layout transpose: {len(turned)}; "
          f"rescued (now inline, readable): {len(rescued)}/{len(wide)}")
    print(f"too wide even on a landscape page: {len(runs['auto'][1])} with auto, {len(too_wide_after)} with transpose")
    for i in wide:
        source, title, _ = corpus[i]
        a, t = auto[i], transposed[i]
        outcome = "RESCUED" if i in rescued else ("turned " if t.transposed else "kept   ")
        print(f"  {outcome} {source}: {title}: {a.width_px:.0f}x{a.height_px:.0f} -> "
              f"{t.transposed or 'as is'} {t.width_px:.0f}x{t.height_px:.0f} {t.placement}"
              + ("  (still too large)" if i + 1 in too_wide_after else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="write the images to this folder instead of a temporary one")
    parser.add_argument("--no-wide", action="store_true", help="only count vector/PNG/failed")
    args = parser.parse_args()
    examples = load_examples()
    blocks = [as_block(i, e) for i, e in enumerate(examples)]
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.keep or Path(scratch)
        started = time.perf_counter()
        rendered = render_diagrams(blocks, DiagramSettings(timeout=30), cache, diagnostics=Diagnostics(draft=True))
        elapsed = time.perf_counter() - started
        vector = [r for r in rendered if r.error is None and r.media_type == "image/svg+xml"
                  and "foreignObject" not in r.path.read_text(encoding="utf-8")]
    png = [r for r in rendered if r.error is None and r.media_type == "image/png"]
    failed = [r for r in rendered if r.error is not None]
    types = Counter(e["type"] for e in examples)
    print(f"@mermaid-js/examples: {len(examples)} examples of {len(types)} diagram types, rendered in {elapsed:.1f} s")
    print(f"vector SVG: {len(vector)}   PNG: {len(png)}   failed: {len(failed)}   (of {len(examples)})")
    for r in rendered:
        if r.error is not None:
            print(f"  FAILED   {r.block.file.stem}: {r.block.caption}: {r.error.splitlines()[0][:100]}")
        elif r.media_type != "image/svg+xml":
            print(f"  PNG      {r.block.file.stem}: {r.block.caption}")
        elif r not in vector:
            print(f"  SVG WITH foreignObject   {r.block.file.stem}: {r.block.caption}")
    if not args.no_wide:
        with tempfile.TemporaryDirectory() as scratch:
            wide_set(examples, args.keep or Path(scratch))


if __name__ == "__main__":
    main()
