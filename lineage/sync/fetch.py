"""Fetch and pull: merge a remote's events into the local log and download the objects
asked for, each verified against its BLAKE3 digest before it enters the local store.
``pull`` is fetch plus checkout. Downloads run in parallel, skip what is already here,
and resume after an interruption: nothing enters the store until it is complete.

    >>> lineage.sync.fetch.pull(repo)                       # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import partial
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3

from lineage import snapshots as snap
from lineage.core import faults as _faults
from lineage.core.paths import checked_destination
from lineage.core.progress import TransferMeter, TransferProgress
from lineage.errors import (ConflictError, CorruptObjectError, IntegrityError, MissingObjectError,
                            UnsafePathError)
from lineage.log import Event
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.store.packs import PackEntry, blob, coalesce
from lineage.store.backends import scheme_of
from lineage.store.durability import Durability
from lineage.store.remote import Inventory, RemoteStore
from lineage.sync import remotes
from lineage.sync.remotes import jobs, open_remote
from lineage.sync.wanted import wanted

#: Neighbouring objects in a pack closer than this are fetched in one range read.
RANGE_GAP = 256 * 1024
#: Pulled objects are journaled, not waited for (where the kernel names its boot): the
#: remote holds them, so a machine stop costs a second download, never a version.
PULLED = Durability.deferred


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
    #: datasets where another clone recorded versions concurrently: theirs got the next
    #: free numbers here, yours kept theirs (one line each in ``warnings``)
    diverged: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fetch_events(repo: Repo, rs: RemoteStore, inv: Inventory,
                 merged: list[str] | None = None) -> int:
    """Download the remote's events the local log lacks and merge them (their IDs are
    added to ``merged``)."""
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
            ev = Event.decode(data[e.offset:e.offset + e.length])
            if ev.id != e.digest:
                raise IntegrityError(f"event {e.digest[:12]} on remote {rs.remote.name!r} does not match its ID")
            events.append(ev)
            known.add(ev.id)
    if merged is not None:
        merged.extend(ev.id for ev in events)
    return repo.graph.ingest(events) if events else 0


def _diverged(repo: Repo, before: dict[str, tuple[int, str | None]],
              merged: list[str]) -> list[dict[str, Any]]:
    """Datasets where merged snapshot records collided with local version numbers.

    A record another clone numbered N, where this clone already had an N, keeps this
    clone's N and got the next free number here (``lineage.log.registry._number``).
    """
    theirs: dict[str, tuple[int, str]] = {}
    collided: set[str] = set()
    for name, version, sid, recorded in queries.records_of_events(repo.graph, merged):
        mine = before.get(name, (0, None))
        if recorded is not None and recorded <= mine[0] and version != recorded:
            collided.add(name)
        theirs[name] = (version, sid)
    out = []
    for name in sorted(collided):
        yours_v, yours_sid = before[name]
        v, sid = theirs[name]
        out.append({"dataset": name, "yours": {"version": yours_v, "snapshot": yours_sid},
                    "theirs": {"version": v, "snapshot": sid}})
    return out


def divergence_line(d: dict[str, Any]) -> str:
    name, yours, theirs = d["dataset"], d["yours"], d["theirs"]
    return (f"{name}: yours @{yours['version']} = {(yours['snapshot'] or '')[:6]}…, theirs "
            f"{theirs['snapshot'][:6]}… recorded as @{theirs['version']}; pick with "
            f"'lineage checkout {name}@{theirs['version']}' (theirs) or "
            f"'lineage checkout {name}@{yours['version']}' (yours), then 'lineage snapshot'")


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
    n_jobs = jobs(rs.remote)
    inv = rs.inventory(jobs=n_jobs)
    before = queries.dataset_latest(repo.graph)
    merged: list[str] = []
    events_received = fetch_events(repo, rs, inv, merged)
    diverged = _diverged(repo, before, merged) if merged else []
    _faults.point("fetch.events")  # the log names objects not downloaded yet
    digests, _ = wanted(repo, ids, paths)
    store = repo.store
    store.ensure()
    where = inv.locate()
    need = [d for d in sorted(digests) if not store.exists(d)]
    present = len(digests) - len(need)
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
    by_pack: dict[str, list[PackEntry]] = {}
    for d in need:
        if where[d][0] == "pack":
            pid, entry = where[d][1]
            by_pack.setdefault(pid, []).append(entry)
    ranges = [(pid, start, end, group) for pid, entries in sorted(by_pack.items())
              for start, end, group in coalesce(entries, RANGE_GAP)]
    total = sum(s for _, s in loose) + sum(e.length for es in by_pack.values() for e in es)
    meter = TransferMeter(total, len(need), progress)
    corrupt: list[str] = []
    lock = threading.Lock()

    def get_range(item: tuple[str, int, int, list[PackEntry]]) -> int:
        pid, start, end, group = item
        data = rs.read_range("packs", pid, start, end)
        got = 0
        with store.batch(durability=PULLED) as batch:
            for e in group:
                found = blob(data, e, start)
                if found is None:
                    with lock:
                        corrupt.append(e.digest)
                    continue
                batch.put_bytes(found, e.digest)
                got += e.length
        meter.add(sum(e.length for e in group), len(group))
        _faults.point("fetch.range")
        return got

    def get_loose(item: tuple[str, int]) -> int:
        d, size = item
        tmp = store._tmp_path()
        try:
            if rs.get_file(d, tmp, size=size, writeout=not store.defers_with(PULLED)) != d:
                with lock:
                    corrupt.append(d)
                return 0
            _faults.point("fetch.download")  # downloaded, not yet in the store
            store.install_downloaded(tmp, d, durability=PULLED)
            store.mark_verified(d)  # hashed on arrival: checkout copies it without a rehash
        finally:
            tmp.unlink(missing_ok=True)
        meter.add(size, 1)
        _faults.point("fetch.object")
        return size

    received = remotes.run_all(n_jobs, [partial(get_loose, it) for it in loose]
                               + [partial(get_range, it) for it in ranges])
    if corrupt:
        first = corrupt[0]
        raise CorruptObjectError(
            f"{len(corrupt)} object(s) on remote {rs.remote.name!r} are corrupt and were not stored "
            f"(object {first[:12]} in {_affected(repo, first)}); run 'lineage verify --remote "
            f"{rs.remote.name}'"
        )
    return FetchResult(rs.remote.name, rs.remote.url, events_received, len(need) - len(corrupt),
                       received, present, missing, rs.requests,
                       warnings=[divergence_line(d) for d in diverged], diverged=diverged)


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
    ids = list(ids or [])
    result = fetch(repo, ids, remote=remote, paths=paths, progress=progress)
    done: list[dict[str, Any]] = []
    warnings: list[str] = list(result.warnings)
    diverged = {d["dataset"] for d in result.diverged}
    if ids:
        for ref in ids:
            r = snap.checkout(repo, ref, dest, force=force, paths=paths or None)
            done.append({"id": r.id, "dest": r.dest, "written": len(r.written), "unchanged": r.unchanged})
        return FetchResult(**{**asdict(result), "checked_out": done})
    for ds in queries.tracked_datasets(repo.graph):
        if not ds.latest_snapshot or not ds.path or ds.name in diverged:
            continue  # a diverged dataset stays as it is until the user picks (see warnings)
        if scheme_of(ds.path) != "file":
            continue  # recorded by reference (s3://...): its bytes stay where they live
        try:
            where = checked_destination(repo, ds.path, recorded=True)
            r = snap.checkout(repo, ds.latest_snapshot, where, force=force)
        except (UnsafePathError, ConflictError) as exc:
            warnings.append(f"dataset {ds.name!r} not checked out: {exc}")
            continue
        except MissingObjectError:
            continue  # bytes never stored (--no-store); nothing to write
        if r.written:
            done.append({"id": r.id, "dest": r.dest, "written": len(r.written), "unchanged": r.unchanged})
    return FetchResult(**{**asdict(result), "checked_out": done, "warnings": warnings})
