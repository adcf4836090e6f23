"""Loading a snapshot's tabular metadata: the stable API audit rules build on (docs/tabular.md).

    >>> fps = load_fingerprints(repo, "train@latest")       # doctest: +SKIP
    >>> fps.column_names
    ['file', 'row', 'fp', 'fp_features', 'group', 'time', 'label']

Every file of a snapshot contributes rows: a tabular file one per data row, any other
file (or a tabular file that could not be read) exactly one row whose fingerprint is
the first 16 bytes of its BLAKE3 content digest. Metadata missing for the current
scheme or declarations is computed on demand from the stored bytes and recorded.
pyarrow and numpy are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from lineage import snapshots
from lineage.core.hashing import hash_file
from lineage.snapshots import queries as snapshot_queries
from lineage.tabular import queries as gtab
from lineage.tabular.compute import (NUM_PERM, minhash_schema, minhash_signature, normalise_text_array,
                                     process, relevant)
from lineage.tabular.queries import TabularRecord, decl_key
from lineage.tabular.readers import detect
from lineage.tabular.rowhash import SCHEME


def snapshot_declarations(repo: Any, sid: str) -> dict[str, str]:
    """Declared columns that apply to a snapshot: those of the dataset that recorded it last."""
    records = snapshot_queries.records_of_snapshot(repo.graph, sid)
    for rec in reversed(records):
        if rec.get("dataset"):
            ds = snapshot_queries.dataset(repo.graph, rec["dataset"])
            if ds is not None:
                return relevant(ds.declarations)
    return {}


class TabularFile:
    """One file of a snapshot with its tabular record (``record`` is None for other files)."""

    __slots__ = ("path", "digest", "size", "record")

    def __init__(self, path: str, digest: str, size: int, record: Any) -> None:
        self.path, self.digest, self.size, self.record = path, digest, size, record

    @property
    def ok(self) -> bool:
        return self.record is not None and self.record.status == "ok"


def file_records(repo: Any, ref: str, *, declarations: dict[str, str] | None = None,
                 compute: bool = True) -> tuple[str, list[TabularFile]]:
    """(snapshot ID, files with their tabular records), computing missing records when the
    bytes are available (stored object, or the unchanged workspace file)."""
    sid = snapshots.resolve(repo, ref)
    manifest = snapshots.load_manifest(repo, sid)
    decl = relevant(declarations if declarations is not None else snapshot_declarations(repo, sid))
    g = repo.graph
    missing: list[tuple[str, str, str]] = []
    temporary: list[str] = []
    over_limit: dict[str, Any] = {}
    try:
        for e in manifest.entries:
            if compute and detect(e.path) is not None and gtab.record(g, e.digest, SCHEME, decl) is None:
                source = _source_path(repo, sid, e, temporary)
                if source is not None:
                    missing.append((e.path, source, e.digest))
        if missing:
            outcome = process(repo, missing, decl)
            over_limit = {digest: _over_limit_record(digest, rel, reason, decl)
                          for rel, digest, reason in outcome.skipped}
            if outcome.events:
                with g.transaction():
                    for body in outcome.events:
                        g.append("tabular.file", body, actor=repo.user)
    finally:
        for tmp in temporary:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    out = []
    for e in manifest.entries:
        rec = gtab.record(g, e.digest, SCHEME, decl) if detect(e.path) is not None else None
        out.append(TabularFile(e.path, e.digest, e.size, rec or over_limit.get(e.digest)))
    return sid, out


def _over_limit_record(digest: str, path: str, reason: str, decl: dict[str, str]):
    """A record, never written to the graph, for a file left unread because it crossed a
    ``[tabular]`` limit: status ``error`` with the reason, so it counts as one row."""
    fmt = detect(path)
    return TabularRecord(digest, SCHEME, decl_key(decl), "", fmt.name if fmt else None, "error",
                         reason, None, [], [], None, None, None)


def _source_path(repo: Any, sid: str, entry: Any, temporary: list[str]) -> str | None:
    """Where the bytes of ``entry`` can be read: the store (a packed object is copied out to
    a temporary file, listed in ``temporary``), else the workspace file if unchanged."""
    store = repo.store
    if store.is_loose(entry.digest):
        return str(store.path(entry.digest))
    if store.exists(entry.digest):
        store.ensure()
        suffix = entry.path.rsplit("/", 1)[-1]
        tmp = str(store.tmp / f"{uuid.uuid4().hex}-{suffix}")
        temporary.append(tmp)
        store.copy_to(entry.digest, tmp)
        return tmp
    rel = snapshot_queries.last_recorded_path(repo.graph, sid)
    if rel is None:
        return None
    base = repo.abspath(rel)
    candidate = base / entry.path if base.is_dir() else base
    if not os.path.isfile(candidate):
        return None
    return str(candidate) if hash_file(candidate) == entry.digest else None


def _object(repo: Any, digest: str):
    """A derived object to read with pyarrow: its path when loose, else its (verified) bytes."""
    import pyarrow as pa

    if repo.store.is_loose(digest):
        return str(repo.store.path(digest))
    return pa.BufferReader(repo.store.read_bytes(digest))


def _has_fingerprints(repo: Any, f: TabularFile) -> bool:
    return bool(f.ok and f.record.fingerprints and repo.store.exists(f.record.fingerprints))


def _whole_file_frame(f: TabularFile):
    """The one row of a file whose rows were not fingerprinted: its content digest."""
    import pyarrow as pa

    fp16 = pa.binary(16)
    whole = bytes.fromhex(f.digest)[:16]
    return pa.table({
        "file": pa.array([f.path], pa.string()),
        "row": pa.array([0], pa.int64()),
        "fp": pa.array([whole], fp16),
        "fp_features": pa.nulls(1, fp16),
        "group": pa.nulls(1, fp16),
        "time": pa.nulls(1, pa.timestamp("us", "UTC")),
        "label": pa.nulls(1, pa.string()),
    })


def _fingerprint_frame(repo: Any, f: TabularFile, columns: list[str] | None = None, source: Any = None):
    """One file's rows of the fingerprint table: every column, or only ``columns`` (those
    the file has). ``source``: where its stored fingerprints are read (``_object``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not _has_fingerprints(repo, f):
        t = _whole_file_frame(f)
        return t if columns is None else t.select([c for c in columns if c in t.column_names])
    pf = pq.ParquetFile(source if source is not None else _object(repo, f.record.fingerprints),
                        pre_buffer=False)
    names = pf.schema_arrow.names
    wanted = None if columns is None else [c for c in columns if c in names]
    files = None
    if columns is None or "file" in columns:
        files = pa.repeat(pa.scalar(f.path, pa.string()), pf.metadata.num_rows)
    if wanted == []:
        return pa.table({"file": files}) if files is not None else pa.table({})
    t = pf.read(columns=wanted).replace_schema_metadata(None)
    return t if files is None else t.add_column(0, "file", files)


def load_fingerprints(repo: Any, snapshot_id: str, *, declarations: dict[str, str] | None = None):
    """Row fingerprints of every file of a snapshot, as a ``pyarrow.Table``.

    Columns: ``file`` (path in the snapshot), ``row`` (index within the file), ``fp``
    (fixed_size_binary(16), all columns), ``fp_features`` (all but the declared label;
    null without a label), ``group`` (hash of the declared group key), ``time``
    (timestamp[us, UTC], or float64 for a numeric time column) and ``label`` (canonical
    text). When a file of the snapshot has a float column and was recorded with near
    keys, two more columns follow: ``fp_near`` and ``fp_near_shift`` (fixed_size_binary(16),
    the row with its float values snapped to the two near grids of
    ``schemas/FINGERPRINTS.md``); they are null for the rows of other files, where they
    would equal ``fp`` (no float column) or were not recorded (older records). When a file
    has an index-like column (``rowhash.is_index_column``: pandas' written index), one more
    column ``fp_data`` follows: the row fingerprint without those columns (null for the
    rows of other files, whose data key is ``fp``).
    Non-tabular files give one row each (``fp`` = first 16 bytes of the digest).
    So does a tabular file whose rows were not fingerprinted (unreadable, or over a
    ``[tabular]`` limit); ``not_fingerprinted(table)`` lists those with the reason.
    """
    _sid, files = file_records(repo, snapshot_id, declarations=declarations)
    table = _concat_fingerprints([_fingerprint_frame(repo, f) for f in files])
    skipped = [{"file": f.path, "reason": f.record.error or f.record.status}
               for f in files if f.record is not None and not f.ok]
    if skipped:
        table = table.replace_schema_metadata({NOT_FINGERPRINTED_KEY: json.dumps(skipped)})
    return table


class FingerprintColumns:
    """A snapshot's fingerprint table (``load_fingerprints``), read one column at a time:
    only the columns asked for are read (memory-mapped), each once, and ``release`` lets
    one go. What audit rules read: a rule that compares ``fp`` keys never reads the near
    keys, the labels or the file names.

        >>> fps = FingerprintColumns(repo, "train@latest")     # doctest: +SKIP
        >>> fps.column("fp")                                   # doctest: +SKIP
    """

    def __init__(self, repo: Any, snapshot_id: str, *, declarations: dict[str, str] | None = None) -> None:
        _sid, self.files = file_records(repo, snapshot_id, declarations=declarations)
        self._repo = repo
        self._columns: dict[str, Any] = {}
        self._sources: dict[int, Any] = {}
        self._names: list[str] | None = None
        self._counts: list[int] | None = None
        self._rows: Any = None

    def _source(self, k: int):
        """Where file ``k``'s stored fingerprints are read: a path (memory-mapped), or the
        bytes of a packed object, read once."""
        import pyarrow as pa

        if k not in self._sources:
            digest = self.files[k].record.fingerprints
            self._sources[k] = (str(self._repo.store.path(digest)) if self._repo.store.is_loose(digest)
                                else self._repo.store.read_bytes(digest))
        src = self._sources[k]
        return src if isinstance(src, str) else pa.BufferReader(src)

    def _stored(self) -> list[int]:
        return [k for k, f in enumerate(self.files) if _has_fingerprints(self._repo, f)]

    def _footers(self) -> None:
        import pyarrow.parquet as pq

        names = list(_BASE_COLUMNS)
        counts = [1] * len(self.files)
        for k in self._stored():
            meta = pq.ParquetFile(self._source(k))
            counts[k] = meta.metadata.num_rows
            names += [n for n in meta.schema_arrow.names if n not in names]
        self._names, self._counts = names, counts

    @property
    def column_names(self) -> list[str]:
        if self._names is None:
            self._footers()
        return list(self._names)

    @property
    def num_rows(self) -> int:
        if self._counts is None:
            self._footers()
        return sum(self._counts)

    def column(self, name: str):
        """One column (a ``pyarrow.ChunkedArray``), as ``load_fingerprints`` would have it."""
        if name not in self._columns:
            if name not in self.column_names:
                raise KeyError(f"no fingerprint column {name!r}")
            import pyarrow as pa

            frames = [_fingerprint_frame(self._repo, f, [name], self._source(k) if _has_fingerprints(self._repo, f)
                                         else None) for k, f in enumerate(self.files)]
            typed = [fr.schema.field(name).type for fr in frames if name in fr.column_names]
            # a file without the column (other files, older records) has nulls there
            frames = [fr if name in fr.column_names else pa.table({name: pa.nulls(n, typed[0])})
                      for fr, n in zip(frames, self._counts)]
            self._columns[name] = _concat_fingerprints(frames).column(name)
        return self._columns[name]

    def keys(self, name: str):
        """(row positions, 16-byte keys as numpy ``V16``) of the non-null values of a
        fixed-size key column (``fp``, ``fp_data``, a near key, ``group``, ...), like
        ``keys.fingerprint_keys(load_fingerprints(...), name)``: read row group by row
        group into one array, so no second copy of the column is ever held."""
        import numpy as np
        import pyarrow.parquet as pq

        n = self.num_rows if name in self.column_names else 0
        values = np.empty(n, dtype="V16")  # pages never written are never resident
        raw = values.view(np.uint8)
        valid = np.zeros(n, dtype=bool)
        at = 0
        for k, f in enumerate(self.files):
            count = self._counts[k]
            if not _has_fingerprints(self._repo, f):
                if name == "fp":
                    values[at] = np.frombuffer(bytes.fromhex(f.digest)[:16], dtype="V16")[0]
                    valid[at] = True
                at += count
                continue
            pf = pq.ParquetFile(self._source(k), pre_buffer=False)
            if name in pf.schema_arrow.names:
                start = at
                for g in range(pf.num_row_groups):
                    for chunk in pf.read_row_group(g, columns=[name]).column(0).chunks:
                        m = len(chunk)
                        if chunk.null_count < m:
                            # as bytes: one memcpy (an assignment of V16 items is element-wise)
                            raw[start * 16:(start + m) * 16] = np.frombuffer(
                                chunk.buffers()[1], dtype=np.uint8, count=m * 16, offset=chunk.offset * 16)
                            valid[start:start + m] = valid_mask(chunk)
                        start += m
            at += count
        if valid.all():
            return self._every_row(n), values
        positions = np.nonzero(valid)[0]
        return positions, values[positions]

    def _every_row(self, n: int):
        """``arange(n)``, one read-only array shared by every column with no null."""
        import numpy as np

        if getattr(self, "_rows", None) is None or len(self._rows) != n:
            self._rows = np.arange(n)
            self._rows.flags.writeable = False
        return self._rows

    def all_null(self, name: str) -> bool:
        """Whether column ``name`` holds no value (``time`` or ``label`` when none was
        declared): read row group by row group up to the first value, never kept."""
        import pyarrow.parquet as pq

        if name in self._columns:
            col = self._columns[name]
            return col.null_count == len(col)
        if name not in self.column_names:
            return True
        for k, f in enumerate(self.files):
            if not _has_fingerprints(self._repo, f):
                if name in ("file", "row", "fp"):
                    return False
                continue
            if name == "file":
                return False
            pf = pq.ParquetFile(self._source(k), pre_buffer=False)
            if name not in pf.schema_arrow.names:
                continue
            for g in range(pf.num_row_groups):
                col = pf.read_row_group(g, columns=[name]).column(0)
                if col.null_count < len(col):
                    return False
        return True

    def release(self, name: str) -> None:
        """Forget a column read before (read again when asked for)."""
        self._columns.pop(name, None)

    def file_rows(self, positions) -> list[tuple[str, int]]:
        """(file, row within the file) at each of ``positions`` (rows of the table)."""
        import numpy as np

        if self._counts is None:
            self._footers()
        starts = np.cumsum([0, *self._counts])
        rows = self.column("row")
        out = []
        for p in positions:
            k = int(np.searchsorted(starts, int(p), "right")) - 1
            out.append((self.files[k].path, rows[int(p)].as_py()))
        return out

    def files_with(self, name: str) -> list[str]:
        """Paths of the files with a non-null value of column ``name``."""
        import numpy as np

        col = self.column(name)
        if col.null_count == len(col):
            return []
        valid = np.concatenate([valid_mask(c) for c in col.chunks])
        if self._counts is None:
            self._footers()
        starts = np.cumsum([0, *self._counts])
        return sorted({self.files[k].path for k in range(len(self.files)) if valid[starts[k]:starts[k + 1]].any()})

    def not_fingerprinted(self) -> list[dict[str, str]]:
        """``[{file, reason}]``: tabular files whose rows were not fingerprinted (``not_fingerprinted``)."""
        return [{"file": f.path, "reason": f.record.error or f.record.status}
                for f in self.files if f.record is not None and not f.ok]


def valid_mask(array):
    """Boolean numpy mask of an Arrow array's non-null values, read from its validity
    bitmap (no conversion through pyarrow's pandas path)."""
    import numpy as np

    n = len(array)
    bitmap = array.buffers()[0]
    if bitmap is None or array.null_count == 0:
        return np.ones(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[array.offset:array.offset + n].view(bool)


_BASE_COLUMNS = ("file", "row", "fp", "fp_features", "group", "time", "label")


#: Schema metadata of a ``load_fingerprints`` table: tabular files counted as one row.
NOT_FINGERPRINTED_KEY = b"lineage.not_fingerprinted"


def not_fingerprinted(table) -> list[dict[str, str]]:
    """``[{file, reason}]`` of the tabular files of a ``load_fingerprints`` table whose rows
    were not fingerprinted (each counts as one row, its content digest)."""
    meta = table.schema.metadata or {}
    return json.loads(meta[NOT_FINGERPRINTED_KEY]) if NOT_FINGERPRINTED_KEY in meta else []


def _concat_fingerprints(frames: list[Any]):
    import pyarrow as pa

    if not frames:
        return _empty_fingerprints()
    if not all("time" in fr.column_names for fr in frames):
        return pa.concat_tables(frames, promote_options="permissive")
    time_types = {fr.schema.field("time").type for fr in frames if fr.column("time").null_count < fr.num_rows}
    if len(time_types) == 1:
        target = time_types.pop()
        frames = [fr if fr.schema.field("time").type == target else
                  fr.set_column(fr.schema.get_field_index("time"), "time",
                                pa.nulls(fr.num_rows, target)) if fr.column("time").null_count == fr.num_rows
                  else fr for fr in frames]
    try:
        return pa.concat_tables(frames, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # numeric time in some files, time stamps in others: keep the time stamps
        frames = [fr if pa.types.is_timestamp(fr.schema.field("time").type) else
                  fr.set_column(fr.schema.get_field_index("time"), "time",
                                pa.nulls(fr.num_rows, pa.timestamp("us", "UTC"))) for fr in frames]
        return pa.concat_tables(frames, promote_options="permissive")


def _empty_fingerprints():
    import pyarrow as pa

    fp16 = pa.binary(16)
    return pa.table({"file": pa.array([], pa.string()), "row": pa.array([], pa.int64()),
                     "fp": pa.array([], fp16), "fp_features": pa.array([], fp16),
                     "group": pa.array([], fp16), "time": pa.array([], pa.timestamp("us", "UTC")),
                     "label": pa.array([], pa.string())})


def load_profiles(repo: Any, snapshot_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Column profiles of every readable tabular file: ``{file: {column: profile}}``.

    Use ``merge_profiles(list(result.values()))`` for one profile of a folder of part files.
    """
    _sid, files = file_records(repo, snapshot_id)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for f in files:
        if f.ok and f.record.profile:
            out[f.path] = json.loads(repo.store.read_bytes(f.record.profile))
    return out


def load_minhash(repo: Any, snapshot_id: str):
    """MinHash signatures of the declared text column, and of plain-text files (.txt, .text,
    .md; one row each): a ``pyarrow.Table`` with ``file``, ``row``, ``sig`` (128 × uint64)
    and ``text`` (normalised), or None when there is neither."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sid, files = file_records(repo, snapshot_id)
    frames = []
    for f in files:
        if f.ok and f.record.minhash and repo.store.exists(f.record.minhash):
            t = pq.read_table(_object(repo, f.record.minhash)).replace_schema_metadata(None)
            frames.append(t.add_column(0, "file", pa.array([f.path] * t.num_rows, pa.string())))
    text_files = _text_file_signatures(repo, sid, [f for f in files if _is_text_file(f)])
    if text_files is not None:
        frames.append(text_files)
    if not frames:
        return None
    return pa.concat_tables(frames)


#: Plain-text documents: each file is one row of its own MinHash table.
TEXT_SUFFIXES = (".txt", ".text", ".md")
TEXT_MAX_BYTES = 16 << 20


def _is_text_file(f: TabularFile) -> bool:
    return f.path.lower().endswith(TEXT_SUFFIXES) and f.size <= TEXT_MAX_BYTES


def _text_file_signatures(repo: Any, sid: str, files: list[TabularFile]):
    """Signatures of text files, computed from their bytes (store, else unchanged workspace)."""
    import numpy as np
    import pyarrow as pa

    rows = []
    for f in files:
        temporary: list[str] = []
        try:
            source = _source_path(repo, sid, f, temporary)
            if source is None:
                continue
            with open(source, "rb") as fh:
                text = fh.read().decode("utf-8", errors="replace")
        finally:
            for tmp in temporary:
                os.unlink(tmp)
        norm = normalise_text_array(pa.array([text], pa.large_string()))[0].as_py()
        rows.append((f.path, norm, minhash_signature(norm)))
    if not rows:
        return None
    sigs = np.stack([r[2] for r in rows]).astype(np.uint64)
    table = pa.table([pa.array([0] * len(rows), pa.int64()),
                      pa.FixedSizeListArray.from_arrays(pa.array(sigs.reshape(-1)), NUM_PERM),
                      pa.array([r[1] for r in rows], pa.large_string())],
                     schema=minhash_schema()).replace_schema_metadata(None)
    return table.add_column(0, "file", pa.array([r[0] for r in rows], pa.string()))
