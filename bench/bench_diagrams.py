"""Time the diagram stage: 1, 10 and 40 diagrams from a cold cache, and 40 again warm.

Each run is a separate Python process (as a build would be); the parent samples /proc every
20 ms and reports the peak RSS summed over that process's whole tree (python + node +
every Chromium process), because Chromium's memory is spread over several processes.

    .venv/bin/python bench/bench_diagrams.py
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from proctree import memory_kb, tree  # noqa: E402

# Ten diagram types with Chinese labels; `{n}` makes every copy distinct, so none is cached.
TEMPLATES = [
    "flowchart TD\n  A[用户提问{n}] --> B{{需要检索吗}}\n  B -->|是| C[检索知识库]\n  B -->|否| D[直接生成]\n  C --> E[整合答案]\n  D --> E",
    "sequenceDiagram\n  participant 用户\n  participant 模型{n}\n  用户->>模型{n}: 提交问题\n  模型{n}-->>用户: 返回答案",
    "classDiagram\n  class 模型{n} {{\n    +参数量\n    +推理()\n  }}\n  class 智能体\n  模型{n} <|-- 智能体",
    "stateDiagram-v2\n  [*] --> 草稿{n}\n  草稿{n} --> 审校\n  审校 --> 定稿\n  定稿 --> [*]",
    "gantt\n  title 出版计划{n}\n  dateFormat YYYY-MM-DD\n  section 写作\n  初稿 :a1, 2025-01-01, 30d\n  审校 :after a1, 20d",
    "pie title 参数分布{n}\n  \"注意力层\" : 45\n  \"前馈层\" : 40\n  \"嵌入层\" : 15",
    "timeline\n  title 发展路线{n}\n  2019 : GLM算法提出<br>奠定架构基础\n  2022 : 开源千亿模型\n  2024 : 发布GLM-4",
    "mindmap\n  root((大模型{n}))\n    训练\n      预训练\n      后训练\n    应用\n      智能体",
    "erDiagram\n  作者{n} ||--o{{ 章节 : 撰写\n  章节 ||--|{{ 图表 : 包含",
    "journey\n  title 读者旅程{n}\n  section 阅读\n    打开目录: 5: 读者\n    查找图表: 3: 读者",
]


def corpus(count: int) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(n=i) for i in range(count)]


def run_once(count: int, cache: Path) -> None:
    """The measured child: render `count` diagrams into `cache`."""
    sys.path.insert(0, str(ROOT))
    from pipeline.config import DiagramSettings
    from pipeline.diagnostics import Diagnostics
    from pipeline.diagrams import DiagramBlock, render_diagrams
    blocks = [DiagramBlock(code=code, file=Path("bench.md"), line=i + 1, id=None,
                           caption=None, alt=None, layout=None) for i, code in enumerate(corpus(count))]
    rendered = render_diagrams(blocks, DiagramSettings(), cache, diagnostics=Diagnostics())
    assert all(r.error is None for r in rendered)


def measure(count: int, cache: Path) -> tuple[float, float, float]:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--child", str(count), str(cache)], cwd=ROOT)
    peak_rss = peak_pss = 0
    while child.poll() is None:
        sizes = [memory_kb(pid) for pid in tree(child.pid)]
        peak_rss = max(peak_rss, sum(rss for rss, _ in sizes))
        peak_pss = max(peak_pss, sum(pss for _, pss in sizes))
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"the run with {count} diagrams failed")
    return elapsed, peak_rss / 1024, peak_pss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("COUNT", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_once(int(args.child[0]), Path(args.child[1]))
        return
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, count, cache in [("cold", 1, "c1"), ("cold", 10, "c10"), ("cold", 40, "c40"), ("warm", 40, "c40")]:
            rows.append((count, label, *measure(count, Path(scratch) / cache)))
    print(f"{'diagrams':>8}  {'cache':<5}  {'wall s':>7}  {'s/diagram':>9}  {'peak RSS MB':>11}  {'peak PSS MB':>11}")
    for count, label, elapsed, rss, pss in rows:
        print(f"{count:>8}  {label:<5}  {elapsed:>7.2f}  {elapsed / count:>9.3f}  {rss:>11.0f}  {pss:>11.0f}")
    print("(memory summed over the process tree: python + node + Chromium)")
    print(f"({len(TEMPLATES)} diagram types with Chinese labels; wall time includes Python start-up, "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
