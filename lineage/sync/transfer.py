"""Push, fetch and pull: moving objects and events between the local store and a remote.

``push`` sends every object the remote lacks (small ones packed, large ones one by
one), then the events the remote lacks. ``fetch`` merges the remote's events into
the local log and downloads the objects asked for, verifying each against its
BLAKE3 digest before it enters the local store. ``pull`` is fetch plus checkout.
Transfers run in parallel, skip what is already there, and resume after an
interruption because nothing becomes visible until it is complete.

    >>> lineage.sync.transfer.push(repo)                    # doctest: +SKIP
    PushResult(remote='origin', objects_sent=20000, ...)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3

from lineage.core import faults as _faults
from lineage.sync import remotes
from lineage.errors import CorruptObjectError, IntegrityError, MissingObjectError, RemoteError
from lineage.log import Event
from lineage.snapshots import queries
from lineage.log.references import referenced_digests
from lineage.repo import Repo
from lineage.store.packs import PackWriter, coalesce
from lineage.store.remote import Inventory, RemoteStore
from lineage.sync.verify import ObjectProblem, VerifyReport

#: Objects below this size travel in packs.
SMALL_OBJECT = 512 * 1024
#: Target size of one pack file.
PACK_SIZE = 8 * 1024 * 1024
#: Neighbouring objects in a pack closer than this are fetched in one range read.
RANGE_GAP = 256 * 1024

#: ``progress(done_bytes, total_bytes, done_objects, total_objects)``
TransferProgress = Callable[[int, int, int, int], None]


class _Meter:
    """Thread-safe progress accounting."""

    def __init__(self, total_bytes: int, total_objects: int, cb: TransferProgress | None):
        self.total_bytes, self.total_objects = total_bytes, total_objects
        self.bytes = self.objects = 0
        self._cb = cb
        self._lock = threading.Lock()

    def add(self, nbytes: int, nobjects: int) -> None:
        with self._lock:
            self.bytes += nbytes
            self.objects += nobjects
            if self._cb:
                self._cb(self.bytes, self.total_bytes, self.objects, self.total_objects)


@dataclass(frozen=True)
class PushResult:
    remote: str
    url: str
    objects_sent: int
    bytes_sent: int
    packs_sent: int
    events_sent: int
    objects_present: int
    not_in_local_store: int
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FetchResult:
    remote: str
    url: str
    events_received: int
    objects_received: int
    bytes_received: int
    objects_present: int
    missing_on_remote: list[str]
    requests: int
    checked_out: list[dict[str, Any]] = field(default_factory=list)
    #: datasets pull did not check out, and why (the CLI prints them on stderr)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _jobs(remote: remotes.Remote) -> int:
    return int(remote.options.get("jobs", 4 if remote.scheme == "file" else 16))


def open_remote(repo: Repo, name: str | None = None) -> RemoteStore:
    remote = remotes.get(repo, name)
    return RemoteStore(remote, repo.dir / "cache" / "remotes")


def _wanted(repo: Repo, ids: Iterable[str] | None, paths: list[str] | None = None) -> tuple[set[str], list[str]]:
    """(digests, snapshot IDs) for the given references, or everything the log references."""
    from lineage import snapshots as snap

    ids = list(ids or [])
    if not ids:
        if paths:
            from lineage.errors import UsageError

            raise UsageError("--path needs a snapshot ID or dataset name")
        return referenced_digests(repo.graph), []
    digests: set[str] = set()
    sids: list[str] = []
    for ref in ids:
        sid = snap.resolve(repo, ref)
        sids.append(sid)
        digests.add(sid)
        manifest = snap.load_manifest(repo, sid)
        entries = manifest.entries
        if paths:
            wanted = [p.strip("/") for p in paths]
            entries = tuple(e for e in entries if any(e.path == p or e.path.startswith(p + "/") for p in wanted))
            if not entries:
                from lineage.errors import UnknownRefError

                raise UnknownRefError(f"none of {sorted(wanted)} is in snapshot {sid[:12]}")
        digests.update(e.digest for e in entries)
    return digests, sids


# -- push -------------------------------------------------------------------------

def push(repo: Repo, ids: Iterable[str] | None = None, *, remote: str | None = None,
         progress: TransferProgress | None = None) -> PushResult:
    """Send the objects the remote lacks, then the events it lacks."""
    rs = open_remote(repo, remote)
    jobs = _jobs(rs.remote)
    pack_size = int(rs.remote.options.get("pack_size", PACK_SIZE))
    wanted, _ = _wanted(repo, ids)
    rs.ensure()
    inv = rs.inventory(jobs=jobs)
    store = repo.store
    todo: list[tuple[str, int]] = []
    not_local = present = 0
    stored = set(queries.stored_file_digests(repo.graph)) | set(queries.snapshot_ids(repo.graph))
    for d in sorted(wanted):
        if inv.has(d):
            present += 1
            continue
        try:
            todo.append((d, store.size(d)))
        except (MissingObjectError, FileNotFoundError):
            not_local += d in stored  # bytes of --no-store snapshots were never kept anywhere
    small = [(d, s) for d, s in todo if s < min(SMALL_OBJECT, pack_size)]
    large = [(d, s) for d, s in todo if s >= min(SMALL_OBJECT, pack_size)]
    meter = _Meter(sum(s for _, s in todo), len(todo), progress)

    groups: list[list[tuple[str, int]]] = []
    for d, s in small:
        if not groups or sum(x for _, x in groups[-1]) + s > pack_size:
            groups.append([])
        groups[-1].append((d, s))

    def send_pack(group: list[tuple[str, int]]) -> int:
        writer = PackWriter()
        for d, _ in group:
            writer.add(d, _local_bytes(store, d))
        pack, idx, pid = writer.finish()
        rs.put_pack("packs", pack, idx, pid)
        meter.add(len(pack) - 8, len(group))
        _faults.point("push.pack")
        return len(pack)

    def send_large(item: tuple[str, int]) -> int:
        d, s = item
        if store.is_loose(d):
            rs.put_file(d, os.fspath(store.path(d)), part_concurrency=part_concurrency)
        else:
            rs.write_bytes(rs.object_path(d), _local_bytes(store, d))
        meter.add(s, 1)
        _faults.point("push.object")
        return s

    # many files at once: one part each in flight; a lone large file: several parts
    part_concurrency = max(1, min(8, jobs // (4 * max(1, len(large)))))
    sent_bytes = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(send_large, it) for it in large]
        futures += [pool.submit(send_pack, g) for g in groups]
        for f in futures:
            sent_bytes += f.result()

    # events go last: a clone that sees an event can also find its objects
    _faults.point("push.events")
    events_sent = _push_events(repo, rs)
    return PushResult(rs.remote.name, rs.remote.url, len(todo), sent_bytes, len(groups), events_sent,
                      present, not_local, rs.requests)


def _local_bytes(store: Any, digest: str) -> bytes:
    try:
        return store.read_bytes(digest)  # verified: corruption is not spread to the remote
    except CorruptObjectError:
        raise CorruptObjectError(f"local object {digest[:12]} is corrupt; run 'lineage verify' "
                                 "before pushing") from None


def _push_events(repo: Repo, rs: RemoteStore, inv: Inventory | None = None) -> int:
    remote_ids = (inv or rs.inventory(objects=False)).event_ids()
    missing = [ev for ev in repo.graph.events() if ev.id not in remote_ids]
    if not missing:
        return 0
    writer = PackWriter()
    for ev in missing:
        writer.add(ev.id, ev.encode())
    pack, idx, pid = writer.finish()
    rs.put_pack("events", pack, idx, pid)
    return len(missing)


# -- fetch / pull -----------------------------------------------------------------

def _fetch_events(repo: Repo, rs: RemoteStore, inv: Inventory) -> int:
    """Download the remote's events the local log lacks and merge them."""
    known = repo.graph.event_ids()
    events: list[Event] = []
    for pid, idx in sorted(inv.events.items()):
        need = [e for e in idx.entries if e.digest not in known]
        if not need:
            continue
        data = rs.read_pack("events", pid)
        if blake3.blake3(data).hexdigest() != idx.pack_digest:
            raise CorruptObjectError(f"event pack {pid[:12]} on remote {rs.remote.name!r} is corrupt")
        for e in need:
            raw = data[e.offset:e.offset + e.length]
            ev = Event.decode(raw)
            if ev.id != e.digest:
                raise IntegrityError(f"event {e.digest[:12]} on remote {rs.remote.name!r} does not match its ID")
            events.append(ev)
            known.add(ev.id)
    return repo.graph.ingest(events) if events else 0


def _affected(repo: Repo, digest: str) -> str:
    hits = queries.files_with_digest(repo.graph, digest, limit=6)
    if queries.snapshot_known(repo.graph, digest):
        return f"the manifest of snapshot {digest[:12]}"
    if not hits:
        return "no recorded snapshot"
    snaps = sorted({s[:12] for s, _ in hits})
    files = ", ".join(p for _, p in hits[:5]) + (" ..." if len(hits) > 5 else "")
    return f"snapshot {', '.join(snaps)}: {files}"


def fetch(repo: Repo, ids: Iterable[str] | None = None, *, remote: str | None = None,
          paths: list[str] | None = None, progress: TransferProgress | None = None) -> FetchResult:
    """Merge the remote's events, then download (and verify) the objects asked for."""
    with repo.store.writing():  # gc must not clear the downloads' temporary files
        return _fetch(repo, ids, remote=remote, paths=paths, progress=progress)


def _fetch(repo: Repo, ids: Iterable[str] | None, *, remote: str | None,
           paths: list[str] | None, progress: TransferProgress | None) -> FetchResult:
    ids = list(ids or [])
    rs = open_remote(repo, remote)
    jobs = _jobs(rs.remote)
    inv = rs.inventory(jobs=jobs)
    events_received = _fetch_events(repo, rs, inv)
    _faults.point("fetch.events")  # the log names objects not downloaded yet
    wanted, _ = _wanted(repo, ids, paths)
    store = repo.store
    store.ensure()
    where = inv.locate()
    need = [d for d in sorted(wanted) if not store.exists(d)]
    present = len(wanted) - len(need)
    expected = set(queries.stored_file_digests(repo.graph)) | set(queries.snapshot_ids(repo.graph))
    missing = sorted(d for d in need if d not in where and d in expected)
    if missing and ids:
        first = missing[0]
        raise MissingObjectError(
            f"{len(missing)} object(s) asked for are on neither this machine nor remote "
            f"{rs.remote.name!r} (object {first[:12]} in {_affected(repo, first)})"
        )
    need = [d for d in need if d in where]

    loose = [(d, where[d][1]) for d in need if where[d][0] == "loose"]
    by_pack: dict[str, list[Any]] = {}
    for d in need:
        if where[d][0] == "pack":
            pid, entry = where[d][1]
            by_pack.setdefault(pid, []).append(entry)
    ranges = [(pid, start, end, group) for pid, entries in sorted(by_pack.items())
              for start, end, group in coalesce(entries, RANGE_GAP)]
    total = sum(s for _, s in loose) + sum(e.length for es in by_pack.values() for e in es)
    meter = _Meter(total, len(need), progress)
    corrupt: list[str] = []
    lock = threading.Lock()

    def get_range(item: tuple[str, int, int, list[Any]]) -> int:
        pid, start, end, group = item
        data = rs.read_range("packs", pid, start, end)
        got = 0
        with store.batch() as batch:
            for e in group:
                blob = data[e.offset - start:e.offset - start + e.length]
                if len(blob) != e.length or blake3.blake3(blob).hexdigest() != e.digest:
                    with lock:
                        corrupt.append(e.digest)
                    continue
                batch.put_bytes(blob, e.digest)
                got += e.length
        meter.add(sum(e.length for e in group), len(group))
        _faults.point("fetch.range")
        return got

    def get_loose(item: tuple[str, int]) -> int:
        d, size = item
        tmp = store._tmp_path()
        try:
            if rs.get_file(d, tmp, part_concurrency=part_concurrency) != d:
                with lock:
                    corrupt.append(d)
                return 0
            _faults.point("fetch.download")  # downloaded, not yet in the store
            store._install(tmp, d)
        finally:
            tmp.unlink(missing_ok=True)
        meter.add(size, 1)
        _faults.point("fetch.object")
        return size

    part_concurrency = max(1, min(8, jobs // (4 * max(1, len(loose)))))
    received = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(get_loose, it) for it in loose]
        futures += [pool.submit(get_range, it) for it in ranges]
        for f in futures:
            received += f.result()
    if corrupt:
        first = corrupt[0]
        raise CorruptObjectError(
            f"{len(corrupt)} object(s) on remote {rs.remote.name!r} are corrupt and were not stored "
            f"(object {first[:12]} in {_affected(repo, first)}); run 'lineage verify --remote "
            f"{rs.remote.name}'"
        )
    return FetchResult(rs.remote.name, rs.remote.url, events_received, len(need) - len(corrupt),
                       received, present, missing, rs.requests)


def pull(repo: Repo, ids: Iterable[str] | None = None, *, remote: str | None = None,
         paths: list[str] | None = None, dest: str | None = None, force: bool = False,
         progress: TransferProgress | None = None) -> FetchResult:
    """Fetch, then check out: the snapshots named (at their recorded path or ``dest``), or,
    with no IDs, the latest snapshot of every tracked dataset, wherever the workspace
    differs from it (so a rerun finishes an interrupted pull).

    A dataset recorded outside the work tree (an absolute path, ``..``, ``.git/``,
    ``.lineage/``, a symlink leading out) is never written: it is skipped with a
    warning. So is a dataset with local edits (unless ``force``): a conflict.
    """
    from lineage import snapshots as snap
    from lineage.errors import ConflictError, UnsafePathError
    from lineage.core.paths import checked_destination

    ids = list(ids or [])
    result = fetch(repo, ids, remote=remote, paths=paths, progress=progress)
    done: list[dict[str, Any]] = []
    warnings: list[str] = []
    if ids:
        for ref in ids:
            r = snap.checkout(repo, ref, dest, force=force, paths=paths or None)
            done.append({"id": r.id, "dest": r.dest, "written": len(r.written), "unchanged": r.unchanged})
        return FetchResult(**{**asdict(result), "checked_out": done})
    for ds in queries.tracked_datasets(repo.graph):
        if not ds.latest_snapshot or not ds.path:
            continue
        try:
            where = checked_destination(repo, ds.path, recorded=True)
            r = snap.checkout(repo, ds.latest_snapshot, where, force=force)
        except UnsafePathError as exc:
            warnings.append(f"dataset {ds.name!r} not checked out: {exc}")
            continue
        except ConflictError as exc:
            warnings.append(f"dataset {ds.name!r} not checked out: {exc}")
            continue
        except MissingObjectError:
            continue  # bytes never stored (--no-store); nothing to write
        if r.written:
            done.append({"id": r.id, "dest": r.dest, "written": len(r.written), "unchanged": r.unchanged})
    return FetchResult(**{**asdict(result), "checked_out": done, "warnings": warnings})


# -- remote verification ----------------------------------------------------------

def verify_remote(repo: Repo, remote: str | None = None, *,
                  progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Download and rehash everything on the remote; check every snapshot the log
    references is there. Problems name the snapshots and files affected."""
    rs = open_remote(repo, remote)
    jobs = _jobs(rs.remote)
    inv = rs.inventory(jobs=jobs)
    if not (inv.packs or inv.events or inv.loose):
        # "OK: 0 objects" would read as a healthy remote
        raise RemoteError(f"remote {rs.remote.name!r} ({rs.remote.url}) is empty: nothing has "
                          "been pushed there")
    log: list[str] = []
    _fetch_events(repo, rs, inv)
    total = sum(inv.loose.values()) + sum(i.pack_size for i in inv.packs.values()) \
        + sum(i.pack_size for i in inv.events.values())
    done = [0]
    lock = threading.Lock()
    bad: dict[str, str] = {}

    def tick(n: int) -> None:
        with lock:
            done[0] += n
            if progress:
                progress(done[0], total)

    def check_pack(kind: str, pid: str) -> None:
        idx = (inv.packs if kind == "packs" else inv.events)[pid]
        try:
            data = rs.read_pack(kind, pid)
        except FileNotFoundError:
            with lock:
                for e in idx.entries:
                    bad.setdefault(e.digest, "missing")
            return
        if blake3.blake3(data).hexdigest() != idx.pack_digest:
            for e in idx.entries:
                blob = data[e.offset:e.offset + e.length]
                if len(blob) != e.length or blake3.blake3(blob).hexdigest() != e.digest:
                    with lock:
                        if kind == "events":
                            log.append(f"event {e.digest[:12]} in pack {pid[:12]} is corrupt")
                        else:
                            bad.setdefault(e.digest, "corrupt")
        tick(len(data))

    def check_loose(d: str) -> None:
        try:
            ok = rs.hash_loose(d) == d
        except FileNotFoundError:
            ok = False
        if not ok:
            with lock:
                bad[d] = "corrupt"
        tick(inv.loose[d])

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(check_pack, "packs", pid) for pid in inv.packs]
        futures += [pool.submit(check_pack, "events", pid) for pid in inv.events]
        futures += [pool.submit(check_loose, d) for d in inv.loose]
        for f in futures:
            f.result()
    expected = set(queries.stored_file_digests(repo.graph)) | set(queries.snapshot_ids(repo.graph))
    problems: list[ObjectProblem] = []
    for d in sorted(set(bad) | (expected - set(inv.locate()))):
        kind = bad.get(d, "missing")
        if d not in expected and kind == "missing":
            continue
        hits = queries.files_with_digest(repo.graph, d)
        snaps = sorted({s for s, _ in hits})
        files = [p for _, p in hits]
        if queries.snapshot_known(repo.graph, d):
            snaps.append(d)
            files.append("(manifest)")
        problems.append(ObjectProblem(d, kind, snaps, files))
    return VerifyReport(inv.object_count, total, len(inv.event_ids()), problems, log, rs.remote.name)
