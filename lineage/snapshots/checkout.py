"""Writing a snapshot's files back: only inside the work tree, never over local edits."""

from __future__ import annotations

import os
import stat as _stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lineage.core import faults as _faults
from lineage.core.hashing import FileStat, hash_file
from lineage.core.paths import (check_inside, check_parent, check_relative, checked_destination, display,
                                is_protected, is_temp_name, temp_name, under_git)
from lineage.core.progress import Progress
from lineage.errors import (ConflictError, LineageError, MissingObjectError, PathError, UnknownRefError,
                            UnsafePathError, UsageError)
from lineage.repo import Repo
from lineage.snapshots import queries, workspace
from lineage.snapshots.manifest import Entry, Manifest
from lineage.snapshots.refs import load_manifest, resolve
from lineage.snapshots.scan import (FoundFile, ScanReport, checkout_lock, folder_key, prefix_of, record_folders,
                                    scan, unlink_all)
from lineage.store.statcache import StatCache


@dataclass(frozen=True)
class CheckoutResult:
    id: str
    dest: str
    written: list[str]
    unchanged: int
    extra: list[str]  # untracked files left in place
    removed: list[str] = field(default_factory=list)    # tracked files the target lacks
    discarded: list[str] = field(default_factory=list)  # local changes and untracked files --force lost

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checkout(repo: Repo, ref: str, dest: str | os.PathLike[str] | None = None, *,
             force: bool = False, paths: list[str] | None = None,
             progress: Progress | None = None) -> CheckoutResult:
    """Write a snapshot's files to ``dest`` (default: the path it was snapshotted from).

    A recorded path is written only inside the work tree (never into ``.git/`` or
    ``.lineage/``, nor through a symlink leading out); ``dest`` may be anywhere the
    user chooses. The workspace is compared with the recorded state of that path (what
    was last checked out there, and the latest snapshot of the dataset tracked there):
    files missing or different are written; tracked files the snapshot lacks are
    removed; a file whose content is neither recorded nor stored (a local edit) is a
    conflict unless ``force``. Untracked files (in no recorded state of the path) are
    left in place and listed in ``extra``; with ``force`` they are removed, and every
    local change lost is listed in ``discarded``. Rerunning after an interruption
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
                             partial=bool(paths), wanted=paths, progress=progress)
        except OSError as exc:  # an unwritable destination: /proc, a read-only mount, ...
            where = exc.filename if exc.filename is not None else dest_path
            raise PathError(f"cannot write {display(where)}: {exc.strerror or exc}") from None


def _recorded_states(repo: Repo, dest_path: Path) -> list[dict[str, Entry]]:
    """The recorded states of ``dest_path``: what was last checked out there, and the
    latest snapshot of the dataset tracked at that path (each as entries by path)."""
    sids: list[str] = []
    last = workspace.checked_out(repo, dest_path)
    if last is not None:
        sids.append(last.snapshot)
    ds = queries.dataset_by_path(repo.graph, repo.relpath(dest_path))
    if ds is not None and ds.latest_snapshot and ds.latest_snapshot not in sids:
        sids.append(ds.latest_snapshot)
    states = []
    for s in sids:
        try:
            states.append(load_manifest(repo, s, check_paths=False).by_path())
        except LineageError:  # a snapshot this clone no longer resolves: no recorded state
            continue
    return states


def _some(paths: list[str]) -> str:
    return ", ".join(display(c) for c in paths[:5]) + (
        f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def _checkout(repo: Repo, sid: str, manifest: Manifest, dest_path: Path, entries: list[Entry],
              dirs: list[str], *, force: bool, partial: bool, wanted: list[str] | None,
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
    states = _recorded_states(repo, dest_path)

    def recorded(rel: str, digest: str | None) -> bool:
        """Is this content the recorded state of ``rel`` (so not a local change)?"""
        return digest is not None and any(rel in st and st[rel].digest == digest for st in states)

    def safe(rel: str, digest: str | None) -> bool:
        """Replacing it loses nothing: recorded there or in any snapshot, and stored."""
        return digest is not None and repo.store.exists(digest) and (
            recorded(rel, digest) or bool(queries.files_with_digest(repo.graph, digest, limit=1)))

    seen: dict[Path, bool] = {}
    to_write: list[tuple[Entry, Path]] = []
    conflicts: list[str] = []
    unstored: list[str] = []
    discarded: list[str] = []
    unchanged = 0
    cache = repo.stat_cache

    def current_digest(target: Path, st: os.stat_result, size_hint: int | None) -> str | None:
        fs = FileStat.of(st)
        digest = cache.lookup(str(target), fs)
        if digest is None and (size_hint is None or st.st_size == size_hint or not force):
            digest = hash_file(target, st.st_size)
            cache.update([(str(target), fs, digest)])
        return digest

    def judge(rel: str, digest: str | None) -> None:
        """A file checkout replaces or removes: a conflict, unless its content is safe."""
        if safe(rel, digest):
            return
        if force:
            discarded.append(rel)
        elif recorded(rel, digest):
            unstored.append(rel)
        else:
            conflicts.append(rel)

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
        digest = current_digest(target, st, e.size)
        if digest == e.digest:
            want_exec = e.executable and not no_exec
            if bool(st.st_mode & 0o111) != want_exec and not _stat.S_ISLNK(lst.st_mode):
                os.chmod(target, 0o755 if want_exec else 0o644)
            unchanged += 1
            continue
        judge(e.path, digest)
        to_write.append((e, target))
    for d in dirs:
        check_inside(root_resolved, dest_path / d, seen)
        if os.path.lexists(dest_path / d) and not (dest_path / d).is_dir():
            conflicts.append(d)
    # files the target lacks: tracked ones (in a recorded state of this path) are removed,
    # untracked ones are left in place (removed with --force, and listed)
    report = ScanReport()
    to_remove: list[tuple[str, Path]] = []
    extra: list[str] = []
    if manifest.kind == "folder" and dest_path.is_dir():
        _, present = scan(dest_path, report)
        listed = {e.path for e in manifest.entries}
        for f in sorted(present, key=lambda f: f.rel):
            if f.rel in listed or partial:  # like git checkout REV -- PATH: nothing removed
                continue
            path = dest_path / f.rel
            try:
                check_parent(root_resolved, path, seen)
            except UnsafePathError:  # reached through a link leading out: never touched
                extra.append(f.rel)
                continue
            tracked = any(f.rel in st for st in states)
            if not tracked:
                if force:
                    discarded.append(f.rel)
                    to_remove.append((f.rel, path))
                else:
                    extra.append(f.rel)
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            judge(f.rel, current_digest(path, st, None))
            to_remove.append((f.rel, path))
    if conflicts:
        raise ConflictError(
            f"checkout would overwrite local changes in {len(conflicts)} file(s): {_some(conflicts)}; "
            "snapshot them first or pass --force"
        )
    if unstored:
        raise ConflictError(
            f"checkout would overwrite {len(unstored)} file(s) whose bytes are not in the local "
            f"store (recorded with --no-store): {_some(unstored)}; snapshot them first or pass --force"
        )
    missing = [e.path for e, _ in to_write if not repo.store.exists(e.digest)]
    if missing:
        raise MissingObjectError(
            f"{len(missing)} file(s) of snapshot {sid[:12]} are not in the local store "
            f"(e.g. {display(missing[0])}); run 'lineage pull {sid[:12]}'"
        )
    if to_write or to_remove:  # the tree state recorded for the path will no longer hold
        cache.drop_tree(str(dest_path))
    total = sum(e.size for e, _ in to_write)
    done = 0
    link = repo.link_mode
    updates = []
    written: dict[str, tuple[tuple[int, int, int, int], bool]] = {}  # path -> stat, executable
    if manifest.kind == "folder":
        dest_path.mkdir(parents=True, exist_ok=True)
    staged = _Staging(dest_path, [t for _, t in to_write], [dest_path / d for d in dirs]) \
        if manifest.kind == "folder" else None
    for d in dirs:
        if staged is None or staged.folder_top(dest_path / d) is None:
            (dest_path / d).mkdir(parents=True, exist_ok=True)
    try:
        for e, target in to_write:
            _faults.point("checkout.write")
            executable = e.executable and not no_exec
            top = staged.top(target) if staged is not None else None
            if top is None:  # into an existing folder: a temporary file renamed over it
                repo.store.copy_to(e.digest, target, executable=executable, link=link)
                st = os.stat(target)
            else:  # into a new folder, staged under a temporary name: written in place
                st = repo.store.write_new(e.digest, staged.staging_path(top, target),
                                          executable=executable, link=link)
            # a rename keeps the device, inode, size and mtime: the stat cache entry holds
            fs = FileStat.of(st)
            updates.append((str(target), fs, e.digest))
            written[e.path] = ((fs[0], fs[1], fs[2], fs[3]), bool(st.st_mode & 0o111))
            if top is not None:
                _faults.point("checkout.temp")  # written in its staged folder, not yet in place
                staged.done(top)
            done += e.size
            if progress:
                progress(done, total)
    finally:
        cache.update(updates)  # what was written is known even if a later write fails
    removed = _remove(dest_path, to_remove, manifest)
    if manifest.kind == "folder":
        unlink_all(report.temps)  # we hold the checkout lock: no other checkout is writing them
    else:
        with os.scandir(dest_path.parent) as it:
            unlink_all([de.path for de in it if is_temp_name(de.name)])
    if manifest.kind == "folder" and not partial and (to_write or to_remove):
        _record_folder_index(cache, dest_path, sid, manifest, written)
    workspace.remember(repo, dest_path, sid, wanted if partial else None)
    return CheckoutResult(sid, str(dest_path), [e.path for e, _ in to_write], unchanged, extra,
                          [r for r in removed if r not in discarded], discarded)


class _Staging:
    """New folders of a checkout, written under a temporary name and renamed into place
    when their last file is written.

    Renaming a temporary file over each file costs more than writing a small file;
    a new folder needs it once. A killed checkout leaves a temporary folder (removed
    by the next checkout, never recorded by a snapshot) and no partial file in sight.
    The top new folders are those whose parent exists; ``dest`` itself is never staged.
    """

    def __init__(self, dest: Path, targets: list[Path], dirs: list[Path]) -> None:
        self._tops: dict[Path, Path | None] = {dest: None}
        self._staging: dict[Path, str] = {}
        self._left: dict[Path, int] = {}
        made: set[str] = set()
        for d in dirs:
            top = self._top_of(d)
            if top is not None:
                made.add(self._stage(top, d))
        for t in targets:
            top = self._top_of(t.parent)
            if top is not None:
                self._left[top] = self._left.get(top, 0) + 1
                made.add(os.path.dirname(self._stage(top, t)))
        for folder in sorted(made):  # parents sort before their children: one mkdir each
            os.makedirs(folder, exist_ok=True)
        for top in [t for t in self._staging if t not in self._left]:  # only empty folders
            os.rename(self._staging[top], top)

    def _top_of(self, folder: Path) -> Path | None:
        """The topmost new folder holding ``folder`` (None when it exists)."""
        hit = self._tops.get(folder, False)
        if hit is not False:
            return hit
        if os.path.lexists(folder):
            top = None
        else:
            top = self._top_of(folder.parent) or folder
        self._tops[folder] = top
        return top

    def _stage(self, top: Path, path: Path) -> str:
        base = self._staging.get(top)
        if base is None:
            base = self._staging[top] = str(top.parent / temp_name())
        rel = path.relative_to(top).as_posix()
        return base if rel == "." else f"{base}/{rel}"

    def top(self, target: Path) -> Path | None:
        """The staged folder ``target`` is written into (None: its folder exists)."""
        return self._tops.get(target.parent)

    def folder_top(self, folder: Path) -> Path | None:
        return self._tops.get(folder)

    def staging_path(self, top: Path, target: Path) -> str:
        return self._stage(top, target)

    def done(self, top: Path) -> None:
        self._left[top] -= 1
        if self._left[top] == 0:
            os.rename(self._staging[top], top)


def _record_folder_index(cache: StatCache, dest_path: Path, sid: str, manifest: Manifest,
                         written: dict[str, tuple[tuple[int, int, int, int], bool]]) -> None:
    """Record the folder index of ``dest_path`` for snapshot ``sid``, as a verified status
    would, so the next status skips every folder this checkout wrote whole.

    A folder's stat key is recorded only when this checkout wrote every file of it (by
    the stat taken after writing) and the folder holds nothing else; any other folder
    keeps an empty key, which never matches: status compares it.
    """
    by_prefix: dict[str, list[str]] = {}
    for e in manifest.entries:
        by_prefix.setdefault(prefix_of(e.path), []).append(e.path)
    keys: dict[str, str] = {}
    for prefix, paths in by_prefix.items():
        if all(p in written for p in paths):
            key = _written_folder_key(dest_path, prefix, written, len(paths))
            if key is not None:
                keys[prefix] = key
    if keys:
        record_folders(cache, str(dest_path), sid, keys, manifest.entries)


def _written_folder_key(dest_path: Path, prefix: str,
                        written: dict[str, tuple[tuple[int, int, int, int], bool]], count: int) -> str | None:
    """The stat key ``walk`` gives the folder ``prefix`` (its files in listing order), from
    the stats taken as they were written; None when it holds any file not written here."""
    files: list[FoundFile] = []
    with os.scandir(os.path.join(dest_path, prefix) if prefix else dest_path) as it:
        for de in it:
            name = de.name
            if name[0] == "." and (is_temp_name(name) or is_protected(name)):
                continue  # never listed by a scan
            rel = prefix + name
            hit = written.get(rel)
            if hit is None:
                if de.is_dir():
                    continue  # a subfolder: its own key
                return None
            files.append(FoundFile(rel, de.path, hit[0], hit[1]))
    return folder_key(files) if len(files) == count else None


def _remove(dest_path: Path, to_remove: list[tuple[str, Path]], manifest: Manifest) -> list[str]:
    """Remove these files, then the folders they leave empty (not those the target lists)."""
    removed: list[str] = []
    if not to_remove:
        return removed
    folders: set[Path] = set()
    for rel, path in to_remove:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        removed.append(rel)
        folders.update(p for p in path.parents if p != dest_path and dest_path in p.parents)
    keep = {dest_path / d for d in manifest.dirs}
    keep.update(p for e in manifest.entries for p in (dest_path / e.path).parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder in keep:
            continue
        try:
            folder.rmdir()
        except OSError:  # not empty (untracked files left in place), or already gone
            pass
    return removed


def _recoverable(repo: Repo, digest: str | None) -> bool:
    """Is this content stored and part of a recorded snapshot (so it can be checked out again)?"""
    return digest is not None and repo.store.exists(digest) and bool(
        queries.files_with_digest(repo.graph, digest, limit=1))
