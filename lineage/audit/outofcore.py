"""Out-of-core overlap joins: the training side of the exact-overlap family in DuckDB.

When the fingerprint keys an audit would hold (rows × 16 bytes × key columns, from the
recorded row counts) exceed its memory budget (``[audit] memory_budget``), the questions
the rules ask of the *training* side are answered by DuckDB over the stored Parquet
fingerprint objects instead of by arrays in memory: which held-out keys occur among the
training keys (``members``), which files have values in a column (``files_with``), the
newest training time (``newest_time``). DuckDB's hash join spills to a temporary folder
under ``.lineage/tmp`` within ``memory_limit`` = the budget, on every core, in-process. The
answers are the same masks and values as the in-memory path, so the rules and their
findings do not change (docs/scale.md, "Overlap at scale").

DuckDB is imported here only, and only when a join runs.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from lineage.tabular.load import _has_fingerprints as has_fingerprints

#: what the audit's meta says ran
IN_MEMORY = "in-memory"
DUCKDB = "out-of-core (duckdb)"

#: the key columns the family reads per side (``data`` keys, ``fp_features``, ``group``)
KEY_COLUMNS = 3
KEY_BYTES = 16

#: DuckDB's hash join needs some memory per thread whatever the budget: below this much
#: per thread it stops with an out-of-memory error instead of spilling
MIN_MEMORY_PER_THREAD = 64 << 20


def estimate(rows: int) -> int:
    """Bytes of keys the family would load for ``rows`` rows."""
    return rows * KEY_BYTES * KEY_COLUMNS


class OutOfCore:
    """One DuckDB connection for the length of an audit; ``close`` removes its temporary folder."""

    def __init__(self, repo: Any, budget: int) -> None:
        self.repo = repo
        self.budget = budget
        self.threads = os.cpu_count() or 1
        #: questions answered out of core (joins and scans of the training side)
        self.queries = 0
        self._con: Any = None
        self._tmp: Path | None = None
        self._paths: dict[str, str] = {}
        self._schemas: dict[str, list[str]] = {}

    # -- the connection -----------------------------------------------------------------
    @property
    def memory_limit(self) -> int:
        return max(self.budget, MIN_MEMORY_PER_THREAD * max(2, self.threads))

    def _connection(self):
        if self._con is None:
            import duckdb

            self._tmp = self.repo.dir / "tmp" / f"audit-{uuid.uuid4().hex}"
            (self._tmp / "spill").mkdir(parents=True)
            self._con = duckdb.connect(config={
                "memory_limit": f"{self.memory_limit}B", "threads": self.threads,
                "temp_directory": str(self._tmp / "spill"), "preserve_insertion_order": False})
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._paths.clear()

    # -- the stored fingerprint objects -------------------------------------------------
    def _path(self, digest: str) -> str:
        """A file DuckDB can read: the loose object itself, or a packed one written out once."""
        if digest not in self._paths:
            store = self.repo.store
            if store.is_loose(digest):
                self._paths[digest] = str(store.path(digest))
            else:
                self._connection()
                out = self._tmp / f"{digest}.parquet"
                out.write_bytes(store.read_bytes(digest))
                self._paths[digest] = str(out)
        return self._paths[digest]

    def _names(self, digest: str) -> list[str]:
        if digest not in self._schemas:
            import pyarrow.parquet as pq

            self._schemas[digest] = pq.ParquetFile(self._path(digest)).schema_arrow.names
        return self._schemas[digest]

    def _keys_sql(self, tables: list[Any], column: str) -> str | None:
        """SQL of one column ``k`` (BLOB): the ``column`` keys of every row of the tables
        (``FingerprintColumns``), as ``AuditContext.keys`` gives them; None when there are none.

        ``data``: ``fp_data`` where a file has it, else ``fp``; files without stored
        fingerprints count as one row keyed by their content digest (``fp`` and ``data``)."""
        by_expr: dict[str, list[str]] = {}
        digests: list[bytes] = []
        for table in tables:
            for f in table.files:
                if not has_fingerprints(self.repo, f):
                    if column in ("fp", "data"):
                        digests.append(bytes.fromhex(f.digest)[:16])
                    continue
                names = self._names(f.record.fingerprints)
                if column == "data":
                    expr = "coalesce(fp_data, fp)" if "fp_data" in names else "fp"
                elif column in names:
                    expr = _quote(column)
                else:
                    continue
                by_expr.setdefault(expr, []).append(self._path(f.record.fingerprints))
        parts = [f"SELECT {expr} AS k FROM read_parquet([{', '.join(_literal(p) for p in paths)}], "
                 "union_by_name = true)" for expr, paths in by_expr.items()]
        if digests:
            name = self._register({"k": _fixed16(digests)})
            parts.append(f"SELECT k FROM {name}")
        return " UNION ALL ".join(parts) if parts else None

    def _register(self, columns: dict[str, Any]) -> str:
        import pyarrow as pa

        name = f"probe_{uuid.uuid4().hex}"
        self._connection().register(name, pa.table(columns))
        return name

    # -- what the rules ask of the training side --------------------------------------
    def members(self, tables: list[Any], column: str, keys_b):
        """Boolean mask over ``keys_b`` (numpy ``V16``): which occur among the ``column`` keys
        of the tables. A hash join built on the probe side (``keys_b``, the held-out keys),
        the training keys streamed from Parquet; spills to disk past the memory limit."""
        import numpy as np

        mask = np.zeros(len(keys_b), dtype=bool)
        if len(keys_b) == 0:
            return mask
        train = self._keys_sql(tables, column)
        if train is None:
            return mask
        import pyarrow as pa

        probe = self._register({"i": pa.array(np.arange(len(keys_b))), "k": _fixed16(keys_b)})
        try:
            found = self._connection().execute(
                f"SELECT DISTINCT p.i FROM ({train}) t JOIN {probe} p ON p.k = t.k").fetchnumpy()["i"]
        finally:
            self._con.unregister(probe)
        self.queries += 1
        mask[np.asarray(found, dtype=np.int64)] = True
        return mask

    def files_with(self, table: Any, column: str) -> list[str]:
        """Paths of the table's files with a non-null value of ``column`` (``FingerprintColumns.files_with``)."""
        out = set()
        for f in table.files:
            if not has_fingerprints(self.repo, f) or column not in self._names(f.record.fingerprints):
                continue
            path = self._path(f.record.fingerprints)
            hit = self._connection().execute(
                f"SELECT 1 FROM read_parquet({_literal(path)}) WHERE {_quote(column)} IS NOT NULL LIMIT 1").fetchall()
            if hit:
                out.add(f.path)
        self.queries += 1
        return sorted(out)

    def newest_time(self, table: Any) -> tuple[Any, bool]:
        """(the newest ``time`` value, whether it is a time stamp), as ``pyarrow.compute.max``
        of the table's concatenated ``time`` column gives it, read one row group at a time.

        Where some files hold time stamps and others numbers, the concatenated column keeps
        the time stamps (``load._concat_fingerprints``): so does this."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        maxima: dict[bool, list[Any]] = {True: [], False: []}
        types: dict[bool, Any] = {}
        for f in table.files:
            if not has_fingerprints(self.repo, f) or "time" not in self._names(f.record.fingerprints):
                continue
            pf = pq.ParquetFile(self._path(f.record.fingerprints), pre_buffer=False)
            kind = pf.schema_arrow.field("time").type
            stamps = pa.types.is_timestamp(kind)
            for g in range(pf.num_row_groups):
                col = pf.read_row_group(g, columns=["time"]).column(0)
                if col.null_count < len(col):
                    maxima[stamps].append(pc.max(col))
                    types.setdefault(stamps, kind)
        self.queries += 1
        stamps = bool(maxima[True])
        if not maxima[stamps]:
            return None, stamps
        values = pa.array([m.as_py() for m in maxima[stamps]], types[stamps])
        return pc.max(values).as_py(), stamps


def _fixed16(keys):
    """16-byte keys (numpy ``V16``, or a list of bytes) as an Arrow fixed_size_binary(16) array."""
    import numpy as np
    import pyarrow as pa

    if isinstance(keys, list):
        return pa.array(keys, pa.binary(16))
    buf = np.ascontiguousarray(keys)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(buf), [None, pa.py_buffer(buf)])


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
