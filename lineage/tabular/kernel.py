"""The engine-agnostic kernel: one Arrow record batch in, Arrow out.

Every engine runs these functions on the batches it reads: the local pass
(``lineage.tabular.compute``, on threads), Dask workers (``lineage.tabular.dask_engine``).
``plan_for`` fixes, from a file's schema and declarations, which columns each key
covers; ``batch_pass`` gives one batch's rows of the fingerprint table (the columns
of ``fingerprint_schema``), its column-profile partials and its MinHash rows.
Partials merge in batch order (``ColumnProfiler.apply``), so an engine that reads
the same batches and merges their partials in file order gets the local profiles.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from lineage.errors import TabularReadError
from lineage.tabular import kernels, rowhash
from lineage.tabular.profile import ColumnProfiler, column_kind
from lineage.tabular.rowskey import _LANE_SALT

#: Signature length of MinHash (permutations) and the character shingle size.
NUM_PERM = 128
MINHASH_SEED = 1
MINHASH_SCHEME = "affine32"  # datasketch's permutation scheme, named so it never changes under us
SHINGLE = 5


def scheme_id() -> str:
    """What a process computes: the fingerprint scheme and the near grid. An engine's
    workers must answer the same as the client before they compute anything."""
    return f"{rowhash.SCHEME_NAME} {rowhash.NEAR_SCHEME}"


# -- text normalisation and shingles (shared with neardup) --------------------------

def normalise_text_array(arr):
    """NFC, lower case, runs of whitespace collapsed to one space, trimmed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    arr = pc.utf8_normalize(arr, form="NFC")
    arr = pc.utf8_lower(arr)
    arr = pc.replace_substring_regex(arr, pattern=r"\s+", replacement=" ")
    return pc.utf8_trim_whitespace(arr)


def shingles(text: str | None, k: int = SHINGLE) -> set[str]:
    """Character k-grams of normalised text (the whole text when shorter than k)."""
    if not text:
        return set()
    if len(text) <= k:
        return {text}
    return {text[i:i + k] for i in range(len(text) - k + 1)}


def minhash_signature(text: str | None):
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME)
    sh = shingles(text)
    if sh:
        m.update_batch([s.encode("utf-8") for s in sh])
    return m.hashvalues


# -- canonical label text and time values -------------------------------------------

def label_text(arr):
    """A readable canonical text of each label: integral numbers without ".0", NFC strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        f = arr.cast(pa.float64(), safe=False)
        integral = pc.and_(pc.is_finite(f), pc.equal(pc.floor(f), f))
        integral = pc.and_(integral, pc.less(pc.abs(f), 2.0 ** 53))
        as_int = pc.cast(pc.if_else(integral, f, 0.0), pa.int64()).cast(pa.string())
        return pc.if_else(integral, as_int, f.cast(pa.string()))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.utf8_normalize(arr.cast(pa.string()), form="NFC")
    try:
        return arr.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([rowhash.nested_json(v) for v in arr.to_pylist()], pa.string())


def time_type(t):
    """Arrow type of the stored ``time`` column for a declared time column of type ``t``."""
    import pyarrow as pa

    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return pa.float64()
    return pa.timestamp("us", "UTC")


def time_values(arr, target, notes: list[str], name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_floating(target):
        return arr.cast(pa.float64(), safe=False)
    t = arr.type
    try:
        if pa.types.is_timestamp(t):
            if t.tz is None:
                arr = pc.assume_timezone(arr, "UTC")
            return arr.cast(target, safe=False)
        if pa.types.is_date(t):
            return pc.assume_timezone(arr.cast(pa.timestamp("us")), "UTC")
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            try:
                return arr.cast(target)
            except pa.ArrowInvalid:
                return pc.assume_timezone(arr.cast(pa.timestamp("us")), "UTC")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    msg = f"time column {name!r} is not a date, time stamp or number; its values are not recorded"
    if msg not in notes:
        notes.append(msg)
    return pa.nulls(len(arr), target)


#: Columns of the fingerprint file written with dictionary pages: those whose values repeat.
#: The keys are near-random, so a dictionary would only cost time (and bytes) there.
FP_DICTIONARY = ["group", "label"]
#: Compression of the fingerprint file's columns: the keys are near-random bytes that no
#: codec shrinks, so they are stored plain (compressing them only costs time), and the row
#: numbers count up by one, which their delta encoding (``FP_ENCODING``) stores in a few
#: bytes a page without a codec (zstd on the plain numbers cost about 0.3 ms a batch).
FP_PLAIN = ("row", "fp", "fp_features", "fp_near", "fp_near_shift", "fp_data")
#: Encodings of the fingerprint file's columns other than plain (and dictionary: ``FP_DICTIONARY``).
FP_ENCODING = {"row": "DELTA_BINARY_PACKED"}


def fp_compression(schema) -> dict[str, str]:
    return {name: "none" if name in FP_PLAIN else "zstd" for name in schema.names}


def fingerprint_schema(time_t, near: bool = False, data: bool = False):
    """Schema of the stored fingerprints; ``near`` adds ``fp_near`` and ``fp_near_shift``
    (files with at least one float column), ``data`` adds ``fp_data`` (files with an
    index-like column: ``rowhash.data_columns``)."""
    import pyarrow as pa

    fp16 = pa.binary(16)
    fields = [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("fp", fp16, nullable=False),
        pa.field("fp_features", fp16),
        pa.field("group", fp16),
        pa.field("time", time_t),
        pa.field("label", pa.string()),
    ]
    metadata = {b"lineage.scheme": rowhash.SCHEME_NAME.encode()}
    if near:
        fields += [pa.field("fp_near", fp16), pa.field("fp_near_shift", fp16)]
        metadata[b"lineage.near"] = rowhash.NEAR_SCHEME.encode()
    if data:
        fields.append(pa.field("fp_data", fp16))
    return pa.schema(fields, metadata=metadata)


def minhash_schema():
    import pyarrow as pa

    return pa.schema([
        pa.field("row", pa.int64(), nullable=False),
        pa.field("sig", pa.list_(pa.uint64(), NUM_PERM), nullable=False),
        pa.field("text", pa.large_string()),
    ], metadata={b"lineage.minhash": f"datasketch {MINHASH_SCHEME} num_perm={NUM_PERM} seed={MINHASH_SEED} "
                                      f"char-{SHINGLE}-grams".encode()})




# -- the plan of a file and the pass over one batch ------------------------------------

@dataclass
class Plan:
    """Which columns each key of one file covers (picklable: engines ship it to workers)."""

    schema: Any
    names: list[str]
    ordered: list[str]
    features: list[str]
    label: str | None
    group: str | None
    timec: str | None
    textc: str | None
    keys: dict[str, tuple[int, int]]
    near_cols: set[str]
    data_cols: list[str] | None
    fschema: Any
    profilers: dict[str, ColumnProfiler]
    notes: list[str] = field(default_factory=list)


def plan_for(schema, declarations: dict[str, str] | None, *, near_keys: bool = True) -> Plan:
    """The plan of a file with ``schema`` (its first batch's) under ``declarations``; its
    ``notes`` name declared columns the file lacks."""
    import pyarrow as pa

    declarations = declarations or {}
    label, group = declarations.get("label"), declarations.get("group")
    timec, textc = declarations.get("time"), declarations.get("text")
    names = list(schema.names)
    notes: list[str] = []
    ordered = rowhash.ordered_columns(names)
    for key, col in (("label", label), ("group", group), ("time", timec), ("text", textc)):
        if col and col not in names:
            notes.append(f"declared {key} column {col!r} is not in the file")
    features = [c for c in ordered if c != label] if label in names else []
    data_cols = rowhash.data_columns(schema)
    near_cols: set[str] = set()
    if near_keys:
        types = rowhash.field_types(schema)
        near_cols = {c for c in (data_cols or ordered) if rowhash.is_float_type(types[c])}
    profilers = {f.name: ColumnProfiler(f.name, str(f.type), column_kind(f.type)) for f in schema}
    tt = time_type(rowhash.field_types(schema)[timec]) if timec in names else pa.timestamp("us", "UTC")
    fschema = fingerprint_schema(tt, near=bool(near_cols), data=data_cols is not None)
    return Plan(schema, names, ordered, features, label, group, timec, textc,
                dict(zip(ordered, rowhash.name_keys(ordered))), near_cols, data_cols, fschema,
                profilers, notes)


@dataclass
class BatchResult:
    """One batch through the kernel: its rows of the fingerprint table, its profile
    partials (column -> partial) and its MinHash rows (None without a text column)."""

    fingerprints: Any
    partials: dict[str, Any]
    minhash: Any = None
    notes: list[str] = field(default_factory=list)
    #: ``rowskey.batch_rows_key`` of the ``fp`` keys where the kernels summed it (else None)
    rows_key: str | None = None


def batch_pass(batch, plan: Plan, start: int = 0, *, minhash: bool = True) -> BatchResult:
    """The kernel: ``batch`` (rows ``start``.. of its file) in, Arrow out. Reads no shared
    state but ``plan``, so it runs on any thread or worker."""
    import numpy as np
    import pyarrow as pa

    notes: list[str] = []
    parts, fp, rest, rows_key = hash_batch(batch, plan)
    n = batch.num_rows
    tt = plan.fschema.field("time").type
    tarr = time_values(batch.column(plan.timec), tt, notes, plan.timec) if plan.timec in plan.names \
        else _nulls(n, tt)
    larr = label_text(batch.column(plan.label)) if plan.label in plan.names else _nulls(n, pa.string())
    rowcol = pa.array(np.arange(start, start + n, dtype=np.int64))
    fps = pa.record_batch([rowcol, fp, rest[0], rest[1], tarr, larr, *rest[2:]], schema=plan.fschema)
    mh = None
    if minhash and plan.textc in plan.names:
        texts = normalise_text_array(batch.column(plan.textc)).to_pylist()
        sigs = np.stack([minhash_signature(t) for t in texts]) if texts else np.zeros((0, NUM_PERM), np.uint64)
        sig_arr = pa.FixedSizeListArray.from_arrays(pa.array(sigs.reshape(-1).astype(np.uint64)), NUM_PERM)
        mh = pa.record_batch([rowcol, sig_arr, pa.array(texts, pa.large_string())], schema=minhash_schema())
    return BatchResult(fps, parts, mh, notes, rows_key)


def fingerprint_batch(batch, declarations: dict[str, str] | None = None, *, start: int = 0):
    """The rows of the fingerprint table for ``batch`` (the columns of the stored
    fingerprints: ``row``, ``fp``, ``fp_features``, ``group``, ``time``, ``label``, and
    the near and data keys where the batch's columns call for them), e.g.
    ``fingerprint_batch(pa.record_batch({"x": [1.0], "y": [0]}), {"label": "y"})``."""
    return batch_pass(batch, plan_for(batch.schema, declarations), start, minhash=False).fingerprints


def profile_partial(batch) -> dict[str, Any]:
    """A mergeable partial profile of ``batch``: ``merge_partials`` of the partials of a
    file's batches, in file order, is the file's profile."""
    plan = plan_for(batch.schema, None, near_keys=False)
    columns = [(f.name, str(f.type), column_kind(f.type)) for f in batch.schema]
    parts = {}
    for name in plan.names:
        col = batch.column(name)
        v0, _ = rowhash.value_hashes(col)
        parts[name] = plan.profilers[name].partial(_profilable(col), v0)
    return {"columns": columns, "parts": parts}


def merge_partials(partials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{column: profile}`` of the batches behind ``partials`` (from ``profile_partial``)."""
    if not partials:
        return {}
    profilers = {name: ColumnProfiler(name, t, kind) for name, t, kind in partials[0]["columns"]}
    for p in partials:
        for name, part in p["parts"].items():
            profilers[name].apply(part)
    return {name: prof.result() for name, prof in profilers.items()}


def check_columns(schema: Any, display: str) -> None:
    """Refuse a file whose columns repeat a name (a row would have two values for it)."""
    names = list(schema.names)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise TabularReadError(f"{display}: duplicate column name(s) {', '.join(map(repr, dup))}")


def cannot_fingerprint(exc: BaseException, display: str) -> TabularReadError | None:
    """A column type the hashing or profiling does not handle: a warning, not a crash."""
    import pyarrow as pa

    if isinstance(exc, (pa.ArrowException, ArithmeticError, TypeError, ValueError)):
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return TabularReadError(f"{display}: cannot be fingerprinted ({type(exc).__name__}: {text})")
    return None


def hash_batch(batch, plan: Plan):
    """The column profile partials of ``batch`` and its fingerprint columns: ``fp``, then
    (``fp_features``, ``group``, and the near and data keys where the file has them).
    Reads no shared state but ``plan``: runs on a worker."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = batch.num_rows
    names, ordered, features, group = plan.names, plan.ordered, plan.features, plan.group
    near_cols, data_cols = plan.near_cols, plan.data_cols
    k = kernels.get(n)
    if k is not None:
        return hash_batch_streamed(k, batch, plan)
    hashes: dict[str, tuple[Any, Any]] = {name: rowhash.value_hashes(batch.column(name)) for name in names}
    parts = {name: plan.profilers[name].partial(_profilable(batch.column(name)), hashes[name][0])
             for name in names}
    fp = rowhash.combine16([(c, *hashes[c]) for c in ordered], n)
    fpf = rowhash.combine16([(c, *hashes[c]) for c in features], n) if features else pa.nulls(n, pa.binary(16))
    if group in hashes:
        garr = rowhash.combine16([(group, *hashes[group])], n)
        gcol = batch.column(group)
        if gcol.null_count:
            garr = pc.if_else(gcol.is_valid(), garr, pa.nulls(n, pa.binary(16)))
    else:
        garr = pa.nulls(n, pa.binary(16))
    extra = []
    for shifted in ((False, True) if near_cols else ()):
        cols = [(c, *(rowhash.near_value_hashes(batch.column(c), shifted) if c in near_cols
                      else hashes[c])) for c in (data_cols or ordered)]
        extra.append(rowhash.combine16(cols, n))
    if data_cols is not None:
        extra.append(rowhash.combine16([(c, *hashes[c]) for c in data_cols], n))
    return parts, fp, [fpf, garr, *extra], None  # the value hashes are freed here, not held in flight


def hash_batch_streamed(k, batch, plan: Plan):
    """``_hash_batch`` with the compiled kernels: one column at a time, its value hashes
    folded into every key's accumulator and then dropped (the keys' columns are all in
    fingerprint order), so a batch in flight holds the accumulators, not every column's
    hashes. The same bytes as ``rowhash.combine16`` on the whole lists. With the C kernels
    a float column is read once for its exact hashes and both near keys
    (``float_column``), and a column's hashes go into every exact key in one pass
    (``combine_many``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = batch.num_rows
    ordered, features, group = plan.ordered, plan.features, plan.group
    near_cols, data_cols, keys = plan.near_cols, plan.data_cols, plan.keys
    fused = getattr(k, "BACKEND", None) == "c"
    # (columns, acc0, acc1, which hashes: "v" exact, "near"/"shift" snapped floats)
    targets: list[tuple[set[str], Any, Any, str, int]] = []

    def target(cols, kind: str) -> tuple[set[str], Any, Any, str, int]:
        acc0, acc1 = scratch[2 * len(targets) + 2], scratch[2 * len(targets) + 3]
        acc0.fill(rowhash.SEEDS[0])
        acc1.fill(rowhash.SEEDS[1])
        t = (set(cols), acc0, acc1, kind, len(cols))
        targets.append(t)
        return t

    scratch = _scratch(n, 12)  # a column's value hashes, then up to five keys' accumulators

    t_fp = target(ordered, "v")
    t_fpf = target(features, "v") if features else None
    t_near = [target(data_cols or ordered, kind) for kind in ("near", "shift")] if near_cols else []
    t_data = target(data_cols, "v") if data_cols is not None else None
    parts: dict[str, Any] = {}
    garr = _nulls(n, pa.binary(16))
    for c in ordered:
        col = batch.column(c)
        k0, k1 = np.uint64(keys[c][0]), np.uint64(keys[c][1])
        done: tuple[Any, ...] = ()
        floats = _plain_floats(col) if fused and c in near_cols else None
        if floats is not None:
            v0, v1 = scratch[0], scratch[1]
            near, shift = t_near  # a near column is in both near keys
            k.float_column(floats[0], floats[1], _NUM_KEYS, _NULL_HASHES, v0, v1, (near[1], near[2]),
                           (shift[1], shift[2]), keys[c])
            done = (near, shift)
        else:
            v0, v1 = rowhash.value_hashes(col, out=(scratch[0], scratch[1]))
            v0, v1 = np.ascontiguousarray(v0), np.ascontiguousarray(v1)
        parts[c] = plan.profilers[c].partial(_profilable(col), v0)
        exact = []
        for t in targets:
            members, acc0, acc1, kind, _ = t
            if c not in members or any(t is d for d in done):
                continue
            if kind != "v" and c in near_cols:
                w0, w1 = rowhash.near_value_hashes(col, kind == "shift")
                k.combine_step(acc0, acc1, np.ascontiguousarray(w0), np.ascontiguousarray(w1), k0, k1)
            elif fused:
                exact.append((acc0, acc1))
            else:
                k.combine_step(acc0, acc1, v0, v1, k0, k1)
        if exact:
            k.combine_many(exact, v0, v1, k0, k1)
        if c == group:
            garr = rowhash.combine16([(group, v0, v1)], n)
            if col.null_count:
                garr = pc.if_else(col.is_valid(), garr, pa.nulls(n, pa.binary(16)))
        del v0, v1

    rows_key: list[str] = []

    def fixed16(t, key: bool = False) -> Any:
        buf = np.empty((n, 16), np.uint8)
        if key and hasattr(k, "finish16_sum"):  # the fp keys: their rows key summed on the way
            hi, lo = k.finish16_sum(t[1], t[2], np.uint64(t[4]), buf, _LANE_SALT)
            rows_key.append(f"{n}:{hi:016x}{lo:016x}")
        else:
            k.finish16(t[1], t[2], np.uint64(t[4]), buf)
        return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(buf)])

    fpf = fixed16(t_fpf) if t_fpf is not None else _nulls(n, pa.binary(16))
    extra = [fixed16(t) for t in t_near] + ([fixed16(t_data)] if t_data is not None else [])
    fp = fixed16(t_fp, key=True)
    return parts, fp, [fpf, garr, *extra], (rows_key[0] if rows_key and n else None)


_LOCAL = threading.local()


def _scratch(n: int, count: int) -> list[Any]:
    """``count`` uint64 arrays of ``n`` values this thread keeps between batches (the value
    hashes of a column and the keys' accumulators of ``hash_batch_streamed``, dead once its
    keys are written out), so a batch does not fault in fresh pages for them."""
    import numpy as np

    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None or len(bufs) < count or len(bufs[0]) < n:
        bufs = _LOCAL.bufs = [np.empty(n, np.uint64) for _ in range(count)]
    return [b[:n] for b in bufs[:count]]


_NULLS: dict[tuple[int, Any], Any] = {}


def _nulls(n: int, t) -> Any:
    """``pa.nulls(n, t)``, kept for the next batch of the same length (an Arrow array does
    not change, so batches share it): a null key column costs no fresh zeroed buffer."""
    import pyarrow as pa

    key = (n, t)
    arr = _NULLS.get(key)
    if arr is None:
        if len(_NULLS) > 16:
            _NULLS.clear()
        arr = _NULLS[key] = pa.nulls(n, t)
    return arr


#: K_L[T_NUM] and mix(K_L[T_NULL]) of both lanes: a number's key and a null value's hash.
_NUM_KEYS = (rowhash.tag_key(0, rowhash.T_NUM), rowhash.tag_key(1, rowhash.T_NUM))
_NULL_HASHES = (rowhash.mix_int(rowhash.tag_key(0, rowhash.T_NULL)),
                rowhash.mix_int(rowhash.tag_key(1, rowhash.T_NULL)))


def _plain_floats(col):
    """(float64 values with nulls as 0.0, validity mask or None) of a float32/float64 array
    (not dictionary-encoded), as ``rowhash.canonical`` reads them; None for any other."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not pa.types.is_floating(col.type):
        return None
    valid = None
    if col.null_count:
        valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        col = pc.fill_null(col, pa.scalar(0.0, col.type))
    return np.ascontiguousarray(col.to_numpy(zero_copy_only=False), dtype=np.float64), valid


def _profilable(arr):
    """The profiler reads dictionaries of text; others (numbers, decimals, dates) are decoded."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_dictionary(t) and not (pa.types.is_string(t.value_type)
                                          or pa.types.is_large_string(t.value_type)):
        return arr.dictionary_decode()
    return arr


