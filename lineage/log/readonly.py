"""Read-only SQL over the lineage database, for auditors (``lineage query``).

Three locks keep a query from writing: the connection is opened with ``mode=ro``,
``PRAGMA query_only`` is set, and an authorizer allows nothing but reading (SELECT,
recursive CTEs, functions, a few schema-inspection pragmas). The authorizer is what
turns a write into a clear message instead of SQLite's "attempt to write a readonly
database".

Two bounds keep a query from running away: ``limit`` rows are fetched at most (the
rest are never computed, so an endless ``WITH RECURSIVE`` stops at the limit), and a
SQLite progress handler interrupts a statement that runs past ``timeout`` seconds.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage.errors import LineageError, QueryTimeoutError, ReadOnlyError, UsageError

__all__ = ["AUDITOR_VIEWS", "DEFAULT_LIMIT", "DEFAULT_TIMEOUT", "QueryResult", "QueryTimeoutError",
           "ReadOnlyError", "Schema", "SchemaObject", "query", "schema", "schema_objects"]

#: Defaults of ``lineage query``: rows printed at most, and seconds a statement may run.
DEFAULT_LIMIT = 10_000
DEFAULT_TIMEOUT = 30.0
#: SQLite virtual-machine steps between two looks at the clock (well under a millisecond).
_PROGRESS_STEPS = 10_000

#: Views that form the stable interface for auditors (documented in docs/queries.md).
AUDITOR_VIEWS = ("run_inputs", "run_outputs", "evaluations", "lineage_edges")

_READ_PRAGMAS = {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
                 "foreign_key_list"}
_ACTION_NAMES = {
    sqlite3.SQLITE_INSERT: "INSERT", sqlite3.SQLITE_UPDATE: "UPDATE", sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_CREATE_TABLE: "CREATE TABLE", sqlite3.SQLITE_DROP_TABLE: "DROP TABLE",
    sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE", sqlite3.SQLITE_TRANSACTION: "a transaction",
    sqlite3.SQLITE_PRAGMA: "this PRAGMA",
}


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool = False

    def records(self) -> list[dict[str, Any]]:
        """Rows as objects; a repeated column name gets a ``:2``, ``:3`` suffix."""
        keys: list[str] = []
        seen: dict[str, int] = {}
        for c in self.columns:
            seen[c] = seen.get(c, 0) + 1
            keys.append(c if seen[c] == 1 else f"{c}:{seen[c]}")
        return [dict(zip(keys, (_plain(v) for v in row))) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "rows": self.records(), "row_count": len(self.rows),
                "truncated": self.truncated}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QueryResult:
        cols = tuple(d["columns"])
        keys = list(d["rows"][0].keys()) if d["rows"] else list(cols)
        return cls(cols, tuple(tuple(r[k] for k in keys) for r in d["rows"]), bool(d.get("truncated")))


def _plain(value: Any) -> Any:
    return value.hex() if isinstance(value, (bytes, bytearray, memoryview)) else value


def query(db_path: Path, sql: str, params: Sequence[Any] = (), *, limit: int | None = None,
          timeout: float | None = DEFAULT_TIMEOUT) -> QueryResult:
    """Run one read-only statement; a write is refused with ``ReadOnlyError``.

    At most ``limit`` rows are fetched (None or 0: all; ``truncated`` says whether more
    were left); a statement running past ``timeout`` seconds (None or 0: no limit)
    raises ``QueryTimeoutError``.
    """
    if not sql or not sql.strip():
        raise UsageError("empty SQL statement")
    if limit is not None and limit < 0:
        raise UsageError("--limit must be zero or more")
    if timeout is not None and not timeout >= 0:  # also refuses NaN
        raise UsageError("--timeout must be zero or more seconds")
    if not db_path.exists():
        raise LineageError(f"no lineage database at {db_path}")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    denied: list[str] = []

    def authorize(action: int, arg1: Any, arg2: Any, _db: Any, _trigger: Any) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                      sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 in _READ_PRAGMAS or
                                                (arg1 in ("user_version", "query_only") and arg2 is None)):
            return sqlite3.SQLITE_OK
        denied.append(_ACTION_NAMES.get(action, "a statement that writes"))
        return sqlite3.SQLITE_DENY

    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.set_authorizer(authorize)
        timed_out = [False]
        if timeout:
            deadline = time.monotonic() + timeout

            def progress() -> int:
                if time.monotonic() > deadline:
                    timed_out[0] = True
                    return 1  # non-zero: SQLite interrupts the statement
                return 0

            conn.set_progress_handler(progress, _PROGRESS_STEPS)
        try:
            cur = conn.execute(sql, tuple(params))
            columns = tuple(d[0] for d in cur.description or ())
            if not limit:
                rows = cur.fetchall()
                truncated = False
            else:
                # one row past the limit says whether there were more, without computing them
                rows = cur.fetchmany(limit + 1)
                truncated = len(rows) > limit
                rows = rows[:limit]
        except sqlite3.DatabaseError as exc:
            if timed_out[0]:
                raise QueryTimeoutError(
                    f"query stopped after {timeout:g} s (the time limit; raise it with --timeout, "
                    "0 for none)") from None
            if denied:
                verb = sql.split(None, 1)[0].upper() if sql.split() else denied[0]
                raise ReadOnlyError(
                    f"lineage query is read-only: {verb} is refused ({denied[0]}); use SELECT"
                ) from None
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_READONLY:
                raise ReadOnlyError("lineage query is read-only: the statement would write") from None
            raise UsageError(f"SQL error: {exc}") from None
        except sqlite3.Warning as exc:  # e.g. more than one statement
            raise UsageError(f"SQL error: {exc}") from None
        except (sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError) as exc:
            raise UsageError(f"SQL error: {exc}") from None
    finally:
        conn.close()
    return QueryResult(columns, tuple(tuple(r) for r in rows), truncated)


def schema_objects(db_path: Path) -> list[tuple[str, str]]:
    """(type, name) of every table and view a query can read, for documentation checks."""
    result = query(db_path, "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') "
                            "AND name NOT LIKE 'sqlite_%' ORDER BY type, name")
    return [(r[0], r[1]) for r in result.rows]


@dataclass(frozen=True)
class SchemaObject:
    name: str
    type: str                                  # table | view
    columns: tuple[tuple[str, str], ...]       # (name, declared type)
    rows: int | None = None                    # tables only
    auditor: bool = False                      # one of the stable auditor views

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type,
                "columns": [{"name": n, "type": t} for n, t in self.columns],
                "rows": self.rows, "auditor": self.auditor}


@dataclass(frozen=True)
class Schema:
    objects: tuple[SchemaObject, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"tables": [o.to_dict() for o in self.objects if o.type == "table"],
                "views": [o.to_dict() for o in self.objects if o.type == "view"]}


def schema(db_path: Path) -> Schema:
    """Every table and view an auditor can query, with columns and row counts.

    Read through sqlite-utils' introspection on a read-only connection.
    """
    import sqlite_utils

    if not Path(db_path).exists():
        raise LineageError(f"no lineage database at {db_path}")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    try:
        db = sqlite_utils.Database(conn)
        objects = []
        for name in sorted(db.table_names()):
            if name.startswith("sqlite_"):
                continue
            table = db.table(name)
            objects.append(SchemaObject(name, "table", tuple((c.name, c.type) for c in table.columns),
                                        table.count))
        for name in sorted(db.view_names()):
            view = db.view(name)
            objects.append(SchemaObject(name, "view", tuple((c.name, c.type) for c in view.columns),
                                        None, name in AUDITOR_VIEWS))
        return Schema(tuple(objects))
    finally:
        conn.close()
