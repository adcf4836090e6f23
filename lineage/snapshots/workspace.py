"""The working copy of a path: its files' digests now, and what was last checked out there.

``.lineage/checkouts.json`` (local, never pushed, kept out of git by ``.lineage/.gitignore``)
remembers, for each destination a checkout wrote, the snapshot written there and, when
only some paths were asked for (``checkout --path``, ``pull ID --path``), which ones::

    {"format": 1, "paths": {"data/images": {"snapshot": "<id>", "paths": ["a.png"]}}}

``"paths": null`` means the whole snapshot was written. Checkout reads it to tell a
file it wrote (not a local change) from an edit, and status to tell a file not fetched
from a removed one. Deleting the file loses nothing recorded: checkout then falls back to
the dataset's latest snapshot, and status lists files not fetched as removed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from lineage.core.hashing import hash_many
from lineage.repo import Repo
from lineage.snapshots.scan import FoundFile, ScanReport, checkout_lock, scan

STATE_FILE = "checkouts.json"


@dataclass(frozen=True)
class CheckedOut:
    """What the last checkout wrote at a destination."""

    snapshot: str
    paths: list[str] | None  # None: the whole snapshot

    def covers(self, rel: str) -> bool:
        """Was ``rel`` (a manifest path) among the paths written?"""
        return self.paths is None or any(rel == p or rel.startswith(p + "/") for p in self.paths)


def _key(repo: Repo, dest: str | os.PathLike[str]) -> str:
    return repo.relpath(dest)


def _load(repo: Repo) -> dict[str, dict]:
    try:
        data = json.loads((repo.dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    paths = data.get("paths") if isinstance(data, dict) else None
    return paths if isinstance(paths, dict) else {}


def checked_out(repo: Repo, dest: str | os.PathLike[str]) -> CheckedOut | None:
    """What the last checkout wrote at ``dest``, if one is remembered."""
    entry = _load(repo).get(_key(repo, dest))
    if not isinstance(entry, dict) or not isinstance(entry.get("snapshot"), str):
        return None
    paths = entry.get("paths")
    if paths is not None and not (isinstance(paths, list) and all(isinstance(p, str) for p in paths)):
        return None
    return CheckedOut(entry["snapshot"], paths)


def remember(repo: Repo, dest: str | os.PathLike[str], sid: str, paths: list[str] | None) -> None:
    """Record that ``sid`` (or only ``paths`` of it) was written at ``dest``.

    A partial checkout of the snapshot already (partly) there adds its paths to those
    written before; a full one, or another snapshot, starts afresh. Callers hold the
    checkout lock, so the read-modify-write is not raced by another checkout.
    """
    state = _load(repo)
    key = _key(repo, dest)
    if paths is not None:
        before = checked_out(repo, dest)
        if before is not None and before.snapshot == sid:
            paths = None if before.paths is None else sorted(set(before.paths) | set(paths))
        else:
            paths = sorted(set(paths))
    state[key] = {"snapshot": sid, "paths": paths}
    _save(repo, state)


def supersede(repo: Repo, dest: str | os.PathLike[str]) -> None:
    """A new snapshot of ``dest`` was recorded: what was checked out there before is no
    longer the path's recorded state (as a commit moves git's HEAD), so its record goes."""
    key = _key(repo, dest)
    if key not in _load(repo):
        return
    with checkout_lock(repo):
        state = _load(repo)
        if state.pop(key, None) is None:
            return
        _save(repo, state)


def _save(repo: Repo, state: dict[str, dict]) -> None:
    target = repo.dir / STATE_FILE
    tmp = target.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"format": 1, "paths": dict(sorted(state.items()))}, indent=1,
                              sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def digests(repo: Repo, files: list[FoundFile], sizes: dict[str, int] | None = None) -> dict[str, str]:
    """The digest of each file now (by ``rel``), through the stat cache.

    With ``sizes`` (recorded sizes by ``rel``), a file whose size differs is known to
    have changed without reading it: its digest is given as ``""``.
    """
    current: dict[str, str] = {}
    unknown: list[FoundFile] = []
    cache = repo.stat_cache
    loaded: dict[str, tuple] = {}
    if files:  # one load for the folder that holds them all
        common = files[0].abspath if len(files) == 1 else os.path.commonpath([f.abspath for f in files])
        loaded = cache.load(common)
    for f in files:
        hit = loaded.get(f.abspath)
        if hit is not None and tuple(hit[0]) == tuple(f.stat):
            current[f.rel] = hit[1]
        elif sizes is not None and f.rel in sizes and sizes[f.rel] != f.size:
            current[f.rel] = ""
        else:
            unknown.append(f)
    if unknown:
        hashed = hash_many([(f.abspath, f.size) for f in unknown])
        cache.update([(f.abspath, f.stat, hashed[f.abspath]) for f in unknown])
        for f in unknown:
            current[f.rel] = hashed[f.abspath]
    return current


def scan_path(path: Path) -> tuple[str, list[FoundFile]]:
    """``scan`` of a working path (the kind, and its files)."""
    return scan(path, ScanReport())
