"""Status folder by folder: the stat cache's folder index (a stat key per folder, as last
verified against a snapshot) lets status skip unchanged folders whole and read the
recorded entries and cached digests only of the folders that changed."""

from __future__ import annotations

import os

import pytest

from conftest import write_tree

import importlib

status_mod = importlib.import_module("lineage.snapshots.status")


def _tree(workdir):
    files = {f"d/f{i}.txt": f"top {i}\n" for i in range(3)}
    files.update({f"d/a/b/c/deep{i}.txt": f"deep {i}\n" for i in range(3)})
    files.update({f"d/other{j}/x{i}.txt": f"o{j} {i}\n" for j in range(4) for i in range(3)})
    write_tree(workdir, files)


@pytest.fixture
def tracked(repo, workdir):
    from lineage.snapshots.add import create

    _tree(workdir)
    create(repo, workdir / "d")
    return repo


def _status(repo):
    repo.stat_cache.folders_read.clear()
    (s,) = status_mod.status(repo, "d")
    return s


@pytest.fixture
def no_manifest(monkeypatch):
    """Status must not load the whole manifest: loading it fails the test."""
    def refuse(*a, **k):
        raise AssertionError("the whole manifest was loaded")
    monkeypatch.setattr(status_mod, "load_manifest", refuse)


def test_nothing_changed_reads_no_folder(tracked, workdir, no_manifest):
    s = _status(tracked)
    assert s.state == "clean" and tracked.stat_cache.folders_read == []


def test_an_edit_in_a_deep_folder_reads_that_folder_only(tracked, workdir, no_manifest):
    (workdir / "d/a/b/c/deep1.txt").write_text("edited, longer\n")
    s = _status(tracked)
    assert s.state == "changed" and s.modified == ["a/b/c/deep1.txt"] and not s.added and not s.removed
    stat_folders = [p for p in tracked.stat_cache.folders_read if os.sep in p]
    assert stat_folders == [str(workdir / "d/a/b/c")]
    assert len(tracked.stat_cache.folders_read) == 2  # its cached digests and its recorded entries


def test_a_same_size_edit_is_found_by_hashing(tracked, workdir, no_manifest):
    (workdir / "d/other2/x1.txt").write_text("O2 1\n")  # same length, new content
    s = _status(tracked)
    assert s.modified == ["other2/x1.txt"]


def test_a_file_added_and_one_removed_in_a_folder(tracked, workdir, no_manifest):
    (workdir / "d/other1/new.txt").write_text("new\n")
    (workdir / "d/other3/x0.txt").unlink()
    s = _status(tracked)
    assert s.added == ["other1/new.txt"] and s.removed == ["other3/x0.txt"] and not s.modified
    stat_folders = sorted(os.path.basename(p) for p in tracked.stat_cache.folders_read if os.sep in p)
    assert stat_folders == ["other1", "other3"]


def test_a_new_folder_and_a_removed_folder(tracked, workdir, no_manifest):
    os.rename(workdir / "d/other0", workdir / "d/renamed")
    s = _status(tracked)
    assert s.removed == [f"other0/x{i}.txt" for i in range(3)]
    assert s.added == [f"renamed/x{i}.txt" for i in range(3)]
    assert not s.modified


def test_a_touched_file_with_the_same_content_is_clean_and_its_folder_skipped_next(tracked, workdir,
                                                                                   no_manifest):
    p = workdir / "d/other1/x2.txt"
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    s = _status(tracked)
    assert s.state == "clean"
    assert any(p.endswith("other1") for p in tracked.stat_cache.folders_read)
    s = _status(tracked)
    assert s.state == "clean" and tracked.stat_cache.folders_read == []


def test_a_replaced_file_with_the_old_size_and_mtime_is_found_by_its_inode(tracked, workdir, no_manifest):
    p = workdir / "d/a/b/c/deep0.txt"
    st = p.stat()
    tmp = p.with_name("replacement")
    tmp.write_text("DEEP 0\n")  # same size
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, p)  # a new inode, the old size and mtime
    s = _status(tracked)
    assert s.modified == ["a/b/c/deep0.txt"]


def test_the_edit_stays_reported_until_snapshotted_then_clean(tracked, workdir, no_manifest):
    from lineage.snapshots.add import create

    (workdir / "d/f0.txt").write_text("changed\n")
    assert _status(tracked).modified == ["f0.txt"]
    assert _status(tracked).modified == ["f0.txt"]  # the cached digest does not make it clean
    create(tracked, workdir / "d")
    s = _status(tracked)
    assert s.state == "clean" and tracked.stat_cache.folders_read == []


def test_without_a_folder_index_status_compares_whole_and_records_one(tracked, workdir):
    cache = tracked.stat_cache
    cache.conn.execute("DELETE FROM folder_keys")
    cache.conn.execute("DELETE FROM trees")
    (workdir / "d/other2/x0.txt").write_text("edited, longer\n")
    assert _status(tracked).modified == ["other2/x0.txt"]
    known = cache.folders(str(workdir / "d"))
    assert known is not None and known[1]["other2/"][0] == ""  # a folder that differs: never matches
    assert known[1]["other1/"][0] != ""
    (workdir / "d/other2/x0.txt").write_text("o2 0\n")
    s = _status(tracked)
    assert s.state == "clean" and [os.path.basename(p) for p in cache.folders_read if os.sep in p] == ["other2"]


def test_an_older_version_checked_out_is_compared_with_its_own_entries(cli, workdir):
    write_tree(workdir, {"d/a/x.txt": "one\n", "d/b/y.txt": "y\n"})
    assert cli("snapshot", "d").code == 0
    write_tree(workdir, {"d/a/x.txt": "two\n"})
    assert cli("snapshot", "d").code == 0
    assert cli("checkout", "d@1").code == 0
    assert cli("status", "--porcelain").stdout == ""
    write_tree(workdir, {"d/a/x.txt": "three\n"})
    assert cli("status", "--porcelain").stdout.splitlines() == [" M d/a/x.txt"]


def test_the_root_folder_of_a_dataset_counts_as_a_folder(tracked, workdir, no_manifest):
    (workdir / "d/f1.txt").unlink()
    s = _status(tracked)
    assert s.removed == ["f1.txt"]
    assert [os.path.basename(p) for p in tracked.stat_cache.folders_read if os.sep in p] == ["d"]


def test_a_single_file_dataset_still_compares_its_one_entry(repo, workdir):
    from lineage.snapshots.add import create

    write_tree(workdir, {"one.csv": "a\n1\n"})
    create(repo, workdir / "one.csv")
    assert status_mod.status(repo, "one.csv")[0].state == "clean"
    (workdir / "one.csv").write_text("a\n2\n")
    assert status_mod.status(repo, "one.csv")[0].modified == ["one.csv"]


def test_entries_no_index_refers_to_are_dropped(tracked, workdir):
    from lineage.snapshots.add import create

    cache = tracked.stat_cache
    before = {h for (h,) in cache.conn.execute("SELECT hash FROM folder_entries")}
    (workdir / "d/other3/x1.txt").write_text("new content\n")
    create(tracked, workdir / "d")
    after = {h for (h,) in cache.conn.execute("SELECT hash FROM folder_entries")}
    assert len(after) == len(before) and len(after - before) == 1  # one folder's entries replaced
