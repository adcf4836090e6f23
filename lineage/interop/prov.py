"""W3C PROV export: snapshots are entities, runs are activities, users are agents.

The mapping (documented in docs/interop.md):

- a snapshot is a ``prov:Entity`` ``lineage:snapshot/<id>``, attributed
  (``wasAttributedTo``) to the user who first recorded it; a dataset is an entity
  ``lineage:dataset/<name>`` and each of its snapshots is a ``specializationOf`` it,
  each version a ``wasRevisionOf`` the previous one when both are in the document;
- a run is a ``prov:Activity`` ``lineage:run/<id>`` with its start and end time,
  ``wasAssociatedWith`` the user who ran it;
- an input is ``used`` with the input's role as ``prov:role``; an output is
  ``wasGeneratedBy``; every output ``wasDerivedFrom`` every input of the same run;
- a user is a ``prov:Agent`` (``prov:Person``) ``lineage:user/<name, percent-encoded>``.

IDs live in one namespace, ``lineage`` = ``https://lineage.dev/ns/``, so the same snapshot or run
gets the same PROV identifier in every export from every clone.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any
from urllib.parse import quote

from lineage import runs
from lineage.core.hashing import hash_bytes
from lineage.errors import UsageError
from lineage.repo import Repo
from lineage.runs import queries as run_queries
from lineage.snapshots import aliases, queries

NAMESPACE_PREFIX = "lineage"
NAMESPACE_URI = "https://lineage.dev/ns/"
FORMATS = ("json", "provn", "xml", "rdf")


def _require_prov():
    try:
        import prov.model
    except ImportError:
        raise UsageError("W3C PROV export needs the 'prov' package: install lineage[interop]") from None
    return prov.model


def _time(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def snapshot_qn(sid: str) -> str:
    return f"{NAMESPACE_PREFIX}:snapshot/{sid}"


def run_qn(run_id: str) -> str:
    return f"{NAMESPACE_PREFIX}:run/{quote(run_id, safe='')}"


def user_qn(user: str) -> str:
    return f"{NAMESPACE_PREFIX}:user/{quote(user, safe='@.')}"


def dataset_qn(name: str) -> str:
    return f"{NAMESPACE_PREFIX}:dataset/{quote(name, safe='')}"


def _rel(kind: str, *parts: str) -> str:
    """A stable identifier for a relation, so the same graph always exports the same document."""
    return f"{NAMESPACE_PREFIX}:{kind}/{hash_bytes(chr(0).join(parts).encode())[:32]}"


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    """Namespaced attributes, dropping unknowns (PROV has no null)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        name = key if ":" in key else f"{NAMESPACE_PREFIX}:{key}"
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True, separators=(",", ":"))
        out[name] = value
    return out


def build(repo: Repo, run_ids: list[str] | None = None):
    """A ``prov.model.ProvDocument`` of the given runs (resolved IDs), or of everything.

    With ``run_ids=None`` the document holds every run, snapshot, dataset and user
    of the graph; otherwise the runs, the snapshots they read and wrote, and the
    datasets and users those touch.

    >>> doc = lineage.interop.prov.build(repo, ["0190..."])    # doctest: +SKIP
    >>> doc.serialize(format="json")                           # doctest: +SKIP
    """
    pm = _require_prov()
    g = repo.graph
    doc = pm.ProvDocument()
    ns = doc.add_namespace(NAMESPACE_PREFIX, NAMESPACE_URI)
    everything = run_ids is None
    if everything:
        run_ids = runs.all_run_ids(repo)
    records = [runs.load(repo, r) for r in run_ids]
    # usages and generations are named by their events, which a RunRecord leaves out
    used: dict[str, list[dict[str, Any]]] = {}
    for row in run_queries.inputs(g, run_ids):
        used.setdefault(row["run_id"], []).append(row)
    generated: dict[str, list[dict[str, Any]]] = {}
    for row in run_queries.outputs(g, run_ids):
        generated.setdefault(row["run_id"], []).append(row)

    snapshot_ids: set[str] = set(queries.snapshot_ids(g)) if everything else set()
    for rec in records:
        snapshot_ids.update(i.snapshot_id for i in rec.inputs)
        snapshot_ids.update(o.snapshot_id for o in rec.outputs)
    summaries = run_queries.snapshot_summaries(g, snapshot_ids)

    users: set[str] = set()
    users.update(s["user"] for s in summaries.values() if s.get("user"))
    users.update(rec.user for rec in records if rec.user)
    for user in sorted(users):
        doc.agent(user_qn(user), _attrs({"prov:type": pm.PROV["Person"], "prov:label": user}))

    # datasets and their versions
    versions: dict[str, list[tuple[int, str]]] = {}
    dataset_names: set[str] = set()
    for sid, pairs in run_queries.datasets_of(g, snapshot_ids).items():
        for name, _version in pairs:
            dataset_names.add(name)
    for name in sorted(dataset_names):
        row = queries.dataset(g, name)
        doc.entity(dataset_qn(name), _attrs({
            "prov:type": ns["Dataset"], "prov:label": name,
            "path": row.path if row else None,
            "declarations": (row.declarations or None) if row else None,
        }))
        for rec in queries.records_of_dataset(g, name):
            if rec["snapshot"] in snapshot_ids and rec["version"] is not None:
                versions.setdefault(name, []).append((rec["version"], rec["snapshot"]))

    for sid in sorted(snapshot_ids):
        s = summaries.get(sid, {})
        label = f"{s['dataset']}@{s['version']}" if s.get("dataset") and s.get("version") else sid[:12]
        md5s = [a.value for a in aliases.aliases_of(g, sid) if a.scheme == "dvc-md5"]
        doc.entity(snapshot_qn(sid), _attrs({
            "prov:type": ns["Snapshot"], "prov:label": label,
            "snapshotId": sid, "kind": s.get("kind"), "files": s.get("files"),
            "bytes": s.get("bytes"), "path": s.get("path"), "gitCommit": s.get("git_commit"),
            "gitDirty": s.get("git_dirty"), "dvcMd5": md5s[0] if len(md5s) == 1 else (md5s or None),
            "recorded": s.get("time"),
        }))
        if s.get("user"):
            doc.wasAttributedTo(snapshot_qn(sid), user_qn(s["user"]),
                                identifier=_rel("attribution", sid, s["user"]))

    for name in sorted(versions):
        chain = sorted(set(versions[name]))
        seen: set[str] = set()
        previous: str | None = None
        for _version, sid in chain:
            if sid not in seen:
                doc.new_record(pm.PROV_SPECIALIZATION, _rel("specialization", sid, name), {
                    pm.PROV_ATTR_SPECIFIC_ENTITY: snapshot_qn(sid),
                    pm.PROV_ATTR_GENERAL_ENTITY: dataset_qn(name)})
                seen.add(sid)
            if previous is not None and previous != sid:
                doc.wasRevisionOf(snapshot_qn(sid), snapshot_qn(previous),
                                  identifier=_rel("revision", sid, previous))
            previous = sid

    for rec in sorted(records, key=lambda r: (r.started, r.run_id)):
        rq = run_qn(rec.run_id)
        command = rec.command
        doc.activity(rq, _time(rec.started), _time(rec.ended), _attrs({
            "prov:type": ns["Run"], "prov:label": f"{rec.kind} run {rec.run_id}",
            "runId": rec.run_id, "kind": rec.kind, "status": rec.status,
            "exitCode": rec.exit_code,
            "command": " ".join(command) if isinstance(command, list) else command,
            "gitCommit": rec.git.get("commit"), "gitBranch": rec.git.get("branch"),
            "gitDirty": rec.git.get("dirty"), "host": rec.host,
            "params": rec.params or None, "parentRun": rec.parent_run,
        }))
        if rec.user:
            doc.wasAssociatedWith(rq, user_qn(rec.user),
                                  identifier=_rel("association", rec.run_id, rec.user))
        for i in used.get(rec.run_id, ()):
            doc.used(rq, snapshot_qn(i["snapshot_id"]), _time(i.get("time")),
                     identifier=_rel("usage", i["event_id"]), other_attributes=_attrs({"prov:role": i["role"], "path": i.get("path")}))
        for o in generated.get(rec.run_id, ()):
            doc.wasGeneratedBy(snapshot_qn(o["snapshot_id"]), rq, _time(o.get("time")),
                               identifier=_rel("generation", o["event_id"]), other_attributes=_attrs({"path": o.get("path")}))
        inputs = sorted({i.snapshot_id for i in rec.inputs})
        for out_sid in sorted({o.snapshot_id for o in rec.outputs}):
            for in_sid in inputs:
                if in_sid != out_sid:
                    doc.wasDerivedFrom(snapshot_qn(out_sid), snapshot_qn(in_sid), rq,
                                       identifier=_rel("derivation", rec.run_id, out_sid, in_sid))
    return doc


def export(repo: Repo, run_refs: list[str] | None = None, *, format: str = "json") -> str:
    """The PROV document of the given runs (IDs or prefixes), or of everything, as text."""
    if format not in FORMATS:
        raise UsageError(f"unknown PROV format {format!r}; choose one of {', '.join(FORMATS)}")
    run_ids = None if run_refs is None else [runs.resolve(repo, r) for r in run_refs]
    doc = build(repo, run_ids)
    if format == "json":
        return doc.serialize(format="json", indent=2)
    try:
        return doc.serialize(format=format)
    except Exception as exc:  # noqa: BLE001 - the xml/rdf serialisers need optional packages
        raise UsageError(f"PROV format {format!r} is not available here ({exc}); use json or provn") from None
