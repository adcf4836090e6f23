"""The checks behind the hooks (lineage.hooks.checks) and the lineage-hook entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, validate, write_tree
from lineage.hooks import checks as hooks
from lineage.hooks import guard, install
from lineage.errors import ConfigError, UsageError


def hook(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lineage-hook`` as a real process, the way pre-commit and git start it."""
    return subprocess.run([sys.executable, "-m", "lineage.hooks.main", *args], cwd=cwd,
                          capture_output=True, text=True)


@pytest.fixture
def tracked(workdir: Path, repo):
    """A repository with one tracked dataset folder, gitignored as it should be."""
    import lineage.snapshots as snap

    write_tree(workdir, {"data/train/a.csv": "x,y\n1,2\n", "data/train/b.csv": "x,y\n3,4\n",
                         ".gitignore": "/data/train/\n"})
    snap.create(repo, workdir / "data/train", name="train")
    git(workdir, "add", ".gitignore")
    git(workdir, "commit", "-q", "-m", "ignore data")
    return workdir


# -- value objects ----------------------------------------------------------------

def test_results_round_trip() -> None:
    p = hooks.Problem("changed", "data/train", "train changed", "lineage snapshot data/train",
                      "train", ("M data/train/a.csv",))
    r = hooks.HookResult("status", 3, (p,), "1 of 3 changed")
    assert hooks.HookResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert not r.ok and hooks.HookResult("guard", 0).ok
    cfg = guard.GuardConfig(max_size=10, data_dirs=("d",), extensions=(".x",), allow=("a/*",),
                            tracked=False)
    assert guard.GuardConfig.from_dict(cfg.to_dict()) == cfg
    inst = install.InstallResult("/r/.git/hooks", None, (
        install.InstalledHook("pre-commit", "/r/.git/hooks/pre-commit", "replaced", ("status",), "/b"),))
    assert install.InstallResult.from_dict(json.loads(json.dumps(inst.to_dict()))) == inst


@pytest.mark.parametrize("text,expected", [
    (0, 0), (1048576, 1048576), ("500KB", 500 * 1024), ("5 MB", 5 * 1024 ** 2), ("2GiB", 2 * 1024 ** 3),
    ("1.5m", int(1.5 * 1024 ** 2)), ("700", 700), ("12b", 12),
])
def test_parse_size(text, expected) -> None:
    assert guard.parse_size(text) == expected


@pytest.mark.parametrize("bad", ["five", "5XB", "-3", -3, True, ""])
def test_parse_size_refuses_nonsense(bad) -> None:
    with pytest.raises(ConfigError):
        guard.parse_size(bad)


def test_guard_config_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lineage.guard]\nmax-size = "2MB"\ndata-dirs = ["raw/"]\nextra-extensions = ["dat"]\n'
        'allow = ["raw/small/*"]\n')
    cfg = guard.GuardConfig.load(tmp_path)
    assert cfg.max_size == 2 * 1024 ** 2
    assert cfg.data_dirs == ("raw",)
    assert ".dat" in cfg.extensions and ".parquet" in cfg.extensions
    assert cfg.allow == ("raw/small/*",)
    assert guard.GuardConfig.load(tmp_path / "nowhere") == guard.GuardConfig()


@pytest.mark.parametrize("table,fragment", [
    ({"max_sise": 3}, "unknown key"),
    ({"data_dirs": "data"}, "list of strings"),
    ({"tracked": "yes"}, "true or false"),
    ({"max_size": "lots"}, "invalid size"),
])
def test_guard_config_errors_are_one_line(table, fragment) -> None:
    with pytest.raises(ConfigError, match=fragment):
        guard.GuardConfig.from_dict(table)


# -- status -----------------------------------------------------------------------

def test_status_clean_then_changed_then_missing(tracked: Path, repo) -> None:
    assert hooks.check_status(repo).ok
    (tracked / "data/train/a.csv").write_text("x,y\n9,9\n")
    (tracked / "data/train/c.csv").write_text("x,y\n5,6\n")
    (tracked / "data/train/b.csv").unlink()
    r = hooks.check_status(repo)
    assert not r.ok and r.checked == 1
    (p,) = r.problems
    assert p.kind == "changed" and p.dataset == "train" and p.path == "data/train"
    assert p.files == ("M data/train/a.csv", "A data/train/c.csv", "D data/train/b.csv")
    assert p.fix == "lineage snapshot data/train --name train"
    assert "1 modified, 1 added, 1 removed" in p.message
    import shutil

    shutil.rmtree(tracked / "data/train")
    (p,) = hooks.check_status(repo).problems
    assert p.kind == "missing" and p.fix == "lineage checkout train@latest"


def test_status_fix_command_quotes_odd_paths(workdir: Path, repo) -> None:
    import lineage.snapshots as snap

    write_tree(workdir, {"my data/t.csv": "a\n1\n"})
    snap.create(repo, workdir / "my data")
    (workdir / "my data/t.csv").write_text("a\n2\n")
    (p,) = hooks.check_status(repo).problems
    assert p.fix == "lineage snapshot 'my data'"  # the dataset is named after its path


def test_status_hook_process(tracked: Path) -> None:
    ok = hook(tracked, "status")
    assert ok.returncode == 0 and ok.stderr == ""
    (tracked / "data/train/a.csv").write_text("changed\n")
    r = hook(tracked, "status")
    assert r.returncode == 1
    assert "M data/train/a.csv" in r.stderr
    assert "fix: lineage snapshot data/train --name train" in r.stderr
    j = hook(tracked, "status", "--json")
    assert j.returncode == 1
    validate(json.loads(j.stdout), "hook.schema.json")
    # pre-commit may pass file names; names that are no dataset are ignored
    assert hook(tracked, "status", "README").returncode == 1
    assert hook(tracked, "status", "train").returncode == 1


def test_status_outside_a_lineage_repository_is_a_usage_error(tmp_path: Path) -> None:
    r = hook(tmp_path, "status")
    assert r.returncode == 2
    assert r.stderr.startswith("lineage-status: error: not a lineage repository")
    assert "Traceback" not in r.stderr


# -- guard ------------------------------------------------------------------------

def test_guard_flags_large_files_and_data_formats(workdir: Path) -> None:
    files = [("big.bin", 3 * 1024 ** 2), ("src/model.py", 4000), ("data/raw/x.parquet", 10),
             ("notebooks/plot.png", 5000), ("datasets/v1/train.csv.gz", 20), ("data/README.md", 50)]
    r = guard.check_guard(workdir, files, guard.GuardConfig())
    kinds = {p.path: p.kind for p in r.problems}
    assert kinds == {"big.bin": "large", "data/raw/x.parquet": "data-format",
                     "datasets/v1/train.csv.gz": "data-format"}
    big = next(p for p in r.problems if p.path == "big.bin")
    assert "3 MiB, over the 1 MiB limit" in big.message
    assert big.fix == "git rm --cached big.bin && echo /big.bin >> .gitignore && lineage snapshot big.bin"
    assert r.checked == 6


def test_guard_allow_and_limits(workdir: Path) -> None:
    files = [("big.bin", 3 * 1024 ** 2), ("data/raw/x.parquet", 10)]
    cfg = guard.GuardConfig(max_size=4 * 1024 ** 2, allow=("data/raw/*",))
    assert guard.check_guard(workdir, files, cfg).ok
    assert not guard.check_guard(workdir, files, guard.GuardConfig(data_dirs=())).ok  # big.bin
    assert guard.check_guard(workdir, [("data/raw/x.parquet", 10)], guard.GuardConfig(data_dirs=())).ok


def test_guard_leaves_lfs_files_alone(workdir: Path) -> None:
    (workdir / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    r = guard.check_guard(workdir, [("big.bin", 3 * 1024 ** 2), ("big.dat", 3 * 1024 ** 2)])
    assert [p.path for p in r.problems] == ["big.dat"]


def test_guard_flags_files_of_a_tracked_dataset(tracked: Path) -> None:
    r = guard.check_guard(tracked, [("data/train/a.csv", 9), ("data/train/b.csv", 9), ("src/x.py", 9)],
                          guard.GuardConfig(data_dirs=()))
    (p,) = r.problems
    assert p.kind == "tracked-data" and p.dataset == "train"
    assert p.files == ("data/train/a.csv", "data/train/b.csv")
    assert p.fix.startswith("git rm -r --cached data/train && ")
    assert guard.check_guard(tracked, [("data/train/a.csv", 9)],
                             guard.GuardConfig(data_dirs=(), tracked=False)).ok


def test_guard_staged_sizes_come_from_the_index(workdir: Path) -> None:
    write_tree(workdir, {"big.bin": b"\0" * (2 * 1024 ** 2), "small.txt": "hi\n"})
    git(workdir, "add", "big.bin", "small.txt")
    (workdir / "big.bin").write_bytes(b"tiny")  # the commit still holds the staged 2 MB
    assert sorted(hooks.staged_files(workdir)) == [("big.bin", 2 * 1024 ** 2), ("small.txt", 3)]
    r = hook(workdir, "guard", "--staged")
    assert r.returncode == 1 and "big.bin: 2 MiB, over the 1 MiB limit" in r.stderr
    assert hook(workdir, "guard", "--staged", "--max-size", "3MB").returncode == 0


def test_guard_hook_process_with_file_names(workdir: Path) -> None:
    write_tree(workdir, {"data/t.parquet": b"PAR1", "src/a.py": "print()\n"})
    r = hook(workdir, "guard", "data/t.parquet", "src/a.py", "gone.csv")
    assert r.returncode == 1
    assert "data/t.parquet: a data file (.parquet) under data/" in r.stderr
    j = hook(workdir, "guard", "--json", "data/t.parquet", "src/a.py")
    validate(json.loads(j.stdout), "hook.schema.json")
    assert json.loads(j.stdout)["checked"] == 2
    assert hook(workdir, "guard", "--allow", "data/*", "data/t.parquet").returncode == 0
    assert hook(workdir, "guard", "--data-dir", "raw", "data/t.parquet").returncode == 0
    # run from a subfolder, as git does not but a person might
    sub = workdir / "src"
    assert hook(sub, "guard", "../data/t.parquet").returncode == 1


def test_guard_bad_configuration_exits_2(workdir: Path) -> None:
    (workdir / "pyproject.toml").write_text('[tool.lineage.guard]\nmax-size = "huge"\n')
    r = hook(workdir, "guard", "x")
    assert r.returncode == 2 and "invalid size 'huge'" in r.stderr and "Traceback" not in r.stderr
    (workdir / "pyproject.toml").write_text("")
    assert hook(workdir, "guard", "--max-size", "-1").returncode == 2


def test_usage_errors_exit_2(workdir: Path) -> None:
    assert hook(workdir, "bogus").returncode == 2
    assert hook(workdir, "audit", "--fail-on", "sometimes").returncode == 2
    assert hook(workdir, "-C", str(workdir / "nowhere"), "status").returncode == 2


# -- verify -----------------------------------------------------------------------

def test_verify_hook_finds_a_corrupt_object(tracked: Path, repo) -> None:
    assert hooks.check_verify(repo).ok
    r = hook(tracked, "verify")
    assert r.returncode == 0
    digest = next(iter(repo.store.iter_digests()))
    path = repo.store.path(digest)
    os.chmod(path, 0o644)
    Path(path).write_bytes(b"rot")
    r = hook(tracked, "verify")
    assert r.returncode == 1 and f"object {digest[:12]} is corrupt" in r.stderr
    validate(json.loads(hook(tracked, "verify", "--json").stdout), "hook.schema.json")


# -- audit arguments ----------------------------------------------------------------

def test_audit_args_since_the_last_commit(workdir: Path, tmp_path: Path) -> None:
    assert hooks.audit_args(workdir) == ["audit", "--since", "HEAD", "--format", "text"]
    assert hooks.audit_args(workdir, all_runs=True, fail_on="warning", fmt="json") == [
        "audit", "--all", "--format", "json", "--fail-on", "warning"]
    with pytest.raises(UsageError):
        hooks.audit_args(workdir, since="no-such-ref")
    with pytest.raises(UsageError):
        hooks.audit_args(workdir, fail_on="sometimes")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    # before the first commit, every run is new
    assert hooks.audit_args(fresh)[:2] == ["audit", "--all"]


def test_hook_entry_point_stays_light() -> None:
    """status and guard must not load the CLI stack or the heavy readers."""
    code = ("import sys, lineage.hooks.main as m, lineage.hooks.checks, lineage.hooks.guard, lineage.snapshots, lineage.sync.verify;"
            "heavy = {'typer', 'rich', 'sqlite_utils', 'pyarrow', 'click', 'fsspec'} & set(sys.modules);"
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- audit --------------------------------------------------------------------------

needs_audit = pytest.mark.skipif(not __import__("hooks_support").audit_available(),
                                 reason="lineage audit is not in this tree yet")


def _leaky_history(workdir: Path, cli) -> None:
    write_tree(workdir, {"data/train.csv": "id,x,label\n1,2,0\n3,4,1\n",
                         "data/test.csv": "id,x,label\n5,6,0\n7,8,1\n"})
    assert cli("snapshot", "data/train.csv", "--name", "train", "--label-column", "label").code == 0
    assert cli("snapshot", "data/test.csv", "--name", "test", "--label-column", "label").code == 0


@needs_audit
def test_audit_hook_checks_the_runs_since_the_last_commit(workdir: Path, cli) -> None:
    _leaky_history(workdir, cli)
    quiet = hook(workdir, "audit")
    assert quiet.returncode == 0 and quiet.stdout == ""  # no runs yet; a passing commit stays quiet
    assert "no findings" in hook(workdir, "audit", "-v").stdout
    r = cli("run", "--kind", "train", "--input", "train=train", "--input", "test=test", "--",
            sys.executable, "-c", "pass")
    assert r.code == 0, r.stderr
    blocked = hook(workdir, "audit")
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "train-read-heldout" in blocked.stdout + blocked.stderr
    assert hook(workdir, "audit", "--fail-on", "never").returncode == 0
    as_json = hook(workdir, "audit", "--format", "json")
    assert as_json.returncode == 1
    assert any(f["rule"] == "train-read-heldout" for f in json.loads(as_json.stdout)["findings"])
    # once committed, the run is no longer new: it does not block the next commit; --all still sees it
    git(workdir, "commit", "-q", "--allow-empty", "-m", "later")
    assert hook(workdir, "audit").returncode == 0
    assert hook(workdir, "audit", "--all").returncode == 1


@needs_audit
def test_audit_hook_also_audits_runs_whose_outputs_are_staged(workdir: Path, cli) -> None:
    _leaky_history(workdir, cli)
    (workdir / ".gitignore").write_text("/data/\n")
    r = cli("run", "--kind", "train", "--input", "train=train", "--input", "test=test",
            "--output", "models/model.txt", "--", sys.executable, "-c",
            "import os; os.makedirs('models', exist_ok=True); open('models/model.txt', 'w').write('m')")
    assert r.code == 0, r.stderr
    git(workdir, "add", ".gitignore")
    git(workdir, "commit", "-q", "-m", "after the run")
    assert hook(workdir, "audit").returncode == 0  # the run predates the last commit
    # committing the model the leaky run wrote vouches for that run
    git(workdir, "add", "models/model.txt")
    blocked = hook(workdir, "audit")
    assert blocked.returncode == 1 and "train-read-heldout" in blocked.stdout + blocked.stderr
    assert hook(workdir, "audit", "--no-staged").returncode == 0
    from lineage.hooks import checks as _hooks
    from lineage.repo import Repo

    with Repo.find(workdir) as repo:
        (run_id,) = _hooks.runs_behind_staged(repo, workdir)
        from lineage.hooks import queries as ghooks

        assert ghooks.runs_writing(repo.graph, ["models/model.txt"]) == [run_id]
        assert ghooks.runs_writing(repo.graph, ["models/other.txt"]) == []
        assert ghooks.runs_writing(repo.graph, []) == []


def test_runs_writing_matches_files_inside_an_output_folder(workdir: Path, cli) -> None:
    r = cli("run", "--kind", "transform", "--output", "out", "--json", "--", sys.executable, "-c",
            "import os; os.makedirs('out/sub', exist_ok=True); open('out/sub/a.txt', 'w').write('a')")
    assert r.code == 0, r.stderr
    run_id = r.json["run_id"]
    from lineage.hooks import queries as ghooks
    from lineage.repo import Repo

    with Repo.find(workdir) as repo:
        assert ghooks.runs_writing(repo.graph, ["out/sub/a.txt"]) == [run_id]
        assert ghooks.runs_writing(repo.graph, ["outside/a.txt", "ou"]) == []
