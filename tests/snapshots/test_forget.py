"""lineage forget: stops tracking, keeps history; a new snapshot tracks again."""

from __future__ import annotations

from conftest import write_tree
from lineage import snapshots
from lineage.log.integrity import check_projections


def test_forget_keeps_history_and_stops_tracking(cli, workdir):
    write_tree(workdir, {"scratch/a.txt": "1", "keep/b.txt": "2"})
    assert cli("snapshot", "scratch").code == 0
    sid = cli("snapshot", "scratch", "--json").json["id"]
    assert cli("snapshot", "keep").code == 0
    (workdir / "scratch/a.txt").write_text("changed")
    assert cli("status", "--exit-code").code == 1
    r = cli("forget", "scratch", "--json")
    assert r.code == 0, r.stderr
    assert r.json["dataset"] == "scratch" and r.json["latest_snapshot"] == sid
    st = cli("status", "--json").json
    assert [d["dataset"] for d in st["datasets"]] == ["keep"]
    assert cli("status", "--exit-code").code == 0  # the forgotten dataset no longer counts
    # history kept: the ID and NAME@N still resolve, log still lists it
    assert cli("show", "scratch@1", "--json").json["id"] == sid
    assert cli("show", sid, "--json").code == 0
    assert cli("log", "scratch", "--json").json["snapshots"][0]["snapshot"] == sid
    # forgetting twice, or an unknown name, is a one-line error
    r = cli("forget", "scratch")
    assert r.code == 2 and "already forgotten" in r.stderr and "Traceback" not in r.stderr
    r = cli("forget", "nope")
    assert r.code == 2 and "no dataset named" in r.stderr
    # snapshotting the path again tracks it again, under its name, as the next version
    r = cli("snapshot", "scratch", "--json")
    assert r.code == 0 and r.json["dataset"] == "scratch" and r.json["version"] == 2
    assert "scratch" in [d["dataset"] for d in cli("status", "--json").json["datasets"]]


def test_forget_is_an_event_that_replays(repo, workdir):
    from lineage.snapshots.forget import forget

    write_tree(workdir, {"d/a.txt": "1"})
    snapshots.create(repo, workdir / "d")
    res = forget(repo, "d")
    assert repo.graph.event(res.event_id).type == "dataset.forget"
    assert snapshots.status(repo) == []
    repo.graph.rebuild()
    assert snapshots.status(repo) == []
    assert check_projections(repo.graph) == []


def test_forget_takes_the_dataset_out_of_the_lock_file(cli, workdir):
    write_tree(workdir, {"d/a.txt": "1", "e/b.txt": "2"})
    cli("snapshot", "d")
    cli("snapshot", "e")
    lock = workdir / "lineage.lock"
    if not lock.exists():
        return  # no lock file written by this version
    assert "\nd\t" in lock.read_text()
    assert cli("forget", "d").code == 0
    assert "\nd\t" not in lock.read_text() and "\ne\t" in lock.read_text()
