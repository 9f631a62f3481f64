"""The live manuscript: authors edit it, so this only says that it checks and builds.
No figure or sentence of it is asserted anywhere in the tests."""
import zipfile

import pytest

from conftest import ROOT, run_cli


@pytest.mark.slow
def test_the_manuscript_checks_and_builds(tmp_path):
    check = run_cli("check", "--manuscript", str(ROOT / "manuscript"), "--out", str(tmp_path))
    assert check.returncode == 0, check.stderr
    build = run_cli("all", "--manuscript", str(ROOT / "manuscript"), "--out", str(tmp_path))
    assert build.returncode == 0, build.stderr
    assert "Traceback" not in build.stderr
    assert (tmp_path / "book.pdf").read_bytes().startswith(b"%PDF-")
    with zipfile.ZipFile(tmp_path / "book.epub") as archive:
        assert archive.read("mimetype") == b"application/epub+zip"
