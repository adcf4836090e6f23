"""Status compares a dataset with what was last checked out at its path (git's HEAD), a
new snapshot of the path supersedes that record; forget in the log; external datasets in
show and status; removed and discarded files of the lock checkout; the advice after a
partial pull followed by a local edit (pull the rest first, then snapshot)."""

from __future__ import annotations

import json
import shlex

from conftest import git, make_git_repo, validate, write_tree


def _hook(root):
    from lineage.hooks.checks import check_status
    from lineage.repo import Repo

    with Repo.find(root) as repo:
        return check_status(repo)


def _three_versions(cli, workdir):
    sids = []
    for text in ("one\n", "two\n", "three\n"):
        write_tree(workdir, {"d/a.txt": text, "d/b.txt": "b\n"})
        r = cli("snapshot", "d", "--json")
        assert r.code == 0, r.stderr
        sids.append(r.json["id"])
    return sids


def test_right_after_checkout_of_an_older_version_status_is_clean_and_says_so(cli, workdir):
    s1, _, s3 = _three_versions(cli, workdir)
    assert cli("checkout", "d@1").code == 0
    r = cli("status")
    assert r.code == 0 and "clean" in r.stdout and "d: at d@1 (latest is d@3)" in r.stdout
    assert "to record the changes" not in r.stdout
    assert cli("status", "--porcelain").stdout == ""
    assert cli("status", "--exit-code").code == 0
    j = cli("status", "--json").json
    validate(j, "status.schema.json")
    (s,) = j["datasets"]
    assert (s["state"], s["snapshot"], s["version"]) == ("clean", s1, 1)
    assert (s["latest_snapshot"], s["latest_version"]) == (s3, 3)
    assert _hook(workdir).ok  # exactly an older version: not an unrecorded change

    # an edit is a change against d@1 (not against d@3): only the edited file is listed
    write_tree(workdir, {"d/b.txt": "B\n"})
    assert cli("status", "--porcelain").stdout == " M d/b.txt\n"
    hook = _hook(workdir)
    assert not hook.ok and "version 1, checked out; latest is 3" in hook.problems[0].message
    assert hook.problems[0].files == ("M d/b.txt",)


def test_a_new_snapshot_of_the_path_supersedes_the_checkout(cli, workdir):
    _three_versions(cli, workdir)
    assert cli("checkout", "d@1").code == 0
    write_tree(workdir, {"d/c.txt": "c\n"})
    r = cli("snapshot", "d", "--json")
    assert r.code == 0 and r.json["version"] == 4
    s = cli("status", "--json").json["datasets"][0]
    assert (s["state"], s["version"], s["latest_version"]) == ("clean", 4, 4)
    assert "latest is" not in cli("status").stdout
    # back to the latest: no "at" line either
    assert cli("checkout", "d@2").code == 0
    assert "d: at d@2 (latest is d@4)" in cli("status").stdout
    assert cli("checkout", "d@latest").code == 0
    r = cli("status")
    assert "clean" in r.stdout and "latest is" not in r.stdout


def test_without_a_usable_record_status_compares_with_the_latest(cli, workdir):
    s1, _, _ = _three_versions(cli, workdir)
    write_tree(workdir, {"e/x.txt": "x\n"})
    assert cli("snapshot", "e").code == 0
    assert cli("checkout", "d@1").code == 0
    # the record is gone: the latest snapshot is the only recorded state
    (workdir / ".lineage" / "checkouts.json").unlink()
    s = cli("status", "d", "--json").json["datasets"][0]
    assert (s["state"], s["version"], s["modified"]) == ("changed", 3, ["a.txt"])
    # a snapshot of another dataset checked out at the path is not a version of it
    assert cli("checkout", "e@1", "d", "--force").code == 0
    s = cli("status", "d", "--json").json["datasets"][0]
    assert s["version"] == 3 and s["state"] == "changed" and s["latest_snapshot"] == s["snapshot"]
    # a partial checkout of an older version does not move the recorded state
    assert cli("checkout", "d@latest", "--force").code == 0
    assert cli("checkout", "d@1", "--path", "a.txt").code == 0
    s = cli("status", "d", "--json").json["datasets"][0]
    assert (s["version"], s["modified"]) == (3, ["a.txt"])


def test_git_checkout_then_lineage_checkout_is_clean(cli, workdir):
    (workdir / ".gitignore").write_text("/d/\n")
    write_tree(workdir, {"d/a.txt": "one\n"})
    cli("snapshot", "d")
    git(workdir, "add", ".gitignore", "lineage.lock")
    git(workdir, "commit", "-q", "-m", "v1")
    git(workdir, "tag", "v1")
    write_tree(workdir, {"d/a.txt": "two\n", "d/new.txt": "n\n"})
    cli("snapshot", "d")
    git(workdir, "commit", "-q", "-am", "v2")
    git(workdir, "checkout", "-q", "v1")
    r = cli("checkout", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "checkout-lock.schema.json")
    (d,) = r.json["datasets"]
    assert d["removed"] == ["new.txt"] and d["discarded"] == []
    r = cli("status")
    assert "d: at d@1 (latest is d@2)" in r.stdout and "lineage.lock:" not in r.stdout
    assert cli("status", "--exit-code").code == 0 and _hook(workdir).ok


def test_lock_checkout_text_lists_removed_and_discarded(cli, workdir):
    (workdir / ".gitignore").write_text("/d/\n")
    write_tree(workdir, {"d/a.txt": "one\n"})
    cli("snapshot", "d")
    git(workdir, "add", ".gitignore", "lineage.lock")
    git(workdir, "commit", "-q", "-m", "v1")
    write_tree(workdir, {"d/a.txt": "two\n", "d/new.txt": "n\n"})
    cli("snapshot", "d")
    git(workdir, "commit", "-q", "-am", "v2")
    r = cli("checkout")
    assert r.code == 0 and "removed" not in r.stdout and "discarded" not in r.stdout  # nothing to do
    git(workdir, "checkout", "-q", "HEAD~1")
    write_tree(workdir, {"d/a.txt": "local edit\n"})
    assert cli("checkout").code == 2  # a local edit: refused without --force
    r = cli("checkout", "--force")
    assert r.code == 0, r.stderr
    assert "    removed new.txt" in r.stdout and "    discarded a.txt" in r.stdout
    assert "1 removed" in r.stdout


def test_log_shows_a_forget_and_show_status_say_external(cli, workdir, tmp_path):
    write_tree(workdir, {"d/a.txt": "a\n"})
    sid = cli("snapshot", "d", "--json").json["id"]
    r = cli("log", "--json")
    validate(r.json, "log.schema.json")
    assert [e["kind"] for e in r.json["snapshots"]] == ["snapshot"]
    assert "forget" not in cli("log", "--oneline").stdout
    assert cli("forget", "d").code == 0
    r = cli("log", "--json")
    validate(r.json, "log.schema.json")
    first = r.json["snapshots"][0]
    assert (first["kind"], first["dataset"], first["snapshot"], first["version"]) == ("forget", "d", sid, 1)
    assert cli("log", "--oneline").stdout.splitlines()[0] == f"{sid[:7]} forget d"
    assert [e["kind"] for e in cli("log", "d", "--json").json["snapshots"]] == ["forget", "snapshot"]
    assert "forget d" in cli("log").stdout
    for fmt in ("tsv", "csv"):
        r = cli("log", "--format", fmt)
        assert r.code == 0 and "forget d" in r.stdout, r.stderr

    outside = tmp_path / "outside"
    write_tree(outside, {"x.txt": "x\n"})
    assert cli("snapshot", str(outside), "--external", "--name", "ext").code == 0
    r = cli("show", "ext")
    assert r.code == 0 and "(external: outside the repository)" in r.stdout
    j = cli("show", "ext", "--json").json
    validate(j, "show.schema.json")
    assert j["external"] is True and j["records"][0]["external"] is True
    st = cli("status", "--json").json
    validate(st, "status.schema.json")
    assert [(s["dataset"], s["external"]) for s in st["datasets"]] == [("ext", True)]
    assert "ext (" in cli("status").stdout and "(external)" in cli("status").stdout
    # a dataset inside the repository is not external
    write_tree(workdir, {"in/y.txt": "y\n"})
    cli("snapshot", "in")
    assert cli("show", "in", "--json").json["external"] is False
    assert "(external" not in cli("show", "in").stdout
    assert {s["dataset"]: s["external"] for s in cli("status", "--json").json["datasets"]} == {
        "ext": True, "in": False}


def test_an_edit_after_a_partial_pull_is_advised_to_pull_the_rest_first(cli, workdir, tmp_path):
    remote = tmp_path / "remote"
    assert cli("remote", "add", "origin", str(remote), "--default").code == 0
    write_tree(workdir, {f"images/img{i:02d}.txt": f"image {i}\n" for i in range(4)})
    sid = cli("snapshot", "images", "--json").json["id"]
    assert cli("push").code == 0
    b = make_git_repo(tmp_path / "b")
    assert cli("init", cwd=b).code == 0
    assert cli("remote", "add", "origin", str(remote), "--default", cwd=b).code == 0
    assert cli("pull", sid[:12], "--path", "img03.txt", cwd=b).code == 0
    (b / "images/img03.txt").write_text("edited\n")

    pull = f"lineage pull {sid[:12]} --path img00.txt --path img01.txt --path img02.txt"
    r = cli("status", cwd=b)
    assert "img03.txt changed after a partial pull" in r.stdout
    assert f"Run '{pull} && lineage snapshot images' to record the changes." in r.stdout
    assert "to fetch the rest." not in r.stdout  # a plain full pull would refuse the edit
    hook = _hook(b)
    assert not hook.ok and hook.fix == f"{pull} && lineage snapshot images"
    assert "after a partial pull (3 file(s) not fetched" in hook.problems[0].message

    # the advice works: the rest is fetched, the edit kept, and the snapshot is complete
    for step in hook.fix.split(" && "):
        r = cli(*shlex.split(step)[1:], cwd=b)
        assert r.code == 0, r.stderr
    assert (b / "images/img03.txt").read_text() == "edited\n"
    r = cli("show", "images", "--json", cwd=b)
    assert r.json["file_count"] == 4
    assert cli("status", "--exit-code", cwd=b).code == 0 and _hook(b).ok


def test_a_partial_pull_alone_is_not_advised_a_snapshot(cli, workdir, tmp_path):
    remote = tmp_path / "remote"
    assert cli("remote", "add", "origin", str(remote), "--default").code == 0
    write_tree(workdir, {f"images/img{i:02d}.txt": f"image {i}\n" for i in range(3)})
    sid = cli("snapshot", "images", "--json").json["id"]
    assert cli("push").code == 0
    b = make_git_repo(tmp_path / "b")
    cli("init", cwd=b)
    cli("remote", "add", "origin", str(remote), "--default", cwd=b)
    assert cli("pull", sid[:12], "--path", "img01.txt", cwd=b).code == 0
    r = cli("status", cwd=b)
    assert "changed after a partial pull" not in r.stdout and "lineage snapshot" not in r.stdout
    assert f"Run 'lineage pull {sid[:12]}' to fetch the rest." in r.stdout
    assert json.loads(cli("status", "--json", cwd=b).stdout)["datasets"][0]["state"] == "partial"
