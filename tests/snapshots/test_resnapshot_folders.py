"""Re-snapshot folder by folder: unchanged folders take the previous snapshot's entries
from the folder index (no stat-cache row, no object lookup when that snapshot was
stored), and the manifest and event are written without a dictionary per file, to the
same bytes and IDs as the canonical encoding of their documents."""

from __future__ import annotations

import os

import pytest

from conftest import write_tree

from lineage.core import canonical
from lineage.snapshots.add import create
from lineage.snapshots.manifest import Entry, Manifest
from lineage.store.objects import ObjectStore


def _tree(workdir):
    files = {f"d/f{i}.txt": f"top {i}\n" for i in range(3)}
    files.update({f"d/sub{j}/x{i}.txt": f"s{j} {i}\n" for j in range(4) for i in range(3)})
    write_tree(workdir, files)


@pytest.fixture
def lookups(monkeypatch):
    """The digests ``ObjectStore.exists`` is asked about."""
    asked: list[str] = []
    real = ObjectStore.exists

    def exists(self, digest):
        asked.append(digest)
        return real(self, digest)

    monkeypatch.setattr(ObjectStore, "exists", exists)
    return asked


def _one_change(repo, workdir, **kw):
    _tree(workdir)
    first = create(repo, workdir / "d", **kw)
    (workdir / "d/sub2/x1.txt").write_text("changed, and longer\n")
    repo.stat_cache.folders_read.clear()
    return first


def test_one_change_reads_only_its_folder_and_skips_stored_lookups(repo, workdir, lookups):
    first = _one_change(repo, workdir)
    lookups.clear()
    second = create(repo, workdir / "d")
    assert second.id != first.id and second.hashed_files == 1
    stat_rows = [p for p in repo.stat_cache.folders_read if os.sep in p]
    assert stat_rows == [str(workdir / "d/sub2")]  # the other folders came from the index
    # the previous snapshot was stored: no digest of an unchanged folder is looked up
    before = Manifest.decode(repo.store.read_bytes(first.id)).entries
    reused = {e.digest for e in before if not e.path.startswith("sub2/")}
    assert lookups and not reused & set(lookups)
    # the manifest is the one a full rehash gives
    repo.stat_cache.drop_tree(str(workdir / "d"))
    assert create(repo, workdir / "d", name="again").id == second.id


def test_after_a_no_store_snapshot_every_reused_object_is_checked(repo, workdir, lookups):
    _one_change(repo, workdir, store=False)
    lookups.clear()
    second = create(repo, workdir / "d")
    assert len(lookups) >= 14  # the bytes were never stored: each reused digest is checked
    manifest = Manifest.decode(repo.store.read_bytes(second.id))
    assert all(repo.store.exists(e.digest) for e in manifest.entries)


def test_a_folder_whose_key_differs_is_not_reused(repo, workdir):
    _tree(workdir)
    create(repo, workdir / "d")
    os.utime(workdir / "d/sub1/x0.txt", ns=(1, 1))  # same bytes, another mtime
    repo.stat_cache.folders_read.clear()
    again = create(repo, workdir / "d")
    assert again.unchanged and again.hashed_files == 1
    assert str(workdir / "d/sub1") in repo.stat_cache.folders_read


@pytest.mark.parametrize("dirs", [(), ("empty", "é dir")])
def test_manifest_bytes_are_the_canonical_encoding(dirs):
    names = ["a", "b c", "é/ü", 'q"uote', "back\\slash", "tab\tx", "\x01ctl", "日本/語", "\u2028", "😀"]
    entries = [Entry(n + str(i), i * 1_000_003, f"{i:064x}", bool(i % 2)) for i, n in enumerate(names)]
    m = Manifest.build("folder", entries, dirs)
    assert m.encode() == canonical.dumps(m.to_dict())


def test_the_snapshot_event_is_its_canonical_body(repo, workdir):
    _tree(workdir)
    result = create(repo, workdir / "d", message='a "quoted" message')
    (ev,) = [e for e in repo.graph.events(types=["snapshot"])]
    assert ev.id == result.event_id and ev.compute_id() == ev.id
    assert Manifest.from_dict(ev.body["manifest"]).encode() == repo.store.read_bytes(result.id)
    assert canonical.dumps(ev.body).decode() == ev.body_json
