"""Verification of the local store and the event log.

Every object is rehashed (in parallel), every file of every stored snapshot must
have its object, and every event's ID and parent links are recomputed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from lineage.errors import MissingObjectError
from lineage.graph import queries
from lineage.repo import Repo


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

    @property
    def ok(self) -> bool:
        return not self.objects and not self.log

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


def verify(repo: Repo, *, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Rehash every local object and check the event log; returns what is wrong."""
    store = repo.store
    digests = list(store.iter_digests())
    sizes = {d: store.size(d) for d in digests}
    total = sum(sizes.values())
    done = 0
    problems: list[ObjectProblem] = []

    def check(d: str) -> tuple[str, bool]:
        try:
            return d, store.verify(d)
        except MissingObjectError:
            return d, True  # removed meanwhile (gc); nothing to verify

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        for d, ok in pool.map(check, digests, chunksize=64):
            done += sizes[d]
            if progress:
                progress(done, total)
            if not ok:
                snaps, files = _affected(repo, d)
                problems.append(ObjectProblem(d, "corrupt", snaps, files))
    present = set(digests)
    for d in queries.stored_file_digests(repo.graph):
        if d not in present:
            snaps, files = _affected(repo, d)
            problems.append(ObjectProblem(d, "missing", snaps, files))
    for sid in queries.snapshot_ids(repo.graph):
        if sid not in present:
            problems.append(ObjectProblem(sid, "missing", [sid], ["(manifest)"]))
    log_problems = repo.graph.verify_log()
    return VerifyReport(len(digests), total, repo.graph.count_events(), problems, log_problems)
