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


def sorted_lanes(keys):
    """The keys as two uint64 lanes ``(h, l)`` (their first and last 8 bytes, as numbers),
    sorted by ``(h, l)``, duplicates kept.

    Sort-based: the ``h`` lane is arg-sorted alone (one fast integer sort) and only the
    runs of equal ``h`` (duplicate rows, in practice) are ordered by ``l`` after it.
    """
    import numpy as np

    a = np.ascontiguousarray(keys).view(np.uint64).reshape(-1, 2)
    order = np.argsort(a[:, 0])
    h, l = a[order, 0], a[order, 1]
    tie = h[1:] == h[:-1]
    if tie.any():
        in_run = np.zeros(len(h), dtype=bool)
        in_run[:-1] |= tie
        in_run[1:] |= tie
        run = np.nonzero(in_run)[0]
        sub = np.lexsort((l[run], h[run]))
        h[run], l[run] = h[run][sub], l[run][sub]
    return h, l


def _pairs_of(h, l):
    import numpy as np

    out = np.empty(len(h), dtype=[("h", np.uint64), ("l", np.uint64)])
    out["h"], out["l"] = h, l
    return out


def key_counts(keys):
    """(sorted distinct keys as pairs, how often each occurs)."""
    import numpy as np

    h, l = sorted_lanes(keys)
    if len(h) == 0:
        return _pairs_of(h, l), np.zeros(0, dtype=np.int64)
    new = np.ones(len(h), dtype=bool)
    new[1:] = (h[1:] != h[:-1]) | (l[1:] != l[:-1])
    starts = np.nonzero(new)[0]
    return _pairs_of(h[starts], l[starts]), np.diff(np.append(starts, len(h)))


def find_lanes(h, l, qh, ql):
    """Index of the first of the sorted lanes ``(h, l)`` (``sorted_lanes``) equal to each
    query ``(qh, ql)``, or -1. Queries are looked up in ``h`` in sorted order (cache
    friendly), then the ``l`` lane is compared exactly."""
    import numpy as np

    n = len(h)
    if n == 0 or len(qh) == 0:
        return np.full(len(qh), -1, dtype=np.int64)
    order = np.argsort(qh)
    qs = qh[order]
    left = np.empty(len(qh), dtype=np.int64)
    right = np.empty(len(qh), dtype=np.int64)
    left[order] = np.searchsorted(h, qs, "left")
    right[order] = np.searchsorted(h, qs, "right")
    at = np.minimum(left, n - 1)
    hit = (left < right) & (l[at] == ql)
    out = np.where(hit, left, -1)
    rare = np.nonzero(~hit & (right - left > 1))[0]
    if len(rare):
        # distinct keys sharing their first 8 bytes: the full 16 bytes, searched as pairs
        out[rare] = lookup(_pairs_of(h, l), _pairs_of(qh[rare], ql[rare]))
    return out


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

    from lineage.tabular.load import valid_mask

    col = table.column(column)
    col = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    n = len(col)
    if n == 0 or col.null_count == n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype="V16")
    values = np.frombuffer(col.buffers()[1], dtype="V16", count=n + col.offset)[col.offset:]
    if col.null_count:
        positions = np.nonzero(valid_mask(col))[0]
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
    if len(o_pos) == len(keys):
        return pos, o_keys  # every row has one: nothing of ``base`` is left
    keys = keys.copy()
    keys[o_pos] = o_keys
    return pos, keys


def members(keys_a, keys_b, *, sorted_a=None):
    """Boolean mask over ``keys_b``: which 16-byte keys also occur in ``keys_a``.

    Exact: every match compares all 16 bytes. Large sides are first narrowed down with a
    table of the smaller side's leading bits (``candidates``: keys are hashes, so all but
    a few percent of the non-matching keys are ruled out in one pass), then the other
    way round; only the candidates left are sorted (``sorted_lanes``; pass ``sorted_a``
    to reuse a sort of ``keys_a`` instead) and looked up (``find_lanes``).
    """
    import numpy as np

    if len(keys_a) == 0 or len(keys_b) == 0:
        return np.zeros(len(keys_b), dtype=bool)
    if sorted_a is None and len(keys_a) + len(keys_b) > FILTER_ABOVE:
        both = _hashed_members(keys_a, keys_b, want_a=False)
        if both is not None:
            return both[1]
        a_idx, b_idx = _narrowed(keys_a, keys_b)
        out = np.zeros(len(keys_b), dtype=bool)
        if len(a_idx) and len(b_idx):
            out[b_idx] = members(keys_a[a_idx], keys_b[b_idx], sorted_a=sorted_lanes(keys_a[a_idx]))
        return out
    h, l = sorted_a if sorted_a is not None else sorted_lanes(keys_a)
    b = np.ascontiguousarray(keys_b).view(np.uint64).reshape(-1, 2)
    return find_lanes(h, l, b[:, 0], b[:, 1]) >= 0


def members_both(keys_a, keys_b):
    """(mask over ``keys_a`` of the keys found in ``keys_b``, mask over ``keys_b`` of the
    keys found in ``keys_a``): both directions of ``members`` for the price of one."""
    import numpy as np

    out_a, out_b = np.zeros(len(keys_a), dtype=bool), np.zeros(len(keys_b), dtype=bool)
    if len(keys_a) == 0 or len(keys_b) == 0:
        return out_a, out_b
    if len(keys_a) + len(keys_b) > FILTER_ABOVE:
        both = _hashed_members(keys_a, keys_b)
        if both is not None:
            return both
        a_idx, b_idx = _narrowed(keys_a, keys_b)
    else:
        a_idx, b_idx = np.arange(len(keys_a)), np.arange(len(keys_b))
    if len(a_idx) and len(b_idx):
        sub_a, sub_b = keys_a[a_idx], keys_b[b_idx]
        out_b[b_idx] = members(sub_a, sub_b, sorted_a=sorted_lanes(sub_a))
        out_a[a_idx] = members(sub_b, sub_a, sorted_a=sorted_lanes(sub_b))
    return out_a, out_b


def _hashed_members(keys_a, keys_b, *, want_a: bool = True):
    """(mask over ``keys_a``, mask over ``keys_b``) of the keys found on the other side, from
    the compiled kernels' hash join (``CKernels.members16``: a hash table of the smaller
    side, probed on two threads); the mask over ``keys_a`` is None unless ``want_a``.
    None where the kernels are not available (the numpy path gives the same masks)."""
    from lineage.tabular import kernels

    if any(k.dtype.itemsize != 16 or k.dtype.names is not None for k in (keys_a, keys_b)):
        return None
    k = kernels.get(len(keys_a) + len(keys_b))
    if k is None or not hasattr(k, "members16"):
        return None
    threads = min(2, os.cpu_count() or 1)
    if len(keys_b) <= len(keys_a):
        out_b, out_a = k.members16(keys_b, keys_a, build_mask=True, probe_mask=want_a, threads=threads)
    else:
        out_a, out_b = k.members16(keys_a, keys_b, build_mask=want_a, probe_mask=True, threads=threads)
    return out_a, out_b


def _narrowed(keys_a, keys_b):
    """(positions in ``keys_a``, positions in ``keys_b``) of the keys that may occur on the
    other side: each side narrowed down by the other's ``candidates`` in turn, the larger
    side first, while a pass still rules out at least half of what it probes."""
    import numpy as np

    lanes = [_first_lane(keys_a), _first_lane(keys_b)]
    idx: list[Any] = [None, None]
    probe = 1 if len(keys_a) <= len(keys_b) else 0
    for done in range(len(_PASS_BITS)):
        keep = candidates(lanes[1 - probe], lanes[probe], _PASS_BITS[done])
        before = len(keep)
        idx[probe] = np.nonzero(keep)[0] if idx[probe] is None else idx[probe][keep]
        lanes[probe] = lanes[probe][keep]
        if not len(lanes[probe]) or (done and len(lanes[probe]) * 2 > before):
            break
        probe = 1 - probe
    return (np.arange(len(keys_a)) if idx[0] is None else idx[0],
            np.arange(len(keys_b)) if idx[1] is None else idx[1])


#: ``members`` narrows down the candidates first when both sides hold more keys than this
FILTER_ABOVE = 1 << 15


def _first_lane(keys):
    """The first 8 bytes of each key, as a uint64 (a view when the keys are contiguous)."""
    import numpy as np

    return np.ascontiguousarray(keys).view(np.uint64).reshape(-1, 2)[:, 0]


#: which bits of the first lane each narrowing pass of ``members`` reads (``candidates``'
#: ``low``): another slice each pass, since the keys a pass keeps agree on the bits it read
_PASS_BITS = (None, 0, 19, 7)


def candidates(build, probe, low=None):
    """Boolean mask over ``probe`` (uint64): values whose bits from ``low`` upwards (by
    default the leading bits) some value of ``build`` has; a superset of the values
    ``build`` holds. A bit table of about 16 bits per value of ``build`` (at most 2^26
    bits: 8 MiB, mostly in cache), set once, then read once per probe."""
    import numpy as np

    if len(build) == 0:
        return np.zeros(len(probe), dtype=bool)
    bits = int(min(26, max(12, np.ceil(np.log2(len(build) * 16)))))
    shift = np.uint64(64 - bits if low is None else low)
    mask = np.uint64((1 << bits) - 1)
    slots = np.zeros(1 << bits, dtype=bool)
    slots[(build >> shift) & mask] = True
    table = np.packbits(slots, bitorder="little")
    del slots
    out = np.empty(len(probe), dtype=np.uint8)
    for start in range(0, len(probe), _BLOCK):  # in blocks: small temporaries, in cache
        at = probe[start:start + _BLOCK] >> shift
        if low is not None:
            at &= mask
        byte = out[start:start + _BLOCK]
        np.take(table, at >> np.uint64(3), out=byte)
        at &= np.uint64(7)
        byte >>= at.astype(np.uint8)
        byte &= 1
    return out.view(bool)


_BLOCK = 1 << 20


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
