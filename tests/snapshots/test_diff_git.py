"""Diff as git does it: no argument, the workspace against each dataset's last snapshot;
A, A against the workspace; A B, two sides, where a path means its working copy; --rows in
each form."""

from __future__ import annotations

from conftest import validate, write_tree

CSV1 = "id,x,label\n1,0.5,a\n2,0.7,b\n3,0.9,a\n"
CSV2 = "id,x,label\n1,0.5,a\n2,0.7,b\n3,0.9,a\n4,1.1,b\n"


def _setup(cli, workdir):
    write_tree(workdir, {"d/t.csv": CSV1, "d/readme.txt": "v1\n"})
    assert cli("snapshot", "d").code == 0
    write_tree(workdir, {"d/readme.txt": "v2\n"})
    assert cli("snapshot", "d").code == 0


def _paths(items):
    return [f["path"] for f in items]


def test_no_argument_compares_the_workspace_with_the_last_snapshot(cli, workdir):
    _setup(cli, workdir)
    r = cli("diff", "--json")
    assert r.code == 0 and r.json == {"diffs": []}
    assert "No differences" in cli("diff").stdout
    write_tree(workdir, {"d/t.csv": CSV2, "d/new.txt": "n\n"})
    (workdir / "d/readme.txt").unlink()
    r = cli("diff", "--json")
    assert r.code == 0
    validate(r.json, "diff.schema.json")
    (d,) = r.json["diffs"]
    assert d["a"] == cli("show", "d@2", "--json").json["id"]
    assert d["b"] == "workspace" and d["b_path"] == "d" and d["a_path"] is None
    assert _paths(d["modified"]) == ["t.csv"] and _paths(d["added"]) == ["new.txt"]
    assert _paths(d["removed"]) == ["readme.txt"]
    assert "-> workspace (d): 1 added, 1 removed, 1 changed" in cli("diff").stdout


def test_one_snapshot_is_compared_with_the_workspace(cli, workdir):
    _setup(cli, workdir)
    r = cli("diff", "d@1", "--json")
    assert r.code == 0 and r.json["b"] == "workspace"
    assert _paths(r.json["modified"]) == ["readme.txt"] and r.json["unchanged"] == 1
    # a path alone: its working copy against its last snapshot
    write_tree(workdir, {"d/readme.txt": "edited\n"})
    r = cli("diff", "d", "--json")
    assert r.code == 0 and _paths(r.json["modified"]) == ["readme.txt"]
    assert r.json["a"] == cli("show", "d@2", "--json").json["id"]


def test_a_path_names_the_working_copy_not_the_latest_snapshot(cli, workdir):
    _setup(cli, workdir)
    write_tree(workdir, {"d/t.csv": CSV2})
    r = cli("diff", "d@2", "d", "--json")
    assert r.code == 0
    assert r.json["b"] == "workspace" and _paths(r.json["modified"]) == ["t.csv"]  # as status says
    assert "t.csv" in cli("status", "d").stdout
    # NAME@latest still names the snapshot
    r = cli("diff", "d@2", "d@latest", "--json")
    assert r.json["modified"] == [] and r.json["b"] == r.json["a"]


def test_two_snapshots_as_before(cli, workdir):
    _setup(cli, workdir)
    write_tree(workdir, {"d/readme.txt": "local edit, not in either snapshot\n"})
    r = cli("diff", "d@1", "d@2", "--json")
    assert r.code == 0
    validate(r.json, "diff.schema.json")
    assert _paths(r.json["modified"]) == ["readme.txt"]
    assert r.json["a_path"] is None and r.json["b_path"] is None
    assert r.json["modified"][0]["digest_b"] != r.json["modified"][0]["digest_a"]


def test_rows_in_every_form(cli, workdir):
    _setup(cli, workdir)
    write_tree(workdir, {"d/t.csv": CSV2})
    for args in (["diff"], ["diff", "d@2"], ["diff", "d@2", "d"], ["diff", "d"]):
        r = cli(*args, "--rows", "--json")
        assert r.code == 0, (args, r.stderr)
        validate(r.json, "diff.schema.json")
        d = r.json["diffs"][0] if "diffs" in r.json else r.json
        assert d["rows"]["b"] == "workspace"
        assert (d["rows"]["added"], d["rows"]["removed"]) == (1, 0), args
        assert d["rows"]["sample_added"][0]["file"] == "t.csv" and d["rows"]["sample_added"][0]["row"] == 3
    # the workspace on the left, and two snapshots
    r = cli("diff", "d", "d@1", "--rows", "--json")
    assert (r.json["rows"]["a"], r.json["rows"]["added"], r.json["rows"]["removed"]) == ("workspace", 1, 2)
    cli("snapshot", "d")
    r = cli("diff", "d@1", "d@3", "--rows", "--json")
    assert (r.json["rows"]["added"], r.json["rows"]["removed"]) == (2, 1) and len(r.json["rows"]["b"]) == 64
    out = cli("diff", "--rows").stdout
    assert "No differences" in out


def test_a_working_copy_is_fingerprinted_like_its_snapshot(cli, workdir):
    """Unchanged rows of the working copy match the recorded fingerprints exactly."""
    _setup(cli, workdir)
    r = cli("diff", "d@2", "--rows", "--json")
    assert r.json["rows"]["unchanged"] == r.json["rows"]["rows_a"] == r.json["rows"]["rows_b"] == 4
    assert r.json["rows"]["added"] == r.json["rows"]["removed"] == 0


def test_bad_input_is_one_line(cli, workdir):
    _setup(cli, workdir)
    for args in (["diff", "nope@9"], ["diff", "d@1", "nope"]):
        r = cli(*args)
        assert r.code == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    write_tree(workdir, {"untracked/x.txt": "x"})
    r = cli("diff", "untracked")
    assert r.code == 2 and "no snapshot was recorded at 'untracked'" in r.stderr
