"""Migration 2: run records, the edge tables provenance walks, and the auditor views.

Projection tables (refilled from the log by ``rebuild``):

- ``runs``: one row per run (``run.start`` + ``run.finish``)
- ``run_input_records`` / ``run_output_records``: what each run read (with a role) and wrote
- ``run_params``, ``metrics``: parameters and metrics (metrics keep their split)
- ``edges_up`` (child -> parent) and ``edges_down`` (parent -> child): the lineage DAG
  over node IDs of snapshots and runs, one table per walking direction so both
  recursive walks are index-only lookups on a primary key
- ``snapshot_content``: a key over the sorted file digests of each snapshot, so a copy
  saved under another name (a different manifest, the same bytes) is found by one lookup

The views (``run_inputs``, ``run_outputs``, ``evaluations``, ``lineage_edges``) are part
of the stable, documented schema for auditors (docs/queries.md); they are never emptied.
"""

from __future__ import annotations

import sqlite3

from lineage.log.migrations import PROJECTION_TABLES, migration, run_script

TABLES = ["runs", "run_input_records", "run_output_records", "run_params", "metrics",
          "edges_up", "edges_down", "snapshot_content"]


@migration(2, "run records, lineage edges and auditor views")
def _m0002(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE runs (
            run_id          TEXT PRIMARY KEY,
            kind            TEXT NOT NULL,
            status          TEXT NOT NULL,          -- running | succeeded | failed | aborted
            exit_code       INTEGER,
            error           TEXT,
            command         TEXT,                   -- JSON array of argv, or NULL
            started         TEXT NOT NULL,
            ended           TEXT,
            user            TEXT,
            host            TEXT,
            git_commit      TEXT,
            git_branch      TEXT,
            git_dirty       INTEGER,
            git_diff_digest TEXT,
            python          TEXT,
            env             TEXT NOT NULL DEFAULT '{}',  -- JSON: python, platform, packages
            parent_run      TEXT,
            start_event     TEXT NOT NULL,
            finish_event    TEXT
        ) WITHOUT ROWID;
        CREATE INDEX runs_started ON runs(started);
        CREATE INDEX runs_kind ON runs(kind, started);
        CREATE INDEX runs_parent ON runs(parent_run);

        CREATE TABLE run_input_records (
            event_id    TEXT PRIMARY KEY,
            run_id      TEXT NOT NULL,
            snapshot_id TEXT NOT NULL,
            role        TEXT NOT NULL,
            path        TEXT,
            dataset     TEXT,
            time        TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX run_input_records_run ON run_input_records(run_id);
        CREATE INDEX run_input_records_snapshot ON run_input_records(snapshot_id, role);
        CREATE INDEX run_input_records_dataset ON run_input_records(dataset);

        CREATE TABLE run_output_records (
            event_id    TEXT PRIMARY KEY,
            run_id      TEXT NOT NULL,
            snapshot_id TEXT NOT NULL,
            path        TEXT,
            dataset     TEXT,
            time        TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX run_output_records_run ON run_output_records(run_id);
        CREATE INDEX run_output_records_snapshot ON run_output_records(snapshot_id);

        CREATE TABLE run_params (
            run_id TEXT NOT NULL,
            name   TEXT NOT NULL,
            value,                                  -- native SQLite type; JSON text for lists/objects
            PRIMARY KEY (run_id, name)
        ) WITHOUT ROWID;

        CREATE TABLE metrics (
            event_id TEXT PRIMARY KEY,
            run_id   TEXT NOT NULL,
            name     TEXT NOT NULL,
            value    REAL NOT NULL,
            split    TEXT,
            step     INTEGER,
            time     TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX metrics_run ON metrics(run_id, name);

        CREATE TABLE edges_up (
            child  TEXT NOT NULL,
            parent TEXT NOT NULL,
            kind   TEXT NOT NULL,                   -- input (snapshot -> run) | output (run -> snapshot)
            PRIMARY KEY (child, parent)
        ) WITHOUT ROWID;

        CREATE TABLE edges_down (
            parent TEXT NOT NULL,
            child  TEXT NOT NULL,
            kind   TEXT NOT NULL,
            PRIMARY KEY (parent, child)
        ) WITHOUT ROWID;

        CREATE TABLE snapshot_content (
            snapshot_id TEXT PRIMARY KEY,
            content_key TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX snapshot_content_key ON snapshot_content(content_key);

        CREATE VIEW run_inputs AS
            SELECT i.run_id, r.kind AS run_kind, i.role, i.snapshot_id, i.dataset, i.path,
                   c.content_key, i.time, r.status, r.user, r.git_commit, r.git_dirty
            FROM run_input_records i
            LEFT JOIN runs r ON r.run_id = i.run_id
            LEFT JOIN snapshot_content c ON c.snapshot_id = i.snapshot_id;

        CREATE VIEW run_outputs AS
            SELECT o.run_id, r.kind AS run_kind, o.snapshot_id, o.dataset, o.path,
                   c.content_key, o.time, r.status, r.user, r.git_commit, r.git_dirty
            FROM run_output_records o
            LEFT JOIN runs r ON r.run_id = o.run_id
            LEFT JOIN snapshot_content c ON c.snapshot_id = o.snapshot_id;

        CREATE VIEW evaluations AS
            SELECT r.run_id, i.snapshot_id AS test_snapshot_id, c.content_key, i.dataset, i.path,
                   r.status, r.started, r.ended, r.user, r.host, r.git_commit, r.git_dirty
            FROM runs r
            JOIN run_input_records i ON i.run_id = r.run_id AND i.role = 'test'
            LEFT JOIN snapshot_content c ON c.snapshot_id = i.snapshot_id
            WHERE r.kind = 'evaluate';

        CREATE VIEW lineage_edges AS
            SELECT i.snapshot_id AS parent, 'snapshot' AS parent_type, i.run_id AS child,
                   'run' AS child_type, 'input' AS edge, i.role, i.time
            FROM run_input_records i
            UNION ALL
            SELECT o.run_id, 'run', o.snapshot_id, 'snapshot', 'output', NULL, o.time
            FROM run_output_records o;
        """,
    )


for _table in TABLES:
    if _table not in PROJECTION_TABLES:
        PROJECTION_TABLES.append(_table)
