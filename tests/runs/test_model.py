"""The run value objects round-trip, and an imported run reads back as the one RunRecord."""

from __future__ import annotations

import json

from lineage import runs
from lineage.runs import queries as q
from lineage.runs.model import Metric, RunInput, RunOutput, RunRecord, RunSummary

SID = "ab" * 32
OTHER = "cd" * 32


def full_record() -> RunRecord:
    return RunRecord(
        "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee", "train", "failed", 3, "boom", ["python", "t.py"],
        {"lr": 0.1, "layers": [1, 2], "opt": {"name": "adam"}, "seed": None},
        (RunInput(SID, "train", "data/train", "train"), RunInput(OTHER, "test")),
        (RunOutput(OTHER, "models/m.pkl", "model"), RunOutput(SID)),
        (Metric("acc", 0.5, "validation", 2, "2024-01-01T00:00:00Z"), Metric("loss", 1.0)),
        "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "ann", "host-1",
        {"commit": "f" * 40, "branch": "main", "dirty": True, "diff_digest": "0" * 64},
        {"python": "3.11", "packages": {"numpy": "2.0"}}, "parent-run",
    )


def test_run_record_round_trips_through_json():
    rec = full_record()
    assert RunRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    assert rec.finished
    # the JSON shape is pinned by schemas/run.schema.json: no key more, no key less
    assert sorted(rec.to_dict()) == sorted([*RunRecord.__dataclass_fields__, "short_id"])
    assert sorted(rec.to_dict()["inputs"][0]) == ["dataset", "path", "role", "snapshot_id"]


def test_run_record_defaults_and_parts_round_trip():
    bare = RunRecord.from_dict({"run_id": "r1", "kind": "other", "status": "running",
                                "started": "2024-01-01T00:00:00Z"})
    assert bare.inputs == () and bare.params == {} and bare.git == {} and bare.parent_run is None
    assert not bare.finished
    assert RunRecord.from_dict(bare.to_dict()) == bare
    rec = full_record()
    for cls, obj in ((RunInput, rec.inputs[1]), (RunOutput, rec.outputs[1]), (Metric, rec.metrics[1])):
        assert cls.from_dict(json.loads(json.dumps(obj.to_dict()))) == obj
    summary = RunSummary("r1", "train", "succeeded", 0, "t0", "t1", "ann", "f" * 40, False,
                         ["python", "t.py"], None)
    assert RunSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary


def test_imported_run_is_written_by_record_and_reads_back(repo):
    runs.record_imported(repo, "dvc-stage-2", kind="train", command="python train.py && echo ok",
                         params={"lr": 0.1}, inputs=[RunInput(SID, "train", "data/train")],
                         outputs=[RunOutput(OTHER, "models/m.pkl")], note="dvc.lock stage train")
    rec = runs.load(repo, "dvc-stage-2")
    assert (rec.status, rec.exit_code, rec.command) == ("succeeded", 0, ["sh", "-c", "python train.py && echo ok"])
    assert rec.inputs == (RunInput(SID, "train", "data/train"),)
    assert rec.outputs == (RunOutput(OTHER, "models/m.pkl"),)
    assert RunRecord.from_dict(rec.to_dict()) == rec
    # imported input/output bodies keep null path/dataset keys: their event IDs depend on it
    bodies = [json.loads(r[0]) for r in repo.graph.conn.execute(
        "SELECT body FROM events WHERE type IN ('run.input', 'run.output') ORDER BY type")]
    assert all("dataset" in b and b["dataset"] is None for b in bodies)
    # a second import adds only what is missing
    added = runs.add_missing_io(repo, "dvc-stage-2", [RunInput(SID, "train", "data/train"),
                                                      RunInput(OTHER, "test", "data/test")], [])
    assert added == 1 and len(q.inputs(repo.graph, ["dvc-stage-2"])) == 2
