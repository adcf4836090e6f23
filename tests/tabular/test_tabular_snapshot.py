"""Tabular metadata recorded by snapshots: loading API, reuse, declarations, bad input, CLI."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import lineage
from lineage.tabular import load_fingerprints, load_minhash, load_profiles
from tests.conftest import validate, write_tree

FP_COLUMNS = ["file", "row", "fp", "fp_features", "group", "time", "label"]


def tabular_events(repo) -> list:
    return list(repo.graph.events(types=["tabular.file"]))


def test_fingerprints_of_a_folder_of_formats(workdir: Path, repo):
    data = workdir / "data"
    data.mkdir()
    table = pa.table({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    pq.write_table(table, data / "p.parquet")
    feather.write_feather(table, data / "f.feather")
    (data / "c.csv").write_text("x,y\n1,a\n2,b\n3,c\n")
    (data / "t.tsv").write_text("x\ty\n1\ta\n2\tb\n3\tc\n")
    (data / "j.jsonl").write_text("".join(json.dumps({"x": i, "y": y}) + "\n" for i, y in [(1, "a"), (2, "b"), (3, "c")]))
    with gzip.open(data / "c.csv.gz", "wt") as fh:
        fh.write("x,y\n1,a\n2,b\n3,c\n")
    import pyarrow as _pa

    with _pa.CompressedOutputStream(str(data / "j.jsonl.zst"), "zstd") as out:
        out.write("".join(json.dumps({"y": y, "x": i}) + "\n" for i, y in [(1, "a"), (2, "b"), (3, "c")]).encode())
    (data / "image.png").write_bytes(b"\x89PNG fake")
    snap = lineage.snapshot(data, repo=repo, name="d")
    assert snap.warnings == []
    fps = load_fingerprints(repo, snap.id)
    assert fps.column_names == FP_COLUMNS
    assert fps.schema.field("fp").type == pa.binary(16)
    by_file: dict[str, list[bytes]] = {}
    for row in fps.to_pylist():
        by_file.setdefault(row["file"], []).append(row["fp"])
    expected = by_file["p.parquet"]
    assert len(expected) == 3 and len(set(expected)) == 3
    for name in ("f.feather", "c.csv", "t.tsv", "j.jsonl", "c.csv.gz", "j.jsonl.zst"):
        assert by_file[name] == expected, name
    digest = [e for e in lineage.show(snap.id, repo=repo).files if e["path"] == "image.png"][0]["digest"]
    assert by_file["image.png"] == [bytes.fromhex(digest)[:16]]


def test_label_group_time_declarations(workdir: Path, repo):
    (workdir / "train.csv").write_text(
        "patient,visit,feature,y\n"
        "p1,2024-01-01T10:00:00+02:00,0.5,1\n"
        "p2,2024-01-02T00:00:00Z,0.7,0\n"
        "p1,2024-01-03T00:00:00Z,0.5,0\n"   # same features as row 0 except visit
        "p3,2024-01-04T00:00:00Z,0.9,1\n")
    snap = lineage.snapshot(workdir / "train.csv", repo=repo, name="train", label_column="y",
                            group_column="patient", time_column="visit")
    fps = load_fingerprints(repo, snap.id).to_pylist()
    assert [r["label"] for r in fps] == ["1", "0", "0", "1"]
    assert all(r["fp_features"] is not None and r["fp_features"] != r["fp"] for r in fps)
    assert fps[0]["group"] == fps[2]["group"] != fps[1]["group"]
    assert fps[0]["time"].isoformat() == "2024-01-01T08:00:00+00:00"
    assert max(r["time"] for r in fps).isoformat() == "2024-01-04T00:00:00+00:00"

    # a row repeated with another label: same features, different full fingerprint
    (workdir / "test.csv").write_text(
        "patient,visit,feature,y\np2,2024-01-02T00:00:00Z,0.7,1\n")
    t = lineage.snapshot(workdir / "test.csv", repo=repo, name="test", label_column="y",
                         group_column="patient", time_column="visit")
    row = load_fingerprints(repo, t.id).to_pylist()[0]
    assert row["fp_features"] == fps[1]["fp_features"] and row["fp"] != fps[1]["fp"]
    assert row["group"] == fps[1]["group"]


def test_declarations_are_remembered_and_read_from_pyproject(workdir: Path, repo):
    (workdir / "pyproject.toml").write_text(
        '[tool.lineage.datasets.scores]\nlabel = "y"\ngroup_column = "g"\n')
    (workdir / "s.csv").write_text("g,x,y\na,1,0\nb,2,1\n")
    snap = lineage.snapshot(workdir / "s.csv", repo=repo, name="scores")
    from lineage.snapshots import queries

    assert queries.dataset(repo.graph, "scores").declarations == {"label": "y", "group": "g"}
    rows = load_fingerprints(repo, snap.id).to_pylist()
    assert [r["label"] for r in rows] == ["0", "1"]
    assert rows[0]["group"] is not None
    # the next snapshot keeps them even without pyproject
    (workdir / "pyproject.toml").unlink()
    (workdir / "s.csv").write_text("g,x,y\na,1,0\nb,2,1\nc,3,0\n")
    snap2 = lineage.snapshot(workdir / "s.csv", repo=repo, name="scores")
    assert [r["label"] for r in load_fingerprints(repo, snap2.id).to_pylist()] == ["0", "1", "0"]


def test_derived_objects_are_reused(workdir: Path, repo):
    write_tree(workdir, {"a/t.csv": "x,y\n1,2\n3,4\n", "b/t.csv": "x,y\n1,2\n3,4\n"})
    lineage.snapshot(workdir / "a", repo=repo, name="a")
    assert len(tabular_events(repo)) == 1
    objects_before = set(repo.store.iter_digests())
    lineage.snapshot(workdir / "b", repo=repo, name="b")  # same content elsewhere
    assert len(tabular_events(repo)) == 1
    assert set(repo.store.iter_digests()) == objects_before
    load_fingerprints(repo, "b")
    load_profiles(repo, "b")
    assert len(tabular_events(repo)) == 1
    # a new declaration changes the derived data: computed once more, then reused
    lineage.snapshot(workdir / "b", repo=repo, name="b", label_column="y")
    assert len(tabular_events(repo)) == 2
    load_fingerprints(repo, "b")
    assert len(tabular_events(repo)) == 2
    from lineage.tabular.queries import referenced_digests

    refs = referenced_digests(repo.graph)
    assert len(refs) == 3  # two fingerprint objects; the profile does not depend on declarations
    assert all(repo.store.exists(d) for d in refs)


def test_no_store_still_fingerprints(workdir: Path, repo):
    (workdir / "n.csv").write_text("x\n1\n2\n")
    snap = lineage.snapshot(workdir / "n.csv", repo=repo, name="n", store=False)
    assert not snap.stored
    assert load_fingerprints(repo, snap.id).num_rows == 2
    assert load_profiles(repo, snap.id)["n.csv"]["x"]["max"] == 2


def test_recomputed_from_stored_objects_after_the_workspace_changed(workdir: Path, repo):
    """What is missing for the current declarations is computed from the stored bytes."""
    (workdir / "r.csv").write_text("x,y\n1,0\n2,1\n")
    snap = lineage.snapshot(workdir / "r.csv", repo=repo, name="r")
    os.unlink(workdir / "r.csv")
    fps = load_fingerprints(repo, snap.id, declarations={"label": "y"})
    assert fps.column("label").to_pylist() == ["0", "1"]


BAD = {
    "malformed.csv": ("x,y\n1,2\n3,4,5\n", "malformed CSV"),
    "empty.csv": ("", "the file is empty"),
    "mixed.jsonl": ('{"x": 1}\n{"x": "one"}\n', "malformed JSON Lines"),
}


@pytest.mark.parametrize("name", sorted(BAD) + ["corrupt.parquet", "truncated.parquet"])
def test_bad_input_warns_and_snapshot_succeeds(workdir: Path, repo, name):
    folder = workdir / "bad"
    folder.mkdir()
    (folder / "good.csv").write_text("x\n1\n")
    if name in BAD:
        (folder / name).write_text(BAD[name][0])
        expected = BAD[name][1]
    else:
        buf = pa.BufferOutputStream()
        pq.write_table(pa.table({"x": list(range(100))}), buf)
        data = buf.getvalue().to_pybytes()
        data = data[:-12] + b"\0" * 8 + data[-4:] if name == "corrupt.parquet" else data[: len(data) // 2]
        (folder / name).write_bytes(data)
        expected = "Parquet"
    snap = lineage.snapshot(folder, repo=repo, name="bad")
    assert snap.id and not snap.unchanged
    assert len(snap.warnings) == 1
    assert snap.warnings[0].startswith(f"bad/{name}: could not be fingerprinted")
    assert expected in snap.warnings[0]
    fps = load_fingerprints(repo, snap.id).to_pylist()
    assert sorted(r["file"] for r in fps) == sorted(["good.csv", name])
    digest = [e["digest"] for e in lineage.show(snap.id, repo=repo).files if e["path"] == name][0]
    bad_row = [r for r in fps if r["file"] == name][0]
    assert bad_row["fp"] == bytes.fromhex(digest)[:16]  # one row, identified by the file's digest


def test_mixed_types_after_the_first_block(workdir: Path, repo, monkeypatch):
    from lineage.tabular import readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 64)
    lines = ["n,word"] + [f"{i},w{i}" for i in range(40)] + ["2.5,w", "text,w"]
    (workdir / "late.csv").write_text("\n".join(lines) + "\n")
    snap = lineage.snapshot(workdir / "late.csv", repo=repo, name="late")
    assert any("late.csv" in w and "'n' mixes types" in w for w in snap.warnings)
    prof = load_profiles(repo, snap.id)["late.csv"]
    assert prof["n"]["kind"] == "categorical" and prof["n"]["count"] == 42


def test_int_widened_to_float_keeps_fingerprints(workdir: Path, repo, monkeypatch):
    from lineage.tabular import readers

    monkeypatch.setattr(readers, "BLOCK_BYTES", 64)
    lines = ["n"] + [str(i) for i in range(40)] + ["2.5"]
    (workdir / "w.csv").write_text("\n".join(lines) + "\n")
    snap = lineage.snapshot(workdir / "w.csv", repo=repo, name="w")
    assert snap.warnings == []
    fps = load_fingerprints(repo, snap.id).column("fp").to_pylist()
    from lineage.tabular.rowhash import fingerprint_table

    assert fps == fingerprint_table(pa.table({"n": [float(i) for i in range(40)] + [2.5]})).to_pylist()


def test_text_column_minhash(workdir: Path, repo):
    (workdir / "docs.jsonl").write_text("".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in enumerate(
        ["The quick brown fox", "  the QUICK   brown fox ", "something else entirely"])))
    snap = lineage.snapshot(workdir / "docs.jsonl", repo=repo, name="docs", text_column="body")
    mh = load_minhash(repo, snap.id)
    assert mh.num_rows == 3
    assert mh.column("text").to_pylist()[:2] == ["the quick brown fox", "the quick brown fox"]
    sigs = mh.column("sig").to_pylist()
    assert sigs[0] == sigs[1] != sigs[2]
    assert load_minhash(repo, lineage.snapshot(workdir / "docs.jsonl", repo=repo, name="other").id) is None


def test_profiles_merge_over_part_files(workdir: Path, repo):
    from lineage.tabular import merge_profiles

    write_tree(workdir, {"parts/a.csv": "v,c\n1,x\n2,y\n", "parts/b.csv": "v,c\n3,x\n4,x\n"})
    snap = lineage.snapshot(workdir / "parts", repo=repo, name="parts")
    profiles = load_profiles(repo, snap.id)
    merged = merge_profiles(list(profiles.values()))
    assert merged["v"]["count"] == 4 and merged["v"]["mean"] == 2.5
    assert merged["v"]["min"] == 1 and merged["v"]["max"] == 4
    assert abs(merged["v"]["std"] - 1.2909944487358056) < 1e-12
    assert merged["c"]["top"] == [["x", 3], ["y", 1]] and merged["c"]["other"] == 0


def test_images_across_train_and_test_folders(workdir: Path, repo):
    write_tree(workdir, {"img/train/a.png": b"A" * 10, "img/train/b.png": b"B" * 10,
                         "img/test/c.png": b"A" * 10})
    train = lineage.snapshot(workdir / "img/train", repo=repo, name="train")
    test = lineage.snapshot(workdir / "img/test", repo=repo, name="test")
    a = set(load_fingerprints(repo, train.id).column("fp").to_pylist())
    b = load_fingerprints(repo, test.id).column("fp").to_pylist()
    assert [fp in a for fp in b] == [True]


# -- CLI ------------------------------------------------------------------------------

def test_cli_warnings_on_stderr_and_json(cli, workdir: Path):
    write_tree(workdir, {"d/ok.csv": "a\n1\n", "d/broken.csv": "a,b\n1\n2,3,4\n"})
    r = cli("snapshot", "d", "--json")
    assert r.code == 0
    validate(r.json, "snapshot.schema.json")
    assert len(r.json["warnings"]) == 1 and "d/broken.csv" in r.json["warnings"][0]
    assert "warning:" in r.stderr and "d/broken.csv" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_show_schema_and_profile(cli, workdir: Path):
    write_tree(workdir, {"t.csv": "num,cat\n1.5,a\n2.5,b\n,a\n"})
    assert cli("snapshot", "t.csv", "--label-column", "cat").code == 0
    r = cli("show", "t.csv", "--schema", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "show-tabular.schema.json")
    f = r.json["files"][0]
    assert f["rows"] == 3 and [c["name"] for c in f["columns"]] == ["num", "cat"]
    assert f["profile"] is None and r.json["declarations"] == {"label": "cat"}
    r = cli("show", "t.csv", "--profile", "--json")
    validate(r.json, "show-tabular.schema.json")
    prof = r.json["files"][0]["profile"]
    assert prof["num"]["nulls"] == 1 and prof["num"]["mean"] == 2.0
    assert prof["cat"]["top"] == [["a", 2], ["b", 1]]
    text = cli("show", "t.csv", "--profile")
    assert text.code == 0 and "num" in text.stdout and "a (2)" in text.stdout


def test_cli_diff_rows_exact_counts(cli, workdir: Path):
    import random

    rng = random.Random(7)
    rows = [f"{i},{rng.random():.6f},{rng.choice('abc')}" for i in range(500)]
    rows += [rows[3], rows[3]]  # duplicates count as separate rows
    (workdir / "v.csv").write_text("id,x,c\n" + "\n".join(rows) + "\n")
    assert cli("snapshot", "v.csv", "--name", "v").code == 0
    new = list(rows)
    removed = {10, 20, 30}
    new = [r for i, r in enumerate(new) if i not in removed]
    new.remove(rows[3])                      # one of the three copies of row 3 goes
    new[100] = "100,0.5,z"                    # a changed row: one removed, one added
    new += ["900,1.0,a", "901,2.0,b", "902,3.0,c", "901,2.0,b"]  # four added (one twice)
    rng.shuffle(new)                          # order does not matter
    (workdir / "v.csv").write_text("id,x,c\n" + "\n".join(new) + "\n")
    assert cli("snapshot", "v.csv", "--name", "v").code == 0
    r = cli("diff", "v@1", "v@2", "--rows", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "diff.schema.json")
    rows_json = r.json["rows"]
    assert rows_json["rows_a"] == 502 and rows_json["rows_b"] == 502 - 3 - 1 + 4
    # the changed row: index 100 is after the removed 10/20/30 shift -> a real row
    assert rows_json["removed"] == 3 + 1 + 1
    assert rows_json["added"] == 4 + 1
    assert rows_json["unchanged"] == 502 - 5
    assert {s["file"] for s in rows_json["sample_added"]} == {"v.csv"}
    text = cli("diff", "v@1", "v@2", "--rows")
    assert "5 added, 5 removed, 497 unchanged" in text.stdout


def test_gc_keeps_derived_objects(workdir: Path, repo):
    from lineage.sync.gc import collect
    from lineage.tabular.queries import referenced_digests

    (workdir / "g.csv").write_text("x,y\n1,2\n")
    snap = lineage.snapshot(workdir / "g.csv", repo=repo, name="g", text_column="y")
    refs = referenced_digests(repo.graph)
    assert len(refs) == 3  # fingerprints, profile, minhash
    repo.store.put_bytes(b"unreferenced")
    result = collect(repo)
    assert [r.digest for r in result.removed] != [] and not any(r.digest in refs for r in result.removed)
    assert all(repo.store.exists(d) for d in refs)
    assert load_fingerprints(repo, snap.id).num_rows == 1


def test_rebuild_keeps_tabular_records(workdir: Path, repo):
    (workdir / "k.csv").write_text("x\n1\n")
    snap = lineage.snapshot(workdir / "k.csv", repo=repo, name="k")
    before = load_profiles(repo, snap.id)
    repo.graph.rebuild()
    assert load_profiles(repo, snap.id) == before
    assert len(tabular_events(repo)) == 1
