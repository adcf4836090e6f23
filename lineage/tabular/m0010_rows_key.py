"""Migration 10: the order-free rows key of each tabular file, and the ``file_rows`` view.

``tabular.file`` events carry ``rows_key`` (``lineage.tabular.rowskey.rows_key``): equal for
the same rows in any order, file format or column order. ``file_rows`` joins it to the
files of every snapshot, so SQL finds a test set re-exported under another name, format,
column order or row order (docs/queries.md).
"""

from __future__ import annotations

import sqlite3

from lineage.log.migrations import migration, run_script


@migration(10, "rows key of tabular files")
def _m0010(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        ALTER TABLE tabular_files ADD COLUMN rows_key TEXT;
        CREATE INDEX tabular_files_rows_key ON tabular_files(rows_key);
        CREATE VIEW file_rows AS
            SELECT f.snapshot_id, f.path, f.digest, t.rows, t.rows_key
            FROM files f JOIN tabular_files t ON t.digest = f.digest AND t.status = 'ok'
            GROUP BY f.snapshot_id, f.path;
        """,
    )
