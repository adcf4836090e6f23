"""Projectors: functions that fold one event into the derived tables.

Each event type has projectors registered with ``@projector("type")``; every projector
must be deterministic and depend only on the events, so ``rebuild`` gives the same
tables on every clone. The log names no feature: whoever knows the features installs
a loader with ``set_loader`` (``lineage.features`` does, when ``lineage`` is
imported), and ``load`` calls it before the log counts migrations, folds events or
lists providers, so a plug-in never misses a registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

    from lineage.log.events import Event

Projector = Callable[["sqlite3.Connection", "Event"], None]
_PROJECTORS: dict[str, list[Projector]] = {}
_loader: Callable[[], None] | None = None


def projector(event_type: str) -> Callable[[Projector], Projector]:
    def register(fn: Projector) -> Projector:
        _PROJECTORS.setdefault(event_type, []).append(fn)
        return fn

    return register


def set_loader(fn: Callable[[], None]) -> None:
    """Have ``load`` call ``fn``, which registers every plug-in (idempotent, cheap twice)."""
    global _loader
    _loader = fn


def load() -> None:
    """Register every plug-in: migrations, projectors, reference providers and the rest."""
    if _loader is None:
        # counting migrations without the features' own would take a newer database
        # for current, or an older one for up to date
        raise RuntimeError("no plug-in loader installed: import lineage.features first")
    _loader()


def apply(conn: sqlite3.Connection, event: Event) -> None:
    load()
    for fn in _PROJECTORS.get(event.type, ()):
        fn(conn, event)


# -- built-in: datasets and snapshots ------------------------------------------

def _ensure_dataset(conn: sqlite3.Connection, name: str, path: str | None, time: str) -> None:
    conn.execute(
        "INSERT INTO datasets (name, path, created_time) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET path = coalesce(excluded.path, datasets.path)",
        (name, path, time),
    )


@projector("dataset.declare")
def _declare(conn: sqlite3.Connection, ev: Event) -> None:
    import json

    b = ev.body
    _ensure_dataset(conn, b["name"], b.get("path"), ev.time)
    row = conn.execute("SELECT declarations FROM datasets WHERE name = ?", (b["name"],)).fetchone()
    decl = json.loads(row[0] or "{}")
    decl.update({k: v for k, v in (b.get("columns") or {}).items()})
    decl = {k: v for k, v in decl.items() if v is not None}
    conn.execute(
        "UPDATE datasets SET declarations = ?, label_column = ?, group_column = ?, time_column = ? "
        "WHERE name = ?",
        (json.dumps(decl, sort_keys=True), decl.get("label"), decl.get("group"), decl.get("time"),
         b["name"]),
    )


@projector("snapshot")
def _snapshot(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    sid = b["snapshot_id"]
    manifest = b.get("manifest")
    if manifest is not None:
        # a snapshot just taken hands its manifest over as (path, size, digest, executable)
        # rows with the JSON already written (``Graph.append(body_json=...)``); a replay, as
        # the decoded document
        rows = getattr(manifest, "entries", None)
        if rows is not None:
            kind = manifest.kind
        else:
            kind, files = manifest["kind"], manifest["files"]
            rows = [(f["path"], f["size"], f["digest"], f.get("executable", False)) for f in files]
        cur = conn.execute(
            "INSERT OR IGNORE INTO snapshots (id, kind, file_count, total_size, first_time) "
            "VALUES (?, ?, ?, ?, ?)",
            (sid, kind, len(rows), sum(r[1] for r in rows), ev.time),
        )
        if cur.rowcount:
            conn.executemany(
                "INSERT OR IGNORE INTO files (snapshot_id, path, size, digest, executable) "
                "VALUES (?, ?, ?, ?, ?)",
                ((sid, p, n, d, int(x)) for p, n, d, x in rows),
            )
    version = None
    dataset = b.get("dataset")
    if dataset:
        version = _number(conn, ev, dataset, sid, b.get("path"))
    git = b.get("git") or {}
    conn.execute(
        "INSERT OR REPLACE INTO snapshot_records (event_id, snapshot_id, dataset, version, path, "
        "message, time, user, host, git_commit, git_branch, git_dirty, stored) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ev.id, sid, dataset, version, b.get("path"), b.get("message"), ev.time, b.get("user"),
         b.get("host"), git.get("commit"), git.get("branch"),
         None if git.get("dirty") is None else int(git["dirty"]), int(b.get("stored", True))),
    )


# -- version numbers: in the order the events arrived in this clone ----------------

def _arrival(conn: sqlite3.Connection, event_id: str) -> int | None:
    """The event's place in this clone's log (``events.seq``: append-only, never renumbered)."""
    row = conn.execute("SELECT seq FROM events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else row[0]


def _number(conn: sqlite3.Connection, ev: Event, dataset: str, sid: str, path: str | None) -> int:
    """The version of ``dataset`` this snapshot record gets in this clone.

    Versions follow the order the records arrived in this clone's log, not the replay
    order: a ``NAME@N`` once shown keeps its meaning after a pull brings a concurrent
    snapshot from another clone (that one gets the next free number here). Since the
    log's sequence numbers are kept forever, ``rebuild`` and ``verify`` find the same
    numbers whatever order they fold the events in.
    """
    row = conn.execute("SELECT latest_version, path FROM datasets WHERE name = ?", (dataset,)).fetchone()
    seq = _arrival(conn, ev.id)
    later = 0
    if row is not None and row[0] and seq is not None:
        later = conn.execute(
            "SELECT count(*) FROM snapshot_records r JOIN events e ON e.id = r.event_id "
            "WHERE r.dataset = ? AND e.seq > ?", (dataset, seq)).fetchone()[0]
    if not later:  # the usual case: the newest record of the dataset
        _ensure_dataset(conn, dataset, path, ev.time)
        version = conn.execute(
            "SELECT latest_version + 1 FROM datasets WHERE name = ?", (dataset,)
        ).fetchone()[0]
        conn.execute(
            "UPDATE datasets SET latest_version = ?, latest_snapshot = ? WHERE name = ?",
            (version, sid, dataset),
        )
        return version
    # a replay folding an earlier arrival after later ones (histories that diverged):
    # it takes its place, the later records move up one, the latest stays the latest
    conn.execute(
        "UPDATE snapshot_records SET version = version + 1 WHERE dataset = ? AND event_id IN "
        "(SELECT id FROM events WHERE seq > ?)", (dataset, seq))
    conn.execute("UPDATE datasets SET latest_version = latest_version + 1 WHERE name = ?", (dataset,))
    return int(row[0]) + 1 - later
