"""git-style ``lineage log``: -n/--max-count, --oneline, --since DATE|REF, --author, and
``log --runs`` with key params and metrics."""

from __future__ import annotations

import sys

import pytest

from conftest import git, validate, write_tree

PY = sys.executable


@pytest.fixture
def history(cli, workdir, monkeypatch):
    """wine@1..3 by two users; a git commit between wine@1 and wine@2."""
    write_tree(workdir, {"data/wine.csv": "a,b\n1,2\n"})
    monkeypatch.setenv("LINEAGE_USER", "Ada Lovelace <ada@example.com>")
    assert cli("snapshot", "data/wine.csv", "--name", "wine", "-m", "first cut\nmore detail").code == 0
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "data")
    git(workdir, "tag", "v1")
    write_tree(workdir, {"data/wine.csv": "a,b\n1,2\n3,4\n"})
    monkeypatch.setenv("LINEAGE_USER", "Bob Builder <bob@example.com>")
    assert cli("snapshot", "data/wine.csv", "--name", "wine", "-m", "second").code == 0
    write_tree(workdir, {"data/wine.csv": "a,b\n1,2\n3,4\n5,6\n"})
    monkeypatch.setenv("LINEAGE_USER", "Ada Lovelace <ada@example.com>")
    assert cli("snapshot", "data/wine.csv", "--name", "wine").code == 0
    return workdir


def versions(result) -> list[int]:
    assert result.code == 0, result.stderr
    validate(result.json, "log.schema.json")
    return [e["version"] for e in result.json["snapshots"]]


def test_max_count_keeps_the_newest(cli, history):
    assert versions(cli("log", "wine", "--json")) == [3, 2, 1]
    assert versions(cli("log", "wine", "-n", "2", "--json")) == [3, 2]
    assert versions(cli("log", "--max-count", "1", "--json")) == [3]
    assert versions(cli("log", "wine", "-n", "0", "--json")) == []
    assert versions(cli("log", "wine", "-n", "10", "--json")) == [3, 2, 1]


def test_max_count_must_not_be_negative(cli, history):
    r = cli("log", "-n", "-1")
    assert r.code == 2 and "--max-count" in r.stderr and "Traceback" not in r.stderr
    r = cli("log", "-n", "many")
    assert r.code == 2 and "Traceback" not in r.stderr


def test_oneline_one_line_per_entry(cli, history):
    r = cli("log", "wine", "--oneline")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    full = cli("log", "wine", "--json").json["snapshots"]
    assert lines[0] == f"{full[0]['snapshot'][:7]} snapshot wine@3"
    assert lines[1] == f"{full[1]['snapshot'][:7]} snapshot wine@2 second"
    assert lines[2] == f"{full[2]['snapshot'][:7]} snapshot wine@1 first cut"  # first line only
    assert "more detail" not in r.stdout and "│" not in r.stdout and "─" not in r.stdout
    assert len(cli("log", "--oneline", "-n", "1").stdout.splitlines()) == 1


def test_since_a_git_ref_or_a_date(cli, history):
    # wine@1 was recorded before the commit v1 names (on its parent): v1..HEAD holds 2 and 3
    assert versions(cli("log", "wine", "--since", "v1", "--json")) == [3, 2]
    assert versions(cli("log", "wine", "--since", "HEAD", "--json")) == [3, 2]
    assert versions(cli("log", "wine", "--since", "2000-01-01", "--json")) == [3, 2, 1]
    assert versions(cli("log", "wine", "--since", "2999-01-01T00:00:00Z", "--json")) == []


def test_since_refuses_what_is_neither(cli, history):
    r = cli("log", "--since", "no-such-ref")
    assert r.code == 2 and "neither a git commit nor an ISO date" in r.stderr
    assert "Traceback" not in r.stderr


def test_author_is_a_substring_of_the_user(cli, history):
    assert versions(cli("log", "wine", "--author", "ada", "--json")) == [3, 1]
    assert versions(cli("log", "wine", "--author", "BOB@EXAMPLE", "--json")) == [2]
    assert versions(cli("log", "wine", "--author", "carol", "--json")) == []
    assert versions(cli("log", "wine", "--author", "ada", "-n", "1", "--json")) == [3]


def test_python_api_takes_the_same_filters(history):
    import lineage

    with lineage.open(history) as repo:
        assert [e.version for e in lineage.log("wine", author="bob", repo=repo)] == [2]
        assert [e.version for e in lineage.log("wine", max_count=1, repo=repo)] == [3]
        assert [e.version for e in lineage.log("wine", since="v1", repo=repo)] == [3, 2]
        with pytest.raises(lineage.UsageError):
            lineage.log("wine", max_count=-2, repo=repo)


@pytest.fixture
def runs(cli, workdir):
    write_tree(workdir, {"data/train.csv": "x,y\n1,0\n", "data/test.csv": "x,y\n2,1\n"})
    ids = []
    for c, acc in (("1.0", "0.84"), ("0.1", "0.79")):
        r = cli("run", "start", "--kind", "train", "-i", "train=data/train.csv", "-p", f"C={c}", "--json")
        assert r.code == 0, r.stderr
        rid = r.json["run_id"]
        assert cli("run", "metric", rid, "acc", "0.5", "--split", "test").code == 0
        assert cli("run", "metric", rid, "acc", acc, "--split", "test").code == 0  # the last one counts
        assert cli("run", "finish", rid, "--exit-code", "0").code == 0
        ids.append(rid)
    return ids


def test_log_runs_shows_params_and_metrics(cli, runs, monkeypatch):
    r = cli("log", "--runs", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "log-runs.schema.json")
    newest = r.json["runs"][0]
    assert newest["run_id"] == runs[1]
    assert newest["params"] == {"C": 0.1}
    assert newest["metrics"] == [{"name": "acc", "split": "test", "value": 0.79}]
    monkeypatch.setenv("COLUMNS", "200")
    text = cli("log", "--runs", "--format", "table").stdout
    assert "C=0.1 acc(test)=0.79" in text and "C=1 acc(test)=0.84" in text
    assert "acc(test)=0.5" not in text


def test_log_runs_oneline_and_filters(cli, runs, monkeypatch):
    r = cli("log", "--runs", "--oneline")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(cli("show", runs[1], "--json").json["short_id"] + " run train succeeded C=0.1")
    assert len(cli("log", "--runs", "-n", "1", "--json").json["runs"]) == 1
    assert cli("log", "--runs", "--author", "nobody", "--json").json["runs"] == []
    assert len(cli("log", "--runs", "--author", "test user", "--json").json["runs"]) == 2
    assert cli("log", "--runs", "--since", "2999-01-01", "--json").json["runs"] == []
    assert len(cli("log", "--runs", "--since", "HEAD", "--json").json["runs"]) == 2


def test_summary_is_bounded():
    from lineage.runs.history import summary_text

    params = {f"param_{i}": i for i in range(30)}
    text = summary_text(params, [{"name": "acc", "split": "test", "value": 0.8}])
    assert len(text) <= 48 and text.endswith("…")
    assert summary_text({"C": 1.0}, [{"name": "acc", "split": None, "value": 0.84123456}]) == "C=1 acc=0.8412"
    assert summary_text({}, []) == ""
