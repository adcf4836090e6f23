"""Read queries over the projections of snapshots and datasets.

Callers outside ``lineage.log`` use these functions and never write SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lineage.log import Graph


@dataclass(frozen=True)
class DatasetRow:
    name: str
    path: str | None
    latest_snapshot: str | None
    latest_version: int
    declarations: dict[str, str]
    #: False once ``lineage forget`` stopped tracking it (its history still resolves)
    tracked: bool = True
    #: its latest snapshot is of a path outside the repository (``--external``)
    external: bool = False


def dataset(g: Graph, name: str) -> DatasetRow | None:
    row = g.conn.execute(
        "SELECT name, path, latest_snapshot, latest_version, declarations, tracked, external "
        "FROM datasets WHERE name = ?",
        (name,),
    ).fetchone()
    return None if row is None else DatasetRow(row[0], row[1], row[2], row[3], json.loads(row[4] or "{}"),
                                               bool(row[5]), bool(row[6]))


def dataset_by_path(g: Graph, rel: str) -> DatasetRow | None:
    row = g.conn.execute(
        "SELECT name FROM datasets WHERE path = ? ORDER BY created_time, name LIMIT 1", (rel,)
    ).fetchone()
    return None if row is None else dataset(g, row[0])


def tracked_datasets(g: Graph) -> list[DatasetRow]:
    rows = g.conn.execute(
        "SELECT name FROM datasets WHERE path IS NOT NULL AND tracked = 1 ORDER BY name").fetchall()
    return [d for (name,) in rows if (d := dataset(g, name)) is not None]


def snapshot_known(g: Graph, sid: str) -> bool:
    return g.conn.execute("SELECT 1 FROM snapshots WHERE id = ?", (sid,)).fetchone() is not None


def snapshot_stored(g: Graph, sid: str) -> bool:
    """Was ``sid`` recorded with its bytes stored (not only with --no-store)?"""
    return g.conn.execute("SELECT 1 FROM snapshot_records WHERE snapshot_id = ? AND stored = 1 LIMIT 1",
                          (sid,)).fetchone() is not None


def snapshot_ids(g: Graph) -> list[str]:
    return [r[0] for r in g.conn.execute("SELECT id FROM snapshots ORDER BY id")]


def version_of_record(g: Graph, event_id: str) -> int | None:
    row = g.conn.execute("SELECT version FROM snapshot_records WHERE event_id = ?", (event_id,)).fetchone()
    return None if row is None else row[0]


def snapshot_at_version(g: Graph, name: str, version: int) -> str | None:
    row = g.conn.execute(
        "SELECT snapshot_id FROM snapshot_records WHERE dataset = ? AND version = ?", (name, version)
    ).fetchone()
    return None if row is None else row[0]


def version_in_dataset(g: Graph, name: str, sid: str) -> int | None:
    """The highest version under which dataset ``name`` recorded snapshot ``sid`` (None: never)."""
    row = g.conn.execute(
        "SELECT MAX(version) FROM snapshot_records WHERE dataset = ? AND snapshot_id = ?", (name, sid)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def forget_events(g: Graph, name: str | None = None) -> list[dict[str, Any]]:
    """``dataset.forget`` events (oldest first): {event_id, time, actor, name, path, user}."""
    out = []
    for eid, time, actor, body in g.conn.execute(
            "SELECT id, time, actor, body FROM events WHERE type = 'dataset.forget' ORDER BY seq"):
        b = json.loads(body)
        if name is None or b.get("name") == name:
            out.append({"event_id": eid, "time": time, "actor": actor, "name": b.get("name"),
                        "path": b.get("path"), "user": b.get("user")})
    return out


def snapshots_with_prefix(g: Graph, prefix: str, limit: int = 3) -> list[str]:
    rows = g.conn.execute(
        "SELECT id FROM snapshots WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
        (prefix, prefix + "g", limit),
    )
    return [r[0] for r in rows]


def snapshot_files(g: Graph, sid: str) -> tuple[str | None, list[tuple[str, int, str, bool]]]:
    """(kind, [(path, size, digest, executable)]) as projected from the log."""
    kind = g.conn.execute("SELECT kind FROM snapshots WHERE id = ?", (sid,)).fetchone()
    rows = g.conn.execute(
        "SELECT path, size, digest, executable FROM files WHERE snapshot_id = ?", (sid,)
    ).fetchall()
    return (kind[0] if kind else None), [(r[0], r[1], r[2], bool(r[3])) for r in rows]


def last_recorded_path(g: Graph, sid: str) -> str | None:
    row = g.conn.execute(
        "SELECT path FROM snapshot_records WHERE snapshot_id = ? AND path IS NOT NULL "
        "ORDER BY time DESC LIMIT 1", (sid,)
    ).fetchone()
    return None if row is None else row[0]


_RECORD_SQL = (
    "SELECT r.dataset, r.version, r.snapshot_id, r.time, r.user, r.host, r.message, r.path, "
    "r.git_commit, r.git_branch, r.git_dirty, s.file_count, s.total_size "
    "FROM snapshot_records r LEFT JOIN snapshots s ON s.id = r.snapshot_id "
)
RECORD_FIELDS = ("dataset", "version", "snapshot", "time", "user", "host", "message", "path",
                 "git_commit", "git_branch", "git_dirty", "files", "bytes")


def _records(g: Graph, where: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    out = []
    for r in g.conn.execute(_RECORD_SQL + where, args):
        d = dict(zip(RECORD_FIELDS, r))
        d["git_dirty"] = None if d["git_dirty"] is None else bool(d["git_dirty"])
        d["files"] = d["files"] or 0
        d["bytes"] = d["bytes"] or 0
        out.append(d)
    return out


def records_of_dataset(g: Graph, name: str) -> list[dict[str, Any]]:
    return _records(g, "WHERE r.dataset = ? ORDER BY r.version DESC", (name,))


def records_all(g: Graph) -> list[dict[str, Any]]:
    return _records(g, "ORDER BY r.time DESC, r.dataset", ())


def records_of_snapshot(g: Graph, sid: str) -> list[dict[str, Any]]:
    return _records(g, "WHERE r.snapshot_id = ? ORDER BY r.time", (sid,))


def files_with_digest(g: Graph, digest: str, limit: int = 50) -> list[tuple[str, str]]:
    """(snapshot_id, path) of files with this content."""
    rows = g.conn.execute(
        "SELECT snapshot_id, path FROM files WHERE digest = ? ORDER BY snapshot_id, path LIMIT ?",
        (digest, limit),
    )
    return [(r[0], r[1]) for r in rows]


def stored_file_digests(g: Graph) -> list[str]:
    """Digests of every file of every snapshot recorded with its bytes stored."""
    rows = g.conn.execute(
        "SELECT DISTINCT digest FROM files WHERE snapshot_id IN "
        "(SELECT snapshot_id FROM snapshot_records WHERE stored = 1)"
    )
    return [r[0] for r in rows]


def manifest_in_log(g: Graph, sid: str) -> dict[str, Any] | None:
    """The manifest a ``snapshot`` event carries for ``sid`` (the first record carries it)."""
    row = g.conn.execute(
        "SELECT json_extract(body, '$.manifest') FROM events WHERE type = 'snapshot' "
        "AND json_extract(body, '$.snapshot_id') = ? AND json_extract(body, '$.manifest') IS NOT NULL "
        "LIMIT 1", (sid,)).fetchone()
    return None if row is None or row[0] is None else json.loads(row[0])


def dataset_latest(g: Graph) -> dict[str, tuple[int, str | None]]:
    """Every dataset's latest version and snapshot, tracked or not."""
    return {r[0]: (r[1], r[2]) for r in g.conn.execute(
        "SELECT name, latest_version, latest_snapshot FROM datasets")}


def records_of_events(g: Graph, event_ids: list[str]) -> list[tuple[str, int, str, int | None]]:
    """(dataset, version here, snapshot, version the recording clone gave) of these events'
    snapshot records, oldest version first."""
    rows = g.conn.execute(
        "SELECT r.dataset, r.version, r.snapshot_id, json_extract(e.body, '$.version') "
        "FROM snapshot_records r JOIN events e ON e.id = r.event_id "
        "WHERE r.event_id IN (SELECT value FROM json_each(?)) AND r.dataset IS NOT NULL "
        "ORDER BY r.dataset, r.version", (json.dumps(event_ids),))
    return [(r[0], r[1], r[2], r[3] if isinstance(r[3], int) else None) for r in rows]
