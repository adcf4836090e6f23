"""Numbered schema migrations of the lineage database.

``PRAGMA user_version`` holds the number of the last migration applied. Each
migration is a function of the connection; they run in order, each in its own
transaction, and are never edited once released: add a new one instead. Features
add theirs with ``@migration``; the log names none of them, and ``load`` (called by
``current_version`` and ``migrate``) runs the loader ``lineage.features`` installs.
Projection tables may be dropped and recreated freely by a migration followed by
a rebuild, since they are derived from the event log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

Migration = Callable[["sqlite3.Connection"], None]
MIGRATIONS: list[tuple[int, str, Migration]] = []


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run several statements inside the caller's transaction.

    (``executescript`` would commit first, which a migration must not do.)
    """
    import sqlite3

    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        conn.execute(statement)


def migration(number: int, name: str) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        MIGRATIONS.append((number, name, fn))
        MIGRATIONS.sort(key=lambda m: m[0])
        return fn

    return register


@migration(1, "event log and snapshot projections")
def _m0001(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE events (
            seq     INTEGER PRIMARY KEY AUTOINCREMENT,
            id      TEXT NOT NULL UNIQUE,
            type    TEXT NOT NULL,
            time    TEXT NOT NULL,
            actor   TEXT NOT NULL,
            parents TEXT NOT NULL,
            body    TEXT NOT NULL
        );
        CREATE INDEX events_type ON events(type);
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
        CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

        CREATE TABLE event_parents (
            parent TEXT NOT NULL,
            child  TEXT NOT NULL,
            PRIMARY KEY (parent, child)
        ) WITHOUT ROWID;

        CREATE TABLE snapshots (
            id          TEXT PRIMARY KEY,
            kind        TEXT NOT NULL,
            file_count  INTEGER NOT NULL,
            total_size  INTEGER NOT NULL,
            first_time  TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE snapshot_records (
            event_id    TEXT PRIMARY KEY,
            snapshot_id TEXT NOT NULL,
            dataset     TEXT,
            version     INTEGER,
            path        TEXT,
            message     TEXT,
            time        TEXT NOT NULL,
            user        TEXT,
            host        TEXT,
            git_commit  TEXT,
            git_branch  TEXT,
            git_dirty   INTEGER,
            stored      INTEGER NOT NULL DEFAULT 1
        ) WITHOUT ROWID;
        CREATE INDEX snapshot_records_snapshot ON snapshot_records(snapshot_id);
        CREATE INDEX snapshot_records_dataset ON snapshot_records(dataset, version);

        CREATE TABLE files (
            snapshot_id TEXT NOT NULL,
            path        TEXT NOT NULL,
            size        INTEGER NOT NULL,
            digest      TEXT NOT NULL,
            executable  INTEGER NOT NULL,
            PRIMARY KEY (snapshot_id, path)
        ) WITHOUT ROWID;
        CREATE INDEX files_digest ON files(digest);

        CREATE TABLE datasets (
            name            TEXT PRIMARY KEY,
            path            TEXT,
            label_column    TEXT,
            group_column    TEXT,
            time_column     TEXT,
            declarations    TEXT NOT NULL DEFAULT '{}',
            created_time    TEXT NOT NULL,
            latest_snapshot TEXT,
            latest_version  INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX datasets_path ON datasets(path);
        """
    )


@migration(7, "current heads of the event log")
def _m0007(conn: sqlite3.Connection) -> None:
    # heads were found by scanning every event on each append: quadratic over a long log
    run_script(
        conn,
        """
        CREATE TABLE event_heads (id TEXT PRIMARY KEY) WITHOUT ROWID;
        INSERT INTO event_heads (id)
            SELECT e.id FROM events e
            WHERE NOT EXISTS (SELECT 1 FROM event_parents p WHERE p.parent = e.id);
        """,
    )


#: Tables derived from the event log, emptied and refilled by ``rebuild``.
#: Later migrations append their own projection tables here.
PROJECTION_TABLES: list[str] = ["snapshots", "snapshot_records", "files", "datasets"]

_loader: Callable[[], None] | None = None


def set_loader(fn: Callable[[], None]) -> None:
    """Have ``load`` call ``fn``, which registers the features' migrations (idempotent)."""
    global _loader
    _loader = fn


def load() -> None:
    """Register the features' migrations too (they add theirs with ``@migration``)."""
    if _loader is None:
        # counting only the log's own migrations would take a newer database for
        # current, or leave an older one without the features' tables
        raise RuntimeError("no migration loader installed: import lineage.features first")
    _loader()


def current_version() -> int:
    load()
    return MIGRATIONS[-1][0] if MIGRATIONS else 0


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations; returns the numbers applied."""
    load()
    applied = []
    have = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, _name, fn in MIGRATIONS:
        if number <= have:
            continue
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
            conn.execute("ROLLBACK")  # another process opening the database applied it meanwhile
            continue
        try:
            fn(conn)
            conn.execute(f"PRAGMA user_version = {int(number)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied
