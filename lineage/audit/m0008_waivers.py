"""Migration 8: waivers that expire, forced waivers, and revoked waivers.

``audit.waive`` may carry ``expires`` (an ISO time after which the waiver no longer
applies) and ``forced`` (recorded without a current finding of the rule on the run).
``audit.unwaive`` revokes a waiver; the ``waiver_revocations`` table is its projection.
"""

from __future__ import annotations

import sqlite3

from lineage.log.migrations import PROJECTION_TABLES, migration, run_script


@migration(8, "waiver expiry and revocation")
def _m0008(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        ALTER TABLE waivers ADD COLUMN expires TEXT;
        ALTER TABLE waivers ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE waiver_revocations (
            event_id  TEXT PRIMARY KEY,
            waiver_id TEXT NOT NULL,
            reason    TEXT,
            user      TEXT,
            time      TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX waiver_revocations_waiver ON waiver_revocations(waiver_id);
        """,
    )


if "waiver_revocations" not in PROJECTION_TABLES:
    PROJECTION_TABLES.append("waiver_revocations")
