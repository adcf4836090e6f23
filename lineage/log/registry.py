"""Projectors: functions that fold one event into the derived tables.

Each event type has projectors registered with ``@projector("type")``; every projector
must be deterministic and depend only on the events, so ``rebuild`` gives the same
tables on every clone. The log names no feature: whoever knows the features installs
a loader with ``set_loader`` (``lineage.features`` does, when ``lineage`` is
imported), and ``load`` calls it before the log counts migrations, folds events or
lists providers, so a plug-in never misses a registry.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from lineage.log.events import Event

Projector = Callable[[sqlite3.Connection, Event], None]
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
        files = manifest["files"]
        cur = conn.execute(
            "INSERT OR IGNORE INTO snapshots (id, kind, file_count, total_size, first_time) "
            "VALUES (?, ?, ?, ?, ?)",
            (sid, manifest["kind"], len(files), sum(f["size"] for f in files), ev.time),
        )
        if cur.rowcount:
            conn.executemany(
                "INSERT OR IGNORE INTO files (snapshot_id, path, size, digest, executable) "
                "VALUES (?, ?, ?, ?, ?)",
                [(sid, f["path"], f["size"], f["digest"], int(f.get("executable", False)))
                 for f in files],
            )
    version = None
    dataset = b.get("dataset")
    if dataset:
        _ensure_dataset(conn, dataset, b.get("path"), ev.time)
        version = conn.execute(
            "SELECT latest_version + 1 FROM datasets WHERE name = ?", (dataset,)
        ).fetchone()[0]
        conn.execute(
            "UPDATE datasets SET latest_version = ?, latest_snapshot = ? WHERE name = ?",
            (version, sid, dataset),
        )
    git = b.get("git") or {}
    conn.execute(
        "INSERT OR REPLACE INTO snapshot_records (event_id, snapshot_id, dataset, version, path, "
        "message, time, user, host, git_commit, git_branch, git_dirty, stored) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ev.id, sid, dataset, version, b.get("path"), b.get("message"), ev.time, b.get("user"),
         b.get("host"), git.get("commit"), git.get("branch"),
         None if git.get("dirty") is None else int(git["dirty"]), int(b.get("stored", True))),
    )
