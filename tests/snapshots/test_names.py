"""Names need --move to re-point; refusals of .lineage/ and outside paths; declared columns."""

from __future__ import annotations

import os

from conftest import write_tree


def test_repointing_a_name_needs_move(cli, workdir):
    write_tree(workdir, {"data/train/a.txt": "1", "data/train.txt": "x"})
    assert cli("snapshot", "data/train", "--name", "train").code == 0
    r = cli("snapshot", "data/train.txt", "--name", "train")
    assert r.code == 2 and "data/train" in r.stderr and "--move" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert cli("status", "train", "--json").json["datasets"][0]["path"] == "data/train"
    r = cli("snapshot", "data/train.txt", "--name", "train", "--move", "--json")
    assert r.code == 0, r.stderr
    assert r.json["path"] == "data/train.txt" and r.json["version"] == 2
    assert any("now points to data/train.txt" in w for w in r.json["warnings"])
    # the same path again needs nothing
    assert cli("snapshot", "data/train.txt", "--name", "train").code == 0


def test_lineage_folder_refused_in_any_case(cli, workdir):
    for path in (".lineage", ".lineage/lineage.db", ".LINEAGE", "sub/.Lineage"):
        os.makedirs(workdir / "sub/.Lineage", exist_ok=True)
        r = cli("snapshot", path)
        assert r.code == 2 and "refusing to snapshot" in r.stderr, path


def test_outside_paths_need_external(cli, workdir, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("hello")
    for path in (str(outside), "../outside.txt"):
        r = cli("snapshot", path)
        assert r.code == 2 and "outside the repository" in r.stderr and "--external" in r.stderr
    r = cli("snapshot", str(outside), "--external", "--name", "ext", "--json")
    assert r.code == 0, r.stderr
    from lineage.repo import Repo
    from lineage.snapshots import queries

    with Repo.find(workdir) as repo:
        row = queries.dataset(repo.graph, "ext")
        assert row.external
        ev = repo.graph.event(r.json["event_id"])
        assert ev.body["external"] is True
    # inside the repository nothing is flagged
    write_tree(workdir, {"in.txt": "1"})
    r = cli("snapshot", "in.txt", "--json")
    with Repo.find(workdir) as repo:
        assert not queries.dataset(repo.graph, "in.txt").external
        assert "external" not in repo.graph.event(r.json["event_id"]).body


def test_missing_declared_column_is_an_error_and_not_remembered(cli, workdir):
    write_tree(workdir, {"t.csv": "a,b,quality\n1,2,3\n"})
    r = cli("snapshot", "t.csv", "--label-column", "label")
    assert r.code == 2, r.stderr
    assert "'label'" in r.stderr and "a, b, quality" in r.stderr
    assert cli("log", "--json").json["snapshots"] == []
    r = cli("snapshot", "t.csv", "--label-column", "quality", "--json")
    assert r.code == 0, r.stderr
