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
    assert r.code == 2 and "used the content of data/train.csv as its test set" in r.stderr
