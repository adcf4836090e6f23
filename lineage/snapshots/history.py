"""A dataset's history (``log``) and one snapshot's files and records (``show``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lineage.errors import UnknownRefError
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.snapshots.refs import load_manifest, resolve


@dataclass(frozen=True)
class LogEntry:
    dataset: str | None
    version: int | None
    snapshot: str
    time: str
    user: str | None
    host: str | None
    message: str | None
    path: str | None
    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    files: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def log(repo: Repo, name: str | None = None) -> list[LogEntry]:
    """History of one dataset (newest first), or of every snapshot recorded."""
    g = repo.graph
    if name is None:
        return [LogEntry(**r) for r in queries.records_all(g)]
    ds = queries.dataset(g, name) or queries.dataset_by_path(g, repo.relpath(name))
    if ds is None:
        raise UnknownRefError(f"no dataset named {name!r}")
    return [LogEntry(**r) for r in queries.records_of_dataset(g, ds.name)]


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    kind: str
    files: list[dict[str, Any]]
    file_count: int
    bytes: int
    records: list[LogEntry]
    stored: bool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["records"] = [r.to_dict() for r in self.records]
        return d


def show(repo: Repo, ref: str) -> SnapshotInfo:
    """A snapshot's files, sizes, and every time it was recorded (who, when, which commit)."""
    sid = resolve(repo, ref)
    manifest = load_manifest(repo, sid)
    records = [LogEntry(**r) for r in queries.records_of_snapshot(repo.graph, sid)]
    stored = all(repo.store.exists(e.digest) for e in manifest.entries)
    return SnapshotInfo(sid, manifest.kind, [e.to_dict() for e in manifest.entries],
                        len(manifest.entries), manifest.total_size, records, stored)

