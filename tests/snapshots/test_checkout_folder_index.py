"""Checkout records the folder index of what it wrote: the next status skips every folder
it wrote whole, without reading any folder's entries or the whole manifest, and still
sees any change made after the checkout."""

from __future__ import annotations

import importlib
import os
import shutil

import pytest

from conftest import write_tree
from lineage import snapshots

status_mod = importlib.import_module("lineage.snapshots.status")

FILES = {
    "top.txt": "top\n",
    "a/one.txt": "one\n",
    "a/b/two.txt": "two\n" * 50,
    "a/b/c/three.bin": bytes(range(256)) * 8,
    "other/four.txt": "four\n",
    "other/five.txt": "five\n",
}


@pytest.fixture
def checked_out(repo):
    """The dataset ``data`` snapshotted, removed, and checked out again into its path."""
    data = write_tree(repo.root / "data", FILES)
    (data / "a" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(data / "a" / "run.sh", 0o755)
    s = snapshots.create(repo, data, name="data")
    shutil.rmtree(data)
    repo.stat_cache.conn.execute("DELETE FROM folder_keys")  # nothing left from the snapshot
    snapshots.checkout(repo, s.id)
    return repo


@pytest.fixture
def no_manifest(monkeypatch):
    """Status must not load the whole manifest: loading it fails the test."""
    def refuse(*a, **k):
        raise AssertionError("the whole manifest was loaded")
    monkeypatch.setattr(status_mod, "load_manifest", refuse)


def _status(repo):
    repo.stat_cache.folders_read.clear()
    (s,) = snapshots.status(repo, "data")
    return s


def _stat_folders(repo) -> list[str]:
    return sorted(os.path.basename(p) for p in repo.stat_cache.folders_read if os.sep in p)


def test_status_after_checkout_into_an_empty_folder_reads_no_folder(checked_out, no_manifest):
    known = checked_out.stat_cache.folders(str(checked_out.root / "data"))
    assert known is not None and sorted(known[1]) == ["", "a/", "a/b/", "a/b/c/", "other/"]
    assert all(key for key, _ in known[1].values())
    s = _status(checked_out)
    assert s.state == "clean" and checked_out.stat_cache.folders_read == []


def test_a_file_modified_after_checkout_is_reported(checked_out, no_manifest):
    (checked_out.root / "data/a/b/two.txt").write_text("edited\n")
    s = _status(checked_out)
    assert s.state == "changed" and s.modified == ["a/b/two.txt"] and not s.added and not s.removed
    assert _stat_folders(checked_out) == ["b"]


def test_a_same_size_edit_after_checkout_is_reported(checked_out, no_manifest):
    p = checked_out.root / "data/other/four.txt"
    st = p.stat()
    p.write_text("FOUR\n")
    # a later mtime, as any edit not in the same clock tick as the checkout has
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert _status(checked_out).modified == ["other/four.txt"]


def test_a_file_added_or_removed_after_checkout_is_reported(checked_out, no_manifest):
    (checked_out.root / "data/a/new.txt").write_text("new\n")
    (checked_out.root / "data/other/five.txt").unlink()
    s = _status(checked_out)
    assert s.added == ["a/new.txt"] and s.removed == ["other/five.txt"] and not s.modified


def test_a_folder_holding_an_untracked_file_is_not_trusted(repo, no_manifest):
    data = write_tree(repo.root / "data", FILES)
    s = snapshots.create(repo, data, name="data")
    shutil.rmtree(data)
    write_tree(data, {"other/mine.txt": "mine\n"})
    result = snapshots.checkout(repo, s.id)
    assert result.extra == ["other/mine.txt"]
    index = repo.stat_cache.folders(str(data))[1]
    assert index["other/"][0] == "" and index["a/"][0] != ""
    st = _status(repo)
    assert st.added == ["other/mine.txt"] and not st.modified and not st.removed
    assert _stat_folders(repo) == ["other"]


def test_a_folder_with_files_checkout_did_not_write_is_compared(repo, no_manifest):
    data = write_tree(repo.root / "data", FILES)
    s = snapshots.create(repo, data, name="data")
    (data / "a" / "b" / "two.txt").unlink()
    repo.stat_cache.conn.execute("DELETE FROM folder_keys")
    snapshots.checkout(repo, s.id)
    index = repo.stat_cache.folders(str(data))[1]
    # a/b/ holds only two.txt, written again: trusted; the others were left as they were
    assert index["a/b/"][0] != ""
    assert index["a/"][0] == "" and index["other/"][0] == ""
    st = _status(repo)
    assert st.state == "clean"


def test_a_partial_checkout_records_no_folder_index(repo, tmp_path):
    data = write_tree(repo.root / "data", FILES)
    s = snapshots.create(repo, data, name="data")
    out = tmp_path / "out"
    snapshots.checkout(repo, s.id, out, paths=["a"])
    assert repo.stat_cache.folders(str(out)) is None
