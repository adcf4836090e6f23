"""Writing a snapshot's files back: only inside the work tree, never over local edits."""

from __future__ import annotations

import os
import stat as _stat
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import blake3

from lineage.core import faults as _faults
from lineage.core.hashing import FileStat, hash_file
from lineage.core.paths import (check_inside, check_parent, check_relative, checked_destination, display,
                                is_protected, is_temp_name, temp_name, under_git)
from lineage.core.progress import Progress
from lineage.errors import (ConflictError, CorruptObjectError, LineageError, MissingObjectError, PathError,
                            UnknownRefError, UnsafePathError, UsageError)
from lineage.repo import Repo
from lineage.snapshots import queries, reference, workspace
from lineage.snapshots.manifest import Entry, Manifest
from lineage.snapshots.refs import load_manifest, resolve
from lineage.snapshots.scan import (FoundFile, ScanReport, checkout_lock, folder_key, prefix_of, record_folders,
                                    scan, unlink_all)
from lineage.store.packs import locate_all

#: the stat cache learns what a checkout wrote this many files at a time
_UPDATE_BATCH = 20_000


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
    reference.refuse_checkout(repo, sid)  # bytes that live elsewhere (s3://...) are not written
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


def _recorded_states(repo: Repo, dest_path: Path, sid: str, manifest: Manifest) -> list[dict[str, Entry]]:
    """The recorded states of ``dest_path``: what was last checked out there, and the
    latest snapshot of the dataset tracked at that path (each as entries by path;
    ``manifest``, the one of ``sid`` being checked out, is not read again)."""
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
            states.append((manifest if s == sid else load_manifest(repo, s, check_paths=False)).by_path())
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
        file_target = str(dest_path)
    else:
        if dest_path.exists() and not dest_path.is_dir():
            raise ConflictError(f"{display(dest_path)} is a file; a folder snapshot needs a folder")
    folder = manifest.kind == "folder"
    base = str(dest_path)

    def where(e: Entry) -> str:
        """The path ``e`` is written to (a string: a million Path objects cost more than the writes)."""
        return f"{base}/{e.path}" if folder else file_target

    root = dest_path if folder else dest_path.parent
    root_resolved = root.resolve()
    # defence in depth: nothing written below a .git folder is ever executable (a hook)
    no_exec = under_git(root_resolved)
    read_states: list[list[dict[str, Entry]]] = []

    def states() -> list[dict[str, Entry]]:
        """The recorded states, read the first time a file in place is judged (never for
        a checkout into an empty folder: a second copy of a large manifest)."""
        if not read_states:
            read_states.append(_recorded_states(repo, dest_path, sid, manifest))
        return read_states[0]

    def recorded(rel: str, digest: str | None) -> bool:
        """Is this content the recorded state of ``rel`` (so not a local change)?"""
        return digest is not None and any(rel in st and st[rel].digest == digest for st in states())

    def safe(rel: str, digest: str | None) -> bool:
        """Replacing it loses nothing: recorded there or in any snapshot, and stored."""
        return digest is not None and repo.store.exists(digest) and (
            recorded(rel, digest) or bool(queries.files_with_digest(repo.graph, digest, limit=1)))

    seen: dict[Path, bool] = {}
    checked: set[str] = set()  # parent folders already checked (one Path per folder, not per file)
    to_write: list[Entry] = []
    conflicts: list[str] = []
    unstored: list[str] = []
    discarded: list[str] = []
    unchanged = 0
    cache = repo.stat_cache

    def current_digest(target: str, st: os.stat_result, size_hint: int | None) -> str | None:
        fs = FileStat.of(st)
        digest = cache.lookup(target, fs)
        if digest is None and (size_hint is None or st.st_size == size_hint or not force):
            digest = hash_file(target, st.st_size)
            cache.update([(target, fs, digest)])
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

    for e in entries:
        target = where(e)
        if folder:
            parent = target.rpartition("/")[0]
            if parent not in checked:
                check_parent(root_resolved, Path(target), seen)
                checked.add(parent)
        try:
            lst = os.lstat(target)
            st = os.stat(target) if _stat.S_ISLNK(lst.st_mode) else lst
        except FileNotFoundError:
            to_write.append(e)
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
        to_write.append(e)
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
            tracked = any(f.rel in st for st in states())
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
            judge(f.rel, current_digest(str(path), st, None))
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
    store = repo.store
    packs = store.packs()
    # where each object lies, located for all at once (compact arrays, not a set of every
    # stored digest); an object in no pack is loose, or missing
    which, offsets, lengths = locate_all(packs, (e.digest for e in to_write))
    missing = [e.path for i, e in enumerate(to_write) if which[i] < 0 and not store.is_loose(e.digest)]
    if missing:
        raise MissingObjectError(
            f"{len(missing)} file(s) of snapshot {sid[:12]} are not in the local store "
            f"(e.g. {display(missing[0])}); run 'lineage pull {sid[:12]}'"
        )
    if to_write or to_remove:  # the tree state recorded for the path will no longer hold
        cache.drop_tree(str(dest_path))
    total = sum(e.size for e in to_write)
    done = 0
    link = repo.link_mode
    updates: list[tuple[str, FileStat, str]] = []
    # the folder index: each folder's stat key, made from the stats taken as its files
    # were written, as soon as its last file is written (held per folder, not per file)
    index = folder and not partial
    left: dict[str, int] = {}
    if index:
        for e in manifest.entries:
            prefix = prefix_of(e.path)
            left[prefix] = left.get(prefix, 0) + 1
    pending: dict[str, dict[str, tuple[tuple[int, int, int, int], bool]]] = {}
    keys: dict[str, str] = {}
    if folder:
        dest_path.mkdir(parents=True, exist_ok=True)
    elif to_write:  # a file whose folder a fresh clone does not have yet
        dest_path.parent.mkdir(parents=True, exist_ok=True)
    staged = _Staging(base, (where(e) for e in to_write), [f"{base}/{d}" for d in dirs]) if folder else None
    for d in dirs:
        if staged is None or staged.folder_top(f"{base}/{d}") is None:
            (dest_path / d).mkdir(parents=True, exist_ok=True)
    faulty = bool(os.environ.get("LINEAGE_FAULT"))

    def place(i: int) -> tuple[str, str | None, str, bool]:
        """Where entry ``i`` goes: its target, its staged top folder, the path written, exec bit."""
        e = to_write[i]
        target = where(e)
        top = staged.top(target) if staged is not None else None
        out = target if top is None else staged.staging_path(top, target)
        return target, top, out, e.executable and not no_exec

    def write_loose(i: int) -> os.stat_result:
        e = to_write[i]
        target, top, out, executable = place(i)
        if top is None:  # into an existing folder: a temporary file renamed over it
            store.copy_to(e.digest, target, executable=executable, link=link)
            return os.stat(target)
        # into a new folder, staged under a temporary name: written in place
        return store.write_new(e.digest, out, executable=executable, link=link)

    # large loose objects are copied on helper threads ahead of the loop (the kernel's copy
    # releases the GIL), two at a time, while the loop goes on in order: each file is
    # written atomically or into a staged folder, so nothing half-written is ever in sight
    big = [i for i, e in enumerate(to_write) if which[i] < 0 and e.size >= _AHEAD_BYTES]
    pool = ahead = None
    if len(big) > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=_AHEAD_THREADS, thread_name_prefix="lineage-checkout")
        ahead = {i: pool.submit(write_loose, i) for i in big}
    try:
        for i, e in enumerate(to_write):
            if faulty:
                _faults.point("checkout.write")
            target, top, out, executable = place(i)
            n = which[i]
            if n >= 0:  # packed: one positional read, verified, then written
                data = packs[n].read(offsets[i], lengths[i])
                if len(data) != lengths[i] or blake3.blake3(data).hexdigest() != e.digest:
                    raise CorruptObjectError(f"object {e.digest[:12]} is corrupt (its bytes do not match its digest)")
                st = _write_bytes(data, out, 0o755 if executable else 0o644, atomic=top is None,
                                  faulty=faulty)
            elif ahead is not None and i in ahead:
                st = ahead.pop(i).result()
            else:
                st = write_loose(i)
            # a rename keeps the device, inode, size and mtime: the stat cache entry holds
            fs = FileStat.of(st)
            updates.append((target, fs, e.digest))
            if len(updates) >= _UPDATE_BATCH:
                cache.update(updates)
                updates.clear()
            if index:
                prefix, _, name = e.path.rpartition("/")
                prefix = prefix + "/" if prefix else ""
                files = pending.setdefault(prefix, {})
                files[name] = ((fs[0], fs[1], fs[2], fs[3]), bool(st.st_mode & 0o111))
                if len(files) == left[prefix]:  # every file of the folder written here
                    key = _written_folder_key(os.path.dirname(out), prefix, pending.pop(prefix))
                    if key is not None:
                        keys[prefix] = key
            if top is not None:
                if faulty:
                    _faults.point("checkout.temp")  # written in its staged folder, not yet in place
                staged.done(top)
            done += e.size
            if progress:
                progress(done, total)
    finally:
        if pool is not None:  # on a failure: nothing still writing once this returns
            pool.shutdown(wait=True, cancel_futures=True)
        cache.update(updates)  # what was written is known even if a later write fails
    removed = _remove(dest_path, to_remove, manifest)
    if manifest.kind == "folder":
        unlink_all(report.temps)  # we hold the checkout lock: no other checkout is writing them
    else:
        with os.scandir(dest_path.parent) as it:
            unlink_all([de.path for de in it if is_temp_name(de.name)])
    if index and (to_write or to_remove) and keys:
        record_folders(cache, base, sid, keys, manifest.entries)
    workspace.remember(repo, dest_path, sid, wanted if partial else None)
    return CheckoutResult(sid, str(dest_path), [e.path for e in to_write], unchanged, extra,
                          [r for r in removed if r not in discarded], discarded)


def _write_bytes(data: bytes, dest: str, mode: int, *, atomic: bool, faulty: bool) -> os.stat_result:
    """Write ``data`` to ``dest``: in place (a new file in a staged folder), or through a
    temporary file renamed over it (``atomic``: into a folder in sight). Returns its stat."""
    out = os.path.join(os.path.dirname(dest), temp_name()) if atomic else dest
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)  # whatever the umask
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if atomic:
            if faulty:
                _faults.point("checkout.temp")  # the temporary file written, not yet renamed
            os.replace(out, dest)
    except BaseException:
        if atomic:
            try:
                os.unlink(out)
            except FileNotFoundError:
                pass
        raise
    return st


#: a loose object at least this large is copied ahead of the checkout loop, on one of
#: ``_AHEAD_THREADS`` helper threads
_AHEAD_BYTES = 8 << 20
_AHEAD_THREADS = 2


class _Staging:
    """New folders of a checkout, written under a temporary name and renamed into place
    when their last file is written.

    Renaming a temporary file over each file costs more than writing a small file;
    a new folder needs it once. A killed checkout leaves a temporary folder (removed
    by the next checkout, never recorded by a snapshot) and no partial file in sight.
    The top new folders are those whose parent exists; ``dest`` itself is never staged.
    Paths are strings: a checkout may write a million files.
    """

    def __init__(self, dest: str, targets: Iterable[str], dirs: list[str]) -> None:
        self._tops: dict[str, str | None] = {dest: None}
        self._staging: dict[str, str] = {}
        self._left: dict[str, int] = {}
        made: set[str] = set()
        for d in dirs:
            top = self._top_of(d)
            if top is not None:
                made.add(self._stage(top, d))
        for t in targets:
            top = self._top_of(os.path.dirname(t))
            if top is not None:
                self._left[top] = self._left.get(top, 0) + 1
                made.add(os.path.dirname(self._stage(top, t)))
        for folder in sorted(made):  # parents sort before their children: one mkdir each
            os.makedirs(folder, exist_ok=True)
        for top in [t for t in self._staging if t not in self._left]:  # only empty folders
            os.rename(self._staging[top], top)

    def _top_of(self, folder: str) -> str | None:
        """The topmost new folder holding ``folder`` (None when it exists)."""
        hit = self._tops.get(folder, False)
        if hit is not False:
            return hit
        if os.path.lexists(folder):
            top = None
        else:
            top = self._top_of(os.path.dirname(folder)) or folder
        self._tops[folder] = top
        return top

    def _stage(self, top: str, path: str) -> str:
        base = self._staging.get(top)
        if base is None:
            base = self._staging[top] = os.path.join(os.path.dirname(top), temp_name())
        return base if path == top else base + path[len(top):]

    def top(self, target: str) -> str | None:
        """The staged folder ``target`` is written into (None: its folder exists)."""
        return self._tops.get(os.path.dirname(target))

    def folder_top(self, folder: str) -> str | None:
        return self._tops.get(folder)

    def staging_path(self, top: str, target: str) -> str:
        return self._stage(top, target)

    def done(self, top: str) -> None:
        self._left[top] -= 1
        if self._left[top] == 0:
            os.rename(self._staging[top], top)


def _written_folder_key(folder: str, prefix: str,
                        written: dict[str, tuple[tuple[int, int, int, int], bool]]) -> str | None:
    """The stat key ``walk`` gives the folder ``prefix`` (its files in listing order, read
    at ``folder``, where it now lies), from the stats taken as they were written (by
    name); None when it holds any file not written here."""
    files: list[FoundFile] = []
    with os.scandir(folder) as it:
        for de in it:
            name = de.name
            if name[0] == "." and (is_temp_name(name) or is_protected(name)):
                continue  # never listed by a scan
            hit = written.get(name)
            if hit is None:
                if de.is_dir():
                    continue  # a subfolder: its own key
                return None
            files.append(FoundFile(prefix + name, de.path, hit[0], hit[1]))
    return folder_key(files) if len(files) == len(written) else None


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
