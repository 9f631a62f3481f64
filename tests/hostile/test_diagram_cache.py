"""A diagram cache entry is not trusted: whatever a crash or anyone who can write the cache
folder left there, a build either uses the cache's own, verified file or renders the diagram
again. It never packs a file the meta names, never uses a truncated image and never stops with
a traceback.

One cold render (module fixture) makes a pristine cache; every test plants its attack or fault in
a private copy of it and renders through the public API, as the build does.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from pipeline import diagrams
from pipeline.config import DiagramSettings
from pipeline.diagnostics import Diagnostics
from pipeline.diagrams import DiagramBlock, render_diagrams
from pipeline.errors import PipelineError

pytestmark = pytest.mark.slow   # every case starts Chromium, at least for the pristine cache

SECRET = "TOP-SECRET-diagram-cache-0xBADCAFE"
# Distinct diagrams, one cache entry each.
GOOD = [f"flowchart TD\n    甲[缓存条目{i}] --> 乙[逐一校验]" for i in range(12)]
BROKEN = "flowchart LR\n    A[开始] --> B[[[ 错误"


def block(code: str) -> DiagramBlock:
    return DiagramBlock(code=code, file=Path("cache.md"), line=1, id=None, caption=None, alt=None, layout=None)


def render(cache: Path, codes: list[str]):
    """(rendered diagrams, renderer runs it took, diagnostics) of one render_diagrams call."""
    launches = diagrams.renderer_launches
    diagnostics = Diagnostics()
    rendered = render_diagrams([block(code) for code in codes], DiagramSettings(), cache, diagnostics=diagnostics)
    return rendered, diagrams.renderer_launches - launches, diagnostics


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    cache = tmp_path_factory.mktemp("pristine") / "cache"
    rendered, runs, _ = render(cache, [*GOOD, BROKEN])
    assert runs == 1
    good, broken = rendered[:-1], rendered[-1]
    assert all(r.error is None and r.media_type == "image/svg+xml" for r in good) and broken.error
    return {"cache": cache, "keys": [r.path.stem for r in good], "svgs": [r.path.read_bytes() for r in good],
            "broken_key": broken.path.name.removesuffix(".error.svg")}


@pytest.fixture
def cache(pristine, tmp_path) -> Path:
    copy = tmp_path / "cache"
    shutil.copytree(pristine["cache"], copy, symlinks=True)
    return copy


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(f"<svg xmlns='http://www.w3.org/2000/svg'><text>{SECRET}</text></svg>", encoding="utf-8")
    return path


def meta_of(cache: Path, key: str) -> dict:
    return json.loads((cache / f"{key}.json").read_text(encoding="utf-8"))


def write_meta(cache: Path, key: str, meta: dict) -> None:
    (cache / f"{key}.json").write_text(json.dumps(meta), encoding="utf-8")


def assert_own_verified_file(cache: Path, rendered, key: str, svg: bytes) -> None:
    path = rendered.path
    assert path == cache / f"{key}.svg" and not path.is_symlink() and path.resolve().parent == cache.resolve()
    assert path.read_bytes() == svg and SECRET.encode() not in path.read_bytes()
    meta = meta_of(cache, key)
    assert meta["sha256"] == hashlib.sha256(svg).hexdigest() and meta["size"] == len(svg)


def test_meta_naming_a_file_outside_the_cache_is_not_followed(pristine, cache, secret):
    """(a) `file` pointing out of the cache: names come from the key, so the entry's own,
    verified SVG is used and nothing needs rendering."""
    key, svg = pristine["keys"][0], pristine["svgs"][0]
    write_meta(cache, key, {**meta_of(cache, key), "file": os.path.relpath(secret, cache)})
    (rendered,), runs, diagnostics = render(cache, [GOOD[0]])
    assert runs == 0 and not diagnostics.errors
    assert_own_verified_file(cache, rendered, key, svg)   # the `file` it names is simply never read
    assert secret.read_text(encoding="utf-8").count(SECRET) == 1


def test_meta_vouching_for_the_secret_is_a_miss(pristine, cache, secret):
    """(a) The attacker also writes the secret's size and hash into the meta: they do not match
    the entry's SVG, so the entry is dropped and the diagram rendered again."""
    key, svg = pristine["keys"][1], pristine["svgs"][1]
    data = secret.read_bytes()
    write_meta(cache, key, {**meta_of(cache, key), "file": str(secret), "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()})
    (rendered,), runs, _ = render(cache, [GOOD[1]])
    assert runs == 1
    assert_own_verified_file(cache, rendered, key, svg)


def test_image_replaced_by_a_link_to_the_secret_is_a_miss(pristine, cache, secret):
    """(a) The entry's own name made a link to the secret, with a matching meta: a link is never
    read, and the re-render replaces the link instead of writing through it."""
    key, svg = pristine["keys"][2], pristine["svgs"][2]
    data = secret.read_bytes()
    (cache / f"{key}.svg").unlink()
    (cache / f"{key}.svg").symlink_to(secret)
    write_meta(cache, key, {**meta_of(cache, key), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    (rendered,), runs, _ = render(cache, [GOOD[2]])
    assert runs == 1
    assert_own_verified_file(cache, rendered, key, svg)
    assert secret.read_bytes() == data


def test_truncated_svg_is_rendered_again(pristine, cache):
    """(b) A crash mid-write (or a full disk) left half an SVG under the entry's name."""
    key, svg = pristine["keys"][3], pristine["svgs"][3]
    (cache / f"{key}.svg").write_bytes(svg[: len(svg) // 2])
    (rendered,), runs, diagnostics = render(cache, [GOOD[3]])
    assert runs == 1 and not diagnostics.errors
    assert_own_verified_file(cache, rendered, key, svg)   # byte for byte the cold render's SVG


GARBAGE = {
    "not JSON": b"\x00\xff{ this is not json",
    "empty": b"",
    "nested too deep": b"[" * 200_000,
    "a list": b'["image/svg+xml"]',
    "fields missing": b'{"media_type": "image/svg+xml"}',
    "wrong types": json.dumps({"media_type": "image/svg+xml", "width_px": "wide", "height_px": None,
                               "min_font_px": True, "size": "1", "sha256": 7}).encode(),
}


def test_garbage_meta_is_rendered_again_without_a_traceback(pristine, cache):
    """(c) Every kind of unreadable meta, all in one build: each is a miss, deleted and rendered
    again in the same single renderer run, and the build reports no problem."""
    keys, svgs = pristine["keys"][4:], pristine["svgs"][4:]
    *byte_keys, link_key, folder_key = keys
    assert len(byte_keys) == len(GARBAGE)
    for key, garbage in zip(byte_keys, GARBAGE.values()):
        (cache / f"{key}.json").write_bytes(garbage)
    # Beyond bytes: a link to an endless device (must not be read, or the build hangs) and a folder.
    (cache / f"{link_key}.json").unlink()
    (cache / f"{link_key}.json").symlink_to("/dev/zero")
    (cache / f"{folder_key}.json").unlink()
    (cache / f"{folder_key}.json").mkdir()
    rendered, runs, diagnostics = render(cache, GOOD[4:])
    assert runs == 1 and len(diagnostics) == 0
    for result, key, svg in zip(rendered, keys, svgs, strict=True):
        assert_own_verified_file(cache, result, key, svg)


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_each_garbage_meta_alone_is_a_miss(pristine, cache, name, monkeypatch):
    """(c) Each fault on its own, without starting a browser: a miss means the stage goes on
    to render, which here stops at the missing browser with its own message."""
    key = pristine["keys"][0]
    (cache / f"{key}.json").write_bytes(GARBAGE[name])
    monkeypatch.setenv("BOOK_CHROMIUM", str(cache / "no-such-chromium"))
    with pytest.raises(PipelineError, match="BOOK_CHROMIUM"):
        render(cache, [GOOD[0]])
    assert not (cache / f"{key}.json").exists() and not (cache / f"{key}.svg").exists(), "the entry is dropped"


def test_placeholder_replaces_a_planted_link(pristine, cache, secret):
    """Failed diagrams are drawn as a placeholder SVG in the cache: written atomically, so a
    link planted under its name is replaced, never written through."""
    placeholder = cache / f"{pristine['broken_key']}.error.svg"
    before = secret.read_bytes()
    placeholder.unlink()
    placeholder.symlink_to(secret)
    (rendered,), runs, diagnostics = render(cache, [BROKEN])
    assert runs == 1 and rendered.error and [d.code for d in diagnostics] == ["diagram-render"]
    assert rendered.path == placeholder and not placeholder.is_symlink()
    assert "diagram failed" in placeholder.read_text(encoding="utf-8")
    assert secret.read_bytes() == before
