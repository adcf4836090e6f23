"""Queries the audit needs: waivers, final scorings, runs by time, upstream runs."""

from __future__ import annotations

from typing import Any

from lineage.log import Graph
from lineage.log.events import Event
from lineage.log.registry import projector


@projector("audit.waive")
def _waive(conn, ev: Event) -> None:
    b = ev.body
    conn.execute(
        "INSERT OR REPLACE INTO waivers (event_id, rule, run_id, reason, user, time) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (ev.id, b["rule"], b["run_id"], b["reason"], b.get("user"), ev.time),
    )


def waivers(g: Graph, run_ids: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(rule, run_id): latest waiver} for the given runs."""
    import json

    rows = g.conn.execute(
        "SELECT rule, run_id, reason, user, time, event_id FROM waivers "
        "WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY time, event_id",
        (json.dumps(run_ids),),
    )
    return {(r[0], r[1]): {"reason": r[2], "user": r[3], "time": r[4], "event_id": r[5]} for r in rows}


def run_ids(g: Graph, *, since: str | None = None) -> list[str]:
    """Every run (or those started at or after ``since``), oldest first."""
    if since is None:
        rows = g.conn.execute("SELECT run_id FROM runs ORDER BY started, run_id")
    else:
        rows = g.conn.execute("SELECT run_id FROM runs WHERE started >= ? ORDER BY started, run_id",
                              (since,))
    return [r[0] for r in rows]


def runs_on_commits(g: Graph, commits: set[str], *, started_after: str) -> list[str]:
    """Runs recorded on any of ``commits``, or outside git after ``started_after``."""
    import json

    rows = g.conn.execute(
        "SELECT run_id FROM runs WHERE git_commit IN (SELECT value FROM json_each(?)) "
        "OR (git_commit IS NULL AND started >= ?) ORDER BY started, run_id",
        (json.dumps(sorted(commits)), started_after),
    )
    return [r[0] for r in rows]


def final_scorings(g: Graph) -> list[dict[str, Any]]:
    """Every final scoring: an ``evaluate`` run with a ``test`` input, oldest first."""
    rows = g.conn.execute(
        "SELECT run_id, test_snapshot_id, content_key, dataset, started, status FROM evaluations "
        "ORDER BY started, run_id"
    )
    keys = ("run_id", "snapshot_id", "content_key", "dataset", "started", "status")
    return [dict(zip(keys, r)) for r in rows]


def upstream_run_ids(g: Graph, run_id: str) -> list[str]:
    """Runs upstream of ``run_id`` through the snapshots it read (not itself)."""
    rows = g.conn.execute(
        "WITH RECURSIVE up(node) AS ("
        "  SELECT ? UNION SELECT e.parent FROM edges_up e JOIN up ON e.child = up.node"
        ") SELECT r.run_id FROM up JOIN runs r ON r.run_id = up.node WHERE r.run_id != ? "
        "ORDER BY r.started, r.run_id",
        (run_id, run_id),
    )
    return [r[0] for r in rows]


def snapshot_uses(g: Graph, snapshot_ids: list[str]) -> list[dict[str, Any]]:
    """Input records of any of the snapshots, with the reading run's kind and start time."""
    import json

    rows = g.conn.execute(
        "SELECT i.run_id, i.snapshot_id, i.role, r.kind, r.started FROM run_input_records i "
        "JOIN runs r ON r.run_id = i.run_id WHERE i.snapshot_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY r.started, i.run_id",
        (json.dumps(snapshot_ids),),
    )
    keys = ("run_id", "snapshot_id", "role", "kind", "started")
    return [dict(zip(keys, r)) for r in rows]


def snapshots_stored(g: Graph, snapshot_ids: list[str]) -> dict[str, bool]:
    """Whether each snapshot was ever recorded with its bytes kept (not --no-store)."""
    import json

    rows = g.conn.execute(
        "SELECT snapshot_id, max(stored) FROM snapshot_records "
        "WHERE snapshot_id IN (SELECT value FROM json_each(?)) GROUP BY snapshot_id",
        (json.dumps(snapshot_ids),),
    )
    found = {r[0]: bool(r[1]) for r in rows}
    return {sid: found.get(sid, False) for sid in snapshot_ids}


def heldout_snapshots(g: Graph, roles: tuple[str, ...] = ("validation", "test")) -> dict[str, list[dict[str, Any]]]:
    """{snapshot_id: [input records]} of every snapshot ever read with a held-out role."""
    import json

    rows = g.conn.execute(
        "SELECT i.snapshot_id, i.run_id, i.role, r.kind, c.content_key FROM run_input_records i "
        "JOIN runs r ON r.run_id = i.run_id LEFT JOIN snapshot_content c ON c.snapshot_id = i.snapshot_id "
        "WHERE i.role IN (SELECT value FROM json_each(?)) ORDER BY r.started",
        (json.dumps(list(roles)),),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for sid, run_id, role, kind, key in rows:
        out.setdefault(sid, []).append({"run_id": run_id, "role": role, "kind": kind, "content_key": key})
    return out
