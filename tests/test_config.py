"""book.yaml validation: every problem reported at once, with its line."""
from pathlib import Path

import pytest

from conftest import BOOKS
from pipeline.config import load_config
from pipeline.diagnostics import Diagnostics
from pipeline.errors import BuildStopped, PipelineError

# Line numbers below are counted in this text (12 lines; an appended line is 13).
VALID = """\
title: A Book
identifier: urn:test:1
date: 2026-01-01
contents:
  chapters:
    - one.md
  appendices: [takeaways]
check:
  registry: data
print:
  trim: {width: 170mm, height: 240mm}
  variant: rgb
"""


def book(tmp_path: Path, text: str) -> Path:
    """A manuscript folder with book.yaml, one.md and an empty registry folder."""
    (tmp_path / "book.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "one.md").write_text("---\ntitle: x\n---\nA line of text.\n", encoding="utf-8")
    (tmp_path / "data").mkdir(exist_ok=True)
    return tmp_path


def collect(root: Path) -> tuple[Diagnostics, BuildStopped | None]:
    diagnostics = Diagnostics()
    try:
        load_config(root, diagnostics)
    except BuildStopped as stopped:
        return diagnostics, stopped
    return diagnostics, None


def by_code(diagnostics: Diagnostics, code: str) -> list:
    return sorted((d for d in diagnostics if d.code == code), key=lambda d: d.line or 0)


def test_valid_book_has_no_diagnostics(tmp_path):
    diagnostics, stopped = collect(book(tmp_path, VALID))
    assert stopped is None
    assert list(diagnostics) == []


def test_three_value_errors_in_one_run_with_their_lines(tmp_path):
    text = VALID.replace("    - one.md\n", "    - one.md\n    - missing.md\n") \
                .replace("width: 170mm", "width: wide") \
                .replace("variant: rgb", "variant: cmyk")
    root = book(tmp_path, text)
    diagnostics, stopped = collect(root)

    assert stopped is not None and stopped.stage == "book.yaml"
    errors = by_code(diagnostics, "config-invalid")
    assert all(d.is_error and d.file == root / "book.yaml" for d in errors)
    assert [(d.line, d.message) for d in errors] == [
        (7, "contents.chapters names 'missing.md', which does not exist."),
        (12, "'print.trim.width' is 'wide', which is not a length."),
        (13, "'print.variant' is 'cmyk', which is not one of rgb, pdfx."),
    ]
    assert all(d.hint for d in errors)


def test_file_outside_the_folder_is_skipped_and_parsing_goes_on(tmp_path):
    text = VALID.replace("    - one.md\n", "    - ../elsewhere.md\n    - one.md\n").replace("variant: rgb", "variant: x")
    diagnostics, stopped = collect(book(tmp_path, text))
    assert stopped is not None
    assert [(d.line, "outside the manuscript folder" in d.message) for d in by_code(diagnostics, "config-invalid")] \
        == [(6, True), (13, False)]


def test_unknown_keys_at_three_levels_with_did_you_mean(tmp_path):
    text = ("titel: Typo\n" + VALID
            ).replace("  registry: data\n", "  registry: data\n  regsitry: data\n") \
             .replace("{width: 170mm, height: 240mm}", "{width: 170mm, height: 240mm, widht: 1mm}") \
             .replace("  variant: rgb\n", "  variant: rgb\n  varient: pdfx\n")
    diagnostics, stopped = collect(book(tmp_path, text))

    assert stopped is None, "unknown keys are warnings and must not stop the run"
    warnings = by_code(diagnostics, "config-unknown-key")
    assert all(not d.is_error for d in warnings)
    assert [(d.line, d.message, d.hint) for d in warnings] == [
        (1, "unknown key 'titel'", "Did you mean 'title'?"),
        (11, "unknown key 'check.regsitry'", "Did you mean 'registry'?"),
        (13, "unknown key 'print.trim.widht'", "Did you mean 'width'?"),
        (15, "unknown key 'print.varient'", "Did you mean 'variant'?"),
    ]


def test_unknown_keys_in_parts_and_document_entries(tmp_path):
    text = VALID.replace("  appendices:", "  parts:\n"
                                          "    - id: p\n"
                                          "      title: P\n"
                                          "      documents:\n"
                                          "        - {file: one.md, idd: x}\n"
                                          "      colour: red\n"
                                          "  appendices:")
    diagnostics, _ = collect(book(tmp_path, text))
    warnings = by_code(diagnostics, "config-unknown-key")
    assert [(d.line, d.message, d.hint) for d in warnings] == [
        (11, "unknown key 'contents.parts[0].documents[0].idd'", "Did you mean 'id'?"),
        (12, "unknown key 'contents.parts[0].colour'", "Known keys here: id, title, documents."),
    ]


@pytest.mark.parametrize("written, parsed", [("on", "on"), ("off", "off"), ("'on'", "on"), ("auto", "auto")])
def test_parallel_accepts_bare_on_and_off(tmp_path, written, parsed):
    diagnostics = Diagnostics()
    config = load_config(book(tmp_path, VALID + f"  parallel: {written}\n"), diagnostics)
    assert config.print.parallel == parsed
    assert list(diagnostics) == []


def test_parallel_still_rejects_other_values(tmp_path):
    diagnostics, stopped = collect(book(tmp_path, VALID + "  parallel: sometimes\n"))
    assert stopped is not None
    assert [d.line for d in by_code(diagnostics, "config-invalid")] == [13]


def test_missing_registry_folder_warns(tmp_path):
    root = book(tmp_path, VALID.replace("registry: data", "registry: slugs"))
    diagnostics = Diagnostics()
    config = load_config(root, diagnostics)   # a warning: the config still loads
    assert config.check.registry == "slugs"
    [warning] = list(diagnostics)
    assert (warning.code, warning.severity, warning.line) == ("config-invalid", "warning", 9)
    assert "'slugs'" in warning.message and "registry checks are off" in warning.message
    assert warning.hint


def test_without_diagnostics_one_error_lists_every_problem(tmp_path):
    text = "titel: Typo\n" + VALID.replace("variant: rgb", "variant: cmyk").replace("date: 2026-01-01", "date: soon")
    root = book(tmp_path, text)
    with pytest.raises(PipelineError) as raised:
        load_config(root)
    lines = raised.value.what.splitlines()
    assert lines[0] == "3 problems:"
    assert len(lines) == 4
    assert "book.yaml:1: warning: unknown key 'titel'" in lines[1]
    assert "book.yaml:4: error: 'date' is 'soon', which is not a date." in lines[2]
    assert "book.yaml:13: error: 'print.variant' is 'cmyk'" in lines[3]


def test_without_diagnostics_a_single_error_reads_as_before(tmp_path):
    root = book(tmp_path, VALID.replace("- one.md", "- 099_missing.md"))
    with pytest.raises(PipelineError) as raised:
        load_config(root)
    error = raised.value
    assert (error.what, error.file, error.line) == (
        "contents.chapters names '099_missing.md', which does not exist.", root / "book.yaml", 6)


def test_without_diagnostics_warnings_are_logged_and_the_config_loads(tmp_path, caplog):
    config = load_config(book(tmp_path, VALID + "  varient: pdfx\n"))
    assert config.print.variant == "rgb"
    assert any("unknown key 'print.varient'" in r.getMessage() and "book.yaml:13" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("text, fragment", [
    ("title: [unclosed\n", "the YAML cannot be read"),
    ("- a list\n", "must be a YAML mapping"),
])
def test_unreadable_book_yaml_stops_at_once(tmp_path, text, fragment):
    diagnostics = Diagnostics()
    with pytest.raises(PipelineError, match=fragment):
        load_config(book(tmp_path, text), diagnostics)
    assert list(diagnostics) == []


@pytest.mark.parametrize("name", ["mini", "xref", "problems"])
def test_fixture_book_yamls_load(name):
    """Every setting the fixtures use is known, but for the typo the problems book plants."""
    diagnostics = Diagnostics()
    load_config(BOOKS / name, diagnostics)
    assert [d.code for d in diagnostics] == (["config-unknown-key"] if name == "problems" else [])


def test_latin_hyphenation_names_a_language_with_a_dictionary(tmp_path):
    diagnostics, stopped = collect(book(tmp_path, VALID.replace("  variant: rgb\n",
                                                                "  variant: rgb\n  latin_hyphenation: klingon\n")))
    assert stopped is not None
    assert [(d.line, d.message) for d in by_code(diagnostics, "config-invalid")] == [
        (13, "'print.latin_hyphenation' names a language without a hyphenation dictionary: 'klingon'.")]
    (tmp_path / "ok").mkdir()
    config = load_config(book(tmp_path / "ok", VALID.replace("  variant: rgb\n", "  variant: rgb\n  latin_hyphenation: ''\n")))
    assert config.print.latin_hyphenation == ""
    assert config.print.squeeze_commas is False


def test_assemble_tabs_is_a_list_of_labels(tmp_path):
    assert load_config(book(tmp_path, VALID)).assemble.tabs == ()
    (tmp_path / "set").mkdir()
    text = VALID + "assemble:\n  tabs: [Python, C++]\n"
    assert load_config(book(tmp_path / "set", text)).assemble.tabs == ("Python", "C++")


def test_assemble_shortcodes_map_names_to_texts(tmp_path):
    text = VALID + 'assemble:\n  shortcodes:\n    glossary_tooltip: "{text}"\n    heading: {whatsnext: 接下来}\n    x:\n'
    assert load_config(book(tmp_path, text)).assemble.shortcodes == (
        ("glossary_tooltip", "{text}"), ("heading", (("whatsnext", "接下来"),)), ("x", ""))
    (tmp_path / "bad").mkdir()
    # unquoted, {text} is YAML for a mapping with an empty value: the hint says to quote it
    diagnostics, stopped = collect(book(tmp_path / "bad", VALID + "assemble:\n  shortcodes:\n    tip: {text}\n"))
    assert stopped is not None
    (problem,) = by_code(diagnostics, "config-invalid")
    assert "'assemble.shortcodes' gives 'tip' {'text': None}" in problem.message and "quoted" in problem.hint


def test_print_link_urls_is_one_of_three(tmp_path):
    assert load_config(book(tmp_path, VALID)).print.link_urls == "footnote"
    (tmp_path / "bad").mkdir()
    diagnostics, stopped = collect(book(tmp_path / "bad", VALID.replace("  variant: rgb\n",
                                                                      "  variant: rgb\n  link_urls: margin\n")))
    assert stopped is not None
    assert [d.message for d in by_code(diagnostics, "config-invalid")] == [
        "'print.link_urls' is 'margin', which is not one of footnote, inline, none."]


def test_print_squeeze_commas_is_a_yes_or_no(tmp_path):
    config = load_config(book(tmp_path, VALID.replace("  variant: rgb\n", "  variant: rgb\n  squeeze_commas: true\n")))
    assert config.print.squeeze_commas is True
    (tmp_path / "bad").mkdir()
    diagnostics, stopped = collect(book(tmp_path / "bad", VALID.replace("  variant: rgb\n",
                                                                      "  variant: rgb\n  squeeze_commas: sometimes\n")))
    assert stopped is not None
    assert [(d.line, d.message) for d in by_code(diagnostics, "config-invalid")] == [
        (13, "'print.squeeze_commas' must be true or false, not 'sometimes'.")]
