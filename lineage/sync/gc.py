"""Garbage collection: remove objects that nothing in the event log references.

What is kept comes from one place, ``lineage.log.references.referenced_digests``
(snapshot manifests and files, plus whatever other modules register, such as
derived objects). A dry run lists what a real run
would remove. On a remote, the remote's events are merged first, so objects another
clone recorded are never taken for garbage; packs whose objects are all unreferenced
are removed (index first, which hides the pack at once), packs that are mostly
garbage are rewritten, and pack data and multipart uploads left by an interrupted push
are removed. On a
remote, unreferenced data younger than an hour (``grace``) is left alone: a push in
progress uploads objects before the events that reference them.

    >>> lineage.sync.gc.collect(repo, dry_run=True)          # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from lineage.core import faults as _faults
from lineage.errors import MissingObjectError, UsageError
from lineage.log.references import referenced_digests
from lineage.repo import Repo
from lineage.store.packs import PackWriter
from lineage.sync.fetch import fetch_events
from lineage.sync.remotes import jobs, open_remote

#: Unreferenced remote data younger than this may belong to a push in progress (a push
#: uploads objects before the events that reference them), so it is left alone.
GRACE = 3600.0
#: Remote paths removed per request (S3's DeleteObjects takes at most 1000).
_DELETE_BATCH = 1000


@dataclass(frozen=True)
class Removed:
    digest: str
    size: int
    where: str  # object | pack | orphan | upload (an abandoned multipart upload)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GcResult:
    target: str
    dry_run: bool
    removed: list[Removed]
    removed_bytes: int
    kept: int
    packs_rewritten: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["removed_count"] = len(self.removed)
        return d


def collect(repo: Repo, *, dry_run: bool = False, remote: str | None = None,
            grace: float = GRACE) -> GcResult:
    """Remove unreferenced objects from the local store, or from ``remote``.

    On a remote, unreferenced data younger than ``grace`` seconds is kept.
    """
    if grace < 0:
        raise UsageError("--grace must not be negative")
    if remote is not None:
        return _collect_remote(repo, remote, dry_run=dry_run, grace=grace)
    with repo.store.collecting():
        return _collect_local(repo, dry_run=dry_run)


def _collect_local(repo: Repo, *, dry_run: bool) -> GcResult:
    keep = referenced_digests(repo.graph)
    store = repo.store
    removed: list[Removed] = []
    kept = 0
    for d in store.iter_digests():
        if d in keep:
            kept += 1
            continue
        try:
            size = store.size(d)
        except (FileNotFoundError, MissingObjectError):
            continue
        removed.append(Removed(d, size, "object"))
    if not dry_run:
        store.remove(r.digest for r in removed)
        store.clean_tmp()
    return GcResult("local", dry_run, removed, sum(r.size for r in removed), kept)


def _collect_remote(repo: Repo, name: str | None, *, dry_run: bool, grace: float) -> GcResult:
    rs = open_remote(repo, name)
    inv = rs.inventory(jobs=jobs(rs.remote))
    fetch_events(repo, rs, inv)  # never collect what another clone recorded
    keep = referenced_digests(repo.graph)
    removed: list[Removed] = []
    kept = 0
    doomed_paths: list[str] = []
    doomed_orphans: list[str] = []
    now = time.time()

    def young(path: str) -> bool:
        t = inv.mtimes.get(path)
        return t is None or now - t < grace  # unknown age counts as young

    for d, size in sorted(inv.loose.items()):
        if d in keep or (grace and young(rs.object_path(d))):
            kept += 1
        else:
            removed.append(Removed(d, size, "object"))
            doomed_paths.append(rs.object_path(d))
    rewritten = 0
    seen_kept: set[str] = set(d for d in inv.loose if d in keep)
    written: set[str] = set()
    for pid, idx in sorted(inv.packs.items()):
        if pid in written:
            # a rewrite just produced this pack again (a killed gc had written it): it
            # holds the live objects claimed from the old pack, so it stays
            continue
        live = [e for e in idx.entries if e.digest in keep and e.digest not in seen_kept]
        dead = [e for e in idx.entries if e not in live]
        seen_kept.update(e.digest for e in live)
        kept += len(live)
        if not dead or (grace and young(rs.pack_path("packs", pid, "pack"))):
            continue
        garbage = sum(e.length for e in dead)
        if live and garbage * 2 < idx.pack_size:
            continue  # mostly live: rewriting would cost more than it frees
        removed.extend(Removed(e.digest, e.length, "pack") for e in dead
                       if e.digest not in keep)
        if dry_run:
            rewritten += bool(live)
            continue
        if live:
            data = rs.read_pack("packs", pid)
            writer = PackWriter()
            for e in live:
                writer.add(e.digest, data[e.offset:e.offset + e.length])
            pack, new_idx, new_pid = writer.finish()
            rs.put_pack("packs", pack, new_idx, new_pid)  # the new pack exists before the old goes
            written.add(new_pid)
            rewritten += 1
            _faults.point("gc.remote.rewrite")  # live objects in two packs until the old goes
        rs.remove([rs.pack_path("packs", pid, "idx")])
        _faults.point("gc.remote.pack")  # pack data without an index: an orphan, removed later
        rs.remove([rs.pack_path("packs", pid, "pack")])
    for path in inv.orphans:
        if grace and young(path):
            continue
        removed.append(Removed(os.path.basename(path), 0, "orphan"))
        doomed_orphans.append(path)
    # multipart uploads of a killed push: never visible, but they hold their parts' space
    abandoned = [(key, uid) for key, uid, started in rs.incomplete_uploads()
                 if not grace or (started is not None and now - started >= grace)]
    removed.extend(Removed("".join(key.rsplit("/", 2)[-2:]), 0, "upload") for key, _ in abandoned)
    if not dry_run:
        # loose objects first, then orphans, a batch at a time: a crash between batches
        # leaves garbage only, which the next gc finds again
        for paths in (doomed_paths, doomed_orphans):
            for start in range(0, len(paths), _DELETE_BATCH):
                rs.remove(paths[start:start + _DELETE_BATCH])
                _faults.point("gc.remote.delete")
        for key, uid in abandoned:
            rs.abort_upload(key, uid)
    return GcResult(rs.remote.name, dry_run, removed, sum(r.size for r in removed), kept, rewritten)
