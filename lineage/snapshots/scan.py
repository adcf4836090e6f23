"""Walking a file or folder: the files a snapshot holds, what it skipped, and the
temporary files a killed checkout left behind (removed under the checkout lock)."""

from __future__ import annotations

import fcntl
import marshal
import os
import shutil
import stat as _stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import blake3

from lineage.core.hashing import FileStat
from lineage.core.paths import display, is_protected, is_temp_name
from lineage.errors import PathError
from lineage.repo import DIRNAME, Repo
from lineage.store.statcache import StatCache

#: Folder names never included in a snapshot.
SKIP_DIRS = frozenset({DIRNAME, ".git", ".hg", ".svn", "__pycache__"})


class FoundFile(NamedTuple):
    rel: str        # path inside the snapshot
    abspath: str
    stat: FileStat  # (dev, ino, size, mtime_ns): a FileStat or a plain tuple
    executable: bool

    @property
    def size(self) -> int:
        return self.stat[2]


@dataclass
class ScanReport:
    """What ``scan`` saw besides the files it returns.

    ``boundary`` (the repository root, resolved) enables the check for symbolic
    links that lead outside it.
    """

    boundary: Path | None = None
    dirs: list[str] = field(default_factory=list)      # empty folders (rel)
    skipped: list[str] = field(default_factory=list)   # "rel (why)": special files, dangling links
    outside: list[str] = field(default_factory=list)   # "rel -> target": links followed out
    temps: list[str] = field(default_factory=list)     # abspaths of checkout temporary files
    #: (folder prefix, start, end) of each folder's files in ``scan``'s list
    spans: list[tuple[str, int, int]] = field(default_factory=list)
    #: stat key of each folder's files, by prefix (set by ``tree_key``)
    keys: dict[str, str] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        out = []
        if self.outside:
            out.append(f"followed {len(self.outside)} symbolic link(s) leading outside the repository: "
                       + _some(self.outside))
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} special file(s) or dangling link(s): "
                       + _some(self.skipped))
        return out


def _some(items: list[str], n: int = 5) -> str:
    shown = ", ".join(display(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _kind_of(mode: int) -> str:
    if _stat.S_ISFIFO(mode):
        return "FIFO"
    if _stat.S_ISSOCK(mode):
        return "socket"
    if _stat.S_ISCHR(mode) or _stat.S_ISBLK(mode):
        return "device"
    return "special file"


def scan(path: Path, report: ScanReport | None = None) -> tuple[str, list[FoundFile]]:
    """List the files of ``path`` (a file or a folder), following symlinks to files.

    With a ``report``, also collect empty folders, skipped special files and dangling
    links, links leading outside ``report.boundary`` and leftover checkout temporary
    files (never listed as data). Files come folder by folder; ``report.spans`` tells
    where each folder's run starts and ends.
    """
    rep = report if report is not None else ScanReport()
    kind, folders = walk(path, rep)
    found: list[FoundFile] = []
    spans = rep.spans
    for prefix, files in folders:
        start = len(found)
        found.extend(files)
        spans.append((prefix, start, len(found)))
    return kind, found


def walk(path: Path, report: ScanReport) -> tuple[str, Iterator[tuple[str, list[FoundFile]]]]:
    """``scan``, one folder at a time: the kind, and (prefix, files) for each folder that
    holds files (prefix ``""`` for the root, else ``"a/b/"``), so a caller can look at a
    folder and let it go. A file gives one folder, prefix ``""``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise PathError(f"no such file or folder: {display(path)}") from None
    except OSError as exc:
        raise PathError(f"cannot read {display(path)}: {exc.strerror}") from None
    if _stat.S_ISREG(st.st_mode):
        one = FoundFile(path.name, str(path), tuple(FileStat.of(st)), bool(st.st_mode & 0o111))
        return "file", iter([("", [one])])
    if not _stat.S_ISDIR(st.st_mode):
        raise PathError(f"not a regular file or folder: {display(path)}")
    return "folder", _walk_folder(path, report)


def _walk_folder(path: Path, rep: ScanReport) -> Iterator[tuple[str, list[FoundFile]]]:
    inside: tuple[str, ...] = ()
    if rep.boundary is not None:  # a link may lead anywhere inside the repository or the dataset
        inside = (str(rep.boundary), os.path.realpath(path))
    stack = [(str(path), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise PathError(f"cannot read folder {display(folder)}: {exc.strerror}") from None
        found: list[FoundFile] = []
        depth = len(stack)
        for de in entries:
            name = de.name
            rel = prefix + name
            if name[0] == "." and (is_temp_name(name) or is_protected(name)):
                if is_temp_name(name):
                    rep.temps.append(de.path)
                continue  # checkout's own temporary files, and .git/.lineage in any case
            try:
                if de.is_dir():
                    if name not in SKIP_DIRS:
                        if inside and de.is_symlink():
                            _check_link(de.path, rel, inside, rep)
                        stack.append((de.path, rel + "/"))
                    continue
                est = de.stat()
            except FileNotFoundError:
                if de.is_symlink():
                    rep.skipped.append(f"{rel} (dangling link)")
                    continue  # a dangling symlink holds no content
                raise PathError(f"file vanished while scanning: {display(de.path)}") from None
            except OSError as exc:
                raise PathError(f"cannot read {display(de.path)}: {exc.strerror}") from None
            if est.st_mode & 0o170000 == 0o100000:  # S_ISREG, inlined: this loop runs per file
                if inside and de.is_symlink():
                    _check_link(de.path, rel, inside, rep)
                # a plain tuple compares equal to a FileStat and builds faster
                found.append(FoundFile(rel, de.path, (est.st_dev, est.st_ino, est.st_size,
                                                      est.st_mtime_ns), bool(est.st_mode & 0o111)))
            else:
                rep.skipped.append(f"{rel} ({_kind_of(est.st_mode)})")
        if found:
            yield prefix, found
        elif prefix and len(stack) == depth:
            rep.dirs.append(prefix[:-1])  # nothing recorded below it: an empty folder


def _check_link(abspath: str, rel: str, inside: tuple[str, ...], rep: ScanReport) -> None:
    real = os.path.realpath(abspath)
    if not any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in inside):
        rep.outside.append(f"{rel} -> {real}")


def check_names(kind: str, rel: str, files: list[FoundFile], dirs: list[str]) -> None:
    """Refuse names that are not valid UTF-8: manifests record UTF-8 text, so every
    clone can write the same names (one encode of all names: this runs per snapshot)."""
    names = [rel, *(f.rel for f in files), *dirs]
    try:
        "\n".join(names).encode("utf-8")
    except UnicodeEncodeError:
        bad = next(n for n in names if not _encodes(n))
        raise PathError(f"file name is not valid UTF-8: {display(bad)} (rename it to snapshot "
                        "this folder)") from None


def _encodes(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def stat_key(files: list[FoundFile]) -> str:
    """One digest of every (path, device, inode, size, mtime, executable) in a scan.

    When it equals the key recorded for a snapshot of the same root, no file can have
    changed (by the stat cache's own standard), so status and re-snapshot answer
    without loading the cache or the manifest.
    """
    # in walk order, not sorted: an unchanged folder lists the same way every time, and a
    # changed one would not match anyway (sorting 20,000 paths costs more than the walk)
    rows = [(f[0], f[2], f[3]) for f in files]  # (rel, stat, executable)
    return blake3.blake3(marshal.dumps(rows)).hexdigest()


def folder_key(files: list[FoundFile]) -> str:
    """``stat_key`` of one folder's files: the key the folder index compares."""
    # marshal version 2 writes no back-references, so the bytes do not depend on which
    # values happen to be shared objects (version 3 and later do)
    return blake3.blake3(marshal.dumps([(f[0], f[2], f[3]) for f in files], 2)).hexdigest()


def folder_keys(files: list[FoundFile], report: ScanReport) -> dict[str, str]:
    """The stat key of each folder of a scan, by prefix (``""`` or ``"a/b/"``)."""
    spans = report.spans
    if spans and spans[-1][2] == len(files):  # scan's own list, folder by folder
        return {prefix: folder_key(files[start:end]) for prefix, start, end in spans}
    groups: dict[str, list[FoundFile]] = {}
    for f in files:
        head, sep, _ = f.rel.rpartition("/")
        groups.setdefault(head + sep, []).append(f)
    return {prefix: folder_key(group) for prefix, group in groups.items()}


def combine_keys(keys: dict[str, str], dirs: list[str]) -> str:
    """The tree key of folder keys and empty folders (see ``tree_key``)."""
    key = blake3.blake3(marshal.dumps(sorted(keys.items()), 2)).hexdigest()
    return key if not dirs else key + "/dirs:" + blake3.blake3(
        "\n".join(sorted(dirs)).encode("utf-8", "surrogateescape")).hexdigest()


def tree_key(files: list[FoundFile], report: ScanReport) -> str:
    """One key of every (path, device, inode, size, mtime, executable) in a scan and its
    empty folders, made of the folders' keys (kept in ``report.keys``).

    When it equals the key recorded for a snapshot of the same root, no file can have
    changed (by the stat cache's own standard), so status and re-snapshot answer
    without loading the cache or the manifest.
    """
    report.keys = folder_keys(files, report)
    return combine_keys(report.keys, report.dirs)


def prefix_of(path: str) -> str:
    """The folder prefix of a manifest path: ``""`` or ``"a/b/"``."""
    head, sep, _ = path.rpartition("/")
    return head + sep


def record_folders(cache: StatCache, root: str, sid: str, keys: dict[str, str],
                   entries: Iterable[tuple[str, int, str, bool]], valid: set[str] | None = None) -> None:
    """Record the folder index of ``root`` for snapshot ``sid``: each folder's entries
    (``entries``: the snapshot's (path, size, digest, executable)) and its stat key from
    ``keys``, for the folders in ``valid`` (all when None: the scan was verified whole).
    A folder left out keeps an empty key, which never matches: status compares it."""
    if not isinstance(entries, Sequence):
        entries = list(entries)
    # two passes: the files of each folder, then each folder encoded as soon as its last
    # file is seen (entries sorted by path interleave a folder with its subfolders), so
    # only the folders in progress are held as dictionaries, not the whole manifest
    left: dict[str, int] = {}
    for e in entries:
        head = e[0].rpartition("/")[0]
        left[head] = left.get(head, 0) + 1
    open_folders: dict[str, dict[str, tuple[int, bytes, bool]]] = {}
    index: dict[str, tuple[str, str]] = {}
    blobs: dict[str, bytes] = {}
    for path, size, digest, executable in entries:
        head, sep, name = path.rpartition("/")
        folder = open_folders.get(head)
        if folder is None:
            folder = open_folders[head] = {}
        folder[name] = (size, bytes.fromhex(digest), executable)
        if len(folder) == left[head]:
            del open_folders[head]
            prefix = head + sep
            address, blob = cache.entries_blob(folder)
            blobs[address] = blob
            index[prefix] = (keys.get(prefix, "") if valid is None or prefix in valid else "", address)
    cache.set_folders(root, sid, index, blobs)


#: Suffix of a recorded tree key whose bytes were not stored (--no-store, or a status check).
NOT_STORED = "/digests-only"


def tree_matches(repo: Repo, target: Path, key: str, sid: str, *, need_stored: bool) -> bool:
    """Does the recorded tree state say ``target`` is exactly snapshot ``sid``?

    ``need_stored`` also requires that the bytes were stored when it was recorded
    (not a --no-store snapshot, nor a status check).
    """
    known = repo.stat_cache.tree(str(target))
    if known is None or known[1] != sid:
        return False
    return known[0] == key or (not need_stored and known[0] == key + NOT_STORED)


# -- checkout temporary files -----------------------------------------------------

@contextmanager
def checkout_lock(repo: Repo, *, blocking: bool = True) -> Iterator[bool]:
    """One checkout at a time per repository, so a temporary file found by a checkout
    (or by a snapshot that got the lock) is always a leftover of a killed one."""
    folder = repo.dir / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "checkout.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def remove_stale_temps(repo: Repo, temps: list[str], *, blocking: bool) -> None:
    if temps:
        with checkout_lock(repo, blocking=blocking) as got:
            if got:
                unlink_all(temps)


def unlink_all(paths: list[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except IsADirectoryError:  # a new folder a killed checkout was staging
            shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass
