"""Compute a tabular file's metadata in one streaming pass, and store it as derived objects.

One pass over the record batches gives the schema, the row count, the column profiles,
the row fingerprints (features+label, features only, group-key hash, time value,
canonical label, for a file with float columns the two near keys, whose float
values are snapped to a grid, and for a file with index-like columns the data key
``fp_data``, which leaves them out) written batch by batch to a Parquet file, and
MinHash signatures of a
declared text column. Memory stays bounded by the batch size whatever the file size.
The results are stored in the object store, keyed by the file's content digest, the
fingerprint scheme and the declarations, and recorded as ``tabular.file`` events.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lineage.core import canonical as _canonical
from lineage.core import faults as _faults
from lineage.core.hashing import hash_file
from lineage.core.progress import Progress
from lineage.errors import LimitExceeded, TabularReadError, TypesChanged
from lineage.tabular import kernels, rowhash
from lineage.tabular import queries as gtab
from lineage.tabular.rowskey import batch_rows_key, combine_rows_keys, file_rows_key
from lineage.tabular.limits import Limits, check_output, check_rows
from lineage.tabular.profile import ColumnProfiler, column_kind
from lineage.tabular.readers import BatchReader, Format, detect

#: Signature length of MinHash (permutations) and the character shingle size.
NUM_PERM = 128
MINHASH_SEED = 1
MINHASH_SCHEME = "affine32"  # datasketch's permutation scheme, named so it never changes under us
SHINGLE = 5
#: Threads that hash and profile batches (the machine's cores, at most 4); the main
#: thread reads, merges the profiles and writes.
WORKERS = max(1, min(4, os.cpu_count() or 1))
#: Keys of declarations that change a file's derived data.
DECLARATION_KEYS = ("label", "group", "time", "text")


def relevant(declarations: dict[str, str] | None) -> dict[str, str]:
    return {k: str(declarations[k]) for k in DECLARATION_KEYS if declarations and declarations.get(k)}


@dataclass(frozen=True)
class FileMetadata:
    """What one pass over a tabular file yields (paths point to temporary files)."""

    format: str
    rows: int
    columns: list[dict[str, str]]
    profile: dict[str, dict[str, Any]]
    fingerprints_path: str
    minhash_path: str | None
    notes: list[str] = field(default_factory=list)
    #: ``rows_key`` of the fingerprints, summed batch by batch (None: read it from the file)
    rows_key: str | None = None


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


# -- the pass -------------------------------------------------------------------------

#: Columns of the fingerprint file written with dictionary pages: those whose values repeat.
#: The keys are near-random, so a dictionary would only cost time (and bytes) there.
FP_DICTIONARY = ["group", "label"]
#: Compression of the fingerprint file's columns: the keys are near-random bytes that no
#: codec shrinks, so they are stored plain (compressing them only costs time).
FP_PLAIN = ("fp", "fp_features", "fp_near", "fp_near_shift", "fp_data")


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


def compute_file(path: str, fmt: Format, declarations: dict[str, str], *, display: str,
                 tmpdir: str, on_progress: Callable[[float], None] | None = None,
                 limits: Limits | None = None, near_keys: bool = True) -> FileMetadata:
    """Stream ``path`` once; raise ``TabularReadError`` (naming ``display``) if unreadable,
    ``LimitExceeded`` (a subclass) as soon as it crosses one of ``limits``. ``near_keys``
    False leaves out ``fp_near``/``fp_near_shift`` (to measure what they cost)."""
    limits = limits or Limits()
    overrides: dict[str, Any] = {}
    block: int | None = None
    notes: list[str] = []
    size = max(1, os.path.getsize(path))
    for _attempt in range(256):
        read = [0]

        def on_bytes(n: int) -> None:  # text formats report the (compressed) bytes read
            read[0] += n
            if on_progress is not None:
                on_progress(min(1.0, read[0] / size))

        reader = BatchReader(path, fmt, display, overrides=overrides, on_bytes=on_bytes,
                             limits=limits, block_bytes=block)
        try:
            with _system_pool():
                result = _one_pass(reader, declarations, display, tmpdir, on_progress, limits, near_keys)
        except TypesChanged as change:
            overrides = change.overrides
            block = change.block_bytes or block
            notes.extend(n for n in reader.notes if n not in notes)
            continue
        notes.extend(n for n in reader.notes if n not in notes)
        notes.extend(n for n in result.notes if n not in notes)
        return FileMetadata(result.format, result.rows, result.columns, result.profile,
                            result.fingerprints_path, result.minhash_path, notes, result.rows_key)
    raise TabularReadError(f"{display}: the column types could not be settled")


#: Batches between two hand-backs of freed memory to the system (``_release_free_memory``).
TRIM_EVERY = 4
_LIBC: list[Any] = []


def _release_free_memory() -> None:
    """Hand the C allocator's free pages back to the system (glibc ``malloc_trim``). The
    batches' arrays are freed on other threads than they were made on, in a different
    order, and glibc keeps the holes: without this the resident memory of a pass crept
    up with the rows (about 560 MB at 20M rows instead of about 400). Elsewhere a no-op."""
    if not _LIBC:
        try:
            import ctypes

            _LIBC.append(ctypes.CDLL("libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _LIBC.append(None)
    if _LIBC[0] is not None:
        _LIBC[0](0)


@contextmanager
def _system_pool():
    """Arrow allocates from the C library's allocator during a pass. Its default jemalloc
    keeps per-thread arenas of freed memory: with batches built and dropped on several
    threads, the pass's peak resident memory was about 80 MB higher (and grew with the
    threads), for no gain in speed. The previous default is put back afterwards (buffers
    remember the pool they came from, so either may free them)."""
    import pyarrow as pa

    previous = pa.default_memory_pool()
    if previous.backend_name == "system":
        yield
        return
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _one_pass(reader: BatchReader, declarations: dict[str, str], display: str, tmpdir: str,
              on_progress: Callable[[float], None] | None, limits: Limits | None = None,
              near_keys: bool = True) -> FileMetadata:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    notes: list[str] = []
    label = declarations.get("label")
    group = declarations.get("group")
    timec = declarations.get("time")
    textc = declarations.get("text")
    fp_path = os.path.join(tmpdir, f"{uuid.uuid4().hex}.fp.parquet")
    mh_path = os.path.join(tmpdir, f"{uuid.uuid4().hex}.mh.parquet") if textc else None
    writer = mh_writer = None
    profilers: dict[str, ColumnProfiler] = {}
    names: list[str] = []
    ordered: list[str] = []
    features: list[str] = []
    near_cols: set[str] = set()  # float columns, snapped in fp_near / fp_near_shift
    data_cols: list[str] | None = None  # without the index-like columns (fp_data), if any
    schema = None
    rows = 0
    total_rows = None
    limits = limits or Limits()

    def derived_bytes() -> int:
        return sum(os.path.getsize(p) for p in (fp_path, mh_path) if p and os.path.exists(p))

    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="lineage-fp")
    pending: list[tuple[Any, int, Any]] = []
    plan: dict[str, Any] = {}
    rows_keys: list[str] = []
    done_rows = [0]

    def finish(batch, start: int, future) -> None:
        """Profile a hashed batch and write its fingerprints (in file order)."""
        parts, fp, rest = future.result()
        n = batch.num_rows
        for name in names:
            profilers[name].apply(parts[name])
        tt = writer.schema.field("time").type
        tarr = time_values(batch.column(timec), tt, notes, timec) if timec in names else pa.nulls(n, tt)
        larr = label_text(batch.column(label)) if label in names else pa.nulls(n, pa.string())
        rowcol = pa.array(np.arange(start, start + n, dtype=np.int64))
        writer.write_batch(pa.record_batch([rowcol, fp, rest[0], rest[1], tarr, larr, *rest[2:]],
                                           schema=writer.schema))
        rows_keys.append(batch_rows_key(fp))
        if mh_writer is not None:
            texts = normalise_text_array(batch.column(textc)).to_pylist()
            sigs = np.stack([minhash_signature(t) for t in texts]) if texts else np.zeros((0, NUM_PERM), np.uint64)
            sig_arr = pa.FixedSizeListArray.from_arrays(pa.array(sigs.reshape(-1).astype(np.uint64)), NUM_PERM)
            mh_writer.write_batch(pa.record_batch(
                [rowcol, sig_arr, pa.array(texts, pa.large_string())], schema=mh_writer.schema))
        done_rows[0] = start + n
        if len(rows_keys) % TRIM_EVERY == 0:
            _release_free_memory()
        check_output(limits, display, derived_bytes)
        if on_progress is not None:
            if total_rows:
                on_progress(min(1.0, done_rows[0] / total_rows))
            elif reader.fmt.kind == "arrow":
                on_progress(0.5)

    try:
        if reader.fmt.kind == "parquet" and limits.max_rows:
            _parquet_rows_within(reader.path, limits, display)  # from the footer, before reading
        for batch in reader:
            if schema is None:
                schema = batch.schema
                names = list(schema.names)
                if len(set(names)) != len(names):
                    dup = sorted({n for n in names if names.count(n) > 1})
                    raise TabularReadError(f"{display}: duplicate column name(s) {', '.join(map(repr, dup))}")
                ordered = rowhash.ordered_columns(names)
                for key, col in (("label", label), ("group", group), ("time", timec), ("text", textc)):
                    if col and col not in names:
                        notes.append(f"declared {key} column {col!r} is not in the file")
                features = [c for c in ordered if c != label] if label in names else []
                data_cols = rowhash.data_columns(schema)
                if near_keys:
                    near_cols = {c for c in (data_cols or ordered) if rowhash.is_float_type(schema.field(c).type)}
                for f in schema:
                    profilers[f.name] = ColumnProfiler(f.name, str(f.type), column_kind(f.type))
                tt = time_type(schema.field(timec).type) if timec in names else pa.timestamp("us", "UTC")
                fschema = fingerprint_schema(tt, near=bool(near_cols), data=data_cols is not None)
                writer = pq.ParquetWriter(fp_path, fschema, compression=fp_compression(fschema),
                                          write_statistics=False, use_dictionary=FP_DICTIONARY)
                if mh_path and textc in names:
                    mh_writer = pq.ParquetWriter(mh_path, minhash_schema(), compression="zstd",
                                                 write_statistics=False)
                if reader.fmt.kind == "parquet":
                    total_rows = pq.ParquetFile(reader.path).metadata.num_rows
                plan.update(names=names, ordered=ordered, features=features, group=group,
                            keys=dict(zip(ordered, rowhash.name_keys(ordered))),
                            near_cols=near_cols, data_cols=data_cols, profilers=profilers)
            elif batch.schema.names != names:
                raise TabularReadError(f"{display}: the columns change part-way through the file")
            n = batch.num_rows
            check_rows(limits, display, rows + n)
            # the hashing of a batch runs on a worker thread (the compiled kernels and most
            # numpy and Arrow work release the GIL) while this thread reads the next batches,
            # merges the finished ones' profiles and writes their fingerprints, in file order;
            # at most WORKERS batches are in flight (one more measured 30 MB more at its peak
            # and no faster on two cores), so memory stays bounded by the batch size
            pending.append((batch, rows, pool.submit(_hash_batch, batch, plan)))
            rows += n
            while len(pending) >= WORKERS:
                finish(*pending.pop(0))
        while pending:
            finish(*pending.pop(0))
    except BaseException as exc:
        for _, _, fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)
        for w in (writer, mh_writer):
            if w is not None:
                w.close()
        for p in (fp_path, mh_path):
            if p and os.path.exists(p):
                os.unlink(p)
        if isinstance(exc, (pa.ArrowException, ArithmeticError, TypeError, ValueError)):
            # a column type the hashing or profiling does not handle: a warning, not a crash
            text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise TabularReadError(f"{display}: cannot be fingerprinted ({type(exc).__name__}: {text})") from None
        raise
    pool.shutdown(wait=True)
    if schema is None:
        schema = reader.schema
        if schema is None:
            raise TabularReadError(f"{display}: no rows and no columns")
        names = list(schema.names)
        for f in schema:
            profilers[f.name] = ColumnProfiler(f.name, str(f.type), column_kind(f.type))
        fschema = fingerprint_schema(pa.timestamp("us", "UTC"))
        writer = pq.ParquetWriter(fp_path, fschema, compression=fp_compression(fschema),
                                  write_statistics=False, use_dictionary=FP_DICTIONARY)
        if mh_path and textc in names:
            mh_writer = pq.ParquetWriter(mh_path, minhash_schema(), compression="zstd",
                                         write_statistics=False)
    writer.close()
    if mh_writer is not None:
        mh_writer.close()
    elif mh_path:
        mh_path = None
    columns = [{"name": f.name, "type": str(f.type), "kind": profilers[f.name].kind} for f in schema]
    profile = {name: profilers[name].result() for name in names}
    return FileMetadata(reader.fmt.name, rows, columns, profile, fp_path, mh_path, notes,
                        combine_rows_keys(rows_keys) if rows_keys else None)


def _hash_batch(batch, plan: dict[str, Any]):
    """The column profile partials of ``batch`` and its fingerprint columns: ``fp``, then (``fp_features``, ``group``, and the near and data
    keys where the file has them). Reads no shared state but ``plan``: runs on a worker."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = batch.num_rows
    names, ordered, features, group = plan["names"], plan["ordered"], plan["features"], plan["group"]
    near_cols, data_cols = plan["near_cols"], plan["data_cols"]
    k = kernels.get(n)
    if k is not None:
        return _hash_batch_streamed(k, batch, plan)
    hashes: dict[str, tuple[Any, Any]] = {name: rowhash.value_hashes(batch.column(name)) for name in names}
    parts = {name: plan["profilers"][name].partial(_profilable(batch.column(name)), hashes[name][0])
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
    return parts, fp, [fpf, garr, *extra]  # the value hashes are freed here, not held in flight


def _hash_batch_streamed(k, batch, plan: dict[str, Any]):
    """``_hash_batch`` with the compiled kernels: one column at a time, its value hashes
    folded into every key's accumulator and then dropped (the keys' columns are all in
    fingerprint order), so a batch in flight holds the accumulators, not every column's
    hashes. The same bytes as ``rowhash.combine16`` on the whole lists."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = batch.num_rows
    ordered, features, group = plan["ordered"], plan["features"], plan["group"]
    near_cols, data_cols, keys = plan["near_cols"], plan["data_cols"], plan["keys"]
    # (columns, acc0, acc1, which hashes: "v" exact, "near"/"shift" snapped floats)
    targets: list[tuple[set[str], Any, Any, str, int]] = []

    def target(cols, kind: str) -> tuple[set[str], Any, Any, str, int]:
        t = (set(cols), np.full(n, rowhash.SEEDS[0], np.uint64), np.full(n, rowhash.SEEDS[1], np.uint64),
             kind, len(cols))
        targets.append(t)
        return t

    t_fp = target(ordered, "v")
    t_fpf = target(features, "v") if features else None
    t_near = [target(data_cols or ordered, kind) for kind in ("near", "shift")] if near_cols else []
    t_data = target(data_cols, "v") if data_cols is not None else None
    parts: dict[str, Any] = {}
    garr = pa.nulls(n, pa.binary(16))
    for c in ordered:
        col = batch.column(c)
        v0, v1 = rowhash.value_hashes(col)
        parts[c] = plan["profilers"][c].partial(_profilable(col), v0)
        k0, k1 = np.uint64(keys[c][0]), np.uint64(keys[c][1])
        v0, v1 = np.ascontiguousarray(v0), np.ascontiguousarray(v1)
        for members, acc0, acc1, kind, _ in targets:
            if c not in members:
                continue
            if kind != "v" and c in near_cols:
                w0, w1 = rowhash.near_value_hashes(col, kind == "shift")
                k.combine_step(acc0, acc1, np.ascontiguousarray(w0), np.ascontiguousarray(w1), k0, k1)
            else:
                k.combine_step(acc0, acc1, v0, v1, k0, k1)
        if c == group:
            garr = rowhash.combine16([(group, v0, v1)], n)
            if col.null_count:
                garr = pc.if_else(col.is_valid(), garr, pa.nulls(n, pa.binary(16)))
        del v0, v1

    def fixed16(t) -> Any:
        buf = np.empty((n, 16), np.uint8)
        k.finish16(t[1], t[2], np.uint64(t[4]), buf)
        return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(buf)])

    fpf = fixed16(t_fpf) if t_fpf is not None else pa.nulls(n, pa.binary(16))
    extra = [fixed16(t) for t in t_near] + ([fixed16(t_data)] if t_data is not None else [])
    return parts, fixed16(t_fp), [fpf, garr, *extra]


def _profilable(arr):
    """The profiler reads dictionaries of text; others (numbers, decimals, dates) are decoded."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_dictionary(t) and not (pa.types.is_string(t.value_type)
                                          or pa.types.is_large_string(t.value_type)):
        return arr.dictionary_decode()
    return arr


def _parquet_rows_within(path: str, limits: Limits, display: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError, ValueError):
        return  # the reader reports an unreadable file in its own words
    check_rows(limits, display, rows)


# -- recording ---------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """Bodies of ``tabular.file`` events to append, warnings for the user, and the
    ``(path, digest, reason)`` of files left unread because they crossed a limit."""

    events: list[dict[str, Any]]
    warnings: list[str]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    #: the column names of each table read or already recorded (path in the repository -> names)
    columns: dict[str, list[str]] = field(default_factory=dict)


def _store_file(repo: Any, path: str) -> str:
    digest = hash_file(path)
    try:
        repo.store.put_file(path, digest)
    finally:
        os.unlink(path)
    return digest


def process(repo: Any, files: list[tuple[str, str, str]], declarations: dict[str, str] | None, *,
            progress: Progress | None = None) -> Outcome:
    """Metadata of the tabular files among ``(rel, abspath, digest)`` not yet recorded.

    Each distinct content is read once per fingerprint scheme and set of declarations;
    what is already recorded is reused. Unreadable files give a warning (the snapshot
    still succeeds). Returns the event bodies for the caller to append in its own
    transaction.
    """
    decl = relevant(declarations)
    g = repo.graph
    limits = Limits.from_repo(repo)
    todo: list[tuple[str, str, str, Format]] = []
    seen: set[str] = set()
    warnings: list[str] = []
    columns: dict[str, list[str]] = {}
    for rel, abspath, digest in files:
        fmt = detect(rel)
        if fmt is None or digest in seen:
            continue
        seen.add(digest)
        rec = gtab.record(g, digest, rowhash.SCHEME, decl)
        if rec is None:
            todo.append((rel, abspath, digest, fmt))
        elif rec.status != "ok":
            warnings.append(f"{rel}: could not be fingerprinted: {rec.error}")
        else:
            warnings.extend(f"{rel}: {n}" for n in rec.notes)
            columns[rel] = [c["name"] for c in rec.columns]
    events: list[dict[str, Any]] = []
    skipped: list[tuple[str, str, str]] = []
    if not todo:
        return Outcome(events, warnings, columns=columns)
    repo.store.ensure()
    tmpdir = str(repo.store.tmp)
    total = sum(max(1, os.path.getsize(a)) for _, a, _, _ in todo)
    done = 0
    for rel, abspath, digest, fmt in todo:
        size = max(1, os.path.getsize(abspath))

        def tick(fraction: float, _base: int = done, _size: int = size) -> None:
            if progress:
                progress(_base + int(_size * fraction), total)

        body: dict[str, Any] = {"digest": digest, "scheme": rowhash.SCHEME, "declarations": decl,
                                "path": rel, "format": fmt.name}
        try:
            meta = compute_file(abspath, fmt, decl, display=rel, tmpdir=tmpdir, on_progress=tick,
                                limits=limits)
        except LimitExceeded as exc:
            # Nothing is recorded: the limit is a local setting, not a fact about the file,
            # and a record would keep a raised limit from ever reading it.
            warnings.append(exc.warning)
            skipped.append((rel, digest, exc.reason))
            done += size
            if progress:
                progress(done, total)
            continue
        except TabularReadError as exc:
            body.update({"status": "error", "error": str(exc).split(": ", 1)[-1]})
            warnings.append(f"{rel}: could not be fingerprinted: {body['error']}")
        except MemoryError:
            body.update({"status": "error", "error": "out of memory while reading"})
            warnings.append(f"{rel}: could not be fingerprinted: out of memory while reading")
        else:
            _faults.point("tabular.derived")
            rows_key = meta.rows_key or file_rows_key(meta.fingerprints_path)
            fp_digest = _store_file(repo, meta.fingerprints_path)
            mh_digest = _store_file(repo, meta.minhash_path) if meta.minhash_path else None
            prof_digest = repo.store.put_bytes(_canonical.dumps(_json_safe(meta.profile)))
            body.update({"status": "ok", "format": meta.format, "rows": meta.rows,
                         "columns": meta.columns, "notes": meta.notes,
                         "fingerprints": fp_digest, "profile": prof_digest, "minhash": mh_digest,
                         "rows_key": rows_key})
            _faults.point("tabular.stored")  # derived objects stored, their event not yet written
            warnings.extend(f"{rel}: {n}" for n in meta.notes)
            columns[rel] = [c["name"] for c in meta.columns]
        events.append(body)
        done += size
        if progress:
            progress(done, total)
    return Outcome(events, warnings, skipped, columns)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
