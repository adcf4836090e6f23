"""Waivers through the CLI: matched to a current finding (or forced), expiring, revoked,
listed; waived findings still shown, marked waived, and never counted towards --fail-on."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import time
from xml.etree import ElementTree as ET

import pytest

from conftest import CLI, validate
from audit.conftest import leaky_pipeline

REASON = "known duplicates, accepted by QA"


@pytest.fixture
def leaky(lab):
    """A clean pipeline, then a second model trained with 5 test rows copied into train."""
    return leaky_pipeline(lab)


@pytest.fixture
def wcli(lab, capsys):
    return CLI(lab.root, capsys)


def _overlap(wcli, run_id):
    r = wcli("audit", run_id, "--json", "--rule", "exact-overlap")
    validate(r.json, "audit.schema.json")
    [f] = r.json["findings"]
    return r, f


def _one_line_error(r, text):
    assert r.code == 2, r
    assert text in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def _events(lab, *types):
    conn = sqlite3.connect(lab.root / ".lineage" / "lineage.db")
    try:
        return [(t, json.loads(b)) for t, b in conn.execute(
            "SELECT type, body FROM events WHERE type IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (json.dumps(types),))]
    finally:
        conn.close()


# -- a waiver must match a current finding ------------------------------------------

def test_a_waiver_of_a_current_finding_is_recorded_and_marks_it(wcli, leaky):
    r = wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON, "--json")
    assert r.code == 0, r
    validate(r.json, "waiver.schema.json")
    assert r.json["forced"] is False and r.json["expires"] is None and r.json["status"] == "active"
    r, f = _overlap(wcli, leaky["leaky_eval"])
    assert r.code == 0 and r.json["summary"]["waived"] == 1 and r.json["summary"]["error"] == 0
    assert f["waived"] is True and f["waiver"]["reason"] == REASON
    assert f["waiver"]["user"] == "Test User <test@example.com>" and f["waiver"]["forced"] is False


def test_a_waiver_without_a_current_finding_is_refused(wcli, leaky):
    # the clean evaluation has no exact-overlap finding: nothing to waive
    r = wcli("waive", "exact-overlap", leaky["evaluate"], "--reason", "pre-emptive")
    _one_line_error(r, "no finding")
    assert "--force" in r.stderr
    assert wcli("waivers", "--all", "--json").json == {"waivers": []}


def test_force_records_a_waiver_without_a_finding_marked_forced(wcli, leaky, lab):
    r = wcli("waive", "exact-overlap", leaky["evaluate"], "--reason", "pre-emptive", "--force", "--json")
    assert r.code == 0, r
    validate(r.json, "waiver.schema.json")
    assert r.json["forced"] is True
    [(_, body)] = _events(lab, "audit.waive")
    validate(body, "waiver-events.schema.json")
    assert body["forced"] is True
    listed = wcli("waivers", "--json").json["waivers"]
    assert [w["forced"] for w in listed] == [True]


@pytest.mark.parametrize("args, message", [
    (["waive", "exact-overlap", "RUN", "--reason", " "], "needs a reason"),
    (["waive", "exact-overlap", "RUN"], "needs a reason"),
    (["waive", "no-such-rule", "RUN", "--reason", "x"], "unknown rule"),
    (["waive", "exact-overlap", "no-such-run", "--reason", "x"], "no run matches"),
    (["waive", "exact-overlap"], "RULE RUN"),
    (["waive", "exact-overlap", "RUN", "--reason", "x", "--expires", "soon"], "--expires"),
    (["waive", "exact-overlap", "RUN", "--reason", "x", "--expires", "2001-01-01"], "not in the future"),
    (["waive", "--revoke", "zz"], "not a waiver ID"),
    (["waive", "--revoke", "abcdef12"], "no waiver matches"),
    (["waive", "--revoke", "exact-overlap", "RUN"], "no waiver in force"),
    (["waive", "--revoke", "abcdef12", "--force"], "--revoke"),
    (["waivers", "--format", "yaml"], "table, tsv, csv or json"),
])
def test_bad_waiver_usage_exits_2_with_one_line(wcli, leaky, args, message):
    args = [leaky["leaky_eval"] if a == "RUN" else a for a in args]
    _one_line_error(wcli(*args), message)


# -- expiry ---------------------------------------------------------------------------

def test_an_expired_waiver_no_longer_applies(wcli, leaky):
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)).isoformat()
    r = wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON, "--expires", soon, "--json")
    assert r.code == 0, r
    assert r.json["expires"].startswith(soon[:19])
    r, f = _overlap(wcli, leaky["leaky_eval"])
    assert f["waived"] is True and r.code == 0          # before the expiry: waived
    assert f["waiver"]["expires"] == wcli("waivers", "--json").json["waivers"][0]["expires"]
    time.sleep(3.2)
    r, f = _overlap(wcli, leaky["leaky_eval"])
    assert f["waived"] is False and f["waiver"] is None  # after it: counts again
    assert r.code == 1 and r.json["summary"]["waived"] == 0
    assert wcli("waivers", "--json").json["waivers"] == []
    [w] = wcli("waivers", "--all", "--json").json["waivers"]
    assert w["status"] == "expired"


def test_durations_and_dates_are_accepted_as_expiries(wcli, leaky):
    now = dt.datetime.now(dt.timezone.utc)
    r = wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON, "--expires", "30d", "--json")
    until = dt.datetime.fromisoformat(r.json["expires"].replace("Z", "+00:00"))
    assert dt.timedelta(days=29, hours=23) < until - now < dt.timedelta(days=30, minutes=5)
    r = wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON, "--expires", "2999-01-31",
             "--json")
    assert r.json["expires"] == "2999-01-31T00:00:00.000000Z"
    _, f = _overlap(wcli, leaky["leaky_eval"])
    assert f["waived"] is True and f["waiver"]["expires"] == "2999-01-31T00:00:00.000000Z"  # the latest


# -- revoking -------------------------------------------------------------------------

def test_revoking_by_id_prefix_makes_the_finding_count_again(wcli, leaky, lab):
    w = wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON, "--json").json
    r = wcli("waive", "--revoke", w["event_id"][:10], "--reason", "the copies must go", "--json")
    assert r.code == 0, r
    validate(r.json, "waivers.schema.json")
    [done] = r.json["waivers"]
    assert done["status"] == "revoked" and done["revoked"]["reason"] == "the copies must go"
    r, f = _overlap(wcli, leaky["leaky_eval"])
    assert f["waived"] is False and r.code == 1
    assert wcli("waivers", "--json").json["waivers"] == []
    [listed] = wcli("waivers", "--all", "--json").json["waivers"]
    assert listed["status"] == "revoked" and listed["revoked"]["user"] == "Test User <test@example.com>"
    for _, body in _events(lab, "audit.waive", "audit.unwaive"):
        validate(body, "waiver-events.schema.json")
    _one_line_error(wcli("waive", "--revoke", w["event_id"]), "already revoked")


def test_revoking_by_rule_and_run_needs_no_reason(wcli, leaky):
    wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON)
    wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", "again, with more detail")
    r = wcli("waive", "--revoke", "exact-overlap", leaky["leaky_eval"], "--json")
    assert r.code == 0, r
    assert len(r.json["waivers"]) == 2 and all(w["revoked"]["reason"] is None for w in r.json["waivers"])
    assert _overlap(wcli, leaky["leaky_eval"])[1]["waived"] is False


def test_revoking_one_waiver_leaves_another_in_force(wcli, leaky):
    wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON)
    second = wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", "second look", "--json").json
    assert wcli("waive", "--revoke", second["event_id"]).code == 0
    _, f = _overlap(wcli, leaky["leaky_eval"])
    assert f["waived"] is True and f["waiver"]["reason"] == REASON


# -- listing ------------------------------------------------------------------------

def test_waivers_lists_who_what_when_why_in_every_format(wcli, leaky):
    wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON, "--expires", "2999-01-01")
    wcli("waive", "exact-overlap", leaky["evaluate"], "--reason", "pre-emptive, tab\there", "--force")
    r = wcli("waivers", "--json")
    validate(r.json, "waivers.schema.json")
    assert [w["run_id"] for w in r.json["waivers"]] == [leaky["leaky_eval"], leaky["evaluate"]]
    assert wcli("waivers", "--format", "json").json == r.json
    only = wcli("waivers", leaky["evaluate"], "--json").json["waivers"]
    assert [w["reason"] for w in only] == ["pre-emptive, tab\there"]
    tsv = wcli("waivers").stdout.splitlines()       # piped: TSV with a header
    assert tsv[0].split("\t")[:4] == ["waiver_id", "rule", "run_id", "status"]
    assert len(tsv) == 3 and all(len(line.split("\t")) == len(tsv[0].split("\t")) for line in tsv)
    rows_ = list(csv.DictReader(io.StringIO(wcli("waivers", "--format", "csv").stdout)))
    assert rows_[0]["reason"] == REASON and rows_[0]["expires"].startswith("2999-01-01")
    assert rows_[1]["forced"] == "yes" and rows_[0]["user"] == "Test User <test@example.com>"
    table = wcli("waivers", "--format", "table").stdout
    assert "exact-overlap" in table and "forced" in table and "QA" in table


# -- the report -----------------------------------------------------------------------

def test_waived_findings_show_in_every_format_and_never_fail(wcli, leaky, tmp_path):
    wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON)
    text = wcli("audit", leaky["leaky_eval"], "--rule", "exact-overlap", "--fail-on", "info")
    assert text.code == 0 and "waived by Test User" in text.stdout and "QA" in text.stdout
    out = tmp_path / "report.txt"
    wcli("audit", leaky["leaky_eval"], "--rule", "exact-overlap", "-o", str(out))
    assert "(waived by Test User on " in out.read_text()
    sarif = json.loads(wcli("audit", leaky["leaky_eval"], "--rule", "exact-overlap", "--format", "sarif").stdout)
    [res] = sarif["runs"][0]["results"]
    assert res["suppressions"][0]["status"] == "accepted" and res["suppressions"][0]["justification"] == REASON
    junit = ET.fromstring(wcli("audit", leaky["leaky_eval"], "--rule", "exact-overlap", "--format", "junit").stdout
                          .split("\n", 1)[1])
    assert junit.get("failures") == "0" and junit.get("skipped") == "1"
    # the other rules on the same run are not waived: they still fail
    assert wcli("audit", leaky["leaky_eval"]).code == 1


def test_waivers_survive_a_rebuild_and_verify_clean(wcli, leaky):
    w = wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", REASON, "--json").json
    wcli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", "second", "--expires", "2999-01-01")
    wcli("waive", "--revoke", w["event_id"])
    before = wcli("waivers", "--all", "--json").json
    assert wcli("verify").code == 0
    assert wcli("rebuild").code == 0
    assert wcli("waivers", "--all", "--json").json == before
    assert wcli("verify").code == 0
