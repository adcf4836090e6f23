"""docs/git.md, "Working with git": every row of its table, tried with real git, a folder
remote and two clones. The data is ignored by git; lineage.lock is committed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import CLI, git, make_git_repo, write_tree
from lineage.snapshots.lock import parse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, capsys):
    """A work tree with commits v1 and v2 of the data (tags), and a folder remote."""
    root = make_git_repo(tmp_path / "project")
    c = CLI(root, capsys)
    remote = tmp_path / "remote"
    assert c("init").code == 0                                                  # dvc init
    assert c("remote", "add", "origin", str(remote), "--default").code == 0      # dvc remote add -d
    (root / ".gitignore").write_text("/data/\n")
    write_tree(root, {"data/wine/red.txt": "a,quality\n1,5\n", "data/wine/white.txt": "a,quality\n2,6\n"})
    v1 = c("snapshot", "data/wine", "--name", "wine", "--json")                 # dvc add
    assert v1.code == 0, v1.stderr
    git(root, "add", ".gitignore", ".lineage/config.toml", ".lineage/.gitignore", "lineage.lock")
    git(root, "commit", "-q", "-m", "data v1")                                  # git commit *.dvc
    git(root, "tag", "v1")
    write_tree(root, {"data/wine/red.txt": "a,quality\n1,5\n3,7\n", "data/wine/rose.txt": "a,quality\n4,4\n"})
    (root / "data/wine/white.txt").unlink()
    v2 = c("snapshot", "data/wine", "--json")
    assert v2.code == 0
    git(root, "commit", "-q", "-am", "data v2")
    git(root, "tag", "v2")
    return root, c, remote, v1.json["id"], v2.json["id"]


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_table_covers_what_this_file_tries():
    """The commands docs/git.md lists are the ones tried below."""
    text = (ROOT / "docs" / "git.md").read_text()
    for cmd in ("lineage init", "lineage snapshot", "git add lineage.lock", "lineage status", "lineage checkout",
                "git checkout v1 && lineage checkout", "lineage diff wine@v1 wine@v2", "lineage log wine",
                "lineage show wine@v1", "lineage remote add", "lineage push", "lineage pull", "lineage fetch",
                "lineage gc", "lineage run", "lineage provenance", "lineage log --runs", "lineage show RUN_ID",
                "lineage lock check", "lineage verify", "lineage status --porcelain", "lineage diff`",
                "lineage runs compare A B", "lineage log --oneline"):
        assert f"`{cmd}" in text, cmd


def test_git_checkout_v1_then_lineage_checkout_brings_back_v1(project):
    root, c, _, s1, s2 = project
    v2_files = _files(root / "data/wine")
    git(root, "checkout", "-q", "v1")                       # git checkout v1 && dvc checkout
    assert parse((root / "lineage.lock").read_text())["wine"].snapshot == s1
    status = c("status", "--json")                          # dvc status: data differs from the lock
    assert [d["dataset"] for d in status.json["lock"]["datasets"]] == ["wine"]
    r = c("checkout")
    assert r.code == 0, r.stderr
    got = _files(root / "data/wine")
    assert got["red.txt"] == "a,quality\n1,5\n" and got["white.txt"] == "a,quality\n2,6\n"
    assert c("status", "--json").json["lock"]["datasets"] == []
    assert c("verify").code == 0
    git(root, "checkout", "-q", "v2")
    assert c("checkout").code == 0
    assert {k: v for k, v in _files(root / "data/wine").items() if k != "white.txt"} == v2_files
    assert c("verify").code == 0


def test_status_diff_log_show(project):
    root, c, _, s1, s2 = project
    assert c("status", "--exit-code").code == 0                          # dvc status
    (root / "data/wine/red.txt").write_text("changed\n")
    assert c("status", "--exit-code").code == 1
    d = c("diff", "wine@v1", "wine@v2", "--json")                         # dvc diff v1 v2
    assert d.code == 0 and d.json["a"] == s1 and d.json["b"] == s2
    assert {f["path"] for f in d.json["added"]} == {"rose.txt"}
    assert {f["path"] for f in d.json["removed"]} == {"white.txt"}
    log = c("log", "wine", "--json")                                      # git log for data
    assert [e["snapshot"] for e in log.json["snapshots"]] == [s2, s1]
    assert c("show", "wine@v1", "--json").json["id"] == s1                # git show v1:data.dvc
    assert c("lock", "check").code == 0                                   # the lock equals the log


def test_push_then_pull_in_a_second_clone_then_rollback(project, tmp_path, capsys):
    root, c, _, s1, s2 = project
    assert c("push").code == 0                                            # dvc push
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    c2 = CLI(clone, capsys)
    assert c2("init").code == 0
    r = c2("checkout")
    assert r.code == 2 and "lineage pull" in r.stderr                     # nothing fetched yet
    assert c2("fetch").code == 0                                          # dvc fetch
    assert c2("checkout").code == 0                                       # dvc checkout
    assert _files(clone / "data/wine") == _files(root / "data/wine")
    git(clone, "checkout", "-q", "v1")
    assert c2("checkout").code == 0
    assert _files(clone / "data/wine")["white.txt"] == "a,quality\n2,6\n"
    assert c2("verify").code == 0


def test_pull_in_a_fresh_clone(project, tmp_path, capsys):
    root, c, _, s1, s2 = project
    assert c("push").code == 0
    clone = tmp_path / "clone2"
    git(tmp_path, "clone", "-q", "--branch", "v1", str(root), str(clone))
    c2 = CLI(clone, capsys)
    c2("init")
    assert c2("pull").code == 0                                           # dvc pull
    assert c2("checkout").code == 0                                       # ... at the commit's lock
    assert _files(clone / "data/wine")["white.txt"] == "a,quality\n2,6\n"
    assert c2("verify").code == 0


def test_gc_keeps_what_the_lock_names(project):
    root, c, _, s1, s2 = project
    assert c("gc").code == 0                                              # dvc gc
    git(root, "checkout", "-q", "v1")
    assert c("checkout").code == 0
    assert c("verify").code == 0


def test_runs_stand_for_dvc_stages_experiments_and_metrics(project):
    root, c, *_ = project
    metric = [sys.executable, "-c", "import os, sys; from lineage.cli.app import main; sys.exit(main("
              "['run', 'metric', os.environ['LINEAGE_RUN_ID'], 'accuracy', '0.9', '--split', 'validation']))"]
    r = c("run", "--kind", "train", "--input", "train=data/wine", "--param", "depth=3", "--json",
          "--", *metric)                                                  # dvc repro / dvc exp run
    assert r.code == 0, r.stderr
    rid = r.json["run_id"]
    prov = c("provenance", rid, "--json")                                 # dvc dag
    assert prov.code == 0 and "wine" in prov.stdout
    runs = c("log", "--runs", "--json")                                   # dvc exp show
    assert runs.code == 0 and rid in runs.stdout
    show = c("show", rid)                                                 # dvc metrics show
    assert show.code == 0 and "accuracy" in show.stdout


def test_status_porcelain_diff_oneline_and_runs_compare(project):
    root, c, _, s1, s2 = project
    assert c("status", "--porcelain").stdout == ""                         # git status --porcelain
    (root / "data/wine/red.txt").write_text("changed\n")
    assert c("status", "--porcelain").stdout == " M data/wine/red.txt\n"
    d = c("diff", "--json")                                               # git diff
    assert d.code == 0 and [f["path"] for f in d.json["diffs"][0]["modified"]] == ["red.txt"]
    oneline = c("log", "--oneline").stdout.splitlines()                   # git log --oneline
    assert oneline == [f"{s2[:7]} snapshot wine@2", f"{s1[:7]} snapshot wine@1"]
    rids = []
    for depth, acc in (("3", "0.8"), ("5", "0.9")):
        metric = [sys.executable, "-c", "import os, sys; from lineage.cli.app import main; sys.exit(main("
                  f"['run', 'metric', os.environ['LINEAGE_RUN_ID'], 'accuracy', '{acc}']))"]
        r = c("run", "--kind", "train", "--input", "train=data/wine", "--param", f"depth={depth}",
              "--json", "--", *metric)
        assert r.code == 0, r.stderr
        rids.append(r.json["run_id"])
    cmp_ = c("runs", "compare", *rids, "--json")                           # dvc metrics diff / exp show
    assert cmp_.code == 0, cmp_.stderr
    assert "0.8" in cmp_.stdout and "0.9" in cmp_.stdout and "depth" in cmp_.stdout
