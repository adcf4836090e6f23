import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import make_git_repo, write_tree
from lineage import snapshots
from lineage.errors import (AmbiguousRefError, ConflictError, PathError, UnknownRefError,
                            UnsafePathError, UsageError)
from lineage.core.hashing import HashCounter
from lineage.snapshots.manifest import Entry, Manifest
from lineage.repo import Repo

FILES = {"a.csv": "x,y\n1,2\n", "sub/b.txt": "hello\n", "sub/deeper/c.bin": b"\x00\x01\x02"}


def test_same_content_same_id_anywhere(tmp_path, repo):
    write_tree(repo.root / "data", FILES)
    other = make_git_repo(tmp_path / "other")
    repo2, _ = Repo.init(other)
    write_tree(other / "elsewhere" / "data", FILES)
    a = snapshots.create(repo, repo.root / "data")
    b = snapshots.create(repo2, other / "elsewhere" / "data", name="copy")
    assert a.id == b.id
    (other / "elsewhere" / "data" / "a.csv").write_text("x,y\n1,3\n")
    c = snapshots.create(repo2, other / "elsewhere" / "data")
    assert c.id != a.id
    repo2.close()


def test_executable_bit_is_part_of_identity(repo):
    write_tree(repo.root / "d", {"run.sh": "echo hi\n"})
    a = snapshots.create(repo, repo.root / "d")
    os.chmod(repo.root / "d" / "run.sh", 0o755)
    b = snapshots.create(repo, repo.root / "d")
    assert a.id != b.id


def test_stat_cache_skips_unchanged_files(repo):
    write_tree(repo.root / "data", {f"f{i}.txt": f"row {i}\n" for i in range(30)})
    first = HashCounter()
    s1 = snapshots.create(repo, repo.root / "data", counter=first)
    assert first.files == 30
    again = HashCounter()
    s2 = snapshots.create(repo, repo.root / "data", counter=again)
    assert again.files == 0
    assert s2.unchanged and s2.id == s1.id and s2.version == 1
    (repo.root / "data" / "f3.txt").write_text("changed\n")
    third = HashCounter()
    s3 = snapshots.create(repo, repo.root / "data", counter=third)
    assert third.files == 1
    assert s3.version == 2 and not s3.unchanged


def test_named_history_and_references(repo):
    data = repo.root / "data"
    write_tree(data, {"a.txt": "1"})
    v1 = snapshots.create(repo, data, name="train")
    write_tree(data, {"a.txt": "2"})
    v2 = snapshots.create(repo, data)  # joins the dataset remembered for this path
    assert v2.dataset == "train" and v2.version == 2
    assert snapshots.resolve(repo, "train") == v2.id
    assert snapshots.resolve(repo, "train@latest") == v2.id
    assert snapshots.resolve(repo, "train@1") == v1.id
    assert snapshots.resolve(repo, v1.id[:10]) == v1.id
    assert snapshots.resolve(repo, v1.id) == v1.id
    with pytest.raises(UnknownRefError):
        snapshots.resolve(repo, "train@3")
    with pytest.raises(UnknownRefError):
        snapshots.resolve(repo, "nope")
    assert [e.version for e in snapshots.log(repo, "train")] == [2, 1]


def test_ambiguous_prefix(repo):
    conn = repo.graph.conn
    for sid in ("abcdef" + "0" * 58, "abcdef" + "1" * 58):
        conn.execute("INSERT INTO snapshots (id, kind, file_count, total_size, first_time) "
                     "VALUES (?, 'folder', 0, 0, 'x')", (sid,))
    with pytest.raises(AmbiguousRefError):
        snapshots.resolve(repo, "abcdef")
    assert snapshots.resolve(repo, "abcdef0") == "abcdef" + "0" * 58
    with pytest.raises(UnknownRefError):
        snapshots.resolve(repo, "abc")  # too short to be a prefix


def test_checkout_round_trips_bytes_and_executable_bits(repo, tmp_path):
    data = repo.root / "data"
    write_tree(data, {**FILES, "tool.sh": "#!/bin/sh\necho ok\n", "big.bin": os.urandom(3 << 20)})
    os.chmod(data / "tool.sh", 0o755)
    s = snapshots.create(repo, data)
    dest = tmp_path / "restored"
    result = snapshots.checkout(repo, s.id, dest)
    assert len(result.written) == 5
    for p in data.rglob("*"):
        if p.is_file():
            q = dest / p.relative_to(data)
            assert q.read_bytes() == p.read_bytes()
            assert bool(q.stat().st_mode & 0o111) == bool(p.stat().st_mode & 0o111)
    # a second checkout writes nothing
    again = snapshots.checkout(repo, s.id, dest)
    assert again.written == [] and again.unchanged == 5


def test_checkout_refuses_to_clobber_local_changes(repo):
    data = repo.root / "data"
    write_tree(data, {"a.txt": "v1"})
    s1 = snapshots.create(repo, data)
    write_tree(data, {"a.txt": "v2 local edit"})
    with pytest.raises(ConflictError, match="a.txt"):
        snapshots.checkout(repo, s1.id)
    assert (data / "a.txt").read_text() == "v2 local edit"
    snapshots.checkout(repo, s1.id, force=True)
    assert (data / "a.txt").read_text() == "v1"


def test_checkout_of_a_deleted_file_restores_it(repo):
    data = repo.root / "data"
    write_tree(data, FILES)
    s = snapshots.create(repo, data)
    shutil.rmtree(data)
    snapshots.checkout(repo, "data")
    assert (data / "sub" / "b.txt").read_text() == "hello\n"
    assert s.id == snapshots.create(repo, data).id


@pytest.mark.parametrize("bad", ["../evil.txt", "/etc/passwd", "a/../../b", "a//b", "./a",
                                 ".git/hooks/post-checkout", "sub/.GIT/config", ".lineage/config.toml"])
def test_path_traversal_manifest_is_refused(bad, repo, tmp_path):
    with pytest.raises(UnsafePathError):
        Manifest("folder", (Entry(bad, 1, "0" * 64),))
    # a forged manifest object in the store is refused before anything is written
    from lineage.core import canonical as _canonical

    raw = _canonical.dumps({"format": "lineage.manifest/1", "kind": "folder",
                            "files": [{"path": bad, "size": 1, "digest": "0" * 64, "executable": False}]})
    sid = repo.store.put_bytes(raw)
    repo.graph.conn.execute(
        "INSERT INTO snapshots (id, kind, file_count, total_size, first_time) VALUES (?, 'folder', 1, 1, 'x')",
        (sid,))
    with pytest.raises(UnsafePathError):
        snapshots.checkout(repo, sid, tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()


def test_status_reports_added_removed_modified(repo):
    data = repo.root / "data"
    write_tree(data, FILES)
    snapshots.create(repo, data)
    [st] = snapshots.status(repo)
    assert st.state == "clean"
    (data / "a.csv").write_text("x,y\n9,9\n")
    (data / "sub" / "b.txt").unlink()
    (data / "new.txt").write_text("new")
    [st] = snapshots.status(repo, "data")
    assert st.state == "changed"
    assert st.added == ["new.txt"] and st.removed == ["sub/b.txt"] and st.modified == ["a.csv"]
    shutil.rmtree(data)
    assert snapshots.status(repo)[0].state == "missing"


def test_touching_a_file_is_not_a_change(repo):
    data = repo.root / "data"
    write_tree(data, FILES)
    snapshots.create(repo, data)
    os.utime(data / "a.csv", ns=(1, 1))
    assert snapshots.status(repo)[0].state == "clean"


def test_single_file_snapshot_and_no_store(repo, tmp_path):
    f = repo.root / "model.bin"
    f.write_bytes(b"weights")
    s = snapshots.create(repo, f, store=False)
    assert s.kind == "file" and s.files == 1 and not s.stored
    assert not repo.store.exists(snapshots.load_manifest(repo, s.id).entries[0].digest)
    assert repo.store.exists(s.id)  # the manifest is always kept
    s2 = snapshots.create(repo, f)  # storing later fills the store in
    assert s2.id == s.id
    snapshots.checkout(repo, s.id, tmp_path / "restored.bin")
    assert (tmp_path / "restored.bin").read_bytes() == b"weights"


def test_bad_input(repo):
    with pytest.raises(PathError):
        snapshots.create(repo, repo.root / "missing")
    with pytest.raises(UsageError):
        snapshots.create(repo, repo.root, name="bad@name")


def test_diff_between_versions(repo):
    data = repo.root / "data"
    write_tree(data, FILES)
    a = snapshots.create(repo, data)
    (data / "a.csv").write_text("changed")
    (data / "sub" / "b.txt").unlink()
    (data / "z.txt").write_text("z")
    b = snapshots.create(repo, data)
    d = snapshots.diff(repo, a.id, b.id)
    assert [f["path"] for f in d.added] == ["z.txt"]
    assert [f["path"] for f in d.removed] == ["sub/b.txt"]
    assert [f["path"] for f in d.modified] == ["a.csv"]
    assert d.unchanged == 1


def test_git_state_is_recorded(repo):
    write_tree(repo.root / "data", FILES)
    s = snapshots.create(repo, repo.root / "data")
    assert len(s.git["commit"]) == 40 and s.git["branch"] == "main" and s.git["dirty"] is False
    (repo.root / "README").write_text("edited\n")
    write_tree(repo.root / "data", {"more.txt": "m"})
    s2 = snapshots.create(repo, repo.root / "data")
    assert s2.git["dirty"] is True
    [entry, _] = snapshots.log(repo, "data")
    assert entry.git_dirty is True and entry.user == "Test User <test@example.com>"


def test_rebuild_recreates_identical_projections(repo):
    data = repo.root / "data"
    write_tree(data, FILES)
    snapshots.create(repo, data, name="d", label_column="y")
    (data / "a.csv").write_text("2")
    snapshots.create(repo, data)
    conn = repo.graph.conn
    dump = lambda: [conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()  # noqa: E731
                    for t in ("snapshots", "snapshot_records", "files", "datasets")]
    before = dump()
    repo.graph.rebuild()
    assert dump() == before


def test_pyproject_declarations_apply(repo):
    (repo.root / "pyproject.toml").write_text(
        '[tool.lineage.datasets.patients]\nlabel = "outcome"\ngroup = "patient_id"\n')
    write_tree(repo.root / "p", {"a.csv": "patient_id,outcome\n1,0\n"})
    snapshots.create(repo, repo.root / "p", name="patients")
    row = repo.graph.conn.execute(
        "SELECT label_column, group_column FROM datasets WHERE name = 'patients'").fetchone()
    assert row == ("outcome", "patient_id")


def test_kill_9_mid_snapshot_leaves_store_and_graph_consistent(workdir):
    data = workdir / "data"
    data.mkdir()
    for i in range(40):
        (data / f"part{i}.bin").write_bytes(os.urandom(4 << 20))
    proc = subprocess.Popen([sys.executable, "-m", "lineage", "snapshot", "data"], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = workdir / ".lineage" / "tmp"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if tmp.is_dir() and os.listdir(tmp):
            break
        time.sleep(0.002)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed, "the snapshot finished before it could be interrupted"
    with Repo.find(workdir) as repo:
        from lineage.sync.verify import verify

        report = verify(repo)
        assert report.ok, report
        assert snapshots.log(repo) == []  # nothing half-recorded
        done = snapshots.create(repo, data)  # and it can simply be run again
        assert done.files == 40
        assert verify(repo).ok
        assert repo.store.clean_tmp() >= 0


def test_a_file_vanishing_mid_snapshot_is_a_clear_error_and_records_nothing(repo, monkeypatch):
    data = repo.root / "data"
    write_tree(data, {f"f{i}.txt": f"{i}" for i in range(10)})
    from lineage.snapshots import add

    real_walk = add.walk

    def walk_then_delete(path, *args):
        kind, folders = real_walk(path, *args)

        def then_delete():
            yield from folders
            (data / "f5.txt").unlink()  # gone between the walk and the read
        return kind, then_delete()

    monkeypatch.setattr(add, "walk", walk_then_delete)  # what create walks with
    with pytest.raises(PathError, match="vanished"):
        snapshots.create(repo, data)
    assert snapshots.log(repo) == []
    assert list(repo.store.tmp.iterdir()) == []  # the half-built pack was removed
    from lineage.sync.verify import verify

    assert verify(repo).ok


def test_a_file_changing_while_stored_is_refused(repo, monkeypatch):
    big = repo.root / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    from lineage.store import objects as local

    # a large file is hashed while it is copied into the store, chunk by chunk
    monkeypatch.setattr(local, "COPY_CHUNK", 1 << 20)
    real_copy = os.copy_file_range
    touched = []

    def copy_then_touch(*args):
        n = real_copy(*args)
        if not touched:
            touched.append(True)
            with open(big, "ab") as fh:
                fh.write(b"appended while copying")
        return n

    monkeypatch.setattr(local.os, "copy_file_range", copy_then_touch)
    with pytest.raises(PathError, match="changed while"):
        snapshots.create(repo, big)
    assert snapshots.log(repo) == []
