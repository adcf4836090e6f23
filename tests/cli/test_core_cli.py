"""The core commands through the CLI: exit codes, text, and JSON that matches schemas/."""

import os

import pytest

from conftest import run_subprocess, validate, write_tree


@pytest.fixture
def data(workdir):
    return write_tree(workdir / "data", {"a.csv": "x,y\n1,2\n", "sub/b.txt": "hello\n"})


def test_snapshot_log_show_diff_checkout_status_json(cli, data, workdir, tmp_path):
    r = cli("snapshot", "data", "--name", "train", "-m", "first", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "snapshot.schema.json")
    first = r.json["id"]
    assert r.json["version"] == 1 and r.json["files"] == 2

    (data / "c.txt").write_text("new")
    r = cli("status", "--json")
    assert r.code == 0
    validate(r.json, "status.schema.json")
    assert r.json["datasets"][0]["added"] == ["c.txt"]
    assert cli("status", "--exit-code").code == 1
    r = cli("status")
    assert "added" in r.stdout and "lineage snapshot data" in r.stdout

    second = cli("snapshot", "data", "--json").json["id"]
    assert cli("status", "--exit-code").code == 0

    r = cli("log", "train", "--json")
    validate(r.json, "log.schema.json")
    assert [e["version"] for e in r.json["snapshots"]] == [2, 1]
    assert "train" in cli("log").stdout

    r = cli("show", "train@1", "--json")
    validate(r.json, "show.schema.json")
    assert r.json["id"] == first and r.json["records"][0]["message"] == "first"

    r = cli("diff", "train@1", "train@2", "--json")
    validate(r.json, "diff.schema.json")
    assert [f["path"] for f in r.json["added"]] == ["c.txt"]
    assert "1 added" in cli("diff", first[:8], second[:8]).stdout

    r = cli("checkout", "train@1", str(tmp_path / "out"), "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "checkout.schema.json")
    assert (tmp_path / "out" / "sub" / "b.txt").read_text() == "hello\n"

    r = cli("verify", "--json")
    assert r.code == 0
    validate(r.json, "verify.schema.json")
    assert r.json["ok"] is True


def test_init_is_harmless_twice(cli, workdir):
    r = cli("init", "--json")
    assert r.code == 0
    validate(r.json, "init.schema.json")
    assert r.json["created"] is False and r.json["git"] is True
    from lineage.repo import GITIGNORE

    assert (workdir / ".lineage" / ".gitignore").read_text() == GITIGNORE  # written once, not twice


def test_init_at_git_root_from_a_subfolder(tmp_path, capsys):
    from conftest import CLI, make_git_repo

    root = make_git_repo(tmp_path / "proj")
    (root / "src" / "deep").mkdir(parents=True)
    r = CLI(root / "src" / "deep", capsys)("init", "--json")
    assert r.code == 0 and r.json["root"] == str(root)
    assert (root / ".lineage" / "lineage.db").exists()
    from conftest import git

    assert ".lineage/lineage.db" not in git(root, "status", "--porcelain", "--untracked-files=all")


def test_init_outside_git(tmp_path, capsys):
    from conftest import CLI

    plain = tmp_path / "plain"
    plain.mkdir()
    r = CLI(plain, capsys)("init", "--json")
    assert r.json == {"root": str(plain), "created": True, "git": False}


@pytest.mark.parametrize(
    "args, message",
    [
        (["snapshot", "nope"], "no such file or folder"),
        (["show", "deadbeef"], "no snapshot or dataset matches"),
        (["show", "train@7"], "no dataset named"),
        (["log", "nope"], "no dataset named"),
        (["checkout", "nope"], "no snapshot or dataset matches"),
        (["snapshot", "data", "--name", "a@b"], "invalid dataset name"),
        (["snapshot"], "Missing argument"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, data, args, message):
    r = cli(*args)
    assert r.code == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_no_repository_yet(tmp_path, capsys):
    from conftest import CLI

    empty = tmp_path / "empty"
    empty.mkdir()
    r = CLI(empty, capsys)("status")
    assert r.code == 2 and "lineage init" in r.stderr


def test_checkout_conflict_is_exit_2_and_keeps_the_file(cli, data):
    cli("snapshot", "data")
    (data / "a.csv").write_text("local edit")
    r = cli("checkout", "data")
    assert r.code == 2 and "--force" in r.stderr
    assert (data / "a.csv").read_text() == "local edit"
    assert cli("checkout", "data", "--force").code == 0
    assert (data / "a.csv").read_text() == "x,y\n1,2\n"


def test_verify_reports_corruption_and_exits_1(cli, data, workdir):
    sid = cli("snapshot", "data", "--json").json["id"]
    # small files live in a pack: flip one byte of the first object in it
    [pack] = (workdir / ".lineage" / "packs").glob("*.pack")
    os.chmod(pack, 0o644)
    raw = bytearray(pack.read_bytes())
    raw[8] ^= 0xFF
    pack.write_bytes(bytes(raw))
    r = cli("verify", "--json")
    assert r.code == 1
    validate(r.json, "verify.schema.json")
    [problem] = r.json["objects"]
    assert problem["problem"] == "corrupt" and problem["snapshots"] == [sid]
    assert problem["files"] and problem["files"][0] in ("a.csv", "sub/b.txt")
    assert "corrupt" in cli("verify").stdout


def test_verify_catches_a_tampered_event(cli, data, workdir):
    import sqlite3

    cli("snapshot", "data")
    conn = sqlite3.connect(workdir / ".lineage" / "lineage.db")
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute("UPDATE events SET body = replace(body, '\"data\"', '\"other\"')")
    conn.commit()
    conn.close()
    r = cli("verify", "--json")
    assert r.code == 1 and any("altered" in line for line in r.json["log"])


def test_rebuild(cli, data):
    cli("snapshot", "data")
    before = cli("log", "--json").json
    r = cli("rebuild", "--json")
    from lineage.repo import Repo

    with Repo.find(data) as repo:
        assert r.code == 0 and r.json["events"] == repo.graph.count_events() >= 1
    assert cli("log", "--json").json == before


def test_real_process_exit_codes_and_help(workdir):
    p = run_subprocess(["--help"], workdir)
    assert p.returncode == 0 and "snapshot" in p.stdout
    p = run_subprocess(["show", "zzzz"], workdir)
    assert p.returncode == 2 and p.stderr.startswith("error:") and "Traceback" not in p.stderr
