"""What a report states, gathered once: the target, its run, the audit, the graph, the
datasets, the test-set usage, the drift plots' data and the integrity record.

Every renderer (``html``, ``markdown``) reads this one ``Report``; ``against`` checks a
rendered report's integrity record against the repository.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Union

from lineage import runs as _runs
from lineage import tabular
from lineage.audit import engine
from lineage.audit.graphmarks import marks as finding_marks
from lineage.audit.queries import counts_as_scoring
from lineage.audit.rules.reuse import expected_optimism
from lineage.errors import LineageError, UsageError
from lineage.repo import Repo
from lineage.runs import graphview
from lineage.runs import provenance as prov
from lineage.runs import queries as runq
from lineage.runs.model import RunRecord
from lineage.runs.provenance import RUN, SNAPSHOT, Provenance
from lineage.sync import remotes as _remotes

#: the format of the integrity record a report embeds (``lineage verify --against``)
INTEGRITY_FORMAT = "lineage-report/1"

#: a run ID or reference, a path on disk, or ("test-set", path)
Target = Union[str, tuple[str, str]]

#: the run kinds whose test reads are final scorings, as the test-reuse and
#: selection-optimism rules count them
SCORING_KINDS = ("evaluate",)

#: drift plots: at most this many columns per distribution-shift finding
PLOT_COLUMNS = 4


@dataclass(frozen=True)
class Report:
    """Everything a report shows (``to_dict`` gives it as JSON)."""

    target: dict[str, Any]
    generated: str
    run: RunRecord | None
    audited: list[str]
    audit: engine.AuditReport
    graph: Provenance
    marks: dict[str, list[dict[str, Any]]]
    datasets: list[dict[str, Any]]
    test_usage: list[dict[str, Any]]
    plots: list[dict[str, Any]]
    reproduce: dict[str, Any]
    integrity: dict[str, Any]

    @property
    def verdict(self) -> str:
        return "fail" if self.audit.exit_code() else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "generated": self.generated,
                "run": self.run.to_dict() if self.run else None, "audited": self.audited,
                "verdict": self.verdict, "audit": self.audit.to_dict(), "graph": self.graph.to_dict(),
                "datasets": self.datasets, "test_usage": self.test_usage, "plots": self.plots,
                "reproduce": self.reproduce, "integrity": self.integrity}


# -- the target ----------------------------------------------------------------------

def resolve_target(repo: Repo, target: Target) -> dict[str, Any]:
    """{kind: run | path | test-set, ref, runs (what ``lineage audit`` of it audits)}."""
    if isinstance(target, tuple):
        if len(target) != 2 or target[0] != "test-set" or not isinstance(target[1], str):
            raise UsageError("a report target is a run ID, a path, or ('test-set', PATH)")
        path = target[1]
        ids = engine.select_runs(repo, test_set=path)
        return {"kind": "test-set", "ref": path, "runs": ids, "snapshots": _recorded(repo, path)}
    if not isinstance(target, str) or not target.strip():
        raise UsageError("a report target is a run ID, a path, or ('test-set', PATH)")
    run_id = _runs.try_resolve(repo, target)
    if run_id is None and os.path.exists(target):
        ids = engine.select_runs(repo, [target])
        return {"kind": "path", "ref": target, "runs": ids, "snapshots": engine.recorded_as(repo, target)}
    run_id = run_id or _runs.resolve(repo, target)
    return {"kind": "run", "ref": target, "runs": [run_id], "snapshots": []}


def _recorded(repo: Repo, path: str) -> list[str]:
    try:
        return engine.recorded_as(repo, path)
    except UsageError:  # re-exported rows: matched by content, not by files
        return []


def _primary_run(repo: Repo, t: dict[str, Any]) -> str | None:
    """The run a report is about: the run itself; for a file, the last run that wrote it
    (else the first that read it); for a test set, the last run that scored on it."""
    if t["kind"] == "run":
        return t["runs"][0]
    if t["kind"] == "path":
        writers = runq.writers(repo.graph, t["snapshots"])
        if writers:
            started = runq.runs(repo.graph, writers)
            return max(writers, key=lambda r: (started.get(r, {}).get("started") or "", r))
        return t["runs"][0] if t["runs"] else None
    return t["runs"][-1] if t["runs"] else None


# -- the report ----------------------------------------------------------------------

def build(repo: Repo, target: Target) -> Report:
    """Gather what the report of ``target`` states (see ``lineage.report.render``)."""
    t = resolve_target(repo, target)
    primary = _primary_run(repo, t)
    run = _runs.load(repo, primary) if primary else None
    audit = engine.run(repo, t["runs"])
    roots = list(dict.fromkeys([*([primary] if primary else []), *t["snapshots"], *t["runs"]]))
    graph = graphview.graph(repo, around=roots)
    node_ids = [n.id for n in graph.nodes]
    marks = finding_marks(audit.findings, node_ids)
    test_sids = _test_snapshots(graph, t)
    snap_ids = [n.id for n in graph.nodes if n.type == SNAPSHOT]
    for sid in test_sids:
        if sid not in snap_ids:
            snap_ids.append(sid)
    datasets = [_dataset(repo, sid) for sid in _order_snapshots(repo, snap_ids)]
    rows = {d["id"]: d["rows"] for d in datasets}
    usage = _test_usage(repo, t, test_sids, rows)
    plots = _plots(repo, audit)
    reproduce = _reproduce(repo, run)
    generated = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    target_info = {"kind": t["kind"], "ref": t["ref"], "run_id": primary}
    integrity = {
        "format": INTEGRITY_FORMAT,
        "generated": generated,
        "target": target_info,
        "snapshots": [{"id": d["id"], "dataset": d["dataset"], "version": d["version"],
                       "files": d["files"], "bytes": d["bytes"]} for d in datasets],
        "runs": sorted(n.id for n in graph.nodes if n.type == RUN),
        "audited": t["runs"],
        "test_content": test_sids,
        "test_usage": [{"snapshot": u["snapshot"], "runs": u["runs"]} for u in usage],
        "findings": sorted(([f.rule, f.run_id, f.severity, bool(f.waived)] for f in audit.findings)),
        "log": {"heads": repo.graph.heads(), "events": repo.graph.count_events()},
    }
    return Report(target_info, generated, run, t["runs"], audit, graph, marks, datasets, usage, plots,
                  reproduce, integrity)


def _test_snapshots(graph: Provenance, t: dict[str, Any]) -> list[str]:
    """The test content: snapshots read with the ``test`` role in the graph (and, for
    ``--test-set``, the snapshots holding that file's content)."""
    out = list(t["snapshots"]) if t["kind"] == "test-set" else []
    for e in graph.edges:
        if e.type == "input" and e.role == "test" and e.parent not in out:
            out.append(e.parent)
    return out


def _order_snapshots(repo: Repo, sids: list[str]) -> list[str]:
    summaries = runq.snapshot_summaries(repo.graph, sids)
    return sorted(sids, key=lambda s: ((summaries.get(s) or {}).get("time") or "", s))


def _dataset(repo: Repo, sid: str) -> dict[str, Any]:
    """One snapshot as the datasets section shows it."""
    summary = runq.snapshot_summaries(repo.graph, [sid]).get(sid) or {}
    names = runq.datasets_of(repo.graph, [sid]).get(sid) or []
    out: dict[str, Any] = {
        "id": sid, "dataset": summary.get("dataset") or (names[0][0] if names else None),
        "version": summary.get("version") if summary.get("dataset") else (names[0][1] if names else None),
        "names": [f"{n}@{v}" for n, v in names], "path": summary.get("path"),
        "kind": summary.get("kind"), "files": summary.get("files"), "bytes": summary.get("bytes"),
        "recorded": summary.get("time"), "user": summary.get("user"), "rows": None, "schema": [],
        "declarations": {}, "stored": [], "note": None,
    }
    try:
        from lineage.tabular.report import describe

        d = describe(repo, sid)
        out["declarations"] = {k: v for k, v in d.declarations.items() if v}
        if d.files:
            out["rows"] = d.rows
            out["schema"] = [{"path": f.path, "format": f.format, "status": f.status, "rows": f.rows,
                              "columns": [{"name": c.get("name"), "type": c.get("type")} for c in f.columns]}
                             for f in d.files]
    except LineageError as exc:  # the manifest is not here: say so instead of failing the report
        out["note"] = str(exc)
    out["stored"] = _stored(repo, sid)
    return out


def _stored(repo: Repo, sid: str) -> list[dict[str, Any]]:
    """Where a snapshot's bytes are: the local store, and each configured remote. Pushes
    are not recorded in the log, so a folder remote is looked at (cheap); other remotes
    are named, not contacted."""
    out = [{"where": "local store", "has": repo.store.exists(sid)}]
    for r in _remotes.list_remotes(repo):
        has: bool | None = None
        if r.scheme == "file":
            try:
                inv = _remotes.open_remote(repo, r.name).inventory(jobs=1)
                has = inv.has(sid)
            except LineageError:
                has = None
        out.append({"where": f"remote {r.name}", "url": r.url, "has": has})
    return out


def _test_usage(repo: Repo, t: dict[str, Any], test_sids: list[str],
                rows: dict[str, int | None]) -> list[dict[str, Any]]:
    """Per test content: the runs that read it as ``test`` (``used-by``, in order), split
    into scorings and other readers, with the expected optimism of picking the best of the
    final scorings.

    A final scoring is what the ``test-reuse`` and ``selection-optimism`` rules count: an
    ``evaluate`` run that counts as a use of the test set (``counts_as_scoring``). A run
    of another kind that logged test metrics (a tuning run) also scored on it, though no
    rule counts it as a final scoring; a run that only read it (a transform scaling the
    test file) is a reader, not a scoring."""
    groups: list[dict[str, Any]] = []
    seen_content: set[str] = set()
    for sid in test_sids:
        key = runq.content_key(repo.graph, sid) or sid
        if key in seen_content:
            continue
        seen_content.add(key)
        if t["kind"] == "test-set" and sid in t["snapshots"]:
            ids = list(t["runs"])  # what `lineage audit --test-set` selects: files or rows
        else:
            uses = prov.used_by(repo, sid, same_dataset=False).uses
            ids = list(dict.fromkeys(u.run_id for u in sorted(uses, key=lambda u: (u.time, u.run_id))
                                     if u.role == "test"))
        same = next((g for g in groups if g["runs"] == ids), None)
        if same is not None:  # a copy or a re-export of a test content already shown
            same["also"].append(sid)
            continue
        info = runq.runs(repo.graph, ids)
        metrics: dict[str, list[dict[str, Any]]] = {}
        for m in runq.metrics(repo.graph, ids):
            metrics.setdefault(m["run_id"], []).append(m)
        scorings, readers = [], []
        for rid in ids:
            row = info.get(rid, {})
            mine = metrics.get(rid, [])
            test = [m for m in mine if m.get("split") == "test"]
            final = row.get("kind") in SCORING_KINDS and counts_as_scoring(row.get("status"),
                                                                           [m.get("split") for m in mine])
            entry = {"run_id": rid, "kind": row.get("kind"), "status": row.get("status"),
                     "started": row.get("started"), "user": row.get("user"), "final": final,
                     "metrics": {m["name"]: m["value"] for m in test}}
            (scorings if final or test else readers).append(entry)
        groups.append({"snapshot": sid, "also": [], "rows": rows.get(sid), "runs": ids, "scorings": scorings,
                       "readers": readers,
                       "optimism": _optimism([x for x in scorings if x["final"]], rows.get(sid))})
    return groups


def _optimism(scorings: list[dict[str, Any]], n: int | None) -> dict[str, Any] | None:
    """The ``selection-optimism`` figure for the best of the scorings, on an accuracy-like
    metric (between 0 and 1) they share."""
    names: dict[str, list[float]] = {}
    for s in scorings:
        for name, value in s["metrics"].items():
            if 0.0 <= value <= 1.0 and name != "margin":
                names.setdefault(name, []).append(value)
    if not names or not n:
        return None
    name = sorted(names, key=lambda m: ("acc" not in m.lower(), -len(names[m]), m))[0]
    values = names[name]
    k, best = len(values), max(values)
    return {"metric": name, "k": k, "n": n, "best": best,
            "optimism": round(expected_optimism(best, n, k), 6)}


# -- drift plots ---------------------------------------------------------------------

def _plots(repo: Repo, audit: engine.AuditReport) -> list[dict[str, Any]]:
    """For each distribution-shift finding: the held-out and training profiles of the
    columns that drift most (stored profiles: quantiles for numbers, top values for
    categories)."""
    out = []
    cache: dict[str, dict[str, Any]] = {}

    def profiles(sid: str) -> dict[str, Any]:
        if sid not in cache:
            per_file = tabular.load_profiles(repo, sid)
            cache[sid] = tabular.merge_profiles(list(per_file.values())) if per_file else {}
        return cache[sid]

    for f in audit.findings:
        if f.rule != "distribution-shift":
            continue
        ev = f.evidence
        held = (ev.get("heldout") or {}).get("snapshot")
        train = ev.get("compared_with")
        if not held or not train:
            continue
        cols = sorted(ev.get("columns") or [], key=lambda c: (-(c["value"] / c["threshold"]
                                                               if c.get("threshold") else 0), c["column"]))
        hp, tp = profiles(held), profiles(train)
        picked = []
        for c in cols[:PLOT_COLUMNS]:
            if c["column"] in hp and c["column"] in tp:
                picked.append({**c, "train": _plot_profile(tp[c["column"]]),
                               "heldout": _plot_profile(hp[c["column"]])})
        out.append({"run_id": f.run_id, "role": (ev.get("heldout") or {}).get("role"), "heldout": held,
                    "train": train, "columns": picked})
    return out


def _plot_profile(p: dict[str, Any]) -> dict[str, Any]:
    keep = ("kind", "count", "nulls", "min", "max", "mean", "quantiles", "top", "other")
    return {k: p[k] for k in keep if k in p}


# -- reproduce -----------------------------------------------------------------------

def _reproduce(repo: Repo, run: RunRecord | None) -> dict[str, Any]:
    """The commands that bring back the run's code and data and run it again."""
    if run is None:
        return {"commands": [], "dirty": False, "commit": None, "notes": ["no run to reproduce"]}
    commands: list[str] = []
    notes: list[str] = []
    commit = run.git.get("commit")
    dirty = bool(run.git.get("dirty"))
    if commit:
        commands.append(f"git checkout {commit}")
    else:
        notes.append("the run was not recorded in a git work tree: its code is not pinned")
    if dirty:
        notes.append(f"the tree was DIRTY when the run started: commit {commit} does not hold the code "
                     "that ran" + (f" (diff digest {run.git['diff_digest']})" if run.git.get("diff_digest") else ""))
    refs = []
    names = runq.datasets_of(repo.graph, [i.snapshot_id for i in run.inputs])
    for i in run.inputs:
        named = names.get(i.snapshot_id) or []
        refs.append((f"{named[0][0]}@{named[0][1]}" if named else i.snapshot_id, i))
    if refs:
        commands.append("lineage pull " + " ".join(shlex.quote(r) for r, _ in refs))
        for ref, i in refs:
            dest = f" {shlex.quote(i.path)}" if i.path else ""
            commands.append(f"lineage checkout {shlex.quote(ref)}{dest}")
    if run.command:
        commands.append(shlex.join(run.command))
    else:
        notes.append("no command line was recorded (the run was recorded through the Python API)")
    return {"commands": commands, "dirty": dirty, "commit": commit, "notes": notes}


def short(node_id: str) -> str:
    """A node ID as the report shows it in running text."""
    return node_id[:12] if len(node_id) == 64 else node_id
