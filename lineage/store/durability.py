"""When the store's new objects reach the disk.

Two policies (``core.durability`` in ``config.toml``):

``immediate`` (the default)
    Objects are flushed before they become visible (one ``fsync`` each for a few, one
    ``syncfs`` for many, with write-out started as they are copied): once a snapshot is
    recorded, its bytes survive a power cut.

``deferred``
    New objects are made visible without waiting for their bytes to reach the disk:
    the kernel writes them back on its own (within about 30 s on Linux). Before a
    writer renames objects into place it appends their names to its **journal**
    (``.lineage/unflushed/<boot>-<pid>-<random>.jsonl``), and flushes that small
    file. A process that dies loses nothing (its written pages stay in the kernel);
    only a machine that stops (power cut, kernel crash) can lose bytes that were not
    yet written back, and those are exactly the objects of a journal whose boot is
    not the current one. The next command that opens the store rehashes them, removes
    any that came back damaged (a snapshot or a pull brings them back) and says so.
    Journals of this boot are flushed and removed once they are a minute old and
    their writer has exited. Needs the kernel to name its boot
    (``/proc/sys/kernel/random/boot_id``); elsewhere ``immediate`` applies.

Objects a pull downloads are always written ``deferred`` where it can apply: the remote
holds them, so a machine stop costs at most a second download, never a version. ``gc``,
which removes the old copy after rewriting a pack, always writes ``immediate``.

A journal is a JSON header line ``{"boot", "host", "pid", "started"}`` then one line
per commit ``{"objects": [hex digests], "packs": [pack ids]}``. A line torn by a crash
named nothing visible yet: its objects are renamed in only after it is flushed.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from lineage.errors import LineageError
from lineage.store.packs import check_local

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
#: A journal of this boot is flushed and removed once untouched this long (the kernel
#: has long written its objects back by then, so the flush costs nothing).
SETTLE_AFTER = 60.0
#: Past this many objects a journal's flush is one ``syncfs`` rather than an fsync each.
_FSYNC_EACH_MAX = 64


class Durability(str, Enum):
    """When a new object's bytes are flushed to disk (see the module's docstring)."""

    deferred = "deferred"
    immediate = "immediate"


_boot: list[str | None] = []


def boot_id() -> str | None:
    """This boot's ID (Linux), or None where the kernel does not name its boots."""
    if not _boot:
        try:
            with open(BOOT_ID_PATH, encoding="ascii") as fh:
                _boot.append(fh.read().strip() or None)
        except (OSError, UnicodeDecodeError):
            _boot.append(None)
    return _boot[0]


def effective(requested: Durability | None) -> Durability:
    """The policy that applies here (None: the default, immediate); deferred needs a boot
    ID to judge a journal by."""
    if requested is Durability.deferred and boot_id() is not None:
        return Durability.deferred
    return Durability.immediate


def syncfs(path: Path) -> None:
    """Flush the filesystem holding ``path`` (Linux syncfs), or everything elsewhere."""
    try:
        import ctypes  # lazy: only writers flush

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """This process's journal of objects made visible before they were flushed.

    Created at the first record and held (``flock``) until the process exits, so a
    settling reader never removes a journal its writer may still append to.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None
        self._pid = 0
        self.path: Path | None = None
        self._lock = threading.Lock()

    def record(self, objects: Iterable[str] = (), packs: Iterable[str] = ()) -> None:
        """Name objects and packs about to become visible; returns once that is on disk."""
        line = json.dumps({"objects": list(objects), "packs": list(packs)}, separators=(",", ":"))
        with self._lock:
            first = self._fd is None or self._pid != os.getpid()  # a forked child keeps its own
            if first:
                self._open()
            assert self._fd is not None
            data = (line + "\n").encode()
            if first:
                header = {"boot": boot_id(), "host": socket.gethostname(), "pid": os.getpid(),
                          "started": time.time()}
                data = (json.dumps(header, separators=(",", ":")) + "\n").encode() + data
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
                if first:
                    _fsync_dir(self.folder)
            except BaseException:
                # a line that may be torn (a full disk): the next record starts a new
                # journal, so no complete line ever follows a torn one in a file
                os.close(self._fd)
                self._fd = None
                raise

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{boot_id()}-{os.getpid()}-{os.urandom(4).hex()}.jsonl"
        path = self.folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd, self._pid, self.path = fd, os.getpid(), path

    def close(self) -> None:
        """Release the journal (it stays on disk, for a later ``settle``)."""
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._pid == os.getpid():
            os.close(fd)


@dataclass
class Settled:
    """What one look at the journals did."""

    #: journals of this boot flushed and removed
    flushed: int = 0
    #: objects and packs of an earlier boot rehashed
    checked: int = 0
    #: loose objects of an earlier boot that came back damaged, removed
    damaged: list[str] = field(default_factory=list)
    #: objects of damaged packs that could not be salvaged, removed with their pack
    damaged_packed: list[str] = field(default_factory=list)
    #: packs of an earlier boot whose index came back unreadable, removed whole
    unreadable_packs: int = 0
    #: journals of an earlier boot, checked and removed
    recovered: int = 0

    @property
    def lost(self) -> int:
        return len(self.damaged) + len(self.damaged_packed)

    def message(self) -> str | None:
        """One line for people when something was lost, else None."""
        if not self.lost and not self.unreadable_packs:
            return None
        what = f"{self.lost} object(s)" if self.lost else ""
        if self.unreadable_packs:
            what += (" and " if what else "") + f"{self.unreadable_packs} pack(s)"
        first = (self.damaged or self.damaged_packed or [""])[0]
        among = f" (object {first[:12]} among them)" if first else ""
        return (f"the machine stopped before {what} written to the store reached the disk"
                f"{among}: they came back damaged and were removed; snapshot the files again "
                "or pull them ('lineage verify' lists what is missing)")


def _is_name(value: object) -> bool:
    """An object digest or a pack ID: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _read(path: Path) -> tuple[dict | None, list[str], list[str]]:
    """The header and every complete record of a journal (a torn last line is skipped)."""
    objects: list[str] = []
    packs: list[str] = []
    header = None
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh):
            if not raw.endswith(b"\n"):
                break
            try:
                item = json.loads(raw)
            except ValueError:
                break
            if not isinstance(item, dict):
                break
            if i == 0:
                header = item
                continue
            # names of 64 hex digits only: nothing in a journal reaches a path outside the store
            objects.extend(x for x in item.get("objects", ()) if _is_name(x))
            packs.extend(x for x in item.get("packs", ()) if _is_name(x))
    return header, objects, packs


def settle(store, *, now: float | None = None) -> Settled:  # store: ObjectStore (import cycle)
    """Look at the journals in ``store``: flush and remove this boot's old ones whose
    writer has exited; rehash the objects of an earlier boot's, removing what came back
    damaged. Journals of another host (a store on a shared filesystem) are left alone.
    Never raises for a journal it cannot read or remove (a read-only store, a race with
    another settling process): it is left for later."""
    out = Settled()
    folder = store.root / "unflushed"
    try:
        names = os.listdir(folder)
    except OSError:
        return out
    if not names:
        return out
    current, host = boot_id(), socket.gethostname()
    now = time.time() if now is None else now
    for name in sorted(names):
        if not name.endswith(".jsonl"):
            continue
        path = folder / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its writer is alive
            try:
                age = now - os.fstat(fd).st_mtime
                header, objects, packs = _read(path)
            except OSError:
                continue
            if header is None:
                # torn at its first line: nothing was renamed in on its account
                if age > SETTLE_AFTER or not name.startswith(f"{current}-"):
                    path.unlink(missing_ok=True)
                continue
            if header.get("host") != host:
                continue
            if header.get("boot") == current:
                if age <= SETTLE_AFTER:
                    continue
                _flush(store, objects, packs)
                out.flushed += 1
            else:
                _recover(store, objects, packs, out)
                out.recovered += 1
            path.unlink(missing_ok=True)
        except OSError:
            continue
        finally:
            os.close(fd)
    return out


def _flush(store, objects: list[str], packs: list[str]) -> None:
    paths = [store.path(d) for d in objects]
    paths += [store.packs_dir / f"{p}{ext}" for p in packs for ext in (".pack", ".idx")]
    if len(paths) > _FSYNC_EACH_MAX:
        syncfs(store.objects if store.objects.is_dir() else store.root)
        return
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except FileNotFoundError:
            continue  # collected since
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _recover(store, objects: list[str], packs: list[str], out: Settled) -> None:
    for digest in objects:
        path = store.path(digest)
        if not path.exists():
            continue
        out.checked += 1
        try:
            good = store.verify(digest)
        except (OSError, LineageError):
            good = False
        if not good:
            path.unlink(missing_ok=True)
            out.damaged.append(digest)
    for pack_id in packs:
        idx = store.packs_dir / f"{pack_id}.idx"
        if not idx.exists():
            continue
        out.checked += 1
        found = check_local(idx)
        if not found.problems and not found.corrupt:
            continue
        bad = set(found.corrupt)
        store.rewrite_pack(idx, keep=[d for d in found.digests if d not in bad])
        out.damaged_packed.extend(found.corrupt)
        if not found.digests:
            out.unreadable_packs += 1
    store.forget_packs()
