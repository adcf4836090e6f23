"""Migration 11: by-reference snapshots (where the bytes of a snapshot live).

A ``snapshot.reference`` event records the URL of a snapshot whose bytes stay where
they live (``s3://...``) and each file's ETag and version ID where the store has one
(``lineage.snapshots.reference``). These tables are its projection.
"""

from __future__ import annotations

import sqlite3

from lineage.log.migrations import PROJECTION_TABLES, migration, run_script


@migration(11, "by-reference snapshots")
def _m0011(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE snapshot_references (
            event_id    TEXT PRIMARY KEY,
            snapshot_id TEXT NOT NULL,
            url         TEXT NOT NULL,
            dataset     TEXT,
            files       INTEGER NOT NULL,
            versioned   INTEGER NOT NULL,
            time        TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX snapshot_references_snapshot ON snapshot_references(snapshot_id, url);
        CREATE TABLE reference_files (
            event_id    TEXT NOT NULL,
            path        TEXT NOT NULL,
            etag        TEXT,
            version_id  TEXT,
            PRIMARY KEY (event_id, path)
        ) WITHOUT ROWID;
        """,
    )


for _table in ("snapshot_references", "reference_files"):
    if _table not in PROJECTION_TABLES:
        PROJECTION_TABLES.append(_table)
