"""push, fetch and pull against a local folder and a real S3 server (SeaweedFS)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from conftest import write_tree
from lineage import snapshots
from lineage.sync import fetch as sync_fetch, push as sync_push, verify as sync_verify
from lineage.errors import CorruptObjectError, MissingObjectError, UsageError
from lineage.store.packs import PackIndex


def _dataset(root: Path, n_small: int = 40, seed: int = 1) -> Path:
    rng = random.Random(seed)
    files: dict[str, bytes | str] = {f"part/{i:03}.bin": rng.randbytes(rng.randint(1, 5000))
                                     for i in range(n_small)}
    files["big.bin"] = rng.randbytes(700_000)  # above the pack threshold: sent on its own
    files["sub/file.csv"] = "a,b\n1,2\n"
    files["empty.txt"] = ""
    return write_tree(root, files)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _idx(env, pack_path: str) -> PackIndex:
    return PackIndex.decode(env.fs.cat_file(pack_path))


def test_push_then_pull_into_fresh_clone_gives_identical_bytes(remote_env, make_clone):
    a = make_clone("a", remote_env)
    data = _dataset(a.root / "data")
    snap = snapshots.create(a, data, name="train")
    pushed = sync_push.push(a)
    from lineage.tabular.queries import referenced_digests as tabular_objects

    # every file differs, plus the manifest and the derived objects of sub/file.csv
    # (row fingerprints and column profile)
    distinct = snap.files + 1 + len(tabular_objects(a.graph))
    assert len(tabular_objects(a.graph)) == 2
    assert pushed.objects_sent == distinct and pushed.events_sent >= 1
    assert pushed.packs_sent >= 1 and pushed.not_in_local_store == 0
    # the large file travels alone, the small ones in packs with an index each
    assert len(remote_env.files("objects")) == 1
    idx_files = [p for p in remote_env.files("packs") if p.endswith(".idx")]
    assert sum(len(_idx(remote_env, p).entries) for p in idx_files) == distinct - 1

    b = make_clone("b", remote_env)
    pulled = sync_fetch.pull(b)
    assert pulled.events_received == a.graph.count_events()
    assert pulled.objects_received == distinct and not pulled.missing_on_remote
    assert _tree(b.root / "data") == _tree(data)
    assert [e.to_dict() for e in snapshots.log(b)] == [e.to_dict() for e in snapshots.log(a)]
    assert snapshots.show(b, "train").to_dict() == snapshots.show(a, "train").to_dict()


def test_second_push_sends_nothing(remote_env, make_clone):
    a = make_clone("a", remote_env)
    snapshots.create(a, _dataset(a.root / "data"), name="train")
    first = sync_push.push(a)
    assert first.objects_sent > 0
    before = remote_env.files("")
    again = sync_push.push(a)
    assert (again.objects_sent, again.bytes_sent, again.packs_sent, again.events_sent) == (0, 0, 0, 0)
    assert again.objects_present == first.objects_sent
    assert remote_env.files("") == before
    # "what the remote has" costs a handful of requests, not one per object
    assert again.requests <= 12


def test_push_only_named_snapshot_and_fetch_after_more_data(remote_env, make_clone):
    a = make_clone("a", remote_env)
    s1 = snapshots.create(a, write_tree(a.root / "one", {"x.txt": "one\n"}), name="one")
    s2 = snapshots.create(a, write_tree(a.root / "two", {"y.txt": "two\n"}), name="two")
    r = sync_push.push(a, [s1.id[:10]])
    assert r.objects_sent == 2  # manifest and x.txt, not two's
    b = make_clone("b", remote_env)
    f = sync_fetch.fetch(b)
    # the log names two's objects, which the remote lacks: reported, not fatal
    assert set(f.missing_on_remote) == {s2.id, snapshots.load_manifest(a, s2.id).entries[0].digest}
    sync_push.push(a)
    assert sync_fetch.fetch(b).objects_received == 2


def test_partial_pull_fetches_only_that_file(remote_env, make_clone):
    a = make_clone("a", remote_env)
    snap = snapshots.create(a, _dataset(a.root / "data", n_small=200), name="train")
    sync_push.push(a)
    b = make_clone("b", remote_env)
    r = sync_fetch.pull(b, ["train"], paths=["sub/file.csv"])
    wanted = snapshots.load_manifest(a, snap.id).by_path()["sub/file.csv"].digest
    assert r.objects_received == 2  # the file and the snapshot's manifest
    assert _tree(b.root / "data") == {"sub/file.csv": b"a,b\n1,2\n"}
    assert r.checked_out[0]["id"] == snap.id
    assert set(b.store.iter_digests()) == {wanted, snap.id}  # nothing else came down
    with pytest.raises(Exception, match="none of"):
        sync_fetch.fetch(b, ["train"], paths=["nope.txt"])
    with pytest.raises(UsageError):
        sync_fetch.fetch(b, paths=["sub/file.csv"])


def test_corrupt_object_on_remote_is_refused_and_named(remote_env, make_clone):
    a = make_clone("a", remote_env)
    snap = snapshots.create(a, _dataset(a.root / "data"), name="train")
    sync_push.push(a)
    target = snapshots.load_manifest(a, snap.id).by_path()["part/007.bin"]
    idx_path = next(p for p in remote_env.files("packs") if p.endswith(".idx")
                    and _idx(remote_env, p).find(target.digest))
    entry = _idx(remote_env, idx_path).find(target.digest)
    pack_path = idx_path[:-4] + ".pack"
    blob = bytearray(remote_env.fs.cat_file(pack_path))
    blob[entry.offset] ^= 0xFF
    remote_env.fs.pipe_file(pack_path, bytes(blob))

    b = make_clone("b", remote_env)
    with pytest.raises(CorruptObjectError) as err:
        sync_fetch.pull(b)
    message = str(err.value)
    assert snap.id[:12] in message and "part/007.bin" in message
    assert not b.store.exists(target.digest)  # never stored unverified
    assert not (b.root / "data").exists()

    report = sync_verify.verify_remote(b)
    assert not report.ok
    [problem] = report.objects
    assert problem.digest == target.digest and problem.problem == "corrupt"
    assert problem.snapshots == [snap.id] and problem.files == ["part/007.bin"]


def test_missing_object_on_remote_is_reported_by_verify(remote_env, make_clone):
    a = make_clone("a", remote_env)
    snap = snapshots.create(a, _dataset(a.root / "data"), name="train")
    sync_push.push(a)
    [loose] = remote_env.files("objects")
    remote_env.fs.rm(loose)
    b = make_clone("b", remote_env)
    with pytest.raises(MissingObjectError, match=f"snapshot {snap.id[:12]}: big.bin"):
        sync_fetch.pull(b, ["train"])
    report = sync_verify.verify_remote(a)
    assert [(p.problem, p.files) for p in report.objects] == [("missing", ["big.bin"])]
    assert report.objects[0].snapshots == [snap.id]
    assert sync_push.push(a).objects_sent == 1  # and push repairs it
    assert sync_verify.verify_remote(a).ok


def test_two_clones_merge_histories(remote_env, make_clone):
    from lineage.sync import verify as verification

    a = make_clone("a", remote_env)
    b = make_clone("b", remote_env)
    snapshots.create(a, write_tree(a.root / "shared", {"x.txt": "from a\n"}), name="from-a")
    sync_push.push(a)
    sync_fetch.pull(b)
    # both record new events without talking to each other
    snapshots.create(a, write_tree(a.root / "more-a", {"m.txt": "a2\n"}), name="a2")
    snapshots.create(b, write_tree(b.root / "more-b", {"n.txt": "b2\n"}), name="b2")
    sync_push.push(a)
    sync_push.push(b)
    sync_fetch.pull(a)
    sync_fetch.pull(b)
    assert a.graph.event_ids() == b.graph.event_ids()
    assert [e.to_dict() for e in snapshots.log(a)] == [e.to_dict() for e in snapshots.log(b)]
    assert {e.dataset for e in snapshots.log(a)} == {"from-a", "a2", "b2"}
    assert (b.root / "more-a" / "m.txt").read_text() == "a2\n"
    assert (a.root / "more-b" / "n.txt").read_text() == "b2\n"
    for repo in (a, b):
        report = verification.verify(repo)
        assert report.ok, report.to_dict()
    # the next event on a merged clone joins both branches
    assert len(a.graph.heads()) == 2
    snapshots.create(a, write_tree(a.root / "after", {"z.txt": "z\n"}), name="after")
    assert len(a.graph.heads()) == 1
    sync_push.push(a)
    sync_fetch.pull(b)
    assert sync_verify.verify_remote(b).ok


def test_pull_does_not_clobber_local_changes(local_remote, make_clone):
    from lineage.errors import ConflictError

    a = make_clone("a", local_remote)
    snapshots.create(a, write_tree(a.root / "d", {"x.txt": "v1\n"}), name="d")
    sync_push.push(a)
    b = make_clone("b", local_remote)
    write_tree(b.root / "d", {"x.txt": "mine\n"})
    sync_fetch.pull(b)  # no IDs: only datasets missing from the workspace are written
    assert (b.root / "d" / "x.txt").read_text() == "mine\n"
    with pytest.raises(ConflictError):
        sync_fetch.pull(b, ["d"])
    sync_fetch.pull(b, ["d"], force=True)
    assert (b.root / "d" / "x.txt").read_text() == "v1\n"


def test_public_api(local_remote, make_clone):
    import lineage

    a = make_clone("a", local_remote)
    write_tree(a.root / "d", {"x.txt": "x\n"})
    lineage.snapshot(a.root / "d", name="d", repo=a)
    seen: list[tuple[int, int, int, int]] = []
    assert lineage.push(repo=a, progress=lambda *args: seen.append(args)).objects_sent == 2
    assert seen[-1][2:] == (2, 2) and seen[-1][0] == seen[-1][1]  # bytes and objects, complete
    b = make_clone("b", local_remote)
    assert lineage.fetch(repo=b).objects_received == 2
    assert lineage.pull(["d"], repo=b, dest=str(b.root / "elsewhere")).checked_out[0]["written"] == 1
    assert lineage.gc(repo=b, dry_run=True).removed == []
    assert {"push", "pull", "fetch", "gc"} <= set(lineage.__all__)


def test_push_counts_only_stored_objects_it_lacks(local_remote, make_clone):
    a = make_clone("a", local_remote)
    snapshots.create(a, write_tree(a.root / "meta", {"m.txt": "digest only\n"}), name="meta", store=False)
    snap = snapshots.create(a, write_tree(a.root / "d", {"x.txt": "x\n", "y.txt": "y\n"}), name="d")
    r = sync_push.push(a)
    assert r.not_in_local_store == 0 and r.objects_sent == 4  # two manifests, x and y
    b = make_clone("b", local_remote)
    sync_fetch.pull(b, ["d"], paths=["x.txt"], dest=str(b.root / "part"))
    snapshots.create(b, write_tree(b.root / "new", {"n.txt": "n\n"}), name="new")
    r = sync_push.push(b)  # b lacks y.txt, which the remote has anyway
    assert r.objects_sent == 2 and r.not_in_local_store == 0 and r.objects_present == 4
    local_remote.fs.rm(local_remote.files("packs"))
    r = sync_push.push(b)  # now neither side has y.txt (nor the meta manifest): reported
    assert r.not_in_local_store == 2
    assert snap.id in set(b.store.iter_digests())
