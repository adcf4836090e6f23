"""What changed in each tracked dataset since its recorded state: the version last
checked out at its path (``.lineage/checkouts.json``), else its latest snapshot."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lineage.core import git as gitinfo
from lineage.core.hashing import hash_many
from lineage.errors import MissingObjectError, UnknownRefError
from lineage.repo import Repo
from lineage.snapshots import lock, queries, workspace
from lineage.snapshots.refs import load_manifest
from lineage.snapshots.scan import (NOT_STORED, FoundFile, ScanReport, combine_keys, folder_key, prefix_of,
                                    record_folders, scan, tree_key, tree_matches, walk)
from lineage.store.backends import scheme_of
from lineage.store.statcache import StatCache


@dataclass(frozen=True)
class DatasetStatus:
    dataset: str
    path: str
    snapshot: str | None
    version: int
    state: str  # clean | changed | partial | missing | untracked | reference (bytes at a URL)
    added: list[str] = field(default_factory=list)     # new files (git's ``??``)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    #: files of the snapshot a partial pull (``pull ID --path``) did not fetch: not removed
    not_fetched: list[str] = field(default_factory=list)
    #: the dataset's latest snapshot and version; ``snapshot``/``version`` (what the
    #: workspace is compared with) differ from them when an older version was checked out
    latest_snapshot: str | None = None
    latest_version: int = 0
    #: snapshotted from outside the repository (``--external``)
    external: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def behind(self) -> bool:
        """Is the workspace at an older version than the latest (checked out there)?"""
        return self.snapshot is not None and self.latest_snapshot not in (None, self.snapshot)

    @property
    def dirty(self) -> bool:
        """Does the workspace hold something no snapshot records? (A partial pull alone
        does not: the files it did not fetch are recorded, just not here.)"""
        return (self.state not in ("clean", "partial", "reference")
                or bool(self.added or self.removed or self.modified))


def _status_one(repo: Repo, name: str, rel: str, sid: str | None, version: int,
                latest: tuple[str | None, int] | None = None, external: bool = False) -> DatasetStatus:
    target = repo.abspath(rel)
    more: dict[str, Any] = {"latest_snapshot": latest[0] if latest else sid,
                            "latest_version": latest[1] if latest else version, "external": external}
    if scheme_of(rel) != "file":  # by reference: nothing here to compare ('lineage verify' re-hashes it)
        return DatasetStatus(name, rel, sid, version, "reference", **more)
    if not os.path.exists(target):
        return DatasetStatus(name, rel, sid, version, "missing", **more)
    report = ScanReport()
    found = _by_folder(repo, target, sid, report) if sid is not None else None
    if found is not None:
        kind = "folder"
        added, removed, modified = found
    else:
        kind, files = scan(target, report)
        if sid is None:
            return DatasetStatus(name, rel, None, version, "untracked", added=sorted(f.rel for f in files),
                                 **more)
        added, removed, modified = _whole(repo, target, kind, files, report, sid)
    not_fetched: list[str] = []
    last = workspace.checked_out(repo, target) if removed and kind == "folder" else None
    if last is not None and last.snapshot == sid and last.paths is not None:
        not_fetched = [p for p in removed if not last.covers(p)]
        removed = [p for p in removed if last.covers(p)]
    state = "partial" if not_fetched else "changed" if (added or removed or modified) else "clean"
    return DatasetStatus(name, rel, sid, version, state, added, removed, modified, not_fetched, **more)


Changes = tuple[list[str], list[str], list[str]]  # added, removed, modified


def _whole(repo: Repo, target: Path, kind: str, files: list[FoundFile], report: ScanReport,
           sid: str) -> Changes:
    """Compare a whole scan with the whole manifest: for a file, or a folder with no
    folder index for ``sid`` yet (it records one for the next status)."""
    key = tree_key(files, report)
    if tree_matches(repo, target, key, sid, need_stored=False):
        return [], [], []
    recorded = load_manifest(repo, sid, check_paths=False).by_path()
    current = workspace.digests(repo, files, {p: e.size for p, e in recorded.items()})
    added = sorted(p for p in current if p not in recorded)
    removed = sorted(p for p in recorded if p not in current)
    modified = sorted(p for p, d in current.items() if p in recorded and recorded[p].digest != d)
    cache = repo.stat_cache
    if not (added or removed or modified):
        # remember the verified state; whether the bytes are stored is unknown here
        cache.set_tree(str(target), key + NOT_STORED, sid)
    if kind == "folder":  # the folders that hold no difference are verified as they are now
        differ = {prefix_of(p) for p in (*added, *removed, *modified)}
        record_folders(cache, str(target), sid, report.keys, recorded.values(),
                       valid={p for p in report.keys if p not in differ})
    return added, removed, modified


def _by_folder(repo: Repo, target: Path, sid: str, report: ScanReport) -> Changes | None:
    """Compare folder by folder with the folder index recorded for ``sid`` (None when
    there is none): a folder whose stat key is the recorded one is skipped whole, and
    only the folders that differ have their recorded entries and cached digests read."""
    cache = repo.stat_cache
    known = cache.folders(str(target))
    if known is None or known[0] != sid or not os.path.isdir(target):
        return None
    index = known[1]
    _, folders = walk(target, report)
    keys: dict[str, str] = {}
    differ: list[tuple[str, list[FoundFile]]] = []
    for prefix, files in folders:
        key = keys[prefix] = folder_key(files)
        was = index.get(prefix)
        if was is None or was[0] != key:
            differ.append((prefix, files))  # only these folders' files are kept
    gone = [p for p in index if p not in keys]
    if not differ and not gone:
        _remember_clean(cache, target, combine_keys(keys, report.dirs), sid)
        return [], [], []
    added: list[str] = []
    removed: list[str] = []
    modified: list[str] = []
    verified: dict[str, tuple[str, str]] = {}
    unknown: list[tuple[str, FoundFile, tuple[int, bytes, bool] | None]] = []
    for prefix, files in differ:
        was = index.get(prefix)
        recorded = cache.folder_entries(was[1]) if was is not None else {}
        cached = cache.stat_folder(os.path.dirname(files[0].abspath))
        names = set()
        cut = len(prefix)
        clean = was is not None
        for f in files:
            name = f.rel[cut:]
            names.add(name)
            rec = recorded.get(name)
            if rec is None:
                added.append(f.rel)
                clean = False
                continue
            hit = cached.get(name)
            if hit is not None and hit[0] == f.stat:
                if hit[1] != rec[1].hex():
                    modified.append(f.rel)
                    clean = False
            elif rec[0] != f.size:
                modified.append(f.rel)  # a size differs: changed, without reading it
                clean = False
            else:
                unknown.append((prefix, f, rec))
        for name in recorded:
            if name not in names:
                removed.append(prefix + name)
                clean = False
        if clean and was is not None:
            verified[prefix] = (keys[prefix], was[1])
    if unknown:
        hashed = hash_many([(f.abspath, f.size) for _, f, _ in unknown])
        cache.update([(f.abspath, f.stat, hashed[f.abspath]) for _, f, _ in unknown])
        for prefix, f, rec in unknown:
            if rec is not None and hashed[f.abspath] != rec[1].hex():
                modified.append(f.rel)
                verified.pop(prefix, None)
    for prefix in gone:
        removed.extend(prefix + name for name in cache.folder_entries(index[prefix][1]))
    if verified:  # touched but the same: these folders are skipped next time
        cache.set_folders(str(target), sid, {**index, **verified})
    if not (added or removed or modified):
        _remember_clean(cache, target, combine_keys(keys, report.dirs), sid)
    return sorted(added), sorted(removed), sorted(modified)


def _remember_clean(cache: StatCache, target: Path, key: str, sid: str) -> None:
    """Record the verified tree state, unless it is recorded already (whether the bytes
    are stored is unknown here)."""
    known = cache.tree(str(target))
    if known is None or known[1] != sid or known[0] not in (key, key + NOT_STORED):
        cache.set_tree(str(target), key + NOT_STORED, sid)


def _recorded(repo: Repo, row: queries.DatasetRow) -> tuple[str | None, int]:
    """What a tracked dataset's workspace is compared with (git's HEAD): the snapshot last
    checked out whole at its path when it is one of the dataset's versions (a later
    snapshot of the path drops that record), else the dataset's latest snapshot."""
    latest = (row.latest_snapshot, row.latest_version)
    if row.path is None or row.latest_snapshot is None:
        return latest
    last = workspace.checked_out(repo, repo.abspath(row.path))
    if last is None or last.paths is not None or last.snapshot == row.latest_snapshot:
        return latest
    version = queries.version_in_dataset(repo.graph, row.name, last.snapshot)
    return latest if version is None else (last.snapshot, version)


def status(repo: Repo, target: str | None = None) -> list[DatasetStatus]:
    """What changed since the last snapshot of each tracked dataset (or of one name/path)."""
    rows = queries.tracked_datasets(repo.graph)
    if target is not None:
        rel = repo.relpath(target)
        chosen = [r for r in rows if target in (r.name, r.path) or r.path == rel]
        if not chosen:
            if os.path.exists(target):
                from lineage.snapshots.add import default_name  # only for an untracked path

                return [_status_one(repo, default_name(repo, rel), rel, None, 0)]
            raise UnknownRefError(f"no tracked dataset or path matches {target!r}")
        rows = chosen
    return [_status_one(repo, r.name, r.path or "", *_recorded(repo, r),
                        latest=(r.latest_snapshot, r.latest_version), external=r.external) for r in rows]


# -- the short form (status --porcelain) ------------------------------------------------

#: Two-letter codes of ``status --porcelain``, git's where git has one.
PORCELAIN_CODES = {"modified": " M", "removed": " D", "added": "??", "not_fetched": " S"}


def _quote(path: str) -> str:
    r"""``path`` as git's porcelain prints it (``core.quotePath``): in double quotes and
    C-escaped when it holds a quote, a backslash, a control character or a byte
    outside ASCII (as octal, like ``"caf\303\251.csv"``)."""
    raw = os.fsencode(path)
    if not any(b < 0x20 or b in (0x22, 0x5C) or b >= 0x7F for b in raw):
        return path
    named = {0x22: '\\"', 0x5C: "\\\\", 0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
    return '"' + "".join(named.get(b) or (f"\\{b:03o}" if b < 0x20 or b >= 0x7F else chr(b))
                         for b in raw) + '"'


def porcelain(repo: Repo, statuses: list[DatasetStatus]) -> list[str]:
    """One ``XY PATH`` line per path that differs (paths from the repository root, sorted):
    `` M`` modified, `` D`` removed (or a whole dataset path missing), ``??`` a new file under
    a tracked folder (or an untracked path), `` S`` a file a partial pull did not fetch.
    Clean datasets print nothing."""
    lines: list[tuple[str, str]] = []
    for s in statuses:
        where = s.path or "."
        if s.state == "missing":
            lines.append((where, PORCELAIN_CODES["removed"]))
            continue
        if s.state == "untracked":
            lines.append((where, "??"))
            continue
        folder = os.path.isdir(repo.abspath(where))
        for kind in ("modified", "removed", "added", "not_fetched"):
            for p in getattr(s, kind):
                full = (p if where == "." else f"{where}/{p}") if folder else where
                lines.append((full, PORCELAIN_CODES[kind]))
    return [f"{code} {_quote(path)}" for path, code in sorted(lines)]


# -- against the lock file (lineage.lock) ----------------------------------------------

@dataclass(frozen=True)
class LockDrift:
    """Where the workspace and git disagree with ``lineage.lock``."""
    present: bool
    #: datasets whose content is not the snapshot the lock file names:
    #: {dataset, path, locked, state} with state changed | missing | unavailable (the locked
    #: snapshot is not in this clone)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    #: the work tree's lineage.lock against HEAD's: same | modified | added | deleted, or None
    #: (no git, no commit yet, or no lock file in either)
    head: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lock_drift(repo: Repo, statuses: list[DatasetStatus] | None = None) -> LockDrift:
    """Datasets whose current content is not what ``lineage.lock`` names, and whether the
    lock file differs from the one committed at HEAD. ``statuses`` (from ``status``)
    spares a second look at datasets locked at their latest snapshot."""
    entries = lock.read(repo)
    known = {s.dataset: s for s in statuses or []}
    drift: list[dict[str, Any]] = []
    for name in sorted(entries or {}):
        e = entries[name]  # type: ignore[index]
        s = known.get(name)
        if s is None or s.snapshot != e.snapshot or s.path != e.path:
            try:
                s = _status_one(repo, name, e.path, e.snapshot, 0)
            except MissingObjectError:
                drift.append({"dataset": name, "path": e.path, "locked": e.snapshot, "state": "unavailable"})
                continue
        if s.state not in ("clean", "reference"):
            drift.append({"dataset": name, "path": e.path, "locked": e.snapshot, "state": s.state})
    return LockDrift(entries is not None, drift, _lock_against_head(repo))


def _lock_against_head(repo: Repo) -> str | None:
    if gitinfo.text(repo.root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}") is None:
        return None
    out = gitinfo.run(repo.root, "show", f"HEAD:./{lock.LOCK_FILE}")
    committed = out.stdout if out is not None and out.returncode == 0 else None
    try:
        current: bytes | None = (repo.root / lock.LOCK_FILE).read_bytes()
    except FileNotFoundError:
        current = None
    if committed is None and current is None:
        return None
    if committed is None:
        return "added"
    if current is None:
        return "deleted"
    return "same" if committed == current else "modified"
