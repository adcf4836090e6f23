"""Read queries over run records and the lineage edges.

Callers outside ``lineage.log`` use these functions and never write SQL. Rows come
back as plain dicts whose keys match the columns documented in docs/queries.md.
Batch functions take a list of IDs and bind it as one JSON array (``json_each``), so a
provenance walk costs a handful of statements whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from lineage.log import Graph

#: Node kinds of the lineage DAG.
SNAPSHOT, RUN = "snapshot", "run"

_RUN_COLUMNS = ("run_id", "kind", "status", "exit_code", "error", "command", "started", "ended",
                "user", "host", "git_commit", "git_branch", "git_dirty", "git_diff_digest", "env",
                "parent_run", "start_event", "finish_event")


def _ids(values: Iterable[str]) -> str:
    return json.dumps(sorted(set(values)))


def _run_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(_RUN_COLUMNS, row))
    d["command"] = None if d["command"] is None else json.loads(d["command"])
    d["env"] = json.loads(d["env"] or "{}")
    d["git_dirty"] = None if d["git_dirty"] is None else bool(d["git_dirty"])
    return d


def run(g: Graph, run_id: str) -> dict[str, Any] | None:
    """The ``runs`` row of one run (command and env decoded), or None."""
    row = g.conn.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id = ?",
                         (run_id,)).fetchone()
    return None if row is None else _run_dict(row)


def runs(g: Graph, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``runs`` rows of many runs, by run ID."""
    rows = g.conn.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id IN (SELECT value FROM json_each(?))",
        (_ids(run_ids),),
    )
    return {r[0]: _run_dict(r) for r in rows}


def run_exists(g: Graph, run_id: str) -> bool:
    return g.conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None


def running_owned_on(g: Graph, host: str) -> list[tuple[str, int, str | None]]:
    """(run ID, owner PID, owner start token) of the runs still running that a process
    on ``host`` owns (their ``run.start`` names a ``pid``)."""
    return [(r[0], r[1], r[2]) for r in g.conn.execute(
        "SELECT r.run_id, json_extract(e.body, '$.pid'), json_extract(e.body, '$.process_start') "
        "FROM runs r JOIN events e ON e.id = r.start_event "
        "WHERE r.status = 'running' AND r.host = ? AND json_extract(e.body, '$.pid') IS NOT NULL",
        (host,),
    ) if isinstance(r[1], int)]


def runs_with_prefix(g: Graph, prefix: str, limit: int = 3) -> list[str]:
    # a range on the primary key, not substr(): the lookup stays an index seek on a big graph
    rows = g.conn.execute(
        "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT ?",
        (prefix, prefix + "\U0010ffff", limit),
    )
    return [r[0] for r in rows]


def runs_with_tail(g: Graph, tail: str, limit: int = 3) -> list[str]:
    """UUID run IDs ending in ``tail`` (a short form: docs/runs.md); a scan of the run IDs."""
    rows = g.conn.execute(
        "SELECT run_id FROM runs WHERE length(run_id) = 36 AND substr(run_id, -?) = ? "
        "ORDER BY run_id LIMIT ?", (len(tail), tail, limit))
    return [r[0] for r in rows]


def run_ids(g: Graph, limit: int = 200) -> list[str]:
    """The newest run IDs (for shell completion)."""
    return [r[0] for r in g.conn.execute(
        "SELECT run_id FROM runs ORDER BY started DESC, run_id LIMIT ?", (limit,))]


def list_runs(g: Graph, *, dataset: str | None = None, kind: str | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
    """Runs, newest first; optionally only those that read or wrote ``dataset``."""
    where, args = [], []  # type: ignore[var-annotated]
    if dataset is not None:
        where.append("(run_id IN (SELECT run_id FROM run_input_records WHERE dataset = ?) OR "
                     "run_id IN (SELECT run_id FROM run_output_records WHERE dataset = ?))")
        args += [dataset, dataset]
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)
    sql = f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started DESC, run_id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [_run_dict(r) for r in g.conn.execute(sql, args)]


def inputs(g: Graph, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Input records of the given runs, in the order they were recorded."""
    rows = g.conn.execute(
        "SELECT i.run_id, i.snapshot_id, i.role, i.path, i.dataset, i.time, i.event_id "
        "FROM run_input_records i WHERE i.run_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY i.run_id, i.time, i.event_id",
        (_ids(run_ids),),
    )
    keys = ("run_id", "snapshot_id", "role", "path", "dataset", "time", "event_id")
    return [dict(zip(keys, r)) for r in rows]


def outputs(g: Graph, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Output records of the given runs, in the order they were recorded."""
    rows = g.conn.execute(
        "SELECT o.run_id, o.snapshot_id, o.path, o.dataset, o.time, o.event_id "
        "FROM run_output_records o WHERE o.run_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY o.run_id, o.time, o.event_id",
        (_ids(run_ids),),
    )
    keys = ("run_id", "snapshot_id", "path", "dataset", "time", "event_id")
    return [dict(zip(keys, r)) for r in rows]


def params(g: Graph, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Parameters of the given runs: {run_id: {name: value}} (lists/objects decoded)."""
    out: dict[str, dict[str, Any]] = {}
    for run_id, name, value in g.conn.execute(
        "SELECT run_id, name, value FROM run_params WHERE run_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY run_id, name", (_ids(run_ids),)
    ):
        out.setdefault(run_id, {})[name] = value
    return out


def param_events(g: Graph, run_id: str) -> dict[str, Any]:
    """Parameters of one run exactly as recorded in its events (JSON types preserved)."""
    out: dict[str, Any] = {}
    for ev in _run_events(g, run_id, ("run.start", "run.param")):
        out.update(ev.get("params") or {})
    return out


def _run_events(g: Graph, run_id: str, types: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = g.conn.execute(
        f"SELECT body FROM events WHERE type IN ({','.join('?' * len(types))}) "
        "AND json_extract(body, '$.run_id') = ? ORDER BY seq",
        (*types, run_id),
    )
    return [json.loads(r[0]) for r in rows]


def metrics(g: Graph, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Metrics of the given runs, in the order they were logged."""
    rows = g.conn.execute(
        "SELECT run_id, name, value, split, step, time FROM metrics "
        "WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY run_id, time, event_id",
        (_ids(run_ids),),
    )
    keys = ("run_id", "name", "value", "split", "step", "time")
    return [dict(zip(keys, r)) for r in rows]


# -- the lineage DAG ------------------------------------------------------------

def ancestors(g: Graph, node: str, *, max_edges: int = 1_000_000) -> list[tuple[str, str, str]]:
    """Every edge (child, parent, kind) upstream of ``node``: an indexed recursive walk.

    UNION (not UNION ALL) keeps each node once, so a cycle or a shared ancestor
    costs nothing extra.
    """
    rows = g.conn.execute(
        "WITH RECURSIVE up(node) AS ("
        "  SELECT ? UNION SELECT e.parent FROM edges_up e JOIN up ON e.child = up.node"
        ") SELECT e.child, e.parent, e.kind FROM up JOIN edges_up e ON e.child = up.node LIMIT ?",
        (node, max_edges),
    )
    return [(r[0], r[1], r[2]) for r in rows]


def descendants(g: Graph, nodes: Iterable[str], *, max_edges: int = 1_000_000) -> list[tuple[str, str, str]]:
    """Every edge (parent, child, kind) downstream of any of ``nodes``."""
    rows = g.conn.execute(
        "WITH RECURSIVE down(node) AS ("
        "  SELECT value FROM json_each(?) "
        "  UNION SELECT e.child FROM edges_down e JOIN down ON e.parent = down.node"
        ") SELECT e.parent, e.child, e.kind FROM down JOIN edges_down e ON e.parent = down.node LIMIT ?",
        (_ids(nodes), max_edges),
    )
    return [(r[0], r[1], r[2]) for r in rows]


def readers(g: Graph, snapshot_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Input records (with their run's kind, status and start) that read any of the snapshots."""
    rows = g.conn.execute(
        "SELECT i.run_id, i.snapshot_id, i.role, i.path, i.dataset, i.time, r.kind, r.status, "
        "r.started, r.user "
        "FROM run_input_records i LEFT JOIN runs r ON r.run_id = i.run_id "
        "WHERE i.snapshot_id IN (SELECT value FROM json_each(?)) ORDER BY i.time, i.event_id",
        (_ids(snapshot_ids),),
    )
    keys = ("run_id", "snapshot_id", "role", "path", "dataset", "time", "kind", "status", "started",
            "user")
    return [dict(zip(keys, r)) for r in rows]


def content_key(g: Graph, snapshot_id: str) -> str | None:
    row = g.conn.execute("SELECT content_key FROM snapshot_content WHERE snapshot_id = ?",
                         (snapshot_id,)).fetchone()
    return None if row is None else row[0]


def same_content(g: Graph, snapshot_id: str) -> list[str]:
    """Other snapshots whose files have exactly the same digests (e.g. a renamed copy)."""
    rows = g.conn.execute(
        "SELECT b.snapshot_id FROM snapshot_content a JOIN snapshot_content b "
        "ON b.content_key = a.content_key AND b.snapshot_id != a.snapshot_id "
        "WHERE a.snapshot_id = ? ORDER BY b.snapshot_id",
        (snapshot_id,),
    )
    return [r[0] for r in rows]


def snapshots_with_content(g: Graph, key: str) -> list[str]:
    """Snapshots whose files have exactly these digests, under any names."""
    rows = g.conn.execute("SELECT snapshot_id FROM snapshot_content WHERE content_key = ? "
                          "ORDER BY snapshot_id", (key,))
    return [r[0] for r in rows]


def writers(g: Graph, snapshot_ids: Iterable[str]) -> list[str]:
    """Runs that recorded any of the snapshots as an output, in the order they wrote it."""
    rows = g.conn.execute(
        "SELECT DISTINCT run_id FROM run_output_records "
        "WHERE snapshot_id IN (SELECT value FROM json_each(?)) ORDER BY time, event_id",
        (_ids(snapshot_ids),),
    )
    return [r[0] for r in rows]


def datasets_of(g: Graph, snapshot_ids: Iterable[str]) -> dict[str, list[tuple[str, int | None]]]:
    """{snapshot_id: [(dataset, version), ...]} from the snapshot records and run records."""
    ids = _ids(snapshot_ids)
    rows = g.conn.execute(
        "SELECT snapshot_id, dataset, min(version) FROM snapshot_records "
        "WHERE snapshot_id IN (SELECT value FROM json_each(?)) AND dataset IS NOT NULL "
        "GROUP BY snapshot_id, dataset ORDER BY snapshot_id, min(version), dataset",
        (ids,),
    )
    out: dict[str, list[tuple[str, int | None]]] = {}
    for sid, name, version in rows:
        out.setdefault(sid, []).append((name, version))
    return out


def snapshots_of_datasets(g: Graph, names: Iterable[str]) -> list[str]:
    """Every snapshot ever recorded under any of the dataset names."""
    rows = g.conn.execute(
        "SELECT DISTINCT snapshot_id FROM snapshot_records "
        "WHERE dataset IN (SELECT value FROM json_each(?)) ORDER BY snapshot_id",
        (_ids(names),),
    )
    return [r[0] for r in rows]


def snapshot_summaries(g: Graph, snapshot_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per snapshot: kind, files, bytes, and its first record (who, when, where, which commit)."""
    rows = g.conn.execute(
        "SELECT s.id, s.kind, s.file_count, s.total_size, r.dataset, r.version, r.path, r.time, "
        "r.user, r.git_commit, r.git_dirty "
        "FROM snapshots s LEFT JOIN snapshot_records r ON r.event_id = ("
        "  SELECT event_id FROM snapshot_records WHERE snapshot_id = s.id ORDER BY time, event_id LIMIT 1) "
        "WHERE s.id IN (SELECT value FROM json_each(?))",
        (_ids(snapshot_ids),),
    )
    keys = ("snapshot_id", "kind", "files", "bytes", "dataset", "version", "path", "time", "user",
            "git_commit", "git_dirty")
    out = {}
    for r in rows:
        d = dict(zip(keys, r))
        d["git_dirty"] = None if d["git_dirty"] is None else bool(d["git_dirty"])
        out[d["snapshot_id"]] = d
    return out
