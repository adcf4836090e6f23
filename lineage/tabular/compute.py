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
import queue
import threading
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
from lineage.tabular import kernel, rowhash, sources
from lineage.tabular import queries as gtab
from lineage.tabular.rowskey import batch_rows_key, combine_rows_keys, file_rows_key
from lineage.tabular.limits import Limits, check_output, check_rows
from lineage.tabular.kernel import (FP_DICTIONARY, FP_ENCODING, FP_PLAIN, MINHASH_SCHEME, MINHASH_SEED,  # noqa: F401
                                    NUM_PERM, SHINGLE, fingerprint_schema, fp_compression, label_text,
                                    minhash_schema, minhash_signature, normalise_text_array, shingles,
                                    time_type, time_values)
from lineage.tabular.readers import BatchReader, Format, detect

#: Threads that hash and profile batches (the machine's cores, at most 4); the calling
#: thread reads, and a sink thread merges the profiles and writes (``_one_pass``).
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


# -- the pass -------------------------------------------------------------------------

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
            with _pass_pool():
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
def _pass_pool():
    """The Arrow memory pool of a pass: jemalloc where this pyarrow has it, else the C
    library's allocator. Measured on a 20M-row pass (10 columns, two hashing threads):
    peak resident memory 283 MB with jemalloc against 330 MB with the system allocator
    (whose resident memory also wandered more), and about 3 % less CPU. The previous
    default is put back afterwards (buffers remember the pool they came from, so either
    may free them)."""
    import pyarrow as pa

    previous = pa.default_memory_pool()
    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowException):
        pool = pa.system_memory_pool()
    if previous.backend_name == pool.backend_name:
        yield
        return
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


class FileSink:
    """Where one file's kernel results go, in file order: the profile partials merged, the
    fingerprints (and MinHash rows) written batch by batch to temporary Parquet files, the
    rows key summed. The local pass and the engines write through it, so a file gives the
    same derived bytes whichever engine read it."""

    def __init__(self, tmpdir: str, declarations: dict[str, str], display: str,
                 limits: Limits | None = None) -> None:
        self.display = display
        self.limits = limits or Limits()
        self.fp_path = os.path.join(tmpdir, f"{uuid.uuid4().hex}.fp.parquet")
        self.mh_path = os.path.join(tmpdir, f"{uuid.uuid4().hex}.mh.parquet") if declarations.get("text") else None
        self.declarations = declarations
        self.writer: Any = None
        self.mh_writer: Any = None
        self.plan: kernel.Plan | None = None
        self.notes: list[str] = []
        self.rows_keys: list[str] = []
        self.rows = 0

    def open(self, plan: kernel.Plan) -> None:
        import pyarrow.parquet as pq

        self.plan = plan
        self.notes.extend(n for n in plan.notes if n not in self.notes)
        self.writer = pq.ParquetWriter(self.fp_path, plan.fschema, compression=fp_compression(plan.fschema),
                                       write_statistics=False, use_dictionary=FP_DICTIONARY,
                                       column_encoding=FP_ENCODING)
        if self.mh_path and plan.textc in plan.names:
            self.mh_writer = pq.ParquetWriter(self.mh_path, minhash_schema(), compression="zstd",
                                              write_statistics=False)

    def add(self, result: kernel.BatchResult) -> None:
        """Merge one batch's kernel result (the batches must come in file order)."""
        plan = self.plan
        assert plan is not None
        for name in plan.names:
            plan.profilers[name].apply(result.partials[name])
        self.notes.extend(n for n in result.notes if n not in self.notes)
        self.writer.write_batch(result.fingerprints)
        self.rows_keys.append(result.rows_key or batch_rows_key(result.fingerprints.column(1)))
        if self.mh_writer is not None:
            self.mh_writer.write_batch(result.minhash)
        self.rows += result.fingerprints.num_rows
        if len(self.rows_keys) % TRIM_EVERY == 0:
            _release_free_memory()
        check_output(self.limits, self.display, self.derived_bytes)

    def derived_bytes(self) -> int:
        return sum(os.path.getsize(p) for p in (self.fp_path, self.mh_path) if p and os.path.exists(p))

    def discard(self) -> None:
        for w in (self.writer, self.mh_writer):
            if w is not None:
                w.close()
        for p in (self.fp_path, self.mh_path):
            if p and os.path.exists(p):
                os.unlink(p)

    def close(self, fmt_name: str, schema: Any) -> FileMetadata:
        """The file's metadata; ``schema`` is the reader's when no batch came (then the
        fingerprint file is empty)."""
        import pyarrow as pa

        if self.plan is None:
            if schema is None:
                raise TabularReadError(f"{self.display}: no rows and no columns")
            plan = kernel.plan_for(schema, {}, near_keys=False)
            plan.fschema = fingerprint_schema(pa.timestamp("us", "UTC"))
            plan.textc = self.declarations.get("text")
            self.open(plan)
        plan = self.plan
        assert plan is not None
        self.writer.close()
        mh_path = self.mh_path
        if self.mh_writer is not None:
            self.mh_writer.close()
        elif mh_path:
            mh_path = None
        columns = [{"name": f.name, "type": str(f.type), "kind": plan.profilers[f.name].kind}
                   for f in plan.schema]
        profile = {name: plan.profilers[name].result() for name in plan.names}
        return FileMetadata(fmt_name, self.rows, columns, profile, self.fp_path, mh_path, self.notes,
                            combine_rows_keys(self.rows_keys) if self.rows_keys else None)


def _one_pass(reader: BatchReader, declarations: dict[str, str], display: str, tmpdir: str,
              on_progress: Callable[[float], None] | None, limits: Limits | None = None,
              near_keys: bool = True) -> FileMetadata:
    """Three stages run at once: this thread reads the batches, ``WORKERS`` threads hash
    and profile them (the compiled kernels and most numpy and Arrow work release the GIL),
    and one sink thread merges the finished batches' profiles, sums their rows keys and
    writes their fingerprints, in file order (pyarrow's writer releases the GIL too). The
    sink thread is fed through a queue of ``WORKERS - 1`` places (at least one), so at most
    ``max(WORKERS, 2) + 1`` batches are in flight (being hashed, queued, being written) and
    memory stays bounded by the batch size. On two cores the reading and the writing
    (about 4.5 and 3.5 s of CPU of a 20M-row pass) no longer wait for each other, and the
    workers stay busy."""
    import pyarrow.parquet as pq

    limits = limits or Limits()
    sink = FileSink(tmpdir, declarations, display, limits)
    names: list[str] = []
    rows = 0
    total_rows = None
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="lineage-fp")
    feed: queue.Queue[Any] = queue.Queue(maxsize=max(1, WORKERS - 1))
    failed: list[BaseException] = []
    stop = threading.Event()
    writer: threading.Thread | None = None
    plan: kernel.Plan | None = None

    def drain() -> None:
        """The sink thread: the batches' results in file order, until ``None``."""
        while True:
            future = feed.get()
            if future is None:
                return
            if failed:
                future.cancel()
                continue
            try:
                sink.add(future.result())
            except BaseException as exc:  # handed to the reading thread, which raises it
                failed.append(exc)
                stop.set()

    def progress() -> None:
        if on_progress is not None:
            if total_rows:
                on_progress(min(1.0, sink.rows / total_rows))
            elif reader.fmt.kind == "arrow":
                on_progress(0.5)

    def put(future: Any) -> None:
        while not stop.is_set():
            try:
                feed.put(future, timeout=0.1)
                return
            except queue.Full:
                continue
        future.cancel()

    try:
        if reader.fmt.kind == "parquet" and limits.max_rows:
            _parquet_rows_within(reader.path, limits, display)  # from the footer, before reading
        for batch in reader:
            if plan is None:
                kernel.check_columns(batch.schema, display)
                names = list(batch.schema.names)
                plan = kernel.plan_for(batch.schema, declarations, near_keys=near_keys)
                sink.open(plan)
                if reader.fmt.kind == "parquet":
                    total_rows = pq.ParquetFile(reader.path).metadata.num_rows
                writer = threading.Thread(target=drain, name="lineage-fp-sink", daemon=True)
                writer.start()
            elif batch.schema.names != names:
                raise TabularReadError(f"{display}: the columns change part-way through the file")
            if failed:
                break
            n = batch.num_rows
            check_rows(limits, display, rows + n)
            put(pool.submit(kernel.batch_pass, batch, plan, rows))
            rows += n
            progress()
        if writer is not None:
            feed.put(None)
            writer.join()
            writer = None
        if failed:
            raise failed[0]
        progress()
    except BaseException as exc:
        stop.set()
        failed.append(exc)
        if writer is not None:
            while True:  # the sink thread cancels what is queued, then ends
                try:
                    feed.put(None, timeout=0.1)
                    break
                except queue.Full:
                    continue
            writer.join()
        pool.shutdown(wait=True)
        sink.discard()
        exc = failed[0]
        error = kernel.cannot_fingerprint(exc, display)
        if error is not None:
            raise error from None
        raise exc
    pool.shutdown(wait=True)
    return sink.close(reader.fmt.name, reader.schema)


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
    total = sum(max(1, sources.size_of(a)) for _, a, _, _ in todo)
    done = 0
    session, remote = _engine(repo, todo, decl, tmpdir, limits)
    try:
        return _process_todo(repo, todo, decl, tmpdir, limits, progress, total, done, remote,
                             events, warnings, skipped, columns)
    finally:
        if session is not None:
            session.close()


def _engine(repo: Any, todo: list[tuple[str, str, str, Format]], decl: dict[str, str], tmpdir: str,
            limits: Limits) -> tuple[Any, Any]:
    """The engine session and the iterator of its results for the Parquet files of ``todo``
    when the repository's engine is not local (``lineage.tabular.engines``), else (None, None)."""
    from lineage.tabular import engines

    choice = engines.chosen(repo)
    parquet = [(rel, abspath) for rel, abspath, _, fmt in todo if fmt.kind == "parquet"]
    given = engines.runner()
    if given is not None and parquet:  # a library caller's engine (lineage.spark): its session is its own
        return None, given.compute_files(parquet, decl, limits,
                                         lambda display: FileSink(tmpdir, decl, display, limits))
    if choice.name == "local" or not parquet:
        return None, None
    if choice.name != "dask":  # an engine registered by a feature above (spark: lineage.interop.spark)
        session = engines.connect(choice)
        return session, session.compute_files(parquet, decl, limits,
                                              lambda display: FileSink(tmpdir, decl, display, limits))
    from lineage.tabular import dask_engine

    session = dask_engine.connect(choice)
    return session, dask_engine.compute_files(session, parquet, decl, limits,
                                              lambda display: FileSink(tmpdir, decl, display, limits))


def _process_todo(repo: Any, todo: list[tuple[str, str, str, Format]], decl: dict[str, str], tmpdir: str,
                  limits: Limits, progress: Progress | None, total: int, done: int, remote: Any,
                  events: list[dict[str, Any]], warnings: list[str], skipped: list[tuple[str, str, str]],
                  columns: dict[str, list[str]]) -> Outcome:
    for rel, abspath, digest, fmt in todo:
        size = max(1, sources.size_of(abspath))  # a URL's size as listed (by-reference snapshots)

        def tick(fraction: float, _base: int = done, _size: int = size) -> None:
            if progress:
                progress(_base + int(_size * fraction), total)

        body: dict[str, Any] = {"digest": digest, "scheme": rowhash.SCHEME, "declarations": decl,
                                "path": rel, "format": fmt.name}
        try:
            if remote is not None and fmt.kind == "parquet":
                _, meta = next(remote)  # computed by the engine, in the same order
                if isinstance(meta, BaseException):
                    raise meta
            else:
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
