"""``lineage runs compare A B [C...]``: runs side by side, one column per run, in table,
TSV, CSV and JSON (schemas/runs-compare.schema.json); ``lineage.compare_runs``."""

from __future__ import annotations

import csv
import io

import pytest

from conftest import git, validate, write_tree


def start(cli, *args: str) -> str:
    r = cli("run", "start", "--json", *args)
    assert r.code == 0, r.stderr
    return r.json["run_id"]


@pytest.fixture
def runs(cli, workdir):
    """Two training runs on different train snapshots and C, the same test set; a third
    run, dirty, with an extra param and a failed status."""
    write_tree(workdir, {"data/train.csv": "x,y\n1,0\n", "data/test.csv": "x,y\n2,1\n"})
    assert cli("snapshot", "data/train.csv", "--name", "train").code == 0
    assert cli("snapshot", "data/test.csv", "--name", "test").code == 0
    a = start(cli, "--kind", "train", "-i", "train=train@1", "-i", "test=test", "-p", "C=1.0", "-p", "seed=7")
    assert cli("run", "metric", a, "acc", "0.84", "--split", "test").code == 0
    assert cli("run", "metric", a, "loss", "0.3", "--split", "train").code == 0
    assert cli("run", "finish", a, "--exit-code", "0").code == 0
    write_tree(workdir, {"data/train.csv": "x,y\n1,0\n3,1\n"})
    assert cli("snapshot", "data/train.csv", "--name", "train").code == 0
    b = start(cli, "--kind", "train", "-i", "train=train@2", "-i", "test=test", "-p", "C=0.1", "-p", "seed=7")
    assert cli("run", "metric", b, "acc", "0.79", "--split", "test").code == 0
    assert cli("run", "metric", b, "loss", "0.3", "--split", "train").code == 0
    assert cli("run", "finish", b, "--exit-code", "0").code == 0
    write_tree(workdir, {"code.py": "print(1)\n"})
    git(workdir, "add", "code.py")
    git(workdir, "commit", "-q", "-m", "code")
    write_tree(workdir, {"code.py": "print(2)\n"})  # uncommitted change: dirty
    c = start(cli, "--kind", "evaluate", "-i", "test=test", "-p", "C=0.1", "-p", "depth=3")
    assert cli("run", "finish", c, "--exit-code", "1").code == 0
    return a, b, c


def rows(doc) -> dict[tuple, dict]:
    return {(r["section"], r["name"], r.get("split"), r.get("role")): r for r in doc["rows"]}


def test_json_side_by_side(cli, runs):
    a, b, c = runs
    r = cli("runs", "compare", a, b, c, "--format", "json")
    assert r.code == 0, r.stderr
    validate(r.json, "runs-compare.schema.json")
    assert [x["run_id"] for x in r.json["runs"]] == [a, b, c]
    got = rows(r.json)
    assert got[("param", "C", None, None)] == {"section": "param", "name": "C", "values": [1.0, 0.1, 0.1],
                                               "differs": True}
    assert got[("param", "seed", None, None)]["values"] == [7, 7, None]
    assert got[("param", "depth", None, None)]["values"] == [None, None, 3]
    assert got[("metric", "acc", "test", None)]["values"] == [0.84, 0.79, None]
    assert got[("metric", "loss", "train", None)]["values"] == [0.3, 0.3, None]
    train = got[("input", "train", None, "train")]
    assert train["differs"] and train["values"][2] is None
    assert {r.json["versions"][s] for s in train["values"][:2]} == {"train@1", "train@2"}
    test = got[("input", "test", None, "test")]
    assert len(set(test["values"])) == 1 and not test["differs"]
    assert got[("run", "kind", None, None)]["values"] == ["train", "train", "evaluate"]
    assert got[("run", "status", None, None)]["values"] == ["succeeded", "succeeded", "failed"]
    assert got[("run", "dirty", None, None)]["values"] == [False, False, True]
    commits = got[("run", "commit", None, None)]["values"]
    assert commits[0] == commits[1] != commits[2]
    assert cli("runs", "compare", a, b, "--json").json == cli("runs", "compare", a, b, "-F", "json").json


def test_only_diff_keeps_differing_rows(cli, runs):
    a, b, _ = runs
    r = cli("runs", "compare", a, b, "--only-diff", "--json")
    assert r.code == 0, r.stderr
    validate(r.json, "runs-compare.schema.json")
    names = {(x["section"], x["name"]) for x in r.json["rows"]}
    assert ("param", "C") in names and ("metric", "acc") in names and ("input", "train") in names
    assert ("param", "seed") not in names and ("metric", "loss") not in names
    assert ("input", "test") not in names and ("run", "kind") not in names
    assert all(x["differs"] for x in r.json["rows"])


def test_table_marks_differing_rows(cli, runs):
    a, b, _ = runs
    r = cli("runs", "compare", a, b, "--format", "table")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    c_line = next(x for x in lines if "param C" in x)
    seed_line = next(x for x in lines if "param seed" in x)
    assert "≠" in c_line and "≠" not in seed_line
    assert "1" in c_line and "0.1" in c_line
    assert any("metric acc (test)" in x for x in lines)
    assert any("input train train" in x and "(1)" in x and "(2)" in x for x in lines)
    short = {x["run_id"]: x["short_id"] for x in cli("runs", "compare", a, b, "--json").json["runs"]}
    assert short[a] in lines[0] and short[b] in lines[0]


def test_tsv_when_piped_and_csv(cli, runs):
    a, b, _ = runs
    r = cli("runs", "compare", a, b)  # captured stdout is not a terminal: TSV
    assert r.code == 0, r.stderr
    assert "│" not in r.stdout and "─" not in r.stdout
    table = [line.split("\t") for line in r.stdout.splitlines()]
    assert table[0] == ["differs", "section", "name", "split", "role", a, b]
    assert ["*", "param", "C", "", "", "1.0", "0.1"] in table
    assert ["", "param", "seed", "", "", "7", "7"] in table
    assert cli("runs", "compare", a, b, "--format", "tsv").stdout == r.stdout
    r = cli("runs", "compare", a, b, "--format", "csv", "--only-diff")
    parsed = list(csv.reader(io.StringIO(r.stdout)))
    assert parsed[0][:3] == ["differs", "section", "name"]
    assert all(row[0] == "*" for row in parsed[1:]) and len(parsed) > 1


@pytest.mark.parametrize("args, message", [
    (["runs", "compare", "RUN_A"], "two or more runs"),
    (["runs", "compare", "RUN_A", "RUN_A"], "named twice"),
    (["runs", "compare", "RUN_A", "nosuchrun"], "nosuchrun"),
    (["runs", "compare", "RUN_A", "RUN_B", "--format", "xml"], "unknown format"),
])
def test_bad_input_is_one_line_exit_2(cli, runs, args, message):
    a, b, _ = runs
    args = [a if x == "RUN_A" else b if x == "RUN_B" else x for x in args]
    r = cli(*args)
    assert r.code == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_runs_group_without_a_command_prints_help(cli, workdir):
    r = cli("runs")
    assert "compare" in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_python_api_returns_a_plain_structure(runs, workdir):
    import json

    import lineage

    a, b, _ = runs
    with lineage.open(workdir) as repo:
        result = lineage.compare_runs([a, b[:13]], repo=repo)
        doc = result.to_dict()
        validate(doc, "runs-compare.schema.json")
        assert json.loads(json.dumps(doc)) == doc
        assert [r["run_id"] for r in doc["runs"]] == [a, b]
        assert all(r["differs"] for r in lineage.compare_runs([a, b], only_diff=True, repo=repo).to_dict()["rows"])
        with pytest.raises(lineage.UsageError):
            lineage.compare_runs([a], repo=repo)
