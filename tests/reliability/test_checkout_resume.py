"""A killed checkout or pull is finished by running it again.

Kill points: ``checkout.write`` (between two files) and ``checkout.temp`` (a file's
temporary copy, or a file of a new folder staged under a temporary name, written and
not yet renamed into place), in ``lineage checkout`` and
``lineage pull``. After the rerun the tree is complete, no temporary file is left,
a snapshot of the tree records none, and ``lineage verify`` passes.
"""

from __future__ import annotations

import json

import pytest

from conftest import write_tree
from lineage import snapshots
from lineage.sync import push as sync_push

from .clones import make_clone, temp_files
from .conftest import killed, lineage_proc

N = 500
FILES = {f"part-{i // 50:02d}/f{i:04d}.txt": f"row {i}\n" * (1 + i % 7) for i in range(N)}


@pytest.fixture
def pair(tmp_path):
    url = str(tmp_path / "remote")
    a = make_clone(tmp_path, "teammate", url)
    b = make_clone(tmp_path, "puller", url)
    yield a, b
    a.close()
    b.close()


def _complete(root, files=FILES) -> None:
    got = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}
    assert got == files


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("fault", ["checkout.write:250", "checkout.temp:250"])
def test_killed_pull_is_finished_by_rerunning_it(pair, fault):
    a, b = pair
    s = snapshots.create(a, write_tree(a.root / "data", FILES), name="data")
    sync_push.push(a)
    r = lineage_proc(["pull"], cwd=b.root, fault=fault)
    assert killed(r)
    data = b.root / "data"
    # files in place (a new folder is staged under a temporary name until complete)
    written = [p for p in data.rglob("*.txt") if ".lineage-tmp" not in p.relative_to(data).as_posix()]
    assert 0 < len(written) < N  # partial: the rerun has work to do
    if fault.startswith("checkout.temp"):
        assert temp_files(data)
    r = lineage_proc(["pull", "--json"], cwd=b.root)
    _ok(r)
    [done] = json.loads(r.stdout)["checked_out"]
    assert done["written"] == N - len(written) and done["unchanged"] == len(written)
    _complete(data)
    assert temp_files(b.root) == []
    r = lineage_proc(["snapshot", "data", "--json"], cwd=b.root)
    _ok(r)
    assert json.loads(r.stdout)["id"] == s.id
    _ok(lineage_proc(["verify"], cwd=b.root))
    # a third pull has nothing to do
    r = lineage_proc(["pull", "--json"], cwd=b.root)
    _ok(r)
    assert json.loads(r.stdout)["checked_out"] == []


@pytest.mark.parametrize("fault", ["checkout.write:100", "checkout.temp:100"])
def test_killed_checkout_is_finished_by_rerunning_it(workdir, tmp_path, fault):
    write_tree(workdir / "data", FILES)
    _ok(lineage_proc(["snapshot", "data"], cwd=workdir))
    out = tmp_path / "out"
    assert killed(lineage_proc(["checkout", "data", str(out)], cwd=workdir, fault=fault))
    r = lineage_proc(["checkout", "data", str(out), "--json"], cwd=workdir)
    _ok(r)
    assert json.loads(r.stdout)["extra"] == []
    _complete(out)
    assert temp_files(out) == []


def test_snapshot_after_a_killed_checkout_records_no_temporary_file(workdir):
    write_tree(workdir / "data", FILES)
    first = json.loads(lineage_proc(["snapshot", "data", "--json"], cwd=workdir).stdout)["id"]
    # a killed checkout of the same folder, with files deleted: leaves temporary files
    for p in list((workdir / "data").rglob("*.txt"))[:40]:
        p.unlink()
    assert killed(lineage_proc(["checkout", "data"], cwd=workdir, fault="checkout.temp:20"))
    assert temp_files(workdir / "data")
    # an old-style temporary name is recognised too
    (workdir / "data" / ".f0001.txt.0badcafe.lineage-tmp").write_text("partial")
    r = lineage_proc(["snapshot", "data", "--json"], cwd=workdir)
    _ok(r)
    sid = json.loads(r.stdout)["id"]
    show = json.loads(lineage_proc(["show", sid, "--json"], cwd=workdir).stdout)
    assert not [f for f in show["files"] if "lineage-tmp" in f["path"]]
    assert temp_files(workdir / "data") == []  # the snapshot removed them
    assert sid != first
    _ok(lineage_proc(["checkout", "data@1", "--force"], cwd=workdir))
    _complete(workdir / "data")


def test_pull_updates_what_differs_and_reports_local_edits(pair):
    a, b = pair
    write_tree(a.root / "d", {"keep.txt": "k\n", "change.txt": "v1\n"})
    snapshots.create(a, a.root / "d", name="d")
    sync_push.push(a)
    _ok(lineage_proc(["pull"], cwd=b.root))
    # the teammate's next version replaces files the puller has not touched
    write_tree(a.root / "d", {"change.txt": "v2\n", "new.txt": "n\n"})
    snapshots.create(a, a.root / "d")
    sync_push.push(a)
    r = lineage_proc(["pull", "--json"], cwd=b.root)
    _ok(r)
    assert (b.root / "d" / "change.txt").read_text() == "v2\n"
    assert (b.root / "d" / "new.txt").read_text() == "n\n"
    assert json.loads(r.stdout)["warnings"] == []
    # a local edit the log does not know is never overwritten by a plain pull
    (b.root / "d" / "change.txt").write_text("my edit\n")
    write_tree(a.root / "d", {"change.txt": "v3\n"})
    snapshots.create(a, a.root / "d")
    sync_push.push(a)
    r = lineage_proc(["pull"], cwd=b.root)
    _ok(r)
    assert "'d' not checked out" in r.stderr and "change.txt" in r.stderr and "--force" in r.stderr
    assert (b.root / "d" / "change.txt").read_text() == "my edit\n"
    _ok(lineage_proc(["pull", "--force"], cwd=b.root))
    assert (b.root / "d" / "change.txt").read_text() == "v3\n"


def test_a_deleted_file_is_restored_by_a_plain_pull(pair):
    a, b = pair
    snapshots.create(a, write_tree(a.root / "d", {"x.txt": "x\n", "y.txt": "y\n"}), name="d")
    sync_push.push(a)
    _ok(lineage_proc(["pull"], cwd=b.root))
    (b.root / "d" / "y.txt").unlink()
    _ok(lineage_proc(["pull"], cwd=b.root))
    assert (b.root / "d" / "y.txt").read_text() == "y\n"
