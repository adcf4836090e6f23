"""Property tests of the path checker and the manifest parser.

- No path the checker accepts resolves outside its root or into ``.git``/``.lineage``,
  even with symlinks in the tree pointing out and into ``.git``.
- The manifest parser, fed arbitrary bytes or JSON, returns a manifest or raises a
  LineageError, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage.core import paths as safepaths
from lineage.errors import IntegrityError, LineageError, UnsafePathError
from lineage.snapshots.manifest import Manifest

SEGMENT = st.one_of(
    st.sampled_from(["", ".", "..", ".git", ".GIT", ".Git", ".lineage", ".LINEAGE", "a", "b:c",
                     "back\\slash", "out", "gitlink", "deep", "..a", "a..", "...", "x\x00y", " ",
                     "~", "$HOME", "C:", "hooks", "post-checkout"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
)
REL = st.one_of(
    st.lists(SEGMENT, min_size=1, max_size=6).map("/".join),
    st.lists(SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A root with symlinks out of it and into its .git, and an outside folder."""
    base = tmp_path_factory.mktemp("fuzzroot")
    root = base / "root"
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / ".lineage").mkdir()
    (root / "deep" / "a").mkdir(parents=True)
    outside = base / "outside"
    outside.mkdir()
    (root / "out").symlink_to(outside)
    (root / "gitlink").symlink_to(root / ".git")
    (root / "deep" / "up").symlink_to(base)
    (root / "deep" / "hooks").symlink_to(root / ".git" / "hooks")
    return root


def _inside_and_unprotected(root: Path, path: Path) -> bool:
    real_root = root.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(real_root):
        return False
    return not any(p.casefold() in (".git", ".lineage") for p in resolved.relative_to(real_root).parts)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rel=REL)
def test_accepted_relative_paths_stay_inside(tree, rel):
    try:
        safepaths.check_relative(rel)
    except UnsafePathError:
        return
    # lexically: no climbing, nothing protected
    parts = rel.split("/")
    assert not rel.startswith("/") and "\x00" not in rel
    assert all(p not in ("", ".", "..") and p.casefold() not in (".git", ".lineage") for p in parts)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rel=REL)
def test_accepted_destinations_resolve_inside_the_work_tree(tree, rel):
    repo = SimpleNamespace(root=tree)
    try:
        dest = safepaths.checked_destination(repo, rel, recorded=True)
    except UnsafePathError:
        return
    assert _inside_and_unprotected(tree, dest)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rel=REL)
def test_accepted_entries_resolve_inside_the_destination(tree, rel):
    try:
        safepaths.check_relative(rel)
        target = tree / rel
        safepaths.check_parent(tree.resolve(), target, {})
    except UnsafePathError:
        return
    assert _inside_and_unprotected(tree, target.parent)
    assert target.name.casefold() not in (".git", ".lineage")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
ENTRY = st.fixed_dictionaries({
    "path": st.one_of(REL, JSON), "size": st.one_of(st.integers(), JSON),
    "digest": st.one_of(st.just("0" * 64), st.text(max_size=70), JSON),
    "executable": st.one_of(st.booleans(), JSON),
})
MANIFEST_LIKE = st.fixed_dictionaries(
    {"format": st.one_of(st.just("lineage.manifest/1"), JSON),
     "kind": st.one_of(st.sampled_from(["file", "folder"]), JSON),
     "files": st.one_of(st.lists(ENTRY, max_size=4), JSON)},
    optional={"dirs": st.one_of(st.lists(REL, max_size=3), JSON)},
)


def _parse(data: bytes) -> None:
    for check_paths in (True, False):
        try:
            m = Manifest.decode(data, check_paths=check_paths)
        except LineageError:
            continue
        assert m.kind in ("file", "folder")
        if check_paths:
            for e in m.entries:
                safepaths.check_relative(e.path)


@given(data=st.binary(max_size=200))
def test_manifest_parser_on_arbitrary_bytes(data):
    _parse(data)


@given(doc=st.one_of(JSON, MANIFEST_LIKE))
def test_manifest_parser_on_arbitrary_json(doc):
    _parse(json.dumps(doc).encode())


def test_manifest_parser_on_deep_nesting():
    with pytest.raises(IntegrityError):
        Manifest.decode(b"[" * 100_000 + b"]" * 100_000)
