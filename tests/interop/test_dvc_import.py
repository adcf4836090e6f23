"""lineage import dvc against a real DVC repository made with the dvc package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import CLI, ROOT, validate
from dvc_repo import copy, make


#: How examples/data (tracked by examples/data.dvc) was made; docs/interop.md says the same.
EXAMPLE_DATA_ARGS = ["--rows", "1000", "--seed", "7"]


@pytest.fixture(scope="session")
def dvc_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(tmp_path_factory.mktemp("dvc-template") / "repo")


@pytest.fixture
def dvc_work(dvc_template: Path, tmp_path: Path) -> Path:
    from lineage.repo import Repo

    work = copy(dvc_template, tmp_path / "work")
    Repo.init(work)
    return work


@pytest.fixture
def dcli(dvc_work: Path, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(dvc_work, capsys)


def _lock(work: Path) -> dict:
    return yaml.safe_load((work / "dvc.lock").read_text())["stages"]


def test_import_registers_outputs_aliases_and_stage_runs(dcli, dvc_work):
    r = dcli("import", "dvc", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "import-dvc.schema.json")
    by_path = {o["path"]: o for o in r.json["outputs"]}
    assert set(by_path) == {"raw", "data/train.csv", "data/test.csv", "model.txt", "scores.txt"}
    assert all(o["status"] == "imported" for o in by_path.values())

    # the md5 recorded by DVC is kept as an alias and resolves to our own snapshot of the path
    raw_md5 = yaml.safe_load((dvc_work / "raw.dvc").read_text())["outs"][0]["md5"]
    assert raw_md5.endswith(".dir") and by_path["raw"]["md5"] == raw_md5
    own = dcli("snapshot", "raw", "--json").json
    assert own["id"] == by_path["raw"]["snapshot_id"] and own["unchanged"] is True
    shown = dcli("show", f"md5:{raw_md5}", "--json")
    assert shown.code == 0 and shown.json["id"] == own["id"]
    assert dcli("show", f"md5:{raw_md5[:-4]}", "--json").json["id"] == own["id"]  # without .dir
    model_md5 = _lock(dvc_work)["train"]["outs"][0]["md5"]
    assert dcli("show", f"md5:{model_md5[:10]}", "--json").json["id"] == by_path["model.txt"]["snapshot_id"]

    stages = {s["name"]: s for s in r.json["stages"]}
    assert {n: s["kind"] for n, s in stages.items()} == {"split": "split", "train": "train",
                                                         "evaluate": "evaluate"}
    assert all(s["status"] == "imported" and not s["missing"] for s in stages.values())
    assert stages["train"]["params"] == {"lr": 0.1}
    assert stages["train"]["command"] == "wc -l data/train.csv > model.txt"
    assert {i["path"]: i["role"] for i in stages["evaluate"]["inputs"]} == {"model.txt": "model",
                                                                           "data/test.csv": "test"}
    assert [i["role"] for i in stages["train"]["inputs"]] == ["train"]

    # the runs are real run records: the evaluate run read the test snapshot the split wrote
    from lineage import runs
    from lineage.repo import Repo

    with Repo.find(dvc_work) as repo:
        rec = runs.get(repo, stages["evaluate"]["run_id"])
        assert rec.kind == "evaluate" and rec.status == "succeeded"
        test_sid = by_path["data/test.csv"]["snapshot_id"]
        assert {(i.role, i.snapshot_id) for i in rec.inputs} >= {("test", test_sid)}
        split = runs.get(repo, stages["split"]["run_id"])
        assert test_sid in {o.snapshot_id for o in split.outputs}
        assert split.command == ["sh", "-c", _lock(dvc_work)["split"]["cmd"]]


def test_reimport_records_nothing_new(dcli, dvc_work):
    from lineage.repo import Repo

    assert dcli("import", "dvc").code == 0
    with Repo.find(dvc_work) as repo:
        before = repo.graph.count_events()
    r = dcli("import", "dvc", "--json")
    assert r.code == 0
    assert r.json["summary"]["unchanged"] == 5 and r.json["summary"]["runs_recorded"] == 0
    assert {s["status"] for s in r.json["stages"]} == {"unchanged"}
    with Repo.find(dvc_work) as repo:
        assert repo.graph.count_events() == before


def test_missing_and_changed_outputs_are_reported_not_guessed(dcli, dvc_work):
    (dvc_work / "data" / "test.csv").unlink()
    (dvc_work / "model.txt").write_text("tampered\n")
    r = dcli("import", "dvc", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "import-dvc.schema.json")
    by_path = {o["path"]: o for o in r.json["outputs"]}
    assert by_path["data/test.csv"]["status"] == "missing" and by_path["data/test.csv"]["snapshot_id"] is None
    assert by_path["model.txt"]["status"] == "modified" and "dvc checkout" in by_path["model.txt"]["message"]
    assert by_path["raw"]["status"] == "imported"
    stages = {s["name"]: s for s in r.json["stages"]}
    assert stages["evaluate"]["status"] == "incomplete"
    assert set(stages["evaluate"]["missing"]) == {"model.txt", "data/test.csv"}
    assert stages["split"]["missing"] == ["data/test.csv"]
    # no alias points at the tampered content
    model_md5 = _lock(dvc_work)["train"]["outs"][0]["md5"]
    assert dcli("show", f"md5:{model_md5}").code == 2

    text = dcli("import", "dvc")
    assert text.code == 0 and "missing" in text.stderr and "model.txt" in text.stderr
    assert dcli("import", "dvc", "--strict").code == 1


def test_aliases_survive_a_rebuild(dcli, dvc_work):
    r = dcli("import", "dvc", "--json").json
    raw = next(o for o in r["outputs"] if o["path"] == "raw")
    assert dcli("rebuild").code == 0
    assert dcli("show", f"md5:{raw['md5']}", "--json").json["id"] == raw["snapshot_id"]


def test_import_from_a_subfolder_finds_the_dvc_root(dcli, dvc_work):
    r = dcli("import", "dvc", "--json", cwd=dvc_work / "data")
    assert r.code == 0 and r.json["dvc_root"] == str(dvc_work)


def test_errors_are_one_line_exit_2(dcli, dvc_work, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    r = dcli("import", "dvc", str(plain))
    assert r.code == 2 and "not a DVC repository" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = dcli("import", "dvc", str(tmp_path / "nowhere"))
    assert r.code == 2 and "no such folder" in r.stderr
    (dvc_work / "raw.dvc").write_text("outs: [unclosed\n")
    r = dcli("import", "dvc")
    assert r.code == 2 and "raw.dvc is not valid YAML" in r.stderr
    r = dcli("show", "md5:xyz")
    assert r.code == 2 and "not an md5" in r.stderr
    r = dcli("show", "md5:0123456789abcdef0123456789abcdef")
    assert r.code == 2 and "0123456789abcdef" in r.stderr


def test_conventions_for_roles_and_kinds():
    from lineage.interop.dvc import kind_for_stage, role_for_path

    assert role_for_path("data/train.csv") == "train"
    assert role_for_path("data/splits/val") == "validation"
    assert role_for_path("holdout/part-0.parquet") == "test"
    assert role_for_path("models/clf.pkl") == "model"
    assert role_for_path("src/train.py") == "other"      # code is never a data split
    assert role_for_path("data/raw") == "other"
    assert kind_for_stage("train_model") == "train"
    assert kind_for_stage("featurize") == "transform"
    assert kind_for_stage("evaluate@test") == "evaluate"
    assert kind_for_stage("download") == "other"


def test_result_round_trips(dcli, dvc_work):
    from lineage.interop.dvc import DvcImport

    data = dcli("import", "dvc", "--json").json
    assert DvcImport.from_dict(data).to_dict() == data


def test_the_projects_own_dvc_data_imports(tmp_path, capsys):
    """The repository tracks examples/data with DVC; a copy of it imports cleanly."""
    from conftest import make_git_repo
    from lineage.repo import Repo

    pointer = ROOT / "examples" / "data.dvc"
    assert (ROOT / ".dvc" / "config").is_file() and pointer.is_file()
    work = make_git_repo(tmp_path / "proj")
    shutil.copytree(ROOT / ".dvc", work / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
    (work / "examples").mkdir()
    shutil.copy(pointer, work / "examples" / "data.dvc")
    data = ROOT / "examples" / "data"
    if not data.is_dir():  # a fresh clone without 'dvc pull': regenerate it, same bytes
        import subprocess
        import sys

        subprocess.run([sys.executable, str(ROOT / "examples" / "make_data.py"), str(work / "examples" / "data"),
                        *EXAMPLE_DATA_ARGS], check=True)
    else:
        shutil.copytree(data, work / "examples" / "data")
    Repo.init(work)
    r = CLI(work, capsys)("import", "dvc", "--json")
    assert r.code == 0, r.stderr
    (out,) = r.json["outputs"]
    assert out["path"] == "examples/data" and out["status"] == "imported"
    assert out["md5"] == yaml.safe_load(pointer.read_text())["outs"][0]["md5"]


def test_a_change_after_an_import_is_caught_on_the_next(dcli, dvc_work):
    assert dcli("import", "dvc").code == 0
    (dvc_work / "data" / "train.csv").write_text("id,x,label\n99,9.9,1\n")
    r = dcli("import", "dvc", "--json").json
    by_path = {o["path"]: o for o in r["outputs"]}
    assert by_path["data/train.csv"]["status"] == "modified"
    assert by_path["raw"]["status"] == "unchanged"


def test_reading_dvc_files_without_pyyaml_gives_the_extra_hint(dcli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    r = dcli("import", "dvc")
    assert r.code == 2 and "lineage[interop]" in r.stderr


def test_commands_start_without_the_interop_packages():
    """`lineage --help` and the other commands never import openlineage, prov, dvc or yaml."""
    import subprocess
    import sys

    code = ("import sys; from lineage.cli.app import main; "
            "rc = main(['export', '--help']); "
            "heavy = [m for m in ('openlineage', 'prov', 'dvc', 'yaml') if m in sys.modules]; "
            "print(heavy); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_python_api(dvc_work):
    import lineage
    from lineage.repo import Repo

    with Repo.find(dvc_work) as repo:
        result = lineage.import_dvc(dvc_work, repo=repo)
    assert result.to_dict()["summary"]["imported"] == 5


def test_paths_pulled_later_complete_the_imported_runs(dcli, dvc_work, tmp_path):
    from lineage import runs
    from lineage.repo import Repo

    shutil.move(dvc_work / "data" / "test.csv", tmp_path / "test.csv")
    first = {s["name"]: s for s in dcli("import", "dvc", "--json").json["stages"]}
    assert first["evaluate"]["status"] == "incomplete" and first["evaluate"]["recorded"]
    with Repo.find(dvc_work) as repo:
        assert [i.role for i in runs.get(repo, first["evaluate"]["run_id"]).inputs] == ["model"]
    shutil.move(tmp_path / "test.csv", dvc_work / "data" / "test.csv")  # as after 'dvc pull'
    second = dcli("import", "dvc", "--json").json
    stages = {s["name"]: s for s in second["stages"]}
    assert stages["evaluate"]["status"] == "updated" and stages["evaluate"]["run_id"] == first["evaluate"]["run_id"]
    assert stages["train"]["status"] == "unchanged" and second["summary"]["runs_recorded"] == 2
    with Repo.find(dvc_work) as repo:
        assert sorted(i.role for i in runs.get(repo, first["evaluate"]["run_id"]).inputs) == ["model", "test"]
    assert {s["status"] for s in dcli("import", "dvc", "--json").json["stages"]} == {"unchanged"}


def test_remote_dependencies_are_listed_not_snapshotted(dcli, dvc_work):
    lock = yaml.safe_load((dvc_work / "dvc.lock").read_text())
    lock["stages"]["split"]["deps"].append({"path": "s3://bucket/extra/labels.csv", "etag": "abc123"})
    (dvc_work / "dvc.lock").write_text(yaml.safe_dump(lock))
    r = dcli("import", "dvc", "--json", "--strict")
    assert r.code == 0, r.stderr  # an external dependency is not a problem to fix
    validate(r.json, "import-dvc.schema.json")
    ext = next(o for o in r.json["outputs"] if o["path"] == "s3://bucket/extra/labels.csv")
    assert ext["status"] == "external" and ext["snapshot_id"] is None
    split = next(s for s in r.json["stages"] if s["name"] == "split")
    assert split["status"] == "imported" and split["missing"] == []
