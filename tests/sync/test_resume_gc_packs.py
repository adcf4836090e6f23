"""Interrupted pushes resume; gc keeps what is referenced; the pack format round-trips."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import blake3
import pytest

from conftest import write_tree
from lineage import snapshots
from lineage.sync import gc
from lineage.sync import fetch as sync_fetch, push as sync_push, verify as sync_verify
from lineage.sync import verify as verification
from lineage.errors import CorruptObjectError
from lineage.store.packs import PACK_MAGIC, PackEntry, PackIndex, PackWriter, coalesce


# -- packs ------------------------------------------------------------------------

def test_pack_round_trip_and_lookup():
    blobs = [os.urandom(n) for n in (0, 1, 100, 5000)]
    w = PackWriter()
    for b in blobs:
        w.add(blake3.blake3(b).hexdigest(), b)
    w.add(blake3.blake3(blobs[1]).hexdigest(), blobs[1])  # duplicates are stored once
    pack, idx_bytes, pid = w.finish()
    assert pack.startswith(PACK_MAGIC) and len(pack) == len(PACK_MAGIC) + sum(map(len, blobs))
    idx = PackIndex.decode(idx_bytes, pid)
    assert idx.pack_id == pid and idx.pack_digest == blake3.blake3(pack).hexdigest()
    assert idx.encode() == idx_bytes and idx.pack_size == len(pack)
    for b in blobs:
        e = idx.find(blake3.blake3(b).hexdigest())
        assert pack[e.offset:e.offset + e.length] == b
    assert idx.find("0" * 64) is None
    with pytest.raises(CorruptObjectError):
        PackIndex.decode(idx_bytes, "f" * 64)
    with pytest.raises(CorruptObjectError):
        PackIndex.decode(idx_bytes[:-1])


def test_coalesce_merges_neighbours_only():
    entries = [PackEntry("a" * 64, 8, 10), PackEntry("b" * 64, 20, 10), PackEntry("c" * 64, 10_000, 5)]
    assert [(s, e, len(g)) for s, e, g in coalesce(entries, gap=100)] == [(8, 30, 2), (10_000, 10_005, 1)]
    assert len(coalesce(entries, gap=100_000)) == 1


# -- an interrupted push ----------------------------------------------------------

def _many_files(root, n, seed=3):
    rng = random.Random(seed)
    return write_tree(root, {f"f/{i:05}.bin": rng.randbytes(2048) for i in range(n)})


def test_killed_push_resumes_and_completes(remote_env, make_clone):
    # tiny packs and one worker make the push long enough to kill half-way
    a = make_clone("a", remote_env, pack_size=8192, jobs=1)  # three objects a pack
    data = _many_files(a.root / "data", 300)
    snap = snapshots.create(a, data, name="many")
    a.close()

    def landed() -> int:
        return sum(p.endswith(".idx") for p in remote_env.files("packs"))

    proc = subprocess.Popen([sys.executable, "-m", "lineage", "push"], cwd=a.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if landed() >= 10:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "push finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)  # let a request already in flight land (or not)
    done = landed()
    assert 10 <= done < 100
    assert remote_env.files("events") == []  # events go last

    from lineage.sync import remotes

    remotes.add(a, "origin", remote_env.url, exist_ok=True, jobs=8)  # finish quickly
    again = sync_push.push(a)
    assert again.objects_present >= 3 * done  # what landed is not sent twice
    assert again.objects_sent == snap.files + 1 - again.objects_present
    assert sync_push.push(a).objects_sent == 0
    report = sync_verify.verify_remote(a)
    assert report.ok, report.to_dict()
    b = make_clone("b", remote_env)
    sync_fetch.pull(b)
    assert sorted(p.name for p in (b.root / "data" / "f").iterdir()) == \
        sorted(p.name for p in (data / "f").iterdir())
    assert (b.root / "data" / "f" / "00177.bin").read_bytes() == (data / "f" / "00177.bin").read_bytes()


# -- gc ---------------------------------------------------------------------------

def test_local_gc_keeps_referenced_and_removes_the_rest(repo, workdir):
    s1 = snapshots.create(repo, write_tree(workdir / "d", {"a.txt": "a\n", "b.txt": "b\n"}), name="d")
    s2 = snapshots.create(repo, write_tree(workdir / "d", {"a.txt": "a2\n"}), name="d")
    junk = [repo.store.put_bytes(f"junk {i}".encode()) for i in range(3)]
    dry = gc.collect(repo, dry_run=True)
    assert sorted(r.digest for r in dry.removed) == sorted(junk) and dry.dry_run
    assert all(repo.store.exists(j) for j in junk)
    real = gc.collect(repo)
    assert sorted(r.digest for r in real.removed) == sorted(junk)
    assert real.removed_bytes == sum(len(f"junk {i}") for i in range(3))
    assert not any(repo.store.exists(j) for j in junk)
    # both versions of the dataset stay checkout-able
    for sid in (s1.id, s2.id):
        for e in snapshots.load_manifest(repo, sid).entries:
            assert repo.store.exists(e.digest)
    assert gc.collect(repo).removed == []
    assert verification.verify(repo).ok


def test_reference_providers_extend_what_gc_keeps(repo):
    from lineage.log import references

    derived = repo.store.put_bytes(b"a derived object, e.g. fingerprints")
    unclaimed = repo.store.put_bytes(b"an object no provider names")
    references.reference_provider("test-derived")(lambda g: [derived])
    try:
        dropped = gc.collect(repo)
        assert [r.digest for r in dropped.removed] == [unclaimed]
        assert repo.store.exists(derived)
    finally:
        references._PROVIDERS.pop("test-derived")


def test_remote_gc(remote_env, make_clone):
    a = make_clone("a", remote_env)
    snap = snapshots.create(a, write_tree(a.root / "d", {"keep.txt": "keep\n"}), name="d")
    sync_push.push(a)
    # garbage on the remote: a pack of unreferenced objects and a loose one
    w = PackWriter()
    for i in range(3):
        blob = f"garbage {i}".encode()
        w.add(blake3.blake3(blob).hexdigest(), blob)
    pack, idx, pid = w.finish()
    remote_env.put(f"packs/{pid}.pack", pack)
    remote_env.put(f"packs/{pid}.idx", idx)
    big = os.urandom(600_000)
    big_id = blake3.blake3(big).hexdigest()
    remote_env.put(f"objects/{big_id[:2]}/{big_id[2:]}", big)

    # by default fresh data is spared: a push may be uploading objects before its events
    assert gc.collect(a, remote="origin").removed == []
    dry = gc.collect(a, remote="origin", dry_run=True, grace=0)
    assert len(dry.removed) == 4 and dry.kept == 2
    assert len(remote_env.files("packs")) == 4
    real = gc.collect(a, remote="origin", grace=0)
    assert len(real.removed) == 4
    assert len(remote_env.files("packs")) == 2 and remote_env.files("objects") == []
    assert sync_verify.verify_remote(a).ok
    b = make_clone("b", remote_env)
    sync_fetch.pull(b)
    assert (b.root / "d" / "keep.txt").read_text() == "keep\n"
    assert snap.id in set(b.store.iter_digests())


def test_remote_gc_never_removes_what_another_clone_recorded(local_remote, make_clone):
    a = make_clone("a", local_remote)
    b = make_clone("b", local_remote)
    snapshots.create(b, write_tree(b.root / "theirs", {"t.txt": "theirs\n"}), name="theirs")
    sync_push.push(b)
    # a has never pulled b's events, yet gc on the remote must keep b's objects
    result = gc.collect(a, remote="origin", grace=0)
    assert result.removed == [] and result.kept == 2
    assert sync_verify.verify_remote(b).ok
