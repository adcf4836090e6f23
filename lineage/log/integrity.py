"""Integrity of what is derived from the event log, and of the local stat cache.

The event log is the truth; every other table of ``lineage.db`` is a function of it.
``check_projections`` replays the log into a scratch database built by the same
migrations and compares each derived table, view and trigger with the live one, so
a hand edit of a table (a role changed from test to other, a deleted run, a view
rewritten to hide a leak) is named instead of silently trusted by ``audit``.
``lineage rebuild`` restores the tables; the schema objects only a fresh database
restores.

``check_audit_tables`` is the same comparison made cheap enough to run before every
audit: the replay is kept in ``.lineage/replay.db`` and only the events appended
since the last check are projected into it (see docs/audit.md, "What the audit
trusts").

``check_stat_cache`` rehashes the files the stat cache vouches for and drops any
entry whose digest is wrong, so ``status`` and ``snapshot`` stop trusting it.
"""

from __future__ import annotations

import json
import marshal
import os
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

from lineage.core.hashing import hash_file
from lineage.log import migrations
from lineage.log import registry as projections
from lineage.log.events import Event
from lineage.log.graph import Graph, _canonical_order, reindex_log

__all__ = ["CacheProblem", "TableProblem", "check_audit_tables", "check_projections", "check_schema",
           "check_stat_cache", "derived_tables", "reindex_log"]

#: Tables derived from the events themselves (not by projectors), also compared.
LOG_INDEX_TABLES = ("event_parents", "event_heads")


@dataclass(frozen=True)
class TableProblem:
    """A derived table (or schema object) of ``lineage.db`` that a rebuild would not give."""

    table: str
    problem: str  # differs | schema
    detail: str
    rows: int | None = None
    expected_rows: int | None = None
    #: primary key of the first row (in key order) that is missing, extra or changed
    first_difference: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def derived_tables() -> list[str]:
    migrations.load()
    return [*LOG_INDEX_TABLES, *migrations.PROJECTION_TABLES]


def check_projections(graph: Graph) -> list[TableProblem]:
    """Replay the log into a scratch database and name every derived table that differs.

    One read transaction covers the copy of the log and the comparison, so a
    concurrent writer cannot cause a false alarm.
    """
    if graph.path is None:
        return []
    # uri=True lets ATTACH open the live database read-only by a file: URI
    scratch = sqlite3.connect("file:lineage-verify?mode=memory", uri=True, isolation_level=None,
                              check_same_thread=False)
    try:
        migrations.migrate(scratch)
        scratch.execute("ATTACH DATABASE ? AS live", ("file:" + _uri_path(os.fspath(graph.path)) + "?mode=ro",))
        scratch.execute("BEGIN")
        try:
            problems = _schema_problems(scratch)
            broken = {p.table for p in problems}
            replay_error = _replay(scratch)
            if replay_error is not None:
                return [*problems, TableProblem("events", "schema", replay_error)]
            for table in derived_tables():
                if table not in broken:
                    problem = _compare(scratch, table)
                    if problem is not None:
                        problems.append(problem)
            return problems
        finally:
            scratch.execute("ROLLBACK")
    finally:
        scratch.close()


def check_schema(graph: Graph) -> list[TableProblem]:
    """Only the schema part of ``check_projections``: milliseconds, whatever the log's size.

    A rewritten auditor view or an extra trigger changes what ``audit`` sees on every
    run, so this is cheap enough to run before each audit.
    """
    if graph.path is None:
        return []
    scratch = sqlite3.connect("file:lineage-schema?mode=memory", uri=True, isolation_level=None)
    try:
        migrations.migrate(scratch)
        scratch.execute("ATTACH DATABASE ? AS live", ("file:" + _uri_path(os.fspath(graph.path)) + "?mode=ro",))
        return _schema_problems(scratch)
    finally:
        scratch.close()


#: The kept replay of the log, next to lineage.db (a cache: deleting it costs one full replay).
REPLAY_DB = "replay.db"


def check_audit_tables(graph: Graph) -> list[TableProblem]:
    """The projection tables that differ from the log, for ``audit`` to refuse on.

    Like ``check_projections`` but incremental: ``.lineage/replay.db`` holds the
    projection tables as a replay of the log built them, with the sequence number and
    the heads of the last event folded in. Each call projects only the events appended
    since (when they extend the log: otherwise the replay starts afresh, as ``rebuild``
    would after a merge) and compares every projection table with the live one, in
    one read transaction. A difference is confirmed by a replay from scratch before it
    is reported, so a stale or damaged cache can cost time but never a false refusal.
    The log's own index tables (heads, parent links), which no rule reads, and the
    events' hash links are left to ``lineage verify``.
    """
    if graph.path is None:
        return []
    path = os.fspath(graph.path.parent / REPLAY_DB)
    try:
        conn = _open_replay(path)
    except sqlite3.OperationalError:
        # no place to keep the replay (a read-only .lineage/): the full comparison instead
        return [p for p in check_projections(graph) if p.table not in LOG_INDEX_TABLES]
    try:
        conn.execute("ATTACH DATABASE ? AS live", ("file:" + _uri_path(os.fspath(graph.path)) + "?mode=ro",))
        # projectors read the events' arrival order (version numbers): the live log's
        conn.execute("CREATE TEMP VIEW IF NOT EXISTS events AS SELECT * FROM live.events")
        conn.execute("BEGIN IMMEDIATE")
        try:
            fresh = _catch_up(conn)
            problems = _differences(conn)
            if problems and not fresh:
                _catch_up(conn, from_scratch=True)
                problems = _differences(conn)
            conn.execute("COMMIT")
            return problems
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def _open_replay(path: str) -> sqlite3.Connection:
    """The replay database, made afresh when it is unreadable or from another schema version."""
    for attempt in (0, 1):
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] not in (0, migrations.current_version()):
                raise sqlite3.DatabaseError("replay database of another schema version")
            migrations.migrate(conn)
            conn.execute("CREATE TABLE IF NOT EXISTS replay_state ("
                         "k INTEGER PRIMARY KEY CHECK (k = 1), seq INTEGER NOT NULL, "
                         "last_id TEXT, heads TEXT NOT NULL)")
            return conn
        except sqlite3.DatabaseError:
            conn.close()
            if attempt:
                raise
            for suffix in ("", "-journal", "-wal", "-shm"):
                try:
                    os.unlink(path + suffix)
                except FileNotFoundError:
                    pass
    raise AssertionError("unreachable")


def _catch_up(conn: sqlite3.Connection, *, from_scratch: bool = False) -> bool:
    """Project the live events the replay has not seen. Returns True when it replayed all."""
    state = None if from_scratch else conn.execute("SELECT seq, last_id, heads FROM replay_state").fetchone()
    if state is not None and state[0]:
        at = conn.execute("SELECT id FROM live.events WHERE seq = ?", (state[0],)).fetchone()
        if at is None or at[0] != state[1]:
            state = None  # the log was replaced or rewritten under the replay
    seq = 0 if state is None else state[0]
    new = [Event(r[2], r[3], r[4], tuple(json.loads(r[5])), json.loads(r[6]), r[1])
           for r in conn.execute("SELECT seq, id, type, time, actor, parents, body FROM live.events "
                                 "WHERE seq > ? ORDER BY seq", (seq,))]
    last = conn.execute("SELECT max(seq) FROM live.events").fetchone()[0] or 0
    heads = set() if state is None else set(json.loads(state[2]))
    if state is not None and not _extends(new, heads):
        return _catch_up(conn, from_scratch=True)
    if state is None:
        for table in migrations.PROJECTION_TABLES:
            conn.execute(f"DELETE FROM main.{_ident(table)}")
        new = _canonical_order(new)
        heads = set()
    projections.load()
    for ev in new:
        projections.apply(conn, ev)
    named = {p for ev in new for p in ev.parents}
    heads = (heads - named) | {ev.id for ev in new if ev.id not in named}
    last_id = conn.execute("SELECT id FROM live.events WHERE seq = ?", (last,)).fetchone()
    conn.execute("INSERT OR REPLACE INTO replay_state (k, seq, last_id, heads) VALUES (1, ?, ?, ?)",
                 (last, last_id and last_id[0], json.dumps(sorted(heads))))
    return state is None


def _extends(new: list[Event], heads: set[str]) -> bool:
    """Does folding ``new`` in log order give what a replay of the whole log gives?

    True when one new event has the replay's heads as its parents, every other new event
    descends from it, and the log order of the new events is their canonical order
    (what ``Graph.append`` and a fast-forward merge write).
    """
    if not new:
        return True
    ids = {ev.id for ev in new}
    entries = [ev for ev in new if not any(p in ids for p in ev.parents)]
    if len(entries) != 1 or set(entries[0].parents) != heads:
        return False
    return [ev.id for ev in _canonical_order(new)] == [ev.id for ev in new]


def _differences(conn: sqlite3.Connection) -> list[TableProblem]:
    out = []
    for table in migrations.PROJECTION_TABLES:
        t = _ident(table)
        try:
            same = conn.execute(
                f"SELECT (SELECT count(*) FROM live.{t}) = (SELECT count(*) FROM main.{t}) AND NOT EXISTS "
                f"(SELECT * FROM live.{t} EXCEPT SELECT * FROM main.{t})").fetchone()[0]
        except sqlite3.Error:
            same = False
        if not same:
            problem = _compare(conn, table)
            if problem is not None:
                out.append(problem)
    return out


def _uri_path(path: str) -> str:
    return quote(os.path.abspath(path))


def _schema_objects(conn: sqlite3.Connection, schema: str) -> dict[tuple[str, str], str | None]:
    rows = conn.execute(
        f"SELECT type, name, sql FROM {schema}.sqlite_master "
        "WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%'"
    )
    return {(t, n): s for t, n, s in rows}


def _schema_problems(conn: sqlite3.Connection) -> list[TableProblem]:
    """Tables, views and triggers the migrations create must be there, unchanged.

    An extra trigger is also a problem: it could rewrite rows as they are projected,
    and ``rebuild`` would run it too. Extra tables and views are left alone (a newer
    migration of a local table, or a user's own view, changes no result).
    """
    expected = _schema_objects(conn, "main")
    live = _schema_objects(conn, "live")
    out: list[TableProblem] = []
    for (kind, name), sql in sorted(expected.items()):
        have = live.get((kind, name), "")
        if (kind, name) not in live:
            out.append(TableProblem(name, "schema", f"{kind} {name} is missing"))
        elif _norm(have) != _norm(sql):
            out.append(TableProblem(name, "schema", f"{kind} {name} differs from its migration"))
    for (kind, name), _sql in sorted(live.items()):
        if kind == "trigger" and (kind, name) not in expected:
            out.append(TableProblem(name, "schema", f"trigger {name} is not part of the schema"))
    return out


def _norm(sql: str | None) -> str:
    return " ".join((sql or "").split())


def _replay(conn: sqlite3.Connection) -> str | None:
    """Fill the scratch database from the live log, as ``rebuild`` would. Returns an error."""
    conn.execute(
        "INSERT INTO main.events (seq, id, type, time, actor, parents, body) "
        "SELECT seq, id, type, time, actor, parents, body FROM live.events"
    )
    try:
        Graph(conn)._rebuild(conn)
    except (ValueError, TypeError, KeyError, sqlite3.Error) as exc:
        # an event the projectors cannot read: verify_log names it
        return f"the event log cannot be replayed ({type(exc).__name__}), so the tables were not compared"
    return None


def _columns(conn: sqlite3.Connection, table: str) -> tuple[list[str], list[str]]:
    info = conn.execute(f"PRAGMA main.table_info({_ident(table)})").fetchall()
    cols = [r[1] for r in info]
    pk = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    return cols, pk or cols


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _compare(conn: sqlite3.Connection, table: str) -> TableProblem | None:
    cols, pk = _columns(conn, table)
    sel = ", ".join(_ident(c) for c in cols)
    order = ", ".join(_ident(c) for c in pk)
    t = _ident(table)
    try:
        rows = conn.execute(f"SELECT count(*) FROM live.{t}").fetchone()[0]
        expected = conn.execute(f"SELECT count(*) FROM main.{t}").fetchone()[0]
        extra = conn.execute(
            f"SELECT count(*) FROM (SELECT {sel} FROM live.{t} EXCEPT SELECT {sel} FROM main.{t})"
        ).fetchone()[0]
        missing = conn.execute(
            f"SELECT count(*) FROM (SELECT {sel} FROM main.{t} EXCEPT SELECT {sel} FROM live.{t})"
        ).fetchone()[0]
        if not extra and not missing and rows == expected:
            return None
        first: tuple | None = None
        for a, b in (("live", "main"), ("main", "live")):
            row = conn.execute(
                f"SELECT {sel} FROM {a}.{t} EXCEPT SELECT {sel} FROM {b}.{t} ORDER BY {order} LIMIT 1"
            ).fetchone()
            if row is not None:
                # a planted BLOB would not print as JSON: show it as hex
                key = tuple(v.hex() if isinstance(v, bytes) else v for v in (row[cols.index(c)] for c in pk))
                if first is None or _sort_key(key) < _sort_key(first):
                    first = key
    except sqlite3.Error:
        return TableProblem(table, "schema", f"table {table} has other columns than its migration")
    parts = []
    changed = min(extra, missing)
    if changed:
        parts.append(f"{changed} row(s) changed or replaced")
    if extra > changed:
        parts.append(f"{extra - changed} row(s) not in the log")
    if missing > changed:
        parts.append(f"{missing - changed} row(s) missing")
    return TableProblem(
        table, "differs",
        f"{table} has {rows} row(s), the log gives {expected}: " + ", ".join(parts or ["duplicates"]),
        rows, expected, None if first is None else dict(zip(pk, first)),
    )


def _sort_key(key: tuple) -> tuple:
    return tuple((v is not None, str(v)) for v in key)


# -- the stat cache ----------------------------------------------------------------

@dataclass(frozen=True)
class CacheProblem:
    path: str
    detail: str


def check_stat_cache(cache: Any, snapshot_files: Any) -> tuple[list[CacheProblem], int]:
    """Rehash every file the stat cache still vouches for (same device, inode, size and
    mtime); drop wrong entries, and the tree states that could rely on them.

    ``cache`` is a ``StatCache``; ``snapshot_files(sid)`` gives ``{path: digest}`` of a
    snapshot, to check each recorded tree state against the file entries. Returns the
    problems and the bytes rehashed.
    """
    try:
        conn: sqlite3.Connection = cache.conn
        conn.execute("SELECT count(*) FROM stat_dirs").fetchone()
    except sqlite3.DatabaseError:
        cache.close()
        return [CacheProblem(os.fspath(cache.path), "the stat cache is not a readable database; "
                             "delete it (it is only a cache, rebuilt by hashing)")], 0
    if getattr(cache, "discarded", False):
        return [CacheProblem(os.fspath(cache.path), "the stat cache was not a readable database; "
                             "it was started afresh (it is only a cache, rebuilt by hashing)")], 0
    problems: list[CacheProblem] = []
    rehashed = 0
    bad_dirs: dict[str, dict[str, Any]] = {}
    verified: dict[str, str] = {}
    for folder, blob in conn.execute("SELECT dir, entries FROM stat_dirs").fetchall():
        try:
            entries = marshal.loads(blob)
        except (ValueError, EOFError, TypeError):
            entries = None
        if not isinstance(entries, dict):
            problems.append(CacheProblem(folder, "stat cache entries for this folder are unreadable; removed"))
            bad_dirs[folder] = {}
            continue
        keep = dict(entries)
        for name, e in entries.items():
            path = os.path.join(folder, name)
            if not (isinstance(e, tuple) and len(e) == 5 and isinstance(e[4], str)):
                problems.append(CacheProblem(path, "stat cache entry is malformed; removed"))
                del keep[name]
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue  # gone: the entry can never match again
            if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != tuple(e[:4]):
                continue  # stale but harmless: a changed stat is never trusted
            try:
                actual = hash_file(path)
            except OSError:
                continue
            rehashed += st.st_size
            if actual != e[4]:
                problems.append(CacheProblem(
                    path, f"stat cache says {str(e[4])[:12]} but the file hashes to {actual[:12]}; entry removed"))
                del keep[name]
            else:
                verified[path] = actual
        if len(keep) != len(entries):
            bad_dirs[folder] = keep
    trees = conn.execute("SELECT root, snapshot FROM trees").fetchall()
    bad_trees: list[str] = []
    quiet: list[str] = []
    for root, sid in trees:
        files = snapshot_files(sid)
        if files is None or not os.path.exists(root):
            # an interrupted snapshot, or a removed folder: stale, never matched, dropped quietly
            quiet.append(root)
            continue
        if os.path.isdir(root):
            want = {os.path.join(root, p): d for p, d in files.items()}
        else:
            want = {root: d for d in files.values()}
        # only files whose stat still matches can make a tree state trusted
        if len(want) != len(files) or any(p in verified and verified[p] != d for p, d in want.items()):
            bad_trees.append(root)
            problems.append(CacheProblem(
                root, f"stat cache says this is snapshot {sid[:12]} but its files differ; removed"))
    if bad_dirs or bad_trees or quiet:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for folder, keep in bad_dirs.items():
                if keep:
                    conn.execute("INSERT OR REPLACE INTO stat_dirs VALUES (?, ?)", (folder, marshal.dumps(keep)))
                else:
                    conn.execute("DELETE FROM stat_dirs WHERE dir = ?", (folder,))
            if bad_dirs:
                # a tree state vouches for every file under it: none is trusted after a bad entry
                conn.execute("DELETE FROM trees")
                conn.execute("DELETE FROM folder_keys")  # per-folder tree states, likewise
            for root in bad_trees + quiet:
                conn.execute("DELETE FROM trees WHERE root = ?", (root,))
                conn.execute("DELETE FROM folder_keys WHERE root = ?", (root,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return problems, rehashed
