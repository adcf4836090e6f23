"""``lineage verify --against REPORT``: has anything a report states changed since?

Reads the integrity record a report embeds (HTML: a JSON script element; Markdown: an
HTML comment), then checks that each snapshot still exists with the same digest and its
objects rehash, that the recorded log heads are still in the log and the hash chain
verifies, and lists the events appended since that concern the report's subjects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage.audit import engine
from lineage.errors import LineageError, UsageError
from lineage.repo import Repo
from lineage.report.build import INTEGRITY_FORMAT
from lineage.runs import provenance as prov
from lineage.runs import queries as runq

_HTML = re.compile(r'<script type="application/json" id="lineage-integrity">(.*?)</script>', re.S)
_MD = re.compile(r"<!-- lineage-integrity (.*?) -->", re.S)


@dataclass(frozen=True)
class AgainstResult:
    report: str
    generated: str
    differences: list[str]
    related_events: list[dict[str, Any]]
    unrelated_events: int
    snapshots: int

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {"report": self.report, "generated": self.generated, "ok": self.ok,
                "differences": self.differences, "related_events": self.related_events,
                "unrelated_events": self.unrelated_events, "snapshots": self.snapshots}


def read_integrity(path: str | Path) -> dict[str, Any]:
    """The integrity record of a report file; ``UsageError`` for anything else."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    m = _HTML.search(text) or _MD.search(text)
    if m is None:
        raise UsageError(f"{path} is not a lineage report (no integrity record)")
    try:
        record = json.loads(m.group(1))
    except ValueError:
        raise UsageError(f"{path}: its integrity record is not valid JSON") from None
    if not isinstance(record, dict) or record.get("format") != INTEGRITY_FORMAT:
        raise UsageError(f"{path}: unknown integrity record format (expected {INTEGRITY_FORMAT})")
    return record


def verify_against(repo: Repo, path: str | Path) -> AgainstResult:
    rec = read_integrity(path)
    diffs: list[str] = []
    snaps = rec.get("snapshots") or []
    diffs += _check_snapshots(repo, [s["id"] for s in snaps])
    heads = (rec.get("log") or {}).get("heads") or []
    g = repo.graph
    for h in heads:
        if not g.has_event(h):
            diffs.append(f"event-log head {h[:16]} recorded by the report is no longer in the log")
    for problem in g.verify_log():
        diffs.append(f"event log: {problem}")
    related, unrelated = _events_since(repo, rec, heads)
    for ev in related:
        diffs.append(ev["line"])
    diffs += _restated(repo, rec)
    return AgainstResult(str(path), str(rec.get("generated")), list(dict.fromkeys(diffs)), related, unrelated,
                         len(snaps))


def _check_snapshots(repo: Repo, sids: list[str]) -> list[str]:
    from lineage.snapshots.queries import snapshot_known
    from lineage.snapshots.refs import load_manifest

    out = []
    for sid in sids:
        if not snapshot_known(repo.graph, sid):
            out.append(f"snapshot {sid[:12]} is no longer recorded")
            continue
        if not repo.store.exists(sid):
            out.append(f"snapshot {sid[:12]}: its manifest is not in the local store (run 'lineage pull')")
            continue
        try:
            if not repo.store.verify(sid):
                out.append(f"snapshot {sid[:12]}: its manifest no longer hashes to its ID")
                continue
            manifest = load_manifest(repo, sid)
        except LineageError as exc:
            out.append(f"snapshot {sid[:12]}: {exc}")
            continue
        if manifest.id != sid:
            out.append(f"snapshot {sid[:12]}: its manifest no longer hashes to its ID")
        for entry in manifest.entries:
            if not repo.store.exists(entry.digest):
                out.append(f"snapshot {sid[:12]}: object of {entry.path} is not in the local store")
            elif not repo.store.verify(entry.digest):
                out.append(f"snapshot {sid[:12]}: object of {entry.path} was altered (it no longer rehashes)")
    return out


def _events_since(repo: Repo, rec: dict[str, Any], heads: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Events that are not ancestors of the recorded heads, split into those about the
    report's subjects and the rest (counted)."""
    events = list(repo.graph.events())
    parents = {ev.id: ev.parents for ev in events}
    known: set[str] = set()
    stack = [h for h in heads if h in parents]
    while stack:
        eid = stack.pop()
        if eid in known:
            continue
        known.add(eid)
        stack.extend(p for p in parents.get(eid, ()) if p not in known)
    snaps = {s["id"] for s in rec.get("snapshots") or []}
    tests = set(rec.get("test_content") or [])
    test_keys = {k for k in (runq.content_key(repo.graph, s) for s in tests) if k}
    runs = set(rec.get("runs") or []) | set(rec.get("audited") or [])
    related, unrelated = [], 0
    for ev in events:
        if ev.id in known:
            continue
        b = ev.body
        line = None
        if ev.type in ("audit.waive", "audit.unwaive") and b.get("run_id") in runs:
            what = "waiver" if ev.type == "audit.waive" else "waiver revoked"
            line = f"new {what}: {b.get('rule')} on run {b.get('run_id')} by {b.get('user')} ({ev.time})"
        elif ev.type == "run.input":
            sid = b.get("snapshot_id")
            same_test = sid in tests or (test_keys and runq.content_key(repo.graph, sid) in test_keys)
            if b.get("role") == "test" and same_test:
                line = f"the test content was scored again: run {b.get('run_id')} ({ev.time})"
            elif sid in snaps:
                line = f"new run {b.get('run_id')} read snapshot {sid[:12]} as {b.get('role')} ({ev.time})"
        elif b.get("run_id") in runs and ev.type.startswith("run."):
            line = f"run {b.get('run_id')}: new {ev.type} event ({ev.time})"
        if line:
            related.append({"id": ev.id, "type": ev.type, "time": ev.time, "line": line})
        else:
            unrelated += 1
    return related, unrelated


def _restated(repo: Repo, rec: dict[str, Any]) -> list[str]:
    """What the report states that a fresh look gives otherwise: the test-set usage (a copy
    or a re-export scored since) and the findings (a waiver, a new rule result)."""
    out = []
    for group in rec.get("test_usage") or []:
        sid = group.get("snapshot")
        try:
            uses = prov.used_by(repo, sid, same_dataset=False).uses
        except LineageError:
            continue
        now = list(dict.fromkeys(u.run_id for u in sorted(uses, key=lambda u: (u.time, u.run_id))
                                 if u.role == "test"))
        for rid in now:
            if rid not in group.get("runs", []):
                out.append(f"the test content {sid[:12]} was scored again: run {rid}")
    audited = rec.get("audited") or []
    if audited:
        try:
            now = sorted([f.rule, f.run_id, f.severity, bool(f.waived)] for f in engine.run(repo, audited).findings)
        except LineageError as exc:
            return out + [f"the audit of the report's runs no longer runs: {exc}"]
        before = [list(x) for x in rec.get("findings") or []]
        for f in now:
            if f not in before:
                out.append(f"finding now: {f[0]} on run {f[1]} ({f[2]}{', waived' if f[3] else ''})")
        for f in before:
            if f not in now:
                out.append(f"finding gone: {f[0]} on run {f[1]} ({f[2]}{', waived' if f[3] else ''})")
    return out

