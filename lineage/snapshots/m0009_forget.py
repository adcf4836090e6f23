"""Migration 9: which datasets are tracked, and which hold data outside the repository.

``lineage forget NAME`` records a ``dataset.forget`` event: the dataset stays in
``datasets`` (its history still resolves) with ``tracked = 0``; its next snapshot
tracks it again. ``external`` is set when the dataset's latest snapshot was taken of
a path outside the repository (``lineage snapshot PATH --external``).
"""

from __future__ import annotations

import sqlite3

from lineage.log.migrations import migration, run_script


@migration(9, "tracked and external datasets")
def _m0009(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        ALTER TABLE datasets ADD COLUMN tracked INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE datasets ADD COLUMN external INTEGER NOT NULL DEFAULT 0;
        """,
    )
