"""Migration 5: snapshot aliases (names other tools give the same content).

An ``alias`` event ties an outside identifier, such as the md5 DVC records for a
tracked output, to a lineage snapshot ID, so ``lineage show md5:<hash>`` finds the
snapshot. The table is a projection of those events.
"""

from __future__ import annotations

import sqlite3

from lineage.log.migrations import PROJECTION_TABLES, migration, run_script


@migration(5, "snapshot aliases")
def _m0005(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE snapshot_aliases (
            scheme      TEXT NOT NULL,
            value       TEXT NOT NULL,
            snapshot_id TEXT NOT NULL,
            event_id    TEXT NOT NULL,
            time        TEXT NOT NULL,
            PRIMARY KEY (scheme, value, snapshot_id)
        ) WITHOUT ROWID;
        CREATE INDEX snapshot_aliases_snapshot ON snapshot_aliases(snapshot_id);
        """,
    )


if "snapshot_aliases" not in PROJECTION_TABLES:
    PROJECTION_TABLES.append("snapshot_aliases")
