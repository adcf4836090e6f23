"""lineage.lock: its format, snapshot keeping it, check/write, NAME@REV, checkout of the lock,
status against it, and init's .gitignore."""

from __future__ import annotations

import pytest

from conftest import CLI, git, make_git_repo, validate, write_tree
from lineage.errors import UnknownRefError, UsageError
from lineage.snapshots import lock
from lineage.snapshots.lock import HEADER, LockEntry, parse, render

A = "a" * 64
B = "b" * 64


# -- the format -------------------------------------------------------------------

def test_render_is_sorted_one_line_per_dataset_after_a_header():
    text = render([LockEntry("zeta", "data/z", A), LockEntry("alpha", "data/a.csv", B, {"time": "t", "label": "y"})])
    lines = text.splitlines()
    assert lines[0] == HEADER and "generated" in HEADER
    assert lines[1] == f"alpha\tdata/a.csv\t{B}\tlabel=y\ttime=t"
    assert lines[2] == f"zeta\tdata/z\t{A}"


def test_fields_with_tabs_newlines_and_backslashes_round_trip():
    e = LockEntry("we\tird", "data/a\nb\\c", A, {"label": "x=y\tz"})
    text = render([e])
    assert len(text.splitlines()) == 2
    assert parse(text) == {e.dataset: e}


@pytest.mark.parametrize("line", ["wine\tdata/w", f"wine\tdata/w\t{A[:12]}", f"wine\tdata/w\t{A}\tlabel",
                                  f"wine\tdata/w\t{A}\tbad\\q"])
def test_a_malformed_line_is_an_error_naming_the_line(line):
    with pytest.raises(UsageError, match="line 2"):
        parse(f"{HEADER}\n{line}\n")


def test_a_merge_conflict_is_named():
    with pytest.raises(UsageError, match="merge conflict"):
        parse(f"{HEADER}\n<<<<<<< HEAD\nw\ta\t{A}\n=======\nw\ta\t{B}\n>>>>>>> other\n")


def test_a_snapshot_over_a_conflicted_lock_says_it_was_recorded(cli, workdir):
    write_tree(workdir, {"a.txt": "1\n"})
    (workdir / "lineage.lock").write_text(f"{HEADER}\n<<<<<<< HEAD\n")
    r = cli("snapshot", "a.txt", "--name", "a")
    assert r.code == 2 and "the snapshot is recorded" in r.stderr and "merge conflict" in r.stderr
    assert cli("log", "a", "--json").json["snapshots"]
    assert cli("lock", "write").code == 0 and cli("lock", "check").code == 0


def test_a_dataset_listed_twice_is_an_error():
    with pytest.raises(UsageError, match="twice"):
        parse(f"w\ta\t{A}\nw\tb\t{B}\n")


# -- snapshot keeps it ------------------------------------------------------------

def test_snapshot_writes_and_updates_its_dataset_line(cli, workdir):
    write_tree(workdir, {"data/a.txt": "one\n", "data/b/x.txt": "x\n"})
    a1 = cli("snapshot", "data/a.txt", "--name", "a", "--json").json["id"]
    b1 = cli("snapshot", "data/b", "--name", "b", "--json").json["id"]
    entries = parse((workdir / "lineage.lock").read_text())
    assert {n: (e.path, e.snapshot) for n, e in entries.items()} == {"a": ("data/a.txt", a1), "b": ("data/b", b1)}
    (workdir / "data/a.txt").write_text("two\n")
    a2 = cli("snapshot", "data/a.txt", "--json").json["id"]
    entries = parse((workdir / "lineage.lock").read_text())
    assert entries["a"].snapshot == a2 and entries["b"].snapshot == b1
    assert cli("lock", "check").code == 0


def test_snapshot_keeps_the_other_lines_of_an_older_lock(cli, workdir):
    """After a git checkout of an older lock file, a snapshot of one dataset changes its line only."""
    write_tree(workdir, {"data/a.txt": "one\n", "data/b.txt": "x\n"})
    cli("snapshot", "data/a.txt", "--name", "a")
    b1 = cli("snapshot", "data/b.txt", "--name", "b", "--json").json["id"]
    old = (workdir / "lineage.lock").read_text()
    (workdir / "data/b.txt").write_text("y\n")
    cli("snapshot", "data/b.txt")
    (workdir / "lineage.lock").write_text(old)  # as git checkout would
    (workdir / "data/a.txt").write_text("two\n")
    a2 = cli("snapshot", "data/a.txt", "--json").json["id"]
    entries = parse((workdir / "lineage.lock").read_text())
    assert entries["a"].snapshot == a2 and entries["b"].snapshot == b1


def test_declarations_are_in_the_lock(cli, workdir):
    write_tree(workdir, {"data/a.txt": "one\n"})
    cli("snapshot", "data/a.txt", "--name", "a", "--time-column", "when")
    assert parse((workdir / "lineage.lock").read_text())["a"].declarations == {"time": "when"}


def test_remove_takes_a_line_out_and_nothing_else(repo, cli, workdir):
    write_tree(workdir, {"a.txt": "1\n", "b.txt": "2\n"})
    cli("snapshot", "a.txt", "--name", "a")
    cli("snapshot", "b.txt", "--name", "b")
    assert lock.remove(repo, "a") is True
    assert set(parse((workdir / "lineage.lock").read_text())) == {"b"}
    assert lock.remove(repo, "a") is False
    assert lock.remove(repo, "nope") is False


def test_no_temporary_file_is_left_behind(cli, workdir):
    write_tree(workdir, {"a.txt": "1\n"})
    cli("snapshot", "a.txt", "--name", "a")
    assert not [p for p in (workdir / ".lineage").iterdir() if p.name.endswith(".tmp")]
    assert not [p for p in workdir.iterdir() if p.name.startswith("lineage.lock.")]


# -- check and write --------------------------------------------------------------

def test_check_and_write(cli, workdir):
    write_tree(workdir, {"a.txt": "1\n"})
    sid = cli("snapshot", "a.txt", "--name", "a", "--json").json["id"]
    ok = cli("lock", "check", "--json")
    assert ok.code == 0 and ok.json["ok"] is True
    validate(ok.json, "lock-check.schema.json")
    (workdir / "lineage.lock").write_text(f"{HEADER}\na\ta.txt\t{A}\nghost\tg.txt\t{B}\n")
    bad = cli("lock", "check", "--json")
    assert bad.code == 1
    validate(bad.json, "lock-check.schema.json")
    diffs = {d["dataset"]: d for d in bad.json["differences"]}
    assert diffs["a"]["lock"]["snapshot"] == A and diffs["a"]["log"]["snapshot"] == sid
    assert diffs["ghost"]["log"] is None
    text = cli("lock", "check")
    assert text.code == 1 and "lock write" in text.stdout
    w = cli("lock", "write", "--json")
    assert w.code == 0 and w.json == {"path": str(workdir / "lineage.lock"), "datasets": 1, "changed": True}
    validate(w.json, "lock-write.schema.json")
    assert cli("lock", "check").code == 0
    assert cli("lock", "write", "--json").json["changed"] is False


def test_check_without_a_lock_file_fails(cli, workdir):
    r = cli("lock", "check", "--json")
    assert r.code == 1 and r.json["present"] is False
    assert cli("lock", "write").code == 0
    assert (workdir / "lineage.lock").read_text() == HEADER + "\n"
    assert cli("lock", "check").code == 0


def test_a_malformed_lock_file_is_one_line_exit_2(cli, workdir):
    (workdir / "lineage.lock").write_text("garbage\n")
    r = cli("lock", "check")
    assert r.code == 2 and "lineage.lock line 1" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# -- NAME@REV -----------------------------------------------------------------------

@pytest.fixture
def two_commits(cli, workdir):
    """wine at v1 (tag) and v2 (HEAD), data ignored by git, lineage.lock committed."""
    (workdir / ".gitignore").write_text("/data/\n")
    write_tree(workdir, {"data/wine.txt": "v1\n"})
    s1 = cli("snapshot", "data/wine.txt", "--name", "wine", "--json").json["id"]
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "v1")
    git(workdir, "tag", "v1")
    (workdir / "data/wine.txt").write_text("v2\n")
    s2 = cli("snapshot", "data/wine.txt", "--json").json["id"]
    git(workdir, "commit", "-q", "-am", "v2")
    return s1, s2


def test_name_at_rev_resolves_the_locked_snapshot(repo, two_commits, workdir):
    from lineage.snapshots import resolve

    s1, s2 = two_commits
    sha = git(workdir, "rev-parse", "v1")
    assert resolve(repo, "wine@v1") == s1
    assert resolve(repo, "wine@HEAD~1") == s1
    assert resolve(repo, "wine@HEAD") == s2
    assert resolve(repo, f"wine@{sha[:7]}") == s1
    assert resolve(repo, f"wine@{sha}") == s1
    assert resolve(repo, "wine@main") == s2
    # short numbers stay versions
    assert resolve(repo, "wine@1") == s1 and resolve(repo, "wine@2") == s2


def test_short_digits_are_versions_even_when_git_knows_them(repo, two_commits, workdir):
    from lineage.snapshots import resolve

    git(workdir, "tag", "2", "v1")  # a tag named like a version: the version wins
    assert resolve(repo, "wine@2") == two_commits[1]
    with pytest.raises(UnknownRefError, match="no version 3"):
        resolve(repo, "wine@3")


def test_name_at_rev_errors(repo, two_commits, workdir, cli):
    from lineage.snapshots import resolve

    with pytest.raises(UnknownRefError, match="neither a version of dataset 'wine' nor a git revision"):
        resolve(repo, "wine@nosuchtag")
    with pytest.raises(UnknownRefError, match="no lineage.lock"):
        resolve(repo, "wine@HEAD~2")  # the initial commit: before lineage.lock
    write_tree(workdir, {"data/other.txt": "o\n"})
    cli("snapshot", "data/other.txt", "--name", "other")
    with pytest.raises(UnknownRefError, match="dataset 'other' is not in lineage.lock at git revision 'v1'"):
        resolve(repo, "other@v1")
    with pytest.raises(UnknownRefError):
        resolve(repo, "wine@--output=/tmp/x")
    r = cli("show", "wine@nosuchtag")
    assert r.code == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_tracked_path_holding_an_at_sign_is_still_a_path(repo, cli, workdir, monkeypatch):
    from lineage.snapshots import resolve

    monkeypatch.chdir(workdir)
    write_tree(workdir, {"data/x@HEAD.txt": "1\n", "data/y@v9.txt": "2\n"})
    sx = cli("snapshot", "data/x@HEAD.txt", "--name", "x", "--json").json["id"]
    sy = cli("snapshot", "data/y@v9.txt", "--name", "y", "--json").json["id"]
    assert resolve(repo, "data/x@HEAD.txt") == sx
    assert resolve(repo, "data/y@v9.txt") == sy


def test_diff_and_show_take_name_at_rev(cli, two_commits):
    s1, s2 = two_commits
    d = cli("diff", "wine@v1", "wine@HEAD", "--json")
    assert d.code == 0 and d.json["a"] == s1 and d.json["b"] == s2
    assert cli("show", "wine@v1", "--json").json["id"] == s1


# -- checkout of the lock file ----------------------------------------------------

def test_git_checkout_then_lineage_checkout_restores_the_locked_data(cli, two_commits, workdir):
    write_tree(workdir, {"data/later.txt": "not locked at v1\n"})
    cli("snapshot", "data/later.txt", "--name", "later")
    git(workdir, "commit", "-q", "-am", "later")
    git(workdir, "checkout", "-q", "v1")
    assert (workdir / "data/wine.txt").read_text() == "v2\n"  # git does not carry the data
    r = cli("checkout", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "checkout-lock.schema.json")
    assert (workdir / "data/wine.txt").read_text() == "v1\n"
    assert r.json["not_locked"] == ["later"]
    assert (workdir / "data/later.txt").read_text() == "not locked at v1\n"
    assert cli("verify").code == 0
    git(workdir, "checkout", "-q", "main")
    r = cli("checkout")
    assert r.code == 0 and "1 written" in r.stdout
    assert (workdir / "data/wine.txt").read_text() == "v2\n"


def test_checkout_of_the_lock_does_nothing_when_in_sync(cli, two_commits, workdir):
    r = cli("checkout", "--json")
    assert r.code == 0 and r.json["datasets"][0]["written"] == [] and r.json["datasets"][0]["unchanged"] == 1


def test_checkout_without_target_needs_a_lock_file_and_no_destination(cli, workdir):
    r = cli("checkout")
    assert r.code == 2 and "no lineage.lock" in r.stderr
    write_tree(workdir, {"a.txt": "1\n"})
    cli("snapshot", "a.txt", "--name", "a")
    r = cli("checkout", "--path", "a.txt")
    assert r.code == 2 and "needs a snapshot" in r.stderr


def test_a_lock_naming_a_path_outside_the_work_tree_is_refused(cli, workdir, tmp_path):
    write_tree(workdir, {"a.txt": "1\n"})
    sid = cli("snapshot", "a.txt", "--name", "a", "--json").json["id"]
    for bad in ("../outside.txt", ".git/hooks/pre-commit", "/tmp/x.txt"):
        (workdir / "lineage.lock").write_text(f"{HEADER}\na\t{bad}\t{sid}\n")
        r = cli("checkout")
        assert r.code == 2 and "Traceback" not in r.stderr, bad
    assert not (tmp_path / "outside.txt").exists()
    assert not (workdir / ".git/hooks/pre-commit").exists()


def test_a_locked_snapshot_not_in_this_clone_names_lineage_pull(cli, two_commits, workdir, tmp_path, capsys):
    """A second clone has the commits (and lineage.lock) but not the data."""
    from lineage.repo import Repo

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(workdir), str(clone))
    Repo.init(clone)
    c = CLI(clone, capsys)
    r = c("checkout")
    assert r.code == 2 and "lineage pull" in r.stderr and "wine" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (clone / "data").exists()  # nothing written


# -- status against the lock --------------------------------------------------------

def test_status_says_when_the_workspace_differs_from_the_lock(cli, two_commits, workdir):
    s1, _ = two_commits
    r = cli("status", "--json")
    assert r.json["lock"] == {"present": True, "datasets": [], "head": "same"}
    assert "lineage.lock" not in cli("status").stdout
    git(workdir, "checkout", "-q", "v1")
    r = cli("status", "--json")
    validate(r.json, "status.schema.json")
    assert r.json["lock"]["datasets"] == [{"dataset": "wine", "path": "data/wine.txt", "locked": s1,
                                           "state": "changed"}]
    text = cli("status").stdout
    assert "not the locked snapshot" in text and "'lineage checkout'" in text
    assert cli("status", "--exit-code").code == 0  # the datasets match their latest snapshot
    cli("checkout")
    assert cli("status", "--json").json["lock"]["datasets"] == []


def test_status_says_when_the_lock_differs_from_head(cli, two_commits, workdir):
    assert cli("status", "--json").json["lock"]["head"] == "same"
    (workdir / "data/wine.txt").write_text("v3\n")
    cli("snapshot", "data/wine.txt")
    r = cli("status", "--json")
    assert r.json["lock"]["head"] == "modified" and r.json["lock"]["datasets"] == []
    assert "lineage.lock is modified since HEAD" in cli("status").stdout
    git(workdir, "commit", "-q", "-am", "v3")
    assert cli("status", "--json").json["lock"]["head"] == "same"


def test_status_of_a_locked_snapshot_not_in_this_clone(cli, workdir):
    write_tree(workdir, {"a.txt": "1\n"})
    cli("snapshot", "a.txt", "--name", "a")
    (workdir / "lineage.lock").write_text(f"{HEADER}\na\ta.txt\t{A}\n")
    r = cli("status", "--json")
    assert r.code == 0 and r.json["lock"]["datasets"][0]["state"] == "unavailable"
    assert r.json["lock"]["head"] == "added"


def test_status_of_one_dataset_leaves_the_lock_out(cli, workdir):
    write_tree(workdir, {"a.txt": "1\n"})
    cli("snapshot", "a.txt", "--name", "a")
    assert "lock" not in cli("status", "a", "--json").json


# -- init's .gitignore --------------------------------------------------------------

def test_nothing_lineage_writes_under_lineage_shows_in_git(tmp_path, capsys):
    root = make_git_repo(tmp_path / "p")
    c = CLI(root, capsys)
    assert c("init").code == 0
    git(root, "add", ".lineage/config.toml", ".lineage/.gitignore")
    git(root, "commit", "-q", "-m", "lineage")
    (root / ".gitignore").write_text("/data/\n")
    write_tree(root, {"data/train.txt": "t\n", "data/test.txt": "s\n"})
    assert c("snapshot", "data/train.txt", "--name", "train").code == 0
    assert c("snapshot", "data/test.txt", "--name", "test").code == 0
    run = c("run", "--kind", "train", "--input", "train=data/train.txt", "--json", "--", "true")
    assert run.code == 0, run.stderr
    assert c("audit", run.json["run_id"]).code in (0, 1)
    assert c("verify").code == 0
    assert c("status").code == 0
    porcelain = git(root, "status", "--porcelain", "--untracked-files=all")
    assert ".lineage" not in porcelain
    assert "lineage.lock" in porcelain  # meant to be committed: not ignored
    written = [".lineage/store.lock", ".lineage/replay.db", ".lineage/state.db", ".lineage/lineage.db",
               ".lineage/lineage.db-wal", ".lineage/lineage.lock.1.tmp", ".lineage/cache/x"]
    assert git(root, "check-ignore", "--no-index", *written).splitlines() == written
    out = git(root, "status", "--porcelain", "--ignored", "--untracked-files=all")
    assert any(line.startswith("!! .lineage/") for line in out.splitlines())


def test_init_updates_an_older_lineage_gitignore_and_leaves_a_users_alone(tmp_path):
    from lineage.repo import GITIGNORE, Repo

    a = make_git_repo(tmp_path / "a")
    (a / ".lineage").mkdir()
    (a / ".lineage/.gitignore").write_text("# lineage: objects, databases and temporary files stay out of git\n"
                                           "/objects/\n")
    Repo.init(a)
    assert (a / ".lineage/.gitignore").read_text() == GITIGNORE
    b = make_git_repo(tmp_path / "b")
    (b / ".lineage").mkdir()
    (b / ".lineage/.gitignore").write_text("/mine/\n")
    Repo.init(b)
    assert (b / ".lineage/.gitignore").read_text() == "/mine/\n"
