import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANUSCRIPT = ROOT / "manuscript"
SEED_CHAPTER = "000_979c7db5ac6bf23c.txt"
SEED_PROFILE = "002_f7d0318209cfb2cf.txt"


@pytest.fixture
def manuscript(tmp_path) -> Path:
    """A private copy of the bundled manuscript that a test may break."""
    target = tmp_path / "manuscript"
    shutil.copytree(MANUSCRIPT, target)
    return target


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=600)
