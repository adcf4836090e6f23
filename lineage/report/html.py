"""The report as one self-contained HTML file: inline CSS and SVG, no script that runs,
nothing fetched when it is opened. Every user-controlled text is escaped."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from lineage.report import plots
from lineage.report.build import Report, short
from lineage.runs import graphview

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:16px 0 4px}h2{font-size:17px;margin:0 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:14px 18px;margin:14px 0}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#fafbfc;font-weight:600}
.pass{color:#1a7f37;font-weight:700}.fail{color:#c00000;font-weight:700}
.dirty{background:#c00000;color:#fff;padding:1px 6px;border-radius:3px;font-weight:700}
.sev{padding:1px 6px;border-radius:3px;color:#fff;font-size:12px}
.sev-critical{background:#c00000}.sev-error{background:#e02020}.sev-warning{background:#f08000}.sev-info{background:#b08a00}
.waived{color:#666}.graph{overflow:auto;border:1px solid #eee}.graph svg{display:block;margin:0 auto}
.plots{display:flex;flex-wrap:wrap;gap:10px}pre{background:#f6f8fa;padding:8px 10px;overflow:auto;white-space:pre-wrap;word-break:break-all}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0}dl.kv dt{color:#555}dl.kv dd{margin:0}
.muted{color:#666}
.usage td:nth-child(2) code{white-space:nowrap;word-break:normal}
"""

SECTIONS = ("summary", "graph", "datasets", "findings", "plots", "test-usage", "reproduce", "integrity")


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def integrity_json(record: dict[str, Any]) -> str:
    """JSON safe inside a script element or an HTML comment: no <, > or & characters."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render(r: Report) -> str:
    title = f"lineage report: {r.target['ref']}"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             # nothing may be fetched: a Content-Security-Policy that forbids it
             '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
             'style-src \'unsafe-inline\'; img-src data:">',
             f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>",
             f"<h1>{e(title)}</h1>",
             f'<p class="muted">Generated {e(r.generated)} by lineage.</p>',
             _summary(r), _graph(r), _datasets(r), _findings(r), _plots(r), _usage(r), _reproduce(r),
             _integrity(r), "</main></body></html>"]
    return "\n".join(parts) + "\n"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{e(title)}</h2>\n{body}\n</section>'


def _kv(rows: list[tuple[str, str]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _summary(r: Report) -> str:
    s = r.audit.summary
    counts = ", ".join(f"{s[k]} {k}" for k in ("critical", "error", "warning", "info")) + f", {s['waived']} waived"
    rows = [("target", f"{e(r.target['kind'])} <code>{e(r.target['ref'])}</code>")]
    run = r.run
    if run is not None:
        models = ", ".join(f"<code>{e(i.path or short(i.snapshot_id))}</code>"
                           for i in run.inputs if i.role == "model")
        outputs = ", ".join(f"<code>{e(o.path or short(o.snapshot_id))}</code>" for o in run.outputs) or "none written"
        command = " ".join(run.command) if run.command else "(recorded through the Python API)"
        commit = run.git.get("commit")
        git = f"<code>{e(commit)}</code>" if commit else "not in a git work tree"
        if run.git.get("dirty"):
            git += ' <span class="dirty">DIRTY</span> the work tree had uncommitted changes'
        rows += ([("model", models)] if models else []) + [("outputs", outputs),
                 ("run", f"<code>{e(run.run_id)}</code> ({e(run.kind)}, {e(run.status)})"),
                 ("command", f"<code>{e(command)}</code>"),
                 ("ran by", f"{e(run.user)} on {e(run.host)}"),
                 ("when", f"{e(run.started)} → {e(run.ended or 'not finished')}"),
                 ("code commit", git)]
    verdict = r.verdict
    rows += [("audit verdict", f'<span class="{verdict}">{verdict.upper()}</span> '
                               f"(fail on {e(s['fail_on'])}; {len(r.audited)} run(s) audited)"),
             ("findings", e(counts))]
    return _section("summary", "Summary", _kv(rows))


#: the width the graph has on the page before it scrolls (main's 1100 px less the paddings)
GRAPH_WIDTH = 1010.0


def graph_direction(r: Report) -> str:
    """Left to right when that fits the page, else top to bottom when that is narrower:
    a long pipeline reads better down the page than scrolled sideways."""
    lr_w, _ = graphview.svg_size(r.graph, "LR")
    if lr_w <= GRAPH_WIDTH:
        return "LR"
    tb_w, _ = graphview.svg_size(r.graph, "TB")
    return "TB" if tb_w < lr_w else "LR"


def _graph(r: Report) -> str:
    svg = graphview.to_svg(r.graph, r.marks, direction=graph_direction(r))
    svg = svg.split("?>", 1)[1] if svg.startswith("<?xml") else svg
    note = ('<p class="muted">Snapshots are square, runs rounded. Edge colours give the input role '
            "(see the legend); nodes of a finding are outlined in its severity's colour.</p>")
    return _section("graph", "Provenance graph", note + f'<div class="graph">{svg}</div>')


def _datasets(r: Report) -> str:
    out = []
    for d in r.datasets:
        name = f"{d['dataset']}@{d['version']}" if d["dataset"] else (d["path"] or "(unnamed)")
        decl = ", ".join(f"{k}: {v}" for k, v in sorted(d["declarations"].items())) or "none declared"
        where = []
        for s in d["stored"]:
            state = {True: "holds it", False: "does not hold it", None: "not checked"}[s["has"]]
            where.append(f"{e(s['where'])}" + (f" (<code>{e(s['url'])}</code>)" if s.get("url") else "")
                         + f": {state}")
        if len(d["stored"]) == 1:
            where.append("local store only (no remote configured)")
        rows = [("snapshot", f"<code>{e(d['id'])}</code>"), ("path", f"<code>{e(d['path'])}</code>"),
                ("files", f"{e(d['files'])} ({e(d['bytes'])} bytes)"),
                ("rows", e(d["rows"]) if d["rows"] is not None else "not tabular"),
                ("declared columns", e(decl)), ("stored", "; ".join(where))]
        if d.get("note"):
            rows.append(("note", e(d["note"])))
        schema = ""
        for f in d["schema"]:
            cols = "".join(f"<tr><td><code>{e(c['name'])}</code></td><td>{e(c['type'])}</td></tr>"
                           for c in f["columns"])
            schema += (f"<details><summary><code>{e(f['path'])}</code>: {e(f['format'])}, {e(f['rows'])} rows, "
                       f"{len(f['columns'])} columns</summary><table><tr><th>column</th><th>type</th></tr>{cols}"
                       "</table></details>")
        out.append(f'<div class="dataset" data-snapshot="{e(d["id"])}"><h3>{e(name)}</h3>{_kv(rows)}{schema}</div>')
    return _section("datasets", "Datasets", "\n".join(out) or "<p>No snapshots.</p>")


def evidence_html(value: Any, depth: int = 0) -> str:
    if isinstance(value, dict):
        return _kv([(str(k), evidence_html(v, depth + 1)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        items = "".join(f"<li>{evidence_html(v, depth + 1)}</li>" for v in value[:10])
        more = f"<li>… {len(value) - 10} more</li>" if len(value) > 10 else ""
        return f"<ul>{items}{more}</ul>"
    return f"<code>{e(value)}</code>"


def _findings(r: Report) -> str:
    if not r.audit.findings:
        return _section("findings", "Findings", "<p>No findings: every rule passed on the audited runs.</p>")
    out = []
    for f in r.audit.findings:
        ev = {k: v for k, v in f.evidence.items() if k != "related"}
        waiver = ""
        if f.waived and f.waiver:
            w = f.waiver
            waiver = (f'<p class="waiver">Waived by {e(w.get("user"))} on {e(w.get("time"))}: '
                      f'{e(w.get("reason"))}' + (f" (until {e(w['expires'])})" if w.get("expires") else "") + "</p>")
        related = "".join(f"<li>{e(x.get('rule'))} ({e(x.get('severity'))}): {e(x.get('message'))}</li>"
                          for x in f.evidence.get("related") or [])
        out.append(f'<div class="finding{" waived" if f.waived else ""}" data-rule="{e(f.rule)}" '
                   f'data-run="{e(f.run_id)}"><h3><span class="sev sev-{e(f.severity)}">{e(f.severity)}</span> '
                   f"<code>{e(f.rule)}</code> on run <code>{e(f.run_id)}</code>"
                   f'{" (waived)" if f.waived else ""}</h3><p>{e(f.message)}</p>{waiver}'
                   + (f"<p>Related findings (same cause):</p><ul>{related}</ul>" if related else "")
                   + f"<details><summary>evidence</summary>{evidence_html(ev)}</details></div>")
    return _section("findings", "Findings", "\n".join(out))


def _plots(r: Report) -> str:
    if not r.plots:
        return _section("plots", "Distribution plots", "<p>No distribution-shift finding: nothing to plot.</p>")
    out = []
    for p in r.plots:
        charts = [c for c in (plots.chart(col) for col in p["columns"]) if c]
        out.append(f"<h3>{e(p['role'])} set <code>{e(short(p['heldout']))}</code> vs training "
                   f"<code>{e(short(p['train']))}</code> (run <code>{e(p['run_id'])}</code>)</h3>"
                   f'<div class="plots">{"".join(charts) or "<p>No stored profile to draw.</p>"}</div>')
    return _section("plots", "Distribution plots", "\n".join(out))


def _usage(r: Report) -> str:
    if not r.test_usage:
        return _section("test-usage", "Test-set usage", "<p>No test set in this report.</p>")
    out = []
    for g in r.test_usage:
        def row(k: int, s: dict) -> str:
            use = "final scoring" if s["final"] else "scored (not a final scoring)" if s["metrics"] else "read"
            attr = "data-run" if s in g["scorings"] else "data-reader"
            return (f'<tr {attr}="{e(s["run_id"])}">'
                    f'<td>{k}</td><td><code>{e(s["run_id"])}</code></td><td>{e(s["kind"])}</td>'
                    f'<td>{e(use)}</td><td>{e(s["started"])}</td><td>{e(s["user"])}</td><td>'
                    f'{e(", ".join(f"{n}={v:g}" for n, v in s["metrics"].items()))}</td></tr>')

        head = ("<tr><th>#</th><th>run</th><th>kind</th><th>use</th><th>started</th><th>by</th>"
                "<th>test metrics</th></tr>")
        scorings = "".join(row(k, s) for k, s in enumerate(g["scorings"], 1))
        finals = sum(1 for s in g["scorings"] if s["final"])
        o = g["optimism"]
        if not o:
            figure = "<p>selection-optimism: no accuracy-like test metric from a final scoring to compare.</p>"
        elif o["k"] < 2:
            figure = (f"<p>selection-optimism: one final scoring ({e(o['metric'])} {o['best']:g} on n={o['n']} "
                      "rows): no model was picked among others on this test set, no optimism.</p>")
        else:
            figure = (f"<p>selection-optimism: best of k={o['k']} final scorings on n={o['n']} rows, "
                      f"{e(o['metric'])} {o['best']:g}: expected optimism <b>{o['optimism']:.4f}</b> (a winning "
                      "margin within it is noise).</p>")
        readers = ""
        if g["readers"]:
            readers = ("<p>Also read by (not scorings: these runs logged no test metric, e.g. a transform of the "
                       "test file):</p><table>" + head
                       + "".join(row(k, s) for k, s in enumerate(g["readers"], 1)) + "</table>")
        others = len(g["scorings"]) - finals
        title = (f"scored {len(g['scorings'])} time(s)" + (f" ({finals} final scoring(s))" if others else "")
                 if g["scorings"] else "never scored")
        out.append(f'<div class="usage" data-snapshot="{e(g["snapshot"])}"><h3>test content '
                   f"<code>{e(short(g['snapshot']))}</code>: {e(title)}</h3>"
                   + ("<p>The same test content (a copy or a re-export) as "
                      + ", ".join(f"<code>{e(short(x))}</code>" for x in g["also"]) + ".</p>" if g["also"] else "")
                   + (f"<table>{head}{scorings}</table>" if scorings else "")
                   + (figure if g["scorings"] else "") + readers + "</div>")
    return _section("test-usage", "Test-set usage", "\n".join(out))


def _reproduce(r: Report) -> str:
    rep = r.reproduce
    flag = ('<p><span class="dirty">DIRTY</span> The work tree was dirty when the run started: the commit '
            "does not reproduce it.</p>") if rep["dirty"] else ""
    notes = "".join(f"<li>{e(n)}</li>" for n in rep["notes"])
    cmds = "\n".join(e(c) for c in rep["commands"])
    return _section("reproduce", "Reproduce", flag + (f"<pre>{cmds}</pre>" if cmds else "")
                    + (f"<ul>{notes}</ul>" if notes else ""))


def _integrity(r: Report) -> str:
    rec = r.integrity
    rows = "".join(f"<tr><td><code>{e(s['id'])}</code></td><td>{e(s['dataset'])}@{e(s['version'])}</td>"
                   f"<td>{e(s['files'])}</td></tr>" for s in rec["snapshots"])
    heads = "".join(f"<li><code>{e(h)}</code></li>" for h in rec["log"]["heads"])
    body = (f"<p>Snapshot IDs are the BLAKE3 digests of their manifests. Check this report later with "
            f"<code>lineage verify --against REPORT</code>.</p><table><tr><th>snapshot (manifest digest)</th>"
            f"<th>dataset</th><th>files</th></tr>{rows}</table><p>Event-log head(s) at report time "
            f"({rec['log']['events']} events):</p><ul>{heads}</ul>"
            f'<script type="application/json" id="lineage-integrity">{integrity_json(rec)}</script>')
    return _section("integrity", "Integrity", body)
