"""The order-free key of a multiset of rows (``rows_key``), recorded per tabular file.

Equal for the same rows in any order, in any file format, with the columns in any order
(it is built from the row fingerprints ``fp``, which do not depend on either). Stored in
``tabular_files.rows_key``, so SQL can find a table re-exported under another name,
format, column order or row order (docs/queries.md).
"""

from __future__ import annotations

from typing import Any

#: salts of the two lanes (the first digits of e, in hex)
_LANE_SALT = (0xB7E151628AED2A6A, 0xBF7158809CF4F3C7)


def rows_key(keys: Any) -> str:
    """``ROWS:HHHHHHHHHHHHHHHHLLLLLLLLLLLLLLLL`` of ``fp`` keys (numpy ``V16``): the row
    count, then each 64-bit lane of the keys passed through ``mix`` (splitmix64, after a
    per-lane salt) and summed modulo 2**64, in hex. Sums combine: the key of several files'
    rows together is ``combine_rows_keys`` of theirs."""
    import numpy as np

    from lineage.tabular.rowhash import mix

    lanes = np.ascontiguousarray(keys).view(np.uint64).reshape(-1, 2)
    if len(lanes) == 0:
        return "0:" + "0" * 32
    with np.errstate(over="ignore"):
        hi = int(mix(lanes[:, 0] ^ np.uint64(_LANE_SALT[0])).sum(dtype=np.uint64))
        lo = int(mix(lanes[:, 1] ^ np.uint64(_LANE_SALT[1])).sum(dtype=np.uint64))
    return f"{len(lanes)}:{hi:016x}{lo:016x}"


def combine_rows_keys(keys: list[str]) -> str:
    """The rows key of the rows behind ``keys`` taken together (as a multiset)."""
    rows, hi, lo = 0, 0, 0
    for k in keys:
        n, h = k.split(":")
        rows += int(n)
        hi = (hi + int(h[:16], 16)) % 2**64
        lo = (lo + int(h[16:], 16)) % 2**64
    return f"{rows}:{hi:016x}{lo:016x}"


def file_rows_key(fingerprints_path: str) -> str:
    """The rows key of a fingerprint Parquet file (its ``fp`` column; never null)."""
    import numpy as np
    import pyarrow.parquet as pq

    # batch by batch (the sums combine), so memory stays bounded whatever the row count
    parts = [rows_key(np.zeros(0, dtype="V16"))]
    for batch in pq.ParquetFile(fingerprints_path, pre_buffer=False).iter_batches(columns=["fp"]):
        parts.append(batch_rows_key(batch.column(0)))
    return combine_rows_keys(parts)


def batch_rows_key(col: Any) -> str:
    """The rows key of one ``fixed_size_binary(16)`` Arrow array of ``fp`` keys."""
    import numpy as np

    n = len(col)
    keys = np.frombuffer(col.buffers()[1], dtype="V16", count=n + col.offset)[col.offset:] if n else \
        np.zeros(0, dtype="V16")
    return rows_key(keys)
