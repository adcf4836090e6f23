"""Migration 3: tabular metadata of files (schema, rows, derived objects)."""

from __future__ import annotations

import sqlite3

from lineage.log.migrations import PROJECTION_TABLES, migration, run_script


@migration(3, "tabular file records")
def _m0003(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS tabular_files (
            digest       TEXT NOT NULL,
            scheme       INTEGER NOT NULL,
            decl_key     TEXT NOT NULL,
            event_id     TEXT NOT NULL,
            format       TEXT,
            status       TEXT NOT NULL,
            error        TEXT,
            rows         INTEGER,
            columns      TEXT NOT NULL DEFAULT '[]',
            notes        TEXT NOT NULL DEFAULT '[]',
            fingerprints TEXT,
            profile      TEXT,
            minhash      TEXT,
            time         TEXT NOT NULL,
            PRIMARY KEY (digest, scheme, decl_key)
        ) WITHOUT ROWID;
        """
    )


if "tabular_files" not in PROJECTION_TABLES:
    PROJECTION_TABLES.append("tabular_files")
