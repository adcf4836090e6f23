"""Run records through the library: the wrapper, the Python API, start/finish, and their events."""

from __future__ import annotations

import json
import re
import sys

import pytest
from runs_pipeline import TRAIN, raw_data, step

import lineage
from lineage import runs
from lineage.errors import ConflictError, LineageError, PathError, UnknownRefError, UsageError
from lineage.runs import queries as q


def comparable(record: runs.RunRecord) -> dict:
    """What must agree between the ways of recording (IDs, times, command and env aside)."""
    return {
        "kind": record.kind, "status": record.status, "exit_code": record.exit_code,
        "params": record.params,
        "inputs": sorted((i.snapshot_id, i.role, i.path, i.dataset) for i in record.inputs),
        "outputs": sorted((o.snapshot_id, o.path, o.dataset) for o in record.outputs),
        "metrics": sorted((m.name, m.value, m.split, m.step) for m in record.metrics),
        "git": record.git, "user": record.user, "host": record.host,
    }


@pytest.fixture
def data(workdir, monkeypatch):
    monkeypatch.chdir(workdir)  # paths in commands and API calls are relative to the work tree
    (workdir / "data" / "train").mkdir(parents=True)
    (workdir / "data" / "train" / "a.csv").write_text("x,y\n1,0\n2,1\n")
    (workdir / "data" / "val").mkdir(parents=True)
    (workdir / "data" / "val" / "b.csv").write_text("x,y\n3,0\n")
    return workdir


def test_uuid7_ids_are_time_ordered_and_valid():
    ids = [runs.new_run_id() for _ in range(50)]
    for rid in ids:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rid)
        runs.check_run_id(rid)
    assert len(set(ids)) == 50
    import uuid
    assert uuid.UUID(ids[0]).version == 7
    assert ids[0][:8] <= ids[-1][:8]


@pytest.mark.parametrize("bad", ["", "-x", "a b", "x" * 129, "a/b", "0" * 64])
def test_bad_run_ids_are_refused(bad):
    with pytest.raises(UsageError):
        runs.check_run_id(bad)


def test_three_ways_record_the_same_run(repo, data, monkeypatch):
    write_model = ("import os; os.makedirs('models', exist_ok=True); "
                   "open('models/m.txt', 'w').write('w=1')")
    attach_metric = ("import lineage\n"
                     "with lineage.run(kind='train') as r:\n"
                     "    assert r.attached, r\n"
                     "    r.log_metric('acc', 0.75, split='validation', step=2)\n")
    inputs = [("train", "data/train"), ("validation", "data/val")]

    # 1. the command wrapper (the command itself attaches through LINEAGE_RUN_ID and logs a metric)
    res = runs.run_command(repo, [sys.executable, "-c", write_model + "\n" + attach_metric], kind="train",
                           inputs=inputs, outputs=["models"], params={"lr": 0.1, "deep": True})
    assert res.exit_code == 0 and res.record.status == "succeeded"
    wrapped = runs.get(repo, res.record.run_id)

    # 2. the Python API
    with lineage.run(kind="train", params={"lr": 0.1}, repo=repo) as r:
        assert not r.attached
        r.input("data/train", role="train")
        r.input("data/val", role="validation")
        r.log_param("deep", True)
        r.log_metric("acc", 0.75, split="validation", step=2)
        r.output("models")
    api = runs.get(repo, r.id)

    # 3. start / finish, as an orchestrator would
    rid = runs.start(repo, "train", params={"lr": 0.1, "deep": True}, inputs=inputs)
    runs.log_metric(repo, rid, "acc", 0.75, split="validation", step=2)
    runs.add_output(repo, rid, "models")
    manual = runs.finish(repo, rid, exit_code=0)

    assert comparable(wrapped) == comparable(api) == comparable(manual)
    assert wrapped.params == {"lr": 0.1, "deep": True}
    assert [i.role for i in wrapped.inputs] == ["train", "validation"]
    assert wrapped.outputs[0].dataset == "models"
    assert len({wrapped.run_id, api.run_id, manual.run_id}) == 3
    assert wrapped.command[0] == sys.executable and wrapped.env["python"]


def test_lineage_run_id_from_the_environment_is_honoured(repo, data, monkeypatch):
    monkeypatch.setenv("LINEAGE_RUN_ID", "mlflow-4f2a9c")
    res = runs.run_command(repo, step("pass"), kind="other")
    assert res.record.run_id == "mlflow-4f2a9c"
    # the ID now names a finished run: a further run becomes its child, with a fresh ID
    with lineage.run(kind="evaluate", repo=repo) as r:
        assert not r.attached and r.id != "mlflow-4f2a9c"
    assert r.record().parent_run == "mlflow-4f2a9c"
    with pytest.raises(ConflictError):
        runs.run_command(repo, step("pass"), kind="other", run_id="mlflow-4f2a9c")


def test_api_attaches_to_a_started_run_and_never_finishes_it(repo, data):
    rid = runs.start(repo, "tune")
    with lineage.run(kind="tune", id=rid, repo=repo) as r:
        assert r.attached
        r.log_param("trials", 20)
    assert runs.get(repo, rid).status == "running"
    assert runs.finish(repo, rid, exit_code=0).params == {"trials": 20}
    with pytest.raises(ConflictError, match="already finished"):
        runs.finish(repo, rid)
    with pytest.raises(ConflictError, match="already finished"):
        runs.log_metric(repo, rid, "x", 1.0)


def test_exception_in_block_records_failed_and_reraises(repo, data):
    with pytest.raises(ValueError, match="boom"):
        with lineage.run(kind="train", repo=repo) as r:
            r.input("data/train", role="train")
            raise ValueError("boom")
    rec = runs.get(repo, r.id)
    assert rec.status == "failed" and rec.error == "ValueError: boom" and rec.ended


def test_keyboard_interrupt_in_block_records_aborted(repo, data):
    with pytest.raises(KeyboardInterrupt):
        with lineage.run(kind="train", repo=repo) as r:
            raise KeyboardInterrupt
    assert runs.get(repo, r.id).status == "aborted"


def test_failed_command_and_missing_command(repo, data):
    res = runs.run_command(repo, step("import sys; sys.exit(3)"), kind="train",
                           inputs=[("train", "data/train")], outputs=["models"])
    assert res.exit_code == 3
    rec = runs.get(repo, res.record.run_id)
    assert rec.status == "failed" and rec.exit_code == 3 and rec.outputs == ()
    assert len(rec.inputs) == 1  # recorded before the command ran
    res = runs.run_command(repo, ["no-such-program-xyz"], kind="other")
    assert res.exit_code == 127 and res.record.status == "failed"
    assert "command not found" in res.record.error


def test_declared_output_not_written_fails_the_run(repo, data):
    res = runs.run_command(repo, step("pass"), kind="train", outputs=["models/never"])
    assert res.record.status == "failed" and res.missing_outputs == ("models/never",)
    assert "not written" in res.record.error


def test_bad_input_records_nothing(repo, data):
    before = repo.graph.count_events()
    with pytest.raises(PathError):
        runs.run_command(repo, step("pass"), kind="train", inputs=[("train", "data/nope")])
    with pytest.raises(UsageError):
        runs.run_command(repo, step("pass"), kind="learn")
    with pytest.raises(UsageError):
        runs.run_command(repo, step("pass"), kind="train", inputs=[("holdout", "data/train")])
    with pytest.raises(UsageError):
        runs.run_command(repo, [], kind="train")
    assert repo.graph.count_events() == before
    assert q.list_runs(repo.graph) == []


def test_input_as_snapshot_reference(repo, data):
    snap = lineage.snapshot("data/val", name="val", repo=repo)
    rid = runs.start(repo, "evaluate", inputs=[("test", "val@1"), ("model", snap.id[:10])])
    rec = runs.get(repo, rid)
    assert [(i.snapshot_id, i.role, i.dataset) for i in rec.inputs] == [
        (snap.id, "test", "val"), (snap.id, "model", "val")]
    with pytest.raises(PathError, match="neither an existing path nor a known snapshot"):
        runs.start(repo, "evaluate", inputs=[("test", "val@9")])


def test_metrics_keep_their_split_and_bad_metrics_are_refused(repo, data):
    rid = runs.start(repo, "evaluate")
    runs.log_metric(repo, rid, "auc", 0.91, split="test")
    runs.log_metric(repo, rid, "loss", 0.3, split="train", step=5)
    for bad in ({"split": "holdout"}, {"step": -1}):
        with pytest.raises(UsageError):
            runs.log_metric(repo, rid, "auc", 0.9, **bad)
    with pytest.raises(UsageError):
        runs.log_metric(repo, rid, "auc", float("nan"))
    with pytest.raises(UsageError):
        runs.log_metric(repo, rid, "auc", "high")
    got = [(m.name, m.value, m.split, m.step) for m in runs.get(repo, rid).metrics]
    assert got == [("auc", 0.91, "test", None), ("loss", 0.3, "train", 5)]


def test_parameter_values_and_secret_names(repo, data):
    assert runs.parse_value("0.1") == 0.1 and runs.parse_value("3") == 3
    assert runs.parse_value("true") is True and runs.parse_value("adam") == "adam"
    assert runs.parse_value("[1,2]") == "[1,2]" and runs.parse_value("NaN") == "NaN"
    rid = runs.start(repo, "train", params={"layers": [64, 32], "api_key": "sk-live-123", "max_tokens": 5})
    params = runs.get(repo, rid).params
    assert params == {"layers": [64, 32], "api_key": "***", "max_tokens": 5}
    with pytest.raises(UsageError):
        runs.start(repo, "train", params={"bad name": 1})


def test_command_redaction():
    argv = ["train.py", "--password", "hunter2", "--api-key=abc", "--max-tokens", "9",
            "postgres://ann:pw@db/x", "--hf-token", "t0k"]
    assert runs.redact_command(argv) == [
        "train.py", "--password", "***", "--api-key=***", "--max-tokens", "9",
        "postgres://ann:***@db/x", "--hf-token", "***"]


def test_run_records_round_trip(repo, data):
    rid = runs.start(repo, "train", params={"lr": 0.1}, inputs=[("train", "data/train")])
    runs.log_metric(repo, rid, "acc", 0.5, split="validation")
    rec = runs.get(repo, rid)
    assert runs.RunRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    summary = runs.list_runs(repo)[0]
    assert runs.RunSummary.from_dict(summary.to_dict()) == summary
    for cls, obj in ((runs.RunInput, rec.inputs[0]), (runs.Metric, rec.metrics[0])):
        assert cls.from_dict(obj.to_dict()) == obj


def test_dirty_tree_records_the_diff_digest(repo, data, workdir):
    with open(workdir / ".git" / "info" / "exclude", "a") as fh:
        fh.write("/data/\n")  # untracked data not yet snapshotted would count as code (docs/runs.md)
    clean = runs.get(repo, runs.start(repo, "train"))
    assert clean.git["dirty"] is False and clean.git["diff_digest"] is None and clean.git["commit"]
    (workdir / "README").write_text("changed\n")
    dirty = runs.get(repo, runs.start(repo, "train"))
    assert dirty.git["dirty"] is True and re.fullmatch(r"[0-9a-f]{64}", dirty.git["diff_digest"])


def test_rebuild_gives_the_same_tables(repo, data):
    res = runs.run_command(repo, TRAIN, kind="train", inputs=[("train", "data/train")], outputs=["models"])
    runs.log_metric  # noqa: B018 - the API exists
    tables = ("runs", "run_input_records", "run_output_records", "run_params", "metrics", "edges_up",
              "edges_down", "snapshot_content")

    def dump():
        return {t: sorted(repo.graph.conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}

    before = dump()
    assert before["edges_up"] and res.record.status == "succeeded"
    repo.graph.rebuild()
    assert dump() == before


def test_list_runs_filters(repo, data):
    raw_data(repo.root)
    a = runs.start(repo, "train", inputs=[("train", "data/train")])
    b = runs.start(repo, "evaluate", inputs=[("test", "data/val")])
    assert [r.run_id for r in runs.list_runs(repo)] == [b, a]
    assert [r.run_id for r in runs.list_runs(repo, "data/val")] == [b]
    assert [r.run_id for r in runs.list_runs(repo, kind="train")] == [a]
    with pytest.raises(UnknownRefError):
        runs.list_runs(repo, "nope")


def test_prefix_resolution_and_ambiguity(repo, data):
    runs.start(repo, "other", run_id="exp-aa1")
    runs.start(repo, "other", run_id="exp-aa2")
    assert runs.resolve(repo, "exp-aa1") == "exp-aa1"
    with pytest.raises(LineageError, match="several runs"):
        runs.resolve(repo, "exp-aa")
    with pytest.raises(UnknownRefError):
        runs.resolve(repo, "zzz")


def test_run_events_match_their_schema(repo, data):
    from conftest import validate

    res = runs.run_command(repo, TRAIN, kind="train", inputs=[("train", "data/train")], outputs=["models"],
                           params={"lr": 0.1})
    runs.start(repo, "evaluate", run_id="ev-1", inputs=[("test", "data/val")])
    runs.log_params(repo, "ev-1", {"k": 3})
    runs.log_metric(repo, "ev-1", "auc", 0.7, split="test", step=1)
    runs.finish(repo, "ev-1", status="aborted", error="preempted")
    seen = set()
    for ev in repo.graph.events():
        if ev.type.startswith("run."):
            seen.add(ev.type)
            validate(ev.to_dict(), "event.schema.json")
            validate({"type": ev.type, "body": ev.body}, "run-events.schema.json")
    assert seen == {"run.start", "run.input", "run.output", "run.param", "run.metric", "run.finish"}
    assert res.record.status == "succeeded"
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        validate({"type": "run.metric", "body": {"run_id": "x", "name": "a", "value": "high", "split": None}},
                 "run-events.schema.json")
