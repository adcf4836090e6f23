"""Local content-addressed object store.

Layout: ``objects/ab/cdef…`` ("loose" objects) where ``abcdef…`` is the 64-hex BLAKE3
digest, and ``packs/<id>.pack`` + ``packs/<id>.idx`` for small objects written in
bulk (the pack format of ``lineage.store.packs``, see ``schemas/PACKS.md``): creating
20,000 tiny files costs far more than their bytes, so a snapshot of many small files
appends them to one pack instead. Objects are written to ``tmp/`` first and renamed
into place (a pack becomes visible only when its index is renamed in, last), so a
reader never sees a half-written object, and a crash leaves at most stray temporary
files (removed by ``clean_tmp``). Objects are read-only once stored and never modified.

Durability follows ``lineage.store.durability``: by default (``immediate``) a ``Batch``
writes many temporary files, then flushes once before renaming them all; ``deferred``
names them in a small flushed journal before they are renamed into place and leaves
their bytes to the kernel's write-back (checked after a machine stop).
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import BinaryIO

import blake3

from lineage.core import faults as _faults
from lineage.core.hashing import BLOCK_SIZE, DIGEST_HEX_LEN
from lineage.core.paths import temp_name
from lineage.core.process import BUSY, lock_timeout
from lineage.errors import BusyError, CorruptObjectError, MissingObjectError, PathError
from lineage.store.durability import Durability, Journal, Settled, effective
from lineage.store.durability import syncfs as _syncfs
from lineage.store.durability import settle as _settle
from lineage.store.packs import LocalPack, PackWriter

_FICLONE = 0x40049409  # linux/fs.h
_HEX = frozenset("0123456789abcdef")
#: Objects smaller than this go into a pack when written in a batch.
PACK_OBJECT_MAX = 1 << 20
#: A batch starts a new pack past this size, so no pack grows without bound.
PACK_SIZE_MAX = 512 << 20


class LinkMode(str, Enum):
    """How a workspace file's bytes get into the store."""

    copy = "copy"
    reflink = "reflink"
    hardlink = "hardlink"


def is_digest(value: str) -> bool:
    return len(value) == DIGEST_HEX_LEN and set(value) <= _HEX


def _reflink(src: str, dst_fd: int) -> bool:
    try:
        with open(src, "rb") as s:
            fcntl.ioctl(dst_fd, _FICLONE, s.fileno())
        return True
    except OSError:
        return False


class ObjectStore:
    """A folder of immutable objects named by their digest.

    >>> store = ObjectStore(Path(".lineage"))            # doctest: +SKIP
    >>> digest = store.put_bytes(b"hello")               # doctest: +SKIP
    >>> store.read_bytes(digest)                         # doctest: +SKIP
    b'hello'
    """

    def __init__(self, root: Path, *, durability: Durability | None = None) -> None:
        self.root = Path(root)
        #: when new objects reach the disk (``lineage.store.durability``)
        self.durability = effective(durability)
        self._journal: Journal | None = None
        self.objects = self.root / "objects"
        self._objects = str(self.objects)
        self.tmp = self.root / "tmp"
        self.packs_dir = self.root / "packs"
        self._packs: list[LocalPack] | None = None
        self._packed: set[bytes] | None = None
        self._lock = threading.Lock()
        #: objects this process has just hashed while storing them (a download): read-only
        #: and immutable, so writing them out again need not rehash them
        self._verified: set[str] = set()

    @property
    def defers(self) -> bool:
        """New objects become visible before their bytes are flushed (journaled instead)."""
        return self.durability is Durability.deferred

    def defers_with(self, durability: Durability | None) -> bool:
        """Whether a write asked for ``durability`` (None: the store's) is journaled."""
        return self.defers if durability is None else effective(durability) is Durability.deferred

    @property
    def journal(self) -> Journal:
        with self._lock:
            if self._journal is None:
                self._journal = Journal(self.root / "unflushed")
            return self._journal

    def settle(self) -> Settled:
        """Flush old journals of this boot; check what an earlier boot left unflushed
        (``lineage.store.durability.settle``)."""
        return _settle(self)

    def close(self) -> None:
        """Release this process's journal, if it wrote one (the store stays usable)."""
        if self._journal is not None:
            self._journal.close()

    def mark_verified(self, digest: str) -> None:
        """The object was hashed as it entered the store, in this process."""
        self._verified.add(digest)

    def _checked(self, src: Path | str, digest: str) -> bool:
        return digest in self._verified or _object_digest(Path(src)) == digest

    # -- layout -------------------------------------------------------------
    def path(self, digest: str) -> Path:
        """Where the loose object would live (packed objects have no path of their own)."""
        return self.objects / digest[:2] / digest[2:]

    def is_loose(self, digest: str) -> bool:
        return os.path.exists(self.objects / digest[:2] / digest[2:])

    def exists(self, digest: str) -> bool:
        if os.path.exists(f"{self._objects}/{digest[:2]}/{digest[2:]}"):
            return True
        return bytes.fromhex(digest) in self._packed_set()

    def ensure(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def packs(self) -> list[LocalPack]:
        with self._lock:
            if self._packs is None:
                found = []
                if self.packs_dir.is_dir():
                    for name in sorted(os.listdir(self.packs_dir)):
                        if name.endswith(".idx") and (self.packs_dir / name).with_suffix(".pack").exists():
                            found.append(LocalPack(self.packs_dir / name))
                self._packs = found
            return self._packs

    def _packed_set(self) -> set[bytes]:
        if self._packed is None:
            packed: set[bytes] = set()
            for pack in self.packs():
                packed.update(pack.raw_digests())
            self._packed = packed
        return self._packed

    def _locate(self, digest: str) -> tuple[LocalPack, int, int] | None:
        raw = bytes.fromhex(digest)
        if raw not in self._packed_set():
            return None
        for pack in self.packs():
            hit = pack.find(raw)
            if hit is not None:
                return pack, hit[0], hit[1]
        return None

    def forget_packs(self) -> None:
        """Drop the packs' index and the set of packed digests (read again when next
        needed): what a caller that holds a large store's index no longer needs frees."""
        with self._lock:
            self._packs = None
            self._packed = None

    def loose_digests(self) -> set[str]:
        """Every loose object, from one listing of each fan-out folder."""
        found: set[str] = set()
        if self.objects.is_dir():
            for fan in os.scandir(self.objects):
                if len(fan.name) == 2 and fan.is_dir():
                    found.update(fan.name + rest for rest in os.listdir(fan.path))
        return found

    def iter_digests(self) -> Iterator[str]:
        """Every stored object, loose and packed (each once)."""
        seen: set[str] = set()
        if self.objects.is_dir():
            for fan in sorted(os.listdir(self.objects)):
                sub = self.objects / fan
                if len(fan) != 2 or not sub.is_dir():
                    continue
                for rest in sorted(os.listdir(sub)):
                    digest = fan + rest
                    if is_digest(digest):
                        seen.add(digest)
                        yield digest
        for pack in self.packs():
            for digest, _, _ in pack.entries():
                if digest not in seen:
                    seen.add(digest)
                    yield digest

    # -- writing ------------------------------------------------------------
    def _tmp_path(self) -> Path:
        return self.tmp / f"{os.urandom(16).hex()}.tmp"

    def _install(self, tmp: Path, digest: str) -> None:
        final = self.path(digest)
        final.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)

    def put_bytes(self, data: bytes, digest: str | None = None, *, sync: bool | None = None) -> str:
        """Store ``data``; a no-op when the object exists. Returns the digest.

        ``sync``: True flushes before the object becomes visible, False leaves it to the
        caller, None (the default) follows the store's durability."""
        digest = digest or blake3.blake3(data).hexdigest()
        if self.exists(digest):
            return digest
        flush, journal = self._policy(sync)
        tmp = self._tmp_path()
        with open(tmp, "wb") as fh:
            fh.write(data)
            if flush:
                fh.flush()
                os.fsync(fh.fileno())
        if journal:
            self.journal.record([digest])
        self._install(tmp, digest)
        return digest

    def _policy(self, sync: bool | None) -> tuple[bool, bool]:
        """(flush, journal) before a write asked with ``sync`` becomes visible: None
        follows the store's durability, True flushes, False leaves it to the caller."""
        if sync is None:
            return not self.defers, self.defers
        return sync, False

    def put_file(
        self,
        src: str | os.PathLike[str],
        digest: str,
        *,
        link: LinkMode = LinkMode.copy,
        sync: bool | None = None,
    ) -> bool:
        """Store the file at ``src`` whose digest is already known.

        Returns True when a new object was written. The copy is checked against
        the source's stat afterwards, so a file that changed under us is refused.
        ``sync`` as for ``put_bytes`` (a hard link is never flushed: it is the file).
        """
        if self.exists(digest):
            return False
        src = os.fspath(src)
        try:
            before = os.stat(src)
        except FileNotFoundError:
            raise PathError(f"file vanished while storing: {src}") from None
        if link is LinkMode.hardlink:
            final = self.path(digest)
            final.parent.mkdir(exist_ok=True)
            try:
                os.chmod(src, stat.S_IMODE(before.st_mode) & ~0o222)
                os.link(src, final)
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                # another filesystem: fall back to a copy
        flush, journal = self._policy(sync)
        tmp = self._tmp_path()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if not (link is LinkMode.reflink and _reflink(src, fd)):
                with open(src, "rb") as s:
                    _copy_fd(s, fd, before.st_size)
            if flush:
                os.fsync(fd)
        finally:
            os.close(fd)
        _unchanged_since(src, before, tmp)
        if journal:
            self.journal.record([digest])
        self._install(tmp, digest)
        return True

    def install_downloaded(self, tmp: Path, digest: str, *, durability: Durability | None = None) -> None:
        """Make a verified download (a temporary file of this store) the object ``digest``,
        journaled or flushed as ``durability`` (default: the store's) says."""
        defer = self.defers_with(durability)
        if defer:
            self.journal.record([digest])
        else:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._install(tmp, digest)
        if not defer:
            _fsync_dirs(self.objects, [digest[:2]])

    def batch(self, *, durability: Durability | None = None) -> Batch:
        """Group many writes under one commit (one flush, or one journal record);
        ``durability`` overrides the store's for this batch."""
        return Batch(self, durability=durability)

    # -- reading ------------------------------------------------------------
    def open(self, digest: str) -> BinaryIO:
        """A readable file of the object's bytes (not verified: see ``read_bytes``/``verify``)."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            hit = self._locate(digest)
            if hit is None:
                raise MissingObjectError(f"object {digest[:12]} is not in the local store") from None
            pack, off, length = hit
            return io.BytesIO(pack.read(off, length))

    def read_bytes(self, digest: str) -> bytes:
        """Return the object's bytes, verified against its digest."""
        with self.open(digest) as fh:
            data = fh.read()
        if blake3.blake3(data).hexdigest() != digest:
            raise CorruptObjectError(f"object {digest[:12]} is corrupt (its bytes do not match its digest)")
        return data

    def verify(self, digest: str) -> bool:
        """Rehash one object; False when it is corrupt. Raises when missing."""
        path = self.path(digest)
        if os.path.exists(path):
            return _object_digest(path) == digest
        with self.open(digest) as fh:
            return blake3.blake3(fh.read()).hexdigest() == digest

    def copy_to(self, digest: str, dest: str | os.PathLike[str], *, executable: bool = False,
                link: LinkMode = LinkMode.copy) -> None:
        """Write the object to ``dest`` atomically, verifying it on the way."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # fixed-length: a name of 255 bytes still leaves room for its temporary name
        tmp = dest.parent / temp_name()
        src = self.path(digest)
        if not src.exists():
            data = self.read_bytes(digest)  # packed: small, verified in memory
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.chmod(tmp, 0o755 if executable else 0o644)
                _faults.point("checkout.temp")  # the temporary file written, not yet renamed
                os.replace(tmp, dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return
        try:
            if link is LinkMode.hardlink:
                os.link(src, tmp)
            else:
                # copy in the kernel (or clone), then verify the immutable source: the bytes
                # are read at memory speed by a multi-threaded hash instead of through Python
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    if not (link is LinkMode.reflink and _reflink(os.fspath(src), fd)):
                        with open(src, "rb") as s:
                            _copy_fd(s, fd, os.fstat(s.fileno()).st_size)
                finally:
                    os.close(fd)
                if not self._checked(src, digest):
                    raise CorruptObjectError(
                        f"object {digest[:12]} is corrupt (its bytes do not match its digest)"
                    )
                os.chmod(tmp, 0o755 if executable else 0o644)
            _faults.point("checkout.temp")
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def write_new(self, digest: str, dest: str, *, executable: bool = False,
                  link: LinkMode = LinkMode.copy) -> os.stat_result:
        """Write the object to ``dest``, which must not exist yet, verifying it on the way.

        Not atomic on its own (no temporary file and rename, which cost more than the
        write for a small file): the caller writes into a folder that becomes visible
        only when complete (checkout stages new folders under a temporary name).
        Returns the stat of the written file.
        """
        src = f"{self._objects}/{digest[:2]}/{digest[2:]}"
        mode = 0o755 if executable else 0o644
        if not os.path.exists(src):
            data = self.read_bytes(digest)  # packed: small, verified in memory
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                _write_all(fd, data)
                os.fchmod(fd, mode)
                return os.fstat(fd)
            finally:
                os.close(fd)
        if link is LinkMode.hardlink:
            os.link(src, dest)
            return os.stat(dest)
        if not self._checked(src, digest):
            raise CorruptObjectError(f"object {digest[:12]} is corrupt (its bytes do not match its digest)")
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            if not (link is LinkMode.reflink and _reflink(src, fd)):
                with open(src, "rb") as s:
                    _copy_fd(s, fd, os.fstat(s.fileno()).st_size)
            os.fchmod(fd, mode)
            return os.fstat(fd)
        finally:
            os.close(fd)

    # -- writers and the collector ---------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Held while objects are written and not yet referenced by an event.

        Shared among writers; ``collecting`` takes it exclusively, so garbage
        collection never removes objects (or temporary files) a snapshot, run or pull
        is still about to record.
        """
        # a gc in progress makes writers wait, for a bounded time (then "busy, retry")
        with self._flock(fcntl.LOCK_SH, wait=lock_timeout()):
            yield

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Exclusive: no writer is between writing objects and recording them."""
        with self._flock(fcntl.LOCK_EX, wait=0.0,
                         busy="a snapshot, run or pull is writing to the store; run gc when it is done"):
            yield

    @contextmanager
    def _flock(self, how: int, *, wait: float = 0.0, busy: str | None = None) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "store.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, how | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise BusyError(busy or BUSY) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- maintenance --------------------------------------------------------
    def remove(self, digests: Iterable[str]) -> int:
        """Delete objects; packs holding any of them are rewritten without them.

        Returns the bytes freed.
        """
        doomed = set(digests)
        freed = 0
        for d in list(doomed):
            path = self.path(d)
            try:
                size = path.stat().st_size
                path.unlink()
                freed += size
                _faults.point("gc.delete")
            except FileNotFoundError:
                continue
        raw_doomed = {bytes.fromhex(d) for d in doomed}
        for pack in self.packs():
            entries = list(pack.entries())
            if not any(bytes.fromhex(d) in raw_doomed for d, _, _ in entries):
                continue
            self.rewrite_pack(pack.idx_path, [d for d, _, _ in entries if bytes.fromhex(d) not in raw_doomed])
            freed += sum(n for d, _, n in entries if bytes.fromhex(d) in raw_doomed)
        self.forget_packs()
        return freed

    def rewrite_pack(self, idx_path: Path, keep: Iterable[str]) -> None:
        """Replace a pack by a new one holding only ``keep`` (none: it is just removed).
        The new pack is flushed before the old one goes, whatever the store's durability:
        the old one is the only other copy."""
        keep = set(keep)
        if keep:
            pack = LocalPack(idx_path)
            try:
                with self.batch(durability=Durability.immediate) as batch:
                    batch._force_pack = True
                    for d, off, n in pack.entries():
                        if d in keep:
                            batch.put_bytes(pack.read(off, n), d, _repack=True)
            finally:
                pack.close()
        idx_path.unlink(missing_ok=True)  # index first: the pack is then invisible
        idx_path.with_suffix(".pack").unlink(missing_ok=True)
        self.forget_packs()

    def clean_tmp(self) -> int:
        """Remove temporary files left by an interrupted write."""
        n = 0
        if self.tmp.is_dir():
            for name in os.listdir(self.tmp):
                try:
                    os.unlink(self.tmp / name)
                    n += 1
                except OSError:
                    pass
        # a pack whose index never appeared (a write or a gc killed in between) is
        # invisible and never read; only gc calls this, with no writer active
        if self.packs_dir.is_dir():
            for name in os.listdir(self.packs_dir):
                if name.endswith(".pack") and not (self.packs_dir / name).with_suffix(".idx").exists():
                    try:
                        os.unlink(self.packs_dir / name)
                        n += 1
                    except OSError:
                        pass
        return n

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            hit = self._locate(digest)
            if hit is None:
                raise MissingObjectError(f"object {digest[:12]} is not in the local store") from None
            return hit[2]


def _object_digest(path: Path) -> str:
    """BLAKE3 of a stored object. Objects are immutable and read-only, so they can be
    mapped into memory and hashed on every core (a workspace file could be truncated
    under the mapping; those are streamed instead, see ``lineage.core.hashing``)."""
    size = os.path.getsize(path)
    if size >= (16 << 20):
        return blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(path).hexdigest()
    with open(path, "rb") as fh:
        return blake3.blake3(fh.read()).hexdigest()


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _copy_fd(src: BinaryIO, dst_fd: int, size: int) -> None:
    """Copy in the kernel where possible (copy_file_range), else by blocks.

    A large file is copied in chunks, the write-out of each started as soon as it is
    copied: the disk works while the copy goes on, and the dirty pages of a few GB
    never pile up to where the kernel stalls every writer until they are written."""
    try:
        offset = 0
        while offset < size:
            n = os.copy_file_range(src.fileno(), dst_fd, min(COPY_CHUNK, size - offset))
            if n == 0:
                break
            if size > COPY_CHUNK:
                start_writeout(dst_fd, offset, n)
            offset += n
        if offset == size:
            return
    except (OSError, AttributeError):
        pass
    src.seek(0)
    os.lseek(dst_fd, 0, os.SEEK_SET)
    os.ftruncate(dst_fd, 0)
    for block in iter(lambda: src.read(BLOCK_SIZE), b""):
        _write_all(dst_fd, block)


#: bytes copied, hashed and handed to write-out at a time (a large file)
COPY_CHUNK = 32 << 20
_SFR_WRITE = 2  # SYNC_FILE_RANGE_WRITE: start write-out, do not wait
_sync_file_range = None


def start_writeout(fd: int, offset: int, length: int) -> None:
    """Start writing a range of a file to disk without waiting (Linux sync_file_range):
    the flush before commit then waits for what is left, not for the whole file."""
    global _sync_file_range
    if _sync_file_range is None:
        try:
            import ctypes  # lazy: only writers of large files flush early

            fn = ctypes.CDLL(None, use_errno=True).sync_file_range
            fn.argtypes = (ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint)
            _sync_file_range = fn
        except (OSError, AttributeError):
            _sync_file_range = False
    if _sync_file_range:
        _sync_file_range(fd, offset, length, _SFR_WRITE)  # advisory: errors surface at fsync


def _copy_hashing(src_fd: int, dst_fd: int, size: int, name: str, *,
                  writeout: bool = True) -> blake3.blake3 | None:
    """Copy ``size`` bytes of ``src_fd`` into the empty ``dst_fd`` in the kernel, hashing
    the copy as it is made. None when this filesystem pair cannot copy in the kernel
    (nothing written then). The destination is this store's own temporary file, so
    mapping it is safe (a workspace file could be truncated under a mapping)."""
    import mmap  # lazy

    hasher = blake3.blake3()  # one thread: several files are stored in parallel
    if size == 0:
        return hasher
    try:
        first = os.copy_file_range(src_fd, dst_fd, min(COPY_CHUNK, size), 0, 0)
    except (OSError, AttributeError):
        os.ftruncate(dst_fd, 0)
        return None
    os.ftruncate(dst_fd, size)  # every chunk's mapping lies inside the file
    offset, n = 0, first
    while True:
        if n == 0:  # the source is shorter than it was: changed while copied
            raise PathError(f"file changed while it was being stored: {name}")
        # one chunk mapped at a time: the pages of a mapping count in this process's resident
        # memory until it is unmapped (a short copy may leave the offset unaligned: map from
        # the page before it)
        lead = offset % mmap.ALLOCATIONGRANULARITY
        with mmap.mmap(dst_fd, lead + n, offset=offset - lead, prot=mmap.PROT_READ) as mapped, \
                memoryview(mapped) as view:
            hasher.update(view[lead:])
        if writeout:
            start_writeout(dst_fd, offset, n)
        offset += n
        if offset >= size:
            break
        n = os.copy_file_range(src_fd, dst_fd, min(COPY_CHUNK, size - offset), offset, offset)
    return hasher


def _copy_hashing_blocks(src: BinaryIO, dst_fd: int, *, writeout: bool = True) -> blake3.blake3:
    """Read, hash and write each block (where the kernel cannot copy)."""
    hasher = blake3.blake3()
    src.seek(0)
    buf = bytearray(BLOCK_SIZE * 8)
    view = memoryview(buf)
    offset = 0
    while True:
        n = src.readinto(buf)
        if not n:
            break
        hasher.update(view[:n])
        _write_all(dst_fd, view[:n])
        if writeout:
            start_writeout(dst_fd, offset, n)
        offset += n
    return hasher


class _PackBuilder:
    """A pack being written to ``tmp/`` (the format is ``lineage.store.packs``'s)."""

    def __init__(self, store: ObjectStore) -> None:
        self.tmp = store._tmp_path()
        self.fh = open(self.tmp, "wb")
        self.writer = PackWriter(self.fh)
        self.pack_id = ""

    @property
    def size(self) -> int:
        return self.writer.size

    def __len__(self) -> int:
        return len(self.writer)

    def add(self, digest: str, data: bytes) -> None:
        self.writer.add(digest, data)

    def seal(self, *, sync: bool) -> str:
        """Finish the pack and write its index beside it (both flushed when ``sync``);
        returns the pack's ID. Nothing is visible yet."""
        idx, self.pack_id = self.writer.index()
        self.fh.flush()
        if sync:
            os.fsync(self.fh.fileno())
        self.fh.close()
        with open(self.tmp.with_suffix(".idx"), "wb") as fh:
            fh.write(idx)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        return self.pack_id

    def install(self, packs_dir: Path) -> None:
        """Make the sealed pack visible (index last)."""
        packs_dir.mkdir(exist_ok=True)
        idx_tmp = self.tmp.with_suffix(".idx")
        os.chmod(self.tmp, 0o444)
        os.chmod(idx_tmp, 0o444)
        os.replace(self.tmp, packs_dir / f"{self.pack_id}.pack")
        _faults.point("store.pack_write")  # the pack in place, its index not yet: invisible
        os.replace(idx_tmp, packs_dir / f"{self.pack_id}.idx")

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.tmp.unlink(missing_ok=True)
        self.tmp.with_suffix(".idx").unlink(missing_ok=True)


class Batch:
    """Many object writes with one flush.

    Small objects are appended to a new pack; larger ones become loose temporary
    files. ``commit`` makes the pack visible (index last) and renames the loose
    objects into place, after one journal record of them all (deferred durability) or
    one flush (immediate). On error nothing becomes visible and the
    temporaries are removed, so the store never holds a partial object. Safe to
    call from several threads.
    """

    def __init__(self, store: ObjectStore, *, durability: Durability | None = None) -> None:
        self.store = store
        #: journal the new objects at commit instead of flushing them
        self.defer = store.defers_with(durability)
        self._pending: dict[str, Path] = {}
        self._pack: _PackBuilder | None = None
        self._done_packs: list[_PackBuilder] = []
        self._lock = threading.Lock()
        self._force_pack = False
        self._checks = 0
        self._loose: set[str] | None = None
        self.written = 0
        self.bytes = 0

    def __enter__(self) -> Batch:
        return self

    def _has(self, digest: str) -> bool:
        if digest in self._pending:
            return True
        if self._pack is None and not self._done_packs:
            return False
        # the packs being written know what they hold (one set of raw digests, not a
        # second set of hex strings: a snapshot may pack a million objects)
        raw = bytes.fromhex(digest)
        return (self._pack is not None and self._pack.writer.has(raw)) or any(
            p.writer.has(raw) for p in self._done_packs)

    def _stored(self, digest: str) -> bool:
        """Is the object already in the store? After many checks, one listing of the loose
        objects replaces a failed ``stat`` per object."""
        self._checks += 1
        if self._checks < 512:
            return self.store.exists(digest)
        if self._loose is None:
            self._loose = self.store.loose_digests()
        return digest in self._loose or bytes.fromhex(digest) in self.store._packed_set()

    def put_bytes(self, data: bytes, digest: str, *, _repack: bool = False) -> None:
        with self._lock:
            if self._has(digest) or (not _repack and self._stored(digest)):
                return
            if len(data) < PACK_OBJECT_MAX or self._force_pack:
                if self._pack is None:
                    self._pack = _PackBuilder(self.store)
                self._pack.add(digest, data)
                if self._pack.size >= PACK_SIZE_MAX:
                    self._done_packs.append(self._pack)
                    self._pack = None
                self.bytes += len(data)
                return
            tmp = self.store._tmp_path()
            self._pending[digest] = tmp
        with open(tmp, "wb") as fh:
            fh.write(data)
        with self._lock:
            self.bytes += len(data)

    def put_file(self, src: str, digest: str, link: LinkMode = LinkMode.copy) -> None:
        with self._lock:
            if self._has(digest):
                return
        if link is LinkMode.hardlink:
            if self.store.put_file(src, digest, link=link, sync=False):
                with self._lock:
                    self.written += 1
            return
        if self.store.exists(digest):
            return
        before = os.stat(src)
        if before.st_size < PACK_OBJECT_MAX and link is LinkMode.copy:
            with open(src, "rb") as fh:
                data = fh.read()
            if len(data) == before.st_size:
                self.put_bytes(data, digest)
                return
        # larger files are copied in the kernel straight away, renamed at commit
        tmp = self.store._tmp_path()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if not (link is LinkMode.reflink and _reflink(src, fd)):
                with open(src, "rb") as s:
                    _copy_fd(s, fd, before.st_size)
        finally:
            os.close(fd)
        _unchanged_since(src, before, tmp)
        with self._lock:
            if digest in self._pending:
                tmp.unlink(missing_ok=True)
                return
            self._pending[digest] = tmp
            self.bytes += before.st_size

    def hash_and_put_file(self, src: str) -> str:
        """Store the file at ``src`` and return its digest, reading it once.

        The bytes are copied in the kernel (``copy_file_range``: no trip through this
        process) into a temporary file, chunk by chunk; each chunk is hashed from the
        temporary file's pages, still in memory, so what is hashed is what was stored.
        With ``immediate`` durability its write-out to disk is started at once, so the
        flush at commit finds little left to do (deferred: the kernel writes it back
        later, and the disk serves the reads of the copy meanwhile). Where the kernel
        cannot copy, each block is read, hashed and written. The file is renamed into
        place at commit."""
        try:
            before = os.stat(src)
            fh = open(src, "rb", buffering=0)
        except FileNotFoundError:
            raise PathError(f"file vanished while hashing: {src}") from None
        except OSError as exc:
            raise PathError(f"cannot read {src}: {exc.strerror or exc}") from None
        tmp = self.store._tmp_path()
        try:
            with fh:
                fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    # write-out starts as it goes only when the commit is to wait for it
                    hasher = _copy_hashing(fh.fileno(), fd, before.st_size, src, writeout=not self.defer)
                    if hasher is None:  # no copy in the kernel here: through a buffer
                        hasher = _copy_hashing_blocks(fh, fd, writeout=not self.defer)
                finally:
                    os.close(fd)
            _unchanged_since(src, before, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        digest = hasher.hexdigest()
        with self._lock:
            if self._has(digest) or self.store.exists(digest):
                tmp.unlink(missing_ok=True)  # the same bytes were already stored
                return digest
            self._pending[digest] = tmp
            self.bytes += before.st_size
        return digest

    def commit(self) -> None:
        packs = self._done_packs + ([self._pack] if self._pack is not None else [])
        pack_ids = [pack.seal(sync=not self.defer) for pack in packs]
        if self.defer and (pack_ids or self._pending):
            # named on disk before any of them is visible: what a machine stop could damage
            self.store.journal.record(list(self._pending), pack_ids)
        for pack in packs:
            pack.install(self.store.packs_dir)
        self.written += sum(len(p) for p in packs)
        self._done_packs, self._pack = [], None
        if packs:
            self.store.forget_packs()
        if not self._pending:
            return
        if not self.defer and len(self._pending) <= 16:
            for tmp in self._pending.values():
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        elif not self.defer:
            _syncfs(self.store.tmp)
        made: set[str] = set()
        for digest, tmp in self._pending.items():
            fan = digest[:2]
            if fan not in made:
                (self.store.objects / fan).mkdir(exist_ok=True)
                made.add(fan)
            os.chmod(tmp, 0o444)
            os.replace(tmp, self.store.objects / fan / digest[2:])
        self.written += len(self._pending)
        self._pending.clear()
        if self.defer:
            return
        _syncfs(self.store.objects) if len(made) > 16 else _fsync_dirs(self.store.objects, made)

    def abort(self) -> None:
        for pack in self._done_packs + ([self._pack] if self._pack is not None else []):
            pack.discard()
        self._done_packs, self._pack = [], None
        for tmp in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending.clear()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _fsync_dirs(root: Path, fans: Iterable[str]) -> None:
    for fan in fans:
        fd = os.open(root / fan, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unchanged_since(src: Path | str, before: os.stat_result, tmp: Path) -> None:
    """A file written to while it was copied into the store is not stored half-old."""
    after = os.stat(src)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        tmp.unlink(missing_ok=True)
        raise PathError(f"file changed while it was being stored: {src}")
