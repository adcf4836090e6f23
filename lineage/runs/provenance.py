"""Provenance queries: where a model or snapshot came from, and who used a snapshot.

``provenance`` walks the lineage DAG upstream (an indexed recursive query over
``edges_up``) and returns rendering-independent data: every run and snapshot on the
way, the input edges with their roles, and the code commits involved. ``used_by``
finds every run that read a snapshot, a copy of its content saved under another name,
or another snapshot of the same dataset; optionally every run downstream of them too.
``to_mermaid`` and ``to_dot`` render a ``Provenance`` as text for other tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lineage import snapshots
from lineage.errors import AmbiguousRefError, NoMatchError, UnknownRefError, UsageError
from lineage.repo import Repo
from lineage.runs import queries as q
from lineage.runs import record

SNAPSHOT, RUN = "snapshot", "run"


@dataclass(frozen=True)
class ProvNode:
    """A snapshot or a run in a provenance graph; ``attrs`` holds what was recorded about it."""

    id: str
    type: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, **self.attrs}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProvNode:
        return cls(d["id"], d["type"], {k: v for k, v in d.items() if k not in ("id", "type")})


@dataclass(frozen=True)
class ProvEdge:
    """``parent`` -> ``child``: a snapshot read by a run (``input``, with a role) or written by it."""

    parent: str
    child: str
    type: str
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "child": self.child, "type": self.type, "role": self.role}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProvEdge:
        return cls(d["parent"], d["child"], d["type"], d.get("role"))


@dataclass(frozen=True)
class Provenance:
    root: str
    root_type: str
    nodes: tuple[ProvNode, ...]
    edges: tuple[ProvEdge, ...]
    commits: tuple[dict[str, Any], ...]
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "root_type": self.root_type,
                "nodes": [n.to_dict() for n in self.nodes], "edges": [e.to_dict() for e in self.edges],
                "commits": [dict(c) for c in self.commits], "truncated": self.truncated}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Provenance:
        return cls(d["root"], d["root_type"], tuple(ProvNode.from_dict(n) for n in d["nodes"]),
                   tuple(ProvEdge.from_dict(e) for e in d["edges"]),
                   tuple(dict(c) for c in d.get("commits", ())), bool(d.get("truncated", False)))

    def node(self, node_id: str) -> ProvNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def parents(self, node_id: str) -> list[ProvEdge]:
        """Edges into ``node_id`` (its inputs when a run, its producing run when a snapshot)."""
        return [e for e in self.edges if e.child == node_id]

    def runs(self) -> list[ProvNode]:
        return [n for n in self.nodes if n.type == RUN]


def resolve_node(repo: Repo, ref: str) -> tuple[str, str]:
    """(node ID, "snapshot" | "run") for a snapshot ref or a run ID/prefix; ambiguity is an error."""
    ref = (ref or "").strip()
    if not ref:
        raise UsageError("empty reference")
    run_id = record.try_resolve(repo, ref)
    missing: UnknownRefError | None = None
    try:
        sid: str | None = snapshots.resolve(repo, ref)
    except UnknownRefError as exc:
        sid, missing = None, exc
    except AmbiguousRefError:
        if run_id is None:
            raise
        sid = None
    if run_id is not None and sid is not None:
        raise AmbiguousRefError(
            f"{ref!r} matches both run {run_id} and snapshot {sid[:12]}; give more characters")
    if run_id is not None:
        return run_id, RUN
    if sid is not None:
        return sid, SNAPSHOT
    if missing is not None and not isinstance(missing, NoMatchError):
        raise missing  # the more precise reason: "no dataset named ...", "has no version ..."
    short = f" (a prefix needs at least {record.MIN_PREFIX} characters)" if len(ref) < record.MIN_PREFIX else ""
    raise UnknownRefError(f"no snapshot or dataset matches {ref!r}, and no run does{short}"
                          f"{snapshots.refs.dataset_hint(repo, ref)}")


def describe(repo: Repo, ref: str) -> Any:
    """What ``lineage show`` prints: a run's ``RunRecord`` or a snapshot's ``SnapshotInfo``."""
    node, node_type = resolve_node(repo, ref)
    return record.get(repo, node) if node_type == RUN else snapshots.show(repo, node)


def provenance(repo: Repo, ref: str, *, max_edges: int = 1_000_000) -> Provenance:
    """The full upstream graph of a snapshot, model or run.

    >>> p = provenance(repo, "models/clf")          # doctest: +SKIP
    >>> [n.attrs["kind"] for n in p.runs()]          # doctest: +SKIP
    ['train', 'transform', 'fit', 'split']
    """
    g = repo.graph
    root, root_type = resolve_node(repo, ref)
    raw = q.ancestors(g, root, max_edges=max_edges)
    run_ids: set[str] = set()
    snap_ids: set[str] = set()
    (run_ids if root_type == RUN else snap_ids).add(root)
    output_edges: list[ProvEdge] = []
    for child, parent, kind in raw:
        if kind == "input":
            run_ids.add(child)
            snap_ids.add(parent)
        else:
            run_ids.add(parent)
            snap_ids.add(child)
            output_edges.append(ProvEdge(parent, child, "output"))
    return assemble(repo, root, root_type, run_ids, snap_ids, output_edges,
                    truncated=len(raw) >= max_edges)


def assemble(repo: Repo, root: str, root_type: str, run_ids: set[str], snap_ids: set[str],
             output_edges: list[ProvEdge], *, truncated: bool = False,
             input_filter: Any = None) -> Provenance:
    """A ``Provenance`` of the given runs and snapshots: their input edges (with roles, from
    the records; kept when ``input_filter(edge)`` is true, if given), ``output_edges`` and
    what was recorded about each node (shared by ``provenance`` and the graph view)."""
    g = repo.graph
    run_ids, snap_ids = set(run_ids), set(snap_ids)
    # input edges come from the records, which keep the role (one pair may have two roles)
    input_edges = [ProvEdge(r["snapshot_id"], r["run_id"], "input", r["role"])
                   for r in q.inputs(g, run_ids)]
    if input_filter is not None:
        input_edges = [e for e in input_edges if input_filter(e)]
    edges = sorted(set(input_edges) | set(output_edges),
                   key=lambda e: (e.child, e.type, e.role or "", e.parent))
    for e in input_edges:
        snap_ids.add(e.parent)

    run_rows = q.runs(g, run_ids)
    run_params = q.params(g, run_ids)
    summaries = q.snapshot_summaries(g, snap_ids)
    names = q.datasets_of(g, snap_ids)
    nodes: list[ProvNode] = []
    commits: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rid in sorted(run_ids):
        row = run_rows.get(rid)
        if row is None:
            nodes.append(ProvNode(rid, RUN, {"kind": None, "status": "unknown"}))
            continue
        git = {"commit": row["git_commit"], "branch": row["git_branch"], "dirty": row["git_dirty"],
               "diff_digest": row["git_diff_digest"]}
        nodes.append(ProvNode(rid, RUN, {
            "kind": row["kind"], "status": row["status"], "exit_code": row["exit_code"],
            "command": row["command"], "params": run_params.get(rid, {}), "started": row["started"],
            "ended": row["ended"], "user": row["user"], "host": row["host"], "git": git,
            "parent_run": row["parent_run"],
        }))
        if git["commit"]:
            c = commits.setdefault((git["commit"], bool(git["dirty"]), git["diff_digest"]), {
                "commit": git["commit"], "dirty": bool(git["dirty"]), "diff_digest": git["diff_digest"],
                "runs": []})
            c["runs"].append(rid)
    for sid in sorted(snap_ids):
        s = summaries.get(sid, {})
        nodes.append(ProvNode(sid, SNAPSHOT, {
            "datasets": [{"dataset": n, "version": v} for n, v in names.get(sid, [])],
            "path": s.get("path"), "kind": s.get("kind"), "files": s.get("files"),
            "bytes": s.get("bytes"), "time": s.get("time"), "user": s.get("user"),
            "git_commit": s.get("git_commit"), "git_dirty": s.get("git_dirty"),
        }))
    return Provenance(root, root_type, tuple(nodes), tuple(edges),
                      tuple(sorted(commits.values(), key=lambda c: (c["commit"], c["dirty"]))),
                      truncated=truncated)


# -- used-by ------------------------------------------------------------------------

@dataclass(frozen=True)
class Use:
    """One run that read the snapshot (or a copy, or its dataset); ``match`` says how."""

    run_id: str
    kind: str | None
    status: str | None
    role: str | None
    snapshot_id: str
    dataset: str | None
    path: str | None
    time: str
    user: str | None
    match: str  # same-snapshot | same-content | same-dataset | downstream

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Use:
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class UsedBy:
    snapshot_id: str
    datasets: tuple[str, ...]
    copies: tuple[str, ...]
    uses: tuple[Use, ...]

    @property
    def by_role(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for u in self.uses:
            key = u.role or "downstream"
            if u.run_id not in out.setdefault(key, []):
                out[key].append(u.run_id)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "datasets": list(self.datasets),
                "copies": list(self.copies), "uses": [u.to_dict() for u in self.uses],
                "by_role": self.by_role}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UsedBy:
        return cls(d["snapshot_id"], tuple(d.get("datasets", ())), tuple(d.get("copies", ())),
                   tuple(Use.from_dict(u) for u in d.get("uses", ())))


_MATCH_ORDER = {"same-snapshot": 0, "same-content": 1, "same-rows": 2, "same-dataset": 3, "downstream": 4}

#: the share of a snapshot's rows another snapshot must hold to match it as ``same-rows``
ROWS_CONTAINMENT = 0.9


def used_by(repo: Repo, ref: str, *, same_dataset: bool = True, downstream: bool = False) -> UsedBy:
    """Every run that read this snapshot's content, under any name, by role.

    Matches: the snapshot itself (whatever dataset name it was recorded under), a
    snapshot whose files have the same digests (a copy saved under another name), a
    snapshot read by some run that holds at least 90 % of its rows in any file (a
    re-export: another format, columns re-ordered, rows shuffled; compared by row
    fingerprints), and (``same_dataset``) any other snapshot of the same dataset. ``downstream`` adds
    every run that read something derived from those snapshots.
    """
    node, node_type = resolve_node(repo, ref)
    if node_type != SNAPSHOT:
        raise UsageError(f"{ref!r} is a run; used-by takes a snapshot (try 'lineage provenance')")
    g = repo.graph
    copies = q.same_content(g, node)
    datasets = sorted({n for names in q.datasets_of(g, [node, *copies]).values() for n, _ in names})
    match: dict[str, str] = {node: "same-snapshot"}
    for c in copies:
        match[c] = "same-content"
    for sid in _same_rows(repo, node, set(match)):
        match.setdefault(sid, "same-rows")
    if same_dataset and datasets:
        for sid in q.snapshots_of_datasets(g, datasets):
            match.setdefault(sid, "same-dataset")
    uses: list[Use] = []
    direct: set[str] = set()
    for r in q.readers(g, match):
        direct.add(r["run_id"])
        uses.append(Use(r["run_id"], r["kind"], r["status"], r["role"], r["snapshot_id"], r["dataset"],
                        r["path"], r["time"], r["user"], match[r["snapshot_id"]]))
    if downstream:
        content = [sid for sid, m in match.items() if m != "same-dataset"]
        later = {child for parent, child, kind in q.descendants(g, content) if kind == "input"}
        later -= direct
        later_rows = q.runs(g, later)
        first_input: dict[str, dict[str, Any]] = {}
        for rec in q.inputs(g, later):
            first_input.setdefault(rec["run_id"], rec)
        for rid in sorted(later, key=lambda r: (later_rows.get(r, {}).get("started") or "", r)):
            row = later_rows.get(rid, {})
            via = first_input.get(rid, {})
            uses.append(Use(rid, row.get("kind"), row.get("status"), via.get("role"),
                            via.get("snapshot_id", ""), via.get("dataset"), via.get("path"),
                            row.get("started") or "", row.get("user"), "downstream"))
    uses.sort(key=lambda u: (_MATCH_ORDER[u.match], u.time, u.run_id))
    return UsedBy(node, tuple(datasets), tuple(copies), tuple(uses))


def _same_rows(repo: Repo, node: str, known: set[str]) -> list[str]:
    """Snapshots read by a run (other than ``known``) holding ``ROWS_CONTAINMENT`` of the
    rows of ``node``, by row fingerprints. Only tabular snapshots are compared."""
    g = repo.graph
    rows = g.conn.execute(
        "SELECT DISTINCT i.snapshot_id FROM run_input_records i WHERE EXISTS ("
        " SELECT 1 FROM files f JOIN tabular_files t ON t.digest = f.digest AND t.status = 'ok' "
        " WHERE f.snapshot_id = i.snapshot_id)")
    candidates = [r[0] for r in rows if r[0] not in known]
    if not candidates or not _is_tabular_snapshot(g, node):
        return []
    from lineage.tabular import keys

    mine = keys.snapshot_keys(repo, node)
    if len(mine) == 0:
        return []
    return [sid for sid in candidates
            if keys.containment(mine, keys.snapshot_keys(repo, sid)) >= ROWS_CONTAINMENT]


def _is_tabular_snapshot(g: Any, sid: str) -> bool:
    return g.conn.execute(
        "SELECT 1 FROM files f JOIN tabular_files t ON t.digest = f.digest AND t.status = 'ok' "
        "WHERE f.snapshot_id = ? LIMIT 1", (sid,)).fetchone() is not None


# -- text renderings ----------------------------------------------------------------

def _label(n: ProvNode) -> str:
    if n.type == RUN:
        git = n.attrs.get("git") or {}
        commit = (git.get("commit") or "")[:8] + ("*" if git.get("dirty") else "")
        return f"run {n.id[:13]}\\n{n.attrs.get('kind')} ({n.attrs.get('status')})" + (
            f"\\n@{commit}" if commit else "")
    names = ", ".join(f"{d['dataset']}@{d['version']}" for d in n.attrs.get("datasets") or [])
    return f"{names or n.attrs.get('path') or 'snapshot'}\\n{n.id[:12]}"


def to_mermaid(p: Provenance) -> str:
    """A Mermaid flowchart (``flowchart LR``): snapshots as boxes, runs as rounded nodes."""
    ids = {n.id: f"n{i}" for i, n in enumerate(p.nodes)}
    lines = ["flowchart LR"]
    for n in p.nodes:
        text = _label(n).replace('"', "'").replace("\\n", "<br/>")
        lines.append(f'  {ids[n.id]}(["{text}"])' if n.type == RUN else f'  {ids[n.id]}["{text}"]')
    for e in p.edges:
        if e.parent in ids and e.child in ids:
            arrow = f" -->|{e.role}| " if e.role else " --> "
            lines.append(f"  {ids[e.parent]}{arrow}{ids[e.child]}")
    return "\n".join(lines) + "\n"


def to_dot(p: Provenance) -> str:
    """A Graphviz digraph: snapshots as boxes, runs as ellipses, roles on input edges."""
    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'

    lines = ["digraph provenance {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for n in p.nodes:
        shape = "ellipse" if n.type == RUN else "box"
        lines.append(f"  {q(n.id)} [shape={shape}, label={q(_label(n))}];")
    for e in p.edges:
        attrs = f" [label={q(e.role)}]" if e.role else ""
        lines.append(f"  {q(e.parent)} -> {q(e.child)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"
