"""Output that suits where it goes (docs/cli.md, "Output formats"): every listing command
piped (plain TSV with a header: no box characters, nothing cut, full IDs), on an
80-column and a 200-column terminal (tables no wider than the terminal, IDs shortened
git-style and never split over lines), and in --format tsv, csv and json (which parse
back to the same rows, and the JSON still matches its schema)."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest

from conftest import run_subprocess, validate, write_tree

BOX = set("─━│┃┄┅┆┇┈┉┊┋┌┍┎┏┐┑┒┓└┕┖┗┘┙┚┛├┝┞┟┠┡┢┣┤┥┦┧┨┩┪┫┬┭┮┯┰┱┲┳┴┵┶┷┸┹┺┻┼╇╈╋═║╔╗╚╝╭╮╯╰")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG = ("first cut of the data, with a message long enough that an eighty-column terminal "
        "has to wrap it over several lines rather than cut it off at the edge")


@pytest.fixture
def demo(cli, workdir, monkeypatch):
    """Two snapshots of a dataset, a table, two runs with params and metrics, a waiver
    and a remote: something for every listing command to list."""
    monkeypatch.delenv("COLUMNS", raising=False)
    write_tree(workdir, {"data/train.csv": "x,y\n1,0\n2,1\n", "data/test.csv": "x,y\n3,1\n",
                         "t.csv": "when,x,name\n2024-01-01T00:00:00,1.5,alpha\n2024-03-05T12:30:00,2.5,b\n"})
    assert cli("snapshot", "data", "--name", "wine", "-m", LONG).code == 0
    write_tree(workdir, {"data/train.csv": "x,y\n1,0\n2,1\n4,0\n"})
    assert cli("snapshot", "data", "-m", "more rows").code == 0
    assert cli("snapshot", "t.csv").code == 0
    runs = []
    for c, acc in (("1.0", "0.84"), ("0.1", "0.79")):
        r = cli("run", "start", "--kind", "train", "-i", "train=data/train.csv", "-i", "test=data/test.csv",
                "-p", f"C={c}", "-p", "solver=a-rather-long-solver-name", "--json")
        assert r.code == 0, r.stderr
        rid = r.json["run_id"]
        assert cli("run", "metric", rid, "acc", acc, "--split", "test").code == 0
        assert cli("run", "finish", rid, "--exit-code", "0").code == 0
        runs.append(rid)
    assert cli("waive", "dirty-code", runs[0], "--reason", "a reason that is long enough to wrap on a "
               "narrow terminal, as reasons are", "--force").code == 0
    (workdir.parent / "remote").mkdir()
    assert cli("remote", "add", "origin", str(workdir.parent / "remote"), "--default").code == 0
    snaps = [e["snapshot"] for e in cli("log", "--json").json["snapshots"]]
    return {"runs": runs, "snapshots": snaps, "cli": cli, "monkeypatch": monkeypatch}


# every listing command: (arguments, whether piped output is TSV)
def commands(d):
    a, b = d["runs"]
    return [
        (["log"], True),
        (["log", "--runs"], True),
        (["query", "SELECT run_id, role, snapshot_id FROM run_inputs ORDER BY run_id"], True),
        (["query", "--schema"], True),
        (["waivers"], True),
        (["runs", "compare", a, b], True),
        (["remote", "list"], True),
        (["used-by", "data/train.csv"], True),
        (["show", "wine"], False),
        (["show", "t.csv", "--profile"], False),
        (["show", b], False),
        (["status"], False),
        (["rules"], False),
        (["provenance", b], False),
        (["gc", "--dry-run"], False),
    ]


def on_terminal(d, width, *args):
    """Run in a simulated terminal ``width`` columns wide (rich: force_terminal)."""
    from rich.console import Console

    from lineage.cli import output

    d["monkeypatch"].setenv("COLUMNS", str(width))
    output.set_console(Console(force_terminal=True, width=width, color_system=None, highlight=False,
                               soft_wrap=True))
    try:
        r = d["cli"](*args)
    finally:
        output.set_console(None)
        d["monkeypatch"].delenv("COLUMNS")
    assert r.code == 0, r.stderr
    return ANSI.sub("", r.stdout)


def assert_ids_whole(text, ids):
    """No ID is split over lines: every hex run in the output that is part of a known ID
    is the whole ID, a prefix of at least 7 characters, or a run ID's short form."""
    for token in re.findall(r"[0-9a-f][0-9a-f-]{3,}[0-9a-f]", text):
        for full in ids:
            if token in full and token != full:
                assert (full.startswith(token) and len(token) >= 7) or full.endswith(token) and len(token) == 8, \
                    f"{token!r} is a piece of {full}:\n{text}"


def known_ids(d):
    return d["runs"] + d["snapshots"]


def test_piped_listings_are_tsv_without_box_characters(demo):
    cli = demo["cli"]
    demo["monkeypatch"].setenv("COLUMNS", "80")  # piped output ignores the width
    for args, tsv in commands(demo):
        r = cli(*args)
        assert r.code == 0, (args, r.stderr)
        assert not BOX & set(r.stdout), (args, r.stdout)
        assert_ids_whole(r.stdout, known_ids(demo))
        if tsv:
            header = r.stdout.splitlines()[0]
            assert "\t" in header, (args, header)
    log = cli("log").stdout
    assert LONG in log  # nothing cut
    assert all(sid in log for sid in demo["snapshots"])  # full IDs
    assert max(len(line) for line in log.splitlines()) > 80
    runs = cli("log", "--runs").stdout
    assert all(rid in runs for rid in demo["runs"])
    tree = cli("provenance", demo["runs"][1]).stdout.splitlines()  # a tree: indented, not cut
    assert tree[0].startswith(f"train run {demo['runs'][1]} succeeded by Test User at ") and ", commit " in tree[0]
    assert tree[1].startswith("  ") and "data/t" in tree[1]


@pytest.mark.parametrize("width", [80, 200])
def test_terminal_tables_fit_and_never_split_ids(demo, width):
    for args, _ in commands(demo):
        text = on_terminal(demo, width, *args)
        lines = text.splitlines()
        assert lines, args
        too_wide = [line for line in lines if len(line) > width]
        assert not too_wide, (args, too_wide)
        assert_ids_whole(text, known_ids(demo))


def test_terminal_ids_are_shortened_git_style(demo):
    text = on_terminal(demo, 80, "log")
    for sid in demo["snapshots"]:
        assert re.search(rf"(^|\s){sid[:7]}(\s|$)", text, re.M) and sid not in text
    assert "message" in text.splitlines()[0]  # 80 columns keep the message, wrapped
    assert "eighty-column" in text and LONG not in text
    runs = on_terminal(demo, 80, "log", "--runs")
    from lineage.runs.model import short_id

    assert all(short_id(rid) in runs and rid not in runs for rid in demo["runs"])


def test_shortest_unique_prefix():
    from lineage.cli.output import shorten_ids

    assert shorten_ids(["abcdef012345", "abcdef987654"]) == 7
    assert shorten_ids(["abcdef0123", "abcdef0129"]) == 10
    assert shorten_ids([]) == 7


def test_query_keeps_ids_whole_on_a_narrow_terminal(demo):
    """Three 64-character columns cannot sit side by side on 80 columns: each row becomes a
    block of ``column  value`` lines, each ID on one line."""
    sql = "SELECT s.id AS a, s.id AS b, s.id AS c FROM snapshots s"
    text = on_terminal(demo, 80, "query", sql)
    assert all(max(len(line) for line in text.splitlines()) <= 80 for _ in [0])
    for sid in demo["snapshots"]:
        assert sum(sid in line for line in text.splitlines()) == 3
    wide = on_terminal(demo, 200, "query", sql)
    assert any(line.count(demo["snapshots"][0]) == 3 for line in wide.splitlines())


def _csv_rows(text, sep=","):
    return list(csv.DictReader(io.StringIO(text), delimiter=sep))


@pytest.mark.parametrize("args, key, field, schema", [
    (["log"], "snapshots", "snapshot", "log.schema.json"),
    (["log", "--runs"], "runs", "run_id", "log-runs.schema.json"),
    (["waivers"], "waivers", None, "waivers.schema.json"),
    (["remote", "list"], "remotes", "name", None),
    (["rules"], "rules", "rule", "rules.schema.json"),
])
def test_formats_parse_back_to_the_same_rows(demo, args, key, field, schema):
    cli = demo["cli"]
    doc = cli(*args, "--format", "json").json
    assert doc == cli(*args, "--json").json
    if schema:
        validate(doc, schema)
    items = doc[key]
    for fmt, sep in (("csv", ","), ("tsv", "\t")):
        r = cli(*args, "-F", fmt)
        assert r.code == 0, r.stderr
        rows = _csv_rows(r.stdout, sep)
        assert len(rows) == len(items)
        if field:
            assert [row[field] for row in rows] == [i[field] for i in items]
        else:  # waivers: the event ID
            assert [row["waiver_id"] for row in rows] == [i["event_id"] for i in items]


def test_query_formats_and_the_csv_synonym(demo):
    cli = demo["cli"]
    sql = "SELECT run_id, role, snapshot_id FROM run_inputs ORDER BY run_id, role"
    doc = cli("query", sql, "--json").json
    validate(doc, "query.schema.json")
    want = [[r["run_id"], r["role"], r["snapshot_id"]] for r in doc["rows"]]
    as_csv = cli("query", sql, "--csv").stdout
    assert as_csv == cli("query", sql, "--format", "csv").stdout == cli("query", sql, "-F", "csv").stdout
    assert [[r["run_id"], r["role"], r["snapshot_id"]] for r in _csv_rows(as_csv)] == want
    tsv = cli("query", sql, "-F", "tsv").stdout.splitlines()
    assert tsv[0] == "run_id\trole\tsnapshot_id" and [line.split("\t") for line in tsv[1:]] == want
    validate(cli("query", "--schema", "--json").json, "query-schema.schema.json")


def test_compare_and_used_by_parse_back(demo):
    cli = demo["cli"]
    a, b = demo["runs"]
    doc = cli("runs", "compare", a, b, "--json").json
    validate(doc, "runs-compare.schema.json")
    rows = _csv_rows(cli("runs", "compare", a, b, "-F", "csv").stdout)
    assert len(rows) == len(doc["rows"]) and a in rows[0] and b in rows[0]
    doc = cli("used-by", "data/train.csv", "--json").json
    validate(doc, "used-by.schema.json")
    rows = _csv_rows(cli("used-by", "data/train.csv", "-F", "csv").stdout)
    assert [r["run_id"] for r in rows] == [u["run_id"] for u in doc["uses"]]


def test_show_and_status_list_in_tsv_and_csv(demo):
    cli = demo["cli"]
    doc = cli("show", "wine", "--json").json
    validate(doc, "show.schema.json")
    rows = _csv_rows(cli("show", "wine", "-F", "csv").stdout)
    assert [r["path"] for r in rows] == [f["path"] for f in doc["files"]]
    assert [r["digest"] for r in rows] == [f["digest"] for f in doc["files"]]
    prof = _csv_rows(cli("show", "t.csv", "--profile", "-F", "tsv").stdout, "\t")
    when = next(r for r in prof if r["column"] == "when")
    assert when["min"] == "2024-01-01T00:00:00" and when["max"] == "2024-03-05T12:30:00"
    assert "e+15" not in cli("show", "t.csv", "--profile").stdout
    edges = cli("provenance", demo["runs"][1], "--json").json["edges"]
    rows = _csv_rows(cli("provenance", demo["runs"][1], "-F", "csv").stdout)
    assert [(r["child"], r["parent"], r["role"]) for r in rows] == [(e["child"], e["parent"], e["role"])
                                                                    for e in edges]
    st = _csv_rows(cli("status", "-F", "csv").stdout)
    assert {r["dataset"] for r in st} == {s["dataset"] for s in cli("status", "--json").json["datasets"]}


def test_profile_fits_the_terminal_with_iso_times(demo):
    text = on_terminal(demo, 80, "show", "t.csv", "--profile")
    assert "2024-01-01T00:00:00" in text and "e+15" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_bad_formats_are_one_line_errors(demo):
    cli = demo["cli"]
    for args in (["log", "-F", "xml"], ["query", "SELECT 1", "--csv", "--json"],
                 ["waivers", "--format", "yaml"], ["remote", "list", "-F", "html"]):
        r = cli(*args)
        assert r.code == 2 and r.stdout == "", args
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_oneline_stays_one_line_per_entry_when_piped(demo):
    lines = demo["cli"]("log", "--oneline").stdout.splitlines()
    assert len(lines) == len(demo["snapshots"]) and "\t" not in lines[0]
    assert demo["cli"]("log", "--oneline", "-F", "tsv").code == 2


def test_tty_compatible_and_columns_in_a_real_process(demo, workdir):
    """The environment a terminal program honours: TTY_COMPATIBLE=1 (rich) and COLUMNS."""
    env = {**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": "80", "NO_COLOR": "1"}
    p = run_subprocess(["log"], workdir, env=env)
    assert p.returncode == 0, p.stderr
    text = ANSI.sub("", p.stdout)
    assert max(len(line) for line in text.splitlines()) <= 80 and "message" in text
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("TTY_COMPATIBLE", None)
    piped = run_subprocess(["log"], workdir, env=env).stdout
    assert piped.splitlines()[0].startswith("dataset\tversion\tsnapshot\t") and not BOX & set(piped)
    assert json.loads(run_subprocess(["log", "-F", "json"], workdir, env=env).stdout)["snapshots"]
