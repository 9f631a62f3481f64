"""The reader (pipeline.parse) on small bodies, with real pandoc: quote pairing, literal bold
and source lines. Each fix is shown twice where it matters: pandoc's own tree still has the
problem (so the test cannot pass by accident), and the fix removes it."""
import pytest

from pipeline.parse import fix_literal_bold, markdown_tree, pair_quotes, pandoc_html
from pipeline.tree import line_of, parse_html, text_of, to_html


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "pandoc"


def raw_tree(markdown, cache):
    """pandoc's tree before the reader's fixes."""
    return parse_html(pandoc_html(markdown, cache))


def paragraph(tree):
    found = tree.findall("p")
    assert len(found) == 1, to_html(tree)
    return found[0]


# ------------------------------------------------------------------ quotes

def test_quotes_pair_within_a_paragraph(cache):
    markdown = '他说"好"，又说"不"。'
    raw = raw_tree(markdown, cache)
    assert text_of(paragraph(raw)) == markdown          # pandoc (-smart) leaves them straight
    pair_quotes(raw)
    assert text_of(paragraph(raw)) == "他说“好”，又说“不”。"
    assert text_of(paragraph(markdown_tree(markdown, 1, cache))) == "他说“好”，又说“不”。"


def test_an_odd_last_quote_stays_straight(cache):
    tree = markdown_tree('他说"好"和"', 1, cache)
    assert text_of(paragraph(tree)) == '他说“好”和"'
    pair_quotes(tree)                                    # a second pass has nothing left to pair
    assert text_of(paragraph(tree)) == '他说“好”和"'


def test_quotes_do_not_pair_across_paragraphs(cache):
    tree = markdown_tree('一"二\n\n三"四', 1, cache)
    assert [text_of(p) for p in tree.findall("p")] == ['一"二', '三"四']


def test_code_and_inline_code_keep_straight_quotes(cache):
    tree = markdown_tree('2023年的"百模大战"证明 `a"b` 与"Computer Use"功能\n\n```\nx = "q"\n```\n', 1, cache)
    p = paragraph(tree)
    # the quote inside inline code neither changes nor counts: the four around it still pair
    assert text_of(p) == '2023年的“百模大战”证明 a"b 与“Computer Use”功能'
    assert p.find("code").text == 'a"b'
    assert tree.find("pre/code").text == 'x = "q"'


@pytest.mark.parametrize("markdown, expected", [
    ('见"[官方公告](https://x.example)"一文', "见“官方公告”一文"),
    ('他说"[这里](https://x.example)很"好', "他说“这里很”好"),
])
def test_a_quote_pair_spanning_a_link_pairs(cache, markdown, expected):
    p = paragraph(markdown_tree(markdown, 1, cache))
    assert text_of(p) == expected
    assert p.find("a").get("href") == "https://x.example"


# ------------------------------------------------------------------ literal bold

def test_literal_bold_after_a_han_character_becomes_strong(cache):
    markdown = '策略是**"开源+闭源"双轨**：这是原话。'
    raw = paragraph(raw_tree(markdown, cache))
    assert raw.find("strong") is None and "**" in raw.text       # CommonMark leaves it literal
    fix_literal_bold(raw)
    assert raw.find("strong") is not None and "**" not in text_of(raw)

    p = paragraph(markdown_tree(markdown, 1, cache))
    strong = p.findall("strong")
    assert len(strong) == 1
    assert p.text == "策略是"
    assert strong[0].text == "“开源+闭源”双轨" and strong[0].tail == "：这是原话。"
    assert "**" not in text_of(p)


def test_bold_commonmark_already_reads_is_untouched(cache):
    markdown = "更是**世界模型**（World Model）"
    raw = paragraph(raw_tree(markdown, cache))
    p = paragraph(markdown_tree(markdown, 1, cache))
    assert [(s.text, s.tail) for s in p.iter("strong")] == [(s.text, s.tail) for s in raw.iter("strong")] \
        == [("世界模型", "（World Model）")]
    assert p.text == raw.text == "更是"


@pytest.mark.parametrize("markdown, expected", [
    ('是**"甲"乙**，**"丙"丁**。', ["“甲”乙", "“丙”丁"]),           # one literal, one CommonMark reads
    ('甲是**"开源"双轨**：乙是**"闭源"单轨**：', ["“开源”双轨", "“闭源”单轨"]),   # two literal in one run
])
def test_each_bold_of_a_paragraph_becomes_its_own_strong(cache, markdown, expected):
    p = paragraph(markdown_tree(markdown, 1, cache))
    assert [s.text for s in p.findall("strong")] == expected
    assert not p.findall(".//strong//strong") and "**" not in text_of(p)


def test_asterisks_in_inline_code_stay_literal(cache):
    p = paragraph(markdown_tree("代码`a**b**c`里", 1, cache))
    assert p.find("code").text == "a**b**c" and p.find(".//strong") is None


def test_literal_bold_around_a_link_becomes_strong(cache):
    p = paragraph(markdown_tree('策略是**"[开源](https://x.example)"双轨**：', 1, cache))
    assert "**" not in text_of(p)
    assert p.find("strong/a") is not None


# ------------------------------------------------------------------ structure and lines

def test_a_list_written_right_after_a_line_of_text_is_a_list(cache):
    tree = markdown_tree("**核心数据**：\n- 总参数：236B\n- 激活参数：仅21B\n", 1, cache)
    assert [node.tag for node in tree] == ["p", "ul"]
    assert [text_of(li) for li in tree.find("ul")] == ["总参数：236B", "激活参数：仅21B"]


def test_a_line_break_inside_chinese_adds_no_space(cache):
    assert text_of(paragraph(markdown_tree("第一行\n第二行", 1, cache))) == "第一行第二行"


BODY = """\
第一段，含**粗体**。

## 标题

- 项目一
- 项目二

> 引文

```python
print("x")
```

| 甲 | 乙 |
|---|---|
| 一 | 二 |
"""


@pytest.mark.parametrize("tag, body_line", [
    ("p", 1),
    ("h2", 3),
    ("ul", 5),
    ("blockquote", 8),
    (".//pre", 10),
    ("table", 14),
])
def test_elements_carry_the_line_of_their_file(cache, tag, body_line):
    first_line = 10                           # the body starts on line 10 of its file
    tree = markdown_tree(BODY, first_line, cache)
    node = tree.find(tag)
    assert node is not None, to_html(tree)
    assert line_of(node) == body_line + first_line - 1


def test_a_heading_on_body_line_3_is_file_line_12_when_the_body_starts_on_line_10(cache):
    tree = markdown_tree(BODY, 10, cache)
    assert tree.find("h2").get("data-line") == "12"
    # inline elements answer with the line of the block that holds them
    assert line_of(tree.find("p/strong")) == 10
    assert markdown_tree(BODY, 1, cache).find("h2").get("data-line") == "3"
