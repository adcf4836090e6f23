"""What changed in each tracked dataset since its last snapshot."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from lineage.core.hashing import hash_many
from lineage.errors import UnknownRefError
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.snapshots.add import default_name
from lineage.snapshots.refs import load_manifest
from lineage.snapshots.scan import NOT_STORED, FoundFile, ScanReport, scan, tree_key, tree_matches


@dataclass(frozen=True)
class DatasetStatus:
    dataset: str
    path: str
    snapshot: str | None
    version: int
    state: str  # clean | changed | missing | untracked
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status_one(repo: Repo, name: str, rel: str, sid: str | None, version: int) -> DatasetStatus:
    target = repo.abspath(rel)
    if not os.path.exists(target):
        return DatasetStatus(name, rel, sid, version, "missing")
    report = ScanReport()
    kind, files = scan(target, report)
    if sid is None:
        return DatasetStatus(name, rel, None, version, "untracked", added=sorted(f.rel for f in files))
    key = tree_key(files, report)
    if tree_matches(repo, target, key, sid, need_stored=False):
        return DatasetStatus(name, rel, sid, version, "clean")
    recorded = load_manifest(repo, sid, check_paths=False).by_path()
    cache = repo.stat_cache.load(str(target))
    unknown: list[FoundFile] = []
    current: dict[str, str] = {}
    for f in files:
        hit = cache.get(f.abspath)
        if hit is not None and hit[0] == f.stat:
            current[f.rel] = hit[1]
        elif f.rel in recorded and recorded[f.rel].size != f.size:
            current[f.rel] = ""  # size differs: changed, no need to hash
        else:
            unknown.append(f)
    if unknown:
        hashed = hash_many([(f.abspath, f.size) for f in unknown])
        repo.stat_cache.update([(f.abspath, f.stat, hashed[f.abspath]) for f in unknown])
        for f in unknown:
            current[f.rel] = hashed[f.abspath]
    added = sorted(p for p in current if p not in recorded)
    removed = sorted(p for p in recorded if p not in current)
    modified = sorted(p for p, d in current.items() if p in recorded and recorded[p].digest != d)
    state = "changed" if (added or removed or modified) else "clean"
    if state == "clean":
        # remember the verified state; whether the bytes are stored is unknown here
        repo.stat_cache.set_tree(str(target), key + NOT_STORED, sid)
    return DatasetStatus(name, rel, sid, version, state, added, removed, modified)


def status(repo: Repo, target: str | None = None) -> list[DatasetStatus]:
    """What changed since the last snapshot of each tracked dataset (or of one name/path)."""
    rows = queries.tracked_datasets(repo.graph)
    if target is not None:
        rel = repo.relpath(target)
        chosen = [r for r in rows if target in (r.name, r.path) or r.path == rel]
        if not chosen:
            if os.path.exists(target):
                return [_status_one(repo, default_name(repo, rel), rel, None, 0)]
            raise UnknownRefError(f"no tracked dataset or path matches {target!r}")
        rows = chosen
    return [_status_one(repo, r.name, r.path or "", r.latest_snapshot, r.latest_version) for r in rows]

