"""Checkout writes new folders in place under a temporary name and renames each in once
complete; files into existing folders still go through a temporary file each. Either
way, the stat cache learns every file written, so the next status hashes nothing."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from conftest import write_tree
from lineage import snapshots
from lineage.core.hashing import FileStat

status_mod = importlib.import_module("lineage.snapshots.status")

FILES = {
    "top.txt": "top\n",
    "a/one.txt": "one\n",
    "a/b/two.txt": "two\n" * 50,
    "a/b/c/three.bin": bytes(range(256)) * 8,
    "other/four.txt": "four\n",
    "big/large.bin": os.urandom(2 << 20),  # a loose object, not packed
}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _snapshot(repo):
    data = write_tree(repo.root / "data", FILES)
    (data / "a" / "b" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(data / "a" / "b" / "run.sh", 0o755)
    (data / "empty" / "inner").mkdir(parents=True)
    return snapshots.create(repo, data, name="data")


def _count_renames(monkeypatch) -> list[str]:
    """The folders the checkout renamed into place (only staged folders are renamed)."""
    renamed: list[str] = []
    real = os.rename

    def spy(src, dst, *args, **kwargs):
        renamed.append(os.path.basename(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", spy)
    return renamed


def test_checkout_into_an_empty_folder_stages_each_new_top_folder_once(repo, tmp_path, monkeypatch):
    s = _snapshot(repo)
    renamed = _count_renames(monkeypatch)
    out = tmp_path / "out"
    result = snapshots.checkout(repo, s.id, out)
    assert len(result.written) == len(FILES) + 1
    assert sorted(renamed) == ["a", "big", "empty", "other"]  # one rename per new top folder
    got = _tree(out)
    assert got == {**{k: (v.encode() if isinstance(v, str) else v) for k, v in FILES.items()},
                   "a/b/run.sh": b"#!/bin/sh\n"}
    assert os.stat(out / "a" / "b" / "run.sh").st_mode & 0o777 == 0o755
    assert os.stat(out / "a" / "one.txt").st_mode & 0o777 == 0o644
    assert (out / "empty" / "inner").is_dir()
    assert not [p for p in out.rglob("*") if ".lineage-tmp" in p.name]


def test_status_after_checkout_hashes_nothing(repo, tmp_path, monkeypatch):
    s = _snapshot(repo)
    out = repo.root / "data"
    import shutil

    shutil.rmtree(out)
    snapshots.checkout(repo, s.id)
    # every file written is known to the stat cache by its final device, inode, size and mtime
    for rel in [*FILES, "a/b/run.sh"]:
        path = out / rel
        assert repo.stat_cache.lookup(str(path), FileStat.of(os.stat(path))) is not None
    hashed: list[str] = []
    real = status_mod.hash_many

    def counting(items, *args, **kwargs):
        hashed.extend(path for path, _ in items)
        return real(items, *args, **kwargs)

    monkeypatch.setattr(status_mod, "hash_many", counting)
    [st] = snapshots.status(repo, "data")
    assert st.state == "clean"
    assert hashed == []


def test_files_into_existing_folders_are_not_staged(repo, tmp_path, monkeypatch):
    s = _snapshot(repo)
    out = tmp_path / "out"
    write_tree(out, {"a/b/c/untracked.txt": "mine\n", "other/four.txt": "four\n"})
    renamed = _count_renames(monkeypatch)
    snapshots.checkout(repo, s.id, out)
    # a, a/b, a/b/c and other existed: nothing of theirs staged; big and empty were new
    assert sorted(renamed) == ["big", "empty"]
    assert (out / "a" / "b" / "c" / "untracked.txt").read_text() == "mine\n"
    assert (out / "a" / "b" / "c" / "three.bin").read_bytes() == FILES["a/b/c/three.bin"]
    assert not [p for p in out.rglob("*") if ".lineage-tmp" in p.name]


def test_a_staged_folder_left_by_a_killed_checkout_is_removed_and_never_recorded(repo, tmp_path):
    s = _snapshot(repo)
    out = tmp_path / "out"
    snapshots.checkout(repo, s.id, out, paths=["top.txt"])
    # what a checkout killed while writing a new folder leaves: a temporary folder
    stale = out / ".lineage-tmp-0badcafe"
    write_tree(stale, {"one.txt": "half"})
    snapshots.checkout(repo, s.id, out)
    assert not stale.exists()
    assert _tree(out)["a/one.txt"] == b"one\n"
