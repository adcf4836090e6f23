"""The stat cache: local, disposable knowledge of which file has which digest.

Kept in its own database (``.lineage/state.db``) because it describes this
machine's working tree, not the shared history: it is never pushed, and deleting
it only costs a rehash. An entry is trusted only while the file's device, inode,
size and mtime_ns are all unchanged.

Entries are grouped by folder, one marshalled blob per folder: ``status`` of a
dataset of 20,000 files then reads a handful of rows instead of 20,000.

Per tracked root it also keeps a folder index (``folder_keys``): for each folder of the
tree, the stat key of its files (names, device, inode, size, mtime_ns, executable) as
last verified against a snapshot, and the content address of that snapshot's entries
for the folder (``folder_entries``: name -> size, digest, executable; shared by every
snapshot whose folder is the same). ``status`` compares keys folder by folder and reads
entries only for the folders whose key differs.
"""

from __future__ import annotations

import marshal
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import blake3

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
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS folder_keys (
    root     TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL,
    keys     BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS folder_entries (
    hash    TEXT PRIMARY KEY,
    entries BLOB NOT NULL
) WITHOUT ROWID
"""

Entry = tuple[FileStat, str]
#: A folder of a snapshot: file name -> (size, digest as 32 bytes, executable)
FolderEntries = dict[str, tuple[int, bytes, bool]]
#: The folder index of a root: folder prefix ("" or "a/b/") -> (stat key, entries address)
FolderIndex = dict[str, tuple[str, str]]


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        #: set when an unreadable cache file was found and started afresh
        self.discarded = False
        #: the folders whose entries were read (``stat_folder``, ``folder_entries``), in
        #: order: what a status had to look at beyond the folder keys
        self.folders_read: list[str] = []

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

    def stat_folder(self, folder: str) -> dict[str, Entry]:
        """The cached entries of the files directly in ``folder`` (an absolute path)."""
        self.folders_read.append(folder)
        row = self.conn.execute("SELECT entries FROM stat_dirs WHERE dir = ?", (folder,)).fetchone()
        if row is None:
            return {}
        return {name: (FileStat(e[0], e[1], e[2], e[3]), e[4]) for name, e in marshal.loads(row[0]).items()}

    # -- the folder index ------------------------------------------------------------

    def folders(self, root: str) -> tuple[str, FolderIndex] | None:
        """(snapshot ID, folder index) last recorded for the tree at ``root``."""
        row = self.conn.execute("SELECT snapshot, keys FROM folder_keys WHERE root = ?", (root,)).fetchone()
        return None if row is None else (row[0], marshal.loads(row[1]))

    def folder_entries(self, address: str) -> FolderEntries:
        """A snapshot's entries for one folder, by the address ``set_folders`` gave them."""
        self.folders_read.append(address)
        row = self.conn.execute("SELECT entries FROM folder_entries WHERE hash = ?", (address,)).fetchone()
        return {} if row is None else marshal.loads(row[0])

    @staticmethod
    def entries_blob(entries: FolderEntries) -> tuple[str, bytes]:
        """The address and encoding of one folder's entries (names sorted, so the same
        folder in two snapshots is stored once)."""
        blob = marshal.dumps(dict(sorted(entries.items())), 2)  # no back-references: same bytes
        return blake3.blake3(blob).hexdigest(), blob

    def set_folders(self, root: str, snapshot: str, index: FolderIndex,
                    blobs: dict[str, bytes] | None = None) -> None:
        """Record the folder index of ``root`` (``blobs``: new entries by address), and
        drop the entries no root's index refers to any more."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if blobs:
                conn.executemany("INSERT OR IGNORE INTO folder_entries VALUES (?, ?)", blobs.items())
            conn.execute("INSERT OR REPLACE INTO folder_keys VALUES (?, ?, ?)",
                         (root, snapshot, marshal.dumps(index)))
            if blobs:
                self._prune(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _prune(conn: sqlite3.Connection) -> None:
        used = {address for (keys,) in conn.execute("SELECT keys FROM folder_keys")
                for _, address in marshal.loads(keys).values()}
        stale = [(h,) for (h,) in conn.execute("SELECT hash FROM folder_entries") if h not in used]
        if stale:
            conn.executemany("DELETE FROM folder_entries WHERE hash = ?", stale)

    def tree(self, root: str) -> tuple[str, str] | None:
        """(stat key, snapshot ID) last known to describe the tree at ``root`` exactly."""
        row = self.conn.execute("SELECT stat_key, snapshot FROM trees WHERE root = ?", (root,)).fetchone()
        return None if row is None else (row[0], row[1])

    def set_tree(self, root: str, stat_key: str, snapshot: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", (root, stat_key, snapshot))

    def drop_tree(self, root: str) -> None:
        """Forget the tree state of ``root`` (its files were rewritten: checkout), and its
        folder index."""
        self.conn.execute("DELETE FROM trees WHERE root = ?", (root,))
        self.conn.execute("DELETE FROM folder_keys WHERE root = ?", (root,))

    def forget_trees(self) -> None:
        """Forget every tree state and folder index (objects they vouch for are gone from
        the store): the next snapshot checks each file's object again. The per-file
        digests stay: they say which stat has which digest, true whatever the store holds."""
        self.conn.execute("DELETE FROM trees")
        self.conn.execute("DELETE FROM folder_keys")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
