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
        "INSERT OR REPLACE INTO waivers (event_id, rule, run_id, reason, user, time, expires, forced) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (ev.id, b["rule"], b["run_id"], b["reason"], b.get("user"), ev.time, b.get("expires"),
         int(bool(b.get("forced", False)))),
    )


@projector("audit.unwaive")
def _unwaive(conn, ev: Event) -> None:
    b = ev.body
    conn.execute(
        "INSERT OR REPLACE INTO waiver_revocations (event_id, waiver_id, reason, user, time) "
        "VALUES (?, ?, ?, ?, ?)",
        (ev.id, b["waiver_id"], b.get("reason"), b.get("user"), ev.time),
    )


_WAIVER_COLUMNS = ("event_id", "rule", "run_id", "reason", "user", "time", "expires", "forced",
                   "revoked_by", "revoked_time", "revoke_reason", "revoke_event_id")
_WAIVER_SELECT = (
    "SELECT w.event_id, w.rule, w.run_id, w.reason, w.user, w.time, w.expires, w.forced, "
    "r.user, r.time, r.reason, r.event_id FROM waivers w "
    "LEFT JOIN waiver_revocations r ON r.event_id = ("
    "  SELECT r2.event_id FROM waiver_revocations r2 WHERE r2.waiver_id = w.event_id "
    "  ORDER BY r2.time, r2.event_id LIMIT 1) "
)


def _waiver_rows(rows) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = dict(zip(_WAIVER_COLUMNS, r))
        d["forced"] = bool(d["forced"])
        out.append(d)
    return out


def waivers(g: Graph, run_ids: list[str], *, now: str) -> dict[tuple[str, str], dict[str, Any]]:
    """{(rule, run_id): latest waiver in force at ``now``} for the given runs: not revoked,
    not expired."""
    import json

    rows = g.conn.execute(
        "SELECT rule, run_id, reason, user, time, event_id, expires, forced FROM waivers w "
        "WHERE run_id IN (SELECT value FROM json_each(?)) AND (expires IS NULL OR expires > ?) "
        "AND NOT EXISTS (SELECT 1 FROM waiver_revocations r WHERE r.waiver_id = w.event_id) "
        "ORDER BY time, event_id",
        (json.dumps(run_ids), now),
    )
    return {(r[0], r[1]): {"reason": r[2], "user": r[3], "time": r[4], "event_id": r[5], "expires": r[6],
                           "forced": bool(r[7])} for r in rows}


def waiver_list(g: Graph, run_id: str | None = None) -> list[dict[str, Any]]:
    """Every waiver (of one run, if given), oldest first, with its first revocation if any."""
    if run_id is None:
        rows = g.conn.execute(_WAIVER_SELECT + "ORDER BY w.time, w.event_id")
    else:
        rows = g.conn.execute(_WAIVER_SELECT + "WHERE w.run_id = ? ORDER BY w.time, w.event_id", (run_id,))
    return _waiver_rows(rows)


def waivers_with_prefix(g: Graph, prefix: str) -> list[dict[str, Any]]:
    """Waivers whose event ID starts with ``prefix``."""
    esc = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = g.conn.execute(_WAIVER_SELECT + "WHERE w.event_id LIKE ? ESCAPE '\\' ORDER BY w.time, w.event_id",
                          (esc + "%",))
    return _waiver_rows(rows)


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


#: Splits of a metric that count as a test score: ``test``, or no split at all.
TEST_SCORE_SPLITS = ("test", None)

#: Run statuses whose evaluation counts as a final scoring only when it logged a test score.
UNFINISHED_STATUSES = ("failed", "aborted")


def counts_as_scoring(status: str | None, splits: Any) -> bool:
    """The one policy on failed and aborted runs (docs/audit.md, "Failed and aborted runs").

    An ``evaluate`` run with a ``test`` input is a use of the test set (a final scoring)
    unless it failed or was aborted without logging a test score (a metric with split
    ``test`` or no split). ``splits``: the splits of the metrics the run logged.
    """
    if status not in UNFINISHED_STATUSES:
        return True
    return any(s in TEST_SCORE_SPLITS for s in splits)


def final_scorings(g: Graph) -> list[dict[str, Any]]:
    """Every final scoring, oldest first: an ``evaluate`` run with a ``test`` input that
    counts as a use of the test set (``counts_as_scoring``)."""
    rows = g.conn.execute(
        "SELECT e.run_id, e.test_snapshot_id, e.content_key, e.dataset, e.started, e.status, "
        "EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = e.run_id "
        "        AND (m.split IS NULL OR m.split = 'test')) "
        "FROM evaluations e ORDER BY e.started, e.run_id"
    )
    keys = ("run_id", "snapshot_id", "content_key", "dataset", "started", "status")
    return [dict(zip(keys, r[:6])) for r in rows
            if counts_as_scoring(r[5], [None] if r[6] else [])]


def evaluations_finished_before_read(g: Graph, run_id: str, snapshot_id: str) -> set[str]:
    """``evaluate`` runs whose finish happened before ``run_id`` first read ``snapshot_id``
    (by time, then event seq; docs/audit.md, "Order: happens-before")."""
    rows = g.conn.execute(
        "WITH rd AS (SELECT i.time AS t, coalesce(ei.seq, 0) AS s FROM run_input_records i "
        "  LEFT JOIN events ei ON ei.id = i.event_id WHERE i.run_id = ? AND i.snapshot_id = ? "
        "  ORDER BY i.time, coalesce(ei.seq, 0) LIMIT 1) "
        "SELECT r.run_id FROM runs r LEFT JOIN events ef ON ef.id = r.finish_event JOIN rd "
        "WHERE r.kind = 'evaluate' AND r.ended IS NOT NULL AND r.run_id != ? "
        "AND (r.ended < rd.t OR (r.ended = rd.t AND coalesce(ef.seq, 0) < rd.s))",
        (run_id, snapshot_id, run_id),
    )
    return {r[0] for r in rows}


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


def snapshot_rows(g: Graph, snapshot_ids: list[str]) -> dict[str, int]:
    """{snapshot: recorded rows} of the given snapshots: tabular files by their rows, others as one."""
    import json

    rows = g.conn.execute(
        "SELECT f.snapshot_id, sum(coalesce((SELECT max(t.rows) FROM tabular_files t "
        "WHERE t.digest = f.digest AND t.status = 'ok'), 1)) FROM files f "
        "WHERE f.snapshot_id IN (SELECT value FROM json_each(?)) GROUP BY f.snapshot_id",
        (json.dumps(snapshot_ids),),
    )
    return {r[0]: int(r[1]) for r in rows}
