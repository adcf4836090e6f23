"""Hints that finish the job: every hook failure ends with the exact command that fixes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, write_tree
from hooks_support import (audit_available, commit, lineage_checkout, precommit_home,  # noqa: F401
                           run_precommit)


def hook(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage.hooks.main", *args], cwd=cwd,
                          capture_output=True, text=True)


def last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


@pytest.fixture
def three(workdir: Path, repo):
    """Three tracked datasets (train, val, test), gitignored."""
    import lineage.snapshots as snap

    write_tree(workdir, {"data/train/a.csv": "x,y\n1,2\n", "data/val/a.csv": "x,y\n3,4\n",
                         "data/test/a.csv": "x,y\n5,6\n", ".gitignore": "/data/\n"})
    for name in ("train", "val", "test"):
        snap.create(repo, workdir / "data" / name, name=name)
    git(workdir, "add", ".gitignore")
    git(workdir, "commit", "-q", "-m", "ignore data")
    return workdir


# -- status -------------------------------------------------------------------------

def test_status_hook_names_every_changed_dataset_in_its_last_line(three: Path) -> None:
    (three / "data/train/a.csv").write_text("x,y\n1,9\n")
    (three / "data/val/b.csv").write_text("x,y\n8,8\n")
    r = hook(three, "status")
    assert r.returncode == 1
    assert last_line(r.stderr) == ("fix all: lineage snapshot data/train --name train && "
                                   "lineage snapshot data/val --name val")
    assert "data/test" not in r.stderr  # the clean one is not touched
    assert "    fix: lineage snapshot data/train --name train" in r.stderr
    assert "    fix: lineage snapshot data/val --name val" in r.stderr


def test_status_hook_with_one_change_ends_with_its_fix(three: Path) -> None:
    (three / "data/val/a.csv").write_text("x,y\n0,0\n")
    r = hook(three, "status")
    assert last_line(r.stderr) == "    fix: lineage snapshot data/val --name val"
    assert "fix all" not in r.stderr


def test_status_hook_fix_restores_a_missing_dataset_too(three: Path) -> None:
    import shutil

    shutil.rmtree(three / "data/test")
    (three / "data/train/a.csv").write_text("x,y\n1,9\n")
    r = hook(three, "status")
    assert last_line(r.stderr) == ("fix all: lineage checkout test@latest && "
                                   "lineage snapshot data/train --name train")
    # and the command does fix it
    for step in last_line(r.stderr).removeprefix("fix all: ").split(" && "):
        done = subprocess.run([sys.executable, "-m", "lineage", *step.split()[1:]], cwd=three,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert hook(three, "status").returncode == 0


def test_status_command_hint_names_every_changed_dataset(three: Path, cli) -> None:
    (three / "data/train/a.csv").write_text("x,y\n1,9\n")
    (three / "data/val/b.csv").write_text("x,y\n8,8\n")
    r = cli("status")
    flat = " ".join(r.stdout.split())
    assert ("Run 'lineage snapshot data/train --name train && lineage snapshot data/val --name val' "
            "to record the changes.") in flat
    assert "--name test" not in flat
    (three / "data/val/b.csv").unlink()
    (three / "data/train/a.csv").write_text("x,y\n1,2\n")
    assert "Run 'lineage snapshot" not in cli("status").stdout  # nothing changed, no hint


# -- guard --------------------------------------------------------------------------

def test_guard_ends_with_one_command_for_every_file(workdir: Path) -> None:
    write_tree(workdir, {"data/x.csv": "a,b\n1,2\n", "big.bin": b"\0" * (2 * 1024 ** 2)})
    git(workdir, "add", "data/x.csv", "big.bin")
    r = hook(workdir, "guard", "--staged")
    assert r.returncode == 1
    assert last_line(r.stderr) == (
        "fix all: git rm --cached big.bin && echo /big.bin >> .gitignore && lineage snapshot big.bin"
        " && git rm --cached data/x.csv && echo /data/x.csv >> .gitignore && lineage snapshot data/x.csv")
    git(workdir, "rm", "-q", "--cached", "big.bin")
    r = hook(workdir, "guard", "--staged")
    assert last_line(r.stderr) == ("    fix: git rm --cached data/x.csv && echo /data/x.csv >> .gitignore"
                                   " && lineage snapshot data/x.csv")
    git(workdir, "rm", "-q", "--cached", "data/x.csv")
    assert hook(workdir, "guard", "--staged").returncode == 0


# -- audit --------------------------------------------------------------------------

needs_audit = pytest.mark.skipif(not audit_available(), reason="lineage audit is not in this tree yet")


def _leaky_run(workdir: Path, cli, output: str | None = None) -> str:
    """A train run that reads the test set: a critical train-read-heldout finding."""
    if not (workdir / "data/train.csv").exists():
        write_tree(workdir, {"data/train.csv": "id,x,label\n1,2,0\n3,4,1\n",
                             "data/test.csv": "id,x,label\n5,6,0\n7,8,1\n", ".gitignore": "/data/\n"})
        assert cli("snapshot", "data/train.csv", "--name", "rows-train").code == 0
        assert cli("snapshot", "data/test.csv", "--name", "rows-test").code == 0
    args = ["run", "--kind", "train", "--input", "train=rows-train", "--input", "test=rows-test", "--json"]
    code = "pass"
    if output:
        args += ["--output", output]
        code = f"import os; os.makedirs('models', exist_ok=True); open({output!r}, 'w').write('m')"
    r = cli(*args, "--", sys.executable, "-c", code)
    assert r.code == 0, r.stderr
    return r.json["run_id"] if "run_id" in r.json else r.json["id"]


@needs_audit
def test_audit_hook_failure_ends_with_the_waive_command(workdir: Path, cli) -> None:
    run = _leaky_run(workdir, cli)
    r = hook(workdir, "audit")
    assert r.returncode == 1
    assert last_line(r.stdout) == f'fix: lineage waive train-read-heldout {run} --reason "WHY"'
    assert f"every piece of evidence: lineage audit {run} --format text --verbose" in r.stdout
    assert "not audited" not in r.stdout  # nothing was left out
    # the printed command does accept the finding, once the reason is written in
    step = last_line(r.stdout).removeprefix("fix: ").replace('"WHY"', "accepted for the demo")
    assert cli(*step.split()[1:6], "--reason", "accepted for the demo").code == 0
    assert hook(workdir, "audit").returncode == 0


@needs_audit
def test_audit_hook_says_how_many_older_runs_it_left_out(workdir: Path, cli) -> None:
    _leaky_run(workdir, cli)
    git(workdir, "add", ".gitignore")
    git(workdir, "commit", "-q", "-m", "after the first run")
    assert hook(workdir, "audit").returncode == 0  # the old run predates the commit
    new = _leaky_run(workdir, cli)
    r = hook(workdir, "audit")
    assert r.returncode == 1
    assert ("1 older run(s) were not audited" in " ".join(r.stdout.split())
            and "'lineage audit --all' audits every run" in " ".join(r.stdout.split()))
    assert last_line(r.stdout) == f'fix: lineage waive train-read-heldout {new} --reason "WHY"'


@needs_audit
def test_audit_hook_given_files_the_index_does_not_stage_audits_every_run(workdir: Path, cli) -> None:
    old = _leaky_run(workdir, cli)
    write_tree(workdir, {"src/train.py": "print('x')\n"})
    git(workdir, "add", ".gitignore", "src/train.py")
    git(workdir, "commit", "-q", "-m", "code")
    # a commit: pre-commit passes the staged files, which no run wrote; the old run is not audited
    write_tree(workdir, {"src/train.py": "print('y')\n"})
    git(workdir, "add", "src/train.py")
    assert hook(workdir, "audit", "src/train.py").returncode == 0
    # pre-commit run --all-files passes every tracked file, staged or not: every run is audited
    tracked = git(workdir, "ls-files").split()
    git(workdir, "commit", "-q", "-m", "more code")
    r = hook(workdir, "audit", *tracked)
    assert r.returncode == 1, r.stdout + r.stderr
    assert old in r.stdout and "train-read-heldout" in r.stdout
    assert "every run was audited" in " ".join(r.stdout.split())


@needs_audit
def test_audit_hook_audits_the_run_behind_a_committed_output(workdir: Path, cli) -> None:
    run = _leaky_run(workdir, cli, output="models/model.txt")
    (workdir / ".gitignore").write_text("/data/\n/models/\n")
    git(workdir, "add", ".gitignore")
    git(workdir, "commit", "-q", "-m", "after the run")
    assert hook(workdir, "audit").returncode == 0
    # pre-commit passes the commit's files; the model's run is audited however old
    git(workdir, "add", "-f", "models/model.txt")
    r = hook(workdir, "audit", "models/model.txt")
    assert r.returncode == 1 and last_line(r.stdout).endswith(f'{run} --reason "WHY"')


# -- with the real pre-commit -------------------------------------------------------

@pytest.mark.slow
@needs_audit
def test_precommit_run_all_files_audits_every_run(tmp_path: Path, lineage_checkout,  # noqa: F811
                                                  precommit_home, monkeypatch, capsys) -> None:  # noqa: F811
    from conftest import CLI
    from test_hooks_precommit import _config, _project

    for k, v in precommit_home.items():
        monkeypatch.setenv(k, v)
    src, sha = lineage_checkout
    path = _project(tmp_path / "project")
    (path / ".pre-commit-config.yaml").write_text(_config(src, sha, audit=True))
    assert run_precommit(path, precommit_home, "install").returncode == 0
    git(path, "add", ".pre-commit-config.yaml")
    assert commit(path, "add pre-commit", precommit_home).returncode == 0
    run = _leaky_run(path, CLI(path, capsys))
    (path / ".gitignore").write_text("/data/\n")
    git(path, "add", ".gitignore")
    first = commit(path, "the leaky run is new: blocked", precommit_home)
    assert first.returncode != 0 and "- hook id: lineage-audit" in first.stdout + first.stderr
    out = first.stdout + first.stderr
    assert f'fix: lineage waive train-read-heldout {run} --reason "WHY"' in out
    # committed anyway: the next commit's hook no longer sees the run
    assert commit(path, "skip", precommit_home, "--no-verify").returncode == 0
    write_tree(path, {"src/train.py": "print('v2')\n"})
    git(path, "add", "src/train.py")
    assert commit(path, "code only", precommit_home).returncode == 0
    # but a run over the whole tree audits every run, as lineage audit --all does
    r = run_precommit(path, precommit_home, "run", "--all-files", "lineage-audit")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "train-read-heldout" in r.stdout and run in r.stdout
    assert f'fix: lineage waive train-read-heldout {run} --reason "WHY"' in r.stdout
