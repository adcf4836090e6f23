"""Stable 128-bit row fingerprints over Arrow record batches (scheme ``lineage-fp-1``).

The exact encoding is written down in ``schemas/FINGERPRINTS.md``; this module is
its reference implementation. Everything is numpy ``uint64`` arithmetic over Arrow
buffers (wrapping modulo 2**64), so the work per row is a handful of vectorised
operations and the result is the same on every machine, process and version.
Only nested values (lists, structs, maps) take a per-row Python path.

Where numba is available, the hot loops (mixing, string payloads, combining) run in
the compiled kernels of ``lineage.tabular.kernels`` instead, with the same results;
``LINEAGE_NO_JIT=1`` forces this numpy path.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

#: Version of the fingerprint scheme. Bump it whenever any output could change.
SCHEME = 1
SCHEME_NAME = f"lineage-fp-{SCHEME}"

# Lane seeds: the first 16 bytes of the fractional part of pi, as two 64-bit words.
SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)
GOLDEN = 0x9E3779B97F4A7C15
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB

# Type tags of canonical values.
T_NULL, T_BOOL, T_NUM, T_INT, T_UINT, T_STR, T_BIN, T_TS, T_TS_NS, T_TIME, T_DUR, T_NESTED, T_NAME = range(13)
CANONICAL_NAN = 0x7FF8000000000000

_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_US = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _np():
    import numpy as np

    return np


def _jit(n: int):
    """The compiled kernels for an array of ``n`` values, or None (then the numpy path)."""
    from lineage.tabular import kernels

    return kernels.get(n)


def mix(x):
    """The splitmix64 finaliser (a bijection on uint64), applied elementwise."""
    np = _np()
    x = np.array(x, dtype=np.uint64)  # a copy: the steps below work in place
    if x.ndim == 0:
        x = x.reshape(1)
        return _mix_inplace(np, x, np.empty_like(x))[0]
    return _mix_inplace(np, x, np.empty_like(x))


def _mix_inplace(np, x, tmp):
    with np.errstate(over="ignore"):
        np.right_shift(x, np.uint64(30), out=tmp)
        x ^= tmp
        x *= np.uint64(M1)
        np.right_shift(x, np.uint64(27), out=tmp)
        x ^= tmp
        x *= np.uint64(M2)
        np.right_shift(x, np.uint64(31), out=tmp)
        x ^= tmp
    return x


def mix_int(x: int) -> int:
    """``mix`` on one Python int (used for constants and the documentation's examples)."""
    m = (1 << 64) - 1
    x &= m
    x ^= x >> 30
    x = (x * M1) & m
    x ^= x >> 27
    x = (x * M2) & m
    x ^= x >> 31
    return x


def tag_key(lane: int, tag: int) -> int:
    return mix_int(SEEDS[lane] + tag)


# -- strings and bytes ------------------------------------------------------------

_WORD_TABLE: dict[int, Any] = {}
_CHUNK_BYTES = 8 << 20


def _word_keys(lane: int, n: int):
    """P_lane[k] = mix(seed_lane + k + 1) for word positions 0..n-1 (cached, grown on demand)."""
    np = _np()
    have = _WORD_TABLE.get(lane)
    if have is None or len(have) < n:
        size = max(n, 1024, 0 if have is None else 2 * len(have))
        with np.errstate(over="ignore"):
            have = mix(np.arange(1, size + 1, dtype=np.uint64) + np.uint64(SEEDS[lane]))
        _WORD_TABLE[lane] = have
    return have


def _bytes_payload(data, offsets, lengths):
    """Per-value payloads (lane 0, lane 1) of byte strings given as data + offsets.

    Each value is cut into 8-byte little-endian words (the last one zero-padded);
    payload_L = mix(sum_k mix(w_k ^ P_L[k]) + mix(len ^ seed_L)), sums modulo 2**64.
    """
    np = _np()
    n = len(lengths)
    out = (np.empty(n, np.uint64), np.empty(n, np.uint64))
    if n == 0:
        return out
    lengths = lengths.astype(np.int64)
    k = _jit(n)
    if k is not None:
        k.bytes_payload(data, np.ascontiguousarray(offsets, dtype=np.int64), lengths, out[0], out[1])
        return out
    # rows are processed in chunks of bounded byte size so memory stays small
    cum = np.cumsum(lengths)
    start_row = 0
    while start_row < n:
        base = cum[start_row - 1] if start_row else 0
        stop_row = int(np.searchsorted(cum, base + _CHUNK_BYTES, side="right"))
        stop_row = max(stop_row, start_row + 1)
        stop_row = min(stop_row, n)
        offs = offsets[start_row:stop_row].astype(np.int64)
        lens = lengths[start_row:stop_row]
        lo = int(offs[0])
        hi = int(offs[-1] + lens[-1])
        chunk = np.zeros(hi - lo + 8, np.uint8)
        chunk[: hi - lo] = data[lo:hi]
        rel = offs - lo
        nwords = (lens + 7) // 8
        m = stop_row - start_row
        view = np.ndarray(shape=(len(chunk) - 7,), dtype="<u8", buffer=chunk, strides=(1,))
        maxw = int(nwords.max())
        sums = [np.zeros(m, np.uint64), np.zeros(m, np.uint64)]
        if maxw <= 8:
            # short values: one pass per word position, all rows at once
            for k in range(maxw):
                sel = None if k == 0 and (nwords > 0).all() else np.nonzero(nwords > k)[0]
                starts = rel + 8 * k if sel is None else rel[sel] + 8 * k
                rem = (lens if sel is None else lens[sel]) - 8 * k
                words = _masked(np, view[starts], rem)
                for lane in (0, 1):
                    terms = _mix_inplace(np, words ^ _word_keys(lane, k + 1)[k], np.empty_like(words))
                    with np.errstate(over="ignore"):
                        if sel is None:
                            sums[lane] += terms
                        else:
                            sums[lane][sel] += terms
        else:
            total = int(nwords.sum())
            ends = np.cumsum(nwords)
            first = ends - nwords
            row_of = np.repeat(np.arange(m), nwords)
            k = np.arange(total, dtype=np.int64) - first[row_of]
            words = _masked(np, view[rel[row_of] + 8 * k], lens[row_of] - 8 * k)
            for lane in (0, 1):
                terms = mix(words ^ _word_keys(lane, maxw)[k])
                with np.errstate(over="ignore"):
                    cs = np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])
                    sums[lane] = cs[ends] - cs[first]
        for lane in (0, 1):
            with np.errstate(over="ignore"):
                out[lane][start_row:stop_row] = mix(
                    sums[lane] + mix(lens.astype(np.uint64) ^ np.uint64(SEEDS[lane])))
        start_row = stop_row
    return out


_MASKS = None


def _masked(np, words, rem):
    """Keep only the first ``rem`` bytes (1..8, more means 8) of each little-endian word."""
    global _MASKS
    if _MASKS is None:
        _MASKS = np.array([(1 << (8 * i)) - 1 for i in range(9)], dtype=np.uint64)
    words = words.astype(np.uint64)
    words &= _MASKS[np.minimum(rem, 8)]
    return words


def _binary_buffers(arr):
    """(data uint8, offsets int64[n], lengths int64[n]) of a binary/string array."""
    import pyarrow as pa

    np = _np()
    t = arr.type
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        arr = arr.cast(pa.large_binary())
        t = arr.type
    large = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
    bufs = arr.buffers()
    n = len(arr)
    off_dtype = np.int64 if large else np.int32
    offsets = np.frombuffer(bufs[1], dtype=off_dtype, count=arr.offset + n + 1)[arr.offset:]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    offsets = offsets.astype(np.int64)
    return data, offsets[:-1], np.diff(offsets)


def string_payload(arr, *, normalise: bool = True):
    """Payload lanes of a string/binary Arrow array (NFC-normalised when text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if normalise and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
                      or pa.types.is_string_view(arr.type)):
        if pa.types.is_string_view(arr.type):
            arr = arr.cast(pa.large_string())
        if arr.null_count < len(arr) and not pc.all(pc.string_is_ascii(arr)).as_py():
            arr = pc.utf8_normalize(arr, form="NFC")  # ASCII text is already NFC
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    data, offsets, lengths = _binary_buffers(arr)
    return _bytes_payload(data, offsets, lengths)


def text_payload(values: list[str]):
    """Payload lanes of Python strings (NFC first); used for column names and nested values."""
    import pyarrow as pa

    return string_payload(pa.array([unicodedata.normalize("NFC", v) for v in values], pa.large_string()))


# -- canonical values -------------------------------------------------------------

def _valid(arr):
    np = _np()
    if arr.null_count == 0:
        return None
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _ints(arr, dtype):
    """Integer-typed values as numpy (nulls filled with 0, which the validity mask hides)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    np = _np()
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(0, arr.type))
    return np.asarray(arr.to_numpy(zero_copy_only=False)).astype(dtype, copy=False)


def _float_payload(f):
    np = _np()
    k = _jit(len(f))
    if k is not None:
        f = np.ascontiguousarray(f, dtype=np.float64)
        bits = np.empty(len(f), np.uint64)
        k.float_bits(f, bits.view(np.float64), bits)
        return bits
    with np.errstate(invalid="ignore"):
        f = np.asarray(f, dtype=np.float64) + 0.0  # -0.0 + 0.0 == +0.0
    bits = f.view(np.uint64).copy()
    bits[np.isnan(f)] = np.uint64(CANONICAL_NAN)
    return bits


def canonical(arr):
    """(tags uint8[n], payload lanes) of one Arrow array; lanes are (uint64, uint64) or one
    uint64 array used for both lanes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    np = _np()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    n = len(arr)
    if pa.types.is_dictionary(t):
        dictionary = arr.dictionary
        idx = arr.indices
        dtags, dpay = canonical(dictionary)
        valid = _valid(idx)
        ii = _ints(idx, np.int64)
        tags = dtags[ii] if len(dtags) else np.zeros(n, np.uint8)
        if isinstance(dpay, tuple):
            pay = tuple(p[ii] if len(p) else np.zeros(n, np.uint64) for p in dpay)
        else:
            pay = dpay[ii] if len(dpay) else np.zeros(n, np.uint64)
        return _apply_nulls(tags, pay, valid)
    if pa.types.is_extension_type(t) if hasattr(pa.types, "is_extension_type") else isinstance(t, pa.ExtensionType):
        return canonical(arr.storage)
    valid = _valid(arr)
    if pa.types.is_null(t):
        return np.zeros(n, np.uint8), np.zeros(n, np.uint64)
    if pa.types.is_boolean(t):
        v = _ints(arr.cast(pa.uint8()), np.uint64)
        return _apply_nulls(np.full(n, T_BOOL, np.uint8), v, valid)
    if pa.types.is_floating(t):
        if arr.null_count:
            arr = pc.fill_null(arr, pa.scalar(0.0, t))
        f = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
        return _apply_nulls(np.full(n, T_NUM, np.uint8), _float_payload(f), valid)
    if pa.types.is_decimal(t):
        f = _ints_or_float(arr.cast(pa.float64(), safe=False))
        return _apply_nulls(np.full(n, T_NUM, np.uint8), _float_payload(f), valid)
    if pa.types.is_integer(t):
        signed = pa.types.is_signed_integer(t)
        v = _ints(arr, np.int64 if signed else np.uint64)
        f = v.astype(np.float64)
        with np.errstate(invalid="ignore"):
            if signed:
                exact = (f != 2.0 ** 63) & (f.astype(np.int64) == v)
            else:
                exact = (f < 2.0 ** 64) & (f.astype(np.uint64) == v)
        payload = _float_payload(f)
        tags = np.full(n, T_NUM, np.uint8)
        if not exact.all():
            bad = ~exact
            payload[bad] = v[bad].view(np.uint64) if signed else v[bad]
            tags[bad] = T_INT if signed else T_UINT
        return _apply_nulls(tags, payload, valid)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        if pa.types.is_date32(t):
            v = _ints(arr.cast(pa.int32()), np.int64) * np.int64(86_400_000_000)
            return _apply_nulls(np.full(n, T_TS, np.uint8), v.view(np.uint64), valid)
        if pa.types.is_date64(t):
            v = _ints(arr.cast(pa.int64()), np.int64) * np.int64(1000)
            return _apply_nulls(np.full(n, T_TS, np.uint8), v.view(np.uint64), valid)
        v = _ints(arr.cast(pa.int64()), np.int64)
        tags = np.full(n, T_TS, np.uint8)
        if t.unit == "ns":
            sub = (v % 1000) != 0
            v = np.where(sub, v, v // 1000)
            tags[sub] = T_TS_NS
        else:
            v = v * np.int64(_US[t.unit])
        return _apply_nulls(tags, v.view(np.uint64), valid)
    if pa.types.is_time(t):
        # Arrow casts time32 only to int32 (and time64 only to int64)
        storage = pa.int32() if pa.types.is_time32(t) else pa.int64()
        v = _ints(arr.cast(storage), np.int64) * np.int64(_NS[t.unit])
        return _apply_nulls(np.full(n, T_TIME, np.uint8), v.view(np.uint64), valid)
    if pa.types.is_duration(t):
        v = _ints(arr.cast(pa.int64()), np.int64) * np.int64(_NS[t.unit])
        return _apply_nulls(np.full(n, T_DUR, np.uint8), v.view(np.uint64), valid)
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
        return _apply_nulls(np.full(n, T_STR, np.uint8), string_payload(arr), valid)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return _apply_nulls(np.full(n, T_BIN, np.uint8), string_payload(arr, normalise=False), valid)
    if pa.types.is_fixed_size_binary(t):
        return _apply_nulls(np.full(n, T_BIN, np.uint8),
                            string_payload(arr.cast(pa.large_binary()), normalise=False), valid)
    # nested and anything else: canonical JSON text of each value (slow path, per row)
    texts = [nested_json(v) for v in arr.to_pylist()]
    pay = text_payload([s if s is not None else "" for s in texts])
    return _apply_nulls(np.full(n, T_NESTED, np.uint8), pay, valid)


def _ints_or_float(arr):
    np = _np()
    import pyarrow as pa
    import pyarrow.compute as pc

    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(0.0, pa.float64()))
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


def nested_json(value: Any) -> str | None:
    """Canonical JSON of a nested value: NFC strings, sorted keys, floats normalised."""
    if value is None:
        return None

    def norm(v: Any) -> Any:
        if isinstance(v, str):
            return unicodedata.normalize("NFC", v)
        if isinstance(v, float):
            if v != v:
                return "NaN"
            if v in (float("inf"), float("-inf")):
                return "Infinity" if v > 0 else "-Infinity"
            if v == int(v) and abs(v) < 2 ** 53:
                return int(v)
            return v
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            # a map arrives as a list of (key, value) pairs
            return [norm(x) for x in v]
        if isinstance(v, bytes):
            return v.hex()
        if isinstance(v, (int, bool)) or v is None:
            return v
        return str(v)

    return json.dumps(norm(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _apply_nulls(tags, payload, valid):
    if valid is None:
        return tags, payload
    tags = tags.copy()
    tags[~valid] = T_NULL
    if isinstance(payload, tuple):
        payload = tuple(p.copy() for p in payload)
        for p in payload:
            p[~valid] = 0
    else:
        payload = payload.copy()
        payload[~valid] = 0
    return tags, payload


def value_hashes(arr, out=None):
    """(v0, v1): per-value 64-bit hashes in both lanes: v_L = mix(payload_L ^ K_L[tag]).
    ``out``: two uint64 arrays of ``len(arr)`` the compiled kernels may write them into
    (the result is then those arrays, or new ones)."""
    np = _np()
    fast = _compiled_value_hashes(arr, out)
    if fast is not None:
        return fast
    arr = _maybe_dictionary(arr)
    tags, payload = canonical(arr)
    single = len(tags) > 0 and int(tags.min()) == int(tags.max())
    k = _jit(len(tags))
    if k is not None and len(tags):
        p0, p1 = payload if isinstance(payload, tuple) else (payload, payload)
        p0, p1 = np.ascontiguousarray(p0), np.ascontiguousarray(p1)
        v0, v1 = np.empty(len(tags), np.uint64), np.empty(len(tags), np.uint64)
        if single and p0 is p1:
            k.hash_single(p0, np.uint64(tag_key(0, int(tags[0]))), np.uint64(tag_key(1, int(tags[0]))), v0, v1)
        else:
            k.hash_tagged(p0, p1, np.ascontiguousarray(tags), *_tag_keys(), v0, v1)
        return v0, v1
    out = []
    for lane in (0, 1):
        p = payload[lane] if isinstance(payload, tuple) else payload
        if single:  # one tag for the whole column (the usual case): no gather needed
            out.append(_mix_inplace(np, p ^ np.uint64(tag_key(lane, int(tags[0]))), np.empty_like(p)))
        else:
            keys = np.array([tag_key(lane, t) for t in range(13)], dtype=np.uint64)
            out.append(mix(p ^ keys[tags]))
    return out[0], out[1]


def _compiled_value_hashes(arr, out=None):
    """``value_hashes`` of a text (32-bit offsets) or signed integer array in one pass of
    the C kernels (``string_hashes``, ``int_hashes``), or None for any other array or
    without them. Text all ASCII is already NFC; any other text is normalised and hashed
    again. Text is not dictionary-encoded first: the kernel hashes every value for less
    than the encoding costs. ``out``: two uint64 arrays of the array's length to write
    the hashes into (else new ones)."""
    import pyarrow as pa

    np = _np()
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks != 1:
            return None
        arr = arr.chunk(0)
    t = arr.type
    n = len(arr)
    if not (pa.types.is_string(t) or pa.types.is_signed_integer(t)):
        return None
    k = _jit(n)
    if k is None or not hasattr(k, "string_hashes") or not n:
        return None
    v0, v1 = out if out is not None else (np.empty(n, np.uint64), np.empty(n, np.uint64))
    valid = _valid(arr)
    z = _null_hashes()
    if pa.types.is_signed_integer(t):
        k.int_hashes(_ints(arr, np.int64), valid, (tag_key(0, T_NUM), tag_key(1, T_NUM)),
                     (tag_key(0, T_INT), tag_key(1, T_INT)), z, v0, v1)
        return v0, v1
    if not k.string_hashes(arr, tag_key(0, T_STR), tag_key(1, T_STR), v0, v1):
        import pyarrow.compute as pc

        normalised = pc.utf8_normalize(arr, form="NFC")
        if not pa.types.is_string(normalised.type):
            return None
        k.string_hashes(normalised, tag_key(0, T_STR), tag_key(1, T_STR), v0, v1)
    if valid is not None:
        v0[~valid], v1[~valid] = z
    return v0, v1


_NULL: list[int] = []


def _null_hashes() -> tuple[int, int]:
    """mix(K_L[T_NULL]) of both lanes: a null value's hash."""
    if not _NULL:
        _NULL.extend(mix_int(tag_key(lane, T_NULL)) for lane in (0, 1))
    return _NULL[0], _NULL[1]


def _maybe_dictionary(arr):
    """Repetitive text columns are hashed once per distinct value (same result, less work)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if len(arr) < 4096 or not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return arr
    sample = arr.slice(0, 4096)
    if len(pc.unique(sample)) * 4 > len(sample):
        return arr
    return pc.dictionary_encode(arr)


_TAG_KEYS: list[Any] = []


def _tag_keys():
    """K_L[tag] for every tag, as two uint64 arrays (lane 0, lane 1)."""
    if not _TAG_KEYS:
        np = _np()
        _TAG_KEYS.extend(np.array([tag_key(lane, t) for t in range(13)], dtype=np.uint64) for lane in (0, 1))
    return _TAG_KEYS


def name_keys(names: list[str]) -> list[tuple[int, int]]:
    """N_L(c) = mix(string payload_L(NFC name) ^ K_L[T_NAME]) for each column name."""
    p0, p1 = text_payload(names)
    return [(mix_int(int(a) ^ tag_key(0, T_NAME)), mix_int(int(b) ^ tag_key(1, T_NAME)))
            for a, b in zip(p0, p1)]


def ordered_columns(names: list[str]) -> list[str]:
    """Columns in fingerprint order: sorted by the UTF-8 bytes of their NFC names."""
    return sorted(names, key=lambda c: unicodedata.normalize("NFC", c).encode("utf-8"))


def combine(columns: list[tuple[str, Any, Any]], n: int):
    """Row fingerprints (two uint64 lanes) from per-column value hashes, in the given order.

    acc_L = seed_L; for each column: acc_L = mix(acc_L + mix(v_L ^ N_L(c)));
    fp_L = mix(acc_L ^ number_of_columns).
    """
    np = _np()
    keys = name_keys([c for c, _, _ in columns])
    k = _jit(n)
    if k is not None:
        acc0, acc1 = _combine_acc(k, columns, keys, n)
        k.finish(acc0, acc1, np.uint64(len(columns)))
        return acc0, acc1
    lanes = []
    for lane in (0, 1):
        acc = np.full(n, SEEDS[lane], np.uint64)
        for (_, v0, v1), key in zip(columns, keys):
            v = v0 if lane == 0 else v1
            with np.errstate(over="ignore"):
                acc = mix(acc + mix(v ^ np.uint64(key[lane])))
        lanes.append(mix(acc ^ np.uint64(len(columns))))
    return lanes[0], lanes[1]


def _combine_acc(k, columns, keys, n):
    """The compiled combining loop: the accumulators after every column, before finishing."""
    np = _np()
    acc0, acc1 = np.full(n, SEEDS[0], np.uint64), np.full(n, SEEDS[1], np.uint64)
    for (_, v0, v1), key in zip(columns, keys):
        k.combine_step(acc0, acc1, np.ascontiguousarray(v0), np.ascontiguousarray(v1),
                       np.uint64(key[0]), np.uint64(key[1]))
    return acc0, acc1


def combine16(columns: list[tuple[str, Any, Any]], n: int):
    """``to_fixed16(*combine(columns, n))``, in one pass where the compiled kernels are there."""
    k = _jit(n)
    if k is None:
        return to_fixed16(*combine(columns, n))
    import pyarrow as pa

    np = _np()
    acc0, acc1 = _combine_acc(k, columns, name_keys([c for c, _, _ in columns]), n)
    buf = np.empty((n, 16), np.uint8)
    k.finish16(acc0, acc1, np.uint64(len(columns)), buf)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(buf)])


def to_fixed16(h0, h1):
    """Two uint64 lanes -> Arrow fixed_size_binary(16): lane 0 then lane 1, big-endian."""
    import pyarrow as pa

    np = _np()
    n = len(h0)
    buf = np.empty((n, 2), dtype=">u8")
    buf[:, 0] = h0
    buf[:, 1] = h1
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(buf.tobytes())])


def fingerprint_table(table, columns: list[str] | None = None):
    """Fingerprints (fixed_size_binary(16)) of every row of an Arrow table or batch.

    >>> import pyarrow as pa
    >>> fingerprint_table(pa.table({"x": [1]}))[0].as_py().hex()  # doctest: +SKIP
    """
    names = ordered_columns(list(columns if columns is not None else table.column_names))
    cols = []
    for name in names:
        arr = table.column(name)
        if hasattr(arr, "combine_chunks"):
            arr = arr.combine_chunks()
        v0, v1 = value_hashes(arr)
        cols.append((name, v0, v1))
    return combine16(cols, table.num_rows)


# -- index-like columns: left out of the data keys ---------------------------------------

#: Names of index-like columns (with an integer type): pandas' written index, as the CSV
#: header leaves it ("") and as pandas re-reads it ("Unnamed: 0"), pandas' Parquet index
#: ("__index_level_0__"), and what ``reset_index()`` names it ("index", "level_0").
INDEX_NAME = re.compile(r"(|Unnamed: [0-9]+|__index_level_[0-9]+__|index|level_0)\Z")


def is_index_column(name: str, t) -> bool:
    """Whether a column named ``name`` of Arrow type ``t`` is index-like: integer-typed
    (dictionary-encoded integers included) with a name ``INDEX_NAME`` matches exactly."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_integer(t) and INDEX_NAME.match(name) is not None


def field_types(schema) -> dict[str, Any]:
    """Name -> type; a name given to several columns (a CSV whose first row is data)
    takes the first one's type, where ``schema.field(name)`` would refuse."""
    types: dict[str, Any] = {}
    for f in schema:
        types.setdefault(f.name, f.type)
    return types


def data_columns(schema, columns: list[str] | None = None) -> list[str] | None:
    """The columns (fingerprint order) without the index-like ones, or None when there is
    no index-like column or nothing else (then ``fp`` is the row's data key)."""
    names = ordered_columns(list(columns if columns is not None else schema.names))
    types = field_types(schema)
    data = [c for c in names if not is_index_column(c, types[c])]
    return data if data and len(data) < len(names) else None


# -- near keys: float values snapped to a two-part grid ---------------------------------

#: Mantissa bits a float keeps in the near keys (of the 52 stored): a grid step of 2**-18
#: (about 3.8e-6) of the value's power of two for |x| >= 1, and an absolute step of 2**-18
#: below 1.
NEAR_BITS = 18
NEAR_SCHEME = f"lineage-near-2 bits={NEAR_BITS}"
_NEAR_DROP = 52 - NEAR_BITS
_NEAR_SCALE = float(2 ** NEAR_BITS)
_SIGN = 0x8000000000000000
_MAGNITUDE = 0x7FFFFFFFFFFFFFFF
_INF_BITS = 0x7FF0000000000000
_ONE_BITS = 0x3FF0000000000000
#: the largest finite grid point: a rounding that would reach infinity stops here
_MAX_SNAPPED = (_INF_BITS - 1) >> _NEAR_DROP << _NEAR_DROP


def is_float_type(t) -> bool:
    """Whether a column of Arrow type ``t`` is snapped in the near keys (floating types,
    dictionary-encoded ones included); every other column is hashed exactly."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_floating(t)


def snap_bits(f, shifted: bool = False):
    """Payloads (uint64) of float64 values snapped to the near grid (``schemas/FINGERPRINTS.md``).

    The canonical bits (NaN one value, -0.0 as 0.0) are split into sign and magnitude |x|.
    For |x| >= 1 the low ``52 - NEAR_BITS`` bits of the magnitude are rounded to nearest,
    half up (``shifted=False``), or cut off (``shifted=True``: the grid shifted by half a
    step); below 1, |x| is rounded (half up) or cut off to a multiple of 2**-NEAR_BITS,
    which continues the grid of [1, 2). The sign is put back (a zero result is +0.0), so the
    rounding is half away from zero, the cut toward zero. Infinities and NaN are kept as they
    are; zero stays zero.
    """
    np = _np()
    k = _jit(len(f))
    if k is not None:
        f = np.ascontiguousarray(f, dtype=np.float64)
        out = np.empty(len(f), np.uint64)
        k.snap(f, bool(shifted), out.view(np.float64), out)
        return out
    bits = _float_payload(f)
    mag = bits & np.uint64(_MAGNITUDE)
    sign = bits ^ mag
    finite = mag < np.uint64(_INF_BITS)
    drop = np.uint64(_NEAR_DROP)
    with np.errstate(over="ignore"):
        q = mag if shifted else mag + np.uint64(1 << (_NEAR_DROP - 1))
    q = (q >> drop) << drop
    np.minimum(q, np.uint64(_MAX_SNAPPED), out=q)
    # |x| < 1: |x| * 2**B is exact (a power-of-two scale), and so is its fractional part;
    # computed for every value (cheaper than selecting), used below 1 only
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = mag.view(np.float64) * _NEAR_SCALE
        whole = np.floor(scaled)
        if not shifted:
            scaled -= whole
            whole += scaled >= 0.5
        whole /= _NEAR_SCALE
    q = np.where(mag < np.uint64(_ONE_BITS), whole.view(np.uint64), q)
    sign[q == 0] = 0  # a value snapped to zero is +0.0, whatever its sign
    return np.where(finite, sign | q, bits)


def near_value_hashes(arr, shifted: bool = False):
    """(v0, v1) of a float column with its values snapped (``snap_bits``); nulls as in ``fp``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    np = _np()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    valid = _valid(arr)
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(0.0, arr.type))
    f = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    payload = snap_bits(f, shifted)
    if valid is not None:
        payload[~valid] = 0
    out = []
    k = _jit(len(payload))
    if k is not None:
        out = [np.empty(len(payload), np.uint64), np.empty(len(payload), np.uint64)]
        k.hash_single(payload, np.uint64(tag_key(0, T_NUM)), np.uint64(tag_key(1, T_NUM)), *out)
    for lane in (0, 1):
        if k is not None:
            v = out[lane]
            if valid is not None:
                v[~valid] = np.uint64(mix_int(tag_key(lane, T_NULL)))
            continue
        v = _mix_inplace(np, payload ^ np.uint64(tag_key(lane, T_NUM)), np.empty_like(payload))
        if valid is not None:
            v[~valid] = np.uint64(mix_int(tag_key(lane, T_NULL)))
        out.append(v)
    return out[0], out[1]


def near_fingerprints(table, columns: list[str] | None = None):
    """(fp_near, fp_near_shift) of every row of an Arrow table or batch, or None when no
    column is a float column (then the exact ``fp`` says everything). Index-like columns
    (``data_columns``) are left out, as in ``fp_data``."""
    names = ordered_columns(list(columns if columns is not None else table.column_names))
    names = data_columns(table.schema, names) or names  # index-like columns left out
    if not any(is_float_type(table.schema.field(c).type) for c in names):
        return None
    exact = {}
    for name in names:
        if not is_float_type(table.schema.field(name).type):
            exact[name] = value_hashes(table.column(name))
    out = []
    for shifted in (False, True):
        cols = [(c, *(exact[c] if c in exact else near_value_hashes(table.column(c), shifted)))
                for c in names]
        out.append(combine16(cols, table.num_rows))
    return out[0], out[1]
