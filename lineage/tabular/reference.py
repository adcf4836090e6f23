"""By-reference snapshots, hashed where the engine runs (``lineage.snapshots.reference``).

``create`` lists the files under a URL, hashes each one (BLAKE3, streamed in chunks,
never a whole file in memory) on the workers of the Dask engine when it is the
repository's engine, else on a pool of threads here, and records the snapshot without
copying the bytes into the store. Tables are fingerprinted and profiled as usual: the
Dask workers read Parquet files by URL with the source's storage options; any other
table (and every table on the local engine) is read here from a temporary copy
written while it was hashed, and removed once its metadata is stored.

``verify`` re-hashes the files of every by-reference snapshot the same way and
reports the files that changed, went missing, or whose ETag or version ID moved.

The client's credentials travel to the workers with each task (as Dask's own
``storage_options`` do), inside ``sources.StorageOptions``, which never prints them;
nothing writes them to the graph, a config file, an event or a message.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3

from lineage.core.progress import Progress
from lineage.errors import LineageError, PathError, UsageError
from lineage.repo import Repo
from lineage.core.redact import redact_text as _redact_text
from lineage.snapshots import hooks, lock
from lineage.snapshots import queries as squeries
from lineage.snapshots import reference as ref
from lineage.snapshots.add import (SnapshotResult, _append, _body_json, _check_columns, _check_move,
                                   _declared_columns, dataset_for_path)
from lineage.snapshots.manifest import Entry, Manifest
from lineage.tabular import engines, sources
from lineage.tabular.readers import detect

#: Bytes read at a time while hashing.
CHUNK = 8 << 20
#: Threads hashing files in this process (the reads wait on the network, BLAKE3 releases the GIL).
THREADS = 8
#: A Dask task hashes files until it has this many bytes, or this many files.
GROUP_BYTES = 64 << 20
GROUP_FILES = 256

#: What this process hashed (on a Dask worker: proof the work ran there).
_COUNTS = {"files": 0, "bytes": 0}
_COUNTS_LOCK = threading.Lock()


def hashed_here() -> dict[str, int]:
    """Files and bytes of by-reference sources hashed by this process."""
    with _COUNTS_LOCK:
        return dict(_COUNTS)


# -- hashing (here, or on a worker) ------------------------------------------------------

Hashed = tuple[str, int, "str | None", "str | None"]  # digest, size, etag, version ID


def _info(fs: Any, key: str) -> dict[str, Any]:
    try:
        return fs.info(key, refresh=True)  # from the store, not a listing cached earlier
    except TypeError:
        return fs.info(key)


def hash_object(fs: Any, key: str, spool: str | None = None) -> Hashed | None:
    """BLAKE3 digest, size, ETag and version ID of ``key`` (None if it is gone), streamed
    in chunks; with ``spool``, the bytes are also written to that local file."""
    try:
        etag, version = ref.tags(_info(fs, key))
        h = blake3.blake3()
        size = 0
        out = open(spool, "wb") if spool else None
        try:
            with fs.open(key, "rb", block_size=CHUNK) as fh:
                while True:
                    chunk = fh.read(CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
                    size += len(chunk)
                    if out is not None:
                        out.write(chunk)
        finally:
            if out is not None:
                out.close()
    except FileNotFoundError:
        return None
    with _COUNTS_LOCK:
        _COUNTS["files"] += 1
        _COUNTS["bytes"] += size
    return h.hexdigest(), size, etag, version


def hash_group(protocol: str, storage: dict[str, Any], keys: list[str]) -> list[Hashed | None]:
    """On a Dask worker: ``hash_object`` of each of ``keys``."""
    import fsspec

    fs = fsspec.filesystem(protocol, **storage)
    return [hash_object(fs, key) for key in keys]


def worker_options(fs: Any, source: ref.Source) -> sources.StorageOptions:
    """The options a worker opens ``source`` with: the filesystem's own, and for S3 the
    credentials this process resolved (else the workers use their own chain)."""
    opts = {k: v for k, v in getattr(fs, "storage_options", {}).items() if k != "skip_instance_cache"}
    if source.scheme in ("s3", "s3a") and not opts.get("key") and not opts.get("anon"):
        try:
            import botocore.session

            creds = botocore.session.Session(profile=opts.get("profile")).get_credentials()
            frozen = creds.get_frozen_credentials() if creds is not None else None
        except Exception:  # no usable profile here: the workers resolve their own
            frozen = None
        if frozen is not None and frozen.access_key:
            opts.pop("profile", None)
            opts.update(key=frozen.access_key, secret=frozen.secret_key)
            if frozen.token:
                opts["token"] = frozen.token
    return sources.StorageOptions(opts)


def _groups(items: list[ref.Listed]) -> list[list[int]]:
    out: list[list[int]] = []
    size = 0
    for i, item in enumerate(items):
        if not out or size + item.size > GROUP_BYTES or len(out[-1]) >= GROUP_FILES:
            out.append([])
            size = 0
        out[-1].append(i)
        size += item.size
    return out


class _Hasher:
    """Hashes a source's files on the Dask engine's workers, or on threads here."""

    def __init__(self, repo: Repo) -> None:
        self.choice = engines.chosen(repo)
        self.session: Any = None

    @property
    def on_dask(self) -> bool:
        return self.choice.name == "dask"

    def __enter__(self) -> _Hasher:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.session is not None:
            self.session.close()

    def run(self, source: ref.Source, fs: Any, items: list[ref.Listed], spools: list[str | None],
            progress: Progress | None, *, here: bool = False) -> list[Hashed | None]:
        """``hash_object`` of each item, in order; ``here`` (or a spool) keeps the work in this process."""
        total = sum(i.size for i in items)
        done = [0]
        lock = threading.Lock()

        def advance(n: int) -> None:
            with lock:
                done[0] += n
                if progress and total:
                    progress(min(done[0], total), total)

        try:
            if self.on_dask and not here and not any(spools):
                return self._on_workers(source, fs, items, advance)
            with ThreadPoolExecutor(max_workers=max(1, min(THREADS, len(items)))) as pool:
                def one(i: int) -> Hashed | None:
                    r = hash_object(fs, items[i].key, spools[i])
                    advance(items[i].size)
                    return r

                return list(pool.map(one, range(len(items))))
        except LineageError:
            raise
        except Exception as exc:  # the backends' errors are many; each becomes one line
            raise ref.describe(source, exc) from None

    def _on_workers(self, source: ref.Source, fs: Any, items: list[ref.Listed],
                    advance: Any) -> list[Hashed | None]:
        from lineage.tabular import dask_engine

        if self.session is None:
            self.session = dask_engine.connect(self.choice)
        client = self.session.client
        storage = worker_options(fs, source)
        groups = _groups(items)
        futures = [client.submit(hash_group, source.scheme, storage, [items[i].key for i in g], pure=False)
                   for g in groups]
        out: list[Hashed | None] = []
        for g, fut in zip(groups, futures):
            out.extend(fut.result())
            advance(sum(items[i].size for i in g))
        return out


# -- create -------------------------------------------------------------------------------

def create(repo: Repo, url: str, *, name: str | None = None, message: str | None = None,
           label_column: str | None = None, group_column: str | None = None, time_column: str | None = None,
           text_column: str | None = None, move: bool = False,
           progress: Progress | None = None) -> SnapshotResult:
    """Snapshot the files under ``url`` by reference: hashed where they are, recorded with
    their ETags and version IDs, never copied into the store.

    >>> create(repo, "s3://lake/sales/2024/", name="sales")      # doctest: +SKIP
    """
    source = ref.source_for(repo, url)
    fs, root = ref.open_source(source)
    kind, listed = ref.list_files(source, fs, root)
    repo.store.ensure()
    with _Hasher(repo) as hasher, repo.store.writing():
        spool_dir = tempfile.mkdtemp(prefix="reference-", dir=repo.store.tmp)
        try:
            return _create(repo, source, fs, kind, listed, hasher, spool_dir, name=name, message=message,
                           label_column=label_column, group_column=group_column, time_column=time_column,
                           text_column=text_column, move=move, progress=progress)
        finally:
            shutil.rmtree(spool_dir, ignore_errors=True)


def _url(source: ref.Source, item: ref.Listed) -> str:
    return f"{source.scheme}://{item.key}"


def _create(repo: Repo, source: ref.Source, fs: Any, kind: str, listed: list[ref.Listed], hasher: _Hasher,
            spool_dir: str, *, progress: Progress | None, **given: Any) -> SnapshotResult:
    def display(item: ref.Listed) -> str:
        return source.url if kind == "file" else f"{source.url}/{item.path}"

    formats = [detect(item.path) for item in listed]
    # the Dask workers read Parquet by URL; every other table is read here, from a copy
    here = [f is not None and not (hasher.on_dask and f.kind == "parquet") for f in formats]
    spools = [os.path.join(spool_dir, f"{i}{os.path.splitext(item.path)[1]}") if here[i] else None
              for i, item in enumerate(listed)]
    results = hasher.run(source, fs, listed, [None] * len(listed) if hasher.on_dask else spools, progress)
    entries: list[Entry] = []
    tagged: list[ref.Listed] = []
    for item, r in zip(listed, results):
        if r is None:
            raise PathError(f"file vanished while hashing: {display(item)}")
        digest, size, etag, version = r
        entries.append(Entry(item.path, size, digest, False))
        tagged.append(ref.Listed(item.path, item.key, size, etag, version))
    if hasher.on_dask and any(here):  # tables of other formats: copied here, checked against the workers'
        idx = [i for i, h in enumerate(here) if h]
        again = hasher.run(source, fs, [listed[i] for i in idx], [spools[i] for i in idx], None, here=True)
        for i, r in zip(idx, again):
            if r is None or r[0] != entries[i].digest:
                raise PathError(f"file changed while snapshotting: {display(listed[i])}")
    hook_files = [(display(item), spools[i] or _url(source, item), entries[i].digest)
                  for i, item in enumerate(listed)]
    sizes = {_url(source, item): entries[i].size for i, item in enumerate(listed)}
    storage = worker_options(fs, source) if hasher.on_dask else sources.StorageOptions()
    with sources.reading(storage, sizes):
        return _record(repo, source, kind, entries, tagged, hook_files, progress=progress,
                       hashed=len(entries), **given)


# -- record ---------------------------------------------------------------------------------

def _record(repo: Repo, source: ref.Source, kind: str, entries: list[Entry], listed: list[ref.Listed],
            hook_files: list[tuple[str, str, str]], *, name: str | None = None, message: str | None = None,
            label_column: str | None = None, group_column: str | None = None, time_column: str | None = None,
            text_column: str | None = None, move: bool = False, progress: Progress | None = None,
            hashed: int = 0) -> SnapshotResult:
    """Record the snapshot of ``source.url`` whose files hashed to ``entries`` (the tags
    of ``listed``); ``hook_files`` are what the snapshot hooks read (``hooks.run``)."""
    url = source.url
    graph = repo.graph
    dataset = name or dataset_for_path(repo, url) or url
    if not dataset.strip() or "@" in dataset:
        raise UsageError(f"invalid dataset name {dataset!r} (it must be non-empty and contain no '@')")
    columns = _declared_columns(repo, dataset, {"label": label_column, "group": group_column,
                                                "time": time_column, "text": text_column})
    row = squeries.dataset(graph, dataset)
    moved_from = _check_move(row, url, move)
    current_decl = row.declarations if row else {}
    new_decl = {k: v for k, v in columns.items() if current_decl.get(k) != v}
    manifest = Manifest.build(kind, entries)
    manifest_json = manifest.encode_text()
    encoded = manifest_json.encode("utf-8")
    sid = blake3.blake3(encoded).hexdigest()
    repo.store.put_bytes(encoded, sid)  # the manifest is kept locally, as for every snapshot
    del encoded
    files = [{"path": f.path, "etag": f.etag, "version_id": f.version_id} for f in listed]
    added = hooks.run(repo, hook_files, {**current_decl, **columns}, progress=progress)
    _check_columns(url, new_decl, hooks.columns(added))
    warnings = hooks.warnings(added)
    if moved_from is not None:
        warnings.append(f"dataset {dataset!r} now points to {url} (it was {moved_from})")
    git = repo.git_state()
    with graph.transaction():
        fresh = squeries.dataset(graph, dataset)
        if fresh != row:  # another process recorded meanwhile: decide again under the lock
            row = fresh
            current_decl = row.declarations if row else {}
            new_decl = {k: v for k, v in columns.items() if current_decl.get(k) != v}
            hooks.refresh(graph, added)
            moved_from = _check_move(row, url, move)
        if not ref.same_reference(graph, sid, url, files):
            graph.append(ref.EVENT_TYPE, {"snapshot_id": sid, "url": url, "dataset": dataset, "files": files},
                         actor=repo.user)
        _append(repo, hooks.events(added))
        if row and row.latest_snapshot == sid and not new_decl and row.path == url:
            return SnapshotResult(sid, dataset, row.latest_version, url, kind, len(entries),
                                  manifest.total_size, hashed, 0, True, False, None, git.to_dict(),
                                  warnings=warnings)
        known = squeries.snapshot_known(graph, sid)
        body: dict[str, Any] = {
            "snapshot_id": sid, "dataset": dataset, "path": url, "message": _redact_text(message),
            "user": repo.user, "host": repo.host, "git": git.to_dict(), "stored": False,
        }
        if moved_from is not None:
            body["moved_from"] = moved_from
        body["version"] = (row.latest_version if row else 0) + 1
        if new_decl:
            graph.append("dataset.declare", {"name": dataset, "path": url, "columns": new_decl},
                         actor=repo.user)
        text = _body_json(body, None if known else manifest_json)
        if not known:
            body["manifest"] = manifest.view()
        ev = graph.append("snapshot", body, actor=repo.user, body_json=text)
    version = squeries.version_of_record(graph, ev.id)
    lock.update(repo, dataset)
    return SnapshotResult(sid, dataset, version, url, kind, len(entries), manifest.total_size, hashed, 0,
                          False, False, ev.time, git.to_dict(), ev.id, warnings=warnings)


# -- verify -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReferenceProblem:
    """A file of a by-reference snapshot that no longer matches its record."""

    snapshot: str
    url: str   # the file's URL
    problem: str  # changed | missing | moved
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReferenceCheck:
    files_checked: int = 0
    bytes_checked: int = 0
    problems: list[ReferenceProblem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(repo: Repo, *, progress: Progress | None = None) -> ReferenceCheck:
    """Re-hash the files of every by-reference snapshot where they live (on the engine's
    workers when it is Dask); the files changed, missing, or whose ETag or version ID moved."""
    g = repo.graph
    refs = ref.every_latest(g)
    if not refs:
        return ReferenceCheck()
    problems: list[ReferenceProblem] = []
    files = size = 0
    with _Hasher(repo) as hasher:
        for r in refs:
            source = ref.source_for(repo, r.url)
            fs, root = ref.open_source(source)
            kind, rows = squeries.snapshot_files(g, r.snapshot_id)
            recorded = ref.file_tags(g, r.event_id)
            items = [ref.Listed(p, root if kind == "file" else f"{root}/{p}", n) for p, n, _, _ in rows]
            results = hasher.run(source, fs, items, [None] * len(items), progress)
            for (path, n, digest, _), item, got in zip(rows, items, results):
                where = _url(source, item)
                files += 1
                if got is None:
                    problems.append(ReferenceProblem(r.snapshot_id, where, "missing", "no longer there"))
                    continue
                size += got[1]
                if got[0] != digest or got[1] != n:
                    problems.append(ReferenceProblem(r.snapshot_id, where, "changed",
                                                     f"other bytes than recorded ({n} bytes then, {got[1]} now)"))
                    continue
                etag, version = recorded.get(path, (None, None))
                moved = [f"{what} {old} -> {new}" for what, old, new in
                         (("ETag", etag, got[2]), ("version", version, got[3])) if old and old != new]
                if moved:
                    problems.append(ReferenceProblem(r.snapshot_id, where, "moved",
                                                     "same bytes, " + ", ".join(moved)))
    return ReferenceCheck(files, size, problems)
