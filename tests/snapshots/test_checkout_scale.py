"""Checkout at scale: objects located in the packs all at once and read by positional
reads (never a mapping of the pack, which a million files would keep in memory), each
verified before it is written; the folder index made folder by folder as each is
completed; the pack index written from packed records."""

from __future__ import annotations

import os
import random
from pathlib import Path

import blake3
import pytest

from conftest import write_tree
from lineage import snapshots
from lineage.errors import CorruptObjectError
from lineage.snapshots.scan import record_folders
from lineage.store import packs
from lineage.store.packs import PackIndex, PackWriter, encode_index, locate_all
from lineage.store.statcache import StatCache

FILES = {
    "top.txt": "top\n",
    "a/one.txt": "one\n",
    "a/b/two.txt": "two\n" * 50,
    "a/b/c/three.bin": bytes(range(256)) * 8,
    "a/z.txt": "after the subfolder\n",  # sorts after a/b/...: a folder interleaved with its subfolders
    "other/four.txt": "four\n",
}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_checkout_reads_packs_without_mapping_them(repo, monkeypatch):
    data = write_tree(repo.root / "data", FILES)
    snap = snapshots.create(repo, data, name="data")

    def no_mapping(*args, **kwargs):
        raise AssertionError("a pack was mapped")

    monkeypatch.setattr("mmap.mmap", no_mapping)
    out = repo.root / "copy"
    snapshots.checkout(repo, snap.id, out)
    assert _tree(out) == {k: v.encode() if isinstance(v, str) else v for k, v in FILES.items()}
    # every folder was written whole by this checkout: each has its stat key recorded
    recorded = repo.stat_cache.folders(str(out))
    assert recorded is not None and recorded[0] == snap.id
    assert {p for p, (key, _) in recorded[1].items() if key} == {"", "a/", "a/b/", "a/b/c/", "other/"}
    st = snapshots.status(repo)
    assert [s.state for s in st] == ["clean"]


def test_a_corrupt_packed_object_is_refused_and_not_written(repo):
    data = write_tree(repo.root / "data", FILES)
    snap = snapshots.create(repo, data, name="data")
    (pack,) = repo.store.packs()
    digest = blake3.blake3(b"top\n").hexdigest()
    off, length = pack.find(bytes.fromhex(digest))
    os.chmod(pack.pack_path, 0o644)
    with open(pack.pack_path, "r+b") as fh:
        fh.seek(off)
        fh.write(b"TOP\n")
    repo.store.forget_packs()
    out = repo.root / "copy"
    with pytest.raises(CorruptObjectError, match=digest[:12]):
        snapshots.checkout(repo, snap.id, out)
    assert not (out / "top.txt").exists()


def test_locate_all_finds_each_digest_in_its_pack_and_marks_the_rest(tmp_path):
    made = []
    for n in (300, 40):  # the array search (many digests) and a small pack
        w = PackWriter()
        blobs = [os.urandom(16) for _ in range(n)]
        for b in blobs:
            w.add(blake3.blake3(b).hexdigest(), b)
        pack, idx, pid = w.finish()
        (tmp_path / f"{pid}.pack").write_bytes(pack)
        (tmp_path / f"{pid}.idx").write_bytes(idx)
        made.append((packs.LocalPack(tmp_path / f"{pid}.idx"), blobs))
    local = [p for p, _ in made]
    absent = blake3.blake3(b"in no pack").hexdigest()
    wanted = [(b, i) for i, (_, blobs) in enumerate(made) for b in blobs]
    random.Random(0).shuffle(wanted)
    digests = [blake3.blake3(b).hexdigest() for b, _ in wanted] + [absent]
    which, offsets, lengths = locate_all(local, digests)
    for k, (b, i) in enumerate(wanted):
        assert which[k] == i
        assert local[i].read(offsets[k], lengths[k]) == b
    assert which[len(wanted)] == -1
    assert tuple(locate_all(local, [])) == (packs.array("i"), packs.array("q"), packs.array("q"))


@pytest.mark.parametrize("count", [10, 5000])  # a sort in Python, and of records as an array
def test_a_pack_index_from_packed_records_is_the_one_the_entries_encode(count):
    w = PackWriter()
    rng = random.Random(count)
    for i in range(count):
        b = rng.randbytes(rng.randint(0, 40)) + i.to_bytes(4, "big")
        w.add(blake3.blake3(b).hexdigest(), b)
    w.add(blake3.blake3(b).hexdigest(), b)  # a duplicate is stored once
    pack, idx, pid = w.finish()
    index = PackIndex.decode(idx, pid)
    assert len(index.entries) == count == len(w)
    assert idx == encode_index(index.entries, index.pack_digest)
    assert sorted(w.digests) == [e.digest for e in index.entries]
    for e in index.entries:
        assert blake3.blake3(pack[e.offset:e.offset + e.length]).hexdigest() == e.digest


def test_the_folder_index_groups_interleaved_folders_whole(tmp_path):
    cache = StatCache(tmp_path / "state.db")
    entries = sorted([(p, 1, blake3.blake3(p.encode()).hexdigest(), False) for p in
                      ["a/1", "a/b/2", "a/b/c/3", "a/z", "b/4", "top"]])
    keys = {"": "k0", "a/": "ka", "a/b/": "kb", "a/b/c/": "kc", "b/": "kd"}
    record_folders(cache, "/root", "sid", keys, iter(entries), valid={"a/", "b/"})
    sid, index = cache.folders("/root")
    assert sid == "sid"
    assert {p: k for p, (k, _) in index.items()} == {"": "", "a/": "ka", "a/b/": "", "a/b/c/": "", "b/": "kd"}
    assert set(cache.folder_entries(index["a/"][1])) == {"1", "z"}
    assert set(cache.folder_entries(index[""][1])) == {"top"}
    cache.close()


def test_a_packed_file_is_checked_out_into_a_folder_that_does_not_exist_yet(repo):
    """A fresh clone has no ``data/`` folder: checking out a one-file snapshot creates it."""
    (repo.root / "data").mkdir()
    (repo.root / "data" / "train.csv").write_text("x,y\n1,2\n")
    snap = snapshots.create(repo, repo.root / "data" / "train.csv", name="train")
    assert repo.store.packs(), "small objects are packed"
    target = repo.root / "elsewhere" / "deeper" / "train.csv"
    snapshots.checkout(repo, snap.id, target)
    assert target.read_text() == "x,y\n1,2\n"
    assert not [p for p in target.parent.iterdir() if p.name != "train.csv"]  # no temporary left


def _big_tree() -> dict[str, bytes]:
    rng = random.Random(7)
    big = lambda n: rng.randbytes(n)  # noqa: E731
    return {
        "big1.bin": big((8 << 20) + 3),            # into the existing folder: temp file + rename
        "new/big2.bin": big(9 << 20),              # into a new folder, staged
        "new/deeper/big3.bin": big((8 << 20) + 1),
        "new/small.txt": b"small\n",               # packed, written by the loop between them
        "zz.txt": b"last\n",
    }


def test_large_files_copied_ahead_of_the_loop_land_whole_and_known(repo, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    files = _big_tree()
    data = write_tree(repo.root / "data", files)
    snap = snapshots.create(repo, data, name="data")
    made = []
    real = ThreadPoolExecutor.__init__

    def spy(self, *args, **kwargs):
        made.append(kwargs.get("thread_name_prefix"))
        real(self, *args, **kwargs)

    monkeypatch.setattr(ThreadPoolExecutor, "__init__", spy)
    out = repo.root / "copy"
    result = snapshots.checkout(repo, snap.id, out)
    assert "lineage-checkout" in made  # the large objects went to the helper threads
    assert sorted(result.written) == sorted(files)
    assert _tree(out) == files
    assert not [p for p in out.rglob(".*")]  # no temporary file or staged folder left
    # every written file is known to the stat cache: a status right after hashes nothing
    import sys

    module = sys.modules["lineage.snapshots.checkout"]  # the package's name is the function
    monkeypatch.setattr(module, "hash_file", lambda *a, **k: pytest.fail("rehashed"))
    again = snapshots.checkout(repo, snap.id, out)
    assert again.written == [] and again.unchanged == len(files)


def test_a_corrupt_large_object_stops_the_checkout_with_nothing_half_written(repo):
    files = _big_tree()
    data = write_tree(repo.root / "data", files)
    snap = snapshots.create(repo, data, name="data")
    digest = blake3.blake3(files["new/big2.bin"]).hexdigest()
    obj = repo.store.path(digest)
    os.chmod(obj, 0o644)
    with open(obj, "r+b") as fh:
        fh.seek(5 << 20)
        fh.write(b"\0" * 16)
    out = repo.root / "copy"
    with pytest.raises(CorruptObjectError, match=digest[:12]):
        snapshots.checkout(repo, snap.id, out)
    # what is in sight is whole: files either absent or the snapshot's bytes (a staged
    # folder keeps its temporary name, never listed, removed by the next checkout)
    seen = {rel: got for rel, got in _tree(out).items() if ".lineage-tmp" not in rel}
    for rel, got in seen.items():
        assert files[rel] == got, rel
    assert "new/big2.bin" not in seen
