"""Verification of the local store, the event log and what is derived from it, and of
what a remote holds (``verify_remote``).

Every object is rehashed (in parallel), every pack is checked against its index,
every file of every stored snapshot must have its object, every event's ID and
parent links are recomputed, every derived table must equal a replay of the log
(``lineage.log.integrity``), and the stat cache's digests must match the files
it vouches for (wrong entries are removed).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3

from lineage.core.progress import Progress
from lineage.errors import MissingObjectError, RemoteError
from lineage.log import integrity
from lineage.log.integrity import CacheProblem, TableProblem
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.store import packs as _packs
from lineage.store.objects import is_digest
from lineage.sync.fetch import fetch_events
from lineage.sync.remotes import jobs, open_remote
from lineage.tabular import reference as by_reference
from lineage.tabular.reference import ReferenceProblem


@dataclass(frozen=True)
class ObjectProblem:
    digest: str
    problem: str  # corrupt | missing
    snapshots: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VerifyReport:
    objects_checked: int
    bytes_checked: int
    events_checked: int
    objects: list[ObjectProblem]
    log: list[str]
    remote: str | None = None  # set when a remote was checked, not the local store
    #: damaged local packs, one line each naming the pack
    packs: list[str] = field(default_factory=list)
    #: derived tables and schema objects that differ from a replay of the log
    tables: list[TableProblem] = field(default_factory=list)
    #: stat cache entries that claimed a wrong digest (removed by the check)
    stat_cache: list[CacheProblem] = field(default_factory=list)
    #: files of by-reference snapshots re-hashed where they live, and those that no longer match
    reference_files_checked: int = 0
    references: list[ReferenceProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.objects or self.log or self.packs or self.tables or self.stat_cache
                    or self.references)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        if self.remote is None:
            del d["remote"]
        return d


def _affected(repo: Repo, digest: str) -> tuple[list[str], list[str]]:
    hits = queries.files_with_digest(repo.graph, digest)
    snaps = sorted({sid for sid, _ in hits})
    if queries.snapshot_known(repo.graph, digest):
        snaps.append(digest)  # the object is a manifest
    return snaps, [path for _, path in hits]


def verify(repo: Repo, *, progress: Progress | None = None, references: bool = True) -> VerifyReport:
    """Check the local store, the log, the derived tables and the stat cache, and (with
    ``references``) re-hash the files of by-reference snapshots where they live; returns
    what is wrong."""
    store = repo.store
    # the store's own pack reader refuses a damaged index; verify reads packs itself so
    # a damaged one is a finding that names it, not an error that stops the check
    loose = sorted(d for d in store.loose_digests() if is_digest(d))
    sizes = {d: n for d in loose if (n := _size(store.path(d))) >= 0}
    idx_paths = sorted(p for p in store.packs_dir.glob("*.idx") if is_digest(p.stem)) \
        if store.packs_dir.is_dir() else []
    total = sum(sizes.values()) + sum(max(0, _size(p.with_suffix(".pack"))) for p in idx_paths)
    done = 0
    problems: list[ObjectProblem] = []
    corrupt: list[str] = []
    lock = threading.Lock()

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            if progress:
                progress(done, total)

    def check(d: str) -> tuple[str, bool]:
        try:
            ok = store.verify(d)
        except MissingObjectError:
            ok = True  # removed meanwhile (gc); nothing to verify
        advance(sizes.get(d, 0))
        return d, ok

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        pack_checks = list(pool.map(lambda p: _packs.check_local(p, advance), idx_paths))
        corrupt += [d for d, ok in pool.map(check, list(sizes), chunksize=64) if not ok]
    present = set(sizes)
    pack_problems: list[str] = []
    for pc in pack_checks:
        present.update(pc.digests)
        corrupt += pc.corrupt
        pack_problems += pc.problems
    for d in sorted(set(corrupt)):
        snaps, files = _affected(repo, d)
        problems.append(ObjectProblem(d, "corrupt", snaps, files))
    for d in queries.stored_file_digests(repo.graph):
        if d not in present:
            snaps, files = _affected(repo, d)
            problems.append(ObjectProblem(d, "missing", snaps, files))
    for sid in queries.snapshot_ids(repo.graph):
        if sid not in present:
            problems.append(ObjectProblem(sid, "missing", [sid], ["(manifest)"]))
    log_problems = repo.graph.verify_log()
    tables = integrity.check_projections(repo.graph)
    cache_problems, _ = integrity.check_stat_cache(repo.stat_cache, lambda sid: _snapshot_files(repo, sid))
    referenced = by_reference.verify(repo, progress=progress) if references else by_reference.ReferenceCheck()
    return VerifyReport(len(present), total, repo.graph.count_events(), problems, log_problems,
                        packs=pack_problems, tables=tables, stat_cache=cache_problems,
                        reference_files_checked=referenced.files_checked, references=referenced.problems)


def _size(path: os.PathLike[str]) -> int:
    """Size in bytes, or -1 when the file is gone (removed meanwhile by gc)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _snapshot_files(repo: Repo, sid: str) -> dict[str, str] | None:
    kind, files = queries.snapshot_files(repo.graph, sid)
    return None if kind is None else {path: digest for path, _, digest, _ in files}


def verify_remote(repo: Repo, remote: str | None = None, *,
                  progress: Progress | None = None) -> VerifyReport:
    """Download and rehash everything on the remote; check every snapshot the log
    references is there. Problems name the snapshots and files affected."""
    rs = open_remote(repo, remote)
    n_jobs = jobs(rs.remote)
    inv = rs.inventory(jobs=n_jobs)
    if not (inv.packs or inv.events or inv.loose):
        # "OK: 0 objects" would read as a healthy remote
        raise RemoteError(f"remote {rs.remote.name!r} ({rs.remote.url}) is empty: nothing has "
                          "been pushed there")
    log: list[str] = []
    fetch_events(repo, rs, inv)
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
                if _packs.blob(data, e) is None:
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

    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
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
        snaps, files = _affected(repo, d)
        if snaps[-1:] == [d]:
            files.append("(manifest)")  # the object is a manifest
        problems.append(ObjectProblem(d, kind, snaps, files))
    return VerifyReport(inv.object_count, total, len(inv.event_ids()), problems, log, rs.remote.name)
