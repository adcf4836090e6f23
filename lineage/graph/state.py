"""The stat cache: local, disposable knowledge of which file has which digest.

Kept in its own database (``.lineage/state.db``) because it describes this
machine's working tree, not the shared history: it is never pushed, and deleting
it only costs a rehash. An entry is trusted only while the file's device, inode,
size and mtime_ns are all unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from lineage.hashing import FileStat

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_cache (
    path     TEXT PRIMARY KEY,
    dev      INTEGER NOT NULL,
    ino      INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest   TEXT NOT NULL
) WITHOUT ROWID
"""


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    def load(self, prefix: str) -> dict[str, tuple[FileStat, str]]:
        """Entries for ``prefix`` itself and every path under ``prefix/``."""
        rows = self.conn.execute(
            "SELECT path, dev, ino, size, mtime_ns, digest FROM stat_cache "
            "WHERE path = ? OR (path >= ? AND path < ?)",
            (prefix, prefix.rstrip("/") + "/", prefix.rstrip("/") + "0"),
        )
        return {r[0]: (FileStat(r[1], r[2], r[3], r[4]), r[5]) for r in rows}

    def lookup(self, path: str, st: FileStat) -> str | None:
        row = self.conn.execute(
            "SELECT dev, ino, size, mtime_ns, digest FROM stat_cache WHERE path = ?", (path,)
        ).fetchone()
        if row and FileStat(row[0], row[1], row[2], row[3]) == st:
            return row[4]
        return None

    def update(self, entries: Iterable[tuple[str, FileStat, str]]) -> None:
        rows = [(p, s.dev, s.ino, s.size, s.mtime_ns, d) for p, s, d in entries]
        if not rows:
            return
        conn = self.conn
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
