"""Auditing what an auditor holds: a model file, or a test set, under whatever name the
runs recorded them."""

from __future__ import annotations

import shutil

import pytest

from conftest import CLI, validate


def _rows(lo: int, hi: int) -> list[dict]:
    return [{"id": i, "x": (i * 37) % 101, "y": i % 2} for i in range(lo, hi)]


@pytest.fixture
def pipeline(lab):
    lab.table("data/train.csv", _rows(0, 200))
    lab.table("data/test.csv", _rows(200, 260))
    lab.write("models/model.pkl", "weights v1")
    train = lab.run("train", inputs=[("train", "data/train.csv")], outputs=["models/model.pkl"])
    first = lab.run("evaluate", inputs=[("model", "models/model.pkl"), ("test", "data/test.csv")],
                    metrics=[("acc", 0.9, "test")])
    # the same test rows, saved under another name, scored again
    shutil.copy(lab.root / "data" / "test.csv", lab.root / "data" / "holdout_copy.csv")
    second = lab.run("evaluate", inputs=[("model", "models/model.pkl"), ("test", "data/holdout_copy.csv")],
                     metrics=[("acc", 0.91, "test")])
    other = lab.run("train", inputs=[("train", "data/train.csv")])
    return {"train": train, "first": first, "second": second, "other": other}


def test_audit_of_a_model_file_covers_its_writers_and_its_scorers(lab, pipeline, capsys):
    cli = CLI(lab.root, capsys)
    r = cli("audit", "models/model.pkl", "--json")
    assert r.code in (0, 1), r.stderr
    validate(r.json, "audit.schema.json")
    audited = {run["run_id"] for run in r.json["runs"]}
    assert audited == {pipeline["train"], pipeline["first"], pipeline["second"]}
    assert "test-reuse" in {f["rule"] for f in r.json["findings"]}


def test_a_renamed_model_is_the_same_artifact(lab, pipeline, capsys):
    shutil.copy(lab.root / "models" / "model.pkl", lab.root / "final.pkl")
    r = CLI(lab.root, capsys)("audit", "final.pkl", "--json")
    assert {run["run_id"] for run in r.json["runs"]} == {pipeline["train"], pipeline["first"], pipeline["second"]}


def test_audit_of_a_test_set_finds_every_scoring_under_any_name(lab, pipeline, capsys):
    r = CLI(lab.root, capsys)("audit", "--test-set", "data/test.csv", "--json")
    assert {run["run_id"] for run in r.json["runs"]} == {pipeline["first"], pipeline["second"]}
    assert r.code == 1 and "test-reuse" in {f["rule"] for f in r.json["findings"]}


def test_a_test_set_scored_once_is_clean(lab, capsys):
    lab.table("data/train.csv", _rows(0, 200))
    lab.table("data/test.csv", _rows(200, 260))
    lab.write("models/model.pkl", "weights v1")
    lab.run("train", inputs=[("train", "data/train.csv")], outputs=["models/model.pkl"])
    lab.commit()
    lab.run("evaluate", inputs=[("model", "models/model.pkl"), ("test", "data/test.csv")],
            metrics=[("acc", 0.9, "test")])
    r = CLI(lab.root, capsys)("audit", "--test-set", "data/test.csv", "--json")
    assert r.code == 0, r.stdout
    assert not [f for f in r.json["findings"] if f["severity"] in ("critical", "error")]


@pytest.mark.parametrize("args, message", [
    (["missing.pkl"], "no run matches 'missing.pkl'"),
    (["--test-set", "nowhere.csv"], "no such file or folder"),
    (["--test-set", "data/train.csv", "--all"], "exactly one of them"),
])
def test_bad_artifacts_are_one_line_errors(lab, pipeline, capsys, args, message):
    r = CLI(lab.root, capsys)("audit", *args)
    assert r.code == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr


def test_content_never_recorded_is_named(lab, pipeline, capsys):
    lab.write("models/unknown.pkl", "never recorded")
    r = CLI(lab.root, capsys)("audit", "models/unknown.pkl")
    assert r.code == 2 and "was never recorded" in r.stderr
    r = CLI(lab.root, capsys)("audit", "--test-set", "data/train.csv")
    assert r.code == 2 and "used the content of data/train.csv (its files or its rows) as its test set" in r.stderr


def test_a_test_set_re_exported_is_found_by_its_rows(lab, pipeline, capsys):
    """A shuffled Parquet re-export of the test set, with its columns re-ordered, scored
    again: ``--test-set`` finds every scoring through the rows, not the bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(reversed(_rows(200, 260)))
    pq.write_table(pa.table({"y": [r["y"] for r in rows], "x": [r["x"] for r in rows],
                             "id": [r["id"] for r in rows]}), lab.root / "data" / "holdout.parquet")
    third = lab.run("evaluate", inputs=[("model", "models/model.pkl"), ("test", "data/holdout.parquet")],
                    metrics=[("acc", 0.92, "test")])
    r = CLI(lab.root, capsys)("audit", "--test-set", "data/test.csv", "--json")
    audited = [run["run_id"] for run in r.json["runs"]]
    assert audited == [pipeline["first"], pipeline["second"], third]
    # the file an auditor holds need not be recorded: only its rows are compared
    (lab.root / "data" / "mine.csv").write_text(
        "x,id,y\n" + "".join(f"{r['x']},{r['id']},{r['y']}\n" for r in _rows(200, 260)))
    r = CLI(lab.root, capsys)("audit", "--test-set", "data/mine.csv", "--json")
    assert [run["run_id"] for run in r.json["runs"]] == audited
    # a file holding under 90 % of the rows is another test set
    (lab.root / "data" / "part.csv").write_text(
        "x,id,y\n" + "".join(f"{r['x']},{r['id']},{r['y']}\n" for r in _rows(200, 240)) + "1,9999,0\n" * 20)
    r = CLI(lab.root, capsys)("audit", "--test-set", "data/part.csv")
    assert r.code == 2 and "its rows" in r.stderr


def test_used_by_finds_a_re_exported_test_set_by_its_rows(lab, pipeline, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(reversed(_rows(200, 260)))
    pq.write_table(pa.table({"y": [r["y"] for r in rows], "id": [r["id"] for r in rows],
                             "x": [r["x"] for r in rows]}), lab.root / "data" / "holdout.parquet")
    third = lab.run("evaluate", inputs=[("model", "models/model.pkl"), ("test", "data/holdout.parquet")])
    r = CLI(lab.root, capsys)("used-by", "data/test.csv", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "used-by.schema.json")
    by_run = {u["run_id"]: u["match"] for u in r.json["uses"]}
    assert by_run[third] == "same-rows"
    assert by_run[pipeline["first"]] == "same-snapshot"
    # the training set holds none of the test rows: its readers are not uses of the test set
    assert pipeline["train"] not in by_run
