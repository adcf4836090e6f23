"""Provenance, used-by and the read-only query over a real recorded pipeline."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3

import pytest
from runs_pipeline import EVALUATE, FIT, SPLIT, TRAIN, TRANSFORM, raw_data

import lineage
from lineage.runs import provenance as prov
from lineage import runs
from lineage.errors import AmbiguousRefError, UsageError
from lineage.log import readonly

ROOT_DOCS = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def pipeline(repo, workdir, monkeypatch):
    """split -> fit -> transform -> train -> evaluate, the train step from a dirty tree."""
    monkeypatch.chdir(workdir)
    raw_data(workdir)
    ids = {}
    ids["split"] = runs.run_command(repo, SPLIT, kind="split", inputs=[("other", "data/raw")],
                                    outputs=["data/split"], params={"seed": 7}).record.run_id
    lineage.snapshot("data/split/test.csv", name="test", repo=repo)
    ids["fit"] = runs.run_command(repo, FIT, kind="fit", inputs=[("train", "data/split")],
                                  outputs=["state"]).record.run_id
    ids["transform"] = runs.run_command(repo, TRANSFORM, kind="transform",
                                        inputs=[("train", "data/split"), ("model", "state")],
                                        outputs=["data/feat"]).record.run_id
    (workdir / "README").write_text("uncommitted tweak\n")
    ids["train"] = runs.run_command(repo, TRAIN, kind="train", inputs=[("train", "data/feat")],
                                    outputs=["models"], params={"lr": 0.1}).record.run_id
    (workdir / "README").write_text("test repo\n")
    ids["evaluate"] = runs.run_command(repo, EVALUATE, kind="evaluate",
                                       inputs=[("model", "models"), ("test", "test")],
                                       outputs=["reports"]).record.run_id
    return ids


def test_provenance_returns_every_step_commit_and_role(repo, pipeline):
    p = prov.provenance(repo, "reports")
    kinds = {n.attrs["kind"]: n.id for n in p.runs()}
    assert kinds == {k: pipeline[k] for k in ("split", "fit", "transform", "train", "evaluate")}
    roles = {(p.node(e.child).attrs["kind"], e.role) for e in p.edges if e.type == "input"}
    assert roles == {("split", "other"), ("fit", "train"), ("transform", "train"), ("transform", "model"),
                     ("train", "train"), ("evaluate", "model"), ("evaluate", "test")}
    commits = {(c["dirty"], tuple(sorted(c["runs"]))) for c in p.commits}
    assert (True, (pipeline["train"],)) in commits
    assert len({c["commit"] for c in p.commits}) == 1
    dirty = next(c for c in p.commits if c["dirty"])
    assert re.fullmatch(r"[0-9a-f]{64}", dirty["diff_digest"])
    train = p.node(pipeline["train"])
    assert train.attrs["params"] == {"lr": 0.1} and train.attrs["user"] == "Test User <test@example.com>"
    assert train.attrs["started"] and train.attrs["git"]["dirty"] is True
    # the model's own provenance stops at training
    model = prov.provenance(repo, "models")
    assert {n.attrs["kind"] for n in model.runs()} == {"split", "fit", "transform", "train"}
    # a run as the root works too, and the data round-trips
    assert prov.provenance(repo, pipeline["fit"]).root_type == "run"
    assert prov.Provenance.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_provenance_renders_as_mermaid_and_dot(repo, pipeline):
    p = prov.provenance(repo, "models")
    mermaid = prov.to_mermaid(p)
    assert mermaid.startswith("flowchart LR") and "-->|train|" in mermaid
    assert mermaid.count("-->") == len(p.edges)
    dot = prov.to_dot(p)
    assert dot.startswith("digraph provenance {") and dot.rstrip().endswith("}")
    assert dot.count("->") == len(p.edges) and '[label="model"]' in dot


def test_provenance_of_a_plain_snapshot_has_no_runs(repo, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    raw_data(workdir)
    snap = lineage.snapshot("data/raw", repo=repo)
    p = prov.provenance(repo, snap.id[:10])
    assert p.root == snap.id and p.edges == () and [n.type for n in p.nodes] == ["snapshot"]


def test_used_by_finds_runs_that_read_a_copy_under_another_name(repo, pipeline, workdir):
    # the test file copied to another name and path: another snapshot ID, the same bytes
    (workdir / "holdout").mkdir()
    shutil.copy(workdir / "data/split/test.csv", workdir / "holdout/final.csv")
    copy = lineage.snapshot("holdout/final.csv", name="final-holdout", repo=repo)
    original = runs.resolve  # noqa: F841 - clarity: the copy is a different snapshot
    test_id = lineage.show("test", repo=repo).id
    assert copy.id != test_id
    rescore = runs.run_command(repo, ["true"], kind="evaluate",
                               inputs=[("model", "models"), ("test", "final-holdout")]).record.run_id

    u = prov.used_by(repo, "test")
    assert copy.id in u.copies
    by_run = {x.run_id: x for x in u.uses}
    assert by_run[pipeline["evaluate"]].match == "same-snapshot"
    assert by_run[rescore].match == "same-content" and by_run[rescore].role == "test"
    assert set(u.by_role["test"]) == {pipeline["evaluate"], rescore}
    # and from the copy's side, the original's reader is found
    assert {x.run_id for x in prov.used_by(repo, "final-holdout").uses} >= {pipeline["evaluate"], rescore}
    assert prov.UsedBy.from_dict(json.loads(json.dumps(u.to_dict()))) == u


def test_used_by_same_dataset_and_downstream(repo, pipeline, workdir):
    u = prov.used_by(repo, "data/split")
    assert {x.run_id for x in u.uses} == {pipeline["fit"], pipeline["transform"]}
    # a later version of the dataset: the earlier readers are found as same-dataset
    (workdir / "data/split/extra.csv").write_text("99,1,1\n")
    lineage.snapshot("data/split", repo=repo)
    later = prov.used_by(repo, "data/split@2")
    # version 2 keeps every row of version 1: its readers read those rows
    assert {x.match for x in later.uses} == {"same-rows"}
    (workdir / "data/split/extra.csv").unlink()
    for f in (workdir / "data/split").glob("*.csv"):
        f.write_text("id,a,b\n" + "".join(f"{1000 + i},{i},{i % 2}\n" for i in range(5)))
    lineage.snapshot("data/split", repo=repo)
    rewritten = prov.used_by(repo, "data/split@3")
    assert {x.match for x in rewritten.uses} == {"same-dataset"}
    deep = prov.used_by(repo, "data/split@1", downstream=True)
    downstream = {x.run_id for x in deep.uses if x.match == "downstream"}
    assert downstream == {pipeline["train"], pipeline["evaluate"]}
    with pytest.raises(UsageError, match="is a run"):
        prov.used_by(repo, pipeline["train"])


def test_show_of_a_ref_that_is_both_run_and_snapshot_is_ambiguous(repo, pipeline):
    runs.start(repo, "other", run_id="test")  # a run ID equal to a dataset name
    with pytest.raises(AmbiguousRefError, match="both run test and snapshot"):
        prov.describe(repo, "test")
    assert isinstance(prov.describe(repo, pipeline["fit"]), runs.RunRecord)


def test_views_answer_auditor_questions(repo, pipeline):
    ev = lineage.query("SELECT run_id, test_snapshot_id, dataset FROM evaluations", repo=repo)
    assert ev.records() == [{"run_id": pipeline["evaluate"], "test_snapshot_id": lineage.show("test", repo=repo).id,
                             "dataset": "test"}]
    edges = lineage.query("SELECT count(*) AS n FROM lineage_edges", repo=repo).records()[0]["n"]
    assert edges == repo.graph.conn.execute("SELECT count(*) FROM edges_up").fetchone()[0]
    ins = lineage.query("SELECT run_kind, role FROM run_inputs WHERE run_id = ?", (pipeline["transform"],),
                        repo=repo).records()
    assert sorted((r["run_kind"], r["role"]) for r in ins) == [("transform", "model"), ("transform", "train")]
    outs = lineage.query("SELECT dataset FROM run_outputs WHERE run_kind = 'train'", repo=repo).records()
    assert outs == [{"dataset": "models"}]


@pytest.mark.parametrize("sql", [
    "DELETE FROM runs",
    "UPDATE runs SET status = 'succeeded'",
    "INSERT INTO metrics VALUES ('e', 'r', 'acc', 1.0, 'test', NULL, 't')",
    "DROP VIEW evaluations",
    "CREATE TABLE x (a)",
    "CREATE TEMP TABLE x (a)",
    "ATTACH DATABASE ':memory:' AS other",
    "PRAGMA user_version = 99",
    "WITH x AS (SELECT 1) DELETE FROM runs",
])
def test_query_refuses_every_write(repo, workdir, sql):
    runs.start(repo, "train", run_id="r-1")
    runs.finish(repo, "r-1", exit_code=1)
    before = repo.graph.conn.execute("SELECT count(*), group_concat(status) FROM runs").fetchone()
    with pytest.raises(readonly.ReadOnlyError, match="read-only"):
        readonly.query(repo.db_path, sql)
    assert repo.graph.conn.execute("SELECT count(*), group_concat(status) FROM runs").fetchone() == before
    assert repo.graph.conn.execute("PRAGMA user_version").fetchone()[0] < 99


def test_query_errors_and_limits(repo, pipeline):
    with pytest.raises(UsageError, match="SQL error"):
        readonly.query(repo.db_path, "SELECT * FROM nope")
    with pytest.raises(UsageError):
        readonly.query(repo.db_path, "SELECT 1; SELECT 2")
    with pytest.raises(UsageError, match="empty"):
        readonly.query(repo.db_path, "  ")
    r = readonly.query(repo.db_path, "SELECT run_id, run_id FROM runs", limit=2)
    assert r.truncated and len(r.rows) == 2 and list(r.records()[0]) == ["run_id", "run_id:2"]
    assert readonly.QueryResult.from_dict(r.to_dict()) == r
    recursive = readonly.query(repo.db_path, "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
                                             "WHERE n < 5) SELECT sum(n) FROM c")
    assert recursive.rows == ((15,),)
    assert readonly.query(repo.db_path, "PRAGMA table_info(runs)").rows


def test_views_and_tables_are_documented(repo, pipeline):
    doc = (ROOT_DOCS / "queries.md").read_text()
    objects = readonly.schema_objects(repo.db_path)
    views = {name for typ, name in objects if typ == "view"}
    assert set(readonly.AUDITOR_VIEWS) <= views
    from lineage.runs.m0002_runs import TABLES

    for name in (*readonly.AUDITOR_VIEWS, *TABLES):
        assert f"`{name}`" in doc, f"{name} is not documented in docs/queries.md"
    # every column of every auditor view is documented
    for view in readonly.AUDITOR_VIEWS:
        cols = [r[1] for r in sqlite3.connect(repo.db_path).execute(f"PRAGMA table_info({view})")]
        section = doc.split(f"### `{view}`", 1)[1].split("###", 1)[0]
        for c in cols:
            assert f"`{c}`" in section, f"column {c} of {view} is not documented"
