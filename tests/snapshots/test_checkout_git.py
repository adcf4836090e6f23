"""Checkout as git does it: compared with the recorded state of the path, a clean workspace
rolls back without --force, tracked files the target lacks are removed, untracked files stay
unless --force, which names what it discards."""

from __future__ import annotations

import json
import os

from conftest import git, validate, write_tree


def _tree(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _two_versions(cli, workdir):
    write_tree(workdir, {"d/a.txt": "one\n", "d/b.txt": "bee\n"})
    assert cli("snapshot", "d").code == 0
    write_tree(workdir, {"d/a.txt": "two\n", "d/sub/c.txt": "new in v2\n"})
    assert cli("snapshot", "d").code == 0
    assert "clean" in cli("status", "d").stdout


def test_a_clean_workspace_rolls_back_and_forward_without_force(cli, workdir):
    _two_versions(cli, workdir)
    r = cli("checkout", "d@1", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "checkout.schema.json")
    assert r.json["removed"] == ["sub/c.txt"] and r.json["discarded"] == [] and r.json["extra"] == []
    assert _tree(workdir / "d") == {"a.txt": "one\n", "b.txt": "bee\n"}
    assert not (workdir / "d" / "sub").exists()  # the folder the removed file left empty
    # what was just checked out is the recorded state there: forward again, no --force
    r = cli("checkout", "d@2")
    assert r.code == 0, r.stderr
    assert "2 written" in r.stdout
    assert _tree(workdir / "d") == {"a.txt": "two\n", "b.txt": "bee\n", "sub/c.txt": "new in v2\n"}
    assert "clean" in cli("status", "d").stdout


def test_a_single_file_dataset_rolls_back(cli, workdir):
    write_tree(workdir, {"model.bin": "v1"})
    cli("snapshot", "model.bin", "--name", "m")
    write_tree(workdir, {"model.bin": "v2"})
    cli("snapshot", "model.bin", "--name", "m")
    assert cli("checkout", "m@1").code == 0
    assert (workdir / "model.bin").read_text() == "v1"


def test_a_real_edit_is_refused_by_name_and_kept(cli, workdir):
    _two_versions(cli, workdir)
    write_tree(workdir, {"d/a.txt": "my edit\n"})
    r = cli("checkout", "d@1")
    assert r.code == 2
    assert "local changes in 1 file(s): a.txt" in r.stderr and "--force" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert (workdir / "d/a.txt").read_text() == "my edit\n"
    assert (workdir / "d/sub/c.txt").exists()  # nothing removed either


def test_an_edited_tracked_file_the_target_lacks_is_a_conflict_not_removed(cli, workdir):
    _two_versions(cli, workdir)
    write_tree(workdir, {"d/sub/c.txt": "edited\n"})
    r = cli("checkout", "d@1")
    assert r.code == 2 and "sub/c.txt" in r.stderr
    assert (workdir / "d/sub/c.txt").read_text() == "edited\n"
    assert (workdir / "d/a.txt").read_text() == "two\n"  # refused before anything was written


def test_untracked_files_stay_without_force_and_are_listed_when_forced(cli, workdir):
    _two_versions(cli, workdir)
    write_tree(workdir, {"d/notes.md": "mine\n", "d/scratch/tmp.txt": "mine too\n"})
    r = cli("checkout", "d@1")
    assert r.code == 0, r.stderr
    assert "2 untracked file(s) left in place" in r.stdout and "untracked notes.md" in r.stdout
    assert (workdir / "d/notes.md").exists() and (workdir / "d/scratch/tmp.txt").exists()
    assert not (workdir / "d/sub").exists()
    # --force discards them, and says so, path by path
    write_tree(workdir, {"d/a.txt": "an edit\n"})
    r = cli("checkout", "d@2", "--force")
    assert r.code == 0, r.stderr
    assert "Discarded 3 local change(s) and untracked file(s) (--force)" in r.stdout
    for p in ("a.txt", "notes.md", "scratch/tmp.txt"):
        assert f"discarded {p}" in r.stdout
    assert _tree(workdir / "d") == {"a.txt": "two\n", "b.txt": "bee\n", "sub/c.txt": "new in v2\n"}


def test_force_without_local_changes_discards_nothing(cli, workdir):
    _two_versions(cli, workdir)
    r = cli("checkout", "d@1", "--force", "--json")
    assert r.json["discarded"] == [] and r.json["removed"] == ["sub/c.txt"]


def test_a_new_destination_keeps_what_was_there(cli, workdir, tmp_path):
    _two_versions(cli, workdir)
    out = tmp_path / "elsewhere"
    write_tree(out, {"keep.txt": "not lineage's\n"})
    r = cli("checkout", "d@2", str(out), "--json")
    assert r.code == 0 and r.json["extra"] == ["keep.txt"] and r.json["removed"] == []
    assert (out / "keep.txt").exists()
    # that destination now has a recorded state: rolling it back removes only tracked files
    r = cli("checkout", "d@1", str(out), "--json")
    assert r.code == 0 and r.json["removed"] == ["sub/c.txt"] and r.json["extra"] == ["keep.txt"]


def test_partial_checkout_removes_nothing(cli, workdir):
    _two_versions(cli, workdir)
    r = cli("checkout", "d@1", "--path", "a.txt", "--json")
    assert r.code == 0 and r.json["written"] == ["a.txt"] and r.json["removed"] == []
    assert (workdir / "d/sub/c.txt").exists()


def test_force_never_removes_through_a_link_leading_out(cli, workdir, tmp_path):
    _two_versions(cli, workdir)
    outside = write_tree(tmp_path / "outside", {"precious.txt": "do not delete\n"})
    os.symlink(outside, workdir / "d" / "link")
    r = cli("checkout", "d@1", "--force", "--json")
    assert r.code == 0, r.stderr
    assert "link/precious.txt" in r.json["extra"] and "link/precious.txt" not in r.json["discarded"]
    assert (outside / "precious.txt").read_text() == "do not delete\n"


def test_rollback_follows_a_git_checkout(cli, workdir):
    """The data folder beside the code: commit v1 and v2, go back in git, check out @1."""
    (workdir / ".gitignore").write_text("/d/\n")
    write_tree(workdir, {"train.py": "print(1)\n", "d/a.txt": "one\n"})
    cli("snapshot", "d")
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "v1")
    write_tree(workdir, {"train.py": "print(2)\n", "d/a.txt": "two\n", "d/extra.txt": "x\n"})
    cli("snapshot", "d")
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "v2")
    git(workdir, "checkout", "-q", "HEAD~1")
    r = cli("checkout", "d@1")
    assert r.code == 0, r.stderr
    assert _tree(workdir / "d") == {"a.txt": "one\n"}
    assert (workdir / "train.py").read_text() == "print(1)\n"
    assert " d/" not in git(workdir, "status", "--porcelain")  # the data stays out of git
    v = cli("verify", "--json")
    assert v.code == 0, v.stdout


def test_the_recorded_state_file_is_local_and_rebuildable(cli, workdir):
    _two_versions(cli, workdir)
    cli("checkout", "d@1")
    state = json.loads((workdir / ".lineage" / "checkouts.json").read_text())
    assert state["paths"]["d"]["paths"] is None
    assert git(workdir, "check-ignore", ".lineage/checkouts.json") == ".lineage/checkouts.json"
    # without it, the dataset's latest snapshot is the recorded state: d@1 content is
    # still stored and recorded, so moving on loses nothing and needs no --force
    (workdir / ".lineage" / "checkouts.json").unlink()
    assert cli("checkout", "d@2").code == 0
