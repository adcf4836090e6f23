"""The hooks of .pre-commit-hooks.yaml, installed by the real pre-commit into a temp repository.

pre-commit pip-installs lineage from a clean checkout of this tree into its own
virtualenv (once per session, see hooks_support), exactly as an outside project
pulling lineage from its .pre-commit-config.yaml would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git, make_git_repo, write_tree
from hooks_support import (audit_available, commit, lineage_checkout, precommit_home,  # noqa: F401
                           run_precommit)

pytestmark = pytest.mark.slow

HOOK_IDS = ("lineage-status", "lineage-guard", "lineage-audit", "lineage-verify")


def _config(src: Path, sha: str, *, guard_args: list[str] | None = None, audit: bool = False) -> str:
    hooks = ["      - id: lineage-status", "      - id: lineage-guard"]
    if guard_args:
        hooks.append(f"        args: [{', '.join(guard_args)}]")
    if audit:
        hooks.append("      - id: lineage-audit")
    hooks.append("      - id: lineage-verify")
    return f"repos:\n  - repo: {src}\n    rev: {sha}\n    hooks:\n" + "\n".join(hooks) + "\n"


def _project(path: Path) -> Path:
    """A project with lineage initialised, one tracked dataset, and its data gitignored."""
    import lineage.snapshots as snap
    from lineage.repo import Repo

    make_git_repo(path)
    repo, _ = Repo.init(path)
    write_tree(path, {"data/train/a.csv": "x,y\n1,2\n", "data/train/b.csv": "x,y\n3,4\n",
                      ".gitignore": "/data/train/\n", "src/train.py": "print('train')\n"})
    snap.create(repo, path / "data/train", name="train")
    repo.close()
    git(path, "add", ".gitignore", ".lineage/config.toml", ".lineage/.gitignore", "src/train.py")
    git(path, "commit", "-q", "-m", "project")
    return path


@pytest.fixture
def project(tmp_path: Path, lineage_checkout, precommit_home,  # noqa: F811
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project with pre-commit installed from this checkout's .pre-commit-hooks.yaml."""
    for k, v in precommit_home.items():
        monkeypatch.setenv(k, v)  # so plain `git commit` finds the shared environment
    src, sha = lineage_checkout
    path = _project(tmp_path / "project")
    (path / ".pre-commit-config.yaml").write_text(
        _config(src, sha, guard_args=['"--max-size=2MB"'], audit=audit_available()))
    r = run_precommit(path, precommit_home, "install")
    assert r.returncode == 0, r.stdout + r.stderr
    git(path, "add", ".pre-commit-config.yaml")
    first = commit(path, "add pre-commit", precommit_home)  # builds the hook environment once
    assert first.returncode == 0, first.stdout + first.stderr
    return path


def test_hook_manifest_is_valid_for_outside_projects() -> None:
    import yaml

    from hooks_support import ROOT

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert tuple(h["id"] for h in hooks) == HOOK_IDS
    for h in hooks:
        # outside projects get an environment of their own with lineage installed from PyPI
        assert h["language"] == "python"
        assert h["entry"].startswith("lineage-hook ")
        assert ".venv" not in h["entry"]
    by_id = {h["id"]: h for h in hooks}
    assert by_id["lineage-verify"]["stages"] == ["manual"]
    assert by_id["lineage-guard"]["pass_filenames"] is True
    assert by_id["lineage-status"]["always_run"] is True
    r = __import__("subprocess").run(
        [str(Path(__import__("sys").executable).parent / "pre-commit"), "validate-manifest",
         str(ROOT / ".pre-commit-hooks.yaml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_try_repo_runs_the_hooks_from_a_checkout(tmp_path: Path, lineage_checkout,  # noqa: F811
                                                  precommit_home) -> None:  # noqa: F811
    src, _ = lineage_checkout
    path = _project(tmp_path / "project")
    (path / "data/train/a.csv").write_text("x,y\n7,7\n")
    write_tree(path, {"weights.bin": b"\1" * (1536 * 1024)})
    git(path, "add", "weights.bin")
    r = run_precommit(path, precommit_home, "try-repo", str(src), "--verbose")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "lineage status (data changed since its last snapshot)" in out
    assert "M data/train/a.csv" in out
    assert "fix: lineage snapshot data/train --name train" in out
    assert "weights.bin: 1.5 MiB, over the 1 MiB limit for git" in out
    assert "Traceback" not in out


def test_clean_commit_passes(project: Path) -> None:
    write_tree(project, {"src/train.py": "print('train v2')\n"})
    git(project, "add", "src/train.py")
    r = commit(project, "tweak")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "lineage status (data changed since its last snapshot)" in out
    assert "Passed" in out and "Failed" not in out


def test_status_hook_blocks_a_commit_until_the_data_is_snapshotted(project: Path) -> None:
    (project / "data/train/b.csv").write_text("x,y\n3,5\n")
    write_tree(project, {"src/train.py": "print('uses new data')\n"})
    git(project, "add", "src/train.py")
    r = commit(project, "train on new data")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "- hook id: lineage-status" in out
    assert "train (data/train): 1 modified since snapshot" in out
    assert "M data/train/b.csv" in out
    assert "fix: lineage snapshot data/train --name train" in out
    assert git(project, "log", "-1", "--format=%s") == "add pre-commit"  # nothing committed

    import lineage.snapshots as snap
    from lineage.repo import Repo

    with Repo.find(project) as repo:
        snap.create(repo, project / "data/train", name="train")
    r = commit(project, "train on new data")
    assert r.returncode == 0, r.stdout + r.stderr


def test_guard_hook_blocks_large_and_data_files(project: Path) -> None:
    write_tree(project, {"model.pt": b"\0" * (3 * 1024 ** 2), "data/raw/users.parquet": b"PAR1...",
                         "notes.md": "notes\n"})
    git(project, "add", "model.pt", "data/raw/users.parquet", "notes.md")
    r = commit(project, "add data")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "- hook id: lineage-guard" in out
    assert "model.pt: 3 MiB, over the 2 MiB limit for git" in out  # the hook arg applies
    assert "data/raw/users.parquet: a data file (.parquet) under data/" in out
    assert "fix: git rm --cached model.pt && echo /model.pt >> .gitignore && lineage snapshot model.pt" in out

    git(project, "rm", "-q", "--cached", "model.pt")
    (project / "pyproject.toml").write_text('[tool.lineage.guard]\nallow = ["data/raw/*"]\n')
    git(project, "add", "pyproject.toml")
    r = commit(project, "add notes")
    assert r.returncode == 0, r.stdout + r.stderr


def test_verify_hook_runs_in_the_manual_stage(project: Path, precommit_home) -> None:  # noqa: F811
    r = run_precommit(project, precommit_home, "run", "--hook-stage", "manual", "lineage-verify")
    assert r.returncode == 0, r.stdout + r.stderr
    from lineage.repo import Repo

    with Repo.find(project) as repo:
        digest = next(d for d in repo.store.iter_digests())
        path = Path(repo.store.path(digest))
    path.chmod(0o644)
    path.write_bytes(b"bit rot")
    r = run_precommit(project, precommit_home, "run", "--hook-stage", "manual", "lineage-verify")
    assert r.returncode == 1
    assert f"object {digest[:12]} is corrupt" in r.stdout
    # not part of an ordinary commit: verify rereads every object
    write_tree(project, {"notes.md": "n\n"})
    git(project, "add", "notes.md")
    assert commit(project, "notes").returncode == 0


@pytest.mark.skipif(not audit_available(), reason="lineage audit is not in this tree yet")
def test_audit_hook_blocks_a_commit_after_a_leaky_run(project: Path) -> None:
    import sys as _sys

    from lineage.cli.app import main

    write_tree(project, {"data/test.csv": "id,x,label\n5,6,0\n7,8,1\n"})
    (project / ".gitignore").write_text("/data/train/\n/data/test.csv\n")
    git(project, "add", ".gitignore")
    old = __import__("os").getcwd()
    __import__("os").chdir(project)
    try:
        assert main(["snapshot", "data/test.csv", "--name", "test", "--label-column", "label"]) == 0
        assert main(["run", "--kind", "train", "--input", "train=train", "--input", "test=test", "--",
                     _sys.executable, "-c", "pass"]) == 0
    finally:
        __import__("os").chdir(old)
    r = commit(project, "train")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "- hook id: lineage-audit" in out and "train-read-heldout" in out
