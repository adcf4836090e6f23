"""The report as Markdown, short enough for a pull-request comment: the summary, the
findings, the test-set usage and the reproduce commands; the integrity record rides
along in an HTML comment so that ``lineage verify --against`` reads it."""

from __future__ import annotations

from typing import Any

from lineage.report.build import Report, short
from lineage.report.html import integrity_json

#: findings listed before "and N more"
MAX_FINDINGS = 15


def md(value: Any) -> str:
    """Text safe in a Markdown table cell or line: no markup, no raw HTML."""
    text = "" if value is None else str(value)
    for ch in "\\`*_[]<>|#":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def code(value: Any) -> str:
    text = ("" if value is None else str(value)).replace("\n", " ")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def render(r: Report) -> str:
    s = r.audit.summary
    lines = [f"## lineage report: {md(r.target['ref'])}", ""]
    verdict = "✅ PASS" if r.verdict == "pass" else "❌ FAIL"
    lines.append(f"**Audit: {verdict}** ({s['critical']} critical, {s['error']} error, {s['warning']} warning, "
                 f"{s['info']} info, {s['waived']} waived; {len(r.audited)} run(s), fail on {s['fail_on']})")
    lines.append("")
    run = r.run
    if run is not None:
        models = ", ".join(code(i.path or short(i.snapshot_id)) for i in run.inputs if i.role == "model")
        outputs = ", ".join(code(o.path or short(o.snapshot_id)) for o in run.outputs) or "none written"
        commit = run.git.get("commit")
        git = code(commit) if commit else "not in git"
        if run.git.get("dirty"):
            git += " **DIRTY** (uncommitted changes: the commit does not reproduce it)"
        lines += [f"- run {code(run.run_id)} ({md(run.kind)}, {md(run.status)}) by {md(run.user)}, "
                  f"{md(run.started)}",
                  *([f"- model: {models}"] if models else []), f"- outputs: {outputs}", f"- commit: {git}", ""]
    if r.audit.findings:
        lines += ["| severity | rule | run | message | waiver |", "|---|---|---|---|---|"]
        for f in r.audit.findings[:MAX_FINDINGS]:
            w = f.waiver or {}
            waiver = f"{md(w.get('user'))}, {md(w.get('time'))}: {md(w.get('reason'))}" if f.waived else ""
            lines.append(f"| {f.severity} | {code(f.rule)} | {code(short(f.run_id)[:13])} | {md(f.message)} "
                         f"| {waiver} |")
        if len(r.audit.findings) > MAX_FINDINGS:
            lines.append(f"\n… and {len(r.audit.findings) - MAX_FINDINGS} more (see the HTML report)")
        lines.append("")
    for g in r.test_usage:
        o = g["optimism"]
        fig = f"; selection-optimism {o['optimism']:.4f} (k={o['k']}, n={o['n']})" if o and o["k"] > 1 else ""
        runs = ", ".join(code(x["run_id"][:13]) + ("" if x["final"] else f" ({md(x['kind'])})")
                         for x in g["scorings"])
        readers = ", ".join(code(x["run_id"][:13]) + f" ({md(x['kind'])})" for x in g["readers"])
        scored = f"scored {len(g['scorings'])} time(s)" if g["scorings"] else "never scored"
        lines.append(f"- test content {code(short(g['snapshot']))} {scored}"
                     + (f": {runs}" if runs else "") + fig + (f"; also read by {readers}" if readers else ""))
    if r.test_usage:
        lines.append("")
    if r.reproduce["commands"]:
        lines += ["<details><summary>Reproduce</summary>", "", "```sh", *r.reproduce["commands"], "```", "",
                  "</details>", ""]
    lines.append(f"<!-- lineage-integrity {integrity_json(r.integrity)} -->")
    return "\n".join(lines) + "\n"
