"""Audit reports as SARIF 2.1.0 (code-scanning dashboards) and JUnit XML (CI test reports).

Both are pure functions of an ``AuditReport``; the CLI only prints what they return.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from lineage._version import __version__
from lineage.audit.engine import AuditReport
from lineage.audit.rules import Severity, load

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SARIF_LEVEL = {"critical": "error", "error": "error", "warning": "warning", "info": "note"}
_SECURITY_SEVERITY = {"critical": "9.5", "error": "7.0", "warning": "4.0", "info": "1.0"}


def _artifact(finding_evidence: dict[str, Any]) -> str:
    """A repository-relative path for the finding: the held-out data it concerns, if known."""
    for key in ("heldout", "test", "input", "train"):
        item = finding_evidence.get(key)
        if isinstance(item, dict) and item.get("path"):
            return str(item["path"])
        if isinstance(item, list) and item and isinstance(item[0], dict) and item[0].get("path"):
            return str(item[0]["path"])
    return ".lineage/lineage.db"


def sarif(report: AuditReport) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log with one run of the ``lineage`` tool."""
    catalogue = load()
    used = sorted({f.rule for f in report.findings} | set(report.rules))
    rule_index = {slug: i for i, slug in enumerate(used)}
    rules = []
    for slug in used:
        cls = catalogue.get(slug)
        doc = (cls.__doc__ or "").strip() if cls else ""
        first = doc.split("\n\n")[0].replace("\n", " ") if doc else slug
        rules.append({
            "id": slug,
            "name": "".join(part.title() for part in slug.split("-")),
            "shortDescription": {"text": first},
            "fullDescription": {"text": doc or first},
            "defaultConfiguration": {"level": _SARIF_LEVEL[cls.severity.name] if cls else "warning"},
            "properties": {"tags": ["ml", "data-leakage"],
                           "security-severity": _SECURITY_SEVERITY[cls.severity.name if cls else "warning"]},
        })
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": rule_index[f.rule],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": _artifact(f.evidence)},
                                     "region": {"startLine": 1}},
                "logicalLocations": [{"name": f.run_id, "kind": "module",
                                      "fullyQualifiedName": f"run/{f.run_id}"}],
            }],
            "partialFingerprints": {"lineageFinding/v1": f"{f.rule}:{f.run_id}"},
            "properties": {"severity": f.severity, "run_id": f.run_id, "evidence": f.evidence},
        }
        if f.waived:
            result["suppressions"] = [{"kind": "external", "status": "accepted",
                                       "justification": (f.waiver or {}).get("reason", "")}]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "lineage", "version": __version__,
                                "informationUri": "https://lineage.dev", "rules": rules}},
            "results": results,
            "properties": {"summary": report.summary},
        }],
    }


def junit(report: AuditReport) -> str:
    """The report as JUnit XML: one test suite per audited run, one test case per rule.

    A rule with unwaived findings at or above ``fail_on`` is a failure; below it, the
    findings are written to the case's system-out; waived findings are marked skipped.
    """
    threshold = None if report.fail_on == "never" else Severity.parse(report.fail_on)
    suites = ET.Element("testsuites", name="lineage audit")
    total = failures = skipped = 0
    for run in report.runs:
        rid = run["run_id"]
        suite = ET.SubElement(suites, "testsuite", name=f"run {rid}")
        s_tests = s_fail = s_skip = 0
        for slug in report.rules:
            found = [f for f in report.findings if f.run_id == rid and f.rule == slug]
            case = ET.SubElement(suite, "testcase", classname=f"lineage.audit.{run['kind']}", name=slug)
            s_tests += 1
            active = [f for f in found if not f.waived]
            failing = [f for f in active if threshold is not None and f.level >= threshold]
            if failing:
                s_fail += 1
                worst = max(failing, key=lambda f: f.level)
                el = ET.SubElement(case, "failure", message=worst.message, type=worst.severity)
                el.text = "\n".join(f"[{f.severity}] {f.message}" for f in failing)
            elif found and not active:
                s_skip += 1
                ET.SubElement(case, "skipped", message="waived: " + "; ".join(
                    (f.waiver or {}).get("reason", "") for f in found))
            if active and not failing:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(f"[{f.severity}] {f.message}" for f in active)
        suite.set("tests", str(s_tests))
        suite.set("failures", str(s_fail))
        suite.set("errors", "0")
        suite.set("skipped", str(s_skip))
        total, failures, skipped = total + s_tests, failures + s_fail, skipped + s_skip
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", "0")
    suites.set("skipped", str(skipped))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
