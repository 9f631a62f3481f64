"""bench/synth.py: the synthetic manuscript is one the pipeline accepts, with the declared structure."""
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from pipeline.config import load_config
from pipeline.diagrams import find_diagrams
from pipeline.documents import read_manuscript
from pipeline.measure import measure

sys.path.insert(0, str(ROOT / "bench"))
import synth  # noqa: E402

FIRST_LINES = {"flowchart": "flowchart", "sequence": "sequenceDiagram", "timeline": "timeline", "pie": "pie",
               "gantt": "gantt", "class": "classDiagram", "state": "stateDiagram", "mindmap": "mindmap"}


@pytest.fixture(scope="module")
def small_book(tmp_path_factory) -> Path:
    return synth.generate(tmp_path_factory.mktemp("synth") / "book", chapters=3, diagrams=4, seed=7)


def test_check_accepts_it_without_warnings(small_book):
    result = run_cli("check", "--manuscript", str(small_book), "--strict")
    assert result.returncode == 0, result.stderr
    assert "0 error(s), 0 warning(s)" in result.stderr
    assert "checked 3 document(s)" in result.stderr


def test_chapters_have_the_declared_structure(small_book):
    documents = read_manuscript(load_config(small_book))
    assert [d.meta["chapter_number"] for d in documents] == [1, 2, 3]
    assert {d.meta["status"] for d in documents} <= {"draft", "review", "final"}
    references = []
    for doc in documents:
        m = measure(doc.body)
        assert len(m.anecdotes) == doc.meta["anecdote_count"] == 2, doc.path
        assert all(b.text.startswith("💡 轶事：") and b.level == 2 for b in m.anecdotes)
        assert m.takeaways is not None and m.references is not None, doc.path
        assert m.takeaways.line < m.references.line
        assert abs(m.length - doc.meta["word_count"]) <= 0.05 * doc.meta["word_count"]
        assert doc.meta["created_date"] <= doc.meta["last_updated"]   # ISO text sorts as dates
        # the seed's habits: a bold lead-in with its list right under it, tables, code blocks
        assert re.search(r"^\*\*[^*\n]+\*\*：\n- ", doc.body, re.M), doc.path
        assert re.search(r"^\| .+ \|\n\|-", doc.body, re.M) or "```" in doc.body
        references += re.findall(r"^- (.+)$", doc.body[doc.body.index("**参考文献**"):], re.M)
    shared = [r for r in set(references) if references.count(r) > 1]
    assert shared, "some references should be cited by more than one chapter"


def test_diagrams_are_spread_typed_and_captioned(small_book):
    documents = read_manuscript(load_config(small_book))
    blocks = [b for d in documents for b in find_diagrams(d.body, d.path, d.body_line)]
    assert len(blocks) == 4
    assert len({b.file for b in blocks}) == 3                          # every chapter has one or more
    kinds = {next(k for k, first in FIRST_LINES.items() if b.code.startswith(first)) for b in blocks}
    assert len(kinds) == 4                                            # four different types
    assert all(b.caption and b.id and b.id.startswith("fig:") for b in blocks)
    assert len({b.id for b in blocks}) == 4 and len({b.code for b in blocks}) == 4
    assert all(re.search(r"[\u4e00-\u9fff]", b.code) for b in blocks)  # Chinese labels


def test_same_seed_same_files_other_seed_other_text(small_book, tmp_path):
    again = synth.generate(tmp_path / "again", chapters=3, diagrams=4, seed=7)
    other = synth.generate(tmp_path / "other", chapters=3, diagrams=4, seed=8)
    read = lambda folder: {p.name: p.read_bytes() for p in sorted(folder.glob("*.txt"))}  # noqa: E731
    assert read(again) == read(small_book)
    assert read(other) != read(small_book)
    assert (again / "data" / "events.yaml").is_file()
