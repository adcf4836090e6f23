"""Audit reports as text (people), SARIF 2.1.0 (code-scanning dashboards) and JUnit XML
(CI test reports).

Each is a pure function of an ``AuditReport``; the CLI only prints what they return.
"""

from __future__ import annotations

import textwrap
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


# -- text -------------------------------------------------------------------------

#: items of an evidence list shown without ``verbose`` ("and 3 more" for the rest)
SHOWN = 3
#: example rows shown without ``verbose``
EXAMPLE_ROWS = 5
_SNAPSHOT_KEYS = {"snapshot", "snapshot_id", "content_key"}
_HIDDEN = {"cause"}  # what groups findings; the grouped ones are listed under "related"
_LABELS = {"heldout": "held-out", "train": "trained on", "test": "test set", "examples": "rows"}


def report_from_dict(d: dict[str, Any]) -> AuditReport:
    """The report back from its JSON form (``lineage audit --format json``)."""
    from lineage.audit.rules import Finding

    return AuditReport(list(d["runs"]), [Finding.from_dict(f) for f in d["findings"]],
                       list(d["rules"]), d["summary"]["fail_on"], dict(d.get("meta") or {}))


def summary_line(report: AuditReport) -> str:
    """``PASS|FAIL: 2 error, 1 warning, 1 waived in 3 run(s), 14 rule(s) (fail on error)``."""
    s = report.summary
    parts = [f"{s[k]} {k}" for k in ("critical", "error", "warning", "info") if s[k]]
    found = ", ".join(parts) if parts else "no findings"
    waived = f", {s['waived']} waived" if s["waived"] else ""
    verdict = "FAIL" if report.exit_code() else "PASS"
    return (f"{verdict}: {found}{waived} in {s['runs']} run(s), {s['rules']} rule(s) "
            f"(fail on {report.fail_on})")


def waived_note(f: Any) -> str:
    """``waived by NAME on DATE[, until DATE][, forced]: REASON`` for a waived finding."""
    w = f.waiver or {}
    who = (w.get("user") or "unknown").split(" <")[0]
    extra = (f", until {w['expires'][:10]}" if w.get("expires") else "") + (", forced" if w.get("forced") else "")
    return f"waived by {who} on {(w.get('time') or '')[:10]}{extra}: {w.get('reason', '')}"


def text(report: AuditReport, *, width: int = 80, verbose: bool = False) -> str:
    """The report for people: each finding, its message, and under it its evidence.

    Evidence lines name the held-out and training inputs (dataset, path, snapshot ID),
    the runs concerned, the counts, up to five example rows as ``file:row``, and the
    related findings of the same cause. ``verbose`` shows every field and every item,
    with full snapshot IDs. Lines are wrapped to ``width``; IDs are never split.
    """
    width = max(width, 40)
    out: list[str] = []
    for f in report.findings:
        out.append(_fill(f"{f.severity.upper()}  {f.rule}  run {f.run_id}", width, "", "    "))
        out.append(_fill(f.message, width, "  ", "  "))
        if f.waived:
            out.append(_fill(f"({waived_note(f)})", width, "  ", "   "))
        out.extend(_fill(line, width, "    ", "      ") for line in evidence_lines(f.evidence, verbose=verbose))
        out.append("")
    out.append(_fill(summary_line(report), width, "", "  "))
    return "\n".join(out) + "\n"


def evidence_lines(evidence: dict[str, Any], *, verbose: bool = False) -> list[str]:
    """One line per piece of evidence (unwrapped): ``label: value``."""
    lines: list[str] = []
    counts: list[str] = []
    for key, value in evidence.items():
        if key in _HIDDEN and not verbose:
            continue
        label = _LABELS.get(key, key.replace("_", " "))
        if key == "related":
            lines += [f"related ({r.get('severity')}) {r.get('rule')}: {r.get('message')}" for r in value or []]
        elif key == "examples":
            rows = [_row(e, _base(evidence)) for e in value or []]
            shown = rows if verbose else rows[:EXAMPLE_ROWS]
            if shown:
                lines.append("rows: " + ", ".join(shown) + _more(len(rows) - len(shown)))
        elif isinstance(value, bool) or value is None:
            if verbose:
                lines.append(f"{label}: {value}")
        elif isinstance(value, (int, float)):
            counts.append(f"{label} {_number(key, value)}")
        elif isinstance(value, dict):
            lines.append(f"{label}: {_item(value, verbose)}")
        elif isinstance(value, (list, tuple)):
            items = list(value)
            shown = items if verbose else items[:SHOWN]
            if not items:
                if verbose:
                    lines.append(f"{label}: none")
            elif len(items) == 1 or not all(isinstance(i, dict) for i in items):
                lines.append(f"{label}: " + "; ".join(
                    _item(i, verbose) if isinstance(i, dict) else str(i) for i in shown)
                    + _more(len(items) - len(shown)))
            else:
                lines.append(f"{label} ({len(items)}):")
                lines += [f"  {_item(i, verbose)}" for i in shown]
                if len(items) > len(shown):
                    lines.append(f"  ...{_more(len(items) - len(shown))[1:]}")
        else:
            value = str(value)
            if key in _SNAPSHOT_KEYS and not verbose:
                value = value[:12]
            lines.append(f"{label}: {value}")
    if counts:
        lines.insert(0, "counts: " + ", ".join(counts))
    return lines


def _item(d: dict[str, Any], verbose: bool) -> str:
    """An input, a run or any other record of the evidence on one line."""
    if "file" in d and "row" in d and len(d) == 2:
        return _row(d)
    if "snapshot" in d:  # an input, or who read one: role dataset (path) snapshot ID, run ID
        name = d.get("dataset") or ""
        path = d.get("path") or ""
        where = f"{name} ({path})" if name and path and name != path else name or path
        sid = str(d["snapshot"] or "")
        text = " ".join(p for p in (d.get("role") or "", where, f"snapshot {sid if verbose else sid[:12]}") if p)
        run = d.get("run_id") or d.get("run")
        if run:
            text += f", by run {run}" + (f" ({d['kind']})" if d.get("kind") else "")
        extra = {k: v for k, v in d.items()
                 if k not in {"snapshot", "dataset", "path", "role", "run_id", "run", "kind"}}
        return text + ("; " + _pairs(extra, verbose) if extra and verbose else "")
    return _pairs(d, verbose)


def _pairs(d: dict[str, Any], verbose: bool) -> str:
    parts = []
    for k, v in d.items():
        if v is None and not verbose:
            continue
        if isinstance(v, dict):
            v = "{" + _pairs(v, verbose) + "}"
        elif isinstance(v, (list, tuple)):
            v = "[" + ", ".join(_item(i, verbose) if isinstance(i, dict) else str(i) for i in v) + "]"
        elif k in _SNAPSHOT_KEYS and isinstance(v, str) and not verbose:
            v = v[:12]
        elif isinstance(v, float):
            v = _number(k, v)
        parts.append(f"{k} {v}")
    return ", ".join(parts)


def _base(evidence: dict[str, Any]) -> str | None:
    """The path of the snapshot the example rows come from (their files are relative to it)."""
    for key in ("heldout", "test", "input"):
        item = evidence.get(key)
        if isinstance(item, dict) and item.get("path"):
            return str(item["path"])
    return None


def _row(e: dict[str, Any], base: str | None = None) -> str:
    """``file:row``, the file from the repository root when the snapshot's path is known."""
    f = str(e.get("file"))
    if base and base not in (".", f) and not base.endswith("/" + f):
        f = f"{base}/{f}"
    elif base and base.endswith("/" + f):
        f = base
    return f"{f}:{e.get('row')}"


def _number(key: str, value: float) -> str:
    if key == "fraction" and isinstance(value, float):
        return f"{value:.2%}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _more(n: int) -> str:
    return f" ... and {n} more" if n > 0 else ""


def _fill(line: str, width: int, first: str, rest: str) -> str:
    """``line`` wrapped to ``width``; words (IDs, paths) are never split."""
    return textwrap.fill(line, width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or first.rstrip()


# -- rules ------------------------------------------------------------------------

def rule_help(item: dict[str, Any]) -> dict[str, Any]:
    """A ``catalogue()`` entry with its docstring made plain: ``paragraphs`` (one string per
    paragraph or list item, no hard line breaks), ``description`` (them, blank-line
    separated), and ``checks`` (the first), ``why`` (the rest before "Fix:") and ``fix``."""
    import inspect
    import re

    paras: list[str] = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(item.get("description") or "")):
        current: list[str] = []
        for line in block.splitlines():
            if re.match(r"\s*[-*] ", line) and current:
                paras.append(" ".join(current))
                current = []
            current.append(line.strip())
        if current:
            paras.append(" ".join(current))
    paras = [re.sub(r"\s+", " ", p).strip() for p in paras if p.strip()]
    fix = ""
    parts: list[str] = []  # the paragraphs with "Fix: ..." taken out
    for p in paras:
        before, found, after = p.partition("Fix:")
        if found and not fix:
            fix = after.strip()
        if before.strip():
            parts.append(before.strip())
    checks = parts[0] if parts else item.get("title", "")
    return {**item, "description": "\n\n".join(paras), "paragraphs": paras,
            "checks": checks, "why": " ".join(parts[1:]), "why_paragraphs": parts[1:], "fix": fix}


def rules_text(items: list[dict[str, Any]], *, width: int = 80) -> str:
    """``lineage rules``: per rule its slug and severity, title, then what it checks, why it
    matters and how to fix it, and its options; wrapped to ``width``."""
    width = max(width, 40)
    out: list[str] = []
    for raw in items:
        r = rule_help(raw)
        out.append(f"{r['rule']}  ({r['severity']})")
        out.append(_fill(r["title"], width, "  ", "  "))
        pad = " " * 13
        out.append(_fill(f"{'checks:':9}{r['checks']}", width, "    ", pad))
        for i, para in enumerate(r["why_paragraphs"]):
            # a list item keeps its dash; its continuation lines hang under its text
            out.append(_fill(para, width, "    " + (f"{'why:':9}" if i == 0 else pad[4:]),
                             pad + ("  " if para.startswith(("- ", "* ")) else "")))
        if r["fix"]:
            out.append(_fill(f"{'fix:':9}{r['fix']}", width, "    ", pad))
        if r.get("options"):
            opts = ", ".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}"
                             for k, v in r["options"].items())
            out.append(_fill(f"{'options:':9}{opts}", width, "    ", pad))
        out.append("")
    return "\n".join(out)
