"""Local content-addressed object store.

Layout: ``objects/ab/cdef…`` where ``abcdef…`` is the 64-hex BLAKE3 digest. Objects
are written to ``tmp/`` first and renamed into place, so a reader never sees a
half-written object, and a crash leaves at most a stray temporary file (removed by
``clean_tmp``). Objects are read-only once stored and never modified.

Durability is batched: a ``Batch`` writes many temporary files, then flushes the
filesystem once before renaming them all, instead of one fsync per object.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import BinaryIO

import blake3

from lineage.errors import CorruptObjectError, MissingObjectError, PathError
from lineage.hashing import BLOCK_SIZE, DIGEST_HEX_LEN

_FICLONE = 0x40049409  # linux/fs.h
_HEX = frozenset("0123456789abcdef")


class LinkMode(str, Enum):
    """How a workspace file's bytes get into the store."""

    copy = "copy"
    reflink = "reflink"
    hardlink = "hardlink"


def is_digest(value: str) -> bool:
    return len(value) == DIGEST_HEX_LEN and set(value) <= _HEX


def _syncfs(path: Path) -> None:
    """Flush the filesystem holding ``path`` (Linux syncfs), or everything elsewhere."""
    try:
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

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"

    # -- layout -------------------------------------------------------------
    def path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.objects / digest[:2] / digest[2:])

    def ensure(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def iter_digests(self) -> Iterator[str]:
        if not self.objects.is_dir():
            return
        for fan in sorted(os.listdir(self.objects)):
            sub = self.objects / fan
            if len(fan) != 2 or not sub.is_dir():
                continue
            for rest in sorted(os.listdir(sub)):
                digest = fan + rest
                if is_digest(digest):
                    yield digest

    # -- writing ------------------------------------------------------------
    def _tmp_path(self) -> Path:
        return self.tmp / f"{uuid.uuid4().hex}.tmp"

    def _install(self, tmp: Path, digest: str) -> None:
        final = self.path(digest)
        final.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)

    def put_bytes(self, data: bytes, digest: str | None = None, *, sync: bool = True) -> str:
        """Store ``data``; a no-op when the object exists. Returns the digest."""
        digest = digest or blake3.blake3(data).hexdigest()
        if self.exists(digest):
            return digest
        tmp = self._tmp_path()
        with open(tmp, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        self._install(tmp, digest)
        return digest

    def put_file(
        self,
        src: str | os.PathLike[str],
        digest: str,
        *,
        link: LinkMode = LinkMode.copy,
        sync: bool = True,
    ) -> bool:
        """Store the file at ``src`` whose digest is already known.

        Returns True when a new object was written. The copy is checked against
        the source's stat afterwards, so a file that changed under us is refused.
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
        tmp = self._tmp_path()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if not (link is LinkMode.reflink and _reflink(src, fd)):
                with open(src, "rb") as s:
                    _copy_fd(s, fd, before.st_size)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        after = os.stat(src)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            tmp.unlink(missing_ok=True)
            raise PathError(f"file changed while it was being stored: {src}")
        self._install(tmp, digest)
        return True

    def batch(self) -> Batch:
        """Group many writes under one filesystem flush."""
        return Batch(self)

    # -- reading ------------------------------------------------------------
    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise MissingObjectError(f"object {digest[:12]} is not in the local store") from None

    def read_bytes(self, digest: str) -> bytes:
        """Return the object's bytes, verified against its digest."""
        with self.open(digest) as fh:
            data = fh.read()
        if blake3.blake3(data).hexdigest() != digest:
            raise CorruptObjectError(f"object {digest[:12]} is corrupt (its bytes do not match its digest)")
        return data

    def verify(self, digest: str) -> bool:
        """Rehash one object; False when it is corrupt. Raises when missing."""
        hasher = blake3.blake3()
        with self.open(digest) as fh:
            for block in iter(lambda: fh.read(BLOCK_SIZE), b""):
                hasher.update(block)
        return hasher.hexdigest() == digest

    def copy_to(self, digest: str, dest: str | os.PathLike[str], *, executable: bool = False,
                link: LinkMode = LinkMode.copy) -> None:
        """Write the object to ``dest`` atomically, verifying it on the way."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.lineage-tmp"
        src = self.path(digest)
        if not src.exists():
            raise MissingObjectError(f"object {digest[:12]} is not in the local store")
        try:
            if link is LinkMode.hardlink:
                os.link(src, tmp)
            else:
                hasher = blake3.blake3()
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    cloned = link is LinkMode.reflink and _reflink(os.fspath(src), fd)
                    with open(src, "rb") as s:
                        for block in iter(lambda: s.read(BLOCK_SIZE), b""):
                            hasher.update(block)
                            if not cloned:
                                _write_all(fd, block)
                finally:
                    os.close(fd)
                if hasher.hexdigest() != digest:
                    raise CorruptObjectError(
                        f"object {digest[:12]} is corrupt (its bytes do not match its digest)"
                    )
                os.chmod(tmp, 0o755 if executable else 0o644)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    # -- maintenance --------------------------------------------------------
    def remove(self, digest: str) -> int:
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
            return size
        except FileNotFoundError:
            return 0

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
        return n

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _copy_fd(src: BinaryIO, dst_fd: int, size: int) -> None:
    """Copy in the kernel where possible (copy_file_range), else by blocks."""
    try:
        offset = 0
        while offset < size:
            n = os.copy_file_range(src.fileno(), dst_fd, size - offset)
            if n == 0:
                break
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


class Batch:
    """Many object writes with one flush: write temporaries, syncfs, rename.

    Use as a context manager. On error nothing is renamed into place and the
    temporaries are removed, so the store never holds a partial object.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._pending: dict[str, Path] = {}
        self.written = 0
        self.bytes = 0

    def __enter__(self) -> Batch:
        return self

    def put_bytes(self, data: bytes, digest: str) -> None:
        if digest in self._pending or self.store.exists(digest):
            return
        tmp = self.store._tmp_path()
        with open(tmp, "wb") as fh:
            fh.write(data)
        self._pending[digest] = tmp
        self.bytes += len(data)

    def put_file(self, src: str, digest: str, link: LinkMode = LinkMode.copy) -> None:
        if digest in self._pending:
            return
        if link is LinkMode.hardlink:
            if self.store.put_file(src, digest, link=link, sync=False):
                self.written += 1
            return
        if self.store.exists(digest):
            return
        # large files are copied straight away (kernel copy), renamed at commit
        before = os.stat(src)
        tmp = self.store._tmp_path()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if not (link is LinkMode.reflink and _reflink(src, fd)):
                with open(src, "rb") as s:
                    _copy_fd(s, fd, before.st_size)
        finally:
            os.close(fd)
        after = os.stat(src)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            tmp.unlink(missing_ok=True)
            raise PathError(f"file changed while it was being stored: {src}")
        self._pending[digest] = tmp
        self.bytes += before.st_size

    def commit(self) -> None:
        if not self._pending:
            return
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
        _syncfs(self.store.objects)

    def abort(self) -> None:
        for tmp in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending.clear()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
