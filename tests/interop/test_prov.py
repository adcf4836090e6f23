"""lineage export prov: W3C PROV-JSON built with the prov package, and its round trip."""

from __future__ import annotations

import json

import pytest

from conftest import validate, write_tree


@pytest.fixture
def runs_recorded(repo, workdir, monkeypatch):
    """Two versions of a dataset, a split run and a train run reading its outputs."""
    from lineage import runs, snapshots

    monkeypatch.chdir(workdir)
    write_tree(workdir, {"raw/all.csv": "x,y\n1,0\n2,1\n3,1\n"})
    snapshots.create(repo, "raw", name="raw")
    (workdir / "raw" / "all.csv").write_text("x,y\n1,0\n2,1\n3,1\n4,0\n")
    split = runs.start(repo, "split", command=["python", "split.py"], inputs=[("other", "raw")])
    write_tree(workdir, {"splits/train.csv": "x,y\n1,0\n2,1\n", "splits/test.csv": "x,y\n4,0\n"})
    runs.add_output(repo, split, "splits/train.csv")
    runs.add_output(repo, split, "splits/test.csv")
    runs.finish(repo, split, exit_code=0)
    train = runs.start(repo, "train", run_id="train-7", command=["python", "train.py"],
                       inputs=[("train", "splits/train.csv")])
    (workdir / "model.bin").write_bytes(b"w")
    runs.add_output(repo, train, "model.bin")
    runs.finish(repo, train, exit_code=0)
    return {"split": split, "train": train,
            "raw1": snapshots.resolve(repo, "raw@1"), "raw2": snapshots.resolve(repo, "raw@2"),
            "train_csv": snapshots.resolve(repo, "splits/train.csv"),
            "test_csv": snapshots.resolve(repo, "splits/test.csv"),
            "model": snapshots.resolve(repo, "model.bin")}


def _related(doc: dict, relation: str, a: str, b: str) -> list[dict]:
    return [r for r in doc.get(relation, {}).values() if (r.get(a), r.get(b)) is not None]


def test_all_is_valid_prov_json_that_round_trips(cli, runs_recorded):
    from prov.model import ProvDocument

    from lineage.interop import prov as lprov
    from lineage.repo import Repo

    r = cli("export", "prov", "--all", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "export-prov.schema.json")
    doc = ProvDocument.deserialize(content=r.stdout, format="json")
    with Repo.find(cli.cwd) as repo:
        built = lprov.build(repo, None)
    assert doc == built
    assert set(doc.get_records()) == set(built.get_records())
    assert json.loads(doc.serialize(format="json")) == r.json  # re-serialises to the same JSON


def test_runs_snapshots_and_users_map_to_prov(cli, runs_recorded):
    s = runs_recorded
    doc = cli("export", "prov", "--all", "--json").json
    snap = lambda sid: f"lineage:snapshot/{sid}"  # noqa: E731
    split, train = f"lineage:run/{s['split']}", "lineage:run/train-7"
    assert set(doc["activity"]) == {split, train}
    assert doc["activity"][train]["lineage:kind"] == "train"
    assert {snap(s[k]) for k in ("raw1", "raw2", "train_csv", "test_csv", "model")} <= set(doc["entity"])
    assert "lineage:dataset/raw" in doc["entity"]

    used = {(u["prov:activity"], u["prov:entity"], u.get("prov:role")) for u in doc["used"].values()}
    assert used == {(split, snap(s["raw2"]), "other"), (train, snap(s["train_csv"]), "train")}
    generated = {(g["prov:entity"], g["prov:activity"]) for g in doc["wasGeneratedBy"].values()}
    assert generated == {(snap(s["train_csv"]), split), (snap(s["test_csv"]), split),
                         (snap(s["model"]), train)}
    derived = {(d["prov:generatedEntity"], d["prov:usedEntity"], d.get("prov:activity"))
               for d in doc["wasDerivedFrom"].values() if "prov:type" not in d}
    assert derived == {(snap(s["train_csv"]), snap(s["raw2"]), split),
                       (snap(s["test_csv"]), snap(s["raw2"]), split),
                       (snap(s["model"]), snap(s["train_csv"]), train)}
    revisions = [d for d in doc["wasDerivedFrom"].values() if "prov:type" in d]
    assert [(d["prov:generatedEntity"], d["prov:usedEntity"]) for d in revisions] == [
        (snap(s["raw2"]), snap(s["raw1"]))]
    (agent,) = doc["agent"]
    assert doc["agent"][agent]["prov:label"] == "Test User <test@example.com>"
    assert {a["prov:activity"] for a in doc["wasAssociatedWith"].values()} == {split, train}
    assert all(a["prov:agent"] == agent for a in doc["wasAttributedTo"].values())
    assert {a["prov:entity"] for a in doc["wasAttributedTo"].values()} >= {snap(s["raw1"]), snap(s["model"])}
    special = {(x["prov:specificEntity"], x["prov:generalEntity"]) for x in doc["specializationOf"].values()}
    assert (snap(s["raw1"]), "lineage:dataset/raw") in special


def test_one_run_holds_only_what_it_touched(cli, runs_recorded):
    s = runs_recorded
    doc = cli("export", "prov", "train-7", "--json").json
    assert set(doc["activity"]) == {"lineage:run/train-7"}
    assert set(e for e in doc["entity"] if e.startswith("lineage:snapshot/")) == {
        f"lineage:snapshot/{s['train_csv']}", f"lineage:snapshot/{s['model']}"}
    # the same IDs as in the full export: stable identifiers
    full = cli("export", "prov", "--all", "--json").json
    assert set(doc["entity"]) <= set(full["entity"])


def test_formats_files_and_errors(cli, runs_recorded, tmp_path):
    r = cli("export", "prov", "train-7", "--format", "provn")
    assert r.code == 0 and r.stdout.startswith("document") and "activity(lineage:run/train-7" in r.stdout
    target = tmp_path / "prov.json"
    r = cli("export", "prov", "--all", "-o", str(target), "--json")
    assert r.code == 0 and r.json["file"] == str(target)
    validate(json.loads(target.read_text()), "export-prov.schema.json")
    assert cli("export", "prov").code == 2
    r = cli("export", "prov", "nope")
    assert r.code == 2 and "nope" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("export", "prov", "--all", "--format", "dot")
    assert r.code == 2 and "unknown PROV format" in r.stderr


def test_empty_graph_exports_an_empty_document(cli):
    r = cli("export", "prov", "--all", "--json")
    assert r.code == 0 and r.json == {"prefix": {"lineage": "https://lineage.dev/ns/"}}
    r = cli("export", "openlineage", "--all")
    assert r.code == 0 and r.stdout == ""


def test_missing_prov_package_gives_the_extra_hint(cli, runs_recorded, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "prov.model", None)
    monkeypatch.setitem(sys.modules, "prov", None)
    r = cli("export", "prov", "--all")
    assert r.code == 2 and "install lineage[interop]" in r.stderr


def test_python_api(repo, runs_recorded):
    import lineage

    events = lineage.export_openlineage(["train-7"], repo=repo)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    doc = json.loads(lineage.export_prov(["train-7"], repo=repo))
    assert "lineage:run/train-7" in doc["activity"]
