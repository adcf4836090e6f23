"""The stat cache: local, disposable knowledge of which file has which digest.

Kept in its own database (``.lineage/state.db``) because it describes this
machine's working tree, not the shared history: it is never pushed, and deleting
it only costs a rehash. An entry is trusted only while the file's device, inode,
size and mtime_ns are all unchanged.

Entries are grouped by folder, one marshalled blob per folder: ``status`` of a
dataset of 20,000 files then reads a handful of rows instead of 20,000.
"""

from __future__ import annotations

import marshal
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from lineage.core.hashing import FileStat
from lineage.errors import BusyError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_dirs (
    dir     TEXT PRIMARY KEY,
    entries BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trees (
    root     TEXT PRIMARY KEY,
    stat_key TEXT NOT NULL,
    snapshot TEXT NOT NULL
) WITHOUT ROWID
"""

Entry = tuple[FileStat, str]


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        #: set when an unreadable cache file was found and started afresh
        self.discarded = False

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError as exc:
                if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise BusyError("the stat cache is busy (another lineage process holds it); retry") from None
                # only a cache: a damaged file costs a rehash, never an error
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                self.discarded = True
                self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            for statement in _SCHEMA.split(";"):
                conn.execute(statement)
            conn.execute("SELECT count(*) FROM stat_dirs").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _dirs(self, prefix: str) -> list[tuple[str, bytes]]:
        base = prefix.rstrip("/")
        return self.conn.execute(
            "SELECT dir, entries FROM stat_dirs WHERE dir = ? OR dir = ? OR (dir >= ? AND dir < ?)",
            (base, os.path.dirname(base), base + "/", base + "0"),
        ).fetchall()

    def load(self, prefix: str) -> dict[str, Entry]:
        """Entries for the file ``prefix`` or every file under the folder ``prefix``."""
        base = prefix.rstrip("/")
        out: dict[str, Entry] = {}
        for folder, blob in self._dirs(base):
            entries = marshal.loads(blob)
            if folder == os.path.dirname(base) and folder != base:
                hit = entries.get(os.path.basename(base))
                if hit is not None:
                    out[base] = (FileStat(*hit[:4]), hit[4])
                continue
            for name, e in entries.items():
                out[f"{folder}/{name}"] = (FileStat(e[0], e[1], e[2], e[3]), e[4])
        return out

    def lookup(self, path: str, st: FileStat) -> str | None:
        folder, name = os.path.split(path)
        row = self.conn.execute("SELECT entries FROM stat_dirs WHERE dir = ?", (folder,)).fetchone()
        if row is None:
            return None
        e = marshal.loads(row[0]).get(name)
        if e is not None and tuple(e[:4]) == tuple(st):
            return e[4]
        return None

    def update(self, entries: Iterable[tuple[str, FileStat, str]]) -> None:
        by_dir: dict[str, dict[str, tuple]] = {}
        for path, st, digest in entries:
            folder, name = os.path.split(path)
            by_dir.setdefault(folder, {})[name] = (st[0], st[1], st[2], st[3], digest)
        if not by_dir:
            return
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for folder, new in by_dir.items():
                row = conn.execute("SELECT entries FROM stat_dirs WHERE dir = ?", (folder,)).fetchone()
                merged = marshal.loads(row[0]) if row else {}
                merged.update(new)
                conn.execute("INSERT OR REPLACE INTO stat_dirs VALUES (?, ?)", (folder, marshal.dumps(merged)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def tree(self, root: str) -> tuple[str, str] | None:
        """(stat key, snapshot ID) last known to describe the tree at ``root`` exactly."""
        row = self.conn.execute("SELECT stat_key, snapshot FROM trees WHERE root = ?", (root,)).fetchone()
        return None if row is None else (row[0], row[1])

    def set_tree(self, root: str, stat_key: str, snapshot: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", (root, stat_key, snapshot))

    def drop_tree(self, root: str) -> None:
        """Forget the tree state of ``root`` (its files were rewritten: checkout)."""
        self.conn.execute("DELETE FROM trees WHERE root = ?", (root,))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
