"""Run commands through the CLI: exit codes, text, JSON against schemas/, signals and secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import validate, write_tree

PY = sys.executable


@pytest.fixture
def data(workdir):
    write_tree(workdir, {"data/train/a.csv": "x,y\n1,0\n2,1\n", "data/val/b.csv": "x,y\n3,1\n",
                         "data/test/c.csv": "x,y\n4,0\n"})
    return workdir


def test_wrapper_json_text_and_exit_codes(cli, data):
    code = ("import os; os.makedirs('models', exist_ok=True); open('models/m.txt', 'w').write('m'); "
            "print('training output')")
    r = cli("run", "--kind", "train", "--input", "train=data/train", "-i", "validation=data/val",
            "--output", "models", "--param", "lr=0.1", "-p", "opt=adam", "--json", "--", PY, "-c", code)
    assert r.code == 0, r.stderr
    validate(r.json, "run.schema.json")
    rec = r.json
    assert rec["status"] == "succeeded" and rec["exit_code"] == 0
    assert rec["params"] == {"lr": 0.1, "opt": "adam"}
    assert [(i["role"], i["dataset"]) for i in rec["inputs"]] == [("train", "data/train"),
                                                                  ("validation", "data/val")]
    assert rec["outputs"][0]["path"] == "models"

    r = cli("run", "--kind", "evaluate", "--", PY, "-c", "import sys; sys.exit(4)")
    assert r.code == 4 and "failed" in r.stderr and "exit code 4" in r.stderr

    r = cli("run", "--kind", "train", "--output", "nowhere", "--", PY, "-c", "pass")
    assert r.code == 2 and "did not write nowhere" in r.stderr

    r = cli("log", "--runs", "--json")
    validate(r.json, "log-runs.schema.json")
    assert [x["status"] for x in r.json["runs"]] == ["failed", "failed", "succeeded"]
    assert "succeeded" in cli("log", "--runs").stdout
    assert [x["run_id"] for x in cli("log", "data/val", "--runs", "--json").json["runs"]] == [rec["run_id"]]

    r = cli("show", rec["run_id"][:18], "--json")
    validate(r.json, "run-show.schema.json")
    assert r.json["run_id"] == rec["run_id"]
    text = cli("show", rec["run_id"]).stdout
    assert "validation" in text and "lr = 0.1" in text and "succeeded" in text


@pytest.mark.parametrize("args, message", [
    (["run", "--", PY, "-c", "pass"], "needs --kind"),
    (["run", "--kind", "learn", "--", "true"], "unknown run kind"),
    (["run", "--kind", "train", "-i", "holdout=data/val", "--", "true"], "unknown input role"),
    (["run", "--kind", "train", "-i", "train=data/missing", "--", "true"], "neither an existing path"),
    (["run", "--kind", "train", "-p", "novalue", "--", "true"], "KEY=VALUE"),
    (["run", "--kind", "train"], "no command given"),
    (["run", "--kind", "train", "--id", "bad id", "--", "true"], "invalid run ID"),
    (["run", "finish", "nope"], "no run matches"),
    (["run", "metric", "nope", "acc", "x"], "must be a number"),
])
def test_bad_run_input_is_one_line_and_exit_2(cli, data, args, message):
    r = cli(*args)
    assert r.code == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert cli("log", "--runs", "--json").json["runs"] == []


def test_start_input_param_metric_output_finish(cli, data):
    r = cli("run", "start", "--kind", "evaluate", "--id", "ci-42", "-p", "k=3", "--", "python", "score.py")
    assert r.code == 0 and r.stdout.strip() == "ci-42"
    r = cli("run", "input", "ci-42", "test=data/test", "model=data/train", "--json")
    validate(r.json, "run-update.schema.json")
    assert [i["role"] for i in r.json["inputs"]] == ["test", "model"]
    r = cli("run", "param", "ci-42", "threshold=0.5", "--json")
    validate(r.json, "run-update.schema.json")
    r = cli("run", "metric", "ci-42", "auc", "0.87", "--split", "test", "--json")
    validate(r.json, "run-update.schema.json")
    (data / "report.json").write_text("{}")
    r = cli("run", "output", "ci-42", "report.json", "--json")
    validate(r.json, "run-update.schema.json")
    r = cli("run", "finish", "ci-42", "--exit-code", "0", "--json")
    assert r.code == 0
    validate(r.json, "run.schema.json")
    assert r.json["status"] == "succeeded" and r.json["command"] == ["python", "score.py"]
    assert r.json["params"] == {"k": 3, "threshold": 0.5}
    assert r.json["metrics"][0]["split"] == "test"
    r = cli("run", "finish", "ci-42")
    assert r.code == 2 and "already finished" in r.stderr
    r = cli("run", "start", "--kind", "train", "--json")
    validate(r.json, "run.schema.json")
    assert r.json["status"] == "running"
    r = cli("run", "finish", r.json["run_id"], "--status", "aborted", "--error", "preempted")
    assert r.code == 0 and "aborted" in r.stderr


def test_provenance_used_by_and_query_commands(cli, data):
    prep = ("import os; os.makedirs('data/feat', exist_ok=True); "
            "open('data/feat/a.csv', 'w').write(open('data/train/a.csv').read().upper())")
    train = "import os; os.makedirs('models', exist_ok=True); open('models/m.txt', 'w').write('w')"
    assert cli("run", "--kind", "transform", "-i", "train=data/train", "-o", "data/feat", "--",
               PY, "-c", prep).code == 0
    run_id = cli("run", "--kind", "train", "-i", "train=data/feat", "-i", "validation=data/val", "-o", "models",
                 "--json", "--", PY, "-c", train).json["run_id"]

    r = cli("provenance", "models", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "provenance.schema.json")
    assert {n.get("kind") for n in r.json["nodes"] if n["type"] == "run"} == {"transform", "train"}
    text = cli("provenance", "models").stdout
    assert "train run" in text and "transform run" in text and "validation" in text
    assert cli("provenance", "models", "--format", "mermaid").stdout.startswith("flowchart LR")
    assert "digraph" in cli("provenance", "models", "-f", "dot").stdout
    assert cli("provenance", "models", "-f", "svg").code == 2

    r = cli("used-by", "data/val", "--json")
    validate(r.json, "used-by.schema.json")
    assert r.json["by_role"] == {"validation": [run_id]}
    r = cli("used-by", "data/train", "--downstream", "--json")
    validate(r.json, "used-by.schema.json")
    assert [(u["kind"], u["match"]) for u in r.json["uses"]] == [("transform", "same-snapshot"),
                                                                 ("train", "downstream")]
    assert "validation" in cli("used-by", "data/val").stdout

    r = cli("query", "SELECT run_id, role FROM run_inputs WHERE role = ?", "-p", "validation", "--json")
    validate(r.json, "query.schema.json")
    assert r.json["rows"] == [{"run_id": run_id, "role": "validation"}]
    assert "validation" in cli("query", "SELECT role FROM run_inputs").stdout
    r = cli("query", "DELETE FROM runs")
    assert r.code == 2 and "read-only" in r.stderr
    r = cli("query", "SELEC 1")
    assert r.code == 2 and "SQL error" in r.stderr


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def _lineage(args: list[str], cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "lineage", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_ctrl_c_on_the_real_process_records_aborted(data):
    from lineage import runs
    from lineage.repo import Repo

    sleeper = ("import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "open('ready', 'w').close(); time.sleep(60)")
    proc = _lineage(["run", "--kind", "train", "--id", "sigint-1", "--", PY, "-c", sleeper], data)
    try:
        _wait_for(data / "ready")
        with Repo.find(data) as repo:
            assert runs.get(repo, "sigint-1").status == "running"  # visible while it runs
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    with Repo.find(data) as repo:
        rec = runs.get(repo, "sigint-1")
    assert rec.status == "aborted" and rec.error == "interrupted by SIGINT" and rec.ended


def test_sigterm_and_a_command_that_ignores_ctrl_c(data):
    from lineage import runs
    from lineage.repo import Repo

    stubborn = ("import signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                "open(sys.argv[1], 'w').close(); time.sleep(60)")
    proc = _lineage(["run", "--kind", "tune", "--id", "sigterm-1", "--", PY, "-c", stubborn, "ready1"], data)
    try:
        _wait_for(data / "ready1")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    # Ctrl-C to a command that ignores it: terminated after the grace period
    env = {**os.environ, "LINEAGE_RUN_GRACE": "0.5"}
    proc = _lineage(["run", "--kind", "tune", "--id", "sigint-2", "--", PY, "-c", stubborn, "ready2"], data,
                    env=env)
    try:
        _wait_for(data / "ready2")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    with Repo.find(data) as repo:
        assert runs.get(repo, "sigterm-1").status == "aborted"
        assert runs.get(repo, "sigterm-1").error == "interrupted by SIGTERM"
        assert runs.get(repo, "sigint-2").status == "aborted"


def test_secret_environment_variables_are_never_recorded(data):
    secrets = {
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET1",
        "GITHUB_TOKEN": "ghp_zzSECRETtoken0123456789abcdef",
        "DB_PASSWORD": "correct-horse-SECRET-battery",
        "HF_TOKEN": "hf_SECRETxyz987",
    }
    env = {**os.environ, **secrets}
    child = ("import os, lineage\n"
             "print(os.environ['GITHUB_TOKEN'])\n"
             "with lineage.run(kind='train') as r:\n"
             "    r.log_param('db', os.environ['DB_PASSWORD'][:0] + 'postgres')\n"
             "    r.log_metric('acc', 0.5, split='validation')\n")
    p = subprocess.run([PY, "-m", "lineage", "run", "--kind", "train", "-i", "train=data/train", "--", PY, "-c",
                        child, "--token", secrets["HF_TOKEN"]], cwd=data, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    api = ("import lineage\nwith lineage.run(kind='evaluate') as r:\n    r.input('data/test', role='test')\n")
    assert subprocess.run([PY, "-c", api], cwd=data, env=env, timeout=120).returncode == 0
    p = subprocess.run([PY, "-m", "lineage", "run", "start", "--kind", "tune"], cwd=data, env=env,
                       capture_output=True, text=True, timeout=120)
    assert subprocess.run([PY, "-m", "lineage", "run", "finish", p.stdout.strip()], cwd=data, env=env,
                          timeout=120).returncode == 0

    files = {f: f.read_bytes() for f in (data / ".lineage").rglob("*") if f.is_file()}
    blobs = b"".join(files.values())
    assert b"postgres" in blobs and b"--token" in blobs  # the records are there ...
    for name, value in secrets.items():  # ... and no secret value, anywhere, in any form
        leaked = [str(f) for f, b in files.items() if value.encode() in b]
        assert not leaked, f"{name} leaked into {leaked}"
    # nor the name of a variable the child never mentioned in its command line
    assert b"AWS_SECRET_ACCESS_KEY" not in blobs and b"DB_PASSWORD=" not in blobs
