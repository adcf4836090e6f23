"""Writing a snapshot's files back: only inside the work tree, never over local edits."""

from __future__ import annotations

import os
import stat as _stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lineage.core import faults as _faults
from lineage.core.hashing import FileStat, hash_file
from lineage.core.paths import (check_inside, check_parent, check_relative, checked_destination, display,
                                is_temp_name, under_git)
from lineage.core.progress import Progress
from lineage.errors import (ConflictError, MissingObjectError, PathError, UnknownRefError, UnsafePathError,
                            UsageError)
from lineage.repo import Repo
from lineage.snapshots import queries
from lineage.snapshots.manifest import Entry, Manifest
from lineage.snapshots.refs import load_manifest, resolve
from lineage.snapshots.scan import ScanReport, checkout_lock, scan, unlink_all


@dataclass(frozen=True)
class CheckoutResult:
    id: str
    dest: str
    written: list[str]
    unchanged: int
    extra: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checkout(repo: Repo, ref: str, dest: str | os.PathLike[str] | None = None, *,
             force: bool = False, paths: list[str] | None = None,
             progress: Progress | None = None) -> CheckoutResult:
    """Write a snapshot's files to ``dest`` (default: the path it was snapshotted from).

    A recorded path is written only inside the work tree (never into ``.git/`` or
    ``.lineage/``, nor through a symlink leading out); ``dest`` may be anywhere the
    user chooses. Files missing or different are written; a file whose content is in
    no recorded snapshot (a local edit) is a conflict unless ``force``; files the
    snapshot lacks are left alone and listed. Rerunning after an interruption
    finishes the work and removes the temporary files left behind.
    """
    sid = resolve(repo, ref)
    manifest = load_manifest(repo, sid)
    if paths:
        paths = [check_relative(p.strip("/"), what="--path") for p in paths]
    if dest is None:
        recorded = queries.last_recorded_path(repo.graph, sid)
        if recorded is None:
            raise UsageError(f"snapshot {sid[:12]} has no recorded path; give a destination")
        try:
            dest_path = checked_destination(repo, recorded, recorded=True)
        except UnsafePathError as exc:
            raise UnsafePathError(f"{exc}; give a destination to check snapshot {sid[:12]} out "
                                  "elsewhere") from None
    else:
        dest_path = checked_destination(repo, dest, recorded=False)
    entries = list(manifest.entries)
    dirs = list(manifest.dirs)
    if paths:
        wanted = set(paths)

        def chosen(p: str) -> bool:
            return p in wanted or any(p.startswith(w + "/") for w in wanted)

        entries = [e for e in entries if chosen(e.path)]
        dirs = [d for d in dirs if chosen(d)]
        if not entries and not dirs:
            raise UnknownRefError(f"none of {sorted(wanted)} is in snapshot {sid[:12]}")
    with checkout_lock(repo):
        try:
            return _checkout(repo, sid, manifest, dest_path, entries, dirs, force=force,
                             partial=bool(paths), progress=progress)
        except OSError as exc:  # an unwritable destination: /proc, a read-only mount, ...
            where = exc.filename if exc.filename is not None else dest_path
            raise PathError(f"cannot write {display(where)}: {exc.strerror or exc}") from None


def _checkout(repo: Repo, sid: str, manifest: Manifest, dest_path: Path, entries: list[Entry],
              dirs: list[str], *, force: bool, partial: bool,
              progress: Progress | None) -> CheckoutResult:
    if manifest.kind == "file":
        if dest_path.is_dir():
            dest_path = dest_path / entries[0].path
        targets = [(entries[0], dest_path)]
    else:
        if dest_path.exists() and not dest_path.is_dir():
            raise ConflictError(f"{display(dest_path)} is a file; a folder snapshot needs a folder")
        targets = [(e, dest_path / e.path) for e in entries]
    root = dest_path if manifest.kind == "folder" else dest_path.parent
    root_resolved = root.resolve()
    # defence in depth: nothing written below a .git folder is ever executable (a hook)
    no_exec = under_git(root_resolved)
    seen: dict[Path, bool] = {}
    to_write: list[tuple[Entry, Path]] = []
    conflicts: list[str] = []
    unchanged = 0
    cache = repo.stat_cache
    for e, target in targets:
        if manifest.kind == "folder":
            check_parent(root_resolved, target, seen)
        try:
            lst = os.lstat(target)
            st = os.stat(target) if _stat.S_ISLNK(lst.st_mode) else lst
        except FileNotFoundError:
            to_write.append((e, target))
            continue
        if not _stat.S_ISREG(st.st_mode):
            conflicts.append(e.path)
            continue
        fs = FileStat.of(st)
        digest = cache.lookup(str(target), fs)
        if digest is None and (st.st_size == e.size or not force):
            digest = hash_file(target, st.st_size)
            cache.update([(str(target), fs, digest)])
        if digest == e.digest:
            want_exec = e.executable and not no_exec
            if bool(st.st_mode & 0o111) != want_exec and not _stat.S_ISLNK(lst.st_mode):
                os.chmod(target, 0o755 if want_exec else 0o644)
            unchanged += 1
            continue
        # overwriting loses nothing when the current content is kept in a recorded snapshot
        if not force and not _recoverable(repo, digest):
            conflicts.append(e.path)
        to_write.append((e, target))
    for d in dirs:
        check_inside(root_resolved, dest_path / d, seen)
        if os.path.lexists(dest_path / d) and not (dest_path / d).is_dir():
            conflicts.append(d)
    if conflicts:
        shown = ", ".join(display(c) for c in conflicts[:5]) + (
            f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise ConflictError(
            f"checkout would overwrite local changes in {len(conflicts)} file(s): {shown}; "
            "snapshot them first or pass --force"
        )
    missing = [e.path for e, _ in to_write if not repo.store.exists(e.digest)]
    if missing:
        raise MissingObjectError(
            f"{len(missing)} file(s) of snapshot {sid[:12]} are not in the local store "
            f"(e.g. {display(missing[0])}); run 'lineage pull {sid[:12]}'"
        )
    total = sum(e.size for e, _ in to_write)
    done = 0
    link = repo.link_mode
    updates = []
    if manifest.kind == "folder":
        dest_path.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        (dest_path / d).mkdir(parents=True, exist_ok=True)
    try:
        for e, target in to_write:
            _faults.point("checkout.write")
            repo.store.copy_to(e.digest, target, executable=e.executable and not no_exec, link=link)
            updates.append((str(target), FileStat.of(os.stat(target)), e.digest))
            done += e.size
            if progress:
                progress(done, total)
    finally:
        cache.update(updates)  # what was written is known even if a later write fails
    extra: list[str] = []
    if manifest.kind == "folder" and dest_path.is_dir():
        report = ScanReport()
        _, present = scan(dest_path, report)
        unlink_all(report.temps)  # we hold the checkout lock: no other checkout is writing them
        if not partial:
            listed = {e.path for e in manifest.entries}
            extra = sorted(f.rel for f in present if f.rel not in listed)
    elif manifest.kind == "file":
        with os.scandir(dest_path.parent) as it:
            unlink_all([de.path for de in it if is_temp_name(de.name)])
    return CheckoutResult(sid, str(dest_path), [e.path for e, _ in to_write], unchanged, extra)


def _recoverable(repo: Repo, digest: str | None) -> bool:
    """Is this content stored and part of a recorded snapshot (so it can be checked out again)?"""
    return digest is not None and repo.store.exists(digest) and bool(
        queries.files_with_digest(repo.graph, digest, limit=1))
