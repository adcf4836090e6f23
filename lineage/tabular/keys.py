"""Row keys as numpy arrays: the fingerprint columns of a snapshot or of any file, set
membership, multiplicities and an order-free digest of a set of rows.

A key is 16 bytes (numpy ``V16``): ``fp``, ``fp_features``, ``group`` or a near key of
the fingerprint table (``load_fingerprints``). Audit rules, ``used-by`` and
``audit --test-set`` compare rows with these, never by rereading data.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any



def as_pairs(keys):
    """16-byte keys as a sortable structured array of two uint64."""
    import numpy as np

    return np.ascontiguousarray(keys).view([("h", np.uint64), ("l", np.uint64)]).ravel()


def key_counts(keys):
    """(sorted distinct keys as pairs, how often each occurs)."""
    import numpy as np

    return np.unique(as_pairs(keys), return_counts=True)


def lookup(sorted_uniq, pairs):
    """Index of each of ``pairs`` in ``sorted_uniq``, or -1."""
    import numpy as np

    if len(sorted_uniq) == 0:
        return np.full(len(pairs), -1)
    at = np.searchsorted(sorted_uniq, pairs)
    at_c = np.minimum(at, len(sorted_uniq) - 1)
    return np.where(sorted_uniq[at_c] == pairs, at_c, -1)


def fingerprint_keys(table, column: str = "fp"):
    """Positions and 16-byte keys (numpy ``V16``) of the non-null values of ``column``."""
    import numpy as np

    col = table.column(column).combine_chunks()
    n = len(col)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype="V16")
    values = np.frombuffer(col.buffers()[1], dtype="V16", count=n + col.offset)[col.offset:]
    if col.null_count:
        valid = np.asarray(col.is_valid())
        positions = np.nonzero(valid)[0]
        return positions, values[positions]
    return np.arange(n), values


def overlay(base, over):
    """``base`` (positions, keys) with the keys of ``over`` (positions, keys) put in their
    place: a key column that some rows have (``fp_data``, a near key) over ``fp``, which
    every row has, in row order."""
    pos, keys = base
    o_pos, o_keys = over
    if len(o_pos) == 0:
        return pos, keys
    keys = keys.copy()
    keys[o_pos] = o_keys
    return pos, keys


def members(keys_a, keys_b):
    """Boolean mask over ``keys_b``: which 16-byte keys also occur in ``keys_a``.

    Vectorised: the first 8 bytes select candidates with ``np.isin`` on uint64, then
    the full 16 bytes of each candidate are compared exactly.
    """
    import numpy as np

    if len(keys_a) == 0 or len(keys_b) == 0:
        return np.zeros(len(keys_b), dtype=bool)
    a = np.ascontiguousarray(keys_a).view(np.uint64).reshape(-1, 2)
    b = np.ascontiguousarray(keys_b).view(np.uint64).reshape(-1, 2)
    cand = np.isin(b[:, 0], a[:, 0])
    if not cand.any():
        return cand
    idx = np.nonzero(cand)[0]
    a_full = np.unique(a[np.isin(a[:, 0], b[idx, 0])].view([("h", np.uint64), ("l", np.uint64)]).ravel())
    b_full = b[idx].view([("h", np.uint64), ("l", np.uint64)]).ravel()
    cand[idx] = np.isin(b_full, a_full)
    return cand


def snapshot_keys(repo: Any, snapshot_id: str, column: str = "fp"):
    """The keys of a recorded snapshot's rows (non-tabular files: one key each)."""
    from lineage.tabular.load import load_fingerprints

    return fingerprint_keys(load_fingerprints(repo, snapshot_id), column)[1]


def path_keys(path: str | os.PathLike[str]):
    """``fp`` keys of the rows of a file or folder on disk, computed now (not recorded):
    tabular files by their rows, other files as one row each (their content digest)."""
    import numpy as np

    from lineage.core.hashing import hash_file
    from lineage.snapshots.scan import scan
    from lineage.tabular.compute import compute_file
    from lineage.tabular.readers import detect

    from pathlib import Path

    _kind, files = scan(Path(os.path.abspath(path)))
    parts = []
    with tempfile.TemporaryDirectory(prefix="lineage-keys-") as tmp:
        for f in files:
            fmt = detect(f.abspath)
            meta = None
            if fmt is not None:
                try:
                    meta = compute_file(f.abspath, fmt, {}, display=f.rel, tmpdir=tmp, near_keys=False)
                except Exception:  # noqa: BLE001 - unreadable: counted as one row, like a snapshot
                    meta = None
            if meta is not None and meta.fingerprints_path:
                import pyarrow.parquet as pq

                parts.append(fingerprint_keys(pq.read_table(meta.fingerprints_path), "fp")[1])
            else:
                whole = bytes.fromhex(hash_file(f.abspath, f.size))[:16]
                parts.append(np.frombuffer(whole, dtype="V16"))
    return np.concatenate(parts) if parts else np.zeros(0, dtype="V16")


def containment(keys, container) -> float:
    """The fraction of ``keys`` (rows) found among ``container``'s; 0.0 without rows."""
    if len(keys) == 0:
        return 0.0
    return float(members(container, keys).sum()) / len(keys)
