"""lineage import dvc on a pipeline whose stages run code kept in git: code stays code,
metrics become metrics, and the runs carry the repository's commit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import CLI, validate
from dvc_repo import copy, dvc, git, make_code_pipeline

DATA = {"data/raw.csv", "data/train.csv", "data/test.csv", "model.pkl"}


@pytest.fixture(scope="session")
def code_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_code_pipeline(tmp_path_factory.mktemp("dvc-code") / "repo")


@pytest.fixture
def work(code_template: Path, tmp_path: Path) -> Path:
    """A copy of the pipeline with lineage initialised, everything committed."""
    from lineage.repo import Repo

    work = copy(code_template, tmp_path / "work")
    Repo.init(work)
    git(work, "add", "-A")
    git(work, "commit", "-q", "--allow-empty", "-m", "lineage init")
    return work


@pytest.fixture
def wcli(work: Path, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(work, capsys)


def _head(work: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True,
                          text=True).stdout.strip()


def _import(wcli: CLI) -> dict:
    r = wcli("import", "dvc", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "import-dvc.schema.json")
    return r.json


def _dirty_code(wcli: CLI) -> list[dict]:
    r = wcli("audit", "--all", "--json")
    assert r.code in (0, 1), r.stderr
    return [f for f in r.json["findings"] if f["rule"] == "dirty-code"]


def test_only_dvc_outputs_become_datasets(wcli, work):
    r = _import(wcli)
    by_path = {o["path"]: o for o in r["outputs"]}
    assert {p for p, o in by_path.items() if o["snapshot_id"]} == DATA
    assert all(by_path[p]["status"] == "imported" for p in DATA)
    for rel in ("src/split.py", "src/train.py", "src/evaluate.py"):
        assert by_path[rel]["status"] == "code" and by_path[rel]["snapshot_id"] is None
    assert by_path["metrics.json"]["status"] == "metrics" and by_path["metrics.json"]["snapshot_id"] is None
    assert by_path["roc.csv"]["status"] == "plots" and by_path["roc.csv"]["snapshot_id"] is None
    assert r["summary"]["code"] == 3 and r["summary"]["metrics"] == 1 and r["summary"]["plots"] == 1

    # no dataset for src/ or the metrics; status is clean
    status = wcli("status", "--json", "--exit-code")
    assert status.code == 0, status.stdout
    paths = {d["path"] for d in status.json["datasets"]}
    assert paths == DATA
    assert all(d["state"] == "clean" for d in status.json["datasets"])

    # inputs are the data deps, with their roles; code deps are the run's code
    stages = {s["name"]: s for s in r["stages"]}
    assert {i["path"]: i["role"] for i in stages["split"]["inputs"]} == {"data/raw.csv": "other"}
    assert {i["path"]: i["role"] for i in stages["evaluate"]["inputs"]} == {"model.pkl": "model",
                                                                           "data/test.csv": "test"}
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    split_md5 = next(d["md5"] for d in lock["split"]["deps"] if d["path"] == "src/split.py")
    assert stages["split"]["code"] == [{"path": "src/split.py", "md5": split_md5, "changed": False}]
    assert all(s["status"] == "imported" and not s["missing"] for s in stages.values())

    from lineage import runs
    from lineage.repo import Repo

    with Repo.find(work) as repo:
        rec = runs.get(repo, stages["split"]["run_id"])
        assert rec.git["commit"] == _head(work) and rec.git["dirty"] is False
        assert rec.env["code"] == {"src/split.py": f"md5:{split_md5}"}
        assert [i.path for i in rec.inputs] == ["data/raw.csv"]
        assert sorted(o.path for o in rec.outputs) == ["data/test.csv", "data/train.csv"]
    shown = wcli("show", stages["split"]["run_id"], "--json")
    assert shown.code == 0
    validate(shown.json, "run-show.schema.json")
    assert shown.json["env"]["code"] == {"src/split.py": f"md5:{split_md5}"}


def test_metrics_files_become_metrics_of_the_run(wcli, work):
    r = _import(wcli)
    evaluate = next(s for s in r["stages"] if s["name"] == "evaluate")
    assert evaluate["outputs"] == []  # metrics.json and roc.csv are not snapshots
    want = {"accuracy": (0.5, None), "test.auc": (0.75, "test"), "train_loss": (0.25, "train"),
            "val_loss": (0.3, "validation"), "n": (2.0, None)}
    assert {m["name"]: (m["value"], m["split"]) for m in evaluate["metrics"]} == want
    assert {m["path"] for m in evaluate["metrics"]} == {"metrics.json"}

    from lineage import runs
    from lineage.repo import Repo

    with Repo.find(work) as repo:
        rec = runs.get(repo, evaluate["run_id"])
        assert {m.name: (m.value, m.split) for m in rec.metrics} == want
        train = runs.get(repo, next(s["run_id"] for s in r["stages"] if s["name"] == "train"))
        assert train.metrics == ()
    shown = wcli("show", evaluate["run_id"])
    assert shown.code == 0 and "test.auc = 0.75 on test" in shown.stdout
    # importing again records nothing twice
    again = _import(wcli)
    assert again["summary"]["runs_recorded"] == 0
    with Repo.find(work) as repo:
        assert len(runs.get(repo, evaluate["run_id"]).metrics) == len(want)


def test_guard_leaves_code_alone_and_flags_tracked_data(wcli, work):
    from lineage.hooks import checks, guard

    _import(wcli)
    (work / "src" / "train.py").write_text((work / "src" / "train.py").read_text() + "# tuned\n")
    git(work, "add", "src/train.py")
    assert guard.check_guard(work, checks.staged_files(work)).ok
    # the data the import did snapshot is still guarded
    git(work, "add", "-f", "data/train.csv")
    problems = guard.check_guard(work, checks.staged_files(work)).problems
    assert [p.kind for p in problems if p.path.startswith("data")] == ["tracked-data"]
    assert not [p for p in problems if p.path.startswith("src")]


def test_no_dirty_code_finding_on_a_committed_repository(wcli, work):
    _import(wcli)
    assert _dirty_code(wcli) == []


def test_a_modified_tracked_file_is_a_true_dirty_code_finding(wcli, work):
    (work / "src" / "evaluate.py").write_text("print('edited, not run')\n")
    r = _import(wcli)
    assert {s["git"]["dirty"] for s in r["stages"]} == {True}
    evaluate = next(s for s in r["stages"] if s["name"] == "evaluate")
    assert evaluate["code"][0]["changed"] is True and evaluate["git"]["diff_digest"]
    findings = _dirty_code(wcli)
    assert findings and all("uncommitted changes" in f["message"] for f in findings)


def test_code_committed_but_not_rerun_marks_only_that_stage(wcli, work):
    """dvc.lock says train ran with other code than the commit holds: that run is dirty."""
    (work / "src" / "train.py").write_text((work / "src" / "train.py").read_text() + "# not reproduced\n")
    git(work, "commit", "-q", "-am", "edit train without dvc repro")
    r = _import(wcli)
    dirty = {s["name"]: s["git"]["dirty"] for s in r["stages"]}
    assert dirty == {"split": False, "train": True, "evaluate": False}
    assert all(s["git"]["commit"] == _head(work) for s in r["stages"])
    train = next(s for s in r["stages"] if s["name"] == "train")
    assert train["code"][0] == {**train["code"][0], "path": "src/train.py", "changed": True}


def test_outside_git_code_is_known_by_name_and_stays_unversioned(code_template, tmp_path, capsys):
    from lineage.repo import Repo

    work = copy(code_template, tmp_path / "nogit")
    shutil.rmtree(work / ".git")
    Repo.init(work)
    wcli = CLI(work, capsys)
    r = _import(wcli)
    by_path = {o["path"]: o["status"] for o in r["outputs"]}
    assert by_path["src/split.py"] == "code" and by_path["data/raw.csv"] == "imported"
    assert {s["git"]["commit"] for s in r["stages"]} == {None}
    findings = _dirty_code(wcli)
    assert findings and all("outside git" in f["message"] for f in findings)


def test_a_dependency_that_is_another_stages_output_stays_data(wcli, work):
    """A .py file that a stage writes is data for the stage that reads it."""
    spec = yaml.safe_load((work / "dvc.yaml").read_text())
    spec["stages"]["codegen"] = {"cmd": "echo 'x = 1' > gen.py", "outs": ["gen.py"]}
    spec["stages"]["train"]["deps"].append("gen.py")
    (work / "dvc.yaml").write_text(yaml.safe_dump(spec))
    dvc(work, "repro", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "generated code")
    r = _import(wcli)
    by_path = {o["path"]: o["status"] for o in r["outputs"]}
    assert by_path["gen.py"] == "imported" and by_path["src/train.py"] == "code"
    train = next(s for s in r["stages"] if s["name"] == "train")
    assert "gen.py" in {i["path"] for i in train["inputs"]}
    assert [c["path"] for c in train["code"]] == ["src/train.py"]


def test_metric_conventions_and_formats(tmp_path):
    from lineage.errors import UsageError
    from lineage.interop.dvc import read_metrics, split_for_metric

    assert split_for_metric("test.auc") == "test"
    assert split_for_metric("val_loss") == "validation"
    assert split_for_metric("training/accuracy") == "train"
    assert split_for_metric("accuracy") is None
    assert split_for_metric("latest") is None  # a word, not a part of one
    (tmp_path / "m.yaml").write_text("eval:\n  test:\n    f1: 0.8\n  steps: [1, 2]\nok: true\n")
    assert read_metrics(tmp_path / "m.yaml") == {"eval.test.f1": 0.8}
    (tmp_path / "m.toml").write_text("[train]\nloss = 0.1\n")
    assert read_metrics(tmp_path / "m.toml") == {"train.loss": 0.1}
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(UsageError, match="not a valid metrics file"):
        read_metrics(tmp_path / "m.json")
