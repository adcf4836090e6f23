"""Push: send the objects a remote lacks (small ones packed, large ones one by one), then
the events it lacks. Nothing becomes visible on the remote until it is complete, so an
interrupted push simply resumes.

    >>> lineage.sync.push.push(repo)                        # doctest: +SKIP
    PushResult(remote='origin', objects_sent=20000, ...)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import partial
from dataclasses import asdict, dataclass
from typing import Any

from lineage.core import faults as _faults
from lineage.core.progress import TransferMeter, TransferProgress
from lineage.errors import CorruptObjectError, MissingObjectError
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.store.objects import ObjectStore
from lineage.store.packs import HEADER, PackWriter
from lineage.store.remote import Inventory, RemoteStore
from lineage.sync import remotes
from lineage.sync.remotes import jobs, open_remote
from lineage.sync.wanted import wanted

#: Objects below this size travel in packs.
SMALL_OBJECT = 512 * 1024
#: Target size of one pack file.
PACK_SIZE = 8 * 1024 * 1024


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


def push(repo: Repo, ids: Iterable[str] | None = None, *, remote: str | None = None,
         progress: TransferProgress | None = None) -> PushResult:
    """Send the objects the remote lacks, then the events it lacks."""
    rs = open_remote(repo, remote)
    n_jobs = jobs(rs.remote)
    pack_size = int(rs.remote.options.get("pack_size", PACK_SIZE))
    digests, _ = wanted(repo, ids)
    rs.ensure()
    inv = rs.inventory(jobs=n_jobs)
    store = repo.store
    todo: list[tuple[str, int]] = []
    not_local = present = 0
    stored = set(queries.stored_file_digests(repo.graph)) | set(queries.snapshot_ids(repo.graph))
    for d in sorted(digests):
        if inv.has(d):
            present += 1
            continue
        try:
            todo.append((d, store.size(d)))
        except (MissingObjectError, FileNotFoundError):
            not_local += d in stored  # bytes of --no-store snapshots were never kept anywhere
    small = [(d, s) for d, s in todo if s < min(SMALL_OBJECT, pack_size)]
    large = [(d, s) for d, s in todo if s >= min(SMALL_OBJECT, pack_size)]
    meter = TransferMeter(sum(s for _, s in todo), len(todo), progress)

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
        meter.add(len(pack) - HEADER, len(group))
        _faults.point("push.pack")
        return len(pack)

    def send_large(item: tuple[str, int]) -> int:
        d, s = item
        if store.is_loose(d):
            rs.put_file(d, os.fspath(store.path(d)))
        else:
            rs.write_bytes(rs.object_path(d), _local_bytes(store, d))
        meter.add(s, 1)
        _faults.point("push.object")
        return s

    # a large file goes up in parts; all uploads share one budget of parts in flight
    sent_bytes = remotes.run_all(n_jobs, [partial(send_large, it) for it in large]
                                 + [partial(send_pack, g) for g in groups])

    # events go last: a clone that sees an event can also find its objects
    _faults.point("push.events")
    events_sent = push_events(repo, rs)
    return PushResult(rs.remote.name, rs.remote.url, len(todo), sent_bytes, len(groups), events_sent,
                      present, not_local, rs.requests)


def _local_bytes(store: ObjectStore, digest: str) -> bytes:
    try:
        return store.read_bytes(digest)  # verified: corruption is not spread to the remote
    except CorruptObjectError:
        raise CorruptObjectError(f"local object {digest[:12]} is corrupt; run 'lineage verify' "
                                 "before pushing") from None


def push_events(repo: Repo, rs: RemoteStore, inv: Inventory | None = None) -> int:
    """Send the events of the local log the remote lacks, in one pack; returns how many."""
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
