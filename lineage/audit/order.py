"""Happens-before over the whole lineage graph, for one audit (docs/audit.md, "Order").

Each input record (a run read a snapshot) is linked to the one run that wrote that
content most recently before the read began: the output record with the latest
(time, event order) before the read's, by another run. "That content" is, in order of
preference:

1. the same snapshot;
2. the same bytes under another name (same content key: a teammate's ``mv``);
3. the same rows re-serialised (same multiset of row fingerprints: a CSV saved again as
   Parquet, its columns re-ordered or its rows shuffled), when the rows are known.

Every walk the rules make (upstream runs, runs downstream of a run, the sources of a
held-out set, the split runs that cut it) follows these links only, so bytes written by
several runs link each read to one writer, never to a run that wrote them after the read.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from lineage.log import Graph

#: (time, event seq): the order of records
Stamp = tuple[str, int]


class Order:
    """The happens-before links of every read, loaded once (two queries)."""

    def __init__(self, graph: Graph, rows_key: Callable[[str], str | None] | None = None,
                 row_counts: Callable[[], dict[str, int]] | None = None) -> None:
        self._rows_key = rows_key
        self._row_counts = row_counts
        self._content: dict[str, str] = {}
        #: run -> [(snapshot, role, stamp)], each (snapshot, role) once, first read
        self.reads: dict[str, list[tuple[str, str, Stamp]]] = {}
        #: run -> snapshots it wrote
        self.writes: dict[str, set[str]] = {}
        #: content key -> sorted [(stamp, run, snapshot)]
        self._writes_by_key: dict[str, list[tuple[Stamp, str, str]]] = {}
        self._all_writes: list[tuple[Stamp, str, str]] = []
        #: recorded runs: records of a run the runs table lacks link nothing
        self.runs: set[str] = {r[0] for r in graph.conn.execute("SELECT run_id FROM runs")}
        seen: set[tuple[str, str, str]] = set()
        for run_id, sid, role, time, seq, key in graph.conn.execute(
            "SELECT i.run_id, i.snapshot_id, i.role, i.time, coalesce(e.seq, 0), c.content_key "
            "FROM run_input_records i LEFT JOIN events e ON e.id = i.event_id "
            "LEFT JOIN snapshot_content c ON c.snapshot_id = i.snapshot_id ORDER BY i.time, coalesce(e.seq, 0)"
        ):
            self._content[sid] = key or sid
            if (run_id, sid, role) in seen:
                continue
            seen.add((run_id, sid, role))
            self.reads.setdefault(run_id, []).append((sid, role, (time, seq)))
        for run_id, sid, time, seq, key in graph.conn.execute(
            "SELECT o.run_id, o.snapshot_id, o.time, coalesce(e.seq, 0), c.content_key "
            "FROM run_output_records o LEFT JOIN events e ON e.id = o.event_id "
            "LEFT JOIN snapshot_content c ON c.snapshot_id = o.snapshot_id"
        ):
            self._content[sid] = key or sid
            if run_id not in self.runs:
                continue
            self.writes.setdefault(run_id, set()).add(sid)
            self._writes_by_key.setdefault(key or sid, []).append(((time, seq), run_id, sid))
            self._all_writes.append(((time, seq), run_id, sid))
        for rows in self._writes_by_key.values():
            rows.sort()
        self._all_writes.sort()
        self._writer: dict[tuple[str, str, Stamp], str | None] = {}
        self._upstream: dict[str, frozenset[str]] = {}
        self._downstream: dict[str, frozenset[str]] | None = None

    def content(self, snapshot_id: str) -> str:
        return self._content.get(snapshot_id, snapshot_id)

    # -- links ------------------------------------------------------------------------
    def writer(self, run_id: str, snapshot_id: str) -> str | None:
        """The run that wrote the content ``run_id`` read as ``snapshot_id``, most recently
        before that read (its first read of the snapshot); None when no run did."""
        for sid, _role, stamp in self.reads.get(run_id, ()):
            if sid == snapshot_id:
                return self.writer_at(run_id, sid, stamp)
        return None

    def writer_at(self, reader: str, sid: str, stamp: Stamp) -> str | None:
        key = (reader, sid, stamp)
        if key not in self._writer:
            found = _latest_before(self._writes_by_key.get(self.content(sid), []), stamp, reader)
            if found is None:
                found = self._same_rows_before(reader, sid, stamp)
            self._writer[key] = found
        return self._writer[key]

    def _same_rows_before(self, reader: str, sid: str, stamp: Stamp) -> str | None:
        """The latest run before ``stamp`` that wrote the same rows under other bytes."""
        if self._rows_key is None:
            return None
        counts = self._row_counts() if self._row_counts else {}
        want_rows = counts.get(sid)
        if not want_rows:
            return None
        candidates = [w for w in self._all_writes[:bisect.bisect_left(self._all_writes, (stamp, "", ""))]
                      if w[1] != reader and counts.get(w[2]) == want_rows]
        if not candidates:
            return None
        mine = self._rows_key(sid)
        if mine is None:
            return None
        for _stamp, run_id, other in reversed(candidates):
            if self._rows_key(other) == mine:
                return run_id
        return None

    def writers_of_reads(self, run_id: str) -> dict[str, str | None]:
        """{snapshot read: the run that wrote it before the read} for each of the run's reads."""
        return {sid: self.writer_at(run_id, sid, stamp) for sid, _role, stamp in self.reads.get(run_id, ())}

    # -- walks ------------------------------------------------------------------------
    def upstream(self, run_id: str) -> frozenset[str]:
        """Runs upstream of ``run_id`` (not itself) through happens-before links."""
        if run_id not in self._upstream:
            seen: set[str] = set()
            todo = [run_id]
            while todo:
                node = todo.pop()
                for w in self.writers_of_reads(node).values():
                    if w is not None and w != run_id and w not in seen:
                        seen.add(w)
                        todo.append(w)
            self._upstream[run_id] = frozenset(seen)
        return self._upstream[run_id]

    def downstream(self, run_id: str) -> frozenset[str]:
        """Runs downstream of ``run_id`` (not itself): those it is upstream of."""
        if self._downstream is None:
            children: dict[str, set[str]] = {}
            for reader in self.reads:
                for w in self.writers_of_reads(reader).values():
                    if w is not None and w != reader:
                        children.setdefault(w, set()).add(reader)
            closed: dict[str, frozenset[str]] = {}
            self._children = children
            self._downstream = closed
        if run_id not in self._downstream:
            seen: set[str] = set()
            todo = [run_id]
            while todo:
                for child in self._children.get(todo.pop(), ()):
                    if child != run_id and child not in seen:
                        seen.add(child)
                        todo.append(child)
            self._downstream[run_id] = frozenset(seen)
        return self._downstream[run_id]

    def chain(self, reader: str, snapshot_id: str) -> frozenset[str]:
        """The run that wrote what ``reader`` read as ``snapshot_id``, and every run upstream
        of it: the history of that input."""
        w = self.writer(reader, snapshot_id)
        return frozenset() if w is None else frozenset({w, *self.upstream(w)})

    def data_chain(self, reader: str, snapshot_id: str) -> frozenset[str]:
        """Like ``chain``, but through data only: a run's ``model`` inputs are not followed,
        so the split that cut a scaler's training data is not in the test set's history."""
        w = self.writer(reader, snapshot_id)
        if w is None:
            return frozenset()
        seen = {w}
        todo = [w]
        while todo:
            node = todo.pop()
            for sid, role, stamp in self.reads.get(node, ()):
                if role == "model":
                    continue
                up = self.writer_at(node, sid, stamp)
                if up is not None and up not in seen:
                    seen.add(up)
                    todo.append(up)
        return frozenset(seen)

    def row_ancestors(self, reader: str, snapshot_id: str, is_split: Callable[[str], bool]) -> set[str]:
        """The snapshot and the data it was derived from row by row, as ``reader`` read it:
        the non-model inputs of the runs that wrote it, back to (and including) the output of
        a split, whose inputs hold other rows too."""
        out = {snapshot_id}
        todo = [(reader, snapshot_id)]
        seen: set[str] = set()
        while todo:
            run_id, sid = todo.pop()
            w = self.writer(run_id, sid)
            if w is None or w in seen or is_split(w):
                continue
            seen.add(w)
            for up, role, _stamp in self.reads.get(w, ()):
                if role != "model" and up not in out:
                    out.add(up)
                    todo.append((w, up))
        return out

    def data_reads(self, run_ids: frozenset[str]) -> set[str]:
        """Snapshots the runs read other than as models."""
        return {sid for r in run_ids for sid, role, _stamp in self.reads.get(r, ()) if role != "model"}

    def snapshots_read(self, run_ids: set[str] | frozenset[str]) -> set[str]:
        return {sid for r in run_ids for sid, _role, _stamp in self.reads.get(r, ())}


def _latest_before(writes: list[tuple[Stamp, str, str]], stamp: Stamp, reader: str) -> str | None:
    """The run of the latest write strictly before ``stamp`` by a run other than ``reader``."""
    i = bisect.bisect_left(writes, (stamp, "", ""))
    while i > 0:
        i -= 1
        if writes[i][1] != reader:
            return writes[i][1]
    return None
