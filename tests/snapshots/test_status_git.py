"""Status as git shows it: a stable --porcelain form, new files as ??, and a partial pull
reported as partial (not as removed files, and without advice to snapshot)."""

from __future__ import annotations

from conftest import make_git_repo, validate, write_tree


def test_porcelain_format_is_exact(cli, workdir):
    write_tree(workdir, {"d/a.txt": "a", "d/b.txt": "b", "d/sub/c.txt": "c", "m.bin": "m1", "gone/x": "x"})
    for path in ("d", "m.bin", "gone"):
        assert cli("snapshot", path).code == 0
    r = cli("status", "--porcelain")
    assert r.code == 0 and r.stdout == ""  # clean: nothing, like git
    write_tree(workdir, {"d/a.txt": "A", "d/new.txt": "n", "d/sub/deeper/n2.txt": "n2", "m.bin": "m2"})
    (workdir / "d/b.txt").unlink()
    for p in (workdir / "gone").iterdir():
        p.unlink()
    (workdir / "gone").rmdir()
    r = cli("status", "--porcelain")
    assert r.code == 0
    assert r.stdout == (" M d/a.txt\n"
                        " D d/b.txt\n"
                        "?? d/new.txt\n"
                        "?? d/sub/deeper/n2.txt\n"
                        " D gone\n"
                        " M m.bin\n")
    # one dataset, and --exit-code
    assert cli("status", "m.bin", "--porcelain").stdout == " M m.bin\n"
    assert cli("status", "--porcelain", "--exit-code").code == 1


def test_porcelain_quotes_like_git(cli, workdir):
    write_tree(workdir, {"d/plain name.txt": "x", 'd/q"uote.txt': "x", "d/café.csv": "x"})
    cli("snapshot", "d")
    for name in ("plain name.txt", 'q"uote.txt', "café.csv"):
        (workdir / "d" / name).write_text("changed")
    assert cli("status", "--porcelain").stdout.splitlines() == [
        ' M "d/caf\\303\\251.csv"',
        " M d/plain name.txt",
        ' M "d/q\\"uote.txt"',
    ]


def test_a_root_dataset_and_an_untracked_path(cli, workdir):
    write_tree(workdir, {"raw/x.txt": "x"})
    r = cli("status", "raw", "--porcelain")
    assert r.stdout == "?? raw\n"


def test_new_files_are_shown_as_question_marks(cli, workdir):
    write_tree(workdir, {"d/a.txt": "a"})
    cli("snapshot", "d")
    write_tree(workdir, {"d/new.txt": "n"})
    r = cli("status")
    assert "??       new.txt" in r.stdout
    assert "Run 'lineage snapshot d'" in r.stdout
    r = cli("status", "--json")
    validate(r.json, "status.schema.json")
    assert r.json["datasets"][0]["added"] == ["new.txt"] and r.json["datasets"][0]["state"] == "changed"


def _status_hook_ok(root) -> bool:
    from lineage.hooks.checks import check_status
    from lineage.repo import Repo

    with Repo.find(root) as repo:
        return check_status(repo).ok


def _clone(cli, tmp_path, name, remote):
    path = make_git_repo(tmp_path / name)
    assert cli("init", cwd=path).code == 0
    assert cli("remote", "add", "origin", str(remote), "--default", cwd=path).code == 0
    return path


def test_a_partial_pull_is_partial_not_removed_and_a_full_pull_completes_it(cli, workdir, tmp_path):
    remote = tmp_path / "remote"
    assert cli("remote", "add", "origin", str(remote), "--default").code == 0
    write_tree(workdir, {f"images/img{i:02d}.txt": f"image {i}\n" for i in range(24)})
    sid = cli("snapshot", "images", "--json").json["id"]
    assert cli("push").code == 0
    b = _clone(cli, tmp_path, "b", remote)
    r = cli("pull", sid[:12], "--path", "img03.txt", cwd=b)
    assert r.code == 0, r.stderr
    assert sorted(p.name for p in (b / "images").iterdir()) == ["img03.txt"]

    r = cli("status", cwd=b)
    assert r.code == 0
    assert "partial: 23 files not fetched" in r.stdout
    assert "removed" not in r.stdout
    assert "lineage snapshot" not in r.stdout  # that would record a broken version
    assert f"Run 'lineage pull {sid[:12]}' to fetch the rest." in r.stdout
    r = cli("status", "--json", cwd=b)
    validate(r.json, "status.schema.json")
    (s,) = r.json["datasets"]
    assert s["state"] == "partial" and len(s["not_fetched"]) == 23 and s["removed"] == []
    porcelain = cli("status", "--porcelain", cwd=b).stdout.splitlines()
    assert len(porcelain) == 23 and porcelain[0] == " S images/img00.txt"
    assert cli("status", "--exit-code", cwd=b).code == 0  # nothing here is unrecorded
    assert _status_hook_ok(b)  # the status hook lets the commit through


    # a fetched file deleted after the partial pull is removed, not "not fetched"
    (b / "images/img03.txt").unlink()
    r = cli("status", "--json", cwd=b)
    assert r.json["datasets"][0]["removed"] == ["img03.txt"]
    assert cli("status", "--exit-code", cwd=b).code == 1
    assert not _status_hook_ok(b)

    # a second partial pull adds to the first; a full pull completes it
    assert cli("pull", sid[:12], "--path", "img03.txt", "--path", "img04.txt", cwd=b).code == 0
    assert len(cli("status", "--json", cwd=b).json["datasets"][0]["not_fetched"]) == 22
    r = cli("pull", sid[:12], cwd=b)
    assert r.code == 0, r.stderr
    assert len(list((b / "images").iterdir())) == 24
    r = cli("status", cwd=b)
    assert "clean" in r.stdout and "partial" not in r.stdout
    assert cli("status", "--porcelain", cwd=b).stdout == ""


def test_without_a_partial_pull_missing_files_are_removed(cli, workdir):
    write_tree(workdir, {f"images/img{i}.txt": "x" * i for i in range(3)})
    cli("snapshot", "images")
    (workdir / "images/img1.txt").unlink()
    r = cli("status", "--json")
    assert r.json["datasets"][0]["removed"] == ["img1.txt"] and r.json["datasets"][0]["not_fetched"] == []
    assert cli("status", "--porcelain").stdout == " D images/img1.txt\n"
