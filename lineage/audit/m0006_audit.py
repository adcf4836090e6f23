"""Migration 6: audit waivers.

A waiver is an event (``audit.waive``) naming a rule, a run and a reason; the
``waivers`` table is its projection. Waived findings are still reported, marked as
waived with who waived them, when and why.
"""

from __future__ import annotations

import sqlite3

from lineage.log.migrations import PROJECTION_TABLES, migration, run_script


@migration(6, "audit waivers")
def _m0006(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE waivers (
            event_id TEXT PRIMARY KEY,
            rule     TEXT NOT NULL,
            run_id   TEXT NOT NULL,
            reason   TEXT NOT NULL,
            user     TEXT,
            time     TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX waivers_run ON waivers(run_id, rule);
        """,
    )


if "waivers" not in PROJECTION_TABLES:
    PROJECTION_TABLES.append("waivers")
