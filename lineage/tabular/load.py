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


def _fingerprint_frame(repo: Any, f: TabularFile):
    import pyarrow as pa
    import pyarrow.parquet as pq

    fp16 = pa.binary(16)
    if f.ok and f.record.fingerprints and repo.store.exists(f.record.fingerprints):
        t = pq.read_table(_object(repo, f.record.fingerprints))
        t = t.replace_schema_metadata(None)
        return t.add_column(0, "file", pa.array([f.path] * t.num_rows, pa.string()))
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
