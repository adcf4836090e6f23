"""The lineage graph: an append-only event log in SQLite, and projections of it.

This package is the only place that talks to SQLite. ``Graph.append`` writes one
event and folds it into the projection tables in the same transaction, so the two
never disagree. ``rebuild`` recreates every projection from the log, and
``verify_log`` recomputes the hash links of every event.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lineage.core.process import BUSY, lock_timeout
from lineage.errors import BusyError, IntegrityError, LineageError
from lineage.log import migrations
from lineage.log import registry as projections
from lineage.log.events import Event, utc_now

__all__ = ["Event", "Graph", "utc_now"]


#: Inserts one event row (``WHERE ?``: 1 to insert it, 0 to insert nothing).
_INSERT_EVENT = ("INSERT INTO events (id, type, time, actor, parents, body) "
                 "SELECT ?, ?, ?, ?, ?, ? WHERE ?")

#: A body at least this long (characters) is not left bound to the cached insert.
_LARGE_BODY = 1 << 20


class Graph:
    """The lineage database of one repository.

    >>> g = Graph.open(Path(".lineage/lineage.db"))     # doctest: +SKIP
    >>> g.append("note", {"text": "hello"}, actor="ann")  # doctest: +SKIP
    """

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None, readonly: bool = False):
        self.conn = conn
        self.path = path
        self.readonly = readonly

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False, create: bool = False) -> Graph:
        if readonly:
            if not path.exists():
                raise LineageError(f"no lineage database at {path}")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            if not create and not path.exists():
                raise LineageError(f"no lineage database at {path}")
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=lock_timeout())
        try:
            # another process writing makes us wait (bounded), never fail at once
            conn.execute(f"PRAGMA busy_timeout={int(lock_timeout() * 1000)}")
            if not readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            graph = cls(conn, path, readonly)
            if not readonly:
                have = conn.execute("PRAGMA user_version").fetchone()[0]
                if have < migrations.current_version():
                    applied = migrations.migrate(conn)
                    if have and applied:
                        graph.rebuild()
        except sqlite3.OperationalError as exc:
            conn.close()
            raise _busy(exc) from None
        return graph

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (Ctrl-C included)."""
        if self.conn.in_transaction:
            yield self.conn
            return
        try:
            # IMMEDIATE takes the write lock now, so what the block reads stays true
            # until COMMIT: a decision made inside (a version, "already merged") holds
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _busy(exc) from None
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- the log ----------------------------------------------------------------
    def heads(self) -> list[str]:
        """Events no other event names as a parent (kept in ``event_heads`` as events arrive)."""
        return [r[0] for r in self.conn.execute("SELECT id FROM event_heads ORDER BY id")]

    def append(self, type: str, body: dict[str, Any], *, actor: str, time: str | None = None,
               body_json: str | None = None) -> Event:
        """Write one event whose parents are the current heads, and project it
        (``body_json``: see ``Event.create``)."""
        with self.transaction() as conn:
            event = Event.create(type, body, actor=actor, parents=tuple(self.heads()), time=time,
                                 body_json=body_json)
            self._insert(conn, event)
            projections.apply(conn, event)
        return event

    def _insert(self, conn: sqlite3.Connection, event: Event) -> None:
        body = event.body_json
        conn.execute(_INSERT_EVENT, (event.id, event.type, event.time, event.actor,
                                     json.dumps(list(event.parents)), body, 1))
        if len(body) >= _LARGE_BODY:
            # a cached statement keeps a copy of the values last bound to it until it runs
            # again: run it once more, inserting nothing, so the copy of a snapshot's body
            # (tens of MB for a million files) is not held while the projectors run
            conn.execute(_INSERT_EVENT, (None, None, None, None, None, None, 0))
        conn.executemany(
            "INSERT OR IGNORE INTO event_parents (parent, child) VALUES (?, ?)",
            [(p, event.id) for p in event.parents],
        )
        conn.executemany("DELETE FROM event_heads WHERE id = ?", [(p,) for p in event.parents])
        conn.execute("INSERT OR IGNORE INTO event_heads (id) VALUES (?)", (event.id,))

    def has_event(self, event_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is not None

    def event_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT id FROM events")}

    @staticmethod
    def _existing(conn: sqlite3.Connection, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are in the log (one query, the IDs bound as a JSON array)."""
        ids = list(ids)
        if not ids:
            return set()
        return {r[0] for r in conn.execute(
            "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))}

    def events(self, *, types: Iterable[str] | None = None) -> Iterator[Event]:
        """Every event, in local insertion order (parents always before children)."""
        sql = "SELECT id, type, time, actor, parents, body FROM events"
        args: list[Any] = []
        if types is not None:
            types = list(types)
            sql += f" WHERE type IN ({','.join('?' * len(types))})"
            args = types
        for row in self.conn.execute(sql + " ORDER BY seq", args):
            yield Event(row[1], row[2], row[3], tuple(json.loads(row[4])), json.loads(row[5]), row[0])

    def event(self, event_id: str) -> Event | None:
        row = self.conn.execute(
            "SELECT id, type, time, actor, parents, body FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        if row is None:
            return None
        return Event(row[1], row[2], row[3], tuple(json.loads(row[4])), json.loads(row[5]), row[0])

    def ingest(self, events: Iterable[Event]) -> int:
        """Merge events from another clone: verify each, insert the unknown ones, rebuild.

        Events may arrive in any order; they are inserted parents first. Returns
        the number of new events.
        """
        incoming: dict[str, Event] = {}
        for ev in events:
            if ev.compute_id() != ev.id:
                raise IntegrityError(f"event {ev.id[:12]} does not match its content")
            incoming[ev.id] = ev
        if not incoming:
            return 0
        with self.transaction() as conn:
            # decided under the write lock: another process (a second pull) may have
            # merged some of these events since the caller looked
            have = self._existing(conn, incoming)
            pending = {i: ev for i, ev in incoming.items() if i not in have}
            if not pending:
                return 0
            parents = {p for ev in pending.values() for p in ev.parents if p not in pending}
            order = _topological(pending, self._existing(conn, parents))
            fast_forward = _extends(pending, set(self.heads()))
            for ev in order:
                self._insert(conn, ev)
                if fast_forward:
                    projections.apply(conn, ev)
            if not fast_forward:
                self._rebuild(conn)
        return len(order)

    # -- projections ------------------------------------------------------------
    def rebuild(self) -> int:
        """Recreate every projection table from the log; returns the events replayed."""
        with self.transaction() as conn:
            return self._rebuild(conn)

    def _rebuild(self, conn: sqlite3.Connection) -> int:
        projections.load()
        reindex_log(conn)  # the log's own index tables are derived too (verify compares them)
        for table in migrations.PROJECTION_TABLES:
            conn.execute(f"DELETE FROM {table}")
        events = list(self.events())
        for ev in _canonical_order(events):
            projections.apply(conn, ev)
        return len(events)

    # -- verification -----------------------------------------------------------
    def verify_log(self) -> list[str]:
        """Recompute every event's ID and check every parent link. Returns problems."""
        problems: list[str] = []
        seen: set[str] = set()
        rows = self.conn.execute("SELECT seq, id, type, time, actor, parents, body FROM events ORDER BY seq")
        for seq, eid, typ, time, actor, parents, body in rows:
            try:
                ev = Event(typ, time, actor, tuple(json.loads(parents)), json.loads(body), eid)
            except (ValueError, TypeError):
                problems.append(f"event #{seq} ({eid[:12]}) is not valid JSON")
                continue
            if ev.compute_id() != eid:
                problems.append(f"event #{seq} ({eid[:12]}, {typ}) was altered: its content no longer matches its ID")
            for p in ev.parents:
                if p not in seen:
                    problems.append(f"event #{seq} ({eid[:12]}) names parent {p[:12]}, which is missing or later in the log")
            seen.add(eid)
        linked = self.conn.execute(
            "SELECT count(*) FROM event_parents WHERE child NOT IN (SELECT id FROM events)"
        ).fetchone()[0]
        if linked:
            problems.append(f"{linked} parent link(s) point to events that are not in the log")
        return problems

    def count_events(self) -> int:
        return self.conn.execute("SELECT count(*) FROM events").fetchone()[0]


def reindex_log(conn: sqlite3.Connection) -> None:
    """Refill ``event_parents`` and ``event_heads`` from the events themselves (part of
    ``rebuild``): the same rows the appends maintain one event at a time."""
    conn.execute("DELETE FROM event_parents")
    conn.execute("DELETE FROM event_heads")
    conn.execute(
        "INSERT OR IGNORE INTO event_parents (parent, child) "
        "SELECT j.value, e.id FROM events e, json_each(e.parents) j WHERE json_valid(e.parents)"
    )
    conn.execute(
        "INSERT INTO event_heads (id) SELECT e.id FROM events e "
        "WHERE NOT EXISTS (SELECT 1 FROM event_parents p WHERE p.parent = e.id)"
    )


def _busy(exc: sqlite3.OperationalError) -> LineageError:
    """SQLite's "database is locked" after the bounded wait, as the one message users see."""
    if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return BusyError(BUSY)
    return LineageError(f"the lineage database cannot be used: {exc}")


def _topological(pending: dict[str, Event], known: set[str]) -> list[Event]:
    """``pending`` events ordered parents first (Kahn's algorithm, linear in the events)."""
    missing = {p for ev in pending.values() for p in ev.parents if p not in known and p not in pending}
    if missing:
        raise IntegrityError(
            f"cannot merge: events depend on {len(missing)} event(s) that are not available"
        )
    ordered = _canonical_order(list(pending.values()))
    if len(ordered) != len(pending):
        raise IntegrityError("cannot merge: the events' parent links form a cycle")
    return ordered


def _extends(pending: dict[str, Event], heads: set[str]) -> bool:
    """Do the new events all come after every local event (a fast-forward)?

    True when exactly one new event has only known parents, and those parents are
    all the current heads: every other new event descends from it, so the canonical
    order of the whole log is the local order followed by the new events, and they
    can be projected one by one instead of rebuilding every table.
    """
    entries = [ev for ev in pending.values() if not any(p in pending for p in ev.parents)]
    return len(entries) == 1 and set(entries[0].parents) == heads


def _canonical_order(events: list[Event]) -> list[Event]:
    """Parents first; among independent events, earlier time then ID.

    The same set of events gives the same order on every clone, whatever order they
    were received in, so projections (dataset version numbers) agree everywhere.
    """
    children: dict[str, list[Event]] = {}
    indegree: dict[str, int] = {}
    ids = {ev.id for ev in events}
    heap: list[tuple[str, str, Event]] = []
    for ev in events:
        parents = [p for p in ev.parents if p in ids]
        indegree[ev.id] = len(parents)
        for p in parents:
            children.setdefault(p, []).append(ev)
        if not parents:
            heap.append((ev.time, ev.id, ev))
    heapq.heapify(heap)
    out: list[Event] = []
    while heap:
        _, _, ev = heapq.heappop(heap)
        out.append(ev)
        for child in children.get(ev.id, ()):
            indegree[child.id] -= 1
            if indegree[child.id] == 0:
                heapq.heappush(heap, (child.time, child.id, child))
    return out
