"""Creating a snapshot: walk, hash what the stat cache cannot vouch for, store, record.

``create`` stores new objects in one batch, stores the manifest, runs the snapshot
hooks (``lineage.snapshots.hooks``: tabular metadata, plug-ins) and records one
``snapshot`` event with the hooks' events. Nothing is recorded until every object is
safely in place, so an interrupted snapshot leaves neither a half-written object nor
a half-recorded snapshot.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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
from lineage.snapshots.manifest import Entry, Manifest
from lineage.snapshots.scan import (NOT_STORED, FoundFile, ScanReport, check_names, remove_stale_temps,
                                    record_folders, scan, tree_key, tree_matches)
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

def _digests(
    repo: Repo,
    target: Path,
    files: list[FoundFile],
    report: ScanReport,
    *,
    previous: str | None,
    store: bool,
    progress: Progress | None,
    counter: HashCounter | None,
) -> tuple[list[str], int, list[tuple[str, FileStat, str]]]:
    """Digest of every file (in ``files``' order), storing new objects in one batch.

    Folder by folder (``report.spans``): a folder whose stat key is the one the folder
    index recorded for ``previous`` (the dataset's latest snapshot) takes that
    snapshot's entries whole, and when ``previous`` was stored its objects are known to
    be there; any other folder reads its own stat-cache row. Only what neither vouches
    for is read and hashed, so a re-snapshot costs in proportion to the change.

    Small files are read once, hashed and appended to the batch's pack in this
    thread: for files of a few KB the work is per-call overhead that threads only
    add to. Large files are hashed in parallel (BLAKE3 and reads release the GIL)
    and copied in the kernel.
    """
    cache = repo.stat_cache
    digests: list[str] = [""] * len(files)
    index: dict[str, tuple[str, str]] = {}
    prev_stored = False
    if previous is not None and files:
        known = cache.folders(str(target))
        if known is not None and known[0] == previous:
            index = known[1]
            prev_stored = queries.snapshot_stored(repo.graph, previous)
    keys = report.keys
    spans = report.spans if report.spans and report.spans[-1][2] == len(files) else [("", 0, len(files))]
    misses: list[int] = []
    check: list[int] = []  # cache hits whose object may be missing (e.g. after --no-store)
    for prefix, start, end in spans:
        recorded = index.get(prefix)
        if recorded is not None and recorded[0] and recorded[0] == keys.get(prefix):
            entries = cache.folder_entries(recorded[1])
            cut = len(prefix)
            for i in range(start, end):
                e = entries.get(files[i][0][cut:])
                if e is None:
                    break
                digests[i] = e[1].hex()
            else:
                if store and not prev_stored:
                    check.extend(range(start, end))
                continue
        if start == end:
            continue
        by_name = cache.stat_folder(os.path.dirname(files[start].abspath))
        for i in range(start, end):
            f = files[i]
            hit = by_name.get(f.abspath.rpartition("/")[2]) if by_name else None
            if hit is not None and hit[0] == f.stat:
                digests[i] = hit[1]
                check.append(i)
            else:
                misses.append(i)
    link = repo.link_mode
    total = sum(f.size for f in files)
    miss_bytes = sum(files[i].size for i in misses)
    done = total - miss_bytes
    updates: list[tuple[str, FileStat, str]] = []
    ostore = repo.store
    small = [i for i in misses if files[i].size <= SMALL_FILE]
    large = [i for i in misses if files[i].size > SMALL_FILE]
    if progress and total:
        progress(done, total)

    with ostore.batch() as batch:
        if store:
            for i in check:
                if not ostore.exists(digests[i]):
                    batch.put_file(files[i].abspath, digests[i], link)

        for n, i in enumerate(small):
            f = files[i]
            try:
                with open(f.abspath, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                raise PathError(f"file vanished while hashing: {f.abspath}") from None
            except OSError as exc:
                raise PathError(f"cannot read {f.abspath}: {exc.strerror}") from None
            digest = blake3.blake3(data).hexdigest()
            if store:
                batch.put_bytes(data, digest)
            digests[i] = digest
            updates.append((f.abspath, f.stat, digest))
            done += f.size
            if progress and n % 256 == 0:
                progress(done, total)

        def one(i: int) -> tuple[int, str]:
            f = files[i]
            if store and link is LinkMode.copy:  # read once: hashed while copied into the store
                return i, batch.hash_and_put_file(f.abspath)
            digest = hash_file(f.abspath, f.size)
            if store:
                batch.put_file(f.abspath, digest, link)
            return i, digest

        if large:
            workers = min(4, os.cpu_count() or 1, len(large))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for i, digest in pool.map(one, large):
                    f = files[i]
                    digests[i] = digest
                    updates.append((f.abspath, f.stat, digest))
                    done += f.size
                    if progress:
                        progress(done, total)
        if progress and total:
            progress(total, total)
    if counter is not None:
        counter.files += len(misses)
        counter.bytes += miss_bytes
    return digests, batch.written, updates


class _HookFiles(Sequence[tuple[str, str, str]]):
    """(path in the repository, abspath, digest) of each file, made as a hook reads them
    rather than held as a list of a million tuples."""

    def __init__(self, kind: str, rel: str, files: list[FoundFile], digests: list[str]) -> None:
        self._kind, self._rel, self._files, self._digests = kind, rel, files, digests

    def __len__(self) -> int:
        return len(self._files)

    def _path(self, f: FoundFile) -> str:
        if self._kind == "file":
            return self._rel
        return f.rel if self._rel == "." else f"{self._rel}/{f.rel}"

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        f = self._files[i]
        return self._path(f), f.abspath, self._digests[i]

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        for f, d in zip(self._files, self._digests):
            yield self._path(f), f.abspath, d


def _body_json(body: dict[str, Any], manifest: str | None) -> str:
    """The canonical JSON of ``body`` with ``manifest`` (its canonical bytes) as the
    value of ``"manifest"``: the top-level keys in sorted order, as ``canonical.dumps``
    writes them, around a manifest encoded once."""
    parts = []
    for k in sorted([*body, "manifest"] if manifest is not None else body):
        value = manifest if k == "manifest" and manifest is not None else (
            _canonical.dumps(body[k]).decode("utf-8"))
        parts.append(_canonical.dumps(k).decode("utf-8") + ":" + value)
    return "{" + ",".join(parts) + "}"


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
    kind, files = scan(target, report)
    check_names(kind, rel, files, report.dirs)
    remove_stale_temps(repo, report.temps, blocking=False)
    key = tree_key(files, report)
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
                              len(files), sum(f.size for f in files), 0, 0, True, store,
                              None, repo.git_state().to_dict(), warnings=report.warnings())
    previous = row.latest_snapshot if row and row.path == rel else None
    digests, new_objects, updates = _digests(repo, target, files, report, previous=previous,
                                             store=store, progress=progress, counter=counter)
    manifest = Manifest.build(kind, [Entry(f[0], f[2][2], d, f[3]) for f, d in zip(files, digests)],
                              report.dirs)
    encoded = manifest.encode()
    sid = blake3.blake3(encoded).hexdigest()
    repo.store.put_bytes(encoded, sid)  # manifests are always kept, even with --no-store
    manifest_json: str | None = encoded.decode("utf-8")  # what the event body embeds
    del encoded
    repo.stat_cache.update(updates)
    repo.stat_cache.set_tree(str(target), key if store else key + NOT_STORED, sid)
    if kind == "folder":  # per-folder stat keys: status then reads only the folders that change
        record_folders(repo.stat_cache, str(target), sid, report.keys, manifest.entries)
    git = repo.git_state()
    # what other features add (lineage.snapshots.hooks): their events go in with the snapshot's
    added = hooks.run(repo, _HookFiles(kind, rel, files, digests),  # type: ignore[arg-type]
                      {**current_decl, **columns}, progress=progress)
    del digests  # the manifest holds them now
    _check_columns(rel, new_decl, hooks.columns(added))
    warnings = report.warnings() + hooks.warnings(added)  # links followed out, special files skipped
    if moved_from is not None:
        warnings.append(f"dataset {dataset!r} now points to {rel} (it was {moved_from})")
    if row and row.latest_snapshot == sid and not new_decl and row.path == rel and not extra:
        with graph.transaction():
            _append(repo, hooks.events(added))
        return SnapshotResult(sid, dataset, row.latest_version, rel, kind, len(files),
                              manifest.total_size, len(updates), new_objects, True, store, None,
                              git.to_dict(), warnings=warnings)
    _faults.point("snapshot.before_event")  # objects and manifest stored, nothing recorded
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
                return SnapshotResult(sid, dataset, row.latest_version, rel, kind, len(files),
                                      manifest.total_size, len(updates), new_objects, True, store,
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
        text = _body_json(body, None if known else manifest_json)
        manifest_json = None
        if not known:
            body["manifest"] = manifest.view()  # what projectors read; the JSON is `text`
        ev = graph.append("snapshot", body, actor=repo.user, body_json=text)
        del text
    version = queries.version_of_record(graph, ev.id)
    return SnapshotResult(sid, dataset, version, rel, kind, len(files), manifest.total_size,
                          len(updates), new_objects, False, store, ev.time, git.to_dict(), ev.id,
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
