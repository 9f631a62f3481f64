"""A synthetic manuscript for the benchmark: N chapters shaped like the seed chapter, M mermaid diagrams.

    .venv/bin/python bench/synth.py OUT --chapters 30 --diagrams 40 [--seed 1]

Everything comes from one seeded RNG, so the same arguments give byte-identical files.
Each chapter has the seed's front-matter schema (chapter_number, title, title_en, period,
status, word_count, key_events / key_organizations / technical_concepts from the registry in
data/, anecdote_count, created_date, last_updated) and its structure: `# Chapter n:` title,
`## 引言`, sections and subsections of Chinese prose with Latin terms and figures mixed in,
bold lead-ins followed by a list with no blank line before it, pipe tables, code blocks, two
`## 💡 轶事：…` sections, `## 小结`, then `**本章要点**` and `**参考文献**` lists (part of the
references are shared between chapters, as real ones are). The M diagrams (flowchart, sequence,
timeline, pie, gantt, classDiagram, stateDiagram, mindmap, with Chinese labels and
`{#fig:… caption="…"}` fence attributes) are spread evenly over the chapters.

Length: the default `chapter_length` (字数 per chapter, varied ±20 %) is tuned so that 30
chapters and 40 diagrams lay out to roughly 600 pages at 170 x 240 mm with the book's print CSS.
word_count is the pipeline's own measure of the body (pipeline.measure), so `check` is clean.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEED_MANUSCRIPT = ROOT / "manuscript"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.measure import count_text, measure  # noqa: E402
from pipeline.parse import markdown_tree  # noqa: E402

# 字数 per chapter before the ±20 % variation; see the module docstring.
CHAPTER_LENGTH = 7300
DIAGRAM_TYPES = ("flowchart", "sequence", "timeline", "pie", "gantt", "class", "state", "mindmap")
KIND_NAMES = {"flowchart": "流程图", "sequence": "时序图", "timeline": "时间线", "pie": "饼图", "gantt": "甘特图",
              "class": "类图", "state": "状态图", "mindmap": "思维导图"}
STATUSES = ("draft", "draft", "review", "review", "final")   # weighted mix

# ----------------------------------------------------------------------------- vocabulary

ACTORS = ["OpenAI", "Google DeepMind", "Anthropic", "Meta", "DeepSeek", "智谱AI", "阿里巴巴", "百度", "腾讯",
          "字节跳动", "月之暗面", "英伟达", "华为", "微软", "清华大学KEG实验室", "斯坦福大学HAI", "上海人工智能实验室",
          "美国商务部", "工信部", "开源社区", "一家初创公司", "头部云厂商", "风险投资机构", "高校研究团队"]
TIMES = ["{y}年{m}月", "{y}年初", "{y}年夏天", "{y}年底", "同年{m}月", "此后不久", "几周之后", "与此同时",
         "{y}年{m}月{d}日", "半年之后"]
VERBS = ["发布了", "开源了", "推出了", "宣布了", "验证了", "重新定义了", "加速了", "押注于", "大幅下调了",
         "公开了", "完成了", "收购了", "暂停了", "重构了"]
OBJECTS = ["新一代基座模型", "{n}B参数的{term}模型", "推理芯片路线图", "MoE架构的训练方案", "长上下文能力",
           "多模态基座", "面向开发者的API", "{term}评测框架", "开源权重", "智能体平台", "算力集群",
           "{n}亿美元的融资", "数据标注流水线", "安全评估报告", "端侧推理方案", "{term}技术白皮书"]
TERMS = ["GPT-4o", "Llama 3.1", "Qwen2.5", "GLM-4", "Claude 3.5", "Gemini 1.5", "DeepSeek-V3", "Transformer",
         "RLHF", "DPO", "SFT", "MoE", "FP8", "CUDA", "H100", "H20", "A100", "TPU v5p", "昇腾910B", "MMLU",
         "HumanEval", "GSM8K", "C-Eval", "RAG", "Agent", "Scaling Law", "KV Cache", "LoRA", "vLLM", "API"]
TOPICS = ["算力", "开源", "推理", "多模态", "智能体", "芯片", "数据", "对齐", "监管", "人才", "资本", "生态",
          "长上下文", "端侧模型", "评测", "训练效率", "商业化", "安全"]
COMMENTS = ["这一举动在业内引发了广泛讨论", "市场的反应比预期更为强烈", "其意义在当时并未被充分认识",
            "不少分析师认为这是一个转折点", "竞争对手随即调整了各自的路线", "这让原本清晰的格局再次变得模糊",
            "背后是一场关于效率与规模的争论", "这也暴露出产业链上的薄弱环节", "开发者社区迅速给出了回应"]
CONNECT = ["更重要的是", "换句话说", "然而", "值得注意的是", "从长期来看", "事实上", "归根结底", "回头来看",
           "与之形成对比的是", "在此基础上"]
ABSTRACT = ["技术路线", "成本结构", "人才密度", "工程能力", "数据质量", "产品节奏", "生态位", "话语权",
            "供应链", "研发范式", "用户心智", "基础设施", "监管框架", "商业模式"]
STATES = ["规模", "效率", "封闭", "开放", "追赶", "并跑", "单点突破", "系统竞争", "实验室", "产业化",
          "对话工具", "智能体", "参数竞赛", "推理竞赛"]
SOURCES = ["IDC", "斯坦福AI指数报告", "Epoch AI", "中国信通院", "SemiAnalysis", "麦肯锡", "Hugging Face榜单",
           "LMSYS Chatbot Arena", "公司财报", "第三方评测"]
METRICS = ["推理成本", "训练算力", "模型下载量", "开发者数量", "API调用量", "GPU出货量", "融资总额", "MMLU得分",
           "上下文长度", "日活跃用户"]
ANECDOTE_TITLES = ["凌晨三点的训练事故", "一封没有发出的邮件", "被拒绝的论文", "会议室里的白板", "实习生的发现",
                   "发布会前的最后一夜", "一张显卡引发的争论", "食堂里的技术讨论", "错过的收购", "演示中的意外",
                   "从代码仓库到头条新闻", "那个被低估的基准测试", "董事会上的五分钟", "一次失败的内测",
                   "深夜的开源决定", "两个团队的赌约"]
SECTION_HEADS = ["{actor}的{topic}突围", "{topic}之争：{actor}与{actor2}", "从{state}到{state2}",
                 "{term}带来的{topic}变局", "被低估的{topic}", "{actor}的战略转折", "{topic}的新秩序",
                 "{y}年的{topic}竞赛", "{term}之后：{topic}的再定义"]
SUBSECTION_HEADS = ["{topic}的技术细节", "{actor}的选择", "数字背后的{abstract}", "为什么是{term}？",
                    "{abstract}的重塑", "争议与反思", "{state}的代价", "行业的连锁反应", "{y}年{m}月：关键节点"]
BOLD_LEADS = ["技术突破", "核心能力", "战略意义", "市场反应", "主要局限", "竞争影响", "关键数据", "开源策略",
              "行业冲击", "争议焦点", "应用场景", "性能表现", "技术规格", "中美对比"]
# (Chinese, English) title halves.
TITLE_TOPICS = [("算力", "Compute"), ("开源", "Open Source"), ("推理", "Reasoning"), ("多模态", "Multimodality"),
                ("智能体", "Agents"), ("芯片", "Chips"), ("数据", "Data"), ("对齐", "Alignment"),
                ("监管", "Regulation"), ("人才", "Talent"), ("资本", "Capital"), ("生态", "Ecosystems"),
                ("长上下文", "Long Context"), ("评测", "Evaluation"), ("商业化", "Commercialization")]
TITLE_FRAMES = [("{a}与{b}：{y}年的{c}", "{A} and {B}: {C} in {y}"),
                ("{a}的崛起", "The Rise of {A}"),
                ("{a}竞赛：{b}的较量", "The {A} Race: A Contest of {B}"),
                ("从{a}到{b}", "From {A} to {B}"),
                ("{y}年：{a}元年", "{y}: Year One of {A}")]
TITLE_THIRD = [("能力跃升", "Capability Leap"), ("格局重塑", "A Reshaped Landscape"), ("路线分化", "Diverging Paths"),
               ("正面交锋", "Head-on Competition"), ("冷静期", "A Cooling Period")]
SHARED_REFERENCES = [
    "Stanford HAI. (2024). Artificial Intelligence Index Report 2024.",
    "Vaswani, A. et al. (2017). Attention Is All You Need. NeurIPS.",
    "Kaplan, J. et al. (2020). Scaling Laws for Neural Language Models. arXiv:2001.08361.",
    "Ouyang, L. et al. (2022). Training language models to follow instructions with human feedback. NeurIPS.",
    "OpenAI. (2023). GPT-4 Technical Report. arXiv:2303.08774.",
    "Meta AI. (2024). The Llama 3 Herd of Models. Technical Report.",
    "DeepSeek. (2024). DeepSeek-V2: A Strong, Economical, and Efficient Mixture-of-Experts Language Model.",
    "中国信息通信研究院. (2024). 人工智能发展白皮书.",
    "Epoch AI. (2024). Trends in Machine Learning Hardware.",
    "Hoffmann, J. et al. (2022). Training Compute-Optimal Large Language Models. arXiv:2203.15556.",
    "智谱AI. (2024). GLM-4技术文档.",
    "阿里云. (2024). 通义千问Qwen技术报告.",
]
# Diagram labels: plain words only (no ASCII punctuation mermaid could read as syntax).
NODES = ["数据采集", "数据清洗", "预训练", "指令微调", "人类反馈", "奖励模型", "安全评估", "模型发布", "开源社区",
         "商业落地", "芯片供应", "出口管制", "资本投入", "人才流动", "算法创新", "推理优化", "应用生态", "云平台",
         "终端用户", "开发者", "监管审查", "基准测试", "红队测试", "灰度上线", "用户反馈", "版本迭代", "知识库检索",
         "工具调用", "任务规划", "结果校验"]
PARTIES = ["用户", "应用", "网关", "推理服务", "模型", "检索系统", "工具", "审核模块", "调度器", "向量库"]
MESSAGES = ["提交问题", "转发请求", "检索相关文档", "返回候选片段", "生成回答", "调用外部工具", "返回执行结果",
            "内容审核", "审核通过", "流式输出", "记录日志", "请求重试"]


class Writer:
    """Deterministic Chinese prose and Markdown blocks from one RNG."""

    def __init__(self, rng: random.Random, year: int):
        self.rng, self.year = rng, year

    def pick(self, items):
        return self.rng.choice(items)

    def fill(self, template: str) -> str:
        r = self.rng
        actor = self.pick(ACTORS)
        states = r.sample(STATES, 2)
        values = {
            "y": self.year + r.choice((-1, 0, 0, 1)), "m": r.randint(1, 12), "d": r.randint(1, 28),
            "n": r.choice((7, 13, 32, 70, 72, 110, 236, 405, 671)), "term": self.pick(TERMS),
            "topic": self.pick(TOPICS), "actor": actor,
            "actor2": self.pick([a for a in ACTORS if a != actor]), "abstract": self.pick(ABSTRACT),
            "state": states[0], "state2": states[1],
        }
        return template.format(**values)

    def percent(self) -> str:
        return f"{self.rng.randint(20, 95)}.{self.rng.randint(0, 9)}%"

    def sentence(self) -> str:
        r = self.rng
        kind = r.randrange(9)
        if kind == 0:
            return self.fill(f"{self.pick(TIMES)}，{{actor}}{self.pick(VERBS)}{self.pick(OBJECTS)}，"
                             f"{self.pick(COMMENTS)}。")
        if kind == 1:
            return self.fill(f"{{actor}}认为，{{topic}}的关键不在于{self.pick(ABSTRACT)}，"
                             f"而在于{self.pick(ABSTRACT)}。")
        if kind == 2:
            return self.fill(f"{self.pick(CONNECT)}，这意味着{{topic}}正在从“{{state}}”走向“{{state2}}”。")
        if kind == 3:
            return (f"根据{self.pick(SOURCES)}的数据，{self.pick(METRICS)}在{self.year}年达到{self.percent()}，"
                    f"比上一年提高了{r.randint(2, 9)}倍。")
        if kind == 4:
            return self.fill(f"在{{term}}和{self.pick(TERMS)}之间，{{actor}}选择了一条不同的道路："
                             f"**{self.pick(ABSTRACT)}的极致优化**。")
        if kind == 5:
            return self.fill("对于{actor2}而言，{abstract}上的差距并不是一朝一夕能够弥补的，"
                             "它需要持续数年的投入和耐心。")
        if kind == 6:
            return self.fill(f"{self.pick(CONNECT)}，{{actor}}的{{term}}在{self.pick(TERMS)}上取得"
                             f"{self.percent()}的成绩，超过了此前公认的领先者。")
        if kind == 7:
            return self.fill("一位接近{actor}的工程师回忆说：“我们当时并不确定{term}能否奏效，"
                             "但{topic}的窗口期不会等人。”")
        return self.fill(f"{self.pick(COMMENTS)}，而{{actor}}的回应则显得更为谨慎。")

    def paragraph(self, low: int = 2, high: int = 5) -> str:
        return "".join(self.sentence() for _ in range(self.rng.randint(low, high)))

    def bold_list(self) -> str:
        """A bold lead-in with its list right under it (no blank line), as the seed writes them."""
        items = []
        for _ in range(self.rng.randint(3, 6)):
            if self.rng.random() < 0.4:
                items.append(f"- **{self.pick(NODES)}**：{self.sentence()}")
            else:
                items.append(self.fill(f"- {{term}}：{self.pick(ABSTRACT)}提升{self.percent()}，"
                                       f"{self.pick(COMMENTS)}"))
        return f"**{self.pick(BOLD_LEADS)}**：\n" + "\n".join(items)

    def numbered_list(self) -> str:
        items = [f"{i}. **{self.pick(ABSTRACT)}**：{self.sentence()}" for i in range(1, self.rng.randint(3, 5) + 1)]
        return f"{self.paragraph(1, 1)[:-1]}：\n" + "\n".join(items)

    def table(self) -> str:
        models = self.rng.sample(TERMS[:12], self.rng.randint(2, 4))
        header = "| 指标 | " + " | ".join(models) + " |"
        rule = "|" + "|".join("-" * (len(c) + 2) for c in ["指标", *models]) + "|"
        rows = []
        for metric in self.rng.sample(["MMLU", "HumanEval", "GSM8K", "C-Eval", "MATH", "GPQA", "推理成本",
                                       "上下文长度", "中文理解"], self.rng.randint(3, 6)):
            values = [self.percent() for _ in models]
            best = self.rng.randrange(len(values))
            values[best] = f"**{values[best]}**"
            rows.append(f"| {metric} | " + " | ".join(values) + " |")
        return f"**{self.pick(['性能对比', '关键数据', '规格对比'])}**：\n\n" + "\n".join([header, rule, *rows])

    def code_block(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            body = (f"提示词：“请用{r.randint(3, 8)}句话解释{self.pick(TOPICS)}对{self.pick(ABSTRACT)}的影响”\n\n"
                    f"{self.pick(TERMS)}输出：{self.paragraph(1, 2)}")
            return f"**示例**：\n```\n{body}\n```"
        lines = [f"from openai import OpenAI", "", "client = OpenAI()",
                 "response = client.chat.completions.create(",
                 f"    model=\"{self.pick(['gpt-4o', 'deepseek-chat', 'glm-4', 'qwen-max'])}\",",
                 f"    messages=[{{\"role\": \"user\", \"content\": \"{self.pick(MESSAGES)}\"}}],",
                 f"    temperature={r.randint(0, 10) / 10},", ")", "print(response.choices[0].message.content)"]
        return "**调用示例**：\n```python\n" + "\n".join(lines) + "\n```"

    def block(self) -> str:
        roll = self.rng.random()
        if roll < 0.50:
            return self.paragraph()
        if roll < 0.72:
            return self.bold_list()
        if roll < 0.80:
            return self.numbered_list()
        if roll < 0.90:
            return self.table()
        if roll < 0.95:
            return self.code_block()
        return f"**{self.pick(BOLD_LEADS)}**：\n{self.paragraph(1, 3)}"


# ----------------------------------------------------------------------------- diagrams

def _diagram(kind: str, w: Writer, index: int) -> tuple[str, str]:
    """(mermaid source, caption) of one diagram of `kind`; `index` keeps every source distinct."""
    r = w.rng
    topic = w.pick(TOPICS)
    year = w.year
    if kind == "flowchart":
        nodes = r.sample(NODES, r.randint(5, 8))
        lines = [f"flowchart {r.choice(['TD', 'LR', 'TD'])}"]
        lines += [f"    N{i}[\"{label}\"]" for i, label in enumerate(nodes)]
        lines.append(f"    D{{是否通过第{index + 1}轮评审}}")
        for i in range(len(nodes) - 1):
            lines.append(f"    N{i} --> N{i + 1}")
        lines += [f"    N{len(nodes) - 1} --> D", "    D -->|是| N0", f"    D -->|否| N{r.randrange(1, len(nodes))}"]
        return "\n".join(lines), f"{topic}流程：从{nodes[0]}到{nodes[-1]}"
    if kind == "sequence":
        parties = r.sample(PARTIES, r.randint(3, 5))
        lines = ["sequenceDiagram"] + [f"    participant P{i} as {p}" for i, p in enumerate(parties)]
        for step in range(r.randint(5, 9)):
            a, b = r.sample(range(len(parties)), 2)
            arrow = r.choice(["->>", "-->>"])
            lines.append(f"    P{a}{arrow}P{b}: {w.pick(MESSAGES)}")
            if step == 2:
                lines.append(f"    Note over P0,P{len(parties) - 1}: 第{index + 1}次调用约{r.randint(80, 900)}毫秒")
        return "\n".join(lines), f"{w.pick(PARTIES)}与{w.pick(PARTIES)}的交互时序"
    if kind == "timeline":
        lines = ["timeline", f"    title {topic}发展路线（{year - 4}—{year}）"]
        for y in range(year - r.randint(3, 5), year + 1):
            events = r.sample(NODES, r.randint(1, 2))
            lines.append(f"    {y} : " + " : ".join(f"{e}<br>{w.pick(ACTORS[:14])}" for e in events))
        return "\n".join(lines), f"{topic}大事记"
    if kind == "pie":
        labels = r.sample(ABSTRACT, r.randint(3, 6))
        lines = [f"pie title {year}年{topic}投入构成（第{index + 1}组样本）"]
        lines += [f"    \"{label}\" : {r.randint(5, 60)}" for label in labels]
        return "\n".join(lines), f"{topic}投入构成"
    if kind == "gantt":
        start = dt.date(year, r.randint(1, 6), r.randint(1, 28))
        lines = ["gantt", f"    title {topic}项目计划", "    dateFormat YYYY-MM-DD", "    axisFormat %Y-%m"]
        task = 0
        for section in r.sample(["研发", "评测", "发布", "运营"], r.randint(2, 3)):
            lines.append(f"    section {section}")
            for _ in range(r.randint(2, 3)):
                label = w.pick(NODES)
                if task == 0:
                    lines.append(f"    {label} :t{task}, {start.isoformat()}, {r.randint(10, 40)}d")
                else:
                    lines.append(f"    {label} :t{task}, after t{task - 1}, {r.randint(5, 30)}d")
                task += 1
        return "\n".join(lines), f"{topic}项目第{index + 1}期计划"
    if kind == "class":
        base, *subs = r.sample(["模型", "智能体", "数据集", "评测器", "推理服务", "训练任务", "检查点"], 4)
        lines = ["classDiagram", f"    class {base} {{", "        +参数量", f"        +版本号{index + 1}",
                 "        +推理()", "        +微调()", "    }"]
        for sub in subs:
            lines.append(f"    {base} <|-- {sub}")
        lines.append(f"    {subs[0]} \"1\" --> \"*\" {subs[1]} : 调用")
        return "\n".join(lines), f"{base}及其派生类型"
    if kind == "state":
        states = r.sample(["草稿", "训练中", "评测中", "审查中", "灰度", "上线", "回滚", "下线", "归档"], 5)
        lines = ["stateDiagram-v2", f"    [*] --> {states[0]}"]
        for a, b in zip(states, states[1:]):
            lines.append(f"    {a} --> {b} : {w.pick(['通过', '提交', '批准', '完成', '触发'])}")
        lines += [f"    {states[2]} --> {states[0]} : 第{index + 1}次退回", f"    {states[-1]} --> [*]"]
        return "\n".join(lines), f"{topic}模型的生命周期"
    # mindmap
    branches = r.sample(ABSTRACT, 4)
    lines = ["mindmap", f"  root(({topic}{index + 1}))"]
    for branch in branches:
        lines.append(f"    {branch}")
        lines += [f"      {leaf}" for leaf in r.sample(NODES, r.randint(2, 3))]
    return "\n".join(lines), f"{topic}的关键要素"


def diagram_fence(kind: str, w: Writer, chapter: int, number: int, index: int) -> str:
    code, caption = _diagram(kind, w, index)
    attributes = f'#fig:c{chapter:02d}-{number} caption="{caption}"'
    if index % 3 == 0:
        attributes += f' alt="{caption}的{KIND_NAMES[kind]}"'
    return f"```mermaid {{{attributes}}}\n{code}\n```"


# ----------------------------------------------------------------------------- chapters

def _registry(out_dir: Path) -> dict[str, list[str]]:
    files = {"key_events": "events.yaml", "key_organizations": "organizations.yaml",
             "technical_concepts": "concepts.yaml"}
    return {key: list((yaml.safe_load((out_dir / "data" / name).read_text(encoding="utf-8")) or {}).keys())
            for key, name in files.items()}


def _title(w: Writer) -> tuple[str, str]:
    (a, A), (b, B) = w.rng.sample(TITLE_TOPICS, 2)
    c, C = w.pick(TITLE_THIRD)
    zh, en = w.pick(TITLE_FRAMES)
    return zh.format(a=a, b=b, c=c, y=w.year), en.format(A=A, B=B, C=C, y=w.year)


def chapter_text(number: int, rng: random.Random, registry: dict[str, list[str]], diagrams: list[str],
                 first_diagram: int, references: list[str], length: int, terms_of: dict[str, str] | None = None) -> str:
    terms_of = terms_of or {}
    year = 2016 + (number * 9) // 31 if number else 2018
    w = Writer(rng, year)
    title, title_en = _title(w)
    # Body: sections of blocks until the target length; diagrams and anecdotes placed among them.
    sections, measured, section_no = [], 0, 0
    intro = "\n\n".join(w.paragraph() for _ in range(rng.randint(3, 5)))
    measured += count_text(intro)
    ending_budget = 900   # anecdotes, summary, takeaways and references
    while measured < length - ending_budget or section_no < 3:
        section_no += 1
        parts = [f"## {w.fill(w.pick(SECTION_HEADS))}", w.paragraph()]
        for _ in range(rng.randint(2, 3)):
            parts.append(f"### {w.fill(w.pick(SUBSECTION_HEADS))}")
            parts += [w.block() for _ in range(rng.randint(3, 6))]
        text = "\n\n".join(parts)
        measured += count_text(text)
        sections.append(text)
    # Diagrams go at the end of evenly spaced sections, in order.
    for k, kind in enumerate(diagrams):
        target = min(len(sections) - 1, (k + 1) * len(sections) // (len(diagrams) + 1))
        lead = f"下图概括了{w.pick(TOPICS)}相关的{w.pick(['关键环节', '主要参与方', '演进过程', '结构关系'])}。"
        sections[target] += "\n\n" + lead + "\n\n" + diagram_fence(kind, w, number, k + 1, first_diagram + k)
    anecdotes = []
    for title_ in rng.sample(ANECDOTE_TITLES, 2):
        anecdotes.append("\n\n".join([f"## 💡 轶事：{title_}", w.paragraph(3, 5), w.paragraph(2, 4),
                                      w.bold_list(), w.paragraph(1, 3)]))
    sections.insert(max(1, len(sections) // 3), anecdotes[0])
    sections.insert(max(2, (2 * len(sections)) // 3), anecdotes[1])
    summary = "\n\n".join(["## 小结 (Summary)", *(w.paragraph(2, 4) for _ in range(rng.randint(2, 4)))])
    takeaways = "\n".join(f"- {w.sentence()[:-1]}" for _ in range(rng.randint(5, 8)))
    refs = "\n".join(f"- {ref}" for ref in references)
    body = "\n\n".join([f"# Chapter {number}: {title}", "## 引言 (Introduction)", intro, *sections, summary, "---",
                        f"**本章要点** (Key Takeaways):\n{takeaways}",
                        f"**参考文献** (Chapter References):\n{refs}"]) + "\n"
    # word_count: the pipeline's measure of this body, off by up to ±2 % (well inside the 5 % tolerance).
    ratio = rng.uniform(0.98, 1.02)
    created = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 250))
    updated = created + dt.timedelta(days=rng.randrange(0, 60))
    front = {
        "chapter_number": number, "title": title, "title_en": title_en,
        "period": str(year) if rng.random() < 0.6 else f"{year}-{year + 1}",
        "status": rng.choice(STATUSES), "word_count": 0,
        **{key: sorted(rng.sample(slugs, min(len(slugs), rng.randint(2, 6))), key=slugs.index)
           for key, slugs in registry.items()},
        "anecdote_count": 2, "created_date": created, "last_updated": updated,
    }
    # The index's check wants every slug of the front matter mentioned in the text: one sentence names them.
    terms = [terms_of[slug] for key in registry for slug in front[key] if slug in terms_of]
    if terms:
        body = body.replace(intro, f"{intro}\n\n本章涉及{'、'.join(terms)}。", 1)
    front["word_count"] = round(measured_length(body) * ratio)
    return "---\n" + _front_matter_yaml(front) + "---\n\n" + body


def _front_matter_yaml(front: dict) -> str:
    lines = []
    for key, value in front.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines += [f"  - {item}" for item in value]
        elif isinstance(value, str) and key != "status":
            lines.append(f"{key}: \"{value}\"")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def _book_yaml(chapter_files: list[str], chapters: int, diagrams: int, seed: int) -> str:
    config = yaml.safe_load((SEED_MANUSCRIPT / "book.yaml").read_text(encoding="utf-8"))
    config["title"] = f"{config['title']}（基准测试合成稿）"
    config["identifier"] = f"urn:uuid:00000000-0000-4000-8000-{seed:04d}{chapters:04d}{diagrams:04d}"
    config["contents"]["chapters"] = chapter_files
    config["contents"]["parts"] = []
    header = (f"# Synthetic manuscript from bench/synth.py: {chapters} chapters, {diagrams} diagrams, seed {seed}.\n"
              "# Settings are the bundled manuscript's; only the metadata and contents differ.\n")
    return header + yaml.safe_dump(config, allow_unicode=True, sort_keys=False, width=120)


def generate(out_dir: Path, chapters: int = 30, diagrams: int = 40, seed: int = 1,
             chapter_length: int = CHAPTER_LENGTH) -> Path:
    """Write a synthetic manuscript folder into out_dir (replacing what it holds) and return it."""
    if chapters < 1 or diagrams < 0:
        raise ValueError("chapters must be >= 1 and diagrams >= 0")
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    shutil.copytree(SEED_MANUSCRIPT / "data", out_dir / "data")
    bibliography = (yaml.safe_load((SEED_MANUSCRIPT / "book.yaml").read_text(encoding="utf-8")).get("citations")
                    or {}).get("bibliography")
    if bibliography:            # the settings are the seed's, so is its bibliography
        shutil.copy(SEED_MANUSCRIPT / bibliography, out_dir / bibliography)
    registry = _registry(out_dir)
    terms_of = _index_terms(out_dir)
    rng = random.Random(seed)

    kinds = []
    while len(kinds) < diagrams:
        kinds += rng.sample(DIAGRAM_TYPES, len(DIAGRAM_TYPES))
    per_chapter = [[] for _ in range(chapters)]
    for index, kind in enumerate(kinds[:diagrams]):
        per_chapter[index * chapters // max(diagrams, 1)].append(kind)

    shared = SHARED_REFERENCES
    files, first_diagram = [], 0
    for index in range(chapters):
        number = index + 1
        chapter_rng = random.Random(f"{seed}:{number}")
        own = [f"{chapter_rng.choice(ACTORS)}. ({2016 + number % 9}). "
               f"{chapter_rng.choice(TOPICS)}与{chapter_rng.choice(ABSTRACT)}研究报告（第{number}-{k}号）."
               for k in range(1, chapter_rng.randint(3, 6))]
        # Every chapter cites the AI Index; the rest of the shared pool is sampled, so references repeat
        # across chapters (the references appendix has to merge them) without being identical.
        references = [shared[0]] + chapter_rng.sample(shared[1:], chapter_rng.randint(1, 4)) + own
        length = round(chapter_length * chapter_rng.uniform(0.8, 1.2))
        text = chapter_text(number, chapter_rng, registry, per_chapter[index], first_diagram, references, length,
                            terms_of)
        first_diagram += len(per_chapter[index])
        name = f"{index:03d}_{chapter_rng.getrandbits(64):016x}.txt"
        (out_dir / name).write_text(text, encoding="utf-8")
        files.append(name)
    (out_dir / "book.yaml").write_text(_book_yaml(files, chapters, diagrams, seed), encoding="utf-8")
    _keep_used_entries(out_dir, files)
    return out_dir


def _index_terms(out_dir: Path) -> dict[str, str]:
    """slug -> the spelling the text uses for it (its index term)."""
    from pipeline.registry import load_registry
    return {entry.slug: entry.spellings[0] for entry in load_registry(out_dir / "data").index_entries
            if entry.spellings}


def _keep_used_entries(out_dir: Path, files: list[str]) -> None:
    """A short book lists a few of the registry's entries: the others go (check warns on unused ones)."""
    used = set()
    for name in files:
        front = yaml.safe_load((out_dir / name).read_text(encoding="utf-8").split("---\n")[1])
        for key in ("key_events", "key_organizations", "technical_concepts"):
            used.update(front.get(key) or [])
    for path in (out_dir / "data").glob("*.yaml"):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        kept = {slug: value for slug, value in entries.items() if slug in used}
        if kept != entries:
            path.write_text(yaml.safe_dump(kept, allow_unicode=True, sort_keys=False), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (its contents are replaced)")
    parser.add_argument("--chapters", type=int, default=30)
    parser.add_argument("--diagrams", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chapter-length", type=int, default=CHAPTER_LENGTH,
                        help=f"字数 per chapter before ±20%% variation (default {CHAPTER_LENGTH})")
    args = parser.parse_args(argv)
    path = generate(args.out, args.chapters, args.diagrams, args.seed, args.chapter_length)
    total = sum(measured_length(p.read_text(encoding="utf-8").split("\n---\n", 1)[1])
                for p in sorted(path.glob("*.txt")))
    print(f"wrote {path}: {args.chapters} chapters, {args.diagrams} diagrams, about {total} 字")
    return 0


def measured_length(body: str) -> int:
    """The pipeline's own 字数 of a body (pandoc reads it; the cache keeps reruns quick)."""
    import tempfile
    cache = Path(tempfile.gettempdir()) / "book-synth-pandoc-cache"
    return measure(markdown_tree(body, 1, cache)).length


if __name__ == "__main__":
    sys.exit(main())
