"""Creating a snapshot: walk, hash what the stat cache cannot vouch for, store, record.

``create`` stores new objects in one batch, stores the manifest, runs the snapshot
hooks (``lineage.snapshots.hooks``: tabular metadata, plug-ins) and records one
``snapshot`` event with the hooks' events. Nothing is recorded until every object is
safely in place, so an interrupted snapshot leaves neither a half-written object nor
a half-recorded snapshot.
"""

from __future__ import annotations

import heapq
import os
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import blake3

from lineage import config as _config
from lineage.core import canonical as _canonical
from lineage.core import faults as _faults
from lineage.core.hashing import SMALL_FILE, FileStat, HashCounter, hash_file
from lineage.core.paths import is_protected
from lineage.core.progress import Progress
from lineage.core.redact import redact_text as _redact_text
from lineage.errors import PathError, UsageError
from lineage.repo import Repo
from lineage.snapshots import hooks, lock, queries, workspace
from lineage.snapshots.manifest import Entry, Manifest, PackedEntries, encode_into
from lineage.snapshots.scan import (NOT_STORED, ScanReport, check_names, combine_keys, folder_key,
                                    record_folders, remove_stale_temps, tree_matches, walk)
from lineage.store.objects import LinkMode


# -- results ----------------------------------------------------------------------

@dataclass(frozen=True)
class SnapshotResult:
    id: str
    dataset: str | None
    version: int | None
    path: str
    kind: str
    files: int
    bytes: int
    hashed_files: int
    new_objects: int
    unchanged: bool
    stored: bool
    time: str | None
    git: dict[str, Any]
    event_id: str | None = None
    #: files that could not be fingerprinted, and other remarks (the CLI prints them on stderr)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- create -----------------------------------------------------------------------

class _Folder(NamedTuple):
    """One folder's files as the walk found them, compactly: a name and four numbers a
    file instead of a tuple of strings and a stat tuple, and the names one string a
    folder rather than a string a file (a million files fit in ~60 MB)."""

    prefix: str          # "" or "a/b/"
    path: str            # the folder's absolute path
    joined: str          # the files' names, NUL-separated (no name holds a NUL)
    ids: array           # device, inode, size per file ("Q")
    mtimes: array        # mtime_ns per file ("q")
    executable: bytes    # one byte per file

    def names(self) -> list[str]:
        return self.joined.split("\0")


def _walk(target: Path, rel: str, report: ScanReport) -> tuple[str, list[_Folder], int, int]:
    """Walk ``target`` one folder at a time: check its names, record its stat key in
    ``report.keys`` and keep it as a ``_Folder``. Returns the kind, the folders, the
    number of files and their total size."""
    kind, folders = walk(target, report)
    out: list[_Folder] = []
    count = total = 0
    keys = report.keys = {}
    for prefix, found in folders:
        check_names(kind, rel, found, [])
        keys[prefix] = folder_key(found)
        ids, mtimes = array("Q"), array("q")
        cut = len(prefix)
        for f in found:
            st = f[2]
            ids.extend((st[0], st[1], st[2]))
            mtimes.append(st[3])
            total += st[2]
        out.append(_Folder(prefix, os.path.dirname(found[0].abspath), "\0".join([f[0][cut:] for f in found]),
                           ids, mtimes, bytes(bool(f[3]) for f in found)))
        count += len(found)
    check_names(kind, rel, [], report.dirs)
    return kind, out, count, total


#: Stat-cache updates are written in batches of this many files while a snapshot hashes.
_UPDATE_BATCH = 10_000


def _digests(
    repo: Repo,
    target: Path,
    folders: list[_Folder],
    report: ScanReport,
    *,
    total: int,
    previous: str | None,
    store: bool,
    progress: Progress | None,
    counter: HashCounter | None,
) -> tuple[list[bytearray], int, int]:
    """The digests of the files of ``folders``, storing new objects in one batch: for
    each folder, 32 raw bytes a file in its order. Returns them, the number of objects
    written and the number of files hashed.

    Folder by folder: a folder whose stat key is the one the folder index recorded for
    ``previous`` (the dataset's latest snapshot) takes that snapshot's entries whole,
    and when ``previous`` was stored its objects are known to be there; any other
    folder reads its own stat-cache row. Only what neither vouches for is read and
    hashed, so a re-snapshot costs in proportion to the change. What is learnt goes to
    the stat cache as it is learnt (it only ever says which stat has which digest).

    Small files are read once, hashed and appended to the batch's pack in this
    thread: for files of a few KB the work is per-call overhead that threads only
    add to. Large files are hashed in parallel (BLAKE3 and reads release the GIL)
    and copied in the kernel.
    """
    cache = repo.stat_cache
    index: dict[str, tuple[str, str]] = {}
    prev_stored = False
    if previous is not None and folders:
        known = cache.folders(str(target))
        if known is not None and known[0] == previous:
            index = known[1]
            prev_stored = queries.snapshot_stored(repo.graph, previous)
    keys = report.keys
    link = repo.link_mode
    ostore = repo.store
    digests: list[bytearray] = []
    updates: list[tuple[str, FileStat, str]] = []
    large: list[tuple[bytearray, int, str, tuple[int, int, int, int]]] = []
    hashed = hashed_bytes = done = 0
    if progress and total:
        progress(0, total)

    with ostore.batch() as batch:
        for folder in folders:
            prefix, names, ids, mtimes = folder.prefix, folder.names(), folder.ids, folder.mtimes
            dg = bytearray(32 * len(names))
            digests.append(dg)
            recorded = index.get(prefix)
            if recorded is not None and recorded[0] and recorded[0] == keys.get(prefix):
                blob = cache.folder_entries(recorded[1])
                for j, name in enumerate(names):
                    e = blob.get(name)
                    if e is None:
                        break
                    dg[32 * j:32 * j + 32] = e[1]
                else:
                    if store and not prev_stored:
                        for j in range(len(names)):
                            digest = dg[32 * j:32 * j + 32].hex()
                            if not ostore.exists(digest):
                                batch.put_file(f"{folder.path}/{names[j]}", digest, link)
                    done += sum(ids[2::3])
                    continue
            by_name = cache.stat_folder(folder.path)
            for j, name in enumerate(names):
                st = (ids[3 * j], ids[3 * j + 1], ids[3 * j + 2], mtimes[j])
                size = st[2]
                abspath = f"{folder.path}/{name}"
                hit = by_name.get(name) if by_name else None
                if hit is not None and hit[0] == st:
                    digest = hit[1]
                    if store and not ostore.exists(digest):  # e.g. after --no-store
                        batch.put_file(abspath, digest, link)
                elif size > SMALL_FILE:
                    large.append((dg, j, abspath, st))
                    continue
                else:
                    try:
                        with open(abspath, "rb") as fh:
                            data = fh.read()
                    except FileNotFoundError:
                        raise PathError(f"file vanished while hashing: {abspath}") from None
                    except OSError as exc:
                        raise PathError(f"cannot read {abspath}: {exc.strerror}") from None
                    digest = blake3.blake3(data).hexdigest()
                    if store:
                        batch.put_bytes(data, digest)
                    updates.append((abspath, st, digest))  # type: ignore[arg-type]
                    hashed += 1
                    hashed_bytes += size
                dg[32 * j:32 * j + 32] = bytes.fromhex(digest)
            done += sum(ids[2::3])
            if len(updates) >= _UPDATE_BATCH:  # bounded: what is learnt, written as it is learnt
                cache.update(updates)
                updates.clear()
            if progress and total:
                progress(done, total)

        def one(item: tuple[bytearray, int, str, tuple[int, int, int, int]]) -> tuple[str, tuple, str]:
            dg, j, abspath, st = item
            if store and link is LinkMode.copy:  # read once: hashed while copied into the store
                digest = batch.hash_and_put_file(abspath)
            else:
                digest = hash_file(abspath, st[2])
                if store:
                    batch.put_file(abspath, digest, link)
            dg[32 * j:32 * j + 32] = bytes.fromhex(digest)
            return abspath, st, digest

        if large:
            workers = min(4, os.cpu_count() or 1, len(large))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for abspath, st, digest in pool.map(one, large):
                    updates.append((abspath, st, digest))  # type: ignore[arg-type]
                    hashed += 1
                    hashed_bytes += st[2]
                    if progress:
                        progress(min(done + hashed_bytes, total), total)
        if progress and total:
            progress(total, total)
    cache.update(updates)
    if counter is not None:
        counter.files += hashed
        counter.bytes += hashed_bytes
    return digests, batch.written, hashed


class _HookFiles(Sequence[tuple[str, str, str]]):
    """(path in the repository, abspath, digest) of each file of a manifest, made as a
    hook reads them rather than held as a list of a million tuples."""

    def __init__(self, kind: str, rel: str, target: Path, entries: tuple[Entry, ...]) -> None:
        self._kind, self._rel, self._root, self._entries = kind, rel, str(target), entries

    def __len__(self) -> int:
        return len(self._entries)

    def _item(self, e: Entry) -> tuple[str, str, str]:
        if self._kind == "file":
            return self._rel, self._root, e.digest
        return (e.path if self._rel == "." else f"{self._rel}/{e.path}"), f"{self._root}/{e.path}", e.digest

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._item(e) for e in self._entries[i]]
        return self._item(self._entries[i])

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        return (self._item(e) for e in self._entries)


#: From this many files a snapshot gives freed heap memory back between its phases.
_TRIM_FILES = 20_000


def _trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``).

    A snapshot of many small files allocates and frees a buffer per file between
    longer-lived ones; the freed pages in the middle of the heap stay part of the
    process until trimmed (about 50 MB at 300,000 files). Elsewhere a no-op."""
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):
            pass
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def _manifest(kind: str, folders: list[_Folder], digests: list[bytearray], dirs: list[str]) -> Manifest:
    """The manifest of the walked ``folders`` and their ``digests``, its entries held as
    columns (``PackedEntries``) in manifest order: sorted by path (comparing strings
    compares code points, which orders them as their UTF-8 bytes do).

    Each folder's names are sorted, then the folders' runs are laid end to end when
    they do not interleave (the usual case), or merged. No string per file is kept:
    the paths go straight into the columns' bytes."""
    runs: list[tuple[str, str, int, list[int]]] = []
    for fi, f in enumerate(folders):
        names = f.names()
        order = sorted(range(len(names)), key=names.__getitem__)
        runs.append((f.prefix + names[order[0]], f.prefix + names[order[-1]], fi, order))
    runs.sort()
    out, ends, sizes, packed, exe = bytearray(), array("Q"), array("Q"), bytearray(), bytearray()
    if all(a[1] < b[0] for a, b in zip(runs, runs[1:])):
        for _, _, fi, order in runs:
            f, dg = folders[fi], digests[fi]
            prefix, names, ids, flags = f.prefix.encode("utf-8"), f.names(), f.ids, f.executable
            for j in order:
                out += prefix
                out += names[j].encode("utf-8")
                ends.append(len(out))
                sizes.append(ids[3 * j + 2])
                packed += dg[32 * j:32 * j + 32]
                exe.append(flags[j])
    else:  # a folder's files sort between another's (e.g. "a.txt", "a/b", "a0"): merge them
        for path, fi, j in heapq.merge(*[_run(folders[fi], fi, order) for _, _, fi, order in runs]):
            f = folders[fi]
            out += path.encode("utf-8")
            ends.append(len(out))
            sizes.append(f.ids[3 * j + 2])
            packed += digests[fi][32 * j:32 * j + 32]
            exe.append(f.executable[j])
    return Manifest(kind, PackedEntries(out, ends, sizes, packed, exe),  # type: ignore[arg-type]
                    tuple(sorted(set(dirs), key=lambda d: d.encode("utf-8"))))


def _run(folder: _Folder, fi: int, order: list[int]) -> Iterator[tuple[str, int, int]]:
    prefix, names = folder.prefix, folder.names()
    for j in order:
        yield prefix + names[j], fi, j


def _body_text(body: dict[str, Any], manifest: bytearray) -> str:
    """``_body_json(body, manifest)`` made in ``manifest``'s own buffer (the body's other
    keys go in before and after it), then read out as the text once: the manifest's
    bytes exist twice only for that moment. ``manifest`` is left empty."""
    # NUL is always escaped in canonical JSON: it marks the manifest's place
    head, tail = _body_json(body, "\0").split("\0")
    manifest[:0] = head.encode("utf-8")
    manifest += tail.encode("utf-8")
    try:
        return manifest.decode("utf-8")
    finally:
        manifest.clear()


def _body_json(body: dict[str, Any], manifest: str | None) -> str:
    """The canonical JSON of ``body`` with ``manifest`` (its canonical bytes) as the
    value of ``"manifest"``: the top-level keys in sorted order, as ``canonical.dumps``
    writes them, around a manifest encoded once."""
    parts = ["{"]
    for k in sorted([*body, "manifest"] if manifest is not None else body):
        if len(parts) > 1:
            parts.append(",")
        parts.append(_canonical.dumps(k).decode("utf-8") + ":")
        parts.append(manifest if k == "manifest" and manifest is not None else
                     _canonical.dumps(body[k]).decode("utf-8"))
    parts.append("}")
    return "".join(parts)  # one copy of the manifest's text, not one per concatenation


def _declared_columns(repo: Repo, name: str, given: dict[str, str | None]) -> dict[str, str]:
    """Columns given now, else from ``[tool.lineage.datasets.NAME]`` in pyproject.toml."""
    out: dict[str, str] = {}
    settings = _config.pyproject_settings(repo.root).get("datasets", {}).get(name, {})
    for key in ("label", "group", "time", "text"):
        value = given.get(key) or settings.get(key) or settings.get(f"{key}_column") or settings.get(
            f"{key}-column")
        if value:
            out[key] = str(value)
    return out


def dataset_for_path(repo: Repo, rel: str) -> str | None:
    row = queries.dataset_by_path(repo.graph, rel)
    return row.name if row else None


def default_name(repo: Repo, rel: str) -> str:
    return repo.root.name if rel == "." else rel


def create(
    repo: Repo,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    message: str | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    time_column: str | None = None,
    text_column: str | None = None,
    store: bool = True,
    progress: Progress | None = None,
    counter: HashCounter | None = None,
    extra: dict[str, Any] | None = None,
    move: bool = False,
    external: bool = False,
) -> SnapshotResult:
    """Snapshot a file or folder and record it.

    Re-snapshotting unchanged content of a dataset records nothing new and returns
    ``unchanged=True``. ``.git/`` and ``.lineage/`` are refused; so is a path outside the
    repository unless ``external`` (it is then recorded as external). A ``name`` that
    already names another path is refused unless ``move`` (it is then re-pointed). A
    column declared now that no table of the snapshot has is refused, and not remembered.

    >>> lineage.snapshot("data/train", name="train")      # doctest: +SKIP
    """
    target = Path(os.path.abspath(path))
    rel = repo.relpath(target)
    inside = Path(rel).parts if not Path(rel).is_absolute() else ()
    if any(is_protected(part) for part in inside):
        raise UsageError(f"refusing to snapshot {rel}: .git/ and .lineage/ hold the tools' own "
                         "state, never data (a pull would not write it back)")
    outside = Path(rel).is_absolute()
    if outside and not external:
        raise UsageError(f"refusing to snapshot {rel}: it is outside the repository "
                         "(give --external to record it as external data)")
    if outside:
        extra = {**(extra or {}), "external": True}
    if name is not None and (not name.strip() or "@" in name):
        raise UsageError(f"invalid dataset name {name!r} (it must be non-empty and contain no '@')")
    with repo.store.writing():  # gc waits until the new objects are recorded
        result = _create(repo, target, rel, name=name, message=message, label_column=label_column,
                         group_column=group_column, time_column=time_column, text_column=text_column,
                         store=store, progress=progress, counter=counter, extra=extra, move=move)
    if result.dataset is not None:
        lock.update(repo, result.dataset)  # lineage.lock pins the dataset to what was recorded
    # the path's recorded state is now the dataset's latest snapshot, not a checkout's
    workspace.supersede(repo, target)
    return result


def _create(repo: Repo, target: Path, rel: str, *, name: str | None, message: str | None,
            label_column: str | None, group_column: str | None, time_column: str | None,
            text_column: str | None, store: bool, progress: Progress | None,
            counter: HashCounter | None, extra: dict[str, Any] | None,
            move: bool = False) -> SnapshotResult:
    report = ScanReport(boundary=repo.root.resolve())
    kind, folders, count, total = _walk(target, rel, report)
    remove_stale_temps(repo, report.temps, blocking=False)
    key = combine_keys(report.keys, report.dirs)
    graph = repo.graph
    dataset = name or dataset_for_path(repo, rel) or default_name(repo, rel)
    columns = _declared_columns(repo, dataset, {"label": label_column, "group": group_column,
                                                "time": time_column, "text": text_column})
    row = queries.dataset(graph, dataset)
    moved_from = _check_move(row, rel, move)
    current_decl = row.declarations if row else {}
    new_decl = {k: v for k, v in columns.items() if current_decl.get(k) != v}
    if (row and row.path == rel and not new_decl and not extra and row.latest_snapshot
            and tree_matches(repo, target, key, row.latest_snapshot, need_stored=store)):
        return SnapshotResult(row.latest_snapshot, dataset, row.latest_version, rel, kind,
                              count, total, 0, 0, True, store,
                              None, repo.git_state().to_dict(), warnings=report.warnings())
    previous = row.latest_snapshot if row and row.path == rel else None
    digests, new_objects, hashed = _digests(repo, target, folders, report, total=total, previous=previous,
                                            store=store, progress=progress, counter=counter)
    if count >= _TRIM_FILES:
        _trim_heap()  # what the hashing freed (reads, the batch's sets), before the manifest grows
    manifest = _manifest(kind, folders, digests, report.dirs)
    del folders, digests
    # its canonical bytes, written once: hashed, stored and (see _body_text) made the event's body
    encoded: bytearray | None = encode_into(bytearray(), kind, manifest.entries, manifest.dirs)
    sid = blake3.blake3(encoded).hexdigest()
    repo.store.put_bytes(encoded, sid)  # manifests are always kept, even with --no-store
    # that check loaded the set of every packed object (tens of MB for a store of a million
    # objects); nothing below reads it, so it is not held through the event's write
    repo.store.forget_packs()
    repo.stat_cache.set_tree(str(target), key if store else key + NOT_STORED, sid)
    if kind == "folder":  # per-folder stat keys: status then reads only the folders that change
        record_folders(repo.stat_cache, str(target), sid, report.keys, manifest.entries)
    git = repo.git_state()
    # what other features add (lineage.snapshots.hooks): their events go in with the snapshot's
    added = hooks.run(repo, _HookFiles(kind, rel, target, manifest.entries),  # type: ignore[arg-type]
                      {**current_decl, **columns}, progress=progress)
    _check_columns(rel, new_decl, hooks.columns(added))
    warnings = report.warnings() + hooks.warnings(added)  # links followed out, special files skipped
    if moved_from is not None:
        warnings.append(f"dataset {dataset!r} now points to {rel} (it was {moved_from})")
    if row and row.latest_snapshot == sid and not new_decl and row.path == rel and not extra:
        with graph.transaction():
            _append(repo, hooks.events(added))
        return SnapshotResult(sid, dataset, row.latest_version, rel, kind, count,
                              manifest.total_size, hashed, new_objects, True, store, None,
                              git.to_dict(), warnings=warnings)
    _faults.point("snapshot.before_event")  # objects and manifest stored, nothing recorded
    if count >= _TRIM_FILES:
        _trim_heap()  # the event's write holds the manifest's text three times at its peak
    with graph.transaction():
        # Decided again under the write lock: a concurrent snapshot of the same folder may
        # have recorded this content since we looked, and it must not become a second version.
        fresh = queries.dataset(graph, dataset)
        if fresh != row:
            row = fresh
            current_decl = row.declarations if row else {}
            new_decl = {k: v for k, v in columns.items() if current_decl.get(k) != v}
            hooks.refresh(graph, added)
            moved_from = _check_move(row, rel, move)
            if row and row.latest_snapshot == sid and not new_decl and row.path == rel and not extra:
                _append(repo, hooks.events(added))
                return SnapshotResult(sid, dataset, row.latest_version, rel, kind, count,
                                      manifest.total_size, hashed, new_objects, True, store,
                                      None, git.to_dict(), warnings=warnings)
        known = queries.snapshot_known(graph, sid)
        body: dict[str, Any] = {
            # free text, so credentials in it are masked like a command line's (lineage.core.redact)
            "snapshot_id": sid, "dataset": dataset, "path": rel, "message": _redact_text(message),
            "user": repo.user, "host": repo.host, "git": git.to_dict(), "stored": store,
        }
        if extra:
            body.update(extra)
        if moved_from is not None:
            body["moved_from"] = moved_from
        # the number this clone gives it; where another clone's record already has that
        # number, the record gets the next free one there (``lineage.log.registry._number``)
        body["version"] = (row.latest_version if row else 0) + 1
        if new_decl:
            graph.append("dataset.declare", {"name": dataset, "path": rel, "columns": new_decl},
                         actor=repo.user)
        _append(repo, hooks.events(added))  # the hooks' events (see above)
        # the manifest goes in as its canonical bytes, written once above, and reaches the
        # projector as rows: no dictionary per file
        text = _body_json(body, None) if known else _body_text(body, encoded)  # type: ignore[arg-type]
        encoded = None
        if not known:
            body["manifest"] = manifest.view()  # what projectors read; the JSON is `text`
        ev = graph.append("snapshot", body, actor=repo.user, body_json=text)
        del text
    version = queries.version_of_record(graph, ev.id)
    return SnapshotResult(sid, dataset, version, rel, kind, count, manifest.total_size,
                          hashed, new_objects, False, store, ev.time, git.to_dict(), ev.id,
                          warnings=warnings)


def _check_move(row: queries.DatasetRow | None, rel: str, move: bool) -> str | None:
    """The path ``row``'s name points to now, when this snapshot re-points it (``move``)."""
    if row is None or not row.path or row.path == rel:
        return None
    if not move:
        raise UsageError(f"dataset {row.name!r} is {row.path}, not {rel}: give --move to re-point "
                         f"the name, or another --name")
    return row.path


def _check_columns(rel: str, declared: dict[str, str], tables: dict[str, list[str]]) -> None:
    """Refuse a column declared now that none of the snapshot's tables has."""
    if not declared or not tables:
        return
    have = sorted({c for names in tables.values() for c in names})
    for key, col in sorted(declared.items()):
        if col not in have:
            shown = ", ".join(have[:20]) + (", ..." if len(have) > 20 else "")
            raise UsageError(f"declared {key} column {col!r} is not in {rel} (its columns: {shown})")


def _append(repo: Repo, additions: list[hooks.Addition]) -> None:
    for event_type, body in additions:
        repo.graph.append(event_type, body, actor=repo.user)
