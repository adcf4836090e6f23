"""One pass over the training rows for the overlap rules.

``exact-overlap`` asks which held-out rows have a training row's data key, and
``near-duplicate`` which have a training row's near key on either grid (and which training
rows share a held-out near key). Both sides' keys used to be loaded whole and joined; the
training side is the large one. Here the held-out keys of each kind go into a hash table
(``kernels.KeyTable16``, exact: all 16 bytes compared), and the training fingerprint
files are read row group by row group, on two threads, every key column of a row group
at once: each row's data key (``fp``, with ``fp_data`` over it where the file has one)
and near keys (the near key where recorded, else the data key) are probed against the
tables and dropped. The answers are the masks and training rows the whole-column joins
give, so findings do not change; the training keys are never held.

``scan`` returns None where this pass does not apply (no compiled kernels, a training row
without ``fp``): the caller then joins whole columns as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lineage.tabular.load import _has_fingerprints as has_fingerprints

DATA = "data"
_FP, _FP_DATA = "fp", "fp_data"
#: threads that read and probe row groups
THREADS = 2


class _NoScan(Exception):
    """The pass does not apply to these rows (the whole-column join answers instead)."""


@dataclass
class Scan:
    """What one pass over the training rows found, per key kind (``data`` or a near-key
    column): ``masks[kind]``, over the held-out keys of that kind, of those found among the
    training rows; ``hits[kind]`` (near kinds only), the (near key, data key) of every
    training row whose near key some held-out row has."""

    masks: dict[str, Any] = field(default_factory=dict)
    hits: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def scan(repo: Any, tables: list[Any], held: dict[str, Any], near_kinds: list[str]) -> Scan | None:
    """Probe the training ``tables`` (``FingerprintColumns``) against the held-out keys
    ``held`` (``{kind: V16 keys}``: each of ``near_kinds``, and ``data`` unless the data
    keys are joined elsewhere); None where the pass does not apply."""
    import numpy as np

    from lineage.tabular import kernels

    k = kernels.get(sum(len(v) for v in held.values()) + sum(t.num_rows for t in tables))
    if k is None or not hasattr(k, "key_table") or any(len(v) == 0 for v in held.values()):
        return None
    kinds = [kind for kind in (DATA, *near_kinds) if kind in held]
    items = _work(repo, tables, near_kinds)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(THREADS, thread_name_prefix="lineage-scan") as pool:
        # the tables are built side by side too (the kernels let go of the GIL)
        keytables = dict(zip(kinds, pool.map(lambda kind: k.key_table(held[kind]), kinds)))

    def one(item) -> dict[str, list[tuple[Any, Any]]]:
        mine: dict[str, list[tuple[Any, Any]]] = {kind: [] for kind in near_kinds}
        for batch in _batches(*item):
            _probe(batch, keytables, near_kinds, mine)
        return mine

    try:
        if len(items) <= 1:
            found = [one(x) for x in items]
        else:
            with ThreadPoolExecutor(min(THREADS, len(items)), thread_name_prefix="lineage-scan") as pool:
                found = list(pool.map(one, items))
    except _NoScan:
        return None
    out = Scan()
    for kind in kinds:
        out.masks[kind] = keytables[kind].marked()
    empty = np.zeros(0, dtype="V16")
    for kind in near_kinds:
        parts = [p for mine in found for p in mine[kind]]
        out.hits[kind] = ((np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts]))
                          if parts else (empty, empty))
    return out


def _work(repo: Any, tables: list[Any], near_kinds: list[str]) -> list[tuple]:
    """(table, file, its digest or None, columns, row groups) items: a file's row groups dealt
    out as several items, so two threads share even one large file; a file without stored
    fingerprints is one item of no row group."""
    import pyarrow.parquet as pq

    items = []
    for table in tables:
        names = table.column_names
        cols = [c for c in (_FP, _FP_DATA, *near_kinds) if c in names]
        for i, f in enumerate(table.files):
            if not has_fingerprints(repo, f):
                items.append((table, i, f.digest, cols, None))
                continue
            pf = pq.ParquetFile(table._source(i), pre_buffer=False)
            present, groups = [c for c in cols if c in pf.schema_arrow.names], pf.num_row_groups
            step = max(1, -(-groups // (THREADS * 4)))  # a few items per thread: an even share
            for g in range(0, groups, step):
                items.append((table, i, None, present, range(g, min(groups, g + step))))
    return items


def _batches(table: Any, i: int, digest: str | None, cols: list[str], groups: range | None):
    """``{column: (V16 values, valid mask or None)}`` per row group of ``groups`` of file
    ``i``; a file without stored fingerprints is one row whose ``fp`` is its digest."""
    import numpy as np
    import pyarrow.parquet as pq

    if groups is None:
        yield {_FP: (np.frombuffer(bytes.fromhex(digest or "")[:16], dtype="V16"), None)}
        return
    if _FP not in cols:
        raise _NoScan
    pf = pq.ParquetFile(table._source(i), pre_buffer=False)
    for g in groups:
        rg = pf.read_row_group(g, columns=cols, use_threads=False)
        yield {c: _values(rg.column(c)) for c in cols}


def _values(col):
    """(V16 values, valid mask or None for all valid) of a fixed-size key column."""
    import numpy as np

    from lineage.tabular.load import valid_mask

    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    n = len(arr)
    if arr.null_count == n:
        return np.zeros(n, dtype="V16"), np.zeros(n, dtype=bool)
    values = np.frombuffer(arr.buffers()[1], dtype="V16", count=n + arr.offset)[arr.offset:]
    return values, (valid_mask(arr) if arr.null_count else None)


def _probe(batch: dict[str, tuple[Any, Any]], keytables: dict[str, Any], near_kinds: list[str],
           mine: dict[str, list[tuple[Any, Any]]]) -> None:
    """Probe one batch's data and near keys; keep the training rows a near key hit."""
    values, valid = batch[_FP]
    if valid is not None and not valid.all():
        raise _NoScan  # a row without fp: the whole-column join places keys by position
    data = _over(values, batch.get(_FP_DATA))
    if DATA in keytables:
        keytables[DATA].probe(data)
    for kind in near_kinds:
        near = _over(data, batch.get(kind))
        rows = keytables[kind].probe(near, rows=True)
        if rows.any():
            mine[kind].append((near[rows], data[rows]))


def _over(base, over):
    """``base`` with the valid values of ``over`` ((values, valid) or None) in their place."""
    if over is None:
        return base
    values, valid = over
    if valid is None:
        return values
    if not valid.any():
        return base
    out = base.copy()
    out[valid] = values[valid]
    return out
