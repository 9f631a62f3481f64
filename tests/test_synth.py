"""bench/synth.py: the synthetic manuscript is one the pipeline accepts, with the declared structure.

The book is read the way the build reads it: pipeline.check.check_manuscript parses every
document into its tree, and the diagrams are found on those trees."""
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from pipeline.check import check_manuscript
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.diagrams import find_diagrams

sys.path.insert(0, str(ROOT / "bench"))
import synth  # noqa: E402

FIRST_LINES = {"flowchart": "flowchart", "sequence": "sequenceDiagram", "timeline": "timeline", "pie": "pie",
               "gantt": "gantt", "class": "classDiagram", "state": "stateDiagram", "mindmap": "mindmap"}


@pytest.fixture(scope="module")
def small_book(tmp_path_factory) -> Path:
    return synth.generate(tmp_path_factory.mktemp("synth") / "book", chapters=3, diagrams=4, seed=7)


@pytest.fixture(scope="module")
def checked(small_book, tmp_path_factory):
    """The checked book: documents in reading order with their trees, and the run's diagnostics."""
    diagnostics = Diagnostics()
    config = load_config(small_book, diagnostics)
    return check_manuscript(config, diagnostics, tmp_path_factory.mktemp("synth-cache"))


def test_check_finds_nothing_to_report(checked):
    assert [str(d) for d in checked.diagnostics] == []
    assert len(checked.documents) == 3


@pytest.mark.slow
def test_check_cli_accepts_it_strictly(small_book, tmp_path):
    result = run_cli("check", "--manuscript", str(small_book), "--out", str(tmp_path / "build"), "--strict")
    assert result.returncode == 0, result.stderr
    assert "checked 3 document(s)" in result.stderr
    # no diagnostic lines, and no count line (it is printed only when there is something to count)
    assert not re.search(r"(^|: )(error|warning): |error\(s\)", result.stderr, re.M), result.stderr


def test_chapters_have_the_declared_structure(checked):
    reports = checked.documents
    assert [d.meta["chapter_number"] for d in reports] == [1, 2, 3]
    assert {d.meta["status"] for d in reports} <= {"draft", "review", "final"}
    references = []
    for report in reports:
        doc, m = report.document, report.measurement
        assert len(m.anecdotes) == doc.meta["anecdote_count"] == 2, doc.path
        assert all(b.text.startswith("💡 轶事：") and b.level == 2 for b in m.anecdotes)
        assert m.takeaways is not None and m.references is not None, doc.path
        assert m.takeaways.line < m.references.line
        assert doc.source_line(m.references.line).startswith("**参考文献**")   # file lines, not body lines
        assert abs(m.length - doc.meta["word_count"]) <= 0.05 * doc.meta["word_count"]
        assert doc.meta["created_date"] <= doc.meta["last_updated"]   # ISO text sorts as dates
        # the seed's habits: a bold lead-in with its list right under it, tables, code blocks
        assert re.search(r"^\*\*[^*\n]+\*\*：\n- ", doc.body, re.M), doc.path
        assert re.search(r"^\| .+ \|\n\|-", doc.body, re.M) or "```" in doc.body
        references += re.findall(r"^- (.+)$", doc.body[doc.body.index("**参考文献**"):], re.M)
    shared = [r for r in set(references) if references.count(r) > 1]
    assert shared, "some references should be cited by more than one chapter"


def test_diagrams_are_spread_typed_and_captioned(checked):
    diagnostics = Diagnostics()
    blocks = [b for d in checked.documents for _, b in find_diagrams(d.document, diagnostics)]
    assert len(diagnostics) == 0
    assert len(blocks) == 4
    assert len({b.file for b in blocks}) == 3                          # every chapter has one or more
    kinds = {next(k for k, first in FIRST_LINES.items() if b.code.startswith(first)) for b in blocks}
    assert len(kinds) == 4                                            # four different types
    assert all(b.caption and b.id and b.id.startswith("fig:") for b in blocks)
    assert len({b.id for b in blocks}) == 4 and len({b.code for b in blocks}) == 4
    assert all(re.search(r"[\u4e00-\u9fff]", b.code) for b in blocks)  # Chinese labels
    for b in blocks:   # each block's line is its opening fence in its file
        assert b.file.read_text(encoding="utf-8").splitlines()[b.line - 1].lstrip().startswith(("```", "~~~"))


def test_same_seed_same_files_other_seed_other_text(small_book, tmp_path):
    again = synth.generate(tmp_path / "again", chapters=3, diagrams=4, seed=7)
    other = synth.generate(tmp_path / "other", chapters=3, diagrams=4, seed=8)
    read = lambda folder: {p.name: p.read_bytes() for p in sorted(folder.glob("*.txt"))}  # noqa: E731
    assert read(again) == read(small_book)
    assert read(other) != read(small_book)
    assert (again / "data" / "events.yaml").is_file()
